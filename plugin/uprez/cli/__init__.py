"""The ``uprez`` command line: one sub-command per module, one exit code per outcome."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence
from typing import NoReturn

# One module per sub-command, named as the command.
from uprez.cli import (
    audit,
    blender,
    config,
    demo,
    estimate,
    jobs,
    plugins,
    serve,
    spend,
    upscale,
    watch,
)
from uprez.cli.exits import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_STORAGE,
    EXIT_USAGE,
    INTERRUPTED,
    UsageError,
    exit_code,
)
from uprez.errors import UprezError
from uprez.version import __version__

__all__ = [
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_STORAGE",
    "EXIT_USAGE",
    "UsageError",
    "build_parser",
    "exit_code",
    "main",
]


class _Parser(argparse.ArgumentParser):
    """argparse's parser, but a usage error is raised with its message (still a SystemExit
    with code 2, after the usual lines on stderr) so that ``upscale --json`` can report it."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise UsageError(message)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(
        prog="uprez", description="An upscale export step for render and publish pipelines."
    )
    parser.add_argument("--version", action="version", version=f"uprez {__version__}")
    parser.add_argument(
        "-v", "--verbose", action="count", default=0, help="more detail on stderr (-vv for debug)"
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    upscale.register(commands)
    estimate.register(commands)
    demo.register(commands)
    serve.register(commands)
    watch.register(commands)
    jobs.register(commands)
    spend.register(commands)
    audit.register(commands)
    blender.register(commands)
    plugins.register(commands)
    config.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except UsageError as exc:
        words = sys.argv[1:] if argv is None else list(argv)
        if "upscale" in words and "--json" in words:  # a farm reads stdout: it gets an answer
            upscale.print_outcome([], exc)
        raise
    level = {0: logging.WARNING, 1: logging.INFO}.get(args.verbose, logging.DEBUG)
    logging.basicConfig(level=level, format="uprez: %(levelname)s %(name)s: %(message)s")
    try:
        code: int = args.handler(args)
        return code
    except BrokenPipeError:  # the reader (``| head``) went away: not an error of ours
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silences the interpreter's flush
        return EXIT_OK
    except KeyboardInterrupt:
        print(f"uprez: {INTERRUPTED}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except OSError as exc:  # a file or folder of the user's that cannot be read or written
        print(f"uprez: error: {exc}", file=sys.stderr)
        return EXIT_STORAGE
    except UprezError as exc:
        print(f"uprez: error: {exc}", file=sys.stderr)
        if args.verbose:  # the chain of causes, for a support ticket
            cause = exc.__cause__
            while cause is not None:
                print(f"uprez:   caused by {type(cause).__name__}: {cause}", file=sys.stderr)
                cause = cause.__cause__
        return exit_code(exc)


if __name__ == "__main__":
    sys.exit(main())
