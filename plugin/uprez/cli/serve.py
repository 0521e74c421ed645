"""``uprez serve``: run the local WaveSpeed-compatible server until interrupted."""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import signal
from pathlib import Path
from typing import Any

from uprez.errors import ConfigError
from uprez.media.geometry import parse_size
from uprez.protocol import DEFAULT_MODEL
from uprez.standin.faults import Fault
from uprez.standin.limits import LEVELS
from uprez.standin.settings import MAX_UPLOAD_BYTES, MODES, ServerSettings, random_key


def register(commands: Any) -> None:
    """Add the ``serve`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "serve",
        help="run a local stand-in of the WaveSpeed service that really upscales",
        description=(
            "Serve the WaveSpeed upscale protocol on loopback, as strictly as the real service: "
            "the bronze account level, 100 MB uploads, uploads on a storage port and outputs on "
            "a CDN port. Point any client at the printed base URL with the printed key. Stop "
            "with Ctrl-C; the server's files are removed."
        ),
    )
    parser.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: loopback)"
    )
    parser.add_argument(
        "--port", type=int, default=8765, help="port (0 picks a free one; default 8765)"
    )
    parser.add_argument(
        "--storage-port",
        type=int,
        default=0,
        help="port of the storage host: upload PUT targets and download URLs (default: a free one)",
    )
    parser.add_argument(
        "--cdn-port",
        type=int,
        default=0,
        help="port of the CDN host: task outputs (default: a free one)",
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
        type=_at_least_zero,
        default=0.0,
        help="simulate a slower service: each task takes at least this many seconds per "
        "second of video (default 0)",
    )
    parser.add_argument(
        "--passthrough",
        type=_whole_number,
        default=0,
        metavar="N",
        help="instead of upscaling, return the input's own video and audio in a fresh MP4 "
        "padded to N times the input's size, as big as a 4K result (benchmarks of time-to-4K, "
        "with --speed-factor for the service's time; default 0: upscale)",
    )
    parser.add_argument(
        "--bandwidth-up",
        type=_above_zero,
        metavar="MB/S",
        help="play a studio's uplink: the client's uploads (PUTs to the storage host, multipart "
        "uploads) share this many megabytes (10^6 bytes) a second (default: unlimited)",
    )
    parser.add_argument(
        "--bandwidth-down",
        type=_above_zero,
        metavar="MB/S",
        help="play a studio's downlink: the client's downloads from the storage and CDN hosts "
        "share this many megabytes a second (default: unlimited)",
    )
    parser.add_argument(
        "--latency",
        type=_at_least_zero,
        default=0.0,
        metavar="MS",
        help="answer every request on every port this many milliseconds later (default 0)",
    )
    parser.add_argument(
        "--account-level",
        choices=tuple(LEVELS),
        default="bronze",
        help="the account's limits: bronze (2 submits a minute, 2 tasks at once; the default), "
        "silver (500, 300), gold (1000, 600: a guess), unlimited (benchmarks only)",
    )
    parser.add_argument(
        "--submits-per-minute",
        type=int,
        metavar="N",
        help="accept N submits in any 60 s, whatever the level (429 beyond)",
    )
    parser.add_argument(
        "--concurrent-tasks",
        type=int,
        metavar="N",
        help="run N tasks at once (within --workers), whatever the level; the rest queue",
    )
    parser.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="ID",
        help="answer to this model id too, besides runwayml/upscale-v1 (repeatable); any other "
        "model path is a 404",
    )
    parser.add_argument(
        "--max-upload-bytes",
        type=int,
        default=MAX_UPLOAD_BYTES,
        metavar="N",
        help=f"largest upload accepted, in bytes (default {MAX_UPLOAD_BYTES}: 100 MB, 413 above)",
    )
    parser.add_argument(
        "--upload-lifetime",
        type=float,
        default=24 * 3600.0,
        metavar="SECONDS",
        help="how long an upload's download URL stays fetchable (default 86400: 24 h); a task "
        "whose input expired fails with code 1402",
    )
    parser.add_argument(
        "--webhook-secret",
        default=os.environ.get("UPREZ_SERVE_WEBHOOK_SECRET"),
        help="the whsec_... secret webhooks are signed with (default: "
        "$UPREZ_SERVE_WEBHOOK_SECRET, else a random one; GET /api/v3/webhook/secret tells it)",
    )
    parser.add_argument(
        "--tls-cert",
        type=Path,
        metavar="FILE",
        help="serve HTTPS on every port with this certificate chain (PEM, leaf first); it must "
        "name the host clients use (127.0.0.1, localhost, or a name that resolves here), and "
        "clients must trust its authority (provider.ca_bundle, REQUESTS_CA_BUNDLE or "
        "SSL_CERT_FILE)",
    )
    parser.add_argument(
        "--tls-key",
        type=Path,
        metavar="FILE",
        help="the certificate's private key (PEM; default: read from --tls-cert's file)",
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


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _above_zero(text: str) -> float:
    value = _number(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _at_least_zero(text: str) -> float:
    value = _number(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _whole_number(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def describe_link(settings: ServerSettings) -> str:
    """The banner's line on the studio's link the server plays."""
    if not (settings.bandwidth_up or settings.bandwidth_down or settings.latency):
        return "link: not shaped (no bandwidth limit, no added latency)"

    def rate(value: float | None) -> str:
        return "unlimited" if not value else f"{value / 1e6:g} MB/s"

    return (
        f"link: uplink {rate(settings.bandwidth_up)}, downlink {rate(settings.bandwidth_down)}, "
        f"latency {settings.latency * 1000:g} ms per request"
    )


def describe_service(settings: ServerSettings) -> str | None:
    """The banner's line on the service's simulated work (None: it really upscales, at its
    own speed)."""
    parts = []
    if settings.speed_factor:
        parts.append(f"each task takes at least {settings.speed_factor:g} s per second of video")
    if settings.passthrough:
        parts.append(
            f"outputs are the input passed through, padded to {settings.passthrough} x its size"
        )
    return "service: " + "; ".join(parts) if parts else None


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
    from uprez.standin.runner import LocalServer  # werkzeug

    try:
        max_size = parse_size(args.max_size)
    except ValueError as exc:
        raise ConfigError(f"--max-size: {exc}") from exc
    if args.workers < 1:
        raise ConfigError("--workers: must be at least 1")
    for flag in ("port", "storage_port", "cdn_port"):
        if not 0 <= getattr(args, flag) <= 65535:
            raise ConfigError(f"--{flag.replace('_', '-')}: must be between 0 and 65535")
    for flag in ("submits_per_minute", "concurrent_tasks", "max_upload_bytes"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            raise ConfigError(f"--{flag.replace('_', '-')}: must be at least 1")
    if args.upload_lifetime <= 0:
        raise ConfigError("--upload-lifetime: must be more than 0 seconds")
    if args.tls_key is not None and args.tls_cert is None:
        raise ConfigError("--tls-key: needs --tls-cert, the certificate it goes with")
    key = args.api_key or random_key()
    options: dict[str, Any] = {}
    if args.webhook_secret:
        options["webhook_secret"] = args.webhook_secret
    settings = ServerSettings(
        api_key=key,
        max_size=max_size,
        workers=args.workers,
        max_duration=args.max_duration,
        speed_factor=args.speed_factor,
        passthrough=args.passthrough,
        bandwidth_up=None if args.bandwidth_up is None else args.bandwidth_up * 1e6,
        bandwidth_down=None if args.bandwidth_down is None else args.bandwidth_down * 1e6,
        latency=args.latency / 1000,
        mode=args.mode,
        account_level=args.account_level,
        submits_per_minute=args.submits_per_minute,
        concurrent_tasks=args.concurrent_tasks,
        models=tuple(dict.fromkeys([DEFAULT_MODEL, *args.model])),
        max_upload_bytes=args.max_upload_bytes,
        upload_lifetime=args.upload_lifetime,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        **options,
    )
    faults = read_faults(args.fault, args.faults)
    server = LocalServer(
        settings,
        host=args.host,
        port=args.port,
        storage_port=args.storage_port,
        cdn_port=args.cdn_port,
    )

    def announce() -> None:
        if server.app is not None and faults:
            server.app.faults.add(*faults)
        print(f"uprez local server on {server.base_url}", flush=True)
        if not args.api_key:
            print(f"key: {key}  (pass --api-key to choose one)", flush=True)
        print(f"storage on {server.storage_url}", flush=True)
        print(f"cdn on {server.cdn_url}", flush=True)
        rate = settings.rate_limit
        print(
            f"account level {settings.account_level}: "
            f"{'no limit on' if rate is None else rate} submits a minute, "
            f"{settings.concurrency} tasks at once",
            flush=True,
        )
        print(describe_link(settings), flush=True)
        service = describe_service(settings)
        if service is not None:
            print(service, flush=True)
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
