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

import logging
import os
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from uprez.config.configuration import Config
from uprez.config.defaults import schema_with
from uprez.config.environment import Environment, env_layers
from uprez.config.merging import Origins, merge, nest
from uprez.config.problems import (
    ConfigProblem,
    finish,
    rule_problems,
    schema_problems,
    step_problems,
)
from uprez.config.reading import read_file
from uprez.errors import ConfigError

__all__ = ["load_config", "validate_file"]

# The name the configuration has always logged under, whichever of its files logs.
logger = logging.getLogger("uprez.config")


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
    root, data = schema_with(fragments)
    origins: Origins = []
    source = None
    if path is not None:
        source = os.fspath(path)
        from_file = read_file(Path(source))
        merge(data, from_file, [], source, origins)
        provider = from_file.get("provider")
        if isinstance(provider, Mapping) and isinstance(provider.get("api_key"), str):
            logger.warning(
                "%s: provider.api_key holds a literal key; keys belong in the environment: "
                'set WAVESPEED_API_KEY and write api_key = {"$env": "WAVESPEED_API_KEY"} '
                '(TOML: api_key = { "$env" = "WAVESPEED_API_KEY" })',
                source,
            )
    for layer, origin in env_layers(environ, root):
        merge(data, layer, [], origin, origins)
    for key, value in (overrides or {}).items():
        if value is not None:
            merge(data, nest(key.split("."), value), [], f"option {key}", origins)
    validator = Draft202012Validator(root)
    found = schema_problems(validator, data) + rule_problems(data)
    if steps is not None:
        found += step_problems(data, steps)
    problems = finish(found, origins)
    if problems:
        count = f"{len(problems)} problem{'s' if len(problems) > 1 else ''}"
        raise ConfigError(f"{count} in the configuration:", problems=problems, source=source)
    logger.debug("configuration loaded from %s", source or "defaults and environment")
    return Config(data, source, Environment(environ))


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
