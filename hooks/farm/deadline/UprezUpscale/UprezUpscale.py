"""uprez for Deadline: when a render job finishes, upscale the movies it wrote.

Install: copy this folder (``UprezUpscale.py`` and ``UprezUpscale.param``) to
``<DeadlineRepository>/custom/events/UprezUpscale/``, then set it up in Deadline Monitor
(Tools > Configure Events > UprezUpscale): ``Global Enabled``, or ``Opt-In`` for the jobs that
list ``UprezUpscale`` in their ``EventOptIns``.

The event never runs uprez itself: an event plugin runs inside Deadline (the Worker, Launcher or
Monitor that saw the event) and must not hold it up for the minutes an upscale takes. For each
movie a finished render job wrote, it submits a Command Line job that runs::

    uprez upscale --json --output <folder>/ -- <movie>

Deadline then retries that job as it retries any other, up to the "Retries" setting
(``FailureDetectionTaskErrors``). Deadline has no per-exit-code retry rule, and its Command Line
plugin fails the task on any non-zero exit. So the same event plugin also listens to
``OnJobError`` for the jobs it submitted: when uprez exited 2, 3, 4 or 6 (a config, input or
budget refused, or a task only ``--resubmit`` can recover; retrying cannot help) it fails the
job at once, and exit 5 (the service failed; a rerun resumes at no new cost) is retried.

The functions before the listener are plain Python: they build what the listener hands to
Deadline and are tested outside Deadline, where its ``Deadline.*`` modules do not exist.
Deadline 10 runs event plugins on Python 3 (3.7 or newer); this file keeps to 3.7.
"""

from __future__ import annotations

import ntpath
import os
import posixpath
import re
import subprocess
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

try:  # Deadline's API exists only inside Deadline's own Python.
    from Deadline.Events import DeadlineEventListener
    from Deadline.Scripting import ClientUtils, RepositoryUtils
except ImportError:  # Elsewhere (tests, linters, a TD's shell) the plain functions still import.
    DeadlineEventListener = object
    ClientUtils = RepositoryUtils = None

PLUGIN_NAME = "UprezUpscale"

# The extra-info key that marks the jobs this plugin submitted: its value is the movie.
SOURCE_KEY = "UprezSource"

# uprez's exit codes that no retry can fix (the README's exit-code table).
NO_RETRY_EXIT_CODES = frozenset({2, 3, 4, 6})

# Frame-number placeholders: such an output is an image sequence, not a movie.
_PADDING = re.compile(r"#+|%0?\d*d|\$F\d*")

# What the Command Line plugin rewrites in its Arguments before it runs the program: tags such
# as <QUOTE> or <STARTFRAME> (case-insensitive), and curly double quotes (into plain ones).
# A path holding one would change the command line, so such a path is refused.
_ARGUMENT_TAG = re.compile(r"<[A-Za-z][^<>]*>")
_CURLY_QUOTES = ("\u201c", "\u201d")


@dataclass(frozen=True)
class Settings:
    """The plugin's settings (``UprezUpscale.param``), read in Monitor's Configure Events."""

    plugins: tuple[str, ...] = ()  # render plugins whose jobs qualify; empty: any
    name_pattern: str = ""  # a regular expression the job name must contain; empty: any
    extensions: tuple[str, ...] = ("mov", "mp4", "mkv", "avi", "webm")
    executable: str = "uprez"
    output_folder: str = ""  # empty: the movie's own folder
    output_template: str = ""  # uprez's output.template; empty: uprez's config decides
    priority: int = -1  # -1: the render job's
    pool: str = ""  # empty: the render job's
    group: str = ""  # empty: the render job's
    limit_groups: str = ""
    task_errors: int = 3  # errors before Deadline fails the task (exit 5 and the like)


@dataclass(frozen=True)
class RenderJob:
    """What the plugin reads of a finished Deadline job."""

    job_id: str
    name: str
    plugin: str
    batch_name: str = ""
    user: str = ""
    department: str = ""
    priority: int = 50
    pool: str = ""
    group: str = ""
    output_directories: tuple[str, ...] = ()
    output_file_names: tuple[str, ...] = ()
    uprez_source: str = ""  # set on the jobs this plugin submitted


@dataclass(frozen=True)
class Output:
    """One output of a render job: its full path, and why it is not upscaled (None: it is)."""

    path: str
    skip: str | None = None


def _split(text: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in re.split(r"[;,]", text) if part.strip())


def read_settings(entry: Callable[[str, str], str]) -> Settings:
    """The settings from ``entry(key, default)``: Deadline's ``GetConfigEntryWithDefault``."""
    defaults = Settings()

    def number(key: str, default: int) -> int:
        text = entry(key, str(default)).strip()
        try:
            return int(text)
        except ValueError:
            return default

    return Settings(
        plugins=_split(entry("JobPlugins", "")),
        name_pattern=entry("JobNamePattern", "").strip(),
        extensions=tuple(
            e.lower().lstrip(".")
            for e in _split(entry("Extensions", ";".join(defaults.extensions)))
        ),
        executable=entry("Executable", defaults.executable).strip() or defaults.executable,
        output_folder=entry("OutputFolder", "").strip(),
        output_template=entry("OutputTemplate", "").strip(),
        priority=number("Priority", defaults.priority),
        pool=entry("Pool", "").strip(),
        group=entry("Group", "").strip(),
        limit_groups=entry("LimitGroups", "").strip(),
        task_errors=max(1, number("Retries", defaults.task_errors)),
    )


def read_job(job: Any) -> RenderJob:
    """A snapshot of a ``Deadline.Jobs.Job``: its properties, and its output paths."""
    return RenderJob(
        job_id=str(job.JobId),
        name=str(job.JobName),
        plugin=str(job.JobPlugin),
        batch_name=str(job.JobBatchName or ""),
        user=str(job.JobUserName or ""),
        department=str(job.JobDepartment or ""),
        priority=int(job.JobPriority),
        pool=str(job.JobPool or ""),
        group=str(job.JobGroup or ""),
        output_directories=tuple(str(d) for d in job.JobOutputDirectories or ()),
        output_file_names=tuple(str(n) for n in job.JobOutputFileNames or ()),
        uprez_source=str(job.GetJobExtraInfoKeyValueWithDefault(SOURCE_KEY, "")),
    )


def job_skip_reason(job: RenderJob, settings: Settings) -> str | None:
    """Why the finished ``job`` gets no upscale, or None when its movies are upscaled."""
    if job.uprez_source:
        return "it is an uprez job"
    if settings.plugins and job.plugin.lower() not in {p.lower() for p in settings.plugins}:
        return f"its plugin {job.plugin} is not one of {', '.join(settings.plugins)}"
    if settings.name_pattern:
        try:
            found = re.search(settings.name_pattern, job.name)
        except re.error as exc:
            return (
                f"the job name pattern {settings.name_pattern!r} is not a regular expression: {exc}"
            )
        if not found:
            return f"its name does not match {settings.name_pattern!r}"
    return None


def _is_windows(path: str) -> bool:
    """Whether ``path`` is a Windows one (a drive or a UNC share): the event may run on Windows
    for a job whose paths are Linux ones, or the other way round, so the path says, not the
    machine. A Linux name may hold a backslash."""
    return bool(re.match(r"^(?:[A-Za-z]:|\\\\)", path))


def join_output(directory: str, file_name: str) -> str:
    """``file_name`` in ``directory``, with the directory's own kind of separator."""
    if _is_windows(directory):
        return ntpath.join(directory, file_name)
    return posixpath.join(directory, file_name)


def _is_absolute(path: str) -> bool:
    return posixpath.isabs(path) or bool(re.match(r"^(?:[A-Za-z]:[\\/]|\\\\)", path))


def unsafe_reason(path: str) -> str | None:
    """Why ``path`` cannot be put on the job's command line as it is, or None when it can."""
    if any(ord(c) < 32 or ord(c) == 127 for c in path):
        return "it holds a control character (a line break would add lines to the job files)"
    if _ARGUMENT_TAG.search(path):
        return "it holds a <tag> that Deadline's Command Line plugin would replace"
    if any(q in path for q in _CURLY_QUOTES):
        return "it holds a curly quote that Deadline's Command Line plugin turns into a plain one"
    if not _is_absolute(path):
        return "it is not an absolute path"
    return None


def job_outputs(job: RenderJob, settings: Settings) -> list[Output]:
    """Every output of ``job`` (``JobOutputDirectories[i]`` joined with
    ``JobOutputFileNames[i]``), each with the reason it is skipped, if it is."""
    outputs = []
    for index, file_name in enumerate(job.output_file_names):
        if index >= len(job.output_directories) or not file_name.strip():
            continue
        path = join_output(job.output_directories[index], file_name)
        base = ntpath.basename(path)
        extension = posixpath.splitext(base)[1].lower().lstrip(".")
        skip = None
        if _PADDING.search(base):
            skip = "an image sequence (padded frame numbers); uprez upscales movies"
        elif extension not in settings.extensions:
            skip = f"not a movie ({', '.join(settings.extensions)})"
        else:
            skip = unsafe_reason(path) or unsafe_reason(output_folder(path, settings))
        outputs.append(Output(path, skip))
    return outputs


def output_folder(movie: str, settings: Settings) -> str:
    """Where the result goes, with a trailing separator: uprez's ``-o FOLDER/`` (the folder must
    exist; the result is named by uprez's ``output.template`` there)."""
    if _is_windows(movie):
        return ntpath.join(settings.output_folder or ntpath.dirname(movie), "")
    return posixpath.join(settings.output_folder or posixpath.dirname(movie), "")


def uprez_arguments(movie: str, folder: str) -> list[str]:
    """uprez's arguments, each one as the program must receive it. ``--`` ends the options, so a
    movie is never read as one."""
    return ["upscale", "--json", "--output", folder, "--", movie]


def command_line(arguments: Sequence[str]) -> str:
    """``arguments`` as one Arguments string that Deadline splits back into the same list.

    The Command Line plugin (with ShellExecute off) hands the string to the program without a
    shell, where it is split by the Microsoft C runtime's rules: on Windows by the program
    itself, and on Linux and macOS by .NET, which follows the same rules. So ``;``, ``$()``
    and quotes are plain characters there; ``subprocess.list2cmdline`` writes those rules."""
    return subprocess.list2cmdline(list(arguments))


def job_info(job: RenderJob, movie: str, settings: Settings) -> dict[str, str]:
    """The Command Line job's JobInfo for ``movie``, an output of ``job``."""
    folder = output_folder(movie, settings)
    info = {
        "Plugin": "CommandLine",
        "Name": _one_line(f"{job.name} [uprez] {ntpath.basename(movie)}"),
        "BatchName": _one_line(job.batch_name or job.name),
        "Comment": "uprez upscale, submitted by the UprezUpscale event plugin",
        "UserName": _one_line(job.user),
        "Department": _one_line(job.department),
        "Frames": "0",
        "ChunkSize": "1",
        "Priority": str(job.priority if settings.priority < 0 else min(settings.priority, 100)),
        "Pool": _one_line(settings.pool or job.pool),
        "Group": _one_line(settings.group or job.group),
        "LimitGroups": _one_line(settings.limit_groups),
        "JobDependencies": job.job_id,
        # Deadline's own retry limit: every failure counts, whatever the exit code...
        "OverrideTaskFailureDetection": "True",
        "FailureDetectionTaskErrors": str(settings.task_errors),
        # ...and this plugin hears the errors of this job even when it is Opt-In, so it can
        # fail the job at once on the exit codes no retry can fix.
        "EventOptIns": PLUGIN_NAME,
        "ExtraInfoKeyValue0": f"{SOURCE_KEY}={movie}",
        "OutputDirectory0": folder,
    }
    if settings.output_template:
        info["EnvironmentKeyValue0"] = f"UPREZ_OUTPUT__TEMPLATE={settings.output_template}"
    return {key: value for key, value in info.items() if value != ""}


def plugin_info(movie: str, settings: Settings) -> dict[str, str]:
    """The Command Line plugin's PluginInfo: uprez, its arguments, and no shell."""
    return {
        "Executable": settings.executable,
        "Arguments": command_line(uprez_arguments(movie, output_folder(movie, settings))),
        "ShellExecute": "False",
        "SingleFramesOnly": "False",
    }


def _one_line(text: str) -> str:
    return re.sub(r"[\x00-\x1f\x7f]+", " ", text).strip()


def info_file_text(info: Mapping[str, str]) -> str:
    """A JobInfo or PluginInfo file: ``Key=Value`` lines."""
    for key, value in info.items():
        if _one_line(key) != key or "=" in key or _one_line(value) != value.strip():
            raise ValueError(f"{key!r}: a job file entry must be one line")
    return "".join(f"{key}={value}\n" for key, value in info.items())


# The Command Line plugin's failure message: "Process returned non-zero exit code '3'".
_EXIT_CODE = re.compile(r"non-zero exit code\D{0,3}(-?\d+)", re.IGNORECASE)


def reported_exit_code(report_message: str) -> int | None:
    """The exit code in a Command Line task's error report, or None."""
    match = _EXIT_CODE.search(report_message or "")
    return int(match.group(1)) if match else None


def submit(job_info_entries: Mapping[str, str], plugin_info_entries: Mapping[str, str]) -> str:
    """Submit one job through the repository (no ``deadlinecommand`` process); its id."""
    folder = ClientUtils.GetDeadlineTempPath()
    files = []
    try:
        for name, entries in (("job_info", job_info_entries), ("plugin_info", plugin_info_entries)):
            handle, path = tempfile.mkstemp(prefix=f"uprez_{name}_", suffix=".job", dir=folder)
            files.append(path)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(info_file_text(entries))
        submitted = RepositoryUtils.SubmitJob(files)
    finally:
        for path in files:
            os.remove(path)
    return str(getattr(submitted, "JobId", submitted))


# Deadline's names, in Deadline's style, from here on.


def GetDeadlineEventListener() -> UprezUpscaleListener:
    """Deadline calls this to get the plugin's listener."""
    return UprezUpscaleListener()


def CleanupDeadlineEventListener(eventListener: UprezUpscaleListener) -> None:
    """Deadline calls this when the plugin is no longer in use."""
    eventListener.Cleanup()


class UprezUpscaleListener(DeadlineEventListener):  # type: ignore[misc]
    """Submits an uprez job for each movie of a finished render job, and fails an uprez job at
    once when uprez exited with a code that no retry can fix."""

    def __init__(self) -> None:
        super().__init__()
        self.OnJobFinishedCallback += self.OnJobFinished
        self.OnJobErrorCallback += self.OnJobError

    def Cleanup(self) -> None:
        del self.OnJobFinishedCallback
        del self.OnJobErrorCallback

    def settings(self) -> Settings:
        return read_settings(self.GetConfigEntryWithDefault)

    def OnJobFinished(self, job: Any) -> None:
        render = read_job(job)
        settings = self.settings()
        reason = job_skip_reason(render, settings)
        if reason is not None:
            if not render.uprez_source:
                self.LogInfo(f"uprez: job {render.name} ({render.job_id}) skipped: {reason}")
            return
        for output in job_outputs(render, settings):
            if output.skip is not None:
                self.LogInfo(f"uprez: {output.path} skipped: {output.skip}")
                continue
            try:
                job_id = submit(
                    job_info(render, output.path, settings), plugin_info(output.path, settings)
                )
            except Exception as exc:  # one movie's failure does not cost the others theirs
                self.LogWarning(f"uprez: could not submit the upscale of {output.path}: {exc}")
                continue
            self.LogInfo(f"uprez: submitted job {job_id} to upscale {output.path}")

    def OnJobError(self, job: Any, task: Any, report: Any) -> None:
        source = str(job.GetJobExtraInfoKeyValueWithDefault(SOURCE_KEY, ""))
        if not source:
            return
        code = reported_exit_code(str(report.ReportMessage))
        if code in NO_RETRY_EXIT_CODES:
            self.LogWarning(
                f"uprez exited {code} on {source}: retrying cannot help (see the task's log); "
                f"failing job {job.JobId}"
            )
            RepositoryUtils.FailJob(job)
