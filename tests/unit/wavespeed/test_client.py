"""The client's small pure parts: reading Retry-After, backoff and polling waits, URL redaction,
and reading whatever the service answers, where anything odd must become a uprez error."""

from __future__ import annotations

import contextlib
import itertools
import json
import random
from email.utils import formatdate
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from uprez.errors import AuthError, RateLimited, ServiceError, TransferError, UprezError
from uprez.net.redact import redact_url
from uprez.net.retry import RetryPolicy, parse_retry_after
from uprez.wavespeed.answers import TaskState, parse_prediction, read_envelope
from uprez.wavespeed.fetch_output import check_output_url
from uprez.wavespeed.polling import PollSchedule

NOW = 1_800_000_000.0


def answer(
    status: int,
    body: object = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    reason: str = "",
) -> requests.Response:
    """A real :class:`requests.Response` as the session would hand it over."""
    response = requests.Response()
    response.status_code = status
    response._content = raw if raw is not None else json.dumps(body).encode()
    response.headers.update(headers or {})
    response.reason = reason
    response.url = "https://api.wavespeed.ai/api/v3/predictions/abc/result"
    return response


def envelope(data: object, code: int = 200, message: str = "success") -> dict[str, Any]:
    return {"code": code, "message": message, "data": data}


# -- Retry-After -----------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "seconds"), [("3", 3.0), ("0", 0.0), (" 120 ", 120.0)])
def test_retry_after_in_seconds_is_read_as_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


def test_retry_after_as_a_future_http_date_is_the_seconds_until_then() -> None:
    header = formatdate(NOW + 30, usegmt=True)

    assert parse_retry_after(header, now=NOW) == pytest.approx(30.0)


def test_retry_after_as_a_past_http_date_means_no_wait() -> None:
    header = formatdate(NOW - 3600, usegmt=True)

    assert parse_retry_after(header, now=NOW) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5", "Tomorrow, 25:61", "12 apples"])
def test_retry_after_that_cannot_be_read_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


def test_retry_after_with_a_digit_like_character_is_none_not_a_crash() -> None:
    # HTTP headers are decoded as Latin-1, so a byte 0xB2 arrives as "\u00b2" (superscript two),
    # which str.isdigit() accepts but float() refuses.
    assert parse_retry_after("\u00b2", now=NOW) is None


# -- backoff ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("attempt", range(1, 11))
def test_backoff_is_full_jitter_under_a_doubling_capped_ceiling(attempt: int) -> None:
    policy = RetryPolicy(base=0.5, cap=8.0)
    ceiling = min(8.0, 0.5 * 2 ** (attempt - 1))
    rng = random.Random(attempt)

    delays = [policy.delay(attempt, rng=rng) for _ in range(300)]

    assert all(0.0 <= d <= ceiling for d in delays)
    assert min(delays) < 0.1 * ceiling  # full jitter: waits near zero happen ...
    assert max(delays) > 0.9 * ceiling  # ... and so do waits near the ceiling


def test_backoff_never_exceeds_the_cap_however_many_attempts() -> None:
    policy = RetryPolicy(base=0.5, cap=2.0)
    rng = random.Random(7)

    assert max(policy.delay(n, rng=rng) for n in range(1, 60) for _ in range(20)) <= 2.0


def test_backoff_honours_a_retry_after_longer_than_its_own_wait() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0, retry_after_cap=60.0)
    rng = random.Random(1)

    assert all(policy.delay(1, retry_after=3.0, rng=rng) == 3.0 for _ in range(50))


def test_backoff_honours_retry_after_only_up_to_its_cap() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0, retry_after_cap=60.0)

    assert policy.delay(1, retry_after=3600.0, rng=random.Random(1)) == 60.0


def test_a_short_retry_after_does_not_shorten_the_backoff_below_zero_or_its_ceiling() -> None:
    policy = RetryPolicy(base=0.5, cap=8.0)
    rng = random.Random(3)

    delays = [policy.delay(4, retry_after=0.0, rng=rng) for _ in range(100)]

    assert all(0.0 <= d <= 4.0 for d in delays)


# -- polling ---------------------------------------------------------------------------------------


def test_poll_intervals_grow_from_first_by_factor_up_to_max() -> None:
    schedule = PollSchedule(first=0.25, factor=2.0, max=3.0, jitter=0.0)

    assert list(schedule.intervals(6)) == [0.25, 0.5, 1.0, 2.0, 3.0, 3.0]


def test_poll_intervals_are_endless_without_a_count() -> None:
    waits = list(itertools.islice(PollSchedule(jitter=0).intervals(), 200))

    assert len(waits) == 200
    assert waits[-1] == 5.0


def test_poll_jitter_stays_within_its_fraction_of_each_interval() -> None:
    schedule = PollSchedule(first=0.25, factor=1.5, max=5.0, jitter=0.2)
    nominal = list(PollSchedule(first=0.25, factor=1.5, max=5.0, jitter=0.0).intervals(20))

    for seed in range(50):
        waits = list(schedule.intervals(20, rng=random.Random(seed)))
        for wait, expected in zip(waits, nominal, strict=True):
            assert expected * 0.8 <= wait <= expected * 1.2


def test_poll_jitter_actually_spreads_the_waits() -> None:
    schedule = PollSchedule(first=1.0, factor=1.0, max=2.0, jitter=0.5)

    waits = list(schedule.intervals(200, rng=random.Random(11)))

    assert min(waits) < 0.6
    assert max(waits) > 1.4


def test_no_poll_wait_is_longer_than_max_interval_even_with_jitter() -> None:
    schedule = PollSchedule(first=0.25, factor=1.5, max=5.0, jitter=0.5)

    waits = list(schedule.intervals(300, rng=random.Random(3)))

    assert max(waits) <= 5.0
    assert max(waits) > 4.0  # the cap is reached, not merely approached


def test_poll_intervals_are_never_negative_even_with_full_jitter() -> None:
    schedule = PollSchedule(first=0.1, factor=3.0, max=2.0, jitter=1.0)

    assert all(w >= 0.0 for w in schedule.intervals(500, rng=random.Random(5)))


# -- redaction -------------------------------------------------------------------------------------


def test_redact_url_removes_a_signed_query_string() -> None:
    url = "https://cdn.example/outputs/abc/out.mp4?X-Amz-Signature=deadbeef&X-Amz-Expires=3600"

    assert redact_url(url) == "https://cdn.example/outputs/abc/out.mp4?<redacted>"


def test_redact_url_removes_a_fragment() -> None:
    assert redact_url("https://cdn.example/a.mp4#token=secret") == "https://cdn.example/a.mp4"


def test_redact_url_leaves_a_url_without_query_unchanged() -> None:
    url = "http://127.0.0.1:8765/outputs/abc/shot_4k.mp4"

    assert redact_url(url) == url


# -- reading envelopes -----------------------------------------------------------------------------


def test_a_success_envelope_gives_its_data() -> None:
    assert read_envelope(answer(200, envelope({"id": "abc"})), "task abc") == {"id": "abc"}


def test_an_envelope_code_of_zero_is_success_too() -> None:
    assert read_envelope(answer(200, envelope([1, 2], code=0)), "list") == [1, 2]


def test_an_error_envelope_on_http_200_is_a_service_error_with_its_code() -> None:
    with pytest.raises(ServiceError, match="envelope code 500") as caught:
        read_envelope(answer(200, {"code": 500, "message": "storage unavailable"}), "upload")

    assert caught.value.code == 500
    assert caught.value.status == 200
    assert "storage unavailable" in str(caught.value)


@pytest.mark.parametrize(
    "raw", [b"<html>gateway</html>", b"[1, 2, 3]", b"null", b'"ok"', b"", b"\xff\xfe\x00{"]
)
def test_an_http_200_that_is_not_an_envelope_is_a_service_error(raw: bytes) -> None:
    with pytest.raises(ServiceError, match="not a JSON envelope"):
        read_envelope(answer(200, raw=raw), "submit")


@pytest.mark.parametrize(
    ("status", "hint"), [(401, "WAVESPEED_API_KEY"), (403, "refused this key")]
)
def test_401_and_403_are_auth_errors_with_a_hint(status: int, hint: str) -> None:
    with pytest.raises(AuthError, match=hint) as caught:
        read_envelope(answer(status, {"code": status, "message": "Unauthorized"}), "submit")

    assert caught.value.status == status


def test_429_is_rate_limited_with_the_wait_asked_for() -> None:
    with pytest.raises(RateLimited) as caught:
        read_envelope(answer(429, {"code": 429}, headers={"Retry-After": "7"}), "task abc", "abc")

    assert caught.value.retry_after == 7.0
    assert caught.value.status == 429
    assert caught.value.task_id == "abc"


def test_429_without_retry_after_is_rate_limited_without_a_wait() -> None:
    with pytest.raises(RateLimited) as caught:
        read_envelope(answer(429, raw=b"slow down"), "submit")

    assert caught.value.retry_after is None


def test_429_with_an_unreadable_retry_after_is_still_rate_limited() -> None:
    # "²" is what a Retry-After byte 0xB2 decodes to.
    with pytest.raises(RateLimited):
        read_envelope(answer(429, {"code": 429}, headers={"Retry-After": "\u00b2"}), "submit")


def test_an_http_error_carries_status_envelope_code_message_and_task_id() -> None:
    body = {"code": 1401, "message": "video must be an http(s) URL"}

    with pytest.raises(ServiceError) as caught:
        read_envelope(answer(400, body), "task abc", "abc")

    assert (caught.value.status, caught.value.code, caught.value.task_id) == (400, 1401, "abc")
    assert "video must be an http(s) URL" in str(caught.value)
    assert "abc" in str(caught.value)


def test_an_http_error_without_json_uses_the_reason_phrase() -> None:
    with pytest.raises(ServiceError, match="502 Bad Gateway") as caught:
        read_envelope(answer(502, raw=b"<html>oops</html>", reason="Bad Gateway"), "task abc")

    assert caught.value.code is None


def test_a_long_error_message_is_cut_short() -> None:
    with pytest.raises(ServiceError) as caught:
        read_envelope(answer(500, {"code": 500, "message": "x" * 100_000}), "submit")

    assert len(str(caught.value)) < 400


def test_a_deeply_nested_answer_is_a_service_error_not_a_crash() -> None:
    raw = b"[" * 100_000 + b"]" * 100_000

    with pytest.raises(ServiceError):
        read_envelope(answer(200, raw=raw), "task abc")


# -- reading predictions ---------------------------------------------------------------------------


def test_a_prediction_becomes_a_task_state() -> None:
    state = parse_prediction(
        {
            "id": "pred_123",
            "status": "completed",
            "outputs": ["https://cdn.example/a.mp4"],
            "timings": {"inference": 5120},
            "code": 0,
            "error": "",
        },
        "task pred_123",
    )

    assert state == TaskState(
        "pred_123", "completed", ("https://cdn.example/a.mp4",), "", 0, inference_ms=5120
    )
    assert state.finished


@pytest.mark.parametrize("status", ["completed", "failed", "cancelled", "timeout", "deleted"])
def test_every_terminal_status_is_finished_in_any_case(status: str) -> None:
    assert parse_prediction({"id": "a", "status": status.upper()}, "t").finished


@pytest.mark.parametrize("status", ["created", "pending", "processing", "warming_up", ""])
def test_other_statuses_are_not_finished(status: str) -> None:
    assert not parse_prediction({"id": "a", "status": status}, "t").finished


def test_a_prediction_without_an_id_takes_the_known_task_id() -> None:
    assert parse_prediction({"status": "processing"}, "task abc", "abc").id == "abc"


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        "completed",
        {},
        {"status": "completed"},
        {"id": 12, "status": "completed"},
        {"id": "", "status": "completed"},
        {"id": "a", "status": 7},
        {"id": "a", "status": "completed", "outputs": "https://cdn.example/a.mp4"},
        {"id": "a", "status": "completed", "outputs": [None]},
        {"id": "a", "status": "completed", "outputs": {"url": "x"}},
    ],
)
def test_a_malformed_prediction_is_a_service_error(data: object) -> None:
    with pytest.raises(ServiceError):
        parse_prediction(data, "task a")


def test_odd_optional_fields_are_ignored_rather_than_trusted() -> None:
    state = parse_prediction(
        {
            "id": "a",
            "status": "failed",
            "outputs": None,
            "code": True,
            "error": {"detail": "boom"},
            "timings": {"inference": "12"},
        },
        "task a",
    )

    assert (state.outputs, state.code, state.error, state.inference_ms) == ((), None, "", None)


@pytest.mark.parametrize("data", [{"id": "a"}, {"id": "a", "status": None}])
def test_a_prediction_with_an_id_and_no_status_was_just_created(data: dict[str, object]) -> None:
    assert parse_prediction(data, "submit").status == "created"


def test_documented_loose_shapes_are_read() -> None:
    state = parse_prediction(
        {
            "id": "a",
            "status": "completed",
            "outputs": [{"url": "https://cdn.example/a.mp4"}, "https://cdn.example/b.mp4"],
            "has_nsfw_contents": [False, True],
            "timings": {"inference": 1234.6},
            "input": {"video": "https://storage.example/in.mp4"},
        },
        "task a",
    )

    assert state.outputs == ("https://cdn.example/a.mp4", "https://cdn.example/b.mp4")
    assert state.nsfw == (False, True)
    assert state.inference_ms == 1235
    assert state.input_video == "https://storage.example/in.mp4"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=20,
)
prediction_like = st.fixed_dictionaries(
    {},
    optional={
        key: json_values | st.text() | st.lists(st.text(), max_size=3)
        for key in ("id", "status", "outputs", "timings", "code", "error")
    },
)


@settings(max_examples=150, deadline=None)
@given(data=json_values | prediction_like, task_id=st.none() | st.text(max_size=8))
def test_parse_prediction_of_any_json_is_a_task_state_or_a_service_error(
    data: object, task_id: str | None
) -> None:
    try:
        state = parse_prediction(data, "task", task_id)
    except ServiceError:
        return
    assert isinstance(state, TaskState)
    assert isinstance(state.id, str) and state.id
    assert state.status == state.status.lower()
    assert all(isinstance(url, str) for url in state.outputs)
    assert state.code is None or type(state.code) is int
    assert state.inference_ms is None or type(state.inference_ms) is int


@settings(max_examples=100, deadline=None)
@given(
    status=st.integers(min_value=100, max_value=599),
    body=st.binary(max_size=64) | json_values.map(lambda v: json.dumps(v).encode()),
)
def test_read_envelope_of_any_answer_returns_or_raises_a_uprez_error(
    status: int, body: bytes
) -> None:
    with contextlib.suppress(UprezError):
        read_envelope(answer(status, raw=body), "task")


@pytest.mark.parametrize(
    "url",
    [
        "https://cdn.example/out.mp4",
        "http://127.0.0.1:9/o.mp4",
        "http://localhost/o.mp4",
        "http://[::1]:8/o.mp4",
    ],
)
def test_https_and_loopback_output_urls_are_accepted(url: str) -> None:
    check_output_url(url, "t1")


@pytest.mark.parametrize(
    "url", ["http://cdn.example/out.mp4?sig=abc", "ftp://cdn.example/out.mp4", "file:///etc/passwd"]
)
def test_other_output_urls_are_refused_with_the_task_id_and_no_query(url: str) -> None:
    with pytest.raises(TransferError) as caught:
        check_output_url(url, "t1")
    assert caught.value.task_id == "t1"
    assert "sig=abc" not in str(caught.value)


def test_plain_http_outputs_pass_when_explicitly_allowed() -> None:
    check_output_url("http://cdn.example/out.mp4", "t1", allow_insecure_http=True)
