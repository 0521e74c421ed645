"""``uprez upscale``: the upscale step for any tool, farm or post-export hook."""

from __future__ import annotations

import argparse
import json
import os
import sys
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from uprez.cli.exits import describe, exit_code
from uprez.errors import InputError, UprezError
from uprez.media.remote import RemoteVideo, Source, as_source


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--provider``, shared by the commands that run jobs."""
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML or JSON config file (default: $UPREZ_CONFIG)"
    )
    parser.add_argument("--provider", help="wavespeed, local, or a plugin's provider")


def register(commands: Any) -> None:
    """Add the ``upscale`` sub-command."""
    parser: argparse.ArgumentParser = commands.add_parser(
        "upscale",
        help="upscale exported videos to 4K",
        description="Upscale each IN to 4K. All inputs are checked before anything is uploaded.",
    )
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="IN",
        type=as_source,
        help="video files, or http(s) URLs the service reads itself (nothing is uploaded)",
    )
    parser.add_argument(
        "-o",
        "--output",
        metavar="OUT",
        help="output file (one input) or folder (several inputs, or OUT/ ending with a slash: "
        "an existing folder)",
    )
    add_config_options(parser)
    parser.add_argument(
        "--overwrite", action="store_true", default=None, help="replace existing outputs"
    )
    parser.add_argument("--json", action="store_true", help="print results as JSON on stdout")
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also write <output>.compare.png: source and result side by side",
    )
    parser.add_argument(
        "--resubmit",
        action="store_true",
        help="submit again a segment whose earlier submit was lost and whose task cannot be "
        "found (a second task may be billed)",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="print the plan and its cost; upload nothing"
    )
    parser.add_argument(
        "--max-cost",
        type=_money,
        metavar="USD",
        help="refuse a file estimated above this (limits.max_cost_per_job)",
    )
    parser.add_argument(
        "--max-run-cost",
        type=_money,
        metavar="USD",
        help="refuse the run if all files total above this (limits.max_cost_per_run)",
    )
    parser.set_defaults(handler=run)


def _money(text: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise argparse.ArgumentTypeError(f"not an amount of dollars: {text!r}") from None
    if not value.is_finite() or value < 0 or value >= 10**9:
        raise argparse.ArgumentTypeError(f"not an amount of dollars: {text!r}")
    if value != value.quantize(Decimal("0.01"), rounding=ROUND_DOWN):
        # Rounding a limit could let a job over it through: refuse fractions of a cent.
        raise argparse.ArgumentTypeError(f"{text!r}: give dollars and cents, such as 12.50")
    return value


def compare_png(source: Source, result: Source) -> Path:
    """Write ``<result>.compare.png``: the same frames of source and result side by side."""
    from uprez.media.compare import write_comparison

    output = _comparable(result)
    return write_comparison(
        _comparable(source), output, output.with_name(output.name + ".compare.png")
    )


def _comparable(source: Source) -> Path:
    """``source``, a file: a URL source is not downloaded to be compared."""
    if isinstance(source, RemoteVideo):
        raise InputError(f"{source}: --compare needs a file; a URL is not downloaded")
    return source


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount.quantize(Decimal("0.01")))


def output_arg(text: str | None) -> Path | None:
    """``-o OUT`` as a path. ``OUT/`` (a trailing slash) names a folder, which must exist:
    writing a file named ``OUT`` instead would surprise everyone."""
    if text is None:
        return None
    path = Path(text)
    if text.endswith(("/", os.sep)) and not path.is_dir():
        raise InputError(
            f"-o {text}: no such folder; create it first (or leave out the slash to name the "
            "output file)",
            path=text,
        )
    return path


def output_for(source: Source, output: Path | None, many: bool) -> Path | None:
    """The explicit output path of ``source`` given ``-o``, or None to use the template."""
    if output is None:
        return None
    if many or output.is_dir():
        return output / f"{source.stem}_4k.mp4"
    return output


def print_outcome(results: list[dict[str, Any]], error: BaseException | None = None) -> None:
    """Print the ``--json`` answer (``schemas/cli-result.schema.json``): the entries of the
    inputs run so far, and ``error`` when the run stopped as a whole: refused before any job
    (a usage or config error, a refused input, a budget or a balance), interrupted, or a local
    file that could not be written."""
    answer: dict[str, Any] = {"results": results}
    if error is not None:
        path = getattr(error, "path", None)
        if path is None and isinstance(error, OSError) and error.filename is not None:
            path = str(error.filename)
        answer["error"] = {
            "message": describe(error),
            "exit_code": exit_code(error),
            "path": path,
        }
    print(json.dumps(answer, indent=2))


def run(args: argparse.Namespace) -> int:
    """Check every input, then upscale them one by one through one provider.

    With ``--json``, stdout always gets one answer, whatever stops the command."""
    results: list[dict[str, Any]] = []
    try:
        code = _run(args, results)
    except BrokenPipeError:  # nobody reads stdout any more
        raise
    except (UprezError, OSError, KeyboardInterrupt) as exc:
        if args.json:
            print_outcome(results, exc)
        raise
    if args.json and not args.dry_run:
        print_outcome(results)
    return code


def _run(args: argparse.Namespace, results: list[dict[str, Any]]) -> int:
    """:func:`run`, with each input's entry added to ``results`` as it ends."""
    from uprez.cli.estimate import report
    from uprez.cli.progress import TerminalProgress
    from uprez.config import load_config
    from uprez.plugins import get_plugin_manager
    from uprez.records import Artifact
    from uprez.step.estimate import check_budget, check_funds, estimate
    from uprez.step.run import check_batch, choose_output, make_provider, run_upscale

    pm = get_plugin_manager()
    config = load_config(
        args.config,
        fragments=pm.config_fragments(),
        overrides={
            "provider.name": args.provider,
            "output.overwrite": args.overwrite,
            "limits.max_cost_per_job": _text(args.max_cost),
            "limits.max_cost_per_run": _text(args.max_run_cost),
        },
    )
    progress = TerminalProgress() if sys.stderr.isatty() and not args.json else None
    if progress is not None:
        pm.register(progress, name="cli-progress")
    many = len(args.inputs) > 1
    args.output = output_arg(args.output)
    if args.output is not None and many:
        args.output.mkdir(parents=True, exist_ok=True)
    artifacts = [Artifact(path=p) for p in args.inputs]
    if args.compare:
        for artifact in artifacts:
            _comparable(artifact.path)
    # Refuse bad inputs, existing outputs and budgets before a single byte is sent.
    estimates = [estimate(a.path, config) for a in artifacts]
    targets = [
        choose_output(artifact, config, pm, output_for(artifact.path, args.output, many))
        for artifact in artifacts
    ]
    check_batch([a.path for a in artifacts], targets)
    total = check_budget(estimates, config)
    if args.dry_run:
        report(estimates, args.json)
        return 0
    provider = make_provider(config, pm)
    failure: UprezError | None = None
    try:
        # The account must cover the whole run before its first upload.
        check_funds(provider, total, config)
        for artifact in artifacts:
            try:
                done = run_upscale(
                    artifact,
                    config=config,
                    pm=pm,
                    provider=provider,
                    output=output_for(artifact.path, args.output, many),
                    resubmit=args.resubmit,
                    funds_checked=True,
                )
                picture = compare_png(artifact.path, done.path) if args.compare else None
            except UprezError as exc:
                failure = failure or exc
                results.append(
                    {
                        "source": str(artifact.path),
                        "error": str(exc),
                        "exit_code": exc.exit_code,
                        "task_id": getattr(exc, "task_id", None),
                    }
                )
                if not args.json:
                    print(f"uprez: {artifact.path}: {exc}", file=sys.stderr)
                continue
            meta = done.metadata
            sidecar = Path(f"{done.path}.uprez.json")
            results.append(
                {
                    "source": str(artifact.path),
                    "output": str(done.path),
                    "sidecar": str(sidecar) if sidecar.exists() else None,
                    "task_id": meta["task_id"],
                    "segments": len(meta["segments"]),
                    "billed_seconds": meta["billed_seconds"],
                    "cost": meta["cost"],
                    **({"compare": str(picture)} if picture is not None else {}),
                }
            )
            if not args.json:
                print(done.path)
    finally:
        provider.close()
        if progress is not None:
            progress.close()
    if failure is not None:
        return failure.exit_code
    return 0
