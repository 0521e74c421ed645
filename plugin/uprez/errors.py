"""The one error hierarchy of uprez.

Every error a user can meet derives from :class:`UprezError` and carries what the user needs to act
on it (a file, a task id, an HTTP status, a JSON path) — never an API key.

Context learnt on the way up (``exc.add_note("nothing was submitted: rerun the same command")``)
is part of what an :class:`UprezError` says: its ``str()`` is the message, then each note,
joined with ``"; "``. :func:`message` says the same of any exception.
"""

from __future__ import annotations

from collections.abc import Sequence


def _with_notes(text: str, exc: BaseException) -> str:
    notes = [str(note) for note in getattr(exc, "__notes__", ())]
    return "; ".join([text, *notes]) if notes else text


def message(exc: BaseException) -> str:
    """What ``exc`` says to a user: ``str(exc)``, then its notes (``BaseException.add_note``),
    joined with ``"; "``. An :class:`UprezError`'s ``str()`` has them already."""
    return str(exc) if isinstance(exc, UprezError) else _with_notes(str(exc), exc)


class UprezError(Exception):
    """Base of every error uprez raises on purpose. Its ``str()`` ends with its notes, so
    every place that shows or records an error shows the advice added on the way up."""

    exit_code = 1

    def __str__(self) -> str:
        return _with_notes(super().__str__(), self)


class ConfigError(UprezError):
    """A configuration value is missing or invalid.

    ``problems`` lists every violation found at once (each has a JSON ``path`` such as
    ``$.polling.deadline`` and a ``message`` saying what would be valid); ``source`` is the config
    file concerned, when there is one. ``str()`` shows the summary, then one problem per line.
    """

    exit_code = 2

    def __init__(
        self,
        message: str,
        *,
        problems: Sequence[object] = (),
        source: str | None = None,
    ) -> None:
        super().__init__(message)
        self.problems = list(problems)
        self.source = source

    def __str__(self) -> str:
        lines = [super().__str__()]
        for problem in self.problems:
            origin = getattr(problem, "source", None) or self.source
            lines.append(f"  {origin}: {problem}" if origin else f"  {problem}")
        return "\n".join(lines)


class UntrustedCertificate(ConfigError):
    """A server's certificate failed verification: signed by an authority this machine does not
    trust (a studio's own, say), expired, or made out to another host. Nothing was sent on that
    connection. It is never retried and never bypassed (no other route, no plain HTTP): a retry
    cannot fix it; the trusted authorities (``provider.ca_bundle``) or the certificate must
    change. So it ends a run as a config error does (exit 2)."""


class InputError(UprezError):
    """An input file was refused before anything was spent."""

    exit_code = 3

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class BudgetError(UprezError):
    """A job or run would cost more than the configured budget; nothing was spent."""

    exit_code = 4


class StorageError(UprezError):
    """A local file uprez keeps (the journal) could not be written: most often a full disk.
    Nothing already paid for is lost; free some space and rerun."""

    exit_code = 5


class MediaError(InputError):
    """A file could not be read, decoded or encoded as video."""


class ServerError(UprezError):
    """The local stand-in server could not start or stop."""

    exit_code = 5


class ServiceError(UprezError):
    """The service (remote or local) answered with an error or could not be reached.

    ``status`` is the HTTP status, ``code`` the envelope or task code, ``task_id`` the task
    concerned, when known: with the id, the run can be resumed (``uprez`` never submits twice).
    """

    exit_code = 5

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        code: int | None = None,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.task_id = task_id

    def __str__(self) -> str:
        text = super().__str__()
        if self.task_id and self.task_id not in text:
            text += f" (task {self.task_id})"
        return text


class ProxyRefused(ServiceError):
    """The HTTP proxy refused to open a tunnel to a host (``status`` is its answer: 407 when it
    wants credentials, 403 when its rules forbid the host). Nothing went past the proxy, and
    asking again at once would be refused the same way, so it is not retried."""


class AuthError(ServiceError):
    """The key was missing, wrong (401) or the account is suspended (403)."""


class RateLimited(ServiceError):
    """Too many requests; ``retry_after`` is the wait the service asked for, in seconds."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float | None = None,
        status: int | None = 429,
        task_id: str | None = None,
    ) -> None:
        super().__init__(message, status=status, task_id=task_id)
        self.retry_after = retry_after


class TaskFailed(ServiceError):
    """The task ran and ended in a failed (or cancelled, timed-out, deleted) state."""


class JobTimeout(ServiceError):
    """The job's deadline passed while the task was still running; it may still finish."""


class AmbiguousSubmit(ServiceError):
    """A submit got no usable answer: a paid task may or may not exist."""


class TransferError(ServiceError):
    """An upload or download failed or came back incomplete."""


class UploadTooLarge(TransferError):
    """The service refused an upload for its size (HTTP 413, or 400 saying so); nothing was
    submitted for it. ``size`` is the refused file's size in bytes."""

    def __init__(self, message: str, *, size: int, status: int | None = 413) -> None:
        super().__init__(message, status=status)
        self.size = size


class TaskGone(ServiceError):
    """The service no longer knows a task this job paid for (kept 7 days; a restarted local
    server forgets everything), or it completed without a result. Retrying cannot help and a new
    task would be billed, so a person decides: ``--resubmit`` creates a new one."""

    exit_code = 6


class VerificationError(ServiceError):
    """A result came back that does not match its source (size, frame rate, duration, audio, or
    its picture: black, frozen, another clip), or could not be made into what was asked (the
    conform onto a master, the frames of a sequence). The result is kept in the work folder the
    message names."""


class WebhookError(UprezError):
    """A webhook delivery failed its check (a header missing, a bad or stale signature, a body
    that is not a prediction object): answer it with HTTP 400 and do not act on it. The message
    is one line and never holds the secret. A refused input, as exit codes go."""

    exit_code = 3
