"""What identifies a job (uprez.journal.keys): the source's content hash and the job key."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pytest

from uprez.journal.keys import file_hash, job_key


def test_file_hash_is_the_sha256_of_the_whole_content(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    content = os.urandom((1 << 20) * 2 + 12345)  # more than one 1 MiB block, not a multiple
    path.write_bytes(content)

    assert file_hash(path) == hashlib.sha256(content).hexdigest()


def test_file_hash_follows_content_not_name(tmp_path: Path) -> None:
    a, b, c = tmp_path / "a.mp4", tmp_path / "b.mp4", tmp_path / "c.mp4"
    a.write_bytes(b"same frames")
    b.write_bytes(b"same frames")
    c.write_bytes(b"other frames")

    assert file_hash(a) == file_hash(b)
    assert file_hash(a) != file_hash(c)


def test_file_hash_sees_a_file_rewritten_with_other_content(tmp_path: Path) -> None:
    path = tmp_path / "shot.mp4"
    path.write_bytes(b"first render")
    before = file_hash(path)
    path.write_bytes(b"second render, longer")

    assert file_hash(path) == hashlib.sha256(b"second render, longer").hexdigest() != before


def test_job_key_is_stable_and_ignores_the_order_of_inputs() -> None:
    one = job_key("h", "m", {"a": 1, "b": 2}, [(0, 10), (10, 20)])
    two = job_key("h", "m", {"b": 2, "a": 1}, [(0, 10), (10, 20)])

    assert one == two
    assert len(one) == 32 and int(one, 16) >= 0


@pytest.mark.parametrize(
    "changed",
    [
        ("other-hash", "m", {"a": 1}, [(0, 10)]),
        ("h", "other-model", {"a": 1}, [(0, 10)]),
        ("h", "m", {"a": 2}, [(0, 10)]),
        ("h", "m", {"a": 1}, [(0, 5), (5, 10)]),
    ],
    ids=["source", "model", "inputs", "plan"],
)
def test_job_key_changes_with_source_model_inputs_and_plan(changed: tuple[Any, ...]) -> None:
    assert job_key(*changed) != job_key("h", "m", {"a": 1}, [(0, 10)])
