"""``uprez watch IN_DIR OUT_DIR``: upscale every finished video that lands in a folder, once."""

from __future__ import annotations

import argparse
import signal
from pathlib import Path
from typing import Any

from uprez.cli.options import add_config_options, add_payer_options
from uprez.config import load_config
from uprez.errors import ConfigError
from uprez.plugins import get_plugin_manager
from uprez.watch import Watcher


def register(commands: Any) -> None:
    """Add the ``watch`` sub-command."""

    parser: argparse.ArgumentParser = commands.add_parser(
        "watch",
        help="upscale each finished video that appears in a folder",
        description=(
            "Watch IN_DIR (and its sub-folders); each video that has stopped changing for "
            "watch.settle seconds is upscaled once into OUT_DIR (the uprez_output_path hook "
            "names it: by default output.template with {dir} = OUT_DIR), as the config's rules "
            "choose. An image sequence whose frames match watch.patterns (add *.exr, say) is "
            "one input, taken once every frame has settled with no gap (or as its "
            "<pattern>.ready file says), at sequence.fps. What was done is kept in "
            "OUT_DIR/.uprez-watch.json, so a restart redoes nothing."
        ),
    )
    parser.add_argument("in_dir", type=Path, metavar="IN_DIR")
    parser.add_argument("out_dir", type=Path, metavar="OUT_DIR")
    add_config_options(parser)
    add_payer_options(parser)
    parser.add_argument(
        "--once",
        action="store_true",
        help="handle what is in IN_DIR now, then exit (for cron jobs)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Watch until interrupted (Ctrl-C or SIGTERM), or once with ``--once``."""
    if not args.in_dir.is_dir():
        raise ConfigError(f"IN_DIR {args.in_dir} is not a folder")
    args.out_dir.mkdir(parents=True, exist_ok=True)
    pm = get_plugin_manager()
    config = load_config(
        args.config, fragments=pm.config_fragments(), overrides={"provider.name": args.provider}
    )
    provider = pm.make_provider(config)

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    watcher = Watcher(
        args.in_dir,
        args.out_dir,
        config=config,
        pm=pm,
        provider=provider,
        project=args.project,
        user=args.user,
    )
    print(f"watching {args.in_dir} -> {args.out_dir} (Ctrl-C to stop)", flush=True)
    try:
        watcher.run(once=args.once)
    finally:
        provider.close()
    return 5 if watcher.failures and args.once else 0
