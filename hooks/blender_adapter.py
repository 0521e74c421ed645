"""uprez for Blender: upscale the rendered movie or frames to 4K in the background, never waiting.

A single-file Blender add-on (Blender 3.6+; an extension on 4.2+). It runs inside Blender's own
Python, which usually does not have uprez installed: it does not import uprez, it starts the
``uprez`` command line in a separate process.

Install
-------
* ``uprez blender install``: writes this file as ``uprez_blender.py`` into the add-ons folder of
  the newest Blender found in your user folder, or of ``$BLENDER_USER_RESOURCES`` when that is
  set (``--dir DIR`` for another one), then enable *uprez: upscale renders to 4K* in
  Preferences > Add-ons.
* ``uprez blender install --extension``: Blender 4.2+, writes an extension folder
  ``uprez/`` (``__init__.py`` + ``blender_manifest.toml``) into ``extensions/user_default``.
* Or by hand: ``uprez blender path`` prints where this file is; in Blender, Preferences >
  Add-ons > Install from Disk... and pick it.
* Keep one of the two enabled. With both, each registers its own handlers and only the first
  in Blender's list acts, so a render is upscaled once; disabling either leaves the other
  working (its handlers, its menu entry and the operator).

What it does
------------
* **After a render** (``render_complete``, a ``@persistent`` handler so it survives loading
  other .blend files): when the scene renders to a movie (File Format *FFmpeg Video*) and this
  render wrote it, it starts ``uprez upscale <movie> --json`` as a detached process and returns
  at once. Still renders (F12 with a movie format writes nothing) and a movie it already sent
  unchanged are skipped. With the scene's *Overwrite* output option on (Blender's default),
  ``--overwrite`` is passed, so a re-render replaces the 4K file too. With it off, Blender
  still rewrites the movie, and uprez still replaces a 4K file that it made from an earlier
  render of this very movie (its sidecar and journal say so); any other file at that path is
  left alone, and the job says so in its log.
* **Image sequences** (File Format PNG, OpenEXR, TIFF or DPX): once, after the last frame of
  an animation render (``render_complete`` runs once for the whole animation), when every frame
  of the scene's range (``frame_start``..``frame_end``) is there and this render wrote at least
  one of them, it starts ``uprez upscale <pattern> --fps <rate> --json`` (``sh010_####.exr``;
  the rate ``render.fps / render.fps_base``, 24000/1001 for 23.976). Not started, with the
  reason on the console: a frame missing or empty (Placeholders), a *Frame Step* other than 1,
  a range below 0, frames of the same name outside the range (an older, longer render: uprez
  would take them too; move them away), or another format (OpenEXR MultiLayer, JPEG...). A
  still render (F12) writes none of the frames and is skipped; frames already sent unchanged
  are not sent again.
* **On demand**: Render > *Upscale Render to 4K (uprez)* (operator ``render.uprez_upscale``)
  does the same for the current scene's movie or frames and reports in the status bar.
* **Where things go**: the 4K result beside the movie, ``<stem>_4k.mp4`` (frames:
  ``<stem>_4k.####.exr``, numbered as rendered) unless the uprez config's ``output.template``
  says otherwise, and everything uprez prints, its JSON result last, in ``<movie>.uprez.log``
  (``<pattern>.uprez.log``) beside it. Blender's console says both when the
  job starts, and says when it has finished (checked every two seconds, never waiting).

Settings (Preferences > Add-ons > uprez, or the environment for farms and launchers)
-----------------------------------------------------------------------------------
* *Upscale after each render* (default on). ``UPREZ_BLENDER_AUTO=0`` turns it off whatever the
  preference says (a kill switch for farm nodes).
* *uprez executable*: the preference, else ``$UPREZ_EXECUTABLE``, else ``uprez`` on ``PATH``,
  else ``<Blender's python> -m uprez`` when Blender's Python can import uprez.
* *Extra arguments* for ``uprez upscale`` (for example ``--provider local`` or
  ``--config /studio/uprez.toml``): the preference, else ``$UPREZ_BLENDER_ARGS``.
* The uprez config itself comes as usual from ``$UPREZ_CONFIG``, ``UPREZ_*`` variables and
  ``WAVESPEED_API_KEY`` in the environment Blender was started with.
"""

# No ``from __future__ import annotations`` here: Blender registers properties from class
# annotations, which must stay ``bpy.props`` calls rather than strings.

import contextlib
import importlib.util
import json
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from fractions import Fraction
from typing import Any, TypeVar

import bpy

bl_info = {
    "name": "uprez: upscale renders to 4K",
    "author": "uprez",
    "version": (0, 1, 0),
    "blender": (3, 6, 0),
    "location": "Render > Upscale Render to 4K (uprez); runs after each animation render",
    "description": "Upscale the rendered movie or frames to 4K with uprez, in the background",
    "category": "Render",
}

#: ``bl_info["version"]`` as text (Blender reads ``bl_info`` as a literal, so it is repeated
#: here and in the manifest; a test keeps the three equal to uprez's version).
ADDON_VERSION = "0.1.0"

#: ``blender_manifest.toml`` of the extension layout (Blender 4.2+), written by
#: ``uprez blender install --extension`` beside this file saved as ``__init__.py``. A plain
#: literal, so that the installer reads it without running this file (no Blender there).
BLENDER_MANIFEST = """\
schema_version = "1.0.0"

id = "uprez"
version = "0.1.0"
name = "uprez: upscale renders to 4K"
tagline = "Upscale rendered movies to 4K in the background with uprez"
maintainer = "uprez maintainers"
type = "add-on"
tags = ["Render"]

blender_version_min = "4.2.0"

license = [
  "SPDX:MIT",
]

[permissions]
files = "Read the rendered movie and write its 4K version beside it"
network = "Upload the movie to the upscaling service, via the uprez CLI"
"""

AUTO_ENV = "UPREZ_BLENDER_AUTO"
ARGS_ENV = "UPREZ_BLENDER_ARGS"
EXECUTABLE_ENV = "UPREZ_EXECUTABLE"

#: Blender's file extensions per ``scene.render.ffmpeg.format`` (``get_file_extensions`` in
#: its sources); the first one is what Blender appends to an output path without one.
MOVIE_EXTENSIONS: dict[str, tuple[str, ...]] = {
    "MPEG1": (".mpg", ".mpeg"),
    "MPEG2": (".dvd", ".vob", ".mpg", ".mpeg"),
    "MPEG4": (".mp4", ".mpg", ".mpeg"),
    "AVI": (".avi",),
    "QUICKTIME": (".mov",),
    "DV": (".dv",),
    "FLASH": (".flv",),
    "MKV": (".mkv",),
    "OGG": (".ogv", ".ogg"),
    "WEBM": (".webm",),
    "AV1": (".mp4", ".mkv"),
}
#: File formats that write one movie file (``AVI_*`` exist up to Blender 4.1); None: the
#: extensions depend on ``scene.render.ffmpeg.format``.
MOVIE_FILE_FORMATS: dict[str, tuple[str, ...] | None] = {
    "FFMPEG": None,
    "AVI_JPEG": (".avi",),
    "AVI_RAW": (".avi",),
}
#: Image formats whose sequences uprez upscales, and the extension Blender gives their frames.
SEQUENCE_FORMATS: dict[str, str] = {
    "PNG": ".png",
    "OPEN_EXR": ".exr",
    "TIFF": ".tif",
    "DPX": ".dpx",
}
#: What the upscaling service takes as input (``uprez.protocol.VIDEO_EXTENSIONS``).
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".avi", ".mov", ".wmv", ".flv", ".webm", ".mkv", ".3gp", ".ogv"}
)
#: How often Blender's timer looks at running jobs (it never waits on one).
POLL_SECONDS = 2.0
_FALSE = {"0", "false", "no", "off"}

log = logging.getLogger("uprez.blender")


class UprezNotFound(RuntimeError):
    """No way to run the uprez command line from this Blender."""


# -- settings ----------------------------------------------------------------------------------


def _preferences() -> Any:
    """This add-on's preferences, or None (not registered, or not inside Blender's UI)."""
    try:
        entry = bpy.context.preferences.addons.get(__name__)
    except Exception:  # a restricted context (while registering), or no UI at all
        return None
    return None if entry is None else getattr(entry, "preferences", None)


def auto_upscale_enabled() -> bool:
    """Upscale after each render? The preference (default on), unless ``UPREZ_BLENDER_AUTO=0``."""
    if os.environ.get(AUTO_ENV, "").strip().lower() in _FALSE:
        return False
    prefs = _preferences()
    return bool(getattr(prefs, "auto_upscale", True))


def extra_args() -> list[str]:
    """Arguments added to ``uprez upscale``: the preference, else ``$UPREZ_BLENDER_ARGS``."""
    text = str(getattr(_preferences(), "extra_args", "") or "").strip()
    if not text:
        text = os.environ.get(ARGS_ENV, "")
    return shlex.split(text, posix=os.name != "nt")


def _uprez_importable() -> bool:
    try:
        return importlib.util.find_spec("uprez") is not None
    except (ImportError, ValueError):
        return False


def _as_command(text: str) -> list[str]:
    """A path to an executable (spaces allowed), or a small command line such as
    ``/opt/py/bin/python -m uprez``."""
    text = text.strip()
    if os.path.isfile(text) or shutil.which(text):
        return [text]
    return shlex.split(text, posix=os.name != "nt")


def find_executable(explicit: str | Sequence[str] | None = None) -> list[str]:
    """The command that runs uprez: ``explicit``, the preference, ``$UPREZ_EXECUTABLE``,
    ``uprez`` on ``PATH``, or ``<python> -m uprez`` when this Python can import uprez."""
    if explicit:
        return _as_command(explicit) if isinstance(explicit, str) else list(explicit)
    for text in (
        str(getattr(_preferences(), "executable", "") or ""),
        os.environ.get(EXECUTABLE_ENV, ""),
    ):
        if text.strip():
            return _as_command(bpy.path.abspath(text.strip()))
    found = shutil.which("uprez")
    if found:
        return [found]
    if _uprez_importable():
        return [sys.executable, "-m", "uprez"]
    raise UprezNotFound(
        "uprez: cannot find the uprez command: install it (pip install uprez) and set its path "
        "in Preferences > Add-ons > uprez, or in the UPREZ_EXECUTABLE environment variable"
    )


# -- which movie -------------------------------------------------------------------------------


def _last_hash_run(path: str) -> tuple[int, int] | None:
    head = max(path.rfind("/"), path.rfind("\\")) + 1
    runs = list(re.finditer(r"#+", path[head:]))
    return (head + runs[-1].start(), head + runs[-1].end()) if runs else None


def _with_frame_range(path: str, start: int, end: int, *, ensure: bool) -> str:
    """Blender's ``BLI_path_frame_range``: the last ``#`` run of the file name becomes
    ``start-end`` (zero-padded to its length); with ``ensure``, ``####`` is appended first
    when the name has none."""
    found = _last_hash_run(path)
    if found is None:
        if not ensure:
            return path
        path += "####"
        found = _last_hash_run(path)
        assert found is not None
    first, last = found
    width = last - first
    return f"{path[:first]}{start:0{width}d}-{end:0{width}d}{path[last:]}"


def movie_path(
    filepath: str,
    extensions: Sequence[str],
    start: int,
    end: int,
    *,
    use_file_extension: bool = True,
) -> str:
    """The file Blender writes a movie to, from the output path (``ffmpeg_filepath_get``)."""
    if use_file_extension:
        if filepath.lower().endswith(tuple(extensions)):
            return filepath
        return _with_frame_range(filepath, start, end, ensure=True) + extensions[0]
    return _with_frame_range(filepath, start, end, ensure=False)


def _absolute(path: str) -> str:
    return os.path.normpath(os.path.abspath(str(bpy.path.abspath(path))))


def rendered_movie(scene: Any) -> str | None:
    """The absolute path of the movie the scene renders to; None when it renders images."""
    render = scene.render
    settings = render.image_settings
    file_format = str(settings.file_format)
    if file_format not in MOVIE_FILE_FORMATS and getattr(settings, "media_type", "") != "VIDEO":
        return None
    extensions = MOVIE_FILE_FORMATS.get(file_format)
    if extensions is None:
        extensions = MOVIE_EXTENSIONS.get(str(render.ffmpeg.format), (".mp4",))
    use_extension = bool(getattr(render, "use_file_extension", True))
    try:
        # Blender's own answer: for a movie format, the whole movie's path.
        path = str(render.frame_path(frame=scene.frame_start))
    except (AttributeError, TypeError, RuntimeError):
        path = ""
    if path and (not use_extension or path.lower().endswith(tuple(extensions))):
        return _absolute(path)
    # An older or unusual frame_path that answered with a frame: name it as Blender does.
    named = movie_path(
        str(bpy.path.abspath(str(render.filepath))),
        extensions,
        int(scene.frame_start),
        int(scene.frame_end),
        use_file_extension=use_extension,
    )
    return _absolute(named)


def log_path(movie: str) -> str:
    """``<movie>.uprez.log``: everything the job prints, its JSON result last."""
    return f"{movie}.uprez.log"


# -- which frames ------------------------------------------------------------------------------


class Frames:
    """The image sequence an animation render of a scene writes: its frames' paths (absolute,
    ``frame_start``..``frame_end`` by ``frame_step``), the pattern uprez is given (``####`` for
    the number; None when the names do not follow Blender's rule), its rate for ``--fps``."""

    __slots__ = ("file_format", "first", "last", "numbers", "paths", "pattern", "rate", "step")

    def __init__(
        self,
        pattern: "str | None",
        numbers: list[int],
        paths: list[str],
        rate: str,
        file_format: str,
        step: int,
    ) -> None:
        self.pattern = pattern
        self.numbers = numbers
        self.paths = paths
        self.rate = rate
        self.file_format = file_format
        self.step = step
        self.first, self.last = numbers[0], numbers[-1]

    @property
    def key(self) -> str:
        """What the add-on knows this sequence by."""
        return self.pattern or self.paths[0]


def frame_rate(render: Any) -> str:
    """``render.fps / render.fps_base`` exactly, as ``--fps`` takes it: ``24``, ``24000/1001``."""
    base = Fraction(float(getattr(render, "fps_base", 1.0) or 1.0)).limit_denominator(10000)
    return str(Fraction(int(render.fps)) / base)


def sequence_pattern(
    first_path: str, last_path: str, first: int, last: int, filepath: str
) -> "str | None":
    """The pattern of frames ``first_path``..``last_path``: Blender writes the frame number over
    the last ``#`` run of the output name (zero-padded to its length), or appends it with 4
    digits; that run becomes ``#`` again. None when the paths do not follow that rule."""
    found = _last_hash_run(filepath)
    width = found[1] - found[0] if found else 4
    folder, name = os.path.split(first_path)
    token = f"{first:0{width}d}"
    at = name.rfind(token)
    if at < 0:
        return None
    head, tail = name[:at], name[at + len(token) :]
    if os.path.join(folder, f"{head}{last:0{width}d}{tail}") != last_path:
        return None
    return os.path.join(folder, f"{head}{'#' * width}{tail}")


def rendered_frames(scene: Any) -> "Frames | None":
    """The image sequence an animation render of the scene writes; None when it renders a
    movie."""
    render = scene.render
    settings = render.image_settings
    file_format = str(settings.file_format)
    if file_format in MOVIE_FILE_FORMATS or getattr(settings, "media_type", "") == "VIDEO":
        return None
    step = max(1, int(getattr(scene, "frame_step", 1) or 1))
    numbers = list(range(int(scene.frame_start), int(scene.frame_end) + 1, step))
    if not numbers:
        return None
    paths = [_absolute(str(render.frame_path(frame=n))) for n in numbers]
    filepath = str(bpy.path.abspath(str(render.filepath)))
    pattern = sequence_pattern(paths[0], paths[-1], numbers[0], numbers[-1], filepath)
    return Frames(pattern, numbers, paths, frame_rate(render), file_format, step)


def frames_beside(frames: Frames) -> list[int]:
    """Frames of the same name outside the scene's range (an older, longer render), which
    ``uprez upscale <pattern>`` would take too."""
    if frames.pattern is None:
        return []
    folder, name = os.path.split(frames.pattern)
    run = re.search(r"#+(?!.*#)", name)
    assert run is not None, "a pattern has a # run"
    width = run.end() - run.start()
    pattern = re.compile(re.escape(name[: run.start()]) + r"(-?\d+)" + re.escape(name[run.end() :]))
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    wanted = set(frames.numbers)
    found = []
    for each in names:
        match = pattern.fullmatch(each)
        if match and f"{int(match[1]):0{width}d}" == match[1] and int(match[1]) not in wanted:
            found.append(int(match[1]))
    return sorted(found)


def _ranges(numbers: Iterable[int]) -> str:
    """``1001-1003, 1010``: frame numbers said compactly."""
    runs: list[list[int]] = []
    for number in sorted(numbers):
        if runs and number == runs[-1][1] + 1:
            runs[-1][1] = number
        else:
            runs.append([number, number])
    return ", ".join(str(a) if a == b else f"{a}-{b}" for a, b in runs)


def why_not_frames(frames: Frames, stamps: "Sequence[tuple[int, int] | None]") -> str:
    """Why the rendered ``frames`` (their ``stamps`` now) are not upscaled ("" when they are)."""
    missing = [
        n for n, stamp in zip(frames.numbers, stamps, strict=True) if not stamp or not stamp[1]
    ]
    if missing:
        range_ = f"{frames.first}-{frames.last}"
        return f"frames {_ranges(missing)} of the range {range_} are missing or empty"
    if frames.file_format not in SEQUENCE_FORMATS:
        return (
            f"uprez takes PNG, OpenEXR, TIFF and DPX frames, not {frames.file_format}: choose one "
            "in Output Properties > Output"
        )
    if frames.step != 1:
        return f"Frame Step is {frames.step}: uprez takes every frame of a range"
    if frames.first < 0:
        return "the range starts below 0: Blender pads negative frame numbers its own way"
    if frames.pattern is None:
        return f"the frames' names ({os.path.basename(frames.paths[0])}...) follow no pattern"
    if not frames.pattern.lower().endswith(SEQUENCE_FORMATS[frames.file_format]):
        return "the frames have no file extension: turn File Extensions on in Output Properties"
    beside = frames_beside(frames)
    if beside:
        return (
            f"frames {_ranges(beside)} of an earlier render are beside the range "
            f"{frames.first}-{frames.last}: move them away, or uprez would take them too"
        )
    return ""


# -- the background job ------------------------------------------------------------------------


class Job:
    """A started ``uprez upscale``: the movie (or the frames' pattern), where its log goes, the
    process. Where the result goes is uprez's to say (its ``uprez_output_path`` hook): the
    log's JSON names it."""

    __slots__ = ("log", "movie", "process")

    def __init__(self, movie: str, log: str, process: "subprocess.Popen[bytes]") -> None:
        self.movie = movie
        self.log = log
        self.process = process


_jobs: list[Job] = []
_jobs_lock = threading.Lock()
#: movie -> (mtime_ns, size) before the current render, recorded by the render_init handler.
_before: dict[str, tuple[int, int] | None] = {}
#: movie -> (mtime_ns, size) of the version last sent, so an unchanged movie is not paid twice.
_sent: dict[str, tuple[int, int]] = {}
#: The same for frames: pattern -> {frame: (mtime_ns, size)} before the render, and the stamps
#: of every frame last sent.
_before_frames: dict[str, dict[str, "tuple[int, int] | None"]] = {}
_sent_frames: dict[str, tuple["tuple[int, int] | None", ...]] = {}
_UNSEEN = (-1, -1)


def _stamp(path: str) -> tuple[int, int] | None:
    try:
        info = os.stat(path)
    except OSError:
        return None
    return info.st_mtime_ns, info.st_size


def running_jobs() -> list[Job]:
    """Jobs started by this Blender that have not been seen to finish."""
    with _jobs_lock:
        return list(_jobs)


def start_upscale(
    movie: str,
    *,
    executable: str | Sequence[str] | None = None,
    extra_args: Iterable[str] = (),
) -> "subprocess.Popen[bytes]":
    """Start ``uprez upscale <movie> --json`` detached and return at once (never waits);
    ``movie`` may be an image sequence's pattern (give its ``--fps`` in ``extra_args``).

    Its output (stdout and stderr) goes to ``<movie>.uprez.log``; its stdin is empty; it runs in
    a session of its own, so it goes on when Blender quits. Raises :class:`UprezNotFound` when
    there is no uprez to run, ``OSError`` when it cannot start.
    """
    movie = os.path.abspath(movie)
    args = list(extra_args)
    # An export from Blender is a post-export: the config's rules choose its steps.
    command = [*find_executable(executable), "upscale", movie, "--json", "--rules", *args]
    log_file = log_path(movie)
    options: dict[str, Any] = {}
    if sys.platform == "win32":
        options["creationflags"] = subprocess.CREATE_NEW_PROCESS_GROUP | subprocess.CREATE_NO_WINDOW
    else:
        options["start_new_session"] = True
    with open(log_file, "w", encoding="utf-8") as sink:
        sink.write(f"uprez (Blender add-on {ADDON_VERSION}): {shlex.join(command)}\n")
        sink.flush()
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=sink,
                stderr=subprocess.STDOUT,
                close_fds=True,
                **options,
            )
        except OSError as exc:
            sink.write(f"uprez: could not start: {exc}\n")
            raise
    with _jobs_lock:
        _jobs.append(Job(movie, log_file, process))
    log.info(
        "uprez: upscaling %s in the background; the log at %s names the result", movie, log_file
    )
    return process


def read_result(log_file: str) -> dict[str, Any] | None:
    """The last JSON object the job printed in its log (``{"results": [...]}``), or None."""
    try:
        with open(log_file, encoding="utf-8", errors="replace") as stream:
            text = stream.read()
    except OSError:
        return None
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    for match in re.finditer(r"^\{", text, re.MULTILINE):
        try:
            value, _ = decoder.raw_decode(text, match.start())
        except ValueError:
            continue
        if isinstance(value, dict):
            found = value
    return found


def poll_jobs() -> float | None:
    """Blender timer: say which jobs finished (``Popen.poll``, never a wait); tick again."""
    with _jobs_lock:
        finished = [job for job in _jobs if job.process.poll() is not None]
        for job in finished:
            _jobs.remove(job)
    for job in finished:
        code = job.process.returncode
        result = read_result(job.log) or {}
        entries = [entry for entry in result.get("results", []) if isinstance(entry, dict)]
        if code == 0:
            outputs = ", ".join(str(entry.get("output")) for entry in entries) or "(nothing)"
            log.info("uprez: done: %s -> %s", job.movie, outputs)
        else:
            messages = [str(entry["error"]) for entry in entries if "error" in entry]
            stopped = result.get("error")  # the run refused or stopped as a whole
            if isinstance(stopped, dict) and stopped.get("message"):
                messages.append(str(stopped["message"]))
            errors = "; ".join(messages)
            log.error(
                "uprez: upscaling %s failed (exit code %s)%s; see %s",
                job.movie,
                code,
                f": {errors}" if errors else "",
                job.log,
            )
    return POLL_SECONDS


# -- Blender's side: handlers, operator, preferences -------------------------------------------

_Handler = TypeVar("_Handler", bound=Callable[..., Any])


def _persistent(function: _Handler) -> _Handler:
    """``bpy.app.handlers.persistent``: the handler stays when another .blend file is loaded."""
    marked: _Handler = bpy.app.handlers.persistent(function)
    return marked


def _job_args(scene: Any) -> list[str]:
    # Blender replaces the movie on a re-render when "Overwrite" is on; the 4K file follows.
    # (It rewrites the movie when it is off too: uprez itself replaces a 4K file that it made
    # from an older version of this movie, and refuses any other.)
    overwrite = bool(getattr(scene.render, "use_overwrite", True))
    return (["--overwrite"] if overwrite else []) + _project_args() + extra_args()


def _project_args() -> list[str]:
    """The tasks are charged to $UPREZ_PROJECT (the job inherits it), else to the scene's
    file: a .blend's name is the closest thing to a project a bare Blender knows."""
    if os.environ.get("UPREZ_PROJECT"):
        return []
    scene_file = getattr(bpy.data, "filepath", "") or ""
    return ["--project", os.path.splitext(os.path.basename(scene_file))[0]] if scene_file else []


@_persistent
def uprez_render_init(scene: Any, *args: Any) -> None:
    """Note the movie's (or each frame's) state before the render, to tell later whether this
    render wrote it."""
    try:
        movie = rendered_movie(scene)
        frames = rendered_frames(scene) if movie is None else None
    except Exception:  # never break a render over this
        log.debug("uprez: cannot read the render settings", exc_info=True)
        return
    if movie is not None:
        _before[movie] = _stamp(movie)
    if frames is not None:
        _before_frames[frames.key] = {path: _stamp(path) for path in frames.paths}


@_persistent
def uprez_render_complete(scene: Any, *args: Any) -> "subprocess.Popen[bytes] | None":
    """After a render: start upscaling the movie it wrote; return the process, or None."""
    if not auto_upscale_enabled():
        return None
    if _deferring(bpy.app.handlers.render_complete, uprez_render_complete):
        log.debug("uprez: another uprez add-on (the other layout) handles this render")
        return None
    try:
        movie = rendered_movie(scene)
        if movie is None:
            return _upscale_frames(scene)  # an image sequence, or nothing
        stamp = _stamp(movie)
        before = _before.pop(movie, _UNSEEN)
        if stamp is None or stamp[1] == 0 or stamp == before:
            log.debug("uprez: %s was not written by this render (a still render?)", movie)
            return None
        if _sent.get(movie) == stamp:
            log.debug("uprez: %s was already sent as it is", movie)
            return None
        if os.path.splitext(movie)[1].lower() not in VIDEO_EXTENSIONS:
            log.warning(
                "uprez: not upscaling %s: the service takes %s; choose another container in "
                "Output Properties > Encoding",
                movie,
                ", ".join(sorted(VIDEO_EXTENSIONS)),
            )
            return None
        process = start_upscale(movie, extra_args=_job_args(scene))
    except UprezNotFound as exc:
        log.error("%s", exc)
        return None
    except Exception:  # a handler must never break Blender's render pipeline
        log.exception("uprez: could not start the upscale")
        return None
    _sent[movie] = stamp
    return process


def _upscale_frames(scene: Any) -> "subprocess.Popen[bytes] | None":
    """After an animation render to images: start upscaling its frames, once, when all of
    them are there and this render wrote at least one."""
    frames = rendered_frames(scene)
    if frames is None:
        return None
    before = _before_frames.pop(frames.key, {})
    stamps = tuple(_stamp(path) for path in frames.paths)
    written = zip(frames.paths, stamps, strict=True)
    if not any(s is not None and s != before.get(p, _UNSEEN) for p, s in written):
        log.debug("uprez: no frame of %s was written by this render (a still?)", frames.key)
        return None
    why = why_not_frames(frames, stamps)
    if why:
        log.warning("uprez: not upscaling %s: %s", frames.key, why)
        return None
    assert frames.pattern is not None
    if _sent_frames.get(frames.pattern) == stamps:
        log.debug("uprez: %s was already sent as it is", frames.pattern)
        return None
    process = start_upscale(frames.pattern, extra_args=_frames_args(frames, scene))
    _sent_frames[frames.pattern] = stamps
    return process


def _frames_args(frames: Frames, scene: Any) -> list[str]:
    # An image sequence has no frame rate of its own: the scene's.
    return ["--fps", frames.rate, *_job_args(scene)]


class UPREZ_OT_upscale_render(bpy.types.Operator):  # type: ignore[misc]
    """Upscale the scene's rendered movie to 4K with uprez, in the background"""

    bl_idname = "render.uprez_upscale"
    bl_label = "Upscale Render to 4K (uprez)"
    # A plain set, as Blender wants (an annotation would be taken for a property).
    bl_options = {"REGISTER"}  # noqa: RUF012

    def execute(self, context: Any) -> set[str]:
        scene = context.scene
        movie = rendered_movie(scene)
        if movie is None:
            return self._frames(scene)
        if not os.path.isfile(movie):
            self.report({"ERROR"}, f"uprez: no movie at {movie}: render the animation first")
            return {"CANCELLED"}
        if os.path.splitext(movie)[1].lower() not in VIDEO_EXTENSIONS:
            self.report(
                {"ERROR"},
                f"uprez: the service does not take {os.path.splitext(movie)[1]} files; "
                f"choose MPEG-4, QuickTime, Matroska, AVI or WebM",
            )
            return {"CANCELLED"}
        args = _job_args(scene)
        try:
            start_upscale(movie, extra_args=args)
        except (UprezNotFound, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _sent[movie] = _stamp(movie) or (0, 0)
        self.report(
            {"INFO"},
            f"uprez: upscaling in the background; the log at {log_path(movie)} names the result",
        )
        return {"FINISHED"}

    def _frames(self, scene: Any) -> set[str]:
        frames = rendered_frames(scene)
        if frames is None:
            self.report({"ERROR"}, "uprez: the scene renders no frames (an empty range?)")
            return {"CANCELLED"}
        stamps = tuple(_stamp(path) for path in frames.paths)
        why = why_not_frames(frames, stamps)
        if why:
            hint = ": render the animation first" if "missing or empty" in why else ""
            self.report({"ERROR"}, f"uprez: not upscaling {frames.key}: {why}{hint}")
            return {"CANCELLED"}
        assert frames.pattern is not None
        try:
            start_upscale(frames.pattern, extra_args=_frames_args(frames, scene))
        except (UprezNotFound, OSError) as exc:
            self.report({"ERROR"}, str(exc))
            return {"CANCELLED"}
        _sent_frames[frames.pattern] = stamps
        self.report(
            {"INFO"},
            f"uprez: upscaling {frames.last - frames.first + 1} frames in the background; the "
            f"log at {log_path(frames.pattern)} names the result",
        )
        return {"FINISHED"}


class UprezPreferences(bpy.types.AddonPreferences):  # type: ignore[misc]
    """Preferences > Add-ons > uprez."""

    bl_idname = __name__

    auto_upscale: bpy.props.BoolProperty(  # type: ignore[valid-type]
        name="Upscale after each render",
        description="When an animation render writes a movie or image sequence, upscale it to "
        "4K in the background (UPREZ_BLENDER_AUTO=0 turns this off)",
        default=True,
    )
    executable: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="uprez executable",
        description="The uprez command; empty: $UPREZ_EXECUTABLE, then uprez on PATH",
        default="",
        subtype="FILE_PATH",
    )
    extra_args: bpy.props.StringProperty(  # type: ignore[valid-type]
        name="Extra arguments",
        description="Added to 'uprez upscale', e.g. --provider local or --config FILE; "
        "empty: $UPREZ_BLENDER_ARGS",
        default="",
    )

    def draw(self, context: Any) -> None:
        layout = self.layout
        layout.prop(self, "auto_upscale")
        layout.prop(self, "executable")
        layout.prop(self, "extra_args")
        layout.label(text="The result goes beside the render; its log is <render>.uprez.log")


def uprez_menu_draw(self: Any, context: Any) -> None:
    if _deferring(_menu_draws(), uprez_menu_draw):
        return  # the other layout's entry is drawn: one entry in the menu
    self.layout.separator()
    self.layout.operator(UPREZ_OT_upscale_render.bl_idname, icon="RENDER_ANIMATION")


_CLASSES = (UprezPreferences, UPREZ_OT_upscale_render)
_HANDLERS = (("render_init", uprez_render_init), ("render_complete", uprez_render_complete))
_console: logging.Handler | None = None


def _is_ours(function: Any, name: str) -> bool:
    """This add-on's ``name``: this very function, or one of an earlier load of this module
    (a reload that skipped ``unregister``). Matched by the module it belongs to, never by name
    alone: the other layout (legacy add-on and extension both enabled) has functions of the
    same names, and enabling or disabling one must leave the other's alone."""
    return (
        getattr(function, "__module__", None) == __name__
        and getattr(function, "__qualname__", None) == name
    )


def _remove_ours(functions: list[Any], name: str) -> None:
    for function in [f for f in functions if _is_ours(f, name)]:
        functions.remove(function)


def _deferring(functions: Sequence[Any], function: Any) -> bool:
    """Does another uprez add-on's ``function`` (same name, other module) come first in
    ``functions``? Then that one acts and this one stays quiet: with both layouts enabled a
    render is upscaled once and the menu has one entry, and when the first is disabled the
    other takes over, its handlers still in place."""
    for each in functions:
        if getattr(each, "__name__", None) == function.__name__:
            return not _is_ours(each, function.__qualname__)
    return False


def _menu_draws() -> list[Any]:
    """The draw functions of the Render menu (Blender's ``_dyn_ui_initialize``), or []."""
    menu = getattr(bpy.types, "TOPBAR_MT_render", None)
    draws: list[Any] = getattr(menu, "_dyn_ui_initialize", list)()
    return draws


def _hand_over_operator() -> None:
    """Give the operator back to the other layout if it is still enabled.

    Both layouts register ``render.uprez_upscale``; Blender keeps the class registered last
    and drops the other, so unregistering either leaves none. The other add-on is found by
    its handler, still in ``render_complete``."""
    for function in bpy.app.handlers.render_complete:
        if getattr(function, "__name__", None) != uprez_render_complete.__name__:
            continue
        if _is_ours(function, uprez_render_complete.__qualname__):
            continue
        other = sys.modules.get(getattr(function, "__module__", ""))
        operator = getattr(other, UPREZ_OT_upscale_render.__name__, None)
        if operator is not None:
            with contextlib.suppress(ValueError, RuntimeError):  # still registered: fine
                bpy.utils.register_class(operator)
        return


def _show_in_console() -> None:
    """Blender configures no logging: print uprez's messages on its console (stdout)."""
    global _console
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)
    if _console is None and not log.handlers and not logging.getLogger().handlers:
        _console = logging.StreamHandler(sys.stdout)
        _console.setFormatter(logging.Formatter("%(message)s"))
        log.addHandler(_console)


def register() -> None:
    """Register the preferences, the operator, its menu entry, the handlers and the timer."""
    for cls in _CLASSES:
        with contextlib.suppress(ValueError):  # already registered (register() called twice)
            bpy.utils.register_class(cls)
    menu = getattr(bpy.types, "TOPBAR_MT_render", None)
    if menu is not None:
        _remove_ours(_menu_draws(), uprez_menu_draw.__qualname__)  # an earlier load's entry
        menu.append(uprez_menu_draw)
    for kind, function in _HANDLERS:
        functions = getattr(bpy.app.handlers, kind)
        _remove_ours(functions, function.__qualname__)
        functions.append(function)
    timers = getattr(bpy.app, "timers", None)
    if timers is not None and not timers.is_registered(poll_jobs):
        timers.register(poll_jobs, first_interval=POLL_SECONDS, persistent=True)
    _show_in_console()


def unregister() -> None:
    """Undo :func:`register`; jobs already started go on (their logs say how they end)."""
    global _console
    timers = getattr(bpy.app, "timers", None)
    if timers is not None and timers.is_registered(poll_jobs):
        timers.unregister(poll_jobs)
    for kind, function in _HANDLERS:
        _remove_ours(getattr(bpy.app.handlers, kind), function.__qualname__)
    menu = getattr(bpy.types, "TOPBAR_MT_render", None)
    if menu is not None:
        with contextlib.suppress(ValueError, RuntimeError):
            menu.remove(uprez_menu_draw)
    for cls in reversed(_CLASSES):
        with contextlib.suppress(RuntimeError, ValueError):
            bpy.utils.unregister_class(cls)
    _hand_over_operator()
    if _console is not None:
        log.removeHandler(_console)
        _console = None
