"""Post-export rules: which steps run on which exported artifact.

A rule matches on the file's name (``glob``), extension (``ext``), picture size (``min_width``,
``max_height``...) and the tags a host gave it (``tags``); every matching rule's ``steps`` run, in
order, each step once. With no rules at all, every video gets ``upscale``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from uprez.errors import ConfigError, InputError
from uprez.records import Artifact

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.probe import Probe

log = logging.getLogger(__name__)
_SIZE_KEYS = ("min_width", "min_height", "max_width", "max_height")


def _size_ok(rule: Mapping[str, Any], info: Probe) -> bool:
    checks = {
        "min_width": info.width >= rule.get("min_width", 0),
        "min_height": info.height >= rule.get("min_height", 0),
        "max_width": "max_width" not in rule or info.width <= rule["max_width"],
        "max_height": "max_height" not in rule or info.height <= rule["max_height"],
    }
    return all(checks.values())


def matches(
    rule: Mapping[str, Any], artifact: Artifact, probe: Callable[[Artifact], Probe | None]
) -> bool:
    """True when ``artifact`` meets every condition ``rule`` sets (``probe`` only if needed)."""
    path = artifact.path
    pattern = rule.get("glob")
    if pattern is not None:
        subject = str(path) if "/" in pattern else path.name
        if not fnmatch.fnmatch(subject, pattern):
            return False
    extensions = rule.get("ext")
    if extensions is not None and path.suffix.lower() not in {e.lower() for e in extensions}:
        return False
    if not set(rule.get("tags", ())) <= set(artifact.tags):
        return False
    if any(key in rule for key in _SIZE_KEYS):
        info = probe(artifact)
        if info is None or not _size_ok(rule, info):
            return False
    return True


def select_steps(artifact: Artifact, config: Config, known: set[str]) -> list[str]:
    """The steps the config's rules choose for ``artifact``, each once, in rule order."""
    rules: list[dict[str, Any]] = list(config.get("rules") or [])
    if not rules:
        return ["upscale"] if artifact.kind == "video" else []
    probed: dict[str, Probe | None] = {}

    def probe_once(item: Artifact) -> Probe | None:
        from uprez.media.probe import probe

        key = str(item.path)
        if key not in probed:
            try:
                probed[key] = probe(item.path)
            except InputError as exc:
                log.info("%s: no size to match rules against (%s)", item.path, exc)
                probed[key] = None
        return probed[key]

    chosen: list[str] = []
    for number, rule in enumerate(rules):
        for index, step in enumerate(rule["steps"]):
            if step not in known:
                raise ConfigError(
                    f"$.rules[{number}].steps[{index}]: no step named {step!r}; "
                    f"available: {', '.join(sorted(known))}"
                )
        if matches(rule, artifact, probe_once):
            chosen.extend(s for s in rule["steps"] if s not in chosen)
    return chosen
