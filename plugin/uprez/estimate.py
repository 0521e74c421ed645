"""Estimates and budget guards: what a job will cost, checked before anything is spent."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.errors import BudgetError
from uprez.plan import Plan, plan_segments

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.media.probe import Probe


@dataclass(frozen=True)
class Estimate:
    """One source, probed and planned."""

    path: Path
    probe: Probe
    plan: Plan

    def to_json(self) -> dict[str, Any]:
        """``{"path", "duration", "segments", "billed_seconds", "cost"}``; money as strings."""
        return {
            "path": str(self.path),
            "duration": round(self.probe.duration, 3),
            "segments": [s.to_json(self.plan.rule) for s in self.plan.segments],
            "billed_seconds": self.plan.billed_seconds,
            "cost": str(self.plan.cost),
        }


def estimate(path: Path, config: Config) -> Estimate:
    """Check ``path`` as the upscale step would, and plan its segments and bill."""
    from uprez.media.keyframes import keyframes
    from uprez.step import check_source, price_rule

    info = check_source(path, config)
    max_seconds = float(config.get("limits.max_duration"))
    max_bytes = int(config.get("limits.max_upload_bytes"))
    needs_cuts = info.duration > max_seconds or info.size_bytes > max_bytes
    keys = [k.index for k in keyframes(path)] if needs_cuts else [0]
    plan = plan_segments(
        frames=info.frames,
        fps=info.fps,
        keyframes=keys,
        max_seconds=max_seconds,
        rule=price_rule(config),
        size_bytes=info.size_bytes,
        max_bytes=max_bytes,
        duration=info.duration,
    )
    return Estimate(path, info, plan)


def _limit(config: Config, key: str, override: Decimal | None) -> Decimal | None:
    if override is not None:
        return override
    value = config.get(key)
    return None if value is None else Decimal(str(value))


def check_budget(
    estimates: Sequence[Estimate],
    config: Config,
    *,
    per_job: Decimal | None = None,
    per_run: Decimal | None = None,
) -> Decimal:
    """Refuse (``BudgetError``) a job or run over its limit; return the run's total cost."""
    job_limit = _limit(config, "limits.max_cost_per_job", per_job)
    run_limit = _limit(config, "limits.max_cost_per_run", per_run)
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
