"""The errors PyAV raises while reading or writing media, caught as one and reported as MediaError.

FFmpeg's own errors are not the only ones: a broken file also shows as OSError, ValueError,
RuntimeError or UnicodeError (a metadata string), and each must end as one MediaError naming
the file rather than escape as a traceback.
"""

from __future__ import annotations

import av

__all__ = ["AV_ERRORS"]

AV_ERRORS = (av.FFmpegError, OSError, ValueError, RuntimeError, UnicodeError)
