"""Estimates and budget guards: what a job will cost, checked before anything is spent, and
the plan made again when a segment turns out too large to upload."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.account import account_limits
from uprez.errors import BudgetError, UploadTooLarge
from uprez.journal.jobs import open_journal
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo, Source
from uprez.providers import Funded, Provider
from uprez.step.checks import admit, price_rule
from uprez.step.plan import Plan, plan_segments
from uprez.step.proxy import Proxy, planned_bytes, proxy_for, sequence_proxy
from uprez.step.wall_plan import frame_bytes

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.master import Master
    from uprez.media.probe import Probe


@dataclass(frozen=True)
class Estimate:
    """One source, probed and planned."""

    path: Source
    probe: Probe
    plan: Plan
    # The upload limit the plan keeps each segment under (None: nothing is uploaded).
    max_bytes: int | None = None
    # What the file source is as a master, read once for the later steps (None: a URL source).
    master: Master | None = None
    # The proxy it is sent as (None: the source goes as it is); see uprez.step.proxy.
    proxy: Proxy | None = None

    @property
    def sent_bytes(self) -> int:
        """What is sent, in bytes: the source's size, or what its proxy is planned to weigh."""
        return planned_bytes(self.probe) if self.proxy is not None else self.probe.size_bytes

    def to_json(self) -> dict[str, Any]:
        """``{"path", "duration", "segments", "billed_seconds", "cost"}``; money as strings."""
        return {
            "path": str(self.path),
            "duration": round(self.probe.duration, 3),
            "segments": [s.to_json(self.plan.rule) for s in self.plan.segments],
            "billed_seconds": self.plan.billed_seconds,
            "cost": str(self.plan.cost),
        }


# Segments of a cut source are planned to this share of the upload limit: a cut's size follows
# its own bitrate, not the source's average, and one over the limit means cutting again.
PLAN_SHARE = 0.9


def upload_service(config: Config) -> str:
    """The service whose upload limit applies: the provider and where it is."""
    return f"{config.provider.name}|{config.provider.base_url}"


def upload_limit(config: Config) -> int:
    """The largest upload, in bytes: ``limits.max_upload_bytes``, or less where the service
    refused smaller files before (learned in the journal)."""
    configured = config.limits.max_upload_bytes
    journal = open_journal(config)
    if journal is None:
        return configured
    try:
        learned = journal.upload_limit(upload_service(config))
    finally:
        journal.close()
    return min(configured, learned) if learned else configured


def estimate(
    path: Source,
    config: Config,
    *,
    max_bytes: int | None = None,
    plan_bytes: int | None = None,
) -> Estimate:
    """Check ``path`` as the upscale step would, and plan its segments and bill.

    A source over the upload limit (``max_bytes``, by default :func:`upload_limit`) is cut so
    each segment's share of its bytes stays under ``plan_bytes`` (by default
    :data:`PLAN_SHARE` of the limit). A URL source goes whole: it
    is never uploaded, and one too long to go whole was refused by the check."""
    from uprez.media.keyframes import index_video  # PyAV loads when a video is first looked at

    info, master = admit(path, config)
    max_seconds = config.limits.max_duration
    if isinstance(path, RemoteVideo):
        whole = plan_segments(
            frames=info.frames,
            fps=info.fps,
            keyframes=[0],
            max_seconds=max_seconds,
            rule=price_rule(config),
            duration=info.duration,
        )
        return Estimate(path, info, whole)
    limit = max_bytes or upload_limit(config)
    if isinstance(path, ImageSequence):
        proxy: Proxy | None = sequence_proxy(path, info, config)
    else:
        proxy = proxy_for(master, info, config)
    sent = planned_bytes(info) if proxy is not None else info.size_bytes
    # A plan made again after a cut came out over the limit (plan_bytes) is cut smaller even
    # where the planned size was under it: the planned size of a proxy is an estimate.
    needs_cuts = info.duration > max_seconds or sent > limit or plan_bytes is not None
    budget = limit
    if sent > limit or plan_bytes is not None:
        budget = plan_bytes or int(limit * PLAN_SHARE)
    before = None  # the bytes before each frame, where the packets tell them
    if proxy is not None:  # every frame of a proxy is encoded: any frame is a cut
        keys = list(range(info.frames)) if needs_cuts else [0]
    else:
        assert isinstance(path, Path)
        index = index_video(path) if needs_cuts else None
        keys = list(index.keyframe_indexes) if index is not None else [0]
        if index is not None and plan_bytes is None and len(index.sizes) == info.frames:
            before = frame_bytes(index.sizes, info.size_bytes)
    plan = plan_segments(
        frames=info.frames,
        fps=info.fps,
        keyframes=keys,
        max_seconds=max_seconds,
        rule=price_rule(config),
        size_bytes=sent,
        max_bytes=budget,
        duration=info.duration,
        frame_bytes=before,
        cap=limit,
        wave=min(account_limits(config)),
    )
    if proxy is not None:
        plan = replace(
            plan, segments=tuple(replace(s, copy=False, whole=False) for s in plan.segments)
        )
    return Estimate(path, info, plan, limit, master, proxy)


def check_budget(
    estimates: Sequence[Estimate],
    config: Config,
    *,
    per_job: Decimal | None = None,
    per_run: Decimal | None = None,
) -> Decimal:
    """Refuse (``BudgetError``) a job or run over its limit; return the run's total cost."""
    job_limit = per_job if per_job is not None else config.limits.max_cost_per_job
    run_limit = per_run if per_run is not None else config.limits.max_cost_per_run
    total = sum((e.plan.cost for e in estimates), Decimal("0.00"))
    for item in estimates:
        if job_limit is not None and item.plan.cost > job_limit:
            raise BudgetError(
                f"{item.path}: estimated ${item.plan.cost} ({item.plan.billed_seconds} s billed "
                f"in {len(item.plan.segments)} segment(s)) is over the ${job_limit} limit per job"
                " (limits.max_cost_per_job, --max-cost); nothing was spent"
            )
    if run_limit is not None and total > run_limit:
        raise BudgetError(
            f"estimated ${total} for {len(estimates)} file(s) is over the ${run_limit} limit "
            "per run (limits.max_cost_per_run, --max-run-cost); nothing was spent"
        )
    return total


def check_funds(provider: Provider, cost: Decimal, config: Config) -> None:
    """Before the first upload of a run: refuse it if the account cannot pay its estimate
    (providers that know an account's balance say; others are not asked)."""
    if isinstance(provider, Funded):
        provider.check_funds(cost, config.limits.price_per_second)


def replan(job: Estimate, exc: UploadTooLarge, config: Config) -> Estimate:
    """The job planned again after ``exc``: nothing was submitted, so only uploads are lost.

    A refusal by the service (it has an HTTP status) lowers the service's limit, remembered in
    the journal; a cut over uprez's own limit (the source's bitrate is uneven) tightens this
    plan only."""
    limit = job.max_bytes or upload_limit(config)
    if exc.status is not None:
        learned = min(limit, exc.size) * 9 // 10
        log.warning("%s; uploads to this service are now kept under %d bytes", exc, learned)
        journal = open_journal(config)
        if journal is not None:
            try:
                journal.learn_upload_limit(upload_service(config), learned)
            finally:
                journal.close()
        return estimate(job.path, config, max_bytes=learned)
    share = job.sent_bytes / max(1, len(job.plan.segments))
    planned = int(min(share, limit) * min(1.0, limit / exc.size) * 0.95)
    log.info("%s; planning smaller segments (nothing was uploaded)", exc)
    return estimate(job.path, config, max_bytes=limit, plan_bytes=max(1, planned))
