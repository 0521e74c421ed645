"""``uprez jobs``: recent jobs from the journal, with status, cost, paths and task ids."""

from __future__ import annotations

import argparse
import json
from datetime import datetime
from typing import Any

from uprez.cli.options import add_config_options
from uprez.config import load_config
from uprez.journal.jobs import open_journal


def register(commands: Any) -> None:
    """Add the ``jobs`` sub-command."""

    parser: argparse.ArgumentParser = commands.add_parser(
        "jobs", help="list recent jobs from the journal (status, cost, paths, task ids)"
    )
    add_config_options(parser)
    parser.add_argument("--limit", type=int, default=20, help="how many (default 20)")
    parser.add_argument("--json", action="store_true", help="print JSON on stdout")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Print the newest jobs first."""

    config = load_config(args.config, overrides={"provider.name": args.provider})
    journal = open_journal(config)
    if journal is None:
        print("the journal is off (journal.enabled = false)")
        return 0
    try:
        jobs = journal.recent(max(1, args.limit))
    finally:
        journal.close()
    if args.json:
        print(json.dumps({"journal": str(journal.path), "jobs": jobs}, indent=2))
        return 0
    if not jobs:
        print(f"no jobs yet in {journal.path}")
    for job in jobs:
        when = datetime.fromtimestamp(job["updated"]).strftime("%Y-%m-%d %H:%M")
        tasks = ", ".join(s["task_id"] or "-" for s in job["segments"])
        cost = f"${job['cost']}" if job["cost"] else "-"
        print(f"{when}  {job['status']:<8} {cost:>8}  {job['source']} -> {job['output']}")
        print(f"{'':18}tasks: {tasks}" + (f"  error: {job['error']}" if job["error"] else ""))
    return 0
