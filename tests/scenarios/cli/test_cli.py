"""The command line, run as a user runs it: ``python -m uprez ...`` in a fresh process, with the
local provider (its upscale box kept small through ``UPREZ_LOCAL__MAX_SIZE``)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez import __version__

from support import SECRET_KEY, write_entry_points


def cli_env(**extra: str) -> dict[str, str]:
    """The caller's environment without uprez settings or a key, plus the small upscale box."""
    env = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("UPREZ_") and name != "WAVESPEED_API_KEY"
    }
    env["UPREZ_LOCAL__MAX_SIZE"] = "256x144"
    env["UPREZ_POLLING__FIRST_INTERVAL"] = "0.05"
    env.update(extra)
    return env


def uprez(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uprez", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env if env is not None else cli_env(),
        timeout=120,
    )


def one_line(text: str) -> str:
    lines = text.strip().splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{text}"
    return lines[0]


@pytest.fixture
def clip(make_clip: Callable[..., Path]) -> Path:
    return make_clip("shot.mp4", seconds=1, fps=12, width=64, height=36)


# -- upscale ---------------------------------------------------------------------------------------


def test_upscale_with_json_prints_the_results_as_json(clip: Path, tmp_path: Path) -> None:
    run = uprez("upscale", clip, "--provider", "local", "--json", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    [result] = json.loads(run.stdout)["results"]
    assert result["source"] == str(clip)
    assert Path(result["output"]) == tmp_path / "shot_4k.mp4"
    assert Path(result["output"]).exists()
    assert result["task_id"]
    assert result["cost"] == "0.10"
    assert result["billed_seconds"] == 5


def test_upscale_prints_the_output_path(clip: Path, tmp_path: Path) -> None:
    run = uprez("upscale", clip, "--provider", "local", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert one_line(run.stdout) == str(tmp_path / "shot_4k.mp4")
    assert (tmp_path / "shot_4k.mp4.uprez.json").exists()


def test_rerunning_a_finished_job_hands_back_its_result_without_redoing_it(
    clip: Path, tmp_path: Path
) -> None:
    first = uprez("upscale", clip, "--provider", "local", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    made = (tmp_path / "shot_4k.mp4").stat()

    second = uprez("upscale", clip, "--provider", "local", cwd=tmp_path)

    assert second.returncode == 0, second.stderr
    assert second.stdout.strip() == first.stdout.strip()
    assert (tmp_path / "shot_4k.mp4").stat().st_mtime_ns == made.st_mtime_ns  # untouched


def test_an_output_made_from_another_source_exits_3_with_a_one_line_message(
    clip: Path, make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    # (A result of an older version of the same source is replaced: tests/test_stale.py.)
    other = make_clip("other.mp4", seconds=0.5, fps=12)
    first = uprez(
        "upscale", other, "-o", tmp_path / "shot_4k.mp4", "--provider", "local", cwd=tmp_path
    )
    assert first.returncode == 0, first.stderr
    made = (tmp_path / "shot_4k.mp4").read_bytes()

    second = uprez("upscale", clip, "--provider", "local", cwd=tmp_path)

    assert second.returncode == 3
    message = one_line(second.stderr)
    assert "shot_4k.mp4 exists" in message
    assert "--overwrite" in message
    assert second.stdout == ""
    assert (tmp_path / "shot_4k.mp4").read_bytes() == made


def test_overwrite_lets_a_second_run_replace_the_output(clip: Path, tmp_path: Path) -> None:
    (tmp_path / "shot_4k.mp4").write_bytes(b"stale")

    run = uprez("upscale", clip, "--provider", "local", "--overwrite", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert (tmp_path / "shot_4k.mp4").read_bytes() != b"stale"


def test_a_missing_input_exits_3_naming_it(tmp_path: Path) -> None:
    run = uprez("upscale", tmp_path / "nowhere.mp4", "--provider", "local", cwd=tmp_path)

    assert run.returncode == 3
    assert "nowhere.mp4" in one_line(run.stderr)


def test_one_bad_input_refuses_the_whole_batch_before_anything_runs(
    clip: Path, tmp_path: Path
) -> None:
    run = uprez("upscale", clip, tmp_path / "nowhere.mp4", "--provider", "local", cwd=tmp_path)

    assert run.returncode == 3
    assert not (tmp_path / "shot_4k.mp4").exists()
    assert run.stdout == ""


def test_output_option_with_one_input_writes_that_file(clip: Path, tmp_path: Path) -> None:
    target = tmp_path / "final" / "hero.mp4"

    run = uprez("upscale", clip, "--provider", "local", "-o", target, cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert one_line(run.stdout) == str(target)
    assert target.exists()
    assert not (tmp_path / "shot_4k.mp4").exists()


def test_output_option_with_several_inputs_is_a_folder_of_stem_4k_files(
    make_clip: Callable[..., Path], tmp_path: Path
) -> None:
    first = make_clip("a.mp4", seconds=0.5, fps=12, width=64, height=36)
    second = make_clip("b.mp4", seconds=0.5, fps=12, width=64, height=36)
    folder = tmp_path / "out"

    run = uprez("upscale", first, second, "--provider", "local", "-o", folder, cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == [str(folder / "a_4k.mp4"), str(folder / "b_4k.mp4")]
    assert (folder / "a_4k.mp4").exists()
    assert (folder / "b_4k.mp4").exists()


# -- configuration errors --------------------------------------------------------------------------


def test_a_config_file_with_an_unknown_key_exits_2_naming_its_json_path(
    clip: Path, tmp_path: Path
) -> None:
    config = tmp_path / "uprez.toml"
    config.write_text("[polling]\ndeadlin = 60\n")

    run = uprez("upscale", clip, "--provider", "local", "--config", config, cwd=tmp_path)

    assert run.returncode == 2
    assert "$.polling.deadlin" in run.stderr
    assert "deadline" in run.stderr  # the fix
    assert not (tmp_path / "shot_4k.mp4").exists()


def test_no_key_and_no_provider_exits_2_saying_how_to_set_one(clip: Path, tmp_path: Path) -> None:
    run = uprez("upscale", clip, cwd=tmp_path)

    assert run.returncode == 2
    assert "WAVESPEED_API_KEY" in run.stderr
    assert "--provider local" in run.stderr


def test_config_validate_accepts_a_good_file(tmp_path: Path) -> None:
    config = tmp_path / "uprez.toml"
    config.write_text(
        '[provider]\nname = "local"\napi_key = { "$env" = "WAVESPEED_API_KEY" }\n'
        "[polling]\ndeadline = 7200\n"
    )

    run = uprez("config", "validate", config, cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    assert "valid" in run.stdout


def test_config_validate_exits_2_listing_every_problem(tmp_path: Path) -> None:
    config = tmp_path / "uprez.toml"
    config.write_text(
        '[provider]\nname = "Not A Name"\n'
        '[polling]\ndeadlin = 60\nfactor = "fast"\n'
        "[retry]\nattempts = -1\n"
    )

    run = uprez("config", "validate", config, cwd=tmp_path)

    assert run.returncode == 2
    for path in ("$.provider.name", "$.polling.deadlin", "$.polling.factor", "$.retry.attempts"):
        assert path in run.stderr, f"{path} not reported"
    assert "4 problems" in run.stderr


def test_config_validate_refuses_a_rule_naming_a_step_no_plugin_offers(tmp_path: Path) -> None:
    # The README: "A rule naming an unknown step is a config error". A plugin's step is known.
    site = tmp_path / "site"
    write_entry_points(
        site,
        {
            "grain": (
                "uprez_cli_grain",
                "from uprez.hookspecs import hookimpl\n"
                "from uprez.records import StepInfo\n\n"
                "@hookimpl\ndef uprez_steps():\n"
                '    return [StepInfo("grain", "adds film grain", lambda artifact, **kw: [])]\n',
            )
        },
    )
    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    env = cli_env(PYTHONPATH=path)
    config = tmp_path / "uprez.toml"
    config.write_text(
        '[[rules]]\nglob = "*"\nsteps = ["upscale", "grain"]\n'
        '[[rules]]\next = [".mov"]\nsteps = ["grain", "upscal"]\n'
    )

    run = uprez("config", "validate", config, cwd=tmp_path, env=env)

    assert run.returncode == 2, run.stdout
    assert "1 problem" in run.stderr
    [line] = [x for x in run.stderr.splitlines() if "$.rules" in x]
    assert "$.rules[1].steps[1]:" in line
    assert "did you mean 'upscale'?" in line and "known steps: grain, upscale" in line
    assert "upscal'" not in line  # a value from the config is never quoted

    config.write_text('[[rules]]\nglob = "*"\nsteps = ["upscale", "grain"]\n')
    assert uprez("config", "validate", config, cwd=tmp_path, env=env).returncode == 0
    assert uprez("config", "validate", config, cwd=tmp_path).returncode == 2  # no grain plugin


def test_config_show_never_prints_the_key_from_the_environment(tmp_path: Path) -> None:
    run = uprez("config", "show", cwd=tmp_path, env=cli_env(WAVESPEED_API_KEY=SECRET_KEY))

    assert run.returncode == 0, run.stderr
    shown = json.loads(run.stdout)
    assert shown["provider"]["api_key"] == {"$env": "WAVESPEED_API_KEY"}
    assert SECRET_KEY not in run.stdout + run.stderr


def test_config_show_redacts_a_literal_key_from_a_variable_or_a_file(tmp_path: Path) -> None:
    config = tmp_path / "uprez.toml"
    config.write_text(f'[provider]\napi_key = "{SECRET_KEY}"\n')

    from_file = uprez("config", "show", "--config", config, cwd=tmp_path)
    from_env = uprez(
        "config", "show", cwd=tmp_path, env=cli_env(UPREZ_PROVIDER__API_KEY=SECRET_KEY)
    )

    for run in (from_file, from_env):
        assert run.returncode == 0, run.stderr
        assert json.loads(run.stdout)["provider"]["api_key"] == "<redacted>"
        assert SECRET_KEY not in run.stdout + run.stderr


# -- plugins, demo, version ------------------------------------------------------------------------


def test_plugins_json_lists_the_builtin_plugin_its_hooks_steps_and_providers(
    tmp_path: Path,
) -> None:
    run = uprez("plugins", "--json", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    [builtin] = [p for p in info["plugins"] if p["name"] == "builtin"]
    assert builtin["hooks"] == [
        "uprez_output_path",
        "uprez_post_export",
        "uprez_providers",
        "uprez_steps",
    ]
    assert info["steps"] == ["upscale"]
    assert info["providers"] == ["local", "wavespeed"]
    assert info["broken"] == []


def test_plugins_lists_an_installed_plugin_and_a_broken_one_as_skipped(tmp_path: Path) -> None:
    site = tmp_path / "site"
    write_entry_points(
        site,
        {
            "studio": (
                "uprez_cli_studio",
                "from uprez.hookspecs import hookimpl\n\n"
                "@hookimpl\ndef uprez_job_event(event):\n    pass\n",
            ),
            "broken": ("uprez_cli_broken", 'raise ImportError("needs the studio SDK")\n'),
        },
    )

    path = os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")]))
    run = uprez("plugins", cwd=tmp_path, env=cli_env(PYTHONPATH=path))

    assert run.returncode == 0, run.stderr
    assert "studio: uprez_job_event" in run.stdout.splitlines()
    assert "skipped broken: ImportError: needs the studio SDK" in run.stdout


def test_demo_makes_a_clip_and_prints_where_its_upscale_is(tmp_path: Path) -> None:
    folder = tmp_path / "demo"

    run = uprez("demo", "--dir", folder, "--max-size", "256x144", "--seconds", "0.5", cwd=tmp_path)

    assert run.returncode == 0, run.stderr
    found = re.search(r"^upscaled\s+(.+?) \(", run.stdout, re.MULTILINE)
    assert found, run.stdout
    assert Path(found[1]).exists()
    assert Path(found[1]).parent == folder
    assert Path(found[1] + ".uprez.json").exists()


def test_version_prints_the_version(tmp_path: Path) -> None:
    run = uprez("--version", cwd=tmp_path)

    assert run.returncode == 0
    assert run.stdout.strip() == f"uprez {__version__}"


def test_an_output_folder_that_cannot_be_written_is_one_line_and_exit_5(
    clip: Path, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where a folder should be")

    done = uprez("upscale", clip, clip, "-o", blocker, "--provider", "local", cwd=tmp_path)

    assert done.returncode == 5, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
