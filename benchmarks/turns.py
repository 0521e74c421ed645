"""Commands timed in one run, taking turns on the machine, so that others' load falls on each alike.

On a shared machine other work comes and goes within seconds: one of two runs made one after the
other can take twice as long as the other for no reason of its own (a conform benchmark saw
rounds of 0.56 and 2.14 where the two sides were level). :func:`take_turns` starts the commands
together and lets them run one at a time, ``turn`` seconds each in order, the others stopped
(SIGSTOP, SIGCONT), so each has the whole machine in its turns and both meet the same load, a
half-second apart. A command's time is the sum of its turns, from its first to its exit; once
one has exited, the other runs on alone.

Each command must stop itself (``os.kill(os.getpid(), signal.SIGSTOP)``) when it is ready to be
timed, so start-up it does before that (an interpreter's imports) is not counted. It runs in a
session of its own, and its turn stops and continues its whole process group.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO

__all__ = ["TURN", "Turned", "take_turns"]

#: Seconds a command runs before the next one's turn.
TURN = 0.5
_POLL = 0.005


@dataclass(frozen=True)
class Turned:
    """A command's time in its turns, exit status, and what it printed (stdout, then stderr)."""

    seconds: float
    status: int
    output: str


def take_turns(commands: Sequence[Sequence[str]], turn: float = TURN) -> list[Turned]:
    """Run ``commands`` in turns of ``turn`` seconds, the first first; their times and output.

    Raises:
        RuntimeError: a command exited before it stopped itself to be timed.
    """
    with contextlib.ExitStack() as stack:
        outputs = [stack.enter_context(tempfile.TemporaryFile()) for _ in commands]
        pids: list[int] = []
        live: set[int] = set()  # started and not yet reaped: their ids are still theirs
        try:
            for command, output in zip(commands, outputs, strict=True):
                pids.append(_spawn(command, output))
                live.add(pids[-1])
            for pid, command in zip(pids, commands, strict=True):
                _, status = os.waitpid(pid, os.WUNTRACED)
                if not os.WIFSTOPPED(status):
                    live.discard(pid)
                    raise RuntimeError(f"{command[0]} exited before it was ready to be timed")
            seconds, statuses = _turns(pids, turn, live)
        except BaseException:
            for pid in live:
                with contextlib.suppress(ProcessLookupError, ChildProcessError):
                    os.killpg(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
            raise
        results = []
        for pid, output in zip(pids, outputs, strict=True):
            output.seek(0)
            text = output.read().decode(errors="replace")
            results.append(Turned(seconds[pid], statuses[pid], text))
        return results


def _spawn(command: Sequence[str], output: IO[bytes]) -> int:
    """Start ``command`` in a session of its own, stdin empty, stdout and stderr to ``output``."""
    child = subprocess.Popen(
        list(command),
        stdin=subprocess.DEVNULL,
        stdout=output,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # Reaped here with os.waitpid, not by Popen: tell it so (else it would wait again).
    child.returncode = 0
    return child.pid


def _turns(pids: list[int], turn: float, live: set[int]) -> tuple[dict[int, float], dict[int, int]]:
    """Each pid's time in its turns and its exit status; ``live`` loses each as it is reaped."""
    seconds = dict.fromkeys(pids, 0.0)
    statuses: dict[int, int] = {}
    waiting = list(pids)
    at = 0
    while waiting:
        pid = waiting[at % len(waiting)]
        os.killpg(pid, signal.SIGCONT)
        started = time.perf_counter()
        while True:
            time.sleep(_POLL)
            done, status = os.waitpid(pid, os.WNOHANG)
            now = time.perf_counter()
            if done:
                live.discard(pid)
                seconds[pid] += now - started
                statuses[pid] = os.waitstatus_to_exitcode(status)
                waiting.remove(pid)  # the next in line moves up to this place
                break
            if len(waiting) > 1 and now - started >= turn:
                os.killpg(pid, signal.SIGSTOP)
                seconds[pid] += time.perf_counter() - started
                at += 1
                break
    return seconds, statuses
