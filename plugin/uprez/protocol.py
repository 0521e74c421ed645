"""Names and numbers of the WaveSpeed prediction protocol, shared by client and local server.

Written from ``wavespeed-api.md``: statuses, task codes and the default model.
"""

from __future__ import annotations

DEFAULT_MODEL = "runwayml/upscale-v1"
API_PREFIX = "/api/v3"

# Statuses a prediction can report. Anything else is "not finished yet" to a client.
CREATED = "created"
PROCESSING = "processing"
COMPLETED = "completed"
FAILED = "failed"
CANCELLED = "cancelled"
TIMEOUT = "timeout"
DELETED = "deleted"
TERMINAL_STATUSES = frozenset({COMPLETED, FAILED, CANCELLED, TIMEOUT, DELETED})

# Task codes carried in ``data.code``: 1xxx means "fix the request", 5xxx "may be retried later".
CODE_MISSING_PARAMETER = 1400
CODE_INVALID_PARAMETER = 1401
CODE_MEDIA_UNREACHABLE = 1402
CODE_TASK_FAILED = 1403
CODE_INTERNAL = 5000
CODE_UNAVAILABLE = 5003
CODE_TIMEOUT = 5004

# What the service accepts as video input (by extension), per its documentation.
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mov", ".wmv", ".flv", ".webm", ".mkv", ".3gp", ".ogv"}
)

# Outputs, predictions and uploads are deleted after this long.
RETENTION_SECONDS = 7 * 24 * 3600
# The longest video the model takes.
MAX_VIDEO_SECONDS = 600.0
# The account's submits are counted in this many seconds ("limits reset every minute").
RATE_WINDOW = 60.0
