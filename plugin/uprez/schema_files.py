"""Loading the JSON Schemas shipped in ``uprez.schemas`` (read as package data, not by path)."""

from __future__ import annotations

import json
from functools import cache
from importlib.resources import files
from typing import Any


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The schema ``name`` (e.g. ``"artifact"``) from ``uprez/schemas/<name>.schema.json``."""
    text = (files("uprez.schemas") / f"{name}.schema.json").read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
