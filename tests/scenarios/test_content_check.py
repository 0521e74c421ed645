"""A result of the right size that shows the wrong picture is caught, through the local server.

The server's ``black``, ``frozen`` and ``other`` faults send back a clip with the size, frame
rate, frame count and sound of a true upscale; only the content check can tell. Caught, the
result is not handed over, the error names its task and the file kept for inspection; with
``verify.on_mismatch = "warn"`` it is handed over with the problem in its sidecar.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from uprez.errors import VerificationError
from uprez.media.probe import probe
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.standin.faults import Fault
from uprez.step.sidecar import sidecar_path

from support import Service

PROBLEMS = {"black": "black from", "frozen": "frozen from", "other": "looks like another clip"}


def upscale(clip: Path, service: Service, pm: PluginManager, **overrides: object) -> Artifact:
    return service.upscale(clip, pm, **overrides)


@pytest.mark.parametrize("kind", sorted(PROBLEMS))
def test_a_wrong_picture_is_not_handed_over_and_is_kept_for_inspection(
    clip: Path, service: Service, pm: PluginManager, kind: str
) -> None:
    service.inject(Fault("submit", kind))
    target = clip.parent / "shot_4k.mp4"

    with pytest.raises(VerificationError) as caught:
        upscale(clip, service, pm)

    assert service.injected() == {f"submit:{kind}": 1}
    message = str(caught.value)
    assert PROBLEMS[kind] in message, message
    assert caught.value.task_id and caught.value.task_id in message
    assert not target.exists() and not sidecar_path(target).exists()
    kept = Path(re.search(r"kept for inspection at (\S+) ", message).group(1))  # type: ignore[union-attr]
    assert kept.is_file(), f"{kept} named in the error is gone"
    # What is kept is the service's wrong picture, of the right size and length.
    assert probe(kept).frames == probe(clip).frames


def test_with_on_mismatch_warn_it_is_handed_over_with_the_problem_recorded(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("submit", "frozen"))

    result = upscale(clip, service, pm, **{"verify.on_mismatch": "warn"})

    assert result.path.is_file()
    verification = json.loads(sidecar_path(result.path).read_text())["verification"]
    assert verification["ok"] is False
    [problem] = verification["problems"]
    assert problem.startswith("frozen from 0.00 s"), problem


def test_a_true_upscale_passes_and_the_check_can_be_turned_off(
    clip: Path, make_clip: Callable[..., Path], service: Service, pm: PluginManager
) -> None:
    result = upscale(clip, service, pm)
    assert result.metadata["verification"] == {"ok": True, "problems": []}

    service.inject(Fault("submit", "black"))
    other = make_clip("other.mp4", seconds=2, fps=12, width=64, height=36)  # not a copy
    unchecked = upscale(other, service, pm, **{"verify.content": False})
    assert unchecked.metadata["verification"] == {"ok": True, "problems": []}
    assert service.injected() == {"submit:black": 1}
