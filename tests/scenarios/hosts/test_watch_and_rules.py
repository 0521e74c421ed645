"""Post-export rules choose steps; the watch folder takes each finished video exactly once."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from touches import FileOpens

from uprez.config import load_config
from uprez.errors import ConfigError
from uprez.plugins import PluginManager, get_plugin_manager
from uprez.records import Artifact, PostExportContext
from uprez.rules import select_steps
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.watch import STATE_FILE, Watcher
from uprez.wavespeed.provider import WaveSpeedProvider

from support import FAST, TEST_KEY, stats

KNOWN = {"upscale", "grain"}


def rules_config(rules: list[dict[str, object]]) -> object:
    return load_config(env={}, overrides={"rules": rules})


@pytest.fixture
def pm() -> PluginManager:
    return get_plugin_manager(env={})


def test_with_no_rules_every_video_gets_upscale_and_nothing_else_does() -> None:
    config = load_config(env={})
    assert select_steps(Artifact(Path("a.mp4")), config, KNOWN) == ["upscale"]
    assert select_steps(Artifact(Path("a.exr"), kind="image"), config, KNOWN) == []


def test_rules_match_on_glob_extension_and_tags() -> None:
    config = load_config(
        env={},
        overrides={
            "rules": [
                {"glob": "*_review*", "ext": [".mov"], "steps": ["upscale"]},
                {"tags": ["final"], "steps": ["grain", "upscale"]},
            ]
        },
    )
    assert select_steps(Artifact(Path("/x/sh010_review_v2.mov")), config, KNOWN) == ["upscale"]
    assert select_steps(Artifact(Path("/x/sh010_review_v2.mp4")), config, KNOWN) == []
    final = Artifact(Path("/x/sh010.mp4"), tags=frozenset({"final", "client"}))
    assert select_steps(final, config, KNOWN) == ["grain", "upscale"]


def test_a_glob_with_a_slash_matches_the_whole_path() -> None:
    config = load_config(
        env={}, overrides={"rules": [{"glob": "*/publish/*", "steps": ["upscale"]}]}
    )
    assert select_steps(Artifact(Path("/show/publish/a.mp4")), config, KNOWN) == ["upscale"]
    assert select_steps(Artifact(Path("/show/work/a.mp4")), config, KNOWN) == []


def test_resolution_rules_probe_the_file(make_clip: Callable[..., Path]) -> None:
    small = make_clip("small.mp4", width=64, height=36, seconds=0.5, fps=12, audio=False)
    config = load_config(
        env={},
        overrides={
            "rules": [
                {"max_width": 1919, "steps": ["upscale"]},
                {"min_width": 1920, "steps": ["grain"]},
            ]
        },
    )
    assert select_steps(Artifact(small), config, KNOWN) == ["upscale"]


def test_a_size_rule_never_matches_a_file_that_cannot_be_probed(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    config = load_config(env={}, overrides={"rules": [{"min_width": 1, "steps": ["upscale"]}]})
    assert select_steps(Artifact(broken), config, KNOWN) == []


def test_a_rule_naming_an_unknown_step_is_a_config_error_with_its_path() -> None:
    config = load_config(env={}, overrides={"rules": [{"glob": "*", "steps": ["sharpen"]}]})
    with pytest.raises(ConfigError, match=r"\$\.rules\[0\]\.steps\[0\]: .*sharpen"):
        select_steps(Artifact(Path("a.mp4")), config, KNOWN)


def test_post_export_runs_the_steps_the_rules_choose(
    server: LocalServer, make_clip: Callable[..., Path], pm: PluginManager
) -> None:
    clip = make_clip("shot_review.mp4", seconds=0.5, fps=12)
    other = make_clip("shot_comp.mp4", seconds=0.5, fps=12)
    config = load_config(
        env={},
        overrides={
            **FAST,
            "provider.base_url": server.base_url,
            "provider.api_key": TEST_KEY,
            "rules": [{"glob": "*_review.mp4", "steps": ["upscale"]}],
        },
    )
    context = PostExportContext(host="test", config=config, pm=pm)

    [made] = pm.post_export(Artifact(clip), context)
    nothing = pm.post_export(Artifact(other), context)

    assert made.path == clip.parent / "shot_review_4k.mp4" and made.path.exists()
    assert nothing == []
    assert stats(server.base_url, TEST_KEY)["submissions"] == 1


# -- the watch folder ------------------------------------------------------------------------


@pytest.fixture
def watch_setup(
    server: LocalServer, tmp_path: Path, pm: PluginManager
) -> Iterator[dict[str, object]]:
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    out_dir.mkdir()
    config = load_config(
        env={},
        overrides={
            **FAST,
            "watch.interval": 0.05,
            "watch.settle": 0.3,
            "limits.concurrency": 2,
        },
    )
    provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=TEST_KEY)
    yield {"in": in_dir, "out": out_dir, "config": config, "provider": provider, "pm": pm}
    provider.close()


def watcher_for(setup: dict[str, object]) -> Watcher:
    """A watcher over the fixture's folders, config and provider."""
    return Watcher(
        Path(str(setup["in"])),
        Path(str(setup["out"])),
        config=setup["config"],  # type: ignore[arg-type]
        pm=setup["pm"],  # type: ignore[arg-type]
        provider=setup["provider"],  # type: ignore[arg-type]
    )


def start(setup: dict[str, object]) -> tuple[Watcher, threading.Event, threading.Thread]:
    watcher = watcher_for(setup)
    stop = threading.Event()
    thread = threading.Thread(target=watcher.run, kwargs={"stop": stop}, daemon=True)
    thread.start()
    return watcher, stop, thread


def wait_until(condition: Callable[[], bool], timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_files_appearing_while_watching_are_each_upscaled_once(
    watch_setup: dict[str, object], server: LocalServer, make_clip: Callable[..., Path]
) -> None:
    in_dir, out_dir = Path(str(watch_setup["in"])), Path(str(watch_setup["out"]))
    watcher, stop, thread = start(watch_setup)
    try:
        for name, seconds in (("a.mp4", 0.5), ("b.mp4", 0.75), ("c.mp4", 1.0)):
            make_clip(name, seconds=seconds, fps=12).rename(in_dir / name)
        (in_dir / "notes.txt").write_text("not a video")
        wait_until(lambda: all((out_dir / f"{n}_4k.mp4").exists() for n in "abc"))
        time.sleep(0.5)  # more scans: nothing is taken twice
    finally:
        stop.set()
        thread.join(30)
    assert stats(server.base_url, TEST_KEY)["submissions"] == 3
    assert not (out_dir / "notes_4k.mp4").exists()
    entries = watcher.state.entries()
    assert sorted(e["status"] for e in entries.values()) == ["done"] * 3
    assert server.app is not None and server.app.processor.peak_running <= 2


def test_the_watcher_runs_several_jobs_at_once_within_the_concurrency(
    tmp_path: Path, pm: PluginManager, make_clip: Callable[..., Path]
) -> None:
    # A slower service (each task at least 2 s per second of video) makes overlap certain.
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=(256, 144), workers=4, speed_factor=2.0, account_level="silver"
    )
    in_dir, out_dir = tmp_path / "in", tmp_path / "out"
    in_dir.mkdir()
    for index in range(3):
        make_clip(f"s{index}.mp4", seconds=0.5 + index / 4, fps=12).rename(in_dir / f"s{index}.mp4")
    config = load_config(
        env={},
        overrides={
            **FAST,
            "watch.interval": 0.05,
            "watch.settle": 0.1,
            "limits.concurrency": 2,
        },
    )
    with LocalServer(settings) as slow:
        provider = WaveSpeedProvider.from_config(config, base_url=slow.base_url, api_key=TEST_KEY)
        try:
            Watcher(in_dir, out_dir, config=config, pm=pm, provider=provider).run(once=True)
        finally:
            provider.close()
        assert slow.app is not None
        assert slow.app.processor.peak_running == 2
        assert stats(slow.base_url, TEST_KEY)["submissions"] == 3
    assert sorted(p.name for p in out_dir.glob("*_4k.mp4")) == [
        "s0_4k.mp4",
        "s1_4k.mp4",
        "s2_4k.mp4",
    ]


def test_the_same_content_under_two_names_is_paid_for_once(
    watch_setup: dict[str, object], server: LocalServer, make_clip: Callable[..., Path]
) -> None:
    in_dir, out_dir = Path(str(watch_setup["in"])), Path(str(watch_setup["out"]))
    data = make_clip("take.mp4", seconds=0.5, fps=12).read_bytes()
    (in_dir / "take_v1.mp4").write_bytes(data)
    (in_dir / "take_copy.mp4").write_bytes(data)
    watcher = watcher_for(watch_setup)
    watcher.run(once=True)

    assert (out_dir / "take_v1_4k.mp4").exists() and (out_dir / "take_copy_4k.mp4").exists()
    assert stats(server.base_url, TEST_KEY)["submissions"] == 1


def test_a_file_still_being_written_is_not_touched_until_it_settles(
    watch_setup: dict[str, object], server: LocalServer, make_clip: Callable[..., Path]
) -> None:
    in_dir, out_dir = Path(str(watch_setup["in"])), Path(str(watch_setup["out"]))
    data = make_clip("growing.mp4", seconds=0.5, fps=12).read_bytes()
    watcher, stop, thread = start(watch_setup)
    try:
        target = in_dir / "growing.mp4"
        with target.open("wb") as out:  # a slow writer: a chunk every 0.15 s
            for i in range(0, len(data), max(1, len(data) // 8)):
                out.write(data[i : i + max(1, len(data) // 8)])
                out.flush()
                time.sleep(0.15)
                assert stats(server.base_url, TEST_KEY)["uploads"] == 0
        wait_until(lambda: (out_dir / "growing_4k.mp4").exists())
    finally:
        stop.set()
        thread.join(30)
    assert stats(server.base_url, TEST_KEY)["submissions"] == 1
    assert [e["status"] for e in watcher.state.entries().values()] == ["done"]


def test_a_restarted_watcher_redoes_nothing(
    watch_setup: dict[str, object], server: LocalServer, make_clip: Callable[..., Path]
) -> None:
    in_dir, out_dir = Path(str(watch_setup["in"])), Path(str(watch_setup["out"]))
    make_clip("once.mp4", seconds=0.5, fps=12).rename(in_dir / "once.mp4")
    first = watcher_for(watch_setup)
    first.run(once=True)
    assert (out_dir / "once_4k.mp4").exists()

    again = watcher_for(watch_setup)
    again.run(once=True)

    assert stats(server.base_url, TEST_KEY)["submissions"] == 1
    assert (out_dir / STATE_FILE).exists()


def test_a_file_that_fails_is_recorded_and_not_retried_on_its_own(
    watch_setup: dict[str, object], server: LocalServer
) -> None:
    in_dir = Path(str(watch_setup["in"]))
    (in_dir / "bad.mp4").write_text("this is not a video")
    watcher = watcher_for(watch_setup)
    watcher.run(once=True)
    watcher.run(once=True)

    [entry] = watcher.state.entries().values()
    assert entry["status"] == "failed" and "bad.mp4" in entry["error"]
    assert watcher.failures == [str(in_dir / "bad.mp4")]
    assert stats(server.base_url, TEST_KEY)["uploads"] == 0


@pytest.mark.skipif(sys.platform != "linux", reason="inotify tells what was opened")
def test_a_file_its_upload_policy_denies_is_failed_naming_the_policy_unread_and_unsent(
    watch_setup: dict[str, object], server: LocalServer, make_clip: Callable[..., Path]
) -> None:
    in_dir, out_dir = Path(str(watch_setup["in"])), Path(str(watch_setup["out"]))
    (in_dir / "nda").mkdir()
    secret = make_clip("secret.mp4", seconds=0.5, fps=12).rename(in_dir / "nda" / "secret.mp4")
    make_clip("open.mp4", seconds=0.5, fps=12).rename(in_dir / "open.mp4")
    config = load_config(
        env={},
        overrides={
            **FAST,
            "watch.interval": 0.05,
            "watch.settle": 0.1,
            "privacy.policies": [{"path": "**/nda/**", "upload": "deny"}],
        },
    )
    watcher = Watcher(
        in_dir,
        out_dir,
        config=config,
        pm=watch_setup["pm"],  # type: ignore[arg-type]
        provider=watch_setup["provider"],  # type: ignore[arg-type]
    )

    with FileOpens(secret) as opens:
        watcher.run(once=True)

    entries = {Path(e["source"]).name: e for e in watcher.state.entries().values()}
    assert entries["secret.mp4"]["status"] == "failed"
    assert entries["secret.mp4"]["error"] == (
        f'privacy.policies[0] (path "**/nda/**", upload = "deny"): {secret} may not be '
        "upscaled by any provider; nothing of it was read or sent"
    )
    assert watcher.failures == [str(secret)]
    assert entries["open.mp4"]["status"] == "done"  # the watcher carries on with the rest
    assert opens.count == 0
    assert stats(server.base_url, TEST_KEY)["uploads"] == 1  # open.mp4's only
    assert stats(server.base_url, TEST_KEY)["submissions"] == 1
    assert not (out_dir / "nda" / "secret_4k.mp4").exists()


def test_uprez_watch_once_from_the_command_line(
    tmp_path: Path, make_clip: Callable[..., Path]
) -> None:
    in_dir, out_dir = tmp_path / "drop", tmp_path / "4k"
    in_dir.mkdir()
    make_clip("x.mp4", seconds=0.5, fps=12).rename(in_dir / "x.mp4")
    env = {
        "PATH": "/usr/bin:/bin",
        "XDG_DATA_HOME": os.environ["XDG_DATA_HOME"],  # the test's own journal
        "UPREZ_LOCAL__MAX_SIZE": "256x144",
        "UPREZ_WATCH__SETTLE": "0",
    }
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "uprez",
            "watch",
            str(in_dir),
            str(out_dir),
            "--once",
            "--provider",
            "local",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert (out_dir / "x_4k.mp4").exists()
