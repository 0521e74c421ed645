"""Plugins: the built-in one, third-party plugins found through entry points, the environment
switches that govern loading, and the hooks a plugin can answer while a job runs."""

from __future__ import annotations

import importlib
import logging
import secrets
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from uprez.config import Config
from uprez.hookspecs import hookimpl
from uprez.plugins import PluginError, PluginManager, get_plugin_manager
from uprez.providers import ProviderInfo
from uprez.records import Artifact, JobEvent, PostExportContext
from uprez.standin.runner import LocalServer
from uprez.step.output import place
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.provider import WaveSpeedProvider

from support import TEST_KEY, fast_config, write_entry_points

# -- plugins as a third party would write them -----------------------------------------------------

STUDIO_PLUGIN = '''
import shutil

from uprez.hookspecs import hookimpl
from uprez.providers import Provider, ProviderInfo, ProviderResult
from uprez.records import Artifact, StepInfo


def add_grain(artifact, *, config, pm, **options):
    target = artifact.path.with_name(artifact.path.stem + "_grain" + artifact.path.suffix)
    shutil.copyfile(artifact.path, target)
    return [Artifact(target, tags=artifact.tags | {"grain"}, source=artifact.path)]


class InHouse(Provider):
    """A render farm's upscaler that, for the test, hands the source back unchanged."""

    name = "inhouse"

    def __init__(self, config):
        self.config = config

    def run(self, source, target, *, emit, record=None):
        shutil.copyfile(source, target)
        return ProviderResult(task_id="farm-0001", model="farm/copy", output_url="https://farm/x")

    def close(self):
        pass


@hookimpl
def uprez_steps():
    return [StepInfo("grain", "add film grain", run=add_grain)]


@hookimpl
def uprez_providers():
    return [ProviderInfo("inhouse", "the studio's render farm", factory=InHouse)]
'''

BROKEN_PLUGIN = 'raise ImportError("this plugin needs the studio SDK")\n'

QUIET_PLUGIN = """
from uprez.hookspecs import hookimpl


@hookimpl
def uprez_job_event(event):
    pass
"""


Install = Callable[[dict[str, str]], None]


@pytest.fixture
def install(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Install]:
    """Install fake distributions whose ``uprez`` entry points name the given module sources.

    ``install({"studio": SOURCE})`` makes ``importlib.metadata`` find an entry point ``studio``.
    Module names are unique per test, so no module cached by an earlier test is reused.
    """
    folder = tmp_path / "site"
    folder.mkdir()
    modules: list[str] = []

    def _install(sources: dict[str, str]) -> None:
        entries = {}
        for entry, source in sources.items():
            module = f"uprez_fake_{entry}_{secrets.token_hex(4)}"
            modules.append(module)
            entries[entry] = (module, source)
        write_entry_points(folder, entries)
        monkeypatch.syspath_prepend(str(folder))
        importlib.invalidate_caches()

    yield _install
    for module in modules:
        sys.modules.pop(module, None)


@contextmanager
def registered(pm: PluginManager, plugin: object, name: str) -> Iterator[object]:
    """A throw-away plugin, registered for the block and unregistered after it."""
    pm.register(plugin, name=name)
    try:
        yield plugin
    finally:
        pm.unregister(name=name)


class EventRecorder:
    """A plugin that keeps every job event it is told about."""

    def __init__(self) -> None:
        self.events: list[JobEvent] = []

    @hookimpl
    def uprez_job_event(self, event: JobEvent) -> None:
        self.events.append(event)


def provider_for(server: LocalServer, config: Config | None = None) -> WaveSpeedProvider:
    return WaveSpeedProvider.from_config(
        config or fast_config(), base_url=server.base_url, api_key=TEST_KEY
    )


@pytest.fixture
def clip(make_clip: Callable[..., Path]) -> Path:
    return make_clip("shot010.mp4", seconds=1, fps=12, width=64, height=36)


# -- the built-in plugin ---------------------------------------------------------------------------


def test_the_builtin_plugin_is_registered_by_default() -> None:
    pm = get_plugin_manager(env={})

    assert pm.get_plugin("builtin") is not None
    assert pm.broken == {}


def test_the_builtin_plugin_offers_the_upscale_step() -> None:
    steps = get_plugin_manager(env={}).steps()

    assert list(steps) == ["upscale"]
    assert steps["upscale"].name == "upscale"
    assert callable(steps["upscale"].run)


def test_the_builtin_plugin_offers_the_wavespeed_and_local_providers() -> None:
    providers = get_plugin_manager(env={}).providers()

    assert sorted(providers) == ["local", "wavespeed"]
    assert all(callable(info.factory) for info in providers.values())


# -- third-party plugins through entry points ------------------------------------------------------


def test_an_entry_point_plugin_adds_a_step_and_a_provider(install: Install) -> None:
    install({"studio": STUDIO_PLUGIN})

    pm = get_plugin_manager(env={})

    assert pm.get_plugin("studio") is not None
    assert sorted(pm.steps()) == ["grain", "upscale"]
    assert sorted(pm.providers()) == ["inhouse", "local", "wavespeed"]


def test_an_entry_point_plugins_step_runs_on_an_artifact(install: Install, clip: Path) -> None:
    install({"studio": STUDIO_PLUGIN})
    pm = get_plugin_manager(env={})

    [made] = pm.steps()["grain"].run(Artifact(clip), config=fast_config(), pm=pm)

    assert made.path == clip.with_name("shot010_grain.mp4")
    assert made.path.read_bytes() == clip.read_bytes()
    assert made.source == clip
    assert "grain" in made.tags


def test_a_plugins_provider_is_chosen_by_provider_name_and_runs_the_upscale_step(
    install: Install, clip: Path
) -> None:
    install({"studio": STUDIO_PLUGIN})
    pm = get_plugin_manager(env={})
    # The farm's provider makes 64x36 results: that is what they are verified against.
    config = fast_config({"provider.name": "inhouse", "verify.target_size": "64x36"})

    [result] = pm.steps()["upscale"].run(Artifact(clip), config=config, pm=pm)

    assert result.path == clip.with_name("shot010_4k.mp4")
    assert result.path.read_bytes() == clip.read_bytes()
    assert result.metadata["provider"] == "inhouse"
    assert result.metadata["task_id"] == "farm-0001"
    assert sidecar_path(result.path).exists()


def test_a_plugin_that_fails_to_import_is_skipped_and_reported_while_others_load(
    install: Install, caplog: pytest.LogCaptureFixture
) -> None:
    install({"broken": BROKEN_PLUGIN, "studio": STUDIO_PLUGIN})

    with caplog.at_level(logging.WARNING, logger="uprez.plugins"):
        pm = get_plugin_manager(env={})

    assert set(pm.broken) == {"broken"}
    assert "ImportError" in pm.broken["broken"]
    assert "studio SDK" in pm.broken["broken"]
    assert pm.get_plugin("broken") is None
    assert pm.get_plugin("studio") is not None
    assert "grain" in pm.steps()
    assert any("broken" in record.getMessage() for record in caplog.records)


def test_strict_plugins_makes_a_broken_plugin_a_plugin_error(install: Install) -> None:
    install({"broken": BROKEN_PLUGIN, "studio": STUDIO_PLUGIN})

    with pytest.raises(PluginError, match="broken") as caught:
        get_plugin_manager(env={"UPREZ_STRICT_PLUGINS": "1"})

    assert caught.value.exit_code == 2
    assert "studio SDK" in str(caught.value)


def test_load_plugins_loads_only_the_entry_points_it_names(install: Install) -> None:
    install({"studio": STUDIO_PLUGIN, "quiet": QUIET_PLUGIN, "broken": BROKEN_PLUGIN})

    pm = get_plugin_manager(env={"UPREZ_LOAD_PLUGINS": "quiet"})

    assert pm.get_plugin("quiet") is not None
    assert pm.get_plugin("studio") is None
    assert pm.broken == {}  # the broken one was never imported
    assert pm.get_plugin("builtin") is not None  # built-ins are not entry points


def test_an_empty_load_plugins_loads_no_entry_point(install: Install) -> None:
    install({"studio": STUDIO_PLUGIN, "quiet": QUIET_PLUGIN})

    pm = get_plugin_manager(env={"UPREZ_LOAD_PLUGINS": ""})

    assert pm.get_plugin("studio") is None
    assert pm.get_plugin("quiet") is None
    assert list(pm.steps()) == ["upscale"]


def test_disable_plugins_blocks_the_entry_points_it_names(install: Install) -> None:
    install({"studio": STUDIO_PLUGIN, "quiet": QUIET_PLUGIN})

    pm = get_plugin_manager(env={"UPREZ_DISABLE_PLUGINS": "studio, other"})

    assert pm.get_plugin("studio") is None
    assert pm.is_blocked("studio")
    assert pm.get_plugin("quiet") is not None
    assert "grain" not in pm.steps()


def test_disabling_builtin_leaves_no_steps_and_no_providers() -> None:
    pm = get_plugin_manager(env={"UPREZ_DISABLE_PLUGINS": "builtin"})

    assert pm.get_plugin("builtin") is None
    assert pm.steps() == {}
    assert pm.providers() == {}


def test_with_builtin_disabled_a_plugin_can_offer_its_own_upscale_step(install: Install) -> None:
    replacement = STUDIO_PLUGIN.replace('StepInfo("grain"', 'StepInfo("upscale"')
    install({"studio": replacement})

    pm = get_plugin_manager(env={"UPREZ_DISABLE_PLUGINS": "builtin"})

    assert list(pm.steps()) == ["upscale"]
    assert pm.steps()["upscale"].description == "add film grain"


def test_trace_plugins_logs_every_hook_call_on_the_uprez_trace_logger(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="uprez.trace")
    pm = get_plugin_manager(env={"UPREZ_TRACE_PLUGINS": "1"})

    pm.steps()
    pm.providers()

    traced = [r.getMessage() for r in caplog.records if r.name == "uprez.trace"]
    assert any("uprez_steps" in line for line in traced)
    assert any("uprez_providers" in line for line in traced)


def test_without_trace_plugins_no_hook_call_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="uprez.trace")
    pm = get_plugin_manager(env={})

    pm.steps()

    assert [r for r in caplog.records if r.name == "uprez.trace"] == []


# -- what registered plugins can do ----------------------------------------------------------------


class SecondLocal:
    @hookimpl
    def uprez_providers(self) -> list[ProviderInfo]:
        return [ProviderInfo("local", "another local provider", factory=lambda config: None)]


def test_a_provider_name_offered_twice_is_a_plugin_error() -> None:
    pm = get_plugin_manager(env={})

    with registered(pm, SecondLocal(), "clash"), pytest.raises(PluginError, match="'local'"):
        pm.providers()


def test_a_duplicate_provider_name_stops_make_provider() -> None:
    pm = get_plugin_manager(env={})

    with registered(pm, SecondLocal(), "clash"), pytest.raises(PluginError):
        pm.make_provider(fast_config({"provider.name": "local"}))


class Publish:
    """Files results under a publish folder, as the README's example plugin does."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @hookimpl(tryfirst=True)
    def uprez_output_path(self, artifact: Artifact, step: str, config: Config) -> Path:
        return self.root / f"{artifact.path.stem}_{step}.mp4"


def test_an_output_path_plugin_with_tryfirst_overrides_the_template(
    clip: Path, tmp_path: Path
) -> None:
    pm = get_plugin_manager(env={})

    with registered(pm, Publish(tmp_path / "publish"), "publish"):
        target = place(Artifact(clip), fast_config(), pm).target

    assert target == tmp_path / "publish" / "shot010_upscale.mp4"


def test_the_result_lands_where_the_output_path_plugin_says(
    server: LocalServer, clip: Path, tmp_path: Path
) -> None:
    pm = get_plugin_manager(env={})
    provider = provider_for(server)

    with registered(pm, Publish(tmp_path / "publish"), "publish"):
        result = run_upscale(Artifact(clip), config=fast_config(), pm=pm, provider=provider)

    assert result.path == tmp_path / "publish" / "shot010_upscale.mp4"
    assert result.path.exists()
    assert not clip.with_name("shot010_4k.mp4").exists()


def test_without_a_plugin_the_output_follows_output_template(clip: Path) -> None:
    pm = get_plugin_manager(env={})
    config = fast_config({"output.template": "{dir}/4k/{stem}_{step}{ext}"})

    assert place(Artifact(clip), config, pm).target == clip.parent / "4k/shot010_upscale.mp4"


def _phases(events: list[JobEvent]) -> list[str]:
    """The kinds of ``events`` with repeats collapsed: uploading, uploading -> uploading."""
    phases: list[str] = []
    for event in events:
        if not phases or phases[-1] != event.kind:
            phases.append(event.kind)
    return phases


def test_job_events_reach_a_plugin_in_order_with_the_task_id(
    server: LocalServer, clip: Path
) -> None:
    pm = get_plugin_manager(env={})
    recorder = EventRecorder()

    with registered(pm, recorder, "recorder"):
        result = run_upscale(
            Artifact(clip), config=fast_config(), pm=pm, provider=provider_for(server)
        )

    events = recorder.events
    assert _phases(events) == ["uploading", "submitted", "processing", "downloading", "completed"]
    task_id = result.metadata["task_id"]
    after_submit = events[[e.kind for e in events].index("submitted") :]
    assert {e.task_id for e in after_submit} == {task_id}
    assert {e.source for e in events} == {clip}
    assert {e.step for e in events} == {"upscale"}
    assert events[-1].detail["output"] == str(result.path)


def test_upload_and_download_events_report_progress_up_to_the_whole_file(
    server: LocalServer, clip: Path
) -> None:
    pm = get_plugin_manager(env={})
    recorder = EventRecorder()

    with registered(pm, recorder, "recorder"):
        run_upscale(Artifact(clip), config=fast_config(), pm=pm, provider=provider_for(server))

    for phase in ("uploading", "downloading"):
        fractions = [e.fraction for e in recorder.events if e.kind == phase]
        assert fractions[0] == 0.0
        assert fractions[-1] == 1.0
        assert fractions == sorted(fractions)  # type: ignore[type-var]


def test_a_failed_job_sends_a_failed_event_with_the_task_id(
    server: LocalServer, clip: Path
) -> None:
    from uprez.errors import TaskFailed
    from uprez.standin.faults import Fault

    assert server.app is not None
    server.app.faults.add(Fault("submit", "task_fail", code=1401))
    pm = get_plugin_manager(env={})
    recorder = EventRecorder()

    with registered(pm, recorder, "recorder"), pytest.raises(TaskFailed) as caught:
        run_upscale(Artifact(clip), config=fast_config(), pm=pm, provider=provider_for(server))

    last = recorder.events[-1]
    assert last.kind == "failed"
    assert last.task_id is not None
    assert last.task_id == caught.value.task_id
    assert "completed" not in [e.kind for e in recorder.events]


# -- uprez_post_export -----------------------------------------------------------------------------


def local_config() -> Config:
    return fast_config({"provider.name": "local", "local.max_size": "256x144"})


def test_post_export_upscales_a_video_artifact(clip: Path) -> None:
    pm = get_plugin_manager(env={})
    context = PostExportContext(host="test", config=local_config(), pm=pm)

    made = pm.post_export(Artifact(clip), context)

    assert [a.path for a in made] == [clip.with_name("shot010_4k.mp4")]
    assert made[0].path.exists()
    assert made[0].source == clip
    assert made[0].metadata["output"]["probe"]["width"] == 256


def test_post_export_returns_nothing_for_an_artifact_that_is_not_a_video(clip: Path) -> None:
    pm = get_plugin_manager(env={})
    context = PostExportContext(host="test", config=local_config(), pm=pm)

    answers = pm.hook.uprez_post_export(artifact=Artifact(clip, kind="image"), context=context)

    assert answers == [[]]  # the built-in answered, with nothing
    assert not clip.with_name("shot010_4k.mp4").exists()


MISSPELT_PLUGIN = """
from uprez.hookspecs import hookimpl


@hookimpl
def uprez_stepz():
    return []
"""


def test_a_plugin_implementing_an_unknown_hook_is_skipped_not_fatal(install: Install) -> None:
    install({"misspelt": MISSPELT_PLUGIN, "studio": STUDIO_PLUGIN})

    pm = get_plugin_manager(env={})

    assert "unknown hook" in pm.broken["misspelt"]
    assert "uprez_stepz" in pm.broken["misspelt"]
    assert pm.get_plugin("misspelt") is None
    assert "grain" in pm.steps()


def test_strict_plugins_makes_an_unknown_hook_a_plugin_error(install: Install) -> None:
    install({"misspelt": MISSPELT_PLUGIN})

    with pytest.raises(PluginError, match="misspelt"):
        get_plugin_manager(env={"UPREZ_STRICT_PLUGINS": "1"})
