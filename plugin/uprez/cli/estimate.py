"""``uprez estimate``: what upscaling these files would cost, without spending anything."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from uprez.step.estimate import Estimate


def register(commands: Any) -> None:
    """Add the ``estimate`` sub-command."""
    from uprez.cli.upscale import add_config_options
    from uprez.media.remote import as_source

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
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(handler=run)


def report(estimates: Sequence[Estimate], as_json: bool) -> None:
    """Print estimates as a table, or as ``{"files": [...], "total_cost": "..."}``."""
    total = sum((e.plan.cost for e in estimates), Decimal("0.00"))
    if as_json:
        print(
            json.dumps(
                {"files": [e.to_json() for e in estimates], "total_cost": str(total)}, indent=2
            )
        )
        return
    for item in estimates:
        plan = item.plan
        print(
            f"{item.path}: {item.probe.duration:.2f} s, {len(plan.segments)} segment(s), "
            f"{plan.billed_seconds} s billed, ${plan.cost}"
        )
        if len(plan.segments) > 1:
            for seg in plan.segments:
                how = "stream copy" if seg.copy else "re-encoded cut"
                print(
                    f"  segment {seg.index + 1}: {seg.start:.2f}-{seg.end:.2f} s "
                    f"({seg.duration:.2f} s, {how}) ${plan.rule.cost(seg.duration)}"
                )
    print(f"total: ${total}")


def run(args: argparse.Namespace) -> int:
    """Estimate every input."""
    from uprez.config import load_config
    from uprez.plugins import get_plugin_manager
    from uprez.step.estimate import estimate

    pm = get_plugin_manager()
    config = load_config(
        args.config, fragments=pm.config_fragments(), overrides={"provider.name": args.provider}
    )
    report([estimate(path, config) for path in args.inputs], args.json)
    return 0
