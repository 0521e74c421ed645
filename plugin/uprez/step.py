"""The ``upscale`` step: check the export, run a provider, place the result, write its sidecar.

Nothing is spent before every check has passed: a bad file, a video over the service's limit, an
output that already exists (without ``output.overwrite``) are refused before any upload.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

from uprez import protocol
from uprez.billing import PriceRule
from uprez.errors import ConfigError, InputError, UprezError
from uprez.records import Artifact, JobEvent, Provider
from uprez.service.redact import redact_url
from uprez.sidecar import build_sidecar, write_sidecar

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.probe import Probe
    from uprez.plugins import PluginManager

log = logging.getLogger(__name__)
STEP = "upscale"


def check_source(path: Path, config: Config) -> Probe:
    """Probe ``path`` and refuse, before anything is spent, what the service would refuse."""
    from uprez.media.probe import probe

    if not path.exists():
        raise InputError(f"{path}: no such file", path=str(path))
    if not path.is_file():
        raise InputError(f"{path}: not a regular file", path=str(path))
    if not os.access(path, os.R_OK):
        raise InputError(f"{path}: not readable (check its permissions)", path=str(path))
    if path.suffix.lower() not in protocol.VIDEO_EXTENSIONS:
        known = ", ".join(sorted(protocol.VIDEO_EXTENSIONS))
        raise InputError(f"{path}: the service takes {known} files", path=str(path))
    info = probe(path)
    limit = float(config.get("limits.max_duration"))
    if info.duration > limit:
        raise InputError(
            f"{path}: {info.duration:.1f} s is longer than the service's {limit:.0f} s limit",
            path=str(path),
        )
    return info


def price_rule(config: Config) -> PriceRule:
    """The billing rule from the config's ``limits`` section."""
    return PriceRule(
        per_second=Decimal(str(config.get("limits.price_per_second"))),
        minimum_seconds=int(config.get("limits.minimum_seconds")),
    )


def choose_output(
    artifact: Artifact, config: Config, pm: PluginManager, output: Path | None
) -> Path:
    """The result's path: ``output`` if given, else the ``uprez_output_path`` hook's answer."""
    target = output or pm.hook.uprez_output_path(artifact=artifact, step=STEP, config=config)
    if target is None:
        raise ConfigError("no plugin chose an output path (is the built-in plugin disabled?)")
    target = Path(target)
    if target.resolve() == artifact.path.resolve():
        raise InputError(f"{target}: the output would replace its own source", path=str(target))
    if target.exists() and not config.get("output.overwrite"):
        raise InputError(
            f"{target} exists; set output.overwrite = true (or --overwrite) to replace it",
            path=str(target),
        )
    return target


def make_provider(config: Config, pm: PluginManager, name: str | None = None) -> Provider:
    """Build the provider the config (or ``name``) chooses."""
    chosen = name or str(config.get("provider.name"))
    offered = pm.providers()
    if chosen not in offered:
        known = ", ".join(sorted(offered))
        raise ConfigError(f"$.provider.name: no provider named {chosen!r}; available: {known}")
    return offered[chosen].factory(config)


def run_upscale(
    artifact: Artifact,
    *,
    config: Config,
    pm: PluginManager,
    provider: Provider | None = None,
    output: Path | None = None,
) -> Artifact:
    """Upscale one exported video and return the result as a new :class:`Artifact`.

    ``provider`` may be shared across several calls (the caller closes it); if omitted, the
    config's provider is built for this call and closed after it.
    """
    source = artifact.path
    info = check_source(source, config)
    target = choose_output(artifact, config, pm, output)
    rule = price_rule(config)
    log.info(
        "upscaling %s (%.1f s, estimated $%s)", source, info.duration, rule.cost(info.duration)
    )

    def emit(event: JobEvent) -> None:
        pm.hook.uprez_job_event(event=event)

    owned = provider is None
    active = provider if provider is not None else make_provider(config, pm)
    started = time.monotonic()
    try:
        result = active.run(source, target, emit=emit)
    except UprezError as exc:
        task_id = getattr(exc, "task_id", None)
        emit(JobEvent("failed", source, task_id=task_id, message=str(exc)))
        raise
    finally:
        if owned:
            active.close()
    return _hand_off(
        artifact, target, info, result, rule, time.monotonic() - started, config, active.name, emit
    )


def _hand_off(
    artifact: Artifact,
    target: Path,
    info: Probe,
    result: object,
    rule: PriceRule,
    elapsed: float,
    config: Config,
    provider_name: str,
    emit: Callable[[JobEvent], None],
) -> Artifact:
    from uprez.media.probe import probe
    from uprez.records import ProviderResult

    assert isinstance(result, ProviderResult)
    try:
        out_info = probe(target)
    except InputError as exc:
        target.unlink(missing_ok=True)
        emit(JobEvent("failed", artifact.path, task_id=result.task_id, message=str(exc)))
        raise InputError(
            f"the service returned an unreadable video for task {result.task_id}: {exc}",
            path=str(target),
        ) from exc
    record = build_sidecar(
        step=STEP,
        source={"path": str(artifact.path), "size_bytes": info.size_bytes, "probe": info.to_dict()},
        output={
            "path": str(target),
            "size_bytes": out_info.size_bytes,
            "probe": out_info.to_dict(),
        },
        provider=provider_name,
        model=result.model,
        task_id=result.task_id,
        output_url=redact_url(result.output_url),
        billed_seconds=rule.billed_seconds(info.duration),
        cost=str(rule.cost(info.duration)),
        timings={
            **result.timings,
            "total_s": round(elapsed, 3),
            "inference_ms": result.inference_ms,
        },
    )
    if config.get("output.sidecar"):
        write_sidecar(target, record)
    emit(
        JobEvent("completed", artifact.path, task_id=result.task_id, detail={"output": str(target)})
    )
    return Artifact(
        path=target,
        kind="video",
        tags=artifact.tags | {"upscaled"},
        metadata=record,
        source=artifact.path,
    )
