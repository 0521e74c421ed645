"""Upload bodies streamed from disk: a file as it is, or as a one-field multipart form.

Both are iterables with a ``len`` rather than files, so requests sends them with a
Content-Length, :data:`SEND_CHUNK` bytes at a time from one reused buffer, and the progress
callback hears of every chunk.
"""

from __future__ import annotations

import io
import mimetypes
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import cast

from uprez import interrupt
from uprez.errors import TransferError
from uprez.net.transfers import ByteProgress

# Bytes read from an upload's file per send, into one reused buffer: 1 MiB cost the least CPU per
# byte (64 KiB, as curl sends, about a quarter more). urllib3 would send 16 KiB at a time.
SEND_CHUNK = 1024 * 1024


def guess_type(path: Path) -> str:
    """The content type of a file, by its name."""
    return mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def _file_chunks(
    handle: io.BufferedIOBase, size: int, name: object, progress: ByteProgress | None
) -> Iterator[bytes]:
    """``size`` bytes of ``handle`` in ``SEND_CHUNK``-sized views of one reused buffer.

    Each view is sent before the next is asked for (requests and urllib3 send an iterable body
    chunk by chunk), so one buffer serves the whole file. They are views, not ``bytes``: socket
    ``sendall`` takes any buffer; requests' stubs only say bytes. A file that ends early raises.
    """
    buffer = memoryview(bytearray(SEND_CHUNK))
    done = 0
    while done < size:
        count = handle.readinto(buffer[: min(SEND_CHUNK, size - done)])
        if not count:
            raise TransferError(f"{name} changed while it was being uploaded")
        interrupt.check()  # Ctrl-C: stop sending
        done += count
        if progress is not None:
            progress(done, size)
        yield cast(bytes, buffer[:count])


class ProgressReader:
    """A file as an upload body: sent ``SEND_CHUNK`` bytes at a time, with progress reported.

    It is iterable and has a ``len`` (not ``read``), so requests sends it with a Content-Length
    in the chunks it yields, instead of urllib3 reading it 16 KiB at a time. The file's size is
    taken once; the body is exactly that many bytes.
    """

    def __init__(self, handle: io.BufferedIOBase, size: int, progress: ByteProgress | None) -> None:
        self._handle = handle
        self._size = size
        self._progress = progress

    def __len__(self) -> int:
        return self._size

    def __iter__(self) -> Iterator[bytes]:
        name = getattr(self._handle, "name", "the file")
        return _file_chunks(self._handle, self._size, name, self._progress)


class MultipartFile:
    """A ``multipart/form-data`` body of one file field, streamed from disk, of known length.

    Iterable with a ``len``, like :class:`ProgressReader`, for the same reason.
    """

    def __init__(
        self, path: Path, field: str, content_type: str, progress: ByteProgress | None = None
    ) -> None:
        self.boundary = "uprez-" + secrets.token_hex(16)
        safe_name = path.name.replace('"', "_").replace("\r", "_").replace("\n", "_")
        self._head = (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{field}"; filename="{safe_name}"\r\n'
            f"Content-Type: {content_type}\r\n\r\n"
        ).encode()
        self._tail = f"\r\n--{self.boundary}--\r\n".encode()
        self._size = path.stat().st_size
        self._path = path
        self._progress = progress

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def __len__(self) -> int:
        return len(self._head) + self._size + len(self._tail)

    def __iter__(self) -> Iterator[bytes]:
        """The head, then the file, then the closing boundary."""
        yield self._head
        with self._path.open("rb") as handle:
            yield from _file_chunks(handle, self._size, self._path, self._progress)
        yield self._tail
