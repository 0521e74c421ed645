"""The README is part of the product: these tests fail when the code moves and the docs do not
(a new hook, a new config key, a changed default or exit code, an example that no longer runs)."""

from __future__ import annotations

import argparse
import inspect
import json
import re
import tomllib
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from uprez import errors, hookspecs
from uprez.cli import EXIT_INTERRUPTED, EXIT_OK, build_parser
from uprez.config import load_config
from uprez.plugins import PluginError, get_plugin_manager
from uprez.records import EVENT_KINDS, Artifact

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")
CONFIG_SCHEMA = json.loads((ROOT / "schemas" / "config.schema.json").read_text(encoding="utf-8"))


# -- reading the README ----------------------------------------------------------------------------


def section(title: str) -> str:
    """The text under the heading ``title`` up to the next heading of the same or a higher level."""
    lines: list[str] = []
    level = 0
    fenced = False
    for line in README.splitlines():
        if line.startswith("```"):
            fenced = not fenced
        heading = None if fenced else re.match(r"(#+) (.*?)\s*$", line)
        if heading and level and len(heading[1]) <= level:
            break
        if heading and heading[2] == title:
            level = len(heading[1])
        elif level:
            lines.append(line)
    assert level, f"README has no section {title!r}"
    return "\n".join(lines) + "\n"


def table_rows(text: str) -> list[list[str]]:
    """The body rows of the markdown tables in ``text``, as lists of stripped cells."""
    rows = []
    for line in text.splitlines():
        if not line.startswith("|"):
            continue
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if all(re.fullmatch(r":?-+:?", cell) for cell in cells):
            continue
        rows.append(cells)
    # Each table's first row is its header; drop it.
    headers = {"key", "hook", "code"}
    return [row for row in rows if row[0] not in headers]


def code_blocks(text: str = README) -> list[tuple[str, str]]:
    """Fenced code blocks as ``(language, body)``, in order."""
    return re.findall(r"^```(\w*)\n(.*?)^```", text, re.MULTILINE | re.DOTALL)


def unquote(cell: str) -> str:
    return cell.strip().strip("`")


def hookspec_functions() -> dict[str, Callable[..., Any]]:
    found = {
        name: value
        for name, value in vars(hookspecs).items()
        if name.startswith("uprez_") and inspect.isfunction(value)
    }
    assert found, "uprez.hookspecs defines no uprez_* hooks"
    return found


def documented_hooks() -> dict[str, str]:
    """Hook name -> its row (signature and purpose) in the Hooks table."""
    rows = {}
    for row in table_rows(section("Hooks")):
        match = re.fullmatch(r"`(uprez_\w+)\((.*)\)`", row[0])
        assert match, f"a Hooks row does not start with a hook signature: {row[0]}"
        rows[match[1]] = " | ".join(row)
    return rows


def schema_leaves(node: dict[str, Any], prefix: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """``("section.key", schema node)`` for every setting of the config schema."""
    for key, sub in node["properties"].items():
        if "properties" in sub:
            yield from schema_leaves(sub, (*prefix, key))
        else:
            yield ".".join((*prefix, key)), sub


def config_table() -> dict[str, list[str]]:
    return {unquote(row[0]): row for row in table_rows(section("Configuration"))}


# -- hooks -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hookspec_is_documented_in_the_hooks_section(name: str) -> None:
    assert name in section("Hooks"), f"{name} is a hook but the README's Hooks section omits it"
    assert name in documented_hooks(), f"{name} has no row in the README's hooks table"


@pytest.mark.parametrize("name", sorted(hookspec_functions()))
def test_every_hook_is_documented_with_its_own_arguments(name: str) -> None:
    row = documented_hooks()[name]
    documented = re.fullmatch(r"`uprez_\w+\((.*?)\)`.*", row)
    assert documented
    arguments = [a.strip() for a in documented[1].split(",") if a.strip()]

    assert arguments == list(inspect.signature(hookspecs.__dict__[name]).parameters)


def test_every_hook_in_the_readme_exists_in_the_hookspecs() -> None:
    assert set(documented_hooks()) <= set(hookspec_functions())


def test_firstresult_hooks_are_documented_as_firstresult() -> None:
    for name, function in hookspec_functions().items():
        options = getattr(function, f"{hookspecs.PROJECT}_spec")
        row = documented_hooks()[name]
        assert bool(options.get("firstresult")) == ("firstresult" in row), name


def test_every_job_event_kind_is_documented() -> None:
    row = documented_hooks()["uprez_job_event"]

    for kind in EVENT_KINDS:
        assert f"`{kind}`" in row


def test_the_hooks_example_plugin_registers_and_overrides_the_output_path() -> None:
    [example] = [body for lang, body in code_blocks(section("Hooks")) if lang == "python"]
    module = types.ModuleType("readme_example_plugin")
    exec(compile(example, "README.md (Hooks example)", "exec"), module.__dict__)
    pm = get_plugin_manager(env={})

    pm.register(module, name="readme-example")  # validates the hookimpls against the hookspecs
    try:
        target = pm.hook.uprez_output_path(
            artifact=Artifact(Path("/exports/shot010.mp4")),
            step="upscale",
            config=load_config(env={}),
            folder=None,
        )
    finally:
        pm.unregister(name="readme-example")

    assert target == Path("/publish/4k/shot010_upscale.mp4")


# -- configuration ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", [key for key, _ in schema_leaves(CONFIG_SCHEMA)])
def test_every_config_setting_is_in_the_readme_table_with_its_default(key: str) -> None:
    node = dict(schema_leaves(CONFIG_SCHEMA))[key]
    table = config_table()

    assert key in table, f"`{key}` is a setting but not in the README's configuration table"
    assert json.loads(unquote(table[key][1])) == node["default"], (
        f"README gives {table[key][1]} as the default of {key}; the schema says "
        f"{json.dumps(node['default'])}"
    )


def test_every_key_in_the_readme_table_is_a_setting() -> None:
    assert set(config_table()) <= {key for key, _ in schema_leaves(CONFIG_SCHEMA)}


def test_the_readme_config_example_is_a_valid_config_file(tmp_path: Path) -> None:
    [example] = [body for lang, body in code_blocks(section("Configuration")) if lang == "toml"]
    path = tmp_path / "uprez.toml"
    path.write_text(example)

    config = load_config(path, env={})

    assert config.get("polling.deadline") == 7200
    assert config.get("output.template") == "{dir}/4k/{stem}{ext}"


# -- the quick start -------------------------------------------------------------------------------


def test_the_first_code_block_installs_and_runs_the_demo() -> None:
    lang, body = code_blocks()[0]

    assert lang == "sh"
    assert "pip install ." in body
    assert body.rstrip().endswith("uprez demo")


def test_the_second_code_block_installs_the_test_extra_and_runs_the_tests() -> None:
    lang, body = code_blocks()[1]

    assert lang == "sh"
    assert "pip install -e '.[test]'" in body
    assert body.rstrip().endswith("pytest")


def test_the_quick_start_commands_exist_in_the_project_metadata() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert project["scripts"]["uprez"] == "uprez.cli:main"
    assert "test" in project["optional-dependencies"]
    assert any(dep.startswith("pytest") for dep in project["optional-dependencies"]["test"])


def test_the_pipeline_example_runs_as_written(
    make_clip: Callable[..., Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    example = next(body for lang, body in code_blocks() if lang == "python")
    make_clip("shot010_v003.mp4", seconds=1, fps=12, width=64, height=36)
    monkeypatch.chdir(tmp_path)
    for name in [n for n in __import__("os").environ if n.startswith("UPREZ_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("UPREZ_LOCAL__MAX_SIZE", "256x144")  # keep the test's upscale tiny

    exec(compile(example, "README.md (pipeline example)", "exec"), {})

    planned, done = capsys.readouterr().out.splitlines()
    assert planned == "0.10 shot010_v003_4k.mp4"  # the cost and the place, before any spending
    path, task_id = done.split()
    assert path == "shot010_v003_4k.mp4"
    assert (tmp_path / path).exists()
    assert task_id


# -- the command line ------------------------------------------------------------------------------


def subparser(parser: argparse.ArgumentParser, name: str) -> argparse.ArgumentParser:
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    assert name in commands.choices, f"no command {name!r}"
    chosen: argparse.ArgumentParser = commands.choices[name]
    return chosen


def synopsis() -> list[list[str]]:
    [(_, body)] = code_blocks(section("Command line"))[:1]
    return [line.split() for line in body.splitlines() if line.startswith("uprez ")]


@pytest.mark.parametrize("line", synopsis(), ids=lambda words: " ".join(words[1:3]))
def test_every_command_and_option_in_the_synopsis_exists(line: list[str]) -> None:
    parser = subparser(build_parser(), line[1])
    if line[1] in ("config", "blender"):
        parser = subparser(parser, line[2])

    for word in line:
        option = word.strip("[]")
        if option.startswith("-"):
            assert option in parser._option_string_actions, f"uprez {line[1]} has no {option}"


# -- exit codes ------------------------------------------------------------------------------------


def exit_code_table() -> dict[int, str]:
    return {int(row[0]): row[1] for row in table_rows(section("Exit codes"))}


def test_the_exit_code_table_matches_the_error_classes() -> None:
    table = exit_code_table()

    assert errors.ConfigError.exit_code == 2 and "configuration" in table[2]
    assert errors.InputError.exit_code == 3 and "refused" in table[3]
    assert errors.BudgetError.exit_code == 4 and "budget" in table[4]
    assert errors.ServiceError.exit_code == 5 and "service" in table[5]
    assert errors.TaskGone.exit_code == 6 and "--resubmit" in table[6]
    assert EXIT_INTERRUPTED == 130 and "interrupted" in table[130]
    assert EXIT_OK == 0 and "success" in table[0]
    assert set(table) == {0, 2, 3, 4, 5, 6, 130}


def _subclasses(cls: type) -> Iterator[type]:
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_error_class_exits_with_a_documented_code() -> None:
    assert PluginError in set(_subclasses(errors.UprezError))
    table = exit_code_table()

    for cls in _subclasses(errors.UprezError):
        assert cls.exit_code in table, f"{cls.__name__} exits {cls.exit_code}, not in the README"
