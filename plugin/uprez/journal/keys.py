"""What identifies a job in the journal: its source's content hash, and the job key made of it,
the model, its inputs and the segment plan."""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path
from typing import Any


def file_hash(path: Path) -> str:
    """SHA-256 of a file's content, read in 1 MiB blocks (once per unchanged file)."""
    stat = path.stat()
    return _hash_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _hash_of(path: str, size: int, mtime_ns: int) -> str:
    # Keyed by size and modification time: a rerun in the same process (a watch folder, a
    # batch, the rerun check and the job record) reads a large source once, not three times.
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def job_key(
    source_hash: str, model: str, inputs: dict[str, Any], cuts: list[tuple[int, int]]
) -> str:
    """The key of a job: the same content, model, inputs and plan give the same key."""
    text = json.dumps([source_hash, model, inputs, cuts], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
