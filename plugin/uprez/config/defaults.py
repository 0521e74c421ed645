"""The configuration schema and the defaults it declares, plugin option schemas included.

``schemas/config.schema.json`` is the one place a key and its default are written down: the
defaults are read from its ``default`` values rather than repeated in code, so the two cannot
drift apart.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
from collections.abc import Mapping
from typing import Any, Final
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from uprez.config.problems import ConfigProblem, json_path
from uprez.errors import ConfigError

__all__ = ["DEFAULTS", "defaults_of", "schema", "schema_with"]

_MISSING: Any = object()


def schema() -> dict[str, Any]:
    """A fresh copy of the configuration schema (JSON Schema draft 2020-12)."""
    return copy.deepcopy(_SCHEMA)


def defaults_of(node: Mapping[str, Any]) -> Any:
    """The default a schema node describes, built from its properties' defaults when it has some."""
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        found = {key: defaults_of(sub) for key, sub in properties.items()}
        return {key: value for key, value in found.items() if value is not _MISSING}
    return copy.deepcopy(node["default"]) if "default" in node else _MISSING


_SCHEMA: Final[dict[str, Any]] = json.loads(
    (importlib.resources.files("uprez.schemas") / "config.schema.json").read_text("utf-8")
)
DEFAULTS: Final[dict[str, Any]] = defaults_of(_SCHEMA)
"""Every setting's default, taken from the schema's ``default`` values."""


def schema_with(
    fragments: Mapping[str, Mapping[str, Any]] | None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The schema with plugin fragments at ``plugins.<name>``, and the matching defaults."""
    merged, defaults = schema(), copy.deepcopy(DEFAULTS)
    plugins = merged["properties"]["plugins"].setdefault("properties", {})
    for name, fragment in (fragments or {}).items():
        try:
            Draft202012Validator.check_schema(fragment)
        except SchemaError as exc:
            problem = ConfigProblem(
                json_path(["plugins", name]),
                f"the plugin declares an invalid options schema: {exc.message}",
            )
            raise ConfigError("a plugin's options schema is broken:", problems=[problem]) from None
        plugins[name] = {"$id": f"urn:uprez:plugin:{quote(name)}", **copy.deepcopy(dict(fragment))}
        own = defaults_of(fragment)
        if isinstance(own, dict):
            defaults["plugins"][name] = own
    return merged, defaults
