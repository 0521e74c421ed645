"""The pyblish adapter in a real headless publish with pyblish-base.

Each publish runs the plugins a studio would have: a collector that makes the instance, a review
extractor (at ``ExtractorOrder + 0.02``, ayon-core's) that writes a real movie into a staging
dir, uprez's ``ExtractUpscale`` through the local provider, and an integrator-like check that
every representation's file is there. Nothing of uprez is mocked. The AYON-shaped publish (burn-in,
intermediates, the farm, what the integrator keeps, the error policy) is in
``test_pyblish_ayon.py``.
"""

from __future__ import annotations

import importlib
import json
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyblish.api
import pyblish.lib
import pyblish.util
import pytest

from uprez.config import load_config
from uprez.errors import AuthError
from uprez.hooks import pyblish_adapter
from uprez.hooks.pyblish_adapter import ExtractUpscale
from uprez.media.probe import probe
from uprez.media.synth import make_clip
from uprez.standin.runner import LocalServer

from support import SECRET_KEY

CONFIG = load_config(
    env={},
    overrides={
        "provider.name": "local",
        "local.max_size": "256x144",
        "polling.first_interval": 0.02,
    },
)
REVIEW_ORDER = pyblish.api.ExtractorOrder + 0.02


@pytest.fixture(autouse=True)
def clean_pyblish() -> Iterator[None]:
    """Every test starts and ends with nothing registered in pyblish."""
    pyblish.api.deregister_all_plugins()
    pyblish.api.deregister_all_paths()
    try:
        yield
    finally:
        pyblish_adapter.deregister()
        pyblish.api.deregister_all_plugins()
        pyblish.api.deregister_all_paths()


def write_review(path: Path) -> None:
    make_clip(str(path), seconds=1, fps=12, width=64, height=36, audio=True)


def write_text(path: Path) -> None:
    path.write_text("not a movie, whatever the extension says\n")


@dataclass
class Studio:
    """The host's side of a publish: its instances, staging dir and what the integrator saw."""

    staging: Path
    seen: list[tuple[str, str, Path, tuple[str, ...]]] = field(default_factory=list)

    def install(
        self,
        *,
        instances: dict[str, str],
        convention: str = "representations",
        write: Any = write_review,
        movies: int = 1,
        carried: dict[str, list[dict[str, Any]]] | None = None,
        context_data: dict[str, str] | None = None,
    ) -> None:
        """Register the studio's plugins: ``instances`` maps instance names to families;
        ``carried`` holds representations an instance already has when collected."""
        staging, seen = self.staging, self.seen

        class CollectShots(pyblish.api.ContextPlugin):  # type: ignore[misc]
            order = pyblish.api.CollectorOrder

            def process(self, context: Any) -> None:
                context.data.update(context_data or {})
                for name, family in instances.items():
                    instance = context.create_instance(name, family=family)
                    instance.data["representations"] = [
                        dict(r) for r in (carried or {}).get(name, [])
                    ]
                    if convention == "files":
                        instance.data["files"] = []
                        instance.data["stagingDir"] = str(staging)

        class ExtractReview(pyblish.api.InstancePlugin):  # type: ignore[misc]
            order = REVIEW_ORDER

            def process(self, instance: Any) -> None:
                representations = instance.data["representations"]
                if any(r["name"] == "h264" for r in representations):
                    return  # already extracted
                for n in range(movies):
                    name = f"{instance.name}_review{'' if n == 0 else n + 1}.mp4"
                    write(staging / name)
                    if convention == "files":
                        instance.data["files"].append(name if n else str(staging / name))
                    else:
                        representations.append(
                            {
                                "name": "h264",
                                "ext": "mp4",
                                "files": name,
                                "stagingDir": str(staging),
                                "tags": ["review"],
                                "fps": 12,
                                "frameStart": 1001,
                                "frameEnd": 1012,
                            }
                        )

        class IntegrateCheck(pyblish.api.InstancePlugin):  # type: ignore[misc]
            order = pyblish.api.IntegratorOrder

            def process(self, instance: Any) -> None:
                names = [r["name"] for r in instance.data["representations"]]
                assert len(names) == len(set(names)), f"representation names repeat: {names}"
                for rep in instance.data["representations"]:
                    path = Path(rep["stagingDir"]) / rep["files"]
                    assert path.is_file(), f"{rep['name']}: {path} is missing"
                    seen.append((instance.name, rep["name"], path, tuple(rep["tags"])))

        for plugin in (CollectShots, ExtractReview, IntegrateCheck):
            pyblish.api.register_plugin(plugin)


@pytest.fixture
def studio(tmp_path: Path) -> Studio:
    staging = tmp_path / "staging"
    staging.mkdir()
    return Studio(staging)


def results_of(context: Any, plugin: str) -> list[dict[str, Any]]:
    return [r for r in context.data["results"] if r["plugin"].__name__ == plugin]


def messages(result: dict[str, Any]) -> list[str]:
    return [record.getMessage() for record in result["records"]]


def assert_all_succeeded(context: Any) -> None:
    failed = [
        (r["plugin"].__name__, str(r["error"])) for r in context.data["results"] if not r["success"]
    ]
    assert not failed


def instance_named(context: Any, name: str) -> Any:
    [instance] = [i for i in context if i.name == name]
    return instance


def ours(instance: Any) -> list[dict[str, Any]]:
    return [r for r in instance.data["representations"] if "uprez-4k" in r["tags"]]


def test_a_headless_publish_adds_the_4k_file_as_a_representation(studio: Studio) -> None:
    studio.install(instances={"shot010": "review"})
    pyblish_adapter.register(CONFIG)

    context = pyblish.util.publish()

    assert_all_succeeded(context)
    instance = instance_named(context, "shot010")
    [added] = ours(instance)
    review = studio.staging / "shot010_review.mp4"
    result = studio.staging / "shot010_review_4k.mp4"
    assert added["name"] == "4k" and added["ext"] == "mp4" and added["tags"] == ["uprez-4k"]
    assert added["files"] == result.name and added["stagingDir"] == str(studio.staging)
    assert added["outputName"] == "4k"
    assert (added["fps"], added["frameStart"], added["frameEnd"]) == (12, 1001, 1012)
    info, source = probe(result), probe(review)
    assert (info.width, info.height) == (256, 144)
    assert info.frames == source.frames == 12
    assert info.audio_streams == 1
    assert (added["resolutionWidth"], added["resolutionHeight"]) == (256, 144)
    meta = added["data"]["uprez"]
    assert meta["task_id"] and meta["source"] == str(review)
    assert meta["cost"] == "0.10"  # one second, billed as the service's five-second minimum
    assert Path(meta["sidecar"]).is_file()
    assert ("shot010", "4k", result, ("uprez-4k",)) in studio.seen
    sidecar = ("shot010", "4k_sidecar", Path(meta["sidecar"]), ("uprez-4k-sidecar",))
    assert sidecar in studio.seen
    assert ("shot010", "h264", review, ("review",)) in studio.seen
    # Collect, review extraction, uprez, integration: in that order.
    order = [r["plugin"].__name__ for r in context.data["results"]]
    assert order == ["CollectShots", "ExtractReview", "ExtractUpscale", "IntegrateCheck"]
    [upscale] = results_of(context, "ExtractUpscale")
    assert upscale["plugin"].label == "Upscale to 4K (uprez)"
    assert any("added representation '4k'" in m for m in messages(upscale))


def test_the_publish_charges_its_tasks_to_the_context_project_and_user(
    studio: Studio, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPREZ_PROJECT", "not-this-one")
    studio.install(
        instances={"shot010": "review"},
        context_data={"projectName": "tentpole", "user": "mia"},
    )
    pyblish_adapter.register(CONFIG)

    context = pyblish.util.publish()

    assert_all_succeeded(context)
    [added] = ours(instance_named(context, "shot010"))
    sidecar = json.loads(Path(added["data"]["uprez"]["sidecar"]).read_text())
    assert (sidecar["project"], sidecar["user"]) == ("tentpole", "mia")
    assert sidecar["paid"] == "0.10"


def test_the_plugin_runs_after_review_extraction_and_before_integration() -> None:
    for before_burnin in (True, False):
        config = load_config(env={}, overrides={"pyblish.before_burnin": before_burnin})
        order = pyblish_adapter.configure(config).order
        assert pyblish.api.ExtractorOrder < REVIEW_ORDER < order < pyblish.api.IntegratorOrder
        # pyblish still counts it as an extractor (a failed validation stops the publish first).
        assert pyblish.lib.inrange(order, base=pyblish.api.ExtractorOrder)
    assert ExtractUpscale.hosts == ["*"]


def test_the_files_fallback_upscales_each_movie_under_its_own_name(studio: Studio) -> None:
    (studio.staging / "notes.txt").write_text("a file that is not a movie\n")
    studio.install(instances={"shot020": "review"}, convention="files", movies=2)
    pyblish_adapter.register(CONFIG)

    context = pyblish.util.publish()

    assert_all_succeeded(context)
    instance = instance_named(context, "shot020")
    assert len(instance.data["files"]) == 2  # one absolute path, one relative to stagingDir
    added = {r["name"]: r for r in ours(instance)}
    assert sorted(added) == ["4k", "4k_2"]
    assert added["4k"]["files"] == "shot020_review_4k.mp4"
    assert added["4k_2"]["files"] == "shot020_review2_4k.mp4"
    for rep in added.values():
        info = probe(Path(rep["stagingDir"]) / rep["files"])
        assert (info.width, info.height, info.frames) == (256, 144, 12)
    assert {name for _, name, _, _ in studio.seen} == {"4k", "4k_2", "4k_sidecar", "4k_2_sidecar"}


def test_an_instance_of_another_family_is_left_alone(studio: Studio) -> None:
    studio.install(instances={"chair": "model"})
    pyblish_adapter.register(CONFIG)

    context = pyblish.util.publish()

    assert_all_succeeded(context)
    assert not results_of(context, "ExtractUpscale")
    assert [r["name"] for r in instance_named(context, "chair").data["representations"]] == ["h264"]
    assert sorted(p.name for p in studio.staging.iterdir()) == ["chair_review.mp4"]


def test_the_families_come_from_the_config(studio: Studio) -> None:
    config = load_config(
        env={},
        overrides={
            "provider.name": "local",
            "local.max_size": "256x144",
            "polling.first_interval": 0.02,
            "pyblish.families": ["render"],
            "pyblish.representation": "uhd",
            "pyblish.tag": "studio-uhd",
        },
    )
    studio.install(instances={"beauty": "render", "shot030": "review"})
    pyblish_adapter.register(config)

    context = pyblish.util.publish()

    assert_all_succeeded(context)
    assert ExtractUpscale.families == ["render"]
    [upscale] = results_of(context, "ExtractUpscale")
    assert upscale["instance"].name == "beauty"
    beauty = instance_named(context, "beauty").data["representations"]
    assert [(r["name"], r["tags"]) for r in beauty] == [
        ("h264", ["review"]),
        ("uhd", ["studio-uhd"]),
        ("uhd_sidecar", ["studio-uhd-sidecar"]),
    ]
    assert [r["name"] for r in instance_named(context, "shot030").data["representations"]] == [
        "h264"
    ]
    assert not (studio.staging / "shot030_review_4k.mp4").exists()


def test_a_bad_movie_fails_the_plugin_naming_the_file_and_adds_nothing(studio: Studio) -> None:
    studio.install(instances={"shot040": "review"}, write=write_text)
    pyblish_adapter.register(CONFIG)

    context = pyblish.util.publish()

    [upscale] = results_of(context, "ExtractUpscale")
    assert upscale["success"] is False
    assert "shot040_review.mp4" in str(upscale["error"])
    instance = instance_named(context, "shot040")
    assert [r["name"] for r in instance.data["representations"]] == ["h264"]
    assert not (studio.staging / "shot040_review_4k.mp4").exists()
    # pyblish's default test stops only after failed validation: the integrator still ran.
    assert [name for _, name, _, _ in studio.seen] == ["h264"]


def test_republishing_with_the_4k_representation_present_does_not_upscale_again(
    studio: Studio,
) -> None:
    studio.install(instances={"shot050": "review"})
    pyblish_adapter.register(CONFIG)
    first = pyblish.util.publish()
    assert_all_succeeded(first)
    carried = instance_named(first, "shot050").data["representations"]
    result = studio.staging / "shot050_review_4k.mp4"
    before = result.stat()

    pyblish.api.deregister_all_plugins()
    studio.install(instances={"shot050": "review"}, carried={"shot050": carried})
    pyblish_adapter.register(CONFIG)
    second = pyblish.util.publish()

    assert_all_succeeded(second)
    assert len(ours(instance_named(second, "shot050"))) == 1
    after = result.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    [upscale] = results_of(second, "ExtractUpscale")
    assert any("already upscaled" in m for m in messages(upscale))


def test_a_service_error_fails_the_plugin_without_showing_the_key(
    studio: Studio,
    server: LocalServer,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    config = load_config(
        env={"WAVESPEED_API_KEY": SECRET_KEY},  # not the server's key: it answers 401
        overrides={"provider.name": "wavespeed", "provider.base_url": server.base_url},
    )
    studio.install(instances={"shot060": "review"})
    pyblish_adapter.register(config)

    context = pyblish.util.publish()

    [upscale] = results_of(context, "ExtractUpscale")
    assert upscale["success"] is False
    assert isinstance(upscale["error"], AuthError)  # raised as uprez raised it
    assert "401" in str(upscale["error"])
    printed = capsys.readouterr()  # pyblish.util prints every plugin error on stdout
    shown = [str(upscale["error"]), *messages(upscale), printed.out, printed.err, caplog.text]
    assert not [text for text in shown if SECRET_KEY in text]
    assert not ours(instance_named(context, "shot060"))


def test_register_reads_the_families_from_the_environment_and_deregister_undoes_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("UPREZ_PYBLISH__FAMILIES", '["plate", "review"]')
    monkeypatch.delenv("UPREZ_CONFIG", raising=False)

    plugin = pyblish_adapter.register()

    assert plugin is ExtractUpscale and plugin.config is None  # loaded again at each publish
    assert ExtractUpscale.families == ["plate", "review"]
    assert [p.__name__ for p in pyblish.api.discover()] == ["ExtractUpscale"]
    pyblish_adapter.deregister()
    assert pyblish.api.discover() == []
    assert ExtractUpscale.families == ["review"]
    pyblish_adapter.deregister()  # twice is harmless

    # A plug-in path (an AYON addon's publish folder) can hold the module docstring's shim.
    (tmp_path / "extract_upscale.py").write_text(
        "from uprez.hooks import pyblish_adapter\n\n"
        "class ExtractUpscale(pyblish_adapter.ExtractUpscale):\n"
        "    pass\n\n"
        "pyblish_adapter.configure()\n"
    )
    pyblish.api.register_plugin_path(str(tmp_path))
    [found] = pyblish.api.discover()
    assert issubclass(found, ExtractUpscale) and found.families == ["plate", "review"]
    assert found.order == ExtractUpscale.order and found.config is None
    assert ExtractUpscale.__module__ == "uprez.hooks.pyblish_adapter"  # pyblish left ours alone


def test_importing_without_pyblish_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "pyblish" or m.startswith("pyblish.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, "pyblish", None)
    monkeypatch.delitem(sys.modules, "uprez.hooks.pyblish_adapter")

    with pytest.raises(ImportError) as caught:
        importlib.import_module("uprez.hooks.pyblish_adapter")

    assert "pip install 'uprez[pyblish]'" in str(caught.value)
