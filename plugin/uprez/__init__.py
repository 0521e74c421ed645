"""uprez: an upscale export step for render and publish pipelines.

What a host or a plugin author needs is here, loaded on first use so that ``import uprez``
stays light (no PyAV, werkzeug or rich)::

    import uprez

    @uprez.hookimpl
    def uprez_job_event(event: uprez.JobEvent) -> None:
        print(event.kind, event.source)

    config = uprez.load_config(overrides={"provider.name": "local"})
    pm = uprez.get_plugin_manager()
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from uprez.version import __version__

if TYPE_CHECKING:
    from uprez.config import Config, load_config
    from uprez.errors import UprezError
    from uprez.hookspecs import hookimpl
    from uprez.media.remote import RemoteVideo
    from uprez.plugins import PluginManager, get_plugin_manager
    from uprez.providers import Provider, ProviderInfo, ProviderResult
    from uprez.records import Artifact, JobEvent, PostExportContext, StepInfo, UpscaleResult
    from uprez.step.prepare import Batch, prepare
    from uprez.step.run import Outcome, run, run_upscale

# Each public name, and the module that holds it.
_PUBLIC = {
    "hookimpl": "uprez.hookspecs",
    "Artifact": "uprez.records",
    "JobEvent": "uprez.records",
    "StepInfo": "uprez.records",
    "PostExportContext": "uprez.records",
    "UpscaleResult": "uprez.records",
    "Provider": "uprez.providers",
    "ProviderInfo": "uprez.providers",
    "ProviderResult": "uprez.providers",
    "Config": "uprez.config",
    "load_config": "uprez.config",
    "PluginManager": "uprez.plugins",
    "get_plugin_manager": "uprez.plugins",
    "UprezError": "uprez.errors",
    "RemoteVideo": "uprez.media.remote",
    "prepare": "uprez.step.prepare",
    "Batch": "uprez.step.prepare",
    "run": "uprez.step.run",
    "Outcome": "uprez.step.run",
    "run_upscale": "uprez.step.run",
}

__all__ = [
    "Artifact",
    "Batch",
    "Config",
    "JobEvent",
    "Outcome",
    "PluginManager",
    "PostExportContext",
    "Provider",
    "ProviderInfo",
    "ProviderResult",
    "RemoteVideo",
    "StepInfo",
    "UprezError",
    "UpscaleResult",
    "__version__",
    "get_plugin_manager",
    "hookimpl",
    "load_config",
    "prepare",
    "run",
    "run_upscale",
]


def __getattr__(name: str) -> Any:
    """Load a public name from its module the first time it is asked for."""
    where = _PUBLIC.get(name)
    if where is None:
        raise AttributeError(f"module 'uprez' has no attribute {name!r}")
    value = getattr(importlib.import_module(where), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_PUBLIC))
