"""uprez in an AYON-shaped publish: the right movie, once, with facts the integrator keeps.

A real headless pyblish publish (pyblish-base) of instances shaped as ayon-core and ayon-nuke
build them: Nuke's baked intermediate (tagged ``delete`` and ``need_thumbnail``), a movie to be
baked on the farm, a render published on the farm, the review movie ExtractReview makes and the
burnt-in copy ExtractBurnin replaces it with (see ``tests/ayon_publish.py``, each plugin citing
the ayon-core lines it follows). uprez upscales through a local server on loopback; nothing of
uprez is mocked, and what is checked is what ayon-core's integrator would store.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyblish.api
import pyblish.util
import pytest
from ayon_publish import COLORSPACE, AyonStudio, corner_brightness, stop_at_any_error

from uprez.config import Config, load_config
from uprez.errors import TaskFailed
from uprez.hooks import pyblish_adapter
from uprez.hooks.pyblish_adapter import ORDER_AFTER_BURNIN, ORDER_BEFORE_BURNIN, ExtractUpscale
from uprez.standin.faults import Fault

from support import FAST, SECRET_KEY, TEST_BOX, Service

#: Under this, the burn-in corner is the clean picture; over it, the white burn-in box.
BRIGHT = 128


@pytest.fixture(autouse=True)
def clean_pyblish() -> Iterator[None]:
    """Every test starts and ends with nothing registered in pyblish, and AYON's rule that an
    error stops the publish."""
    pyblish.api.deregister_all_plugins()
    pyblish.api.deregister_all_paths()
    pyblish.api.register_test(stop_at_any_error)
    try:
        yield
    finally:
        pyblish_adapter.deregister()
        pyblish.api.deregister_all_plugins()
        pyblish.api.deregister_all_paths()
        pyblish.api.deregister_test()


@pytest.fixture
def studio(tmp_path: Path, make_clip: Callable[..., Path]) -> AyonStudio:
    """A studio whose render is the same 1 s, 64x36 movie at every publish."""
    master = make_clip("render.mp4", seconds=1, fps=12, width=64, height=36, audio=True)
    return AyonStudio(tmp_path / "studio", lambda target: shutil.copyfile(master, target))


def config_for(service: Service, **pyblish: object) -> Config:
    overrides = {f"pyblish.{key}": value for key, value in pyblish.items()}
    return load_config(
        env={"WAVESPEED_API_KEY": SECRET_KEY},
        overrides={**FAST, "provider.base_url": service.base_url, **overrides},
    )


def publish() -> Any:
    return pyblish.util.publish()


def result_of(context: Any, plugin: str, instance: str = "shot010") -> dict[str, Any]:
    results = context.data["results"]
    found: dict[str, Any]
    [found] = [
        r
        for r in results
        if r["plugin"].__name__ == plugin and getattr(r["instance"], "name", None) == instance
    ]
    return found


def messages(result: dict[str, Any]) -> list[str]:
    return [record.getMessage() for record in result["records"]]


def failures(context: Any) -> list[tuple[str, str]]:
    results = context.data["results"]
    return [(r["plugin"].__name__, str(r["error"])) for r in results if not r["success"]]


def ran(context: Any) -> list[str]:
    return list(dict.fromkeys(r["plugin"].__name__ for r in context.data["results"]))


def test_the_clean_review_movie_is_upscaled_once_and_the_integrator_keeps_its_facts(
    studio: AyonStudio, service: Service
) -> None:
    studio.install()
    pyblish_adapter.register(config_for(service))

    context = publish()

    assert failures(context) == []
    assert ran(context) == [
        "CollectRender",
        "ExtractReview",
        "ExtractUpscale",  # after the review movie is made, before the burn-in replaces it
        "ExtractBurnin",
        "ExtractThumbnail",
        "IntegrateAsset",
        "CleanUp",
    ]
    # One movie sent and paid: not the intermediate, not the farm's, not the burnt-in copy.
    assert service.spent() == (1, 1)
    kept = studio.kept_by_name("shot010")
    assert sorted(kept) == ["4k", "4k_sidecar", "h264_mp4"]
    [burnt] = kept["h264_mp4"]["published"]
    assert burnt.name == "shot010_h264_burnin.mp4" and corner_brightness(burnt) > BRIGHT
    uhd = kept["4k"]
    [movie] = uhd["published"]
    assert corner_brightness(movie) < BRIGHT  # the clean picture, upscaled
    assert uhd["template"] == {
        "representation": "4k",
        "ext": "mp4",
        "colorspace": "ACES_-_ACEScg",
        "resolution_width": TEST_BOX[0],  # the 4K file's, not the instance's 64x36
        "resolution_height": TEST_BOX[1],
        "fps": 12,
        "output": "4k",
    }
    assert uhd["attrib"] == {"resolutionWidth": TEST_BOX[0], "resolutionHeight": TEST_BOX[1]}
    facts = uhd["data"]["uprez"]
    assert uhd["data"]["colorspaceData"] == COLORSPACE
    assert facts["task_id"] in service.new_task_ids() and facts["task_ids"] == [facts["task_id"]]
    assert (facts["cost"], facts["paid"], facts["billed_seconds"]) == ("0.10", "0.10", 5)
    assert (facts["segments"], facts["reused"], facts["provider"]) == (1, False, "wavespeed")
    assert Path(facts["source"]).name == "shot010_h264.mp4"  # the clean movie, burnt-in since
    assert facts["sidecar_representation"] == "4k_sidecar"
    assert json.dumps(uhd["data"])  # what the server stores is JSON
    [sidecar] = kept["4k_sidecar"]["published"]
    record = json.loads(sidecar.read_text())
    assert record["task_id"] == facts["task_id"] and record["paid"] == "0.10"
    assert kept["4k_sidecar"]["template"]["ext"] == "json"
    # The farm's render is neither upscaled nor integrated here; nothing is made for it.
    assert "shot020" not in studio.kept
    [farm] = [i for i in context if i.name == "shot020"]
    assert [r["name"] for r in farm.data["representations"]] == ["baking"]
    log = messages(result_of(context, "ExtractUpscale"))
    assert any("'baking' is not a source: tagged need_thumbnail, delete" in m for m in log)
    farm_log = messages(result_of(context, "ExtractUpscale", "shot020"))
    assert farm_log == ["shot020 is published on the farm: not upscaled here"]


def test_after_the_burn_in_the_burnt_in_movie_is_upscaled(
    studio: AyonStudio, service: Service
) -> None:
    studio.install(farm_instance=False)
    pyblish_adapter.register(config_for(service, before_burnin=False))

    context = publish()

    assert failures(context) == []
    assert ExtractUpscale.order == ORDER_AFTER_BURNIN
    assert ran(context).index("ExtractBurnin") < ran(context).index("ExtractUpscale")
    [movie] = studio.kept_by_name("shot010")["4k"]["published"]
    assert corner_brightness(movie) > BRIGHT
    assert service.spent() == (1, 1)


@pytest.mark.parametrize("clean_up", [True, False], ids=["staging-removed", "staging-kept"])
def test_a_republish_with_fresh_representations_of_the_same_movie_pays_once(
    studio: AyonStudio, service: Service, clean_up: bool
) -> None:
    """AYON builds every representation anew at each publish, in a new staging dir, and
    removes that dir once integrated: the job is known by the movie's content."""
    studio.install(farm_instance=False, clean_up=clean_up)
    pyblish_adapter.register(config_for(service))
    first = publish()
    assert failures(first) == []
    paid = studio.kept_by_name("shot010")["4k"]["data"]["uprez"]
    assert service.spent() == (1, 1)

    second = publish()

    assert failures(second) == []
    assert service.spent() == (1, 1)  # one upload, one submission over both publishes
    [one], [two] = ([i for i in c if i.name == "shot010"] for c in (first, second))
    assert one.data["representations"] is not two.data["representations"]
    again = studio.kept_by_name("shot010")["4k"]
    facts = again["data"]["uprez"]
    assert Path(facts["source"]).parent.name == "publish2"
    assert (facts["task_id"], facts["paid"]) == (paid["task_id"], "0.00")  # nothing spent now
    assert facts["cost"] == paid["cost"] == "0.10"
    [movie] = again["published"]
    assert corner_brightness(movie) < BRIGHT


def test_by_default_a_failed_upscale_stops_the_publish_before_integration(
    studio: AyonStudio, service: Service
) -> None:
    studio.install(farm_instance=False)
    pyblish_adapter.register(config_for(service))
    service.inject(Fault("submit", "task_fail", code=1403))

    context = publish()

    upscale = result_of(context, "ExtractUpscale")
    error = upscale["error"]
    assert isinstance(error, TaskFailed) and error.task_id  # raised as uprez raised it
    logged = [r.getMessage() for r in upscale["records"] if r.levelname == "ERROR"]
    assert any("shot010_h264.mp4" in m and error.task_id in m for m in logged), logged
    assert "IntegrateAsset" not in ran(context) and studio.kept == {}


def test_on_error_warn_publishes_without_the_4k_representation(
    studio: AyonStudio, service: Service
) -> None:
    studio.install(farm_instance=False)
    pyblish_adapter.register(config_for(service, on_error="warn"))
    service.inject(Fault("submit", "task_fail", code=1403))

    context = publish()

    assert failures(context) == []
    assert sorted(studio.kept_by_name("shot010")) == ["h264_mp4"]
    upscale = result_of(context, "ExtractUpscale")
    warned = [r.getMessage() for r in upscale["records"] if r.levelname == "WARNING"]
    assert len(warned) == 1 and "published without its 4K representation" in warned[0]
    assert "shot010_h264.mp4" in warned[0]


AYON_PUBLISH_ERROR = '''
class PublishError(Exception):
    """ayon-core's, as in client/ayon_core/pipeline/publish/publish_plugins.py (48-67)."""

    def __init__(self, message, title=None, description=None, detail=None):
        self.message = message
        self.title = title
        self.description = description or message
        self.detail = detail
        super().__init__(message)
'''


@pytest.fixture
def ayon_core(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """ayon-core's ``PublishError`` where uprez looks for it (ayon-core is an AYON addon, not
    a package on an index: only that class stands in for it)."""
    package = tmp_path / "addons" / "ayon_core" / "pipeline" / "publish"
    package.mkdir(parents=True)
    for folder in (package.parent.parent, package.parent):
        (folder / "__init__.py").write_text("")
    (package / "__init__.py").write_text(AYON_PUBLISH_ERROR)
    monkeypatch.syspath_prepend(str(tmp_path / "addons"))
    try:
        from ayon_core.pipeline.publish import PublishError  # type: ignore[import-not-found]

        yield PublishError
    finally:
        for name in [m for m in sys.modules if m == "ayon_core" or m.startswith("ayon_core.")]:
            del sys.modules[name]


def test_in_ayon_a_failure_is_a_publish_error_whose_message_the_artist_sees(
    studio: AyonStudio, service: Service, ayon_core: Any
) -> None:
    studio.install(farm_instance=False)
    pyblish_adapter.register(config_for(service))
    service.inject(Fault("submit", "task_fail", code=1403))

    context = publish()

    error: Any = result_of(context, "ExtractUpscale")["error"]
    assert isinstance(error, ayon_core)
    assert error.title == "Upscale to 4K (uprez)"
    assert isinstance(error.__cause__, TaskFailed)
    assert error.message.endswith(str(error.__cause__))
    assert "shot010_h264.mp4" in error.message and error.__cause__.task_id in error.message
    assert 'pyblish.on_error = "warn"' in error.description
    assert studio.kept == {}


def test_source_tags_leave_out_every_movie_without_one_of_them(
    studio: AyonStudio, service: Service
) -> None:
    studio.install(farm_instance=False)
    pyblish_adapter.register(config_for(service, source_tags=["kitsureview"]))

    context = publish()

    assert failures(context) == []
    assert sorted(studio.kept_by_name("shot010")) == ["h264_mp4"]
    assert service.spent() == (0, 0)
    log = messages(result_of(context, "ExtractUpscale"))
    assert any("'h264_mp4' is not a source: none of pyblish.source_tags" in m for m in log)


def test_an_instance_that_is_not_integrated_is_not_upscaled(
    studio: AyonStudio, service: Service
) -> None:
    studio.install(farm_instance=False, integrate=False)
    pyblish_adapter.register(config_for(service))

    context = publish()

    assert failures(context) == []
    assert service.spent() == (0, 0)
    [shot] = list(context)
    assert "4k" not in [r["name"] for r in shot.data["representations"]]


def test_the_order_puts_uprez_between_ayons_review_and_burn_in() -> None:
    review, burnin = pyblish.api.ExtractorOrder + 0.02, pyblish.api.ExtractorOrder + 0.03
    assert review < ORDER_BEFORE_BURNIN < burnin
    assert burnin < ORDER_AFTER_BURNIN < pyblish.api.ExtractorOrder + 0.49  # thumbnails
    assert ExtractUpscale.order == ORDER_BEFORE_BURNIN  # the default: before_burnin = true
