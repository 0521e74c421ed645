"""The exit code of each outcome, as the README's table lists them."""

from __future__ import annotations

from uprez.errors import UprezError, message

EXIT_OK = 0
EXIT_USAGE = 2  # as ConfigError: argparse's own code for a command line it cannot parse
EXIT_STORAGE = 5  # as StorageError: a local file could not be written
EXIT_INTERRUPTED = 130

INTERRUPTED = (
    "interrupted; run the same command again to resume (submitted tasks are kept: "
    "'uprez jobs' lists them)"
)


class UsageError(SystemExit):
    """argparse refused the command line (exit 2, as it always does); ``message`` says why."""

    def __init__(self, message: str) -> None:
        super().__init__(EXIT_USAGE)
        self.message = message


def exit_code(exc: BaseException) -> int:
    """The exit code a command ends with when ``exc`` stops it."""
    if isinstance(exc, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(exc, UsageError):
        return EXIT_USAGE
    if isinstance(exc, UprezError):
        return exc.exit_code
    if isinstance(exc, OSError):  # a file or folder of the user's that cannot be read or written
        return EXIT_STORAGE
    return 1


def describe(exc: BaseException) -> str:
    """What ``exc`` means to the user, as the command says it on stderr (and in ``--json``)."""
    if isinstance(exc, KeyboardInterrupt):
        return INTERRUPTED
    if isinstance(exc, UsageError):
        return exc.message
    return message(exc)
