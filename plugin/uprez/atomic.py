"""Writing a file whole or not at all.

Whatever reads a path uprez writes (a person, Blender, a watch folder, the next run) must never
find half a file there: a crash, a full disk or Ctrl-C in the middle of a write would otherwise
leave one that looks finished. So each such file is written under a temporary name in the
target's own folder (one file system, so the final move is a single atomic rename) and moved
onto the target with :func:`os.replace` only once it is complete. On any failure the temporary
file is removed and the target is left as it was.

The temporary name is ``.<target name>.<pid>.<random>.part``:

* hidden (a leading dot): watch folders, which skip hidden names, and Blender's add-on scan pass
  it by;
* the process id and a random part: two processes, or two threads of one, writing the same
  target never share a temporary file;
* it ends in ``.part``, never in the target's suffix, so a leftover after a hard kill is plainly
  unfinished and nothing takes it for a finished ``.mp4``, ``.py`` or ``.json``. The writers
  that care about a container (PyAV) are given the format explicitly (``format="mp4"``); none
  depends on the suffix;
* a long target name is cut short in it, so any name the file system takes can be written.

A replaced file keeps its permissions, and with ``fsync`` the rename itself is made durable too
(the folder is synced after it).
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_path", "temporary_path", "write_bytes_atomic", "write_text_atomic"]


# The longest file name most file systems take (NAME_MAX), and what the temporary name adds.
_NAME_MAX = 255
_ADDED = len(".") + 1 + 10 + 1 + 8 + len(".part")


def temporary_path(target: Path) -> Path:
    """A fresh temporary name beside ``target``, unique to this call (see the module's notes)."""
    name = target.name[: _NAME_MAX - _ADDED]
    return target.with_name(f".{name}.{os.getpid()}.{secrets.token_hex(4)}.part")


@contextlib.contextmanager
def atomic_path(target: Path, *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path to write ``target``'s content to; when the block ends normally,
    move it onto ``target``. When the block raises (Ctrl-C too), remove it and re-raise.

    ``fsync`` first flushes the file to the disk, for a file that must survive a power cut
    once it is in place (a writer that syncs its own handle leaves it off). The folder must
    exist, and a block that ends normally must have written the file.

    >>> with atomic_path(Path("shot.png")) as temp:  # doctest: +SKIP
    ...     temp.write_bytes(picture)
    """
    temp = temporary_path(target)
    try:
        yield temp
        with contextlib.suppress(FileNotFoundError):
            os.chmod(temp, os.stat(target).st_mode & 0o7777)  # a replaced file keeps its mode
        if fsync:
            with open(temp, "r+b") as handle:
                os.fsync(handle.fileno())
        os.replace(temp, target)
        if fsync:
            _sync_folder(target.parent)
    except BaseException:
        # The original failure is what matters: a temporary file that cannot be removed either
        # (its folder gone, say) must not hide it.
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)
        raise


def write_bytes_atomic(target: Path, data: bytes, *, fsync: bool = False) -> None:
    """Write ``data`` to ``target`` whole or not at all (see :func:`atomic_path`)."""
    with atomic_path(target, fsync=fsync) as temp:
        temp.write_bytes(data)


def write_text_atomic(
    target: Path, text: str, *, encoding: str = "utf-8", fsync: bool = False
) -> None:
    """Write ``text`` to ``target`` whole or not at all (see :func:`atomic_path`)."""
    with atomic_path(target, fsync=fsync) as temp:
        temp.write_text(text, encoding=encoding)


def _sync_folder(folder: Path) -> None:
    """Make a rename in ``folder`` durable (where the platform can open a folder to sync it)."""
    try:
        handle = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # Windows cannot open a folder; its renames are made durable by the file system
    try:
        os.fsync(handle)
    except OSError:
        pass  # some file systems refuse to sync a folder: the file itself is synced already
    finally:
        os.close(handle)

