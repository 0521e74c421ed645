"""``uprez estimate``: what upscaling these files would cost, without spending anything."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any

from uprez.cli.options import (
    add_config_options,
    add_payer_options,
    add_sequence_options,
    inputs,
)
from uprez.config import load_config
from uprez.media.remote import as_source
from uprez.plugins import get_plugin_manager
from uprez.records import Artifact

if TYPE_CHECKING:
    from uprez.step.prepare import Batch  # PyAV loads with the step's modules


def register(commands: Any) -> None:
    """Add the ``estimate`` sub-command."""

    parser: argparse.ArgumentParser = commands.add_parser(
        "estimate",
        help="print the segments, billed seconds and cost of upscaling files",
        description="Probe and plan each IN as 'uprez upscale' would; nothing is uploaded.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="IN",
        type=as_source,
        help="video files, or http(s) URLs the service would read itself",
    )
    add_config_options(parser)
    add_payer_options(parser)
    add_sequence_options(parser)
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(handler=run)


def report(batch: Batch, as_json: bool) -> None:
    """Print a prepared batch as a table, or as ``{"files": [...], "total_cost": "..."}``."""
    if as_json:
        print(json.dumps(batch.to_json(), indent=2))
        return
    for job in batch.jobs:
        plan = job.estimate.plan
        done = " (made by an earlier run: nothing to pay)" if job.placement.made_before else ""
        print(
            f"{job.artifact.path}: {job.estimate.probe.duration:.2f} s, "
            f"{len(plan.segments)} segment(s), {plan.billed_seconds} s billed, ${plan.cost} "
            f"-> {job.target}{done}"
        )
        if len(plan.segments) > 1:
            for seg in plan.segments:
                how = "stream copy" if seg.copy else "re-encoded cut"
                print(
                    f"  segment {seg.index + 1}: {seg.start:.2f}-{seg.end:.2f} s "
                    f"({seg.duration:.2f} s, {how}) ${plan.rule.cost(seg.duration)}"
                )
    print(f"total: ${batch.total}")


def run(args: argparse.Namespace) -> int:
    """Prepare every input as ``uprez upscale`` would, and print the batch."""
    from uprez.step.prepare import prepare  # PyAV loads with the step's modules

    pm = get_plugin_manager()
    config = load_config(
        args.config, fragments=pm.config_fragments(), overrides={"provider.name": args.provider}
    )
    sources = inputs(args.inputs, args.fps)
    artifacts = [Artifact(path, project=args.project, user=args.user) for path in sources]
    report(prepare(artifacts, config=config, pm=pm), args.json)
    return 0
