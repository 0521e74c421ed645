"""A batch that would destroy its own inputs or results is refused before anything is spent:
two inputs mapping to one output, an output that is another input, ``-o DIR/`` for a folder
that does not exist. Each gets one clear line, exit 3, and no upload."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from support import Service, service_env


def uprez(*args: str | Path, cwd: Path, service: Service) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uprez", "upscale", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=service_env(service.base_url),
        timeout=120,
    )


def refused(run: subprocess.CompletedProcess[str], service: Service, *words: str) -> None:
    assert run.returncode == 3, run.stderr
    [line] = run.stderr.strip().splitlines()
    for word in words:
        assert word in line, line
    assert service.spent() == (0, 0)


def test_two_inputs_mapping_to_one_output_are_refused(
    tmp_path: Path, service: Service, make_clip: Callable[..., Path]
) -> None:
    for folder, seconds in (("d1", 0.5), ("d2", 0.75)):
        (tmp_path / folder).mkdir()
        make_clip(f"{folder}.mp4", seconds=seconds, fps=12).rename(tmp_path / folder / "x.mp4")
    (tmp_path / "out").mkdir()

    run = uprez("d1/x.mp4", "d2/x.mp4", "-o", "out", cwd=tmp_path, service=service)

    refused(run, service, "d1/x.mp4", "d2/x.mp4", "x_4k.mp4")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_output_that_is_another_input_is_refused_even_with_overwrite(
    tmp_path: Path, service: Service, make_clip: Callable[..., Path]
) -> None:
    make_clip("x.mp4", seconds=0.5, fps=12)
    second = make_clip("x_4k.mp4", seconds=0.75, fps=12)
    before = second.read_bytes()

    run = uprez("x.mp4", "x_4k.mp4", "--overwrite", cwd=tmp_path, service=service)

    refused(run, service, "x_4k.mp4", "another input")
    assert second.read_bytes() == before


@pytest.mark.parametrize("many", [False, True])
def test_o_with_a_trailing_slash_needs_an_existing_folder(
    many: bool, tmp_path: Path, service: Service, make_clip: Callable[..., Path]
) -> None:
    make_clip("a.mp4", seconds=0.5, fps=12)
    inputs = ["a.mp4", *(["b.mp4"] if many else [])]
    if many:
        make_clip("b.mp4", seconds=0.75, fps=12)

    run = uprez(*inputs, "-o", "newdir/", cwd=tmp_path, service=service)

    refused(run, service, "newdir/", "no such folder")
    assert not (tmp_path / "newdir").exists()


def test_o_with_a_trailing_slash_writes_into_an_existing_folder(
    tmp_path: Path, service: Service, make_clip: Callable[..., Path]
) -> None:
    make_clip("a.mp4", seconds=0.5, fps=12)
    (tmp_path / "out").mkdir()

    run = uprez("a.mp4", "-o", "out/", cwd=tmp_path, service=service)

    assert run.returncode == 0, run.stderr
    assert (tmp_path / "out" / "a_4k.mp4").is_file()
