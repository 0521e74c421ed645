"""The uprez configuration: defaults < file < environment < flags, validated all at once.

>>> config = load_config("uprez.toml", overrides={"provider.name": "local"})  # doctest: +SKIP
>>> config.get("polling.deadline")  # doctest: +SKIP
3600

The file is TOML or JSON (``schemas/config.schema.json`` describes every key and its default).
Environment variables ``UPREZ_<SECTION>__<KEY>`` (for example ``UPREZ_POLLING__DEADLINE=60``)
override the file; ``UPREZ_CONFIG`` names the file when none is given. Every violation is
reported at once in one :class:`~uprez.errors.ConfigError`, each with its JSON path.
"""

from __future__ import annotations

import copy
import importlib.resources
import json
import logging
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final
from urllib.parse import quote

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from uprez.config.problems import (
    ConfigProblem,
    finish,
    json_path,
    rule_problems,
    schema_problems,
    step_problems,
)
from uprez.config.sections import (
    AccountSection,
    JournalSection,
    LimitsSection,
    LocalSection,
    OutputSection,
    PollingSection,
    ProviderSection,
    PyblishSection,
    RetrySection,
    Rule,
    Sections,
    VerifySection,
    WatchSection,
    read_sections,
)
from uprez.errors import ConfigError

__all__ = ["DEFAULTS", "Config", "ConfigProblem", "load_config", "schema", "validate_file"]

logger = logging.getLogger("uprez.config")

EXTENSIONS: Final = (".toml", ".json")
_ENV_PREFIX = "UPREZ_"
_SECRET_KEY = re.compile(r"(?i)(^|_)(api_?key|key|token|secret|password|passwd)$")
_MISSING: Any = object()
_Origins = list[tuple[str, str]]


def schema() -> dict[str, Any]:
    """A fresh copy of the configuration schema (JSON Schema draft 2020-12)."""
    return copy.deepcopy(_SCHEMA)


def _defaults_of(node: Mapping[str, Any]) -> Any:
    """The default a schema node describes, built from its properties' defaults when it has some."""
    properties = node.get("properties")
    if isinstance(properties, Mapping):
        found = {key: _defaults_of(sub) for key, sub in properties.items()}
        return {key: value for key, value in found.items() if value is not _MISSING}
    return copy.deepcopy(node["default"]) if "default" in node else _MISSING


_SCHEMA: Final[dict[str, Any]] = json.loads(
    (importlib.resources.files("uprez.schemas") / "config.schema.json").read_text("utf-8")
)
DEFAULTS: Final[dict[str, Any]] = _defaults_of(_SCHEMA)
"""Every setting's default, taken from the schema's ``default`` values."""


class _Environment:
    """The environment seen at load time, kept out of every repr (it may hold the key)."""

    __slots__ = ("_values",)

    def __init__(self, values: Mapping[str, str] | None = None) -> None:
        self._values = dict(values or {})

    def get(self, name: str) -> str | None:
        return self._values.get(name) or None

    def __repr__(self) -> str:
        return "<environment>"


@dataclass(frozen=True)
class Config:
    """A merged, validated configuration. Treat ``data`` as read-only.

    ``source`` is the config file it was read from, or None.
    """

    data: dict[str, Any]
    source: str | None = None
    _env: _Environment = field(default_factory=_Environment, repr=False, compare=False)
    _sections: Sections = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_sections", read_sections(self.data))

    # The typed sections: what the rest of uprez reads.
    @property
    def provider(self) -> ProviderSection:
        return self._sections.provider

    @property
    def account(self) -> AccountSection:
        return self._sections.account

    @property
    def polling(self) -> PollingSection:
        return self._sections.polling

    @property
    def retry(self) -> RetrySection:
        return self._sections.retry

    @property
    def limits(self) -> LimitsSection:
        return self._sections.limits

    @property
    def output(self) -> OutputSection:
        return self._sections.output

    @property
    def verify(self) -> VerifySection:
        return self._sections.verify

    @property
    def journal(self) -> JournalSection:
        return self._sections.journal

    @property
    def local(self) -> LocalSection:
        return self._sections.local

    @property
    def pyblish(self) -> PyblishSection:
        return self._sections.pyblish

    @property
    def watch(self) -> WatchSection:
        return self._sections.watch

    @property
    def rules(self) -> tuple[Rule, ...]:
        return self._sections.rules

    @property
    def plugins(self) -> Mapping[str, Mapping[str, Any]]:
        """Each plugin's options, as its own schema validated them."""
        return self._sections.plugins

    def get(self, key: str, default: Any = _MISSING) -> Any:
        """The value at a dotted key: ``config.get("provider.model")``.

        Raises KeyError for an unknown key unless a default is given.
        """
        node: Any = self.data
        for part in key.split("."):
            if not isinstance(node, Mapping) or part not in node:
                if default is _MISSING:
                    raise KeyError(f"no configuration key {key!r}")
                return default
            node = node[part]
        return node

    def api_key(self) -> str | None:
        """The API key: read from the named environment variable, or the literal; None if unset."""
        value = self.get("provider.api_key", None)
        if isinstance(value, Mapping):
            return self._env.get(str(value.get("$env", "")))
        return value if isinstance(value, str) and value else None

    def redacted(self) -> dict[str, Any]:
        """A deep copy safe to show: ``{"$env": NAME}`` references stay, literal keys become
        ``"<redacted>"`` (also for secret-looking keys in plugin options and model inputs)."""
        result: dict[str, Any] = _redact(self.data)
        return result

    def __repr__(self) -> str:
        return f"Config(source={self.source!r}, data={self.redacted()!r})"


def _redact(value: Any, key: str = "") -> Any:
    if _SECRET_KEY.search(key) and value is not None:
        is_reference = isinstance(value, Mapping) and set(value) == {"$env"}
        return copy.deepcopy(dict(value)) if is_reference else "<redacted>"
    if isinstance(value, Mapping):
        return {k: _redact(v, str(k)) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def _merge(
    target: dict[str, Any],
    incoming: Mapping[str, Any],
    where: list[object],
    origin: str | None,
    origins: _Origins,
) -> None:
    """Deep-merge ``incoming`` into ``target``, recording where each value came from."""
    for key, value in incoming.items():
        path = [*where, key]
        if origin:
            origins.append((json_path(path), origin))
        if _is_table(value) and _is_table(target.get(key)):
            _merge(target[key], value, path, origin, origins)
        else:
            target[key] = copy.deepcopy(dict(value) if isinstance(value, Mapping) else value)


def _is_table(value: object) -> bool:
    """A mapping merged key by key; an ``{"$env": ...}`` reference is one value, replaced whole."""
    return isinstance(value, Mapping) and "$env" not in value


def _nest(parts: list[str], value: Any) -> dict[str, Any]:
    nested: dict[str, Any] = {parts[-1]: value}
    for part in reversed(parts[:-1]):
        nested = {part: nested}
    return nested


def _read_file(path: Path) -> dict[str, Any]:
    """The file's content as a dict; ConfigError naming the file (and line) when it can't be."""
    source, suffix = str(path), path.suffix.lower()

    def refuse(message: str) -> ConfigError:
        problem = ConfigProblem("$", message, source)
        return ConfigError("cannot load the configuration:", problems=[problem], source=source)

    if suffix not in EXTENSIONS:
        raise refuse(f"unsupported file type {suffix or '(none)'!r}; use a .toml or .json file")
    try:
        text = path.read_bytes().decode("utf-8-sig")
        data = tomllib.loads(text) if suffix == ".toml" else json.loads(text)
    except FileNotFoundError:
        raise refuse("file not found") from None
    except OSError as exc:
        raise refuse(f"cannot read the file ({exc.strerror or type(exc).__name__})") from None
    except UnicodeDecodeError as exc:
        raise refuse(f"not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        found = re.search(r"\(at line (\d+), column (\d+)\)$", str(exc))
        end = f"line {max(len(text.splitlines()), 1)} (end of file)"
        where = f"line {found[1]}, column {found[2]}" if found else end
        reason = re.sub(r" \(at [^)]*\)$", "", str(exc))
        raise refuse(f"{where}: invalid TOML ({reason})") from None
    except json.JSONDecodeError as exc:
        raise refuse(f"line {exc.lineno}, column {exc.colno}: invalid JSON ({exc.msg})") from None
    if not isinstance(data, dict):
        raise refuse(f"expected a table (object) at the top, got {type(data).__name__}")
    return data


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


def _env_layers(
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
        layers.append((_nest(parts, value), f"environment variable {name}"))
    return layers


def _schema_with(
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
        own = _defaults_of(fragment)
        if isinstance(own, dict):
            defaults["plugins"][name] = own
    return merged, defaults


def load_config(
    path: str | os.PathLike[str] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    overrides: Mapping[str, object] | None = None,
    fragments: Mapping[str, Mapping[str, Any]] | None = None,
    steps: Collection[str] | None = None,
) -> Config:
    """Load, merge and validate the configuration.

    Layers, each overriding the one before: the schema's defaults; the file at ``path`` (or
    ``$UPREZ_CONFIG``; ``.toml`` or ``.json``); ``UPREZ_<SECTION>__<KEY>`` variables from ``env``
    (default ``os.environ``; values are parsed as JSON when they parse); ``overrides`` with dotted
    keys such as ``{"provider.name": "local"}`` (a None value means "not given"). ``fragments``
    maps plugin names to the JSON schemas of their options, validated at ``plugins.<name>``.
    ``steps`` names the steps the plugins offer (``pm.steps()``): given, a rule naming another
    step is a problem too.

    Raises ConfigError listing every problem, each with its JSON path.
    """
    environ = dict(os.environ if env is None else env)
    if path is None and environ.get("UPREZ_CONFIG"):
        path = environ["UPREZ_CONFIG"]
    root, data = _schema_with(fragments)
    origins: _Origins = []
    source = None
    if path is not None:
        source = os.fspath(path)
        from_file = _read_file(Path(source))
        _merge(data, from_file, [], source, origins)
        provider = from_file.get("provider")
        if isinstance(provider, Mapping) and isinstance(provider.get("api_key"), str):
            logger.warning(
                "%s: provider.api_key holds a literal key; keys belong in the environment: "
                'set WAVESPEED_API_KEY and write api_key = {"$env": "WAVESPEED_API_KEY"} '
                '(TOML: api_key = { "$env" = "WAVESPEED_API_KEY" })',
                source,
            )
    for layer, origin in _env_layers(environ, root):
        _merge(data, layer, [], origin, origins)
    for key, value in (overrides or {}).items():
        if value is not None:
            _merge(data, _nest(key.split("."), value), [], f"option {key}", origins)
    validator = Draft202012Validator(root)
    found = schema_problems(validator, data) + rule_problems(data)
    if steps is not None:
        found += step_problems(data, steps)
    problems = finish(found, origins)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{count} in the configuration:", problems=problems, source=source)
    logger.debug("configuration loaded from %s", source or "defaults and environment")
    return Config(data, source, _Environment(environ))


def validate_file(
    path: str | os.PathLike[str],
    *,
    fragments: Mapping[str, Mapping[str, Any]] | None = None,
    steps: Collection[str] | None = None,
) -> list[ConfigProblem]:
    """Every problem of one config file on its own (no environment, no flags); [] when valid.
    ``fragments`` and ``steps`` as for :func:`load_config`."""
    try:
        load_config(path, env={}, fragments=fragments, steps=steps)
    except ConfigError as error:
        return [p for p in error.problems if isinstance(p, ConfigProblem)]
    return []
