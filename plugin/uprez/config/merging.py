"""Laying one configuration layer over another, remembering where each value came from.

The origins are what lets a problem say "from environment variable UPREZ_POLLING__DEADLINE"
rather than only naming the key: the user sees which layer to fix.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from uprez.config.problems import json_path

__all__ = ["Origins", "merge", "nest"]

Origins = list[tuple[str, str]]
"""(JSON path, where its value came from) for every value a layer set, in the order set."""


def merge(
    target: dict[str, Any],
    incoming: Mapping[str, Any],
    where: list[object],
    origin: str | None,
    origins: Origins,
) -> None:
    """Deep-merge ``incoming`` into ``target``, recording where each value came from."""
    for key, value in incoming.items():
        path = [*where, key]
        if origin:
            origins.append((json_path(path), origin))
        if _is_table(value) and _is_table(target.get(key)):
            merge(target[key], value, path, origin, origins)
        else:
            target[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)


def _is_table(value: object) -> bool:
    """A mapping merged key by key; an ``{"$env": ...}`` reference is one value, replaced whole."""
    return isinstance(value, Mapping) and "$env" not in value


def nest(parts: list[str], value: Any) -> dict[str, Any]:
    """``value`` at the dotted path ``parts``: ``nest(["a", "b"], 1) == {"a": {"b": 1}}``."""
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested
