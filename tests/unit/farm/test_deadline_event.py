"""The Deadline event plugin (hooks/farm/deadline/UprezUpscale): which jobs and outputs it takes,
the job it submits for each movie, and its listener driven as Deadline drives it.

Deadline's Python API (``Deadline.Events``, ``Deadline.Scripting``) exists only inside Deadline:
the listener's tests put small stand-ins for those two modules in its place, and nothing else."""

from __future__ import annotations

import ast
import configparser
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType, SimpleNamespace
from typing import Any

import pytest

HOSTILE = '/shows/abc/sh 010/it\'s "final"; $(rm -rf ~) `touch x` & echo \\\\ v2.mov'


@pytest.fixture
def plugin(farm: Path, load_recipe: Callable[[Path], ModuleType]) -> ModuleType:
    """The plugin file, imported where Deadline is not."""
    return load_recipe(farm / "deadline" / "UprezUpscale" / "UprezUpscale.py")


def render_job(recipe: ModuleType, /, **fields: Any) -> Any:
    values: dict[str, Any] = {
        "job_id": "65f0c0ffee",
        "name": "sh010_comp_v003",
        "plugin": "Nuke",
        "batch_name": "sh010",
        "user": "ana",
        "department": "comp",
        "priority": 60,
        "pool": "comp",
        "group": "linux",
        "output_directories": ("/shows/abc/sh010/out",),
        "output_file_names": ("sh010_v003.mov",),
    }
    values.update(fields)
    return recipe.RenderJob(**values)


def split_like_windows(line: str) -> list[str]:
    """The Microsoft C runtime's argument splitting (as documented in "Parsing C++ command-line
    arguments"), written here independently of the encoder under test: whitespace separates;
    double quotes group; 2n backslashes before a quote are n backslashes and the quote groups,
    2n+1 are n backslashes and a literal quote; other backslashes are literal."""
    words: list[str] = []
    word: list[str] = []
    in_word = quoted = False
    i = 0
    while i < len(line):
        c = line[i]
        if c == "\\":
            run = len(line[i:]) - len(line[i:].lstrip("\\"))
            if line[i + run : i + run + 1] == '"':
                word.append("\\" * (run // 2))
                if run % 2:
                    word.append('"')
                    i += run + 1
                else:
                    i += run
            else:
                word.append("\\" * run)
                i += run
            in_word = True
            continue
        if c == '"':
            quoted = not quoted
            in_word = True
        elif c in " \t" and not quoted:
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        else:
            word.append(c)
            in_word = True
        i += 1
    if in_word:
        words.append("".join(word))
    return words


# -- which outputs --------------------------------------------------------------------------------


def test_outputs_are_the_job_output_directories_joined_with_the_file_names(
    plugin: ModuleType,
) -> None:
    job = render_job(
        plugin,
        output_directories=("/shows/abc/sh010/out", "/shows/abc/sh010/review/"),
        output_file_names=("sh010_v003.mov", "sh010_v003_review.mp4"),
    )
    outputs = plugin.job_outputs(job, plugin.Settings())
    assert outputs == [
        plugin.Output("/shows/abc/sh010/out/sh010_v003.mov"),
        plugin.Output("/shows/abc/sh010/review/sh010_v003_review.mp4"),
    ]


def test_windows_output_paths_keep_their_separators_whatever_machine_runs_the_event(
    plugin: ModuleType,
) -> None:
    job = render_job(
        plugin, output_directories=("P:\\abc\\sh010\\out",), output_file_names=("sh010.mov",)
    )
    [output] = plugin.job_outputs(job, plugin.Settings())
    assert output == plugin.Output("P:\\abc\\sh010\\out\\sh010.mov")
    assert plugin.output_folder(output.path, plugin.Settings()) == "P:\\abc\\sh010\\out\\"


@pytest.mark.parametrize(
    "name", ["sh010.####.exr", "sh010.%04d.exr", "sh010_####.mov", "sh010.%d.png", "sh010.$F4.exr"]
)
def test_padded_names_are_image_sequences_and_are_skipped_with_a_reason(
    plugin: ModuleType, name: str
) -> None:
    [output] = plugin.job_outputs(render_job(plugin, output_file_names=(name,)), plugin.Settings())
    assert output.skip is not None and "image sequence" in output.skip


def test_outputs_that_are_not_movies_are_skipped(plugin: ModuleType) -> None:
    job = render_job(plugin, output_file_names=("sh010_still.exr",))
    [output] = plugin.job_outputs(job, plugin.Settings())
    assert output.skip is not None and "not a movie" in output.skip


def test_a_directory_without_a_file_name_gives_no_output(plugin: ModuleType) -> None:
    job = render_job(plugin, output_directories=("/a", "/b"), output_file_names=("",))
    assert plugin.job_outputs(job, plugin.Settings()) == []


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("sh010\nPlugin=Python.mov", "control character"),
        ("sh010<QUOTE> --overwrite <quote>.mov", "<tag>"),
        ("sh010 <STARTFRAME%4>.mov", "<tag>"),
        ("sh010 \u201cfinal\u201d.mov", "curly quote"),
    ],
)
def test_a_name_deadline_would_rewrite_on_the_command_line_is_refused(
    plugin: ModuleType, name: str, why: str
) -> None:
    [output] = plugin.job_outputs(render_job(plugin, output_file_names=(name,)), plugin.Settings())
    assert output.skip is not None and why in output.skip


def test_a_relative_output_is_refused(plugin: ModuleType) -> None:
    job = render_job(plugin, output_directories=("renders",), output_file_names=("a.mov",))
    [output] = plugin.job_outputs(job, plugin.Settings())
    assert output.skip is not None and "absolute" in output.skip


# -- which jobs -----------------------------------------------------------------------------------


def test_every_job_qualifies_when_no_filter_is_set(plugin: ModuleType) -> None:
    assert plugin.job_skip_reason(render_job(plugin), plugin.Settings()) is None


def test_the_plugin_filter_takes_only_the_named_plugins_in_any_case(plugin: ModuleType) -> None:
    settings = plugin.Settings(plugins=("nuke", "AfterEffects"))
    assert plugin.job_skip_reason(render_job(plugin, plugin="Nuke"), settings) is None
    reason = plugin.job_skip_reason(render_job(plugin, plugin="MayaBatch"), settings)
    assert reason is not None and "MayaBatch" in reason


def test_the_name_pattern_is_searched_in_the_job_name(plugin: ModuleType) -> None:
    settings = plugin.Settings(name_pattern=r"_comp_v\d+$")
    assert plugin.job_skip_reason(render_job(plugin, name="sh010_comp_v003"), settings) is None
    assert plugin.job_skip_reason(render_job(plugin, name="sh010_fx_v003"), settings) is not None


def test_a_name_pattern_that_is_not_a_regular_expression_skips_the_job_and_says_why(
    plugin: ModuleType,
) -> None:
    reason = plugin.job_skip_reason(render_job(plugin), plugin.Settings(name_pattern="sh[0-9"))
    assert reason is not None and "not a regular expression" in reason


def test_the_file_keeps_to_the_python_of_deadline_10(farm: Path) -> None:
    source = (farm / "deadline" / "UprezUpscale" / "UprezUpscale.py").read_text("utf-8")
    ast.parse(source, feature_version=(3, 7))


def test_the_uprez_jobs_it_submitted_are_never_upscaled(plugin: ModuleType) -> None:
    job = render_job(plugin, plugin="CommandLine", uprez_source="/shows/abc/a.mov")
    assert plugin.job_skip_reason(job, plugin.Settings()) == "it is an uprez job"


# -- settings -------------------------------------------------------------------------------------


def test_settings_are_read_from_the_plugin_config_entries(plugin: ModuleType) -> None:
    entries = {
        "JobPlugins": "Nuke; AfterEffects",
        "JobNamePattern": "_review$",
        "Extensions": ".MOV;mp4",
        "Executable": "/opt/uprez/bin/uprez",
        "OutputFolder": "/shows/abc/4k",
        "OutputTemplate": "{dir}/{stem}_uhd{ext}",
        "Priority": "70",
        "Pool": "uprez",
        "Group": "gpu",
        "LimitGroups": "uprez",
        "Retries": "5",
    }
    settings = plugin.read_settings(lambda key, default: entries.get(key, default))
    assert settings == plugin.Settings(
        plugins=("Nuke", "AfterEffects"),
        name_pattern="_review$",
        extensions=("mov", "mp4"),
        executable="/opt/uprez/bin/uprez",
        output_folder="/shows/abc/4k",
        output_template="{dir}/{stem}_uhd{ext}",
        priority=70,
        pool="uprez",
        group="gpu",
        limit_groups="uprez",
        task_errors=5,
    )


def test_empty_settings_are_the_defaults(plugin: ModuleType) -> None:
    assert plugin.read_settings(lambda key, default: default) == plugin.Settings()


def test_the_param_file_declares_the_state_and_every_setting_with_its_default(
    plugin: ModuleType, farm: Path
) -> None:
    param = configparser.ConfigParser(interpolation=None)
    param.optionxform = str  # type: ignore[assignment,method-assign]
    param.read(farm / "deadline" / "UprezUpscale" / "UprezUpscale.param", encoding="utf-8")
    state = param["State"]
    assert (state["Type"], state["Items"]) == ("Enum", "Global Enabled;Opt-In;Disabled")
    asked: dict[str, str] = {}

    def entry(key: str, default: str) -> str:
        asked[key] = default
        return default

    plugin.read_settings(entry)
    assert set(asked) == set(param.sections()) - {"State"}
    for key, default in asked.items():
        assert param[key]["Default"] == default, key


# -- the job it submits ---------------------------------------------------------------------------


def test_the_uprez_command_line_splits_back_into_the_same_words(plugin: ModuleType) -> None:
    arguments = plugin.uprez_arguments(HOSTILE, "/shows/abc/sh 010/")
    assert arguments == ["upscale", "--json", "--output", "/shows/abc/sh 010/", "--", HOSTILE]
    line = plugin.command_line(arguments)
    assert split_like_windows(line) == arguments


def test_the_plugin_info_runs_uprez_without_a_shell(plugin: ModuleType) -> None:
    movie = "/shows/abc/sh010/out/sh010_v003.mov"
    assert plugin.plugin_info(movie, plugin.Settings(executable="/opt/uprez/bin/uprez")) == {
        "Executable": "/opt/uprez/bin/uprez",
        "Arguments": "upscale --json --output /shows/abc/sh010/out/ -- "
        "/shows/abc/sh010/out/sh010_v003.mov",
        "ShellExecute": "False",
        "SingleFramesOnly": "False",
    }


def test_a_hostile_movie_name_stays_one_argument(plugin: ModuleType) -> None:
    info = plugin.plugin_info(HOSTILE, plugin.Settings())
    assert info["ShellExecute"] == "False"
    assert info["Arguments"] == (
        'upscale --json --output "/shows/abc/sh 010/" -- '
        '"/shows/abc/sh 010/it\'s \\"final\\"; $(rm -rf ~) `touch x` & echo \\\\ v2.mov"'
    )
    assert split_like_windows(info["Arguments"])[-1] == HOSTILE


def test_a_windows_folder_keeps_its_trailing_backslash(plugin: ModuleType) -> None:
    movie = "P:\\abc\\sh 010\\sh010.mov"
    info = plugin.plugin_info(movie, plugin.Settings())
    assert info["Arguments"] == (
        'upscale --json --output "P:\\abc\\sh 010\\\\" -- "P:\\abc\\sh 010\\sh010.mov"'
    )
    assert split_like_windows(info["Arguments"])[3] == "P:\\abc\\sh 010\\"


def test_the_job_info_depends_on_the_render_and_says_how_often_to_retry(
    plugin: ModuleType,
) -> None:
    movie = "/shows/abc/sh010/out/sh010_v003.mov"
    assert plugin.job_info(render_job(plugin), movie, plugin.Settings()) == {
        "Plugin": "CommandLine",
        "Name": "sh010_comp_v003 [uprez] sh010_v003.mov",
        "BatchName": "sh010",
        "Comment": "uprez upscale, submitted by the UprezUpscale event plugin",
        "UserName": "ana",
        "Department": "comp",
        "Frames": "0",
        "ChunkSize": "1",
        "Priority": "60",
        "Pool": "comp",
        "Group": "linux",
        "JobDependencies": "65f0c0ffee",
        "OverrideTaskFailureDetection": "True",
        "FailureDetectionTaskErrors": "3",
        "EventOptIns": "UprezUpscale",
        "ExtraInfoKeyValue0": f"UprezSource={movie}",
        "OutputDirectory0": "/shows/abc/sh010/out/",
    }


def test_the_job_info_takes_the_settings_over_the_render_job(plugin: ModuleType) -> None:
    settings = plugin.Settings(
        priority=80,
        pool="uprez",
        group="gpu",
        limit_groups="uprez",
        task_errors=5,
        output_folder="/shows/abc/4k",
        output_template="{dir}/{stem}{ext}",
    )
    info = plugin.job_info(render_job(plugin), "/shows/abc/sh010/out/a.mov", settings)
    assert {key: info[key] for key in ("Priority", "Pool", "Group", "LimitGroups")} == {
        "Priority": "80",
        "Pool": "uprez",
        "Group": "gpu",
        "LimitGroups": "uprez",
    }
    assert info["FailureDetectionTaskErrors"] == "5"
    assert info["OutputDirectory0"] == "/shows/abc/4k/"
    assert info["EnvironmentKeyValue0"] == "UPREZ_OUTPUT__TEMPLATE={dir}/{stem}{ext}"


def test_a_job_name_with_line_breaks_cannot_add_lines_to_the_job_file(plugin: ModuleType) -> None:
    job = render_job(plugin, name="sh010\nPlugin=Python", batch_name="")
    info = plugin.job_info(job, "/shows/abc/a.mov", plugin.Settings())
    text = plugin.info_file_text(info)
    assert text.count("\n") == len(info)
    assert info["Name"] == "sh010 Plugin=Python [uprez] a.mov"


def test_a_job_file_entry_on_two_lines_is_refused(plugin: ModuleType) -> None:
    with pytest.raises(ValueError, match="one line"):
        plugin.info_file_text({"Arguments": "a\nExecutable=/bin/sh"})


@pytest.mark.parametrize(
    ("message", "code"),
    [
        ("Error: Process returned non-zero exit code '3'\n   at Deadline.Plugins...", 3),
        ("Process returned non-zero exit code '5'", 5),
        ("Exception during render: Monitored managed process is no longer running", None),
    ],
)
def test_the_exit_code_is_read_from_the_command_line_plugins_error(
    plugin: ModuleType, message: str, code: int | None
) -> None:
    assert plugin.reported_exit_code(message) == code


# -- the listener, driven as Deadline drives it ---------------------------------------------------


class _Event:
    """A .NET event as Deadline's Python sees one: handlers are added with ``+=``."""

    def __init__(self) -> None:
        self.handlers: list[Callable[..., None]] = []

    def __iadd__(self, handler: Callable[..., None]) -> _Event:
        self.handlers.append(handler)
        return self

    def __call__(self, *args: Any) -> None:
        for handler in self.handlers:
            handler(*args)


class _Deadline:
    """What the plugin uses of Deadline: the listener base, and the repository."""

    def __init__(self, temp: Path, config: dict[str, str]) -> None:
        self.temp = temp
        self.config = config
        self.submitted: list[tuple[dict[str, str], dict[str, str]]] = []
        self.failed: list[str] = []
        self.log: list[str] = []
        deadline = self

        class DeadlineEventListener:
            def __init__(self) -> None:
                self.OnJobFinishedCallback = _Event()
                self.OnJobErrorCallback = _Event()

            def GetConfigEntryWithDefault(self, key: str, default: str) -> str:
                return deadline.config.get(key, default)

            def LogInfo(self, message: str) -> None:
                deadline.log.append(message)

            def LogWarning(self, message: str) -> None:
                deadline.log.append("WARNING " + message)

        self.events = ModuleType("Deadline.Events")
        self.events.DeadlineEventListener = DeadlineEventListener  # type: ignore[attr-defined]
        self.scripting = ModuleType("Deadline.Scripting")
        self.scripting.ClientUtils = SimpleNamespace(  # type: ignore[attr-defined]
            GetDeadlineTempPath=lambda: str(temp)
        )
        self.scripting.RepositoryUtils = SimpleNamespace(  # type: ignore[attr-defined]
            SubmitJob=self._submit, FailJob=lambda job: self.failed.append(job.JobId)
        )

    def _submit(self, files: list[str]) -> Any:
        job_info, plugin_info = (
            dict(line.split("=", 1) for line in Path(f).read_text(encoding="utf-8").splitlines())
            for f in files
        )
        self.submitted.append((job_info, plugin_info))
        return SimpleNamespace(JobId=f"uprez{len(self.submitted)}")


@pytest.fixture
def deadline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[_Deadline]:
    stand_in = _Deadline(tmp_path, {})
    package = ModuleType("Deadline")
    monkeypatch.setitem(sys.modules, "Deadline", package)
    monkeypatch.setitem(sys.modules, "Deadline.Events", stand_in.events)
    monkeypatch.setitem(sys.modules, "Deadline.Scripting", stand_in.scripting)
    yield stand_in


@pytest.fixture
def in_deadline(
    deadline: _Deadline, farm: Path, load_recipe: Callable[[Path], ModuleType]
) -> ModuleType:
    """The plugin file, imported inside (a stand-in for) Deadline."""
    return load_recipe(farm / "deadline" / "UprezUpscale" / "UprezUpscale.py")


def deadline_job(**fields: Any) -> Any:
    """A Deadline.Jobs.Job as the event hands it over."""
    extra = fields.pop("extra", {})
    values: dict[str, Any] = {
        "JobId": "65f0c0ffee",
        "JobName": "sh010_comp_v003",
        "JobPlugin": "Nuke",
        "JobBatchName": "",
        "JobUserName": "ana",
        "JobDepartment": "",
        "JobPriority": 50,
        "JobPool": "none",
        "JobGroup": "none",
        "JobOutputDirectories": ["/shows/abc/sh010/out", "/shows/abc/sh010/out"],
        "JobOutputFileNames": ["sh010_v003.mov", "sh010_v003.####.exr"],
        "GetJobExtraInfoKeyValueWithDefault": lambda key, default: extra.get(key, default),
    }
    values.update(fields)
    return SimpleNamespace(**values)


def test_deadline_gets_a_listener_that_hooks_job_finished_and_job_error_and_cleans_up(
    in_deadline: ModuleType,
) -> None:
    listener = in_deadline.GetDeadlineEventListener()
    assert listener.OnJobFinishedCallback.handlers == [listener.OnJobFinished]
    assert listener.OnJobErrorCallback.handlers == [listener.OnJobError]
    in_deadline.CleanupDeadlineEventListener(listener)
    assert not hasattr(listener, "OnJobFinishedCallback")
    assert not hasattr(listener, "OnJobErrorCallback")


def test_a_finished_render_submits_one_uprez_job_per_movie_and_leaves_no_files(
    in_deadline: ModuleType, deadline: _Deadline, tmp_path: Path
) -> None:
    deadline.config.update({"Executable": "/opt/uprez/bin/uprez", "Pool": "uprez"})
    listener = in_deadline.GetDeadlineEventListener()
    listener.OnJobFinishedCallback(deadline_job())
    [(job_info, plugin_info)] = deadline.submitted
    assert job_info["Plugin"] == "CommandLine"
    assert job_info["JobDependencies"] == "65f0c0ffee"
    assert job_info["Pool"] == "uprez"
    assert plugin_info == {
        "Executable": "/opt/uprez/bin/uprez",
        "Arguments": "upscale --json --output /shows/abc/sh010/out/ -- "
        "/shows/abc/sh010/out/sh010_v003.mov",
        "ShellExecute": "False",
        "SingleFramesOnly": "False",
    }
    assert list(tmp_path.iterdir()) == []
    assert any("sh010_v003.####.exr skipped: an image sequence" in line for line in deadline.log)
    assert any("submitted job uprez1" in line for line in deadline.log)


def test_the_uprez_job_finishing_submits_nothing(
    in_deadline: ModuleType, deadline: _Deadline
) -> None:
    job = deadline_job(JobPlugin="CommandLine", extra={"UprezSource": "/shows/abc/a.mov"})
    in_deadline.GetDeadlineEventListener().OnJobFinishedCallback(job)
    assert deadline.submitted == []


def test_a_job_the_filter_leaves_out_submits_nothing(
    in_deadline: ModuleType, deadline: _Deadline
) -> None:
    deadline.config["JobPlugins"] = "AfterEffects"
    in_deadline.GetDeadlineEventListener().OnJobFinishedCallback(deadline_job())
    assert deadline.submitted == []
    assert any("not one of AfterEffects" in line for line in deadline.log)


@pytest.mark.parametrize("code", [2, 3, 4, 6])
def test_an_uprez_job_that_exited_with_a_code_no_retry_fixes_is_failed_at_once(
    in_deadline: ModuleType, deadline: _Deadline, code: int
) -> None:
    job = deadline_job(JobId="uprez1", extra={"UprezSource": "/shows/abc/a.mov"})
    report = SimpleNamespace(ReportMessage=f"Error: Process returned non-zero exit code '{code}'")
    in_deadline.GetDeadlineEventListener().OnJobErrorCallback(job, None, report)
    assert deadline.failed == ["uprez1"]


@pytest.mark.parametrize("code", [1, 5, 130])
def test_an_uprez_job_that_may_succeed_on_a_retry_is_left_to_deadline(
    in_deadline: ModuleType, deadline: _Deadline, code: int
) -> None:
    job = deadline_job(JobId="uprez1", extra={"UprezSource": "/shows/abc/a.mov"})
    report = SimpleNamespace(ReportMessage=f"Error: Process returned non-zero exit code '{code}'")
    in_deadline.GetDeadlineEventListener().OnJobErrorCallback(job, None, report)
    assert deadline.failed == []


def test_errors_of_other_jobs_are_none_of_its_business(
    in_deadline: ModuleType, deadline: _Deadline
) -> None:
    report = SimpleNamespace(ReportMessage="Error: Process returned non-zero exit code '3'")
    in_deadline.GetDeadlineEventListener().OnJobErrorCallback(deadline_job(), None, report)
    assert deadline.failed == []
