"""The plugin manager: built-ins first, then entry points of the ``uprez`` group, one by one.

Environment switches: ``UPREZ_LOAD_PLUGINS`` (comma list: load only these entry points),
``UPREZ_DISABLE_PLUGINS`` (comma list: block these, built-ins included), ``UPREZ_STRICT_PLUGINS=1``
(a broken plugin is fatal instead of reported and skipped), ``UPREZ_TRACE_PLUGINS=1`` (log every
hook call at INFO on the ``uprez.trace`` logger).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import TYPE_CHECKING, Any

import pluggy

from uprez import hookspecs
from uprez.errors import ConfigError
from uprez.providers import Provider, ProviderInfo
from uprez.records import Artifact, PostExportContext, StepInfo

if TYPE_CHECKING:
    from uprez.config import Config

log = logging.getLogger(__name__)
trace_log = logging.getLogger("uprez.trace")

BUILTINS = {"builtin": "uprez.hooks.builtin"}


class PluginError(ConfigError):
    """A plugin could not be loaded (fatal only with ``UPREZ_STRICT_PLUGINS=1``)."""


class PluginManager(pluggy.PluginManager):
    """pluggy's manager plus what uprez learned while loading (``broken``: name -> reason)."""

    def __init__(self) -> None:
        super().__init__(hookspecs.PROJECT)
        self.broken: dict[str, str] = {}
        self.add_hookspecs(hookspecs)

    def steps(self) -> dict[str, StepInfo]:
        """Every step offered, by name; a name offered twice is an error."""
        return _unique("step", self.hook.uprez_steps())

    def providers(self) -> dict[str, ProviderInfo]:
        """Every provider offered, by name; a name offered twice is an error."""
        return _unique("provider", self.hook.uprez_providers())

    def make_provider(self, config: Config, name: str | None = None) -> Provider:
        """Build the provider the config's ``provider.name`` (or ``name``) chooses; refuse one
        that does not keep the :class:`~uprez.providers.Provider` contract."""
        chosen = name or config.provider.name
        offered = self.providers()
        if chosen not in offered:
            known = ", ".join(sorted(offered))
            raise ConfigError(f"$.provider.name: no provider named {chosen!r}; available: {known}")
        provider = offered[chosen].factory(config)
        if not isinstance(provider, Provider):
            missing = [
                m for m in ("name", "identity", "box", "run", "close") if not hasattr(provider, m)
            ]
            raise PluginError(
                f"provider {chosen!r} does not keep the provider contract (missing: "
                f"{', '.join(missing)}); subclass uprez.providers.Provider for its defaults"
            )
        return provider

    def post_export(
        self, artifact: Artifact, context: PostExportContext | None = None
    ) -> list[Artifact]:
        """Call ``uprez_post_export`` for ``artifact``: what every plugin's steps produced, as
        one flat list."""
        answers = self.hook.uprez_post_export(
            artifact=artifact, context=context or PostExportContext()
        )
        return [item for answer in answers for item in answer or ()]

    def config_fragments(self) -> dict[str, dict[str, Any]]:
        """The option schemas that steps and providers declare, validated at ``plugins.<name>``."""
        records: list[StepInfo | ProviderInfo] = [
            *self.steps().values(),
            *self.providers().values(),
        ]
        return {r.name: r.options_schema for r in records if r.options_schema is not None}


def _unique(kind: str, answers: list[list[Any]]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for answer in answers:
        for record in answer or []:
            if record.name in found:
                raise PluginError(f"two plugins offer a {kind} named {record.name!r}")
            found[record.name] = record
    return found


def _names(value: str | None) -> set[str] | None:
    if value is None:
        return None
    return {part.strip() for part in value.split(",") if part.strip()}


def get_plugin_manager(env: Mapping[str, str] | None = None) -> PluginManager:
    """A plugin manager with the built-ins and every installed ``uprez`` plugin loaded."""
    env = os.environ if env is None else env
    strict = env.get("UPREZ_STRICT_PLUGINS", "") not in ("", "0", "false")
    allowed = _names(env.get("UPREZ_LOAD_PLUGINS"))
    disabled = _names(env.get("UPREZ_DISABLE_PLUGINS")) or set()

    pm = PluginManager()
    for name in disabled:
        pm.set_blocked(name)
    for name, module in BUILTINS.items():
        if name not in disabled:
            pm.register(importlib.import_module(module), name=name)
    for entry in entry_points(group=hookspecs.PROJECT):
        if entry.name in disabled or (allowed is not None and entry.name not in allowed):
            log.debug(
                "plugin %s not loaded (UPREZ_LOAD_PLUGINS / UPREZ_DISABLE_PLUGINS)", entry.name
            )
            continue
        _load(pm, entry, strict)
    if env.get("UPREZ_TRACE_PLUGINS", "") not in ("", "0", "false"):
        pm.trace.root.setwriter(lambda text: trace_log.info(text.rstrip()))
        pm.enable_tracing()
    _drop_unknown_hooks(pm, strict)
    return pm


def _drop_unknown_hooks(pm: PluginManager, strict: bool) -> None:
    """``check_pending``, with a plugin that implements an unknown hook reported and skipped."""
    while True:
        try:
            pm.check_pending()
            return
        except pluggy.PluginValidationError as exc:
            name = pm.get_name(exc.plugin) or repr(exc.plugin)
            if strict:
                raise PluginError(f"plugin {name!r} is broken: {exc}") from exc
            pm.unregister(exc.plugin)
            pm.broken[name] = f"implements an unknown hook: {exc}"
            log.warning("plugin %s skipped: %s", name, exc)


def _load(pm: PluginManager, entry: EntryPoint, strict: bool) -> None:
    if pm.get_plugin(entry.name) is not None:
        return
    try:
        plugin = entry.load()
        pm.register(plugin, name=entry.name)
    except Exception as exc:
        reason = f"{type(exc).__name__}: {exc}"
        if strict:
            raise PluginError(f"plugin {entry.name!r} ({entry.value}) is broken: {reason}") from exc
        pm.broken[entry.name] = reason
        log.warning("plugin %s skipped: %s", entry.name, reason)
