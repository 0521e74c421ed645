"""Upload policies from the command line, as a studio meets them: a denied show is refused
before the file is even opened and before anything is sent; a show under NDA (local-only) is
refused by the WaveSpeed provider and runs with the local one without a single connection
beyond this machine.

Nothing here takes uprez's word for it: the kernel (inotify) says whether the input was
opened, Python's audit hooks in the uprez process record every name lookup and connection it
attempts, and the twin counts what reached it. A control run shows the same sentinels do see
what an allowed run touches.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from touches import FileOpens, run_guarded

from support import GatedOrigin, Service, service_env

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="inotify tells what was opened")


def write_config(folder: Path, *policies: dict[str, str]) -> Path:
    """A TOML config file holding ``policies`` as ``[[privacy.policies]]`` tables."""
    lines = []
    for policy in policies:
        lines.append("[[privacy.policies]]")
        lines.extend(f'{key} = "{value}"' for key, value in policy.items())
    path = folder / "uprez.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def local_env(**extra: str) -> dict[str, str]:
    """The caller's environment without uprez settings or a key, with a small upscale box."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UPREZ_") and name != "WAVESPEED_API_KEY"
    }
    env.update(UPREZ_LOCAL__MAX_SIZE="256x144", UPREZ_POLLING__FIRST_INTERVAL="0.05", **extra)
    return env


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


@pytest.fixture
def show(make_clip: Callable[..., Path], tmp_path: Path) -> Path:
    """A client's shot, filed where a studio keeps client work: .../clients/acme/shot.mp4."""
    folder = tmp_path / "clients" / "acme"
    folder.mkdir(parents=True)
    return make_clip("shot.mp4", seconds=1, fps=12, width=64, height=36).rename(folder / "shot.mp4")


# -- deny ------------------------------------------------------------------------------------


def test_a_denied_file_is_refused_with_exit_3_before_it_is_opened_or_anything_is_sent(
    service: Service, show: Path, tmp_path: Path
) -> None:
    config = write_config(
        tmp_path,
        {"project": "other-show", "upload": "local-only"},
        {"path": f"{tmp_path}/clients/**", "upload": "deny"},
    )

    with FileOpens(show) as opens:
        run, attempts = run_guarded(
            "upscale",
            show,
            "--config",
            config,
            log=tmp_path / "net.json",
            cwd=tmp_path,
            env=service_env(service.base_url),
        )

    assert run.returncode == 3, run.stderr
    assert one_line(run.stderr) == (
        f'uprez: error: privacy.policies[1] (path "{tmp_path}/clients/**", upload = "deny"): '
        f"{show} may not be upscaled by any provider; nothing of it was read or sent"
    )
    assert run.stdout == ""
    assert opens.count == 0  # not probed, not hashed: not even opened
    assert attempts == []  # no name looked up, no connection made
    assert service.spent() == (0, 0)
    assert not (show.parent / "shot_4k.mp4").exists()


@pytest.mark.parametrize("command", [["upscale", "--dry-run"], ["estimate"]])
def test_a_dry_run_or_an_estimate_of_a_denied_file_is_refused_without_reading_it(
    command: list[str], show: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, {"path": "**/clients/**", "upload": "deny"})

    with FileOpens(show) as opens:
        run, _ = run_guarded(
            *command,
            show,
            "--config",
            config,
            log=tmp_path / "net.json",
            cwd=tmp_path,
            env=local_env(),
        )

    assert run.returncode == 3, run.stderr
    assert 'privacy.policies[0] (path "**/clients/**", upload = "deny")' in one_line(run.stderr)
    assert opens.count == 0


def test_the_sentinels_see_what_an_allowed_run_opens_and_sends(
    service: Service, show: Path, tmp_path: Path
) -> None:
    # The control: the same file and twin under a policy that does not match it.
    config = write_config(tmp_path, {"path": f"{tmp_path}/elsewhere/**", "upload": "deny"})

    with FileOpens(show) as opens:
        run, attempts = run_guarded(
            "upscale",
            show,
            "--config",
            config,
            log=tmp_path / "net.json",
            cwd=tmp_path,
            env=service_env(service.base_url),
        )

    assert run.returncode == 0, run.stderr
    assert opens.count > 0
    assert any(a["event"] == "socket.connect" for a in attempts)
    assert service.spent() == (1, 1)


# -- local-only ------------------------------------------------------------------------------

NDA = {"project": "nda-show", "upload": "local-only"}


@pytest.mark.parametrize("by", ["--project", "UPREZ_PROJECT"])
def test_a_local_only_show_is_refused_by_the_wavespeed_provider_before_anything_is_sent(
    by: str, service: Service, show: Path, tmp_path: Path
) -> None:
    config = write_config(tmp_path, NDA)
    project: tuple[str, ...] = ("--project", "nda-show") if by == "--project" else ()
    env = service_env(service.base_url)
    if not project:
        env["UPREZ_PROJECT"] = "nda-show"

    with FileOpens(show) as opens:
        run, attempts = run_guarded(
            "upscale",
            show,
            "--provider",
            "wavespeed",
            "--config",
            config,
            *project,
            log=tmp_path / "net.json",
            cwd=tmp_path,
            env=env,
        )

    assert run.returncode == 3, run.stderr
    assert one_line(run.stderr) == (
        f'uprez: error: privacy.policies[0] (project "nda-show", upload = "local-only"): {show} '
        "may only be upscaled on this machine, and the wavespeed provider would upload it: run "
        "it with the local provider (--provider local); nothing of it was read or sent"
    )
    assert opens.count == 0
    assert attempts == []
    assert service.spent() == (0, 0)


def run_local_only(show: Path, tmp_path: Path, env: dict[str, str]) -> tuple[Any, list[Any]]:
    """The NDA show through the local provider, in a process that fails any lookup or
    connection beyond loopback."""
    config = write_config(tmp_path, NDA)
    return run_guarded(
        "upscale",
        show,
        "--provider",
        "local",
        "--project",
        "nda-show",
        "--config",
        config,
        log=tmp_path / "net.json",
        cwd=tmp_path,
        env=env,
        loopback_only=True,
    )


def test_a_local_only_show_runs_with_the_local_provider_and_never_leaves_loopback(
    show: Path, tmp_path: Path
) -> None:
    run, attempts = run_local_only(show, tmp_path, local_env())

    assert run.returncode == 0, run.stderr
    assert (show.parent / "shot_4k.mp4").exists()
    # It did talk: to the in-process server, on loopback, and nowhere else.
    assert any(a["event"] == "socket.connect" for a in attempts)
    assert [a for a in attempts if not a["loopback"]] == []


# A proxy that does not answer: only an attempt to reach it could be seen.
STUDIO_PROXY = "http://10.255.255.1:3128"


@pytest.mark.parametrize(
    "proxy",
    [
        {"HTTPS_PROXY": STUDIO_PROXY, "HTTP_PROXY": STUDIO_PROXY, "ALL_PROXY": STUDIO_PROXY},
        {"UPREZ_PROVIDER__PROXY": STUDIO_PROXY},
    ],
    ids=["environment", "provider.proxy"],
)
def test_a_local_only_show_never_leaves_loopback_even_with_a_studio_proxy_set(
    proxy: dict[str, str], show: Path, tmp_path: Path
) -> None:
    # Studio machines set a proxy for everything: the in-process server is still reached
    # directly, or the proxy would be sent the show itself.
    run, attempts = run_local_only(show, tmp_path, local_env(**proxy))

    assert [a for a in attempts if not a["loopback"]] == []
    assert run.returncode == 0, run.stderr
    assert any(a["event"] == "socket.connect" for a in attempts)


def test_a_local_only_url_source_can_never_run_and_is_never_fetched(tmp_path: Path) -> None:
    config = write_config(tmp_path, NDA)
    with GatedOrigin(b"not fetched") as origin:
        origin.gate.set()
        url = origin.url("nda/shot.mp4") + "?X-Amz-Signature=s3cr3t"

        run, attempts = run_guarded(
            "upscale",
            url,
            "--provider",
            "local",
            "--project",
            "nda-show",
            "--config",
            config,
            log=tmp_path / "net.json",
            cwd=tmp_path,
            env=local_env(),
        )

    assert run.returncode == 3, run.stderr
    line = one_line(run.stderr)
    assert 'privacy.policies[0] (project "nda-show", upload = "local-only")' in line
    assert "a URL source is read over the network" in line
    assert "s3cr3t" not in run.stderr
    assert origin.requests == 0
    assert attempts == []
