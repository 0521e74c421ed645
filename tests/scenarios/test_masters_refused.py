"""Masters uprez cannot upscale faithfully are refused before anything is spent.

An HDR master (unless ``master.hdr = "send"``), an interlaced one, one with two video streams,
and a variable frame rate or alpha when the config says to refuse them: the upscale step stops
in its checks with an ``InputError`` (exit 3 from the command line) that names each reason, one
line each, and the setting that changes it. The local server proves nothing was uploaded or
submitted. The files are real masters made by PyAV (tests/masters.py).
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez.errors import InputError
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.step.estimate import estimate

from masters import (
    make_dnxhr,
    make_hdr,
    make_interlaced,
    make_prores_4444,
    make_two_videos,
    make_vfr_sync,
)
from support import Service, fast_config, service_env

#: How each refused master is made, and the words its refusal starts with.
REFUSED: dict[str, tuple[Callable[[Path], Path], str]] = {
    "pq": (lambda p: make_hdr(p / "pq.mp4", transfer="pq"), "HDR (PQ, transfer smpte2084)"),
    "hlg": (lambda p: make_hdr(p / "hlg.mp4", transfer="hlg"), "HDR (HLG, transfer arib-std"),
    "interlaced": (lambda p: make_interlaced(p / "fields.mp4"), "interlaced (field order tt)"),
    "two videos": (lambda p: make_two_videos(p / "pair.mp4"), "2 video streams"),
}


def upscale(
    source: Path, service: Service, pm: PluginManager, overrides: dict[str, object] | None = None
) -> Artifact:
    """Run the upscale step on ``source`` against the shared local server, as a host would."""
    return service.upscale(source, pm, **(overrides or {}))


def nothing_spent(service: Service, folder: Path, *inputs: Path) -> None:
    assert service.spent() == (0, 0)
    assert service.new_task_ids() == set()
    assert sorted(folder.iterdir()) == sorted(inputs)  # no output, no work folder left


@pytest.mark.parametrize("kind", sorted(REFUSED))
def test_the_step_refuses_the_master_before_any_upload(
    kind: str, tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    make, reason = REFUSED[kind]
    source = make(tmp_path)

    with pytest.raises(InputError) as caught:
        upscale(source, service, pm)

    message = str(caught.value)
    assert caught.value.exit_code == 3 and caught.value.path == str(source)
    assert "nothing was spent" in message
    assert f"\n  {reason}" in message
    nothing_spent(service, tmp_path, source)


@pytest.mark.parametrize("kind", ["pq", "interlaced", "two videos"])
def test_the_command_exits_3_naming_the_reason(kind: str, tmp_path: Path, service: Service) -> None:
    make, reason = REFUSED[kind]
    source = make(tmp_path)

    run = subprocess.run(
        [sys.executable, "-m", "uprez", "upscale", str(source)],
        capture_output=True,
        text=True,
        env=service_env(service.base_url),
        cwd=tmp_path,
        timeout=120,
    )

    assert run.returncode == 3, run.stderr
    assert reason in run.stderr and "nothing was spent" in run.stderr
    nothing_spent(service, tmp_path, source)


def test_each_reason_is_a_line_of_the_refusal(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    pq = {"color_primaries": 9, "color_trc": 16, "colorspace": 9, "color_range": 1}
    source = make_interlaced(tmp_path / "worst.mp4", colour=pq, extra_videos=1)

    with pytest.raises(InputError) as caught:
        upscale(source, service, pm)

    [_, *lines] = str(caught.value).splitlines()
    assert [line.split()[0] for line in lines] == ["HDR", "interlaced", "2"]
    nothing_spent(service, tmp_path, source)


@pytest.mark.parametrize(
    ("setting", "make", "reason"),
    [
        ("master.vfr", lambda p: make_vfr_sync(p / "vfr.mp4"), "a variable frame rate"),
        ("master.alpha", lambda p: make_prores_4444(p / "element.mov"), "alpha (yuva444p12le)"),
    ],
)
def test_vfr_and_alpha_are_refused_when_the_config_says_so(
    setting: str,
    make: Callable[[Path], Path],
    reason: str,
    tmp_path: Path,
    service: Service,
    pm: PluginManager,
) -> None:
    source = make(tmp_path)

    with pytest.raises(InputError, match=rf"refused by {setting} = \"refuse\"") as caught:
        upscale(source, service, pm, {setting: "refuse"})

    assert f"\n  {reason}" in str(caught.value)
    nothing_spent(service, tmp_path, source)


def test_an_hdr_master_is_sent_when_the_config_allows_it(
    tmp_path: Path, service: Service, pm: PluginManager
) -> None:
    source = make_hdr(tmp_path / "pq.mp4")

    result = upscale(source, service, pm, {"master.hdr": "send"})

    assert result.path.exists()
    assert service.spent()[1] == 1  # submitted once: past the check, and paid for


def test_the_estimate_carries_the_master_for_the_steps_after_it(tmp_path: Path) -> None:
    source = make_hdr(tmp_path / "hlg.mp4", transfer="hlg")

    job = estimate(source, fast_config({"master.hdr": "send"}))

    assert job.master is not None
    assert (job.master.path, job.master.codec, job.master.hdr) == (str(source), "hevc", True)
    assert job.master.color_transfer == "arib-std-b67"


def test_an_mxf_master_passes_the_check_unless_it_would_go_as_it_is(tmp_path: Path) -> None:
    source = make_dnxhr(tmp_path / "master.mxf")

    job = estimate(source, fast_config())

    assert job.master is not None and job.master.format_name == "mxf"
    assert not job.master.service_ready  # so it goes as a proxy
    with pytest.raises(InputError, match=r'master\.proxy = "auto" or "always"'):
        estimate(source, fast_config({"master.proxy": "never"}))
