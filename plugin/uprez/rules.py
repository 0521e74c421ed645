"""Post-export rules: which steps run on which exported artifact.

A rule matches on the file's name (``glob``), extension (``ext``), picture size (``min_width``,
``max_height``...) and the tags a host gave it (``tags``); every matching rule's ``steps`` run, in
order, each step once. With no rules at all, every video gets ``upscale``.
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from uprez.errors import ConfigError, InputError
from uprez.media.remote import describe
from uprez.records import Artifact

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.config.sections import Rule
    from uprez.media.probe import Probe

log = logging.getLogger(__name__)


def _size_ok(rule: Rule, info: Probe) -> bool:
    return (
        (rule.min_width is None or info.width >= rule.min_width)
        and (rule.min_height is None or info.height >= rule.min_height)
        and (rule.max_width is None or info.width <= rule.max_width)
        and (rule.max_height is None or info.height <= rule.max_height)
    )


def matches(rule: Rule, artifact: Artifact, probe: Callable[[Artifact], Probe | None]) -> bool:
    """True when ``artifact`` meets every condition ``rule`` sets (``probe`` only if needed)."""
    path = artifact.path
    if rule.glob is not None:
        subject = str(path) if "/" in rule.glob else path.name
        if not fnmatch.fnmatch(subject, rule.glob):
            return False
    if rule.ext is not None and path.suffix.lower() not in {e.lower() for e in rule.ext}:
        return False
    if not set(rule.tags) <= set(artifact.tags):
        return False
    if rule.needs_size:
        info = probe(artifact)
        if info is None or not _size_ok(rule, info):
            return False
    return True


def select_steps(artifact: Artifact, config: Config, known: set[str]) -> list[str]:
    """The steps the config's rules choose for ``artifact``, each once, in rule order."""
    rules = config.rules
    if not rules:
        return ["upscale"] if artifact.kind == "video" else []
    probed: dict[str, Probe | None] = {}

    def probe_once(item: Artifact) -> Probe | None:
        key = str(item.path)
        if key not in probed:
            try:
                probed[key] = describe(item.path)
            except InputError as exc:
                log.info("%s: no size to match rules against (%s)", item.path, exc)
                probed[key] = None
        return probed[key]

    chosen: list[str] = []
    for number, rule in enumerate(rules):
        for index, step in enumerate(rule.steps):
            if step not in known:
                raise ConfigError(
                    f"$.rules[{number}].steps[{index}]: no step named {step!r}; "
                    f"available: {', '.join(sorted(known))}"
                )
        if matches(rule, artifact, probe_once):
            chosen.extend(s for s in rule.steps if s not in chosen)
    return chosen
