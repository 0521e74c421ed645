"""``uprez upscale``: the upscale step for any tool, farm or post-export hook."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from decimal import ROUND_DOWN, Decimal, InvalidOperation
from pathlib import Path
from typing import TYPE_CHECKING, Any

from uprez.cli.estimate import report
from uprez.cli.exits import describe, exit_code
from uprez.cli.options import (
    add_config_options,
    add_payer_options,
    add_sequence_options,
    inputs,
)
from uprez.cli.progress import TerminalProgress
from uprez.config import load_config
from uprez.errors import InputError, UprezError, message
from uprez.media.image_sequence import ImageSequence
from uprez.media.remote import RemoteVideo, Source, as_source
from uprez.plugins import get_plugin_manager
from uprez.records import Artifact

if TYPE_CHECKING:
    from uprez.records import Artifact


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
    add_payer_options(parser)
    add_sequence_options(parser)
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
        "--rules",
        action="store_true",
        help="run the steps the config's post-export rules choose for each input (as hosts "
        "do after an export); without it, every input gets the upscale step",
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
    from uprez.media.compare import write_comparison  # PyAV

    output = _comparable(result)
    return write_comparison(
        _comparable(source), output, output.with_name(output.name + ".compare.png")
    )


def _comparable(source: Source) -> Path:
    """``source``, a file: a URL source is not downloaded to be compared."""
    if isinstance(source, RemoteVideo):
        raise InputError(f"{source}: --compare needs a file; a URL is not downloaded")
    if isinstance(source, ImageSequence):
        raise InputError(f"{source}: --compare needs a movie; frames are compared by looking")
    return source


def _text(amount: Decimal | None) -> str | None:
    return None if amount is None else str(amount.quantize(Decimal("0.01")))


def destination(text: str | None, many: bool) -> tuple[Path | None, Path | None]:
    """``-o OUT`` as ``(folder, file)``: a folder for several inputs, an existing folder or
    ``OUT/`` (whose results the ``uprez_output_path`` hook names there), else the file of
    the one input. ``OUT/`` must exist: writing a file named ``OUT`` would surprise everyone.
    The folder of several inputs is made when missing."""
    if text is None:
        return None, None
    path = Path(text)
    if text.endswith(("/", os.sep)) and not path.is_dir():
        raise InputError(
            f"-o {text}: no such folder; create it first (or leave out the slash to name the "
            "output file)",
            path=text,
        )
    if many:
        path.mkdir(parents=True, exist_ok=True)  # a file in its way: OSError, exit 5
    if many or path.is_dir():
        return path, None
    return None, path


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
    from uprez.step.prepare import prepare  # PyAV loads with the step's modules
    from uprez.step.run import Outcome, run  # PyAV loads with the step's modules

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
    folder, output = destination(args.output, len(args.inputs) > 1)
    sources = inputs(args.inputs, args.fps)
    artifacts = [Artifact(path=p, project=args.project, user=args.user) for p in sources]
    if args.compare:
        for artifact in artifacts:
            _comparable(artifact.path)
    # Every input checked, planned, priced and placed before a single byte is sent.
    batch = prepare(artifacts, config=config, pm=pm, folder=folder, output=output, rules=args.rules)
    for skipped in batch.skipped:
        print(f"uprez: {skipped.path}: skipped: no rule chooses a step for it", file=sys.stderr)
    if args.dry_run:
        report(batch, args.json)
        return 0
    progress = TerminalProgress() if sys.stderr.isatty() and not args.json else None
    if progress is not None:
        pm.register(progress, name="cli-progress")
    failures: list[int] = []

    def each(outcome: Outcome) -> None:
        source = outcome.artifact.path
        done = outcome.result
        picture = None
        if outcome.error is None and done is not None and args.compare:
            try:
                picture = compare_png(source, done.path)
            except UprezError as exc:
                outcome = replace(outcome, error=exc)
        if outcome.error is not None:
            failures.append(outcome.error.exit_code)
            results.append(
                {
                    "source": str(source),
                    "error": message(outcome.error),
                    "exit_code": outcome.error.exit_code,
                    "task_id": getattr(outcome.error, "task_id", None),
                }
            )
            if not args.json:
                print(f"uprez: {source}: {message(outcome.error)}", file=sys.stderr)
            return
        for made in outcome.produced:
            results.append(_entry(source, made, picture))
            if not args.json:
                print(made.path)

    try:
        run(batch, resubmit=args.resubmit, each=each)
    finally:
        if progress is not None:
            progress.close()
    return failures[0] if failures else 0


def _entry(source: Source, made: Artifact, picture: Path | None) -> dict[str, Any]:
    """One input's ``--json`` entry (``schemas/cli-result.schema.json``)."""
    result = made.result
    entry: dict[str, Any] = {"source": str(source), "output": str(made.path)}
    if result is not None:
        entry.update(
            sidecar=None if result.sidecar is None else str(result.sidecar),
            task_id=result.task_id,
            segments=result.segments,
            billed_seconds=result.billed_seconds,
            cost=str(result.cost),
        )
    if picture is not None:
        entry["compare"] = str(picture)
    return entry
