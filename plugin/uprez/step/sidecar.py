"""The sidecar JSON written beside each result, validated by ``schemas/artifact.schema.json``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from uprez.atomic import write_text_atomic
from uprez.schema_files import load_schema
from uprez.version import __version__


def sidecar_path(output: Path) -> Path:
    """Where the sidecar of ``output`` lives: ``shot_4k.mp4`` → ``shot_4k.mp4.uprez.json``."""
    return output.with_name(output.name + ".uprez.json")


def build_sidecar(**fields: Any) -> dict[str, Any]:
    """A sidecar record from the job's facts, stamped with the version and time."""
    return {
        "schema_version": 1,
        **fields,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z"),
        "uprez_version": __version__,
    }


def validate_sidecar(record: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` if ``record`` breaks the artifact schema."""
    Draft202012Validator(load_schema("artifact")).validate(record)


def write_sidecar(output: Path, record: dict[str, Any]) -> Path:
    """Validate ``record`` and write it atomically beside ``output``; return its path."""
    validate_sidecar(record)
    target = sidecar_path(output)
    write_text_atomic(target, json.dumps(record, indent=2) + "\n")
    return target
