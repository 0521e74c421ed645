"""Prepare a batch: probe, plan, price and place every input once, check the batch and its
budgets, and hand back a :class:`Batch` that :func:`uprez.step.run.run` carries out.

Nothing is spent here: what ``--dry-run`` and ``uprez estimate`` print is the batch itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.media.image_sequence import ImageSequence
from uprez.records import Artifact
from uprez.rules import select_steps
from uprez.step.checks import check_batch
from uprez.step.conforming import check_target
from uprez.step.estimate import Estimate, check_budget, estimate, upload_limit
from uprez.step.output import STEP, Placement, place
from uprez.step.payer import project_of, user_of
from uprez.step.policy import check_uploads

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.plugins import PluginManager


@dataclass(frozen=True)
class Job:
    """One input of a batch: checked, planned, priced and placed."""

    artifact: Artifact
    estimate: Estimate
    placement: Placement
    #: Who its tasks are charged to (see :mod:`uprez.step.payer`).
    project: str = ""
    user: str = ""

    @property
    def target(self) -> Path:
        """Where the result goes."""
        return self.placement.target

    @property
    def cost(self) -> Decimal:
        """What it will cost; nothing when an earlier run made it."""
        return Decimal("0.00") if self.placement.made_before else self.estimate.plan.cost

    def to_json(self) -> dict[str, Any]:
        """The estimate's JSON plus where the result goes."""
        return {
            **self.estimate.to_json(),
            "output": str(self.target),
            "project": self.project,
            "user": self.user,
        }


@dataclass(frozen=True)
class Batch:
    """What :func:`prepare` found: the upscale jobs, the other steps the rules chose (each
    run on its artifact after the jobs), the inputs no rule chose anything for, and the
    config and plugins it was prepared with."""

    jobs: tuple[Job, ...]
    config: Config
    pm: PluginManager
    others: tuple[tuple[Artifact, str], ...] = ()
    skipped: tuple[Artifact, ...] = ()

    def by_payer(self) -> dict[tuple[str, str], Decimal]:
        """What the batch will cost, by ``(project, user)`` (what its budgets reserve)."""
        amounts: dict[tuple[str, str], Decimal] = {}
        for job in self.jobs:
            if not job.placement.made_before:
                key = (job.project, job.user)
                amounts[key] = amounts.get(key, Decimal(0)) + job.cost
        return amounts

    @property
    def total(self) -> Decimal:
        """The estimated cost of the whole batch (what the account must cover)."""
        return sum((job.cost for job in self.jobs), Decimal("0.00"))

    def to_json(self) -> dict[str, Any]:
        """``{"files": [...], "total_cost": "..."}``, money as strings (``uprez estimate``)."""
        return {"files": [job.to_json() for job in self.jobs], "total_cost": str(self.total)}


def prepare(
    artifacts: Sequence[Artifact],
    *,
    config: Config,
    pm: PluginManager,
    folder: Path | None = None,
    folders: Sequence[Path | None] | None = None,
    output: Path | None = None,
    rules: bool = False,
) -> Batch:
    """Check, plan, price and place every artifact, then refuse (before anything is spent) a
    batch whose outputs collide or replace one of its inputs, or that is over its budgets.
    First of all, a batch with an input its upload policies forbid (``privacy.policies``,
    see :mod:`uprez.step.policy`) is refused before any input is read.

    ``folder`` is the host's destination, handed to the ``uprez_output_path`` hook (the
    built-in fills ``output.template`` there), or ``folders`` one per artifact (a publish
    stages each movie in its own folder); ``output`` names the file of a single input.
    With ``rules``, the config's post-export rules choose the steps of each artifact: only
    those chosen for ``upscale`` become jobs; other steps are kept for :func:`run`."""
    if output is not None and len(artifacts) != 1:
        raise ValueError("an output file names the result of one input")
    # Upload policies come first: a refused input is refused on its project and path alone,
    # before anything of it is read (a rule's size condition, the probe and the hash read it)
    # or sent (issue 17: a show under NDA never touches the network).
    check_uploads(artifacts, config)
    places = folders if folders is not None else [folder] * len(artifacts)
    chosen: list[tuple[Artifact, Path | None]] = []
    others: list[tuple[Artifact, str]] = []
    skipped: list[Artifact] = []
    known = set(pm.steps()) if rules else set()
    for artifact, place_in in zip(artifacts, places, strict=True):
        steps = select_steps(artifact, config, known) if rules else [STEP]
        if not steps:
            skipped.append(artifact)
        if STEP in steps:
            chosen.append((artifact, place_in))
        others.extend((artifact, name) for name in steps if name != STEP)
    # The service's upload limit is read (from the journal) once for the batch, not per input.
    limit = upload_limit(config) if chosen else None
    jobs = tuple(
        Job(
            artifact,
            estimate(artifact.path, config, max_bytes=limit),
            place(artifact, config, pm, folder=place_in, output=output),
            project_of(artifact),
            user_of(artifact),
        )
        for artifact, place_in in chosen
    )
    check_batch([job.artifact.path for job in jobs], [job.target for job in jobs])
    for job in jobs:
        if not isinstance(job.artifact.path, ImageSequence) or "#" not in job.target.name:
            check_target(job.target, job.estimate.master, config)
    check_budget([job.estimate for job in jobs if not job.placement.made_before], config)
    return Batch(jobs, config, pm, tuple(others), tuple(skipped))
