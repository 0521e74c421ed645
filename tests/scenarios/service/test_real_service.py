"""The client against the twin's documented (strict) contract: the points where the real service
differs from the notes uprez was first written from (issue 12). Each test fails on the client
as it was and passes now, over real HTTP on loopback with real clips."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
import requests

from uprez.billing import PriceRule
from uprez.errors import AmbiguousSubmit, BudgetError, ServiceError, TaskGone, UprezError
from uprez.journal.store import Journal, default_path
from uprez.media.probe import probe
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.step.estimate import estimate
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.pacing import SubmitPacer
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, TEST_BOX, Service, fast_config, stats

E = TypeVar("E", bound=UprezError)


def upscale(
    clip: Path,
    base_url: str,
    pm: PluginManager,
    overrides: dict[str, object] | None = None,
    *,
    key: str = SECRET_KEY,
    pacer: SubmitPacer | None = None,
    **options: Any,
) -> Artifact:
    """Run the step on ``clip`` against the server at ``base_url``, as a host would."""
    config = fast_config(overrides)
    provider = WaveSpeedProvider.from_config(config, base_url=base_url, api_key=key)
    if pacer is not None:
        provider.client.pacer = pacer
    try:
        return run_upscale(Artifact(clip), config=config, pm=pm, provider=provider, **options)
    finally:
        provider.close()


def fails(kind: type[E], run: Callable[[], object]) -> E:
    with pytest.raises(kind) as caught:
        run()
    assert SECRET_KEY not in str(caught.value)
    return caught.value


def assert_upscaled(result: Artifact, clip: Path) -> None:
    source, output = probe(clip), probe(result.path)
    assert (output.width, output.height) == TEST_BOX
    assert output.frames == source.frames


def segment_rows() -> list[dict[str, Any]]:
    journal = Journal(default_path())
    try:
        [job] = journal.recent()
    finally:
        journal.close()
    rows: list[dict[str, Any]] = job["segments"]
    return rows


# -- 1. a lost submit is found through the documented listing -------------------------------------


def test_a_submit_whose_answer_was_lost_is_found_through_the_post_listing(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    # The task is made, then the connection drops: the listing (POST, items without input)
    # and the task's own result (with input) find it.
    service.inject(Fault("submit", "drop_after"))

    result = upscale(clip, service.base_url, pm)

    assert_upscaled(result, clip)
    assert service.spent() == (1, 1)


def test_a_listing_that_fails_means_not_found_and_resubmit_is_the_way_out(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("submit", "drop"), Fault("list_predictions", "http", times=-1))

    error = fails(AmbiguousSubmit, lambda: upscale(clip, service.base_url, pm))
    assert "--resubmit" in str(error)
    assert service.spent() == (1, 0)
    # The listing still fails; the rerun is not wedged: it says so again, and --resubmit goes on.
    fails(AmbiguousSubmit, lambda: upscale(clip, service.base_url, pm))
    assert service.spent() == (1, 0)
    result = upscale(clip, service.base_url, pm, resubmit=True)

    assert_upscaled(result, clip)
    assert service.spent() == (1, 1)
    service.clear()


# -- 2. the upload size ---------------------------------------------------------------------------


def test_a_source_over_the_upload_limit_is_cut_into_segments_that_each_fit(
    make_clip: Callable[..., Path], service: Service, pm: PluginManager
) -> None:
    # PCM sound makes a clip big enough for the smallest limit the config takes (64 KiB).
    clip = make_clip("big.mov", seconds=6, fps=12, width=128, height=72, audio_codec="pcm_s16le")
    limit = clip.stat().st_size // 3 + 1

    result = upscale(clip, service.base_url, pm, {"limits.max_upload_bytes": limit})

    assert_upscaled(result, clip)
    uploads, submissions = service.spent()
    assert submissions == len(result.metadata["segments"]) >= 3
    assert uploads == submissions


def test_a_size_refusal_by_the_service_replans_smaller_without_spending(
    make_clip: Callable[..., Path], pm: PluginManager
) -> None:
    clip = make_clip("big.mov", seconds=6, fps=12, width=128, height=72, audio_codec="pcm_s16le")
    limit = clip.stat().st_size // 2  # the service's; uprez believes it takes the whole file
    settings = ServerSettings(
        api_key=SECRET_KEY, max_size=TEST_BOX, max_upload_bytes=limit, account_level="silver"
    )
    with LocalServer(settings) as server:
        result = upscale(clip, server.base_url, pm, {"provider.base_url": server.base_url})
        counts = stats(server.base_url, SECRET_KEY)
        journal = Journal(default_path())
        try:
            learned = journal.upload_limit(f"wavespeed|{server.base_url}")
        finally:
            journal.close()

    assert_upscaled(result, clip)
    # Refused uploads cost nothing; only the final plan's segments were submitted.
    assert counts["submissions"] == len(result.metadata["segments"]) >= 2
    assert learned is not None and learned < clip.stat().st_size


# -- 3. rate limits -------------------------------------------------------------------------------


def test_a_429_on_submit_waits_for_the_window_and_never_fails_the_job(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    # A 429 with no Retry-After, half a second before the next minute on the pacer's clock.
    service.inject(Fault("submit", "http", status=429))

    # No retry budget at all: a 429 on submit is not a failed request but a wait for the window.
    result = upscale(
        clip,
        service.base_url,
        pm,
        {"retry.attempts": 0},
        pacer=SubmitPacer(None, wall=lambda: 59.5),
    )

    assert_upscaled(result, clip)
    assert service.spent() == (1, 1)
    assert service.injected().get("submit:http") == 1


# -- 4. polling through trouble -------------------------------------------------------------------


def test_polling_goes_on_through_errors_until_the_task_ends(
    clip: Path, service: Service, pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    service.inject(
        Fault("prediction", "http", status=503, times=12),
        Fault("prediction", "drop", times=4),
        Fault("prediction", "garbage", times=4),
        Fault("prediction", "http", status=429, times=4),
    )
    with caplog.at_level(logging.INFO, logger="uprez"):
        result = upscale(clip, service.base_url, pm, {"retry.attempts": 1})

    assert_upscaled(result, clip)
    assert service.spent() == (1, 1)
    assert "still waiting" in caplog.text


# -- 5. submit answers ----------------------------------------------------------------------------


def test_an_error_envelope_without_an_id_is_a_refusal_not_an_ambiguous_submit(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("submit", "envelope", code=500))

    error = fails(ServiceError, lambda: upscale(clip, service.base_url, pm))

    assert not isinstance(error, AmbiguousSubmit)
    assert segment_rows()[0]["state"] == "uploaded"
    service.reset()
    result = upscale(clip, service.base_url, pm)  # no --resubmit needed: no task existed
    assert_upscaled(result, clip)
    assert service.spent() == (0, 1)


# -- 6. stale uploads -----------------------------------------------------------------------------


def test_a_reused_upload_that_expired_is_uploaded_again_once(clip: Path, pm: PluginManager) -> None:
    now = [1_000_000.0]
    settings = ServerSettings(
        api_key=SECRET_KEY, max_size=TEST_BOX, account_level="silver", clock=lambda: now[0]
    )
    with LocalServer(settings) as server:
        # The first run uploads, then its submit is refused (no task): the upload is journaled.
        assert server.app is not None
        server.app.faults.add(Fault("submit", "http", status=400))
        fails(ServiceError, lambda: upscale(clip, server.base_url, pm))
        now[0] += settings.upload_lifetime + 60  # the twin forgets the upload
        result = upscale(clip, server.base_url, pm)
        counts = stats(server.base_url, SECRET_KEY)

    assert_upscaled(result, clip)
    assert counts["uploads"] == 2
    assert counts["submissions"] == 2  # the failed one (1402) is refunded


# -- 7. upload fallback ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fault",
    [
        Fault("upload_ticket", "http", status=502),
        Fault("upload_ticket", "envelope", code=500),
        Fault("upload_ticket", "garbage"),
        Fault("put_target", "http", status=403),
        Fault("put_target", "http", status=500),
    ],
    ids=["ticket-502", "ticket-envelope-500", "ticket-garbage", "put-403", "put-500"],
)
def test_the_binary_upload_takes_over_when_the_ticket_flow_fails(
    fault: Fault, clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(fault)

    result = upscale(clip, service.base_url, pm)

    assert_upscaled(result, clip)
    assert service.spent()[1] == 1


# -- 9. money before work -------------------------------------------------------------------------


def test_a_balance_below_the_estimate_refuses_before_any_upload(
    clip: Path, pm: PluginManager
) -> None:
    settings = ServerSettings(
        api_key=SECRET_KEY, max_size=TEST_BOX, account_level="silver", balance=Decimal("0.05")
    )
    with LocalServer(settings) as server:
        error = fails(BudgetError, lambda: upscale(clip, server.base_url, pm))
        counts = stats(server.base_url, SECRET_KEY)

    assert error.exit_code == 4
    assert "0.05" in str(error) and "0.10" in str(error)
    assert (counts["uploads"], counts["submissions"]) == (0, 0)


# -- 10. a task the service forgot ----------------------------------------------------------------


def test_a_task_the_service_forgot_needs_resubmit_and_is_never_replaced_silently(
    clip: Path, pm: PluginManager
) -> None:
    config = {"polling.deadline": 0.2}
    settings = ServerSettings(
        api_key=SECRET_KEY, max_size=TEST_BOX, account_level="silver", task_seconds=30
    )
    with LocalServer(settings) as first:
        base = first.base_url
        fails(ServiceError, lambda: upscale(clip, base, pm, config))  # timed out, task known
    port = int(base.rsplit(":", 1)[1])
    # The same address, restarted: it knows nothing of the task.
    again = ServerSettings(api_key=SECRET_KEY, max_size=TEST_BOX, account_level="silver")
    with LocalServer(again, port=port) as second:
        error = fails(TaskGone, lambda: upscale(clip, second.base_url, pm))
        assert error.exit_code == 6 and "--resubmit" in str(error)
        assert stats(second.base_url, SECRET_KEY)["submissions"] == 0
        result = upscale(clip, second.base_url, pm, resubmit=True)
        assert stats(second.base_url, SECRET_KEY)["submissions"] == 1

    assert_upscaled(result, clip)


def test_completed_without_outputs_is_looked_up_again_not_paid_for_twice(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "no_outputs", times=-1))

    error = fails(TaskGone, lambda: upscale(clip, service.base_url, pm))

    assert error.task_id
    service.clear()
    service.reset()
    result = upscale(clip, service.base_url, pm)  # looks the task up again: outputs are there
    assert_upscaled(result, clip)
    assert service.spent() == (0, 0)


# -- 8. headers -----------------------------------------------------------------------------------


def test_official_client_headers_are_sent_and_the_403_message_claims_no_suspension(
    service: Service,
) -> None:
    from uprez.wavespeed.client import WaveSpeedClient

    client = WaveSpeedClient(service.base_url, SECRET_KEY)
    headers = client.api_headers(client.api_url("/balance"))
    assert headers["X-Client-Name"] == "uprez" and headers["X-Client-Version"]
    assert headers["X-Client-OS"]
    answer = requests.get(client.api_url("/balance"), headers=headers, timeout=10)
    assert answer.status_code == 200
    service.inject(Fault("balance", "http", status=403, times=-1))
    with pytest.raises(ServiceError) as caught:
        client.balance()
    assert "suspend" not in str(caught.value)


def test_by_default_a_source_over_100_mb_is_planned_as_segments_under_it(
    make_clip: Callable[..., Path],
) -> None:
    # 150 MB that PyAV still reads as a 2 s clip: trailing zeros, a sparse file on disk.
    clip = make_clip("long.mp4", seconds=2, fps=12)
    os.truncate(clip, 150_000_000)
    config = fast_config()

    job = estimate(clip, config)

    assert config.get("limits.max_upload_bytes") == 100_000_000
    assert len(job.plan.segments) >= 2
    share = job.probe.size_bytes / job.probe.frames
    assert all((s.stop - s.first) * share <= 100_000_000 for s in job.plan.segments)


def test_the_same_content_under_a_new_name_after_the_service_forgot_is_copied_not_paid(
    clip: Path, pm: PluginManager
) -> None:
    settings = ServerSettings(api_key=SECRET_KEY, max_size=TEST_BOX, account_level="silver")
    with LocalServer(settings) as first:
        base = first.base_url
        earlier = upscale(clip, base, pm)
    renamed = clip.with_name("shot_copy.mp4")
    renamed.write_bytes(clip.read_bytes())
    port = int(base.rsplit(":", 1)[1])
    # The same address, restarted: the earlier task is unknown there now.
    with LocalServer(settings, port=port) as second:
        again = upscale(renamed, second.base_url, pm)
        counts = stats(second.base_url, SECRET_KEY)

    assert (counts["uploads"], counts["submissions"]) == (0, 0)
    assert again.path == renamed.with_name("shot_copy_4k.mp4")
    assert again.path.read_bytes() == earlier.path.read_bytes()
    assert again.metadata["task_id"] == earlier.metadata["task_id"]
    assert again.metadata["source"]["path"] == str(renamed)
    assert json.loads(sidecar_path(again.path).read_text())["output"]["path"] == str(again.path)


def test_a_price_quoted_by_the_service_unlike_the_configured_one_is_said_before_spending(
    clip: Path, pm: PluginManager, caplog: pytest.LogCaptureFixture
) -> None:
    settings = ServerSettings(
        api_key=SECRET_KEY,
        max_size=TEST_BOX,
        account_level="silver",
        price=PriceRule(per_second=Decimal("0.03")),
    )
    with LocalServer(settings) as server, caplog.at_level(logging.INFO, logger="uprez"):
        result = upscale(clip, server.base_url, pm)

    warning = next(r for r in caplog.records if "quotes $0.03" in r.getMessage())
    assert "limits.price_per_second" in warning.getMessage()
    # Said before the job began (its first log line), so before anything was uploaded.
    began = next(i for i, r in enumerate(caplog.records) if r.getMessage().startswith("upscaling"))
    assert caplog.records.index(warning) < began
    assert result.metadata["has_nsfw_contents"] == [False]  # the service's flags, kept


def test_without_a_journal_a_size_refusal_still_replans_smaller(
    make_clip: Callable[..., Path], pm: PluginManager
) -> None:
    clip = make_clip("big.mov", seconds=6, fps=12, width=128, height=72, audio_codec="pcm_s16le")
    settings = ServerSettings(
        api_key=SECRET_KEY,
        max_size=TEST_BOX,
        max_upload_bytes=clip.stat().st_size // 2,
        account_level="silver",
    )
    with LocalServer(settings) as server:
        result = upscale(clip, server.base_url, pm, {"journal.enabled": False})
        counts = stats(server.base_url, SECRET_KEY)

    assert_upscaled(result, clip)
    assert counts["submissions"] == len(result.metadata["segments"]) >= 2
