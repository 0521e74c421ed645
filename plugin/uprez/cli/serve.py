"""``uprez serve``: run the local WaveSpeed-compatible server until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
from pathlib import Path
from typing import Any

from uprez.errors import ConfigError
from uprez.server.faults import Fault
from uprez.server.settings import MODES


def register(commands: Any) -> None:
    """Add the ``serve`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run a local stand-in of the WaveSpeed service that really upscales",
        description=(
            "Serve the WaveSpeed upscale protocol on loopback. Point any client at the printed "
            "base URL with the printed key. Stop with Ctrl-C; the server's files are removed."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: loopback)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port (0 picks a free one; default 8765)"
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("UPREZ_SERVE_API_KEY"),
        help="the bearer key clients must send (default: $UPREZ_SERVE_API_KEY, else a random one)",
    )
    parser.add_argument(
        "--max-size",
        default="3840x2160",
        help="box the upscale fits in, WIDTHxHEIGHT (default 3840x2160)",
    )
    parser.add_argument(
        "--workers", type=int, default=2, help="tasks processed at once (default 2)"
    )
    parser.add_argument(
        "--max-duration",
        type=float,
        default=600.0,
        help="longest accepted video in seconds (default 600)",
    )
    parser.add_argument(
        "--mode",
        choices=MODES,
        default="lanczos",
        help="how frames are scaled: lanczos (fast, the default) or learned (a small CNN on the "
        "CPU, sharper, several times slower; needs pip install 'uprez[learned]')",
    )
    parser.add_argument(
        "--speed-factor",
        type=float,
        default=0.0,
        help="simulate a slower service: each task takes at least this many seconds per "
        "second of video (default 0)",
    )
    parser.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="JSON",
        help='misbehave on purpose, e.g. \'{"route": "prediction", "kind": "http", "status": 429, '
        '"times": 3}\' (repeatable; kinds in the README)',
    )
    parser.add_argument(
        "--faults", type=Path, metavar="FILE", help="a JSON file holding a list of such faults"
    )
    parser.set_defaults(handler=run)


def read_faults(inline: list[str], file: Path | None) -> list[Fault]:
    """The faults given by ``--fault`` and ``--faults``; a ConfigError names a bad one."""
    items: list[object] = []
    for text in inline:
        try:
            items.append(json.loads(text))
        except ValueError as exc:
            raise ConfigError(f"--fault: not JSON ({exc.args[0]}): {text}") from exc
    if file is not None:
        try:
            loaded = json.loads(file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ConfigError(f"--faults {file}: {exc}") from exc
        items.extend(loaded if isinstance(loaded, list) else [loaded])
    faults = []
    for item in items:
        if not isinstance(item, dict):
            raise ConfigError(f"--fault: each fault is a JSON object, not {item!r}")
        try:
            faults.append(Fault.from_json(item))
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"--fault: {exc}") from exc
    return faults


def run(args: argparse.Namespace) -> int:
    """Serve until interrupted."""
    from uprez.media.geometry import parse_size
    from uprez.server.runner import LocalServer
    from uprez.server.settings import ServerSettings, random_key

    try:
        max_size = parse_size(args.max_size)
    except ValueError as exc:
        raise ConfigError(f"--max-size: {exc}") from exc
    if args.workers < 1:
        raise ConfigError("--workers: must be at least 1")
    if not 0 <= args.port <= 65535:
        raise ConfigError("--port: must be between 0 and 65535")
    key = args.api_key or random_key()
    settings = ServerSettings(
        api_key=key,
        max_size=max_size,
        workers=args.workers,
        max_duration=args.max_duration,
        speed_factor=args.speed_factor,
        mode=args.mode,
    )
    faults = read_faults(args.fault, args.faults)
    server = LocalServer(settings, host=args.host, port=args.port)

    def announce() -> None:
        if server.app is not None and faults:
            server.app.faults.add(*faults)
        print(f"uprez local server on {server.base_url}", flush=True)
        if not args.api_key:
            print(f"key: {key}  (pass --api-key to choose one)", flush=True)
        print("press Ctrl-C to stop", flush=True)

    server.on_ready = announce

    def terminate(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # A process manager's SIGTERM cleans up like Ctrl-C does.
    signal.signal(signal.SIGTERM, terminate)
    # werkzeug usually swallows Ctrl-C itself; either way the server has stopped after this.
    with contextlib.suppress(KeyboardInterrupt):
        server.serve_forever()
    print("stopped", flush=True)
    return 0
