"""The environment layer: ``UPREZ_<SECTION>__<KEY>`` variables, and the environment kept for
``{"$env": NAME}`` references.

The environment may hold the API key, so the copy a Config keeps never shows in a repr.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from jsonschema import Draft202012Validator

from uprez.config.merging import nest

__all__ = ["Environment", "env_layers"]

# The name the configuration has always logged under, whichever of its files logs.
logger = logging.getLogger("uprez.config")

_ENV_PREFIX = "UPREZ_"


class Environment:
    """The environment seen at load time, kept out of every repr (it may hold the key)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def get(self, name: str) -> str | None:
        return self._values.get(name) or None

    def __repr__(self) -> str:
        return "<environment>"


def _accepted_types(node: Mapping[str, Any] | None) -> set[str]:
    if not node:
        return set()
    declared = node.get("type")
    types = {declared} if isinstance(declared, str) else set(declared or [])
    for branch in node.get("oneOf", []) + node.get("anyOf", []):
        types |= _accepted_types(branch)
    return types


def _node_at(root: Mapping[str, Any], parts: list[str]) -> Mapping[str, Any] | None:
    node: Any = root
    for part in parts:
        properties = node.get("properties", {})
        node = properties.get(part, node.get("additionalProperties"))
        if not isinstance(node, Mapping):
            return None
    return node  # type: ignore[no-any-return]


def _env_value(text: str, node: Mapping[str, Any] | None) -> Any:
    """JSON when the text parses as JSON, but kept as text where the schema wants a string."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    accepted = _accepted_types(node)
    fits = any(Draft202012Validator.TYPE_CHECKER.is_type(value, kind) for kind in accepted)
    return text if accepted and not fits and "string" in accepted else value


def env_layers(
    environ: Mapping[str, str], root: Mapping[str, Any]
) -> list[tuple[dict[str, Any], str]]:
    """One small layer per ``UPREZ_<SECTION>__<KEY>`` variable, in name order."""
    layers = []
    for name in sorted(environ):
        if not name.upper().startswith(_ENV_PREFIX) or "__" not in name[len(_ENV_PREFIX) :]:
            continue
        parts = name[len(_ENV_PREFIX) :].lower().split("__")
        if not all(parts):
            logger.warning("ignoring environment variable %s: empty name segment", name)
            continue
        value = _env_value(environ[name], _node_at(root, parts))
        layers.append((nest(parts, value), f"environment variable {name}"))
    return layers
