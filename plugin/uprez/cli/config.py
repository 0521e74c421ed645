"""``uprez config validate FILE`` and ``uprez config show``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from uprez.config import load_config
from uprez.plugins import get_plugin_manager


def register(commands: Any) -> None:
    """Add the ``config`` sub-command and its two actions."""
    parser: argparse.ArgumentParser = commands.add_parser("config", help="check or show config")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("validate", help="report every problem of a config file")
    check.add_argument("file", type=Path)
    check.set_defaults(handler=validate)
    show = actions.add_parser("show", help="the effective config, key redacted")
    show.add_argument("--config", metavar="FILE", help="a TOML or JSON config file")
    show.add_argument("--provider", help="override provider.name")
    show.set_defaults(handler=show_config)


def validate(args: argparse.Namespace) -> int:
    """Print each problem with its JSON path; exit 2 if there are any."""

    pm = get_plugin_manager()
    # A ConfigError lists every problem, a rule naming a step no plugin offers included.
    load_config(args.file, env={}, fragments=pm.config_fragments(), steps=pm.steps())
    print(f"{args.file}: valid")
    return 0


def show_config(args: argparse.Namespace) -> int:
    """Print the merged config (defaults < file < environment < flags) as JSON."""

    pm = get_plugin_manager()
    config = load_config(
        args.config,
        fragments=pm.config_fragments(),
        steps=pm.steps(),
        overrides={"provider.name": args.provider},
    )
    print(json.dumps(config.redacted(), indent=2, sort_keys=True))
    return 0
