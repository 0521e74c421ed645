"""The ``upscale`` step end to end: a host runs it against the local server over real HTTP.

Each path through a job is provoked the way the service would provoke it — a status, an HTTP error,
a dropped connection, injected by the local server — and the step must land the result whole, or
raise the right error with the task id, leave nothing at the output path, and never submit twice.
The key is a recognisable string that must never show in a log, a sidecar or an error message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from fractions import Fraction
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests
from jsonschema import Draft202012Validator, FormatChecker

from uprez.config import Config, load_config
from uprez.errors import (
    AmbiguousSubmit,
    AuthError,
    BudgetError,
    ConfigError,
    InputError,
    JobTimeout,
    TaskFailed,
    TaskGone,
    TransferError,
)
from uprez.media.probe import probe
from uprez.plugins import PluginManager, get_plugin_manager
from uprez.records import Artifact
from uprez.schema_files import load_schema
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, TEST_BOX, Service, fast_config, stats

E = TypeVar("E", bound=BaseException)


# -- fixtures --------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def key_stays_out_of_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every test here runs with DEBUG logging on; no record may carry the key."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        assert SECRET_KEY not in record.getMessage(), f"key logged by {record.name}"
        assert SECRET_KEY not in (record.exc_text or ""), f"key logged by {record.name}"
    assert SECRET_KEY not in caplog.text


def provider_for(
    service: Service | LocalServer,
    overrides: dict[str, object] | None = None,
    key: str = SECRET_KEY,
) -> WaveSpeedProvider:
    return WaveSpeedProvider.from_config(
        fast_config(overrides), base_url=service.base_url, api_key=key
    )


def upscale(
    clip: Path,
    service: Service | LocalServer,
    pm: PluginManager,
    overrides: dict[str, object] | None = None,
    **options: Any,
) -> Artifact:
    """Run the step on ``clip`` against ``service`` with fast polling, as a host would."""
    config = fast_config(overrides)
    provider = options.pop("provider", None) or provider_for(service, overrides)
    try:
        return run_upscale(Artifact(clip), config=config, pm=pm, provider=provider, **options)
    finally:
        provider.close()


def assert_key_absent(error: BaseException) -> None:
    seen: BaseException | None = error
    while seen is not None:
        assert SECRET_KEY not in str(seen)
        assert SECRET_KEY not in repr(seen)
        seen = seen.__cause__ or seen.__context__


@contextmanager
def refused(kind: type[E], match: str | None = None) -> Iterator[pytest.ExceptionInfo[E]]:
    """``pytest.raises`` that also checks the error (and its causes) never shows the key."""
    with pytest.raises(kind, match=match) as caught:
        yield caught
    assert_key_absent(caught.value)


def leftovers(folder: Path, *keep: Path) -> list[str]:
    """Files in ``folder`` other than ``keep`` (partial downloads, half-written outputs)."""
    return sorted(p.name for p in folder.iterdir() if p not in keep)


# -- a host runs the step --------------------------------------------------------------------------


def test_a_pluggy_host_upscales_an_export_through_the_local_provider(clip: Path) -> None:
    # Written as the README's pipeline example, with the test's small box.
    config = load_config(env={}, overrides={"provider.name": "local", "local.max_size": "256x144"})
    pm = get_plugin_manager(env={})
    upscale_step = pm.steps()["upscale"]

    [result] = upscale_step.run(Artifact(clip), config=config, pm=pm)

    assert result.path == clip.parent / "shot_4k.mp4"
    source, output = probe(clip), probe(result.path)
    assert (output.width, output.height) == (256, 144)
    assert output.frames == source.frames == 12
    assert output.fps == source.fps == Fraction(12)
    assert output.audio_streams == source.audio_streams == 1
    assert result.metadata["provider"] == "local"


def test_the_output_goes_to_dir_stem_4k_mp4_whatever_the_source_extension(
    make_clip: Callable[..., Path], service: Service, pm: PluginManager
) -> None:
    source = make_clip("take2.mov", seconds=1, fps=12, width=64, height=36)

    result = upscale(source, service, pm)

    assert result.path == source.parent / "take2_4k.mp4"
    assert probe(result.path).width == 256


def test_the_sidecar_validates_against_the_artifact_schema_and_records_the_job(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    result = upscale(clip, service, pm)

    path = sidecar_path(result.path)
    assert path.name == "shot_4k.mp4.uprez.json"
    text = path.read_text()
    record = json.loads(text)
    Draft202012Validator(load_schema("artifact"), format_checker=FormatChecker()).validate(record)
    assert record["task_id"] == service.new_task_id()
    assert record["billed_seconds"] == 5
    assert record["cost"] == "0.10"
    assert record["provider"] == "wavespeed"
    assert record["model"] == "runwayml/upscale-v1"
    assert record["source"]["path"] == str(clip)
    assert record["output"]["path"] == str(result.path)
    # The result is probed in the work folder before it is moved: the probe names the output.
    assert record["output"]["probe"]["path"] == str(result.path)
    assert record["source"]["probe"]["path"] == str(clip)
    assert record["output"]["size_bytes"] == result.path.stat().st_size
    assert {"upload_s", "processing_s", "download_s", "total_s", "inference_ms"} <= set(
        record["timings"]
    )
    assert isinstance(record["timings"]["inference_ms"], int)
    assert SECRET_KEY not in text


def test_the_returned_artifact_carries_the_source_tags_and_the_sidecar(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    provider = provider_for(service)
    try:
        result = run_upscale(
            Artifact(clip, tags=frozenset({"review"})),
            config=fast_config(),
            pm=pm,
            provider=provider,
        )
    finally:
        provider.close()

    assert result.source == clip
    assert result.kind == "video"
    assert result.tags == {"review", "upscaled"}
    assert result.metadata == json.loads(sidecar_path(result.path).read_text())


def test_with_output_sidecar_false_no_sidecar_is_written(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    result = upscale(clip, service, pm, {"output.sidecar": False})

    assert result.path.exists()
    assert not sidecar_path(result.path).exists()
    assert result.metadata["task_id"]


# -- refusals before anything is spent -------------------------------------------------------------

Case = Callable[[Path, Callable[..., Path]], Path]


def _missing(folder: Path, make: Callable[..., Path]) -> Path:
    return folder / "nowhere.mp4"


def _directory(folder: Path, make: Callable[..., Path]) -> Path:
    path = folder / "folder.mp4"
    path.mkdir()
    return path


def _empty(folder: Path, make: Callable[..., Path]) -> Path:
    path = folder / "empty.mp4"
    path.write_bytes(b"")
    return path


def _text(folder: Path, make: Callable[..., Path]) -> Path:
    path = folder / "notes.mp4"
    path.write_text("this is a shot list, not a video\n")
    return path


def _wrong_extension(folder: Path, make: Callable[..., Path]) -> Path:
    # A real video: only its name is wrong.
    path = make("real.mp4", seconds=1, fps=12, width=64, height=36)
    return path.rename(folder / "real.txt")


@pytest.mark.parametrize(
    "make_input",
    [_missing, _directory, _empty, _text, _wrong_extension],
    ids=["missing", "directory", "empty", "text-named-mp4", "txt-extension"],
)
def test_a_bad_input_is_refused_before_any_upload(
    make_input: Case,
    tmp_path: Path,
    make_clip: Callable[..., Path],
    service: Service,
    pm: PluginManager,
) -> None:
    source = make_input(tmp_path, make_clip)

    with refused(InputError) as caught:
        upscale(source, service, pm)

    assert caught.value.path == str(source)
    assert service.spent() == (0, 0)
    assert not (tmp_path / f"{source.stem}_4k.mp4").exists()


def test_a_job_over_its_budget_is_refused_before_any_upload(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    with refused(BudgetError, match=r"estimated \$0\.10"):
        upscale(clip, service, pm, {"limits.max_cost_per_job": "0.05"})

    assert service.spent() == (0, 0)


def test_a_video_longer_than_max_duration_goes_as_segments_and_comes_back_whole(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    result = upscale(clip, service, pm, {"limits.max_duration": 0.5})

    assert service.spent() == (2, 2)
    assert len(result.metadata["segments"]) == 2
    assert probe(result.path).frames == probe(clip).frames
    assert result.metadata["verification"]["ok"]


def test_an_existing_output_is_refused_before_any_upload_and_left_alone(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    existing = clip.parent / "shot_4k.mp4"
    existing.write_bytes(b"last week's upscale")

    with refused(InputError, match="overwrite"):
        upscale(clip, service, pm)

    assert existing.read_bytes() == b"last week's upscale"
    assert service.spent() == (0, 0)


def test_output_overwrite_replaces_an_existing_output(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    existing = clip.parent / "shot_4k.mp4"
    existing.write_bytes(b"last week's upscale")

    result = upscale(clip, service, pm, {"output.overwrite": True})

    assert result.path == existing
    assert probe(existing).width == 256


@pytest.mark.parametrize("how", ["explicit output", "template"])
def test_an_output_path_equal_to_the_source_is_refused(
    how: str, clip: Path, service: Service, pm: PluginManager
) -> None:
    before = clip.read_bytes()
    overrides: dict[str, object] = {"output.overwrite": True}
    options: dict[str, Any] = {}
    if how == "template":
        overrides["output.template"] = "{dir}/{name}"
    else:
        options["output"] = clip

    with refused(InputError, match="its own source"):
        upscale(clip, service, pm, overrides, **options)

    assert clip.read_bytes() == before
    assert service.spent() == (0, 0)


# -- what the task reports -------------------------------------------------------------------------


def test_an_unknown_status_counts_as_not_finished_yet(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "task_status", times=2, task_status="warming_up"))

    result = upscale(clip, service, pm)

    assert service.injected()["prediction:task_status"] == 2
    assert probe(result.path).frames == 12


@pytest.mark.parametrize("status", ["cancelled", "timeout", "deleted"])
def test_a_task_that_ends_without_completing_is_task_failed_with_its_id(
    status: str, clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "task_status", task_status=status))

    with refused(TaskFailed, match=status) as caught:
        upscale(clip, service, pm)

    assert caught.value.task_id == service.new_task_id()
    assert caught.value.task_id in str(caught.value)
    assert caught.value.exit_code == 5
    assert leftovers(clip.parent, clip) == []


def test_a_failed_task_is_task_failed_with_its_id_and_task_code(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("submit", "task_fail", code=1401))

    with refused(TaskFailed, match="failed") as caught:
        upscale(clip, service, pm)

    assert caught.value.code == 1401
    assert caught.value.task_id == service.new_task_id()
    assert leftovers(clip.parent, clip) == []


def test_a_task_that_stays_completed_without_outputs_stops_without_paying_twice(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "no_outputs", times=-1))

    with refused(TaskGone, match="without a result") as caught:
        upscale(clip, service, pm)

    assert caught.value.task_id == service.new_task_id()
    assert caught.value.exit_code == 6
    assert leftovers(clip.parent, clip) == []
    assert service.spent() == (1, 1)


def test_a_429_with_retry_after_on_a_poll_is_waited_out(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "http", status=429, retry_after="1"))

    result = upscale(clip, service, pm)

    assert service.injected()["prediction:http"] == 1
    assert result.metadata["timings"]["processing_s"] >= 0.95  # the asked-for second was waited
    assert service.spent()[1] == 1


def test_server_errors_on_polls_are_retried(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "http", status=500, times=2))

    result = upscale(clip, service, pm)

    assert service.injected()["prediction:http"] == 2
    assert probe(result.path).frames == 12
    assert service.spent()[1] == 1


def test_a_wrong_key_is_an_auth_error_on_the_upload(clip: Path, pm: PluginManager) -> None:
    # The server holds another key; the client sends the recognisable one, which is wrong here.
    with LocalServer(
        ServerSettings(api_key="the-right-key", max_size=TEST_BOX, account_level="silver")
    ) as other:
        with refused(AuthError, match="WAVESPEED_API_KEY") as caught:
            upscale(clip, other, pm, provider=provider_for(other, key=SECRET_KEY))

        assert caught.value.status == 401
        counts = stats(other.base_url, "the-right-key")
    assert counts["uploads"] == 0
    assert counts["submissions"] == 0


def test_a_polling_deadline_is_a_job_timeout_with_the_task_id_after_one_submission(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "task_status", times=-1, task_status="processing"))

    with refused(JobTimeout) as caught:
        upscale(clip, service, pm, {"polling.deadline": 0.3})

    assert caught.value.task_id == service.new_task_id()
    assert caught.value.task_id in str(caught.value)
    assert service.spent()[1] == 1
    assert leftovers(clip.parent, clip) == []


def test_a_submit_whose_connection_drops_is_ambiguous_and_not_sent_again(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("submit", "drop"))

    with refused(AmbiguousSubmit, match="not sent again"):
        upscale(clip, service, pm)

    assert service.injected() == {"submit:drop": 1}  # one POST, never a second
    assert service.spent() == (1, 0)  # uploaded, but no task was created
    assert leftovers(clip.parent, clip) == []


def test_an_error_envelope_on_http_200_for_the_upload_ticket_falls_back_to_upload_binary(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("upload_ticket", "envelope", code=500))

    result = upscale(clip, service, pm)

    assert result.path.exists()
    assert service.injected() == {"upload_ticket:envelope": 1}
    assert service.spent() == (1, 1)


def test_the_upload_falls_back_to_upload_binary_without_the_ticket_route(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("upload_ticket", "http", status=404))

    result = upscale(clip, service, pm)

    assert service.injected() == {"upload_ticket:http": 1}
    assert service.spent() == (1, 1)
    assert probe(result.path).frames == 12


def test_a_cut_download_is_retried_and_the_output_is_whole(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("output", "drop"))

    result = upscale(clip, service, pm)

    assert service.injected() == {"output:drop": 1}
    served = requests.get(result.metadata["output_url"], timeout=10)
    assert served.status_code == 200
    assert result.path.read_bytes() == served.content
    assert leftovers(clip.parent, clip, result.path, sidecar_path(result.path)) == []


def test_a_server_error_on_the_output_download_is_retried(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    # A download is an idempotent GET: a passing 503 from the output host deserves a retry.
    service.inject(Fault("output", "http", status=503))

    result = upscale(clip, service, pm)

    assert service.injected() == {"output:http": 1}
    assert probe(result.path).frames == 12


def test_a_download_that_keeps_failing_names_the_task_and_leaves_nothing_behind(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("output", "drop", times=-1))

    with refused(TransferError) as caught:
        upscale(clip, service, pm)

    assert leftovers(clip.parent, clip) == []
    # README, exit code 5: "the message carries the task id when there is one".
    task_id = service.new_task_id()
    assert caught.value.task_id == task_id
    assert task_id in str(caught.value)


# -- where the key goes ----------------------------------------------------------------------------


Sent = list[tuple[str, dict[str, str]]]


def run_recording_requests(
    clip: Path, service: Service, pm: PluginManager
) -> tuple[Artifact, Sent]:
    """Upscale ``clip`` and return every request the client's session made, with its headers."""
    sent: Sent = []
    provider = provider_for(service)

    def record(answer: requests.Response, *args: Any, **kwargs: Any) -> None:
        sent.append((str(answer.request.url), dict(answer.request.headers)))

    provider.client.session.hooks["response"].append(record)
    result = upscale(clip, service, pm, provider=provider)
    return result, sent


def test_every_api_call_carries_the_key(clip: Path, service: Service, pm: PluginManager) -> None:
    _, sent = run_recording_requests(clip, service, pm)

    api = [(url, headers) for url, headers in sent if "/api/v3/" in url]
    assert len(api) >= 3  # ticket, submit, at least one poll
    assert all(headers.get("Authorization") == f"Bearer {SECRET_KEY}" for _, headers in api)


def test_the_key_never_reaches_the_upload_put_target(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    # The contract: never send Authorization to upload PUT targets (capability URLs), even when
    # they live on the API's own host, as the local server's /put/ URLs do.
    _, sent = run_recording_requests(clip, service, pm)

    puts = [headers for url, headers in sent if "/put/" in url]
    assert len(puts) == 1
    assert "Authorization" not in puts[0]


def test_the_key_never_reaches_output_urls(clip: Path, service: Service, pm: PluginManager) -> None:
    _, sent = run_recording_requests(clip, service, pm)

    outputs = [headers for url, headers in sent if "/outputs/" in url]
    assert len(outputs) >= 1
    assert all("Authorization" not in headers for headers in outputs)


def test_the_debug_log_of_a_whole_job_never_shows_the_key(
    clip: Path, service: Service, pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    upscale(clip, service, pm)

    loggers = {record.name for record in caplog.records}
    # DEBUG is captured
    assert {"uprez.wavespeed.submit_answer", "urllib3.connectionpool"} <= loggers
    assert SECRET_KEY not in caplog.text


def test_a_config_with_plain_http_to_a_remote_host_is_a_config_error() -> None:
    with refused(ConfigError, match="https://"):
        fast_config({"provider.base_url": "http://example.invalid"})


def test_the_provider_refuses_plain_http_to_a_remote_host_before_any_request() -> None:
    with refused(ConfigError, match="not HTTPS"):
        WaveSpeedProvider.from_config(
            fast_config(), base_url="http://example.invalid", api_key=SECRET_KEY
        )


def test_allow_insecure_http_accepts_plain_http_to_a_remote_host() -> None:
    config = fast_config(
        {"provider.base_url": "http://example.invalid", "provider.allow_insecure_http": True}
    )

    provider = WaveSpeedProvider.from_config(config, api_key=SECRET_KEY)  # contacts nothing
    provider.close()

    assert provider.client.base_url == "http://example.invalid"


@pytest.mark.parametrize(
    "base_url", ["https://api.example.invalid", "http://127.0.0.1:9", "http://localhost:9"]
)
def test_https_and_plain_http_to_loopback_are_accepted(base_url: str) -> None:
    provider = WaveSpeedProvider.from_config(
        fast_config({"provider.base_url": base_url}), api_key=SECRET_KEY
    )
    provider.close()

    assert provider.client.base_url == base_url


def test_a_missing_key_says_how_to_set_one_or_to_use_the_local_provider(
    clip: Path, pm: PluginManager
) -> None:
    config = load_config(env={}, overrides={"provider.name": "wavespeed"})

    with refused(ConfigError) as caught:
        run_upscale(Artifact(clip), config=config, pm=pm)

    assert "WAVESPEED_API_KEY" in str(caught.value)
    assert "--provider local" in str(caught.value)
    assert not (clip.parent / "shot_4k.mp4").exists()


def test_the_key_from_the_environment_reaches_the_service(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    config: Config = load_config(
        env={"WAVESPEED_API_KEY": SECRET_KEY},
        overrides={
            "provider.base_url": service.base_url,
            "polling.first_interval": 0.02,
            "verify.target_size": "256x144",
        },
    )
    provider = WaveSpeedProvider.from_config(config)

    try:
        result = run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)
    finally:
        provider.close()

    assert result.path.exists()
    assert SECRET_KEY not in repr(provider.client)
    assert SECRET_KEY not in repr(config)
