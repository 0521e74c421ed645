"""uprez in an OpenCue job: a layer that upscales a movie once the layer that renders it is done.

For pipeline TDs who build jobs with PyOutline (``pip install opencue-pyoutline``). Copy this file
next to the submission script, or onto its ``PYTHONPATH``::

    from outline import Outline
    from outline.modules.shell import Shell

    import uprez_outline

    job = Outline("sh010_v003", shot="sh010", show="abc")
    render = Shell("render", command=["blender", "-b", "sh010.blend", "-a"], range="1")
    job.add_layer(render)
    uprez_outline.add_upscale_layer(job, render, "/shows/abc/sh010/sh010_v003.mov")
    uprez_outline.launch(job, maxretries=2)

The upscale layer is a ``ShellCommand``: one frame whatever the job's frame range, run after
every frame of the render layer (a layer-on-layer dependency). ``launch`` launches with
``use_pycuerun=False``: the frame runs the command itself on the RQD host, through the host's
shell, so the command is written with each word quoted for a POSIX shell (Linux and macOS
hosts). OpenCue retries a failed frame up to the *job's* ``maxretries`` (there is no per-layer
or per-exit-code setting): a frame that died with exit 5 (the service failed) resumes the upscale
at no new cost when retried; one that died with 2, 3, 4 or 6 fails the same way again at once,
without cost, so read its log rather than retry it.
"""

from __future__ import annotations

import posixpath
import re
import shlex
from typing import Any

from outline import Outline, cuerun
from outline.layer import Layer
from outline.modules.shell import ShellCommand

# The job's retries when the launcher says nothing: enough for the service's passing failures
# (exit 5), few for the refusals that fail again at once (2, 3, 4, 6). Every layer of the job
# gets the same number.
DEFAULT_MAXRETRIES = 2

# Cuebot replaces these tokens anywhere in a frame's command (DispatchSupportService): a movie
# path holding one would be changed before it runs.
_CUE_TOKEN = re.compile(
    r"#(?:ZFRAME|IFRAME|FRAME_START|FRAME_END|FRAME_CHUNK|LAYER|JOB|FRAMESPEC|FRAME)#"
)


def upscale_command(movie: str, output: str | None = None, executable: str = "uprez") -> str:
    """The shell command of the upscale frame: ``uprez upscale --json --output FOLDER/ -- MOVIE``.

    ``output`` is an existing folder (default: the movie's own); the result is named by uprez's
    ``output.template`` there. Each word is quoted, so spaces, quotes, ``;`` or ``$()`` in a
    path are only characters of that path. Raises ValueError for a path that cannot be run as
    written: not absolute, holding a control character or one of Cuebot's ``#TOKEN#``s."""
    folder = output if output is not None else posixpath.dirname(movie)
    for path in (movie, folder):
        if not posixpath.isabs(path):
            raise ValueError(f"{path!r}: uprez needs an absolute path on the render hosts")
        if any(ord(c) < 32 or ord(c) == 127 for c in path):
            raise ValueError(f"{path!r}: a control character cannot go into a frame's command")
        if _CUE_TOKEN.search(path):
            raise ValueError(f"{path!r}: Cuebot would replace its #TOKEN# before running it")
    words = [executable, "upscale", "--json", "--output", posixpath.join(folder, ""), "--", movie]
    return shlex.join(words)


def add_upscale_layer(
    ol: Outline,
    render: Layer,
    movie: str,
    *,
    output: str | None = None,
    executable: str = "uprez",
    name: str = "uprez",
    limits: list[str] | None = None,
) -> ShellCommand:
    """Add to ``ol`` a layer that upscales ``movie`` once every frame of ``render`` is done, and
    return it. ``limits`` are OpenCue limit names (one sized to the account keeps hosts from
    waiting on the service's turn: see the README's Farm managers)."""
    args: dict[str, Any] = {"command": upscale_command(movie, output, executable)}
    if limits:
        args["limits"] = list(limits)
    layer = ShellCommand(name, **args)
    layer.depend_all(render)
    ol.add_layer(layer)
    return layer


def launch(ol: Outline, maxretries: int = DEFAULT_MAXRETRIES, **flags: Any) -> Any:
    """Launch ``ol`` on the cue with ``use_pycuerun=False`` (the commands run as written) and
    ``maxretries``, the retries of every frame of the job; ``flags`` are ``cuerun.launch``'s
    others (``pause``, ``priority``, ``os``...). Returns what ``cuerun.launch`` returns."""
    return cuerun.launch(ol, use_pycuerun=False, maxretries=maxretries, **flags)
