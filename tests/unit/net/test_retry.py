"""Retrying idempotent API requests (uprez.net.retry): Retry-After, backoff, which
methods and statuses are retried, how often, and the waits, first on their own and then through
the client against real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from uprez import interrupt
from uprez.errors import AmbiguousSubmit, RateLimited, ServiceError
from uprez.net.retry import RETRY_STATUSES, PolicyRetry, RetryPolicy, parse_retry_after
from uprez.standin.faults import Fault
from uprez.wavespeed.client import WaveSpeedClient

from support import SECRET_KEY, Service

NOW = 1_800_000_000.0
URL = "http://127.0.0.1:9/api/v3/balance"


def answer(status: int, headers: dict[str, str] | None = None) -> requests.Response:
    """A real :class:`requests.Response` as the session hands it over."""
    response = requests.Response()
    response.status_code = status
    response._content = b"{}"
    response.headers.update(headers or {})
    return response


@pytest.fixture
def seeded() -> Iterator[None]:
    """The module-level random generator (which the retry's jitter draws from) seeded, and
    restored afterwards."""
    state = random.getstate()
    random.seed(20240611)
    yield
    random.setstate(state)


# -- parse_retry_after -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"), [("0", 0.0), ("7", 7.0), (" 120 ", 120.0), ("86400", 86400.0)]
)
def test_retry_after_seconds(value: str, seconds: float) -> None:
    assert parse_retry_after(value, now=NOW) == seconds


@pytest.mark.parametrize(
    "header",
    [
        formatdate(NOW + 45, usegmt=True),  # IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT
        time.strftime("%A, %d-%b-%y %H:%M:%S GMT", time.gmtime(NOW + 45)),  # RFC 850
    ],
    ids=["imf-fixdate", "rfc850"],
)
def test_retry_after_http_date_is_the_seconds_until_then(header: str) -> None:
    assert parse_retry_after(header, now=NOW) == pytest.approx(45.0)


def test_retry_after_http_date_is_measured_from_the_clock_by_default() -> None:
    header = formatdate(time.time() + 100, usegmt=True)

    assert parse_retry_after(header) == pytest.approx(100.0, abs=2.0)


def test_retry_after_http_date_in_the_past_is_no_wait() -> None:
    assert parse_retry_after(formatdate(NOW - 600, usegmt=True), now=NOW) == 0.0


def test_retry_after_asctime_http_date_is_gmt_whatever_the_local_zone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    header = time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(NOW + 45))
    try:
        with monkeypatch.context() as local:
            local.setenv("TZ", "America/New_York")
            time.tzset()
            seconds = parse_retry_after(header, now=NOW)
    finally:
        time.tzset()

    assert seconds == pytest.approx(45.0)


@pytest.mark.parametrize(
    "value",
    [
        None,
        "",
        "   ",
        "soon",
        "-5",
        "1.5",
        "5s",
        "0x10",
        "Tomorrow, 25:61",
        "\u00b2",
        "\uff11\uff12",
    ],
)
def test_retry_after_absent_or_garbled_is_none(value: str | None) -> None:
    assert parse_retry_after(value, now=NOW) is None


# -- RetryPolicy.delay -----------------------------------------------------------------------------


def test_backoff_ceiling_doubles_then_stops_at_the_cap() -> None:
    policy = RetryPolicy(base=0.25, cap=3.0)
    rng = random.Random(5)

    highest = [max(policy.delay(n, rng=rng) for _ in range(2000)) for n in range(1, 9)]
    ceilings = [min(3.0, 0.25 * 2 ** (n - 1)) for n in range(1, 9)]

    for top, ceiling in zip(highest, ceilings, strict=True):
        assert 0.95 * ceiling < top <= ceiling
    # Grows while under the cap, then stays there.
    assert highest[0] < highest[1] < highest[2] < highest[3] < highest[4]
    assert all(top <= 3.0 for top in highest[4:])


def test_backoff_is_reproducible_with_a_seeded_generator() -> None:
    policy = RetryPolicy()

    first = [policy.delay(n, rng=random.Random(42)) for n in range(1, 6)]
    again = [policy.delay(n, rng=random.Random(42)) for n in range(1, 6)]

    assert first == again
    assert len(set(first)) == 5


@pytest.mark.parametrize(("retry_after", "expected"), [(3.0, 3.0), (60.0, 60.0), (61.0, 60.0)])
def test_backoff_takes_retry_after_up_to_its_cap(retry_after: float, expected: float) -> None:
    policy = RetryPolicy(base=0.1, cap=1.0, retry_after_cap=60.0)
    rng = random.Random(9)

    assert {policy.delay(2, retry_after=retry_after, rng=rng) for _ in range(100)} == {expected}


def test_a_retry_after_shorter_than_the_backoff_does_not_shorten_it() -> None:
    policy = RetryPolicy(base=4.0, cap=4.0)
    rng = random.Random(11)

    delays = [policy.delay(1, retry_after=0.5, rng=rng) for _ in range(500)]

    assert all(0.5 <= d <= 4.0 for d in delays)
    assert max(delays) > 3.5


# -- which requests are retried --------------------------------------------------------------------


def test_the_retried_statuses_are_429_and_the_transient_5xx() -> None:
    assert frozenset({429, 500, 502, 503, 504}) == RETRY_STATUSES


@pytest.mark.parametrize("method", ["GET", "get", "POST"])
def test_the_vouched_method_is_retried_on_every_retried_status(method: str) -> None:
    retry = RetryPolicy().retrying(method)

    assert isinstance(retry, PolicyRetry)
    assert all(retry.is_retry(method.upper(), status) for status in RETRY_STATUSES)


@pytest.mark.parametrize("status", [200, 201, 301, 400, 401, 403, 404, 409, 413, 422, 501, 505])
def test_other_statuses_are_not_retried(status: int) -> None:
    assert not RetryPolicy().retrying("GET").is_retry("GET", status)


@pytest.mark.parametrize("other", ["POST", "PUT", "PATCH", "DELETE"])
def test_a_get_retry_does_not_retry_another_method(other: str) -> None:
    retry = RetryPolicy().retrying("GET")

    assert not retry.is_retry(other, 503)
    assert not retry.is_retry(other, 429)


def test_a_post_retry_covers_that_post_only() -> None:
    retry = RetryPolicy().retrying("POST")

    assert retry.is_retry("POST", 503)
    assert not retry.is_retry("PUT", 503)
    assert not retry.is_retry("GET", 503)


# -- how many tries --------------------------------------------------------------------------------


def tries_until_given_up(retry: PolicyRetry | None, **failure: Any) -> int:
    """Requests made when every one fails as ``failure`` says, following the Retry."""
    made = 0
    while retry is not None:
        made += 1
        retry = retry.next_try("GET", URL, **failure)
    return made


@pytest.mark.parametrize("attempts", [0, 1, 3, 5])
def test_attempts_is_the_number_of_retries_after_a_retried_status(attempts: int) -> None:
    retry = RetryPolicy(attempts=attempts).retrying("GET")

    assert tries_until_given_up(retry, answer=answer(503)) == attempts + 1


@pytest.mark.parametrize("attempts", [0, 2, 4])
def test_attempts_is_the_number_of_retries_after_a_connection_error(attempts: int) -> None:
    retry = RetryPolicy(attempts=attempts).retrying("GET")

    made = tries_until_given_up(retry, error=requests.ConnectionError("refused"))

    assert made == attempts + 1


def test_each_try_is_kept_in_the_history_and_the_wait_and_policy_carry_over() -> None:
    policy = RetryPolicy(attempts=3, base=0.01, cap=0.02)
    waits: list[float] = []
    retry: PolicyRetry | None = policy.retrying("GET", waits.append)
    statuses = [503, 429, 502]

    for number, status in enumerate(statuses, start=1):
        assert retry is not None
        retry = retry.next_try("GET", URL, answer=answer(status))
        assert retry is not None
        assert len(retry.history) == number
        assert retry.history[-1].status == status
        assert retry.policy is policy
        assert retry.wait == waits.append
        retry.sleep_after(answer(status))

    assert len(waits) == 3
    assert retry is not None
    assert retry.next_try("GET", URL, answer=answer(503)) is None


# -- the waits -------------------------------------------------------------------------------------


def test_the_default_wait_is_the_interruptible_sleep() -> None:
    assert RetryPolicy().retrying("GET").wait is interrupt.sleep


def test_backoff_waits_go_through_the_given_function_and_stay_under_the_cap(seeded: None) -> None:
    policy = RetryPolicy(attempts=8, base=0.1, cap=1.0)
    per_try: list[list[float]] = [[] for _ in range(8)]
    for _ in range(300):
        waits: list[float] = []
        retry: PolicyRetry | None = policy.retrying("GET", waits.append)
        while retry is not None:
            retry = retry.next_try("GET", URL, answer=answer(500))
            if retry is not None:
                retry.sleep_after(answer(500))
        assert len(waits) == 8
        for number, wait in enumerate(waits):
            per_try[number].append(wait)

    ceilings = [min(1.0, 0.1 * 2**n) for n in range(8)]
    for waits_of_try, ceiling in zip(per_try, ceilings, strict=True):
        assert all(0.0 <= w <= ceiling for w in waits_of_try)
        assert max(waits_of_try) > 0.9 * ceiling
    # Longer waits the more tries have failed, until the cap.
    means = [sum(w) / len(w) for w in per_try]
    assert means[0] < means[1] < means[2] < means[3]


def test_waits_are_reproducible_from_the_seed() -> None:
    def waits_with(seed: int) -> list[float]:
        random.seed(seed)
        waits: list[float] = []
        retry: PolicyRetry | None = RetryPolicy(attempts=4).retrying("GET", waits.append)
        while (retry := retry.next_try("GET", URL, answer=answer(503))) is not None:
            retry.sleep_after(answer(503))
        return waits

    state = random.getstate()
    try:
        assert waits_with(3) == waits_with(3)
        assert waits_with(3) != waits_with(4)
    finally:
        random.setstate(state)


@pytest.mark.parametrize("status", sorted(RETRY_STATUSES))
def test_retry_after_is_honoured_on_every_retried_status(status: int) -> None:
    waits: list[float] = []
    retry = RetryPolicy(base=0.01, cap=0.02).retrying("GET", waits.append)
    seen = answer(status, {"Retry-After": "7"})

    following = retry.next_try("GET", URL, answer=seen)
    assert following is not None
    following.sleep_after(seen)

    assert waits == [7.0]


def test_retry_after_as_an_http_date_is_honoured() -> None:
    waits: list[float] = []
    retry = RetryPolicy(base=0.01, cap=0.02).retrying("GET", waits.append)
    seen = answer(429, {"Retry-After": formatdate(time.time() + 20, usegmt=True)})

    following = retry.next_try("GET", URL, answer=seen)
    assert following is not None
    following.sleep_after(seen)

    assert waits == [pytest.approx(20.0, abs=2.0)]


def test_retry_after_above_its_cap_waits_only_the_cap() -> None:
    waits: list[float] = []
    retry = RetryPolicy(base=0.01, cap=0.02, retry_after_cap=30.0).retrying("GET", waits.append)
    seen = answer(503, {"Retry-After": "3600"})

    following = retry.next_try("GET", URL, answer=seen)
    assert following is not None
    following.sleep_after(seen)

    assert waits == [30.0]


@pytest.mark.parametrize("header", [{"Retry-After": "later"}, {"Retry-After": "-3"}, {}])
def test_a_garbled_or_absent_retry_after_falls_back_to_the_backoff(
    header: dict[str, str],
) -> None:
    waits: list[float] = []
    retry = RetryPolicy(base=0.01, cap=0.02).retrying("GET", waits.append)
    seen = answer(503, header)

    following = retry.next_try("GET", URL, answer=seen)
    assert following is not None
    following.sleep_after(seen)  # urllib3's own reading would raise on "later"

    assert len(waits) == 1
    assert 0.0 <= waits[0] <= 0.01


def test_after_a_connection_error_the_wait_is_the_backoff() -> None:
    waits: list[float] = []
    retry = RetryPolicy(base=0.01, cap=0.02).retrying("GET", waits.append)

    following = retry.next_try("GET", URL, error=requests.ConnectionError("reset"))
    assert following is not None
    following.sleep_after(None)

    assert len(waits) == 1
    assert 0.0 <= waits[0] <= 0.01


# -- end to end: a scripted HTTP server on 127.0.0.1 ----------------------------------------------

#: Close the connection without answering.
DROP = (0, {}, b"")


def ok(data: object) -> tuple[int, dict[str, str], bytes]:
    return 200, {}, json.dumps({"code": 200, "message": "success", "data": data}).encode()


def failed(status: int, headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
    body = json.dumps({"code": status, "message": "try later", "data": None}).encode()
    return status, headers or {}, body


class Scripted:
    """A real HTTP server on loopback that answers request after request as scripted (the last
    answer again once the script runs out) and records each request's method and path."""

    def __init__(self, *script: tuple[int, dict[str, str], bytes]) -> None:
        self.script = list(script)
        self.seen: list[tuple[str, str]] = []
        lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                with lock:
                    owner.seen.append((self.command, self.path))
                    status, headers, body = (
                        owner.script.pop(0) if len(owner.script) > 1 else owner.script[0]
                    )
                if status == 0:
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = handle_one

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(
            target=self._http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.base_url = f"http://127.0.0.1:{self._http.server_port}"

    def __enter__(self) -> Scripted:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._http.shutdown()
        self._http.server_close()


def client_of(base_url: str, **policy: float) -> tuple[WaveSpeedClient, list[float]]:
    """A client of ``base_url`` with ``policy``'s retry numbers, whose waits are recorded
    instead of slept."""
    numbers: dict[str, Any] = {"attempts": 5, "base": 0.01, "cap": 0.02, **policy}
    client = WaveSpeedClient(base_url, api_key=SECRET_KEY, retry=RetryPolicy(**numbers))
    waits: list[float] = []
    client.connection.sleep = waits.append
    return client, waits


def test_a_get_that_gets_503_twice_then_200_succeeds_on_the_third_request() -> None:
    with Scripted(failed(503), failed(503), ok({"balance": 12.5})) as server:
        client, waits = client_of(server.base_url)
        try:
            held = client.balance()
        finally:
            client.session.close()

    assert held == Decimal("12.5")
    assert server.seen == [("GET", "/api/v3/balance")] * 3
    assert len(waits) == 2
    assert all(0.0 <= w <= 0.02 for w in waits)


def test_a_429_asking_for_longer_than_the_cap_raises_at_once() -> None:
    with Scripted(failed(429, {"Retry-After": "3600"}), ok({"balance": 1})) as server:
        client, waits = client_of(server.base_url, retry_after_cap=60.0)
        started = time.monotonic()
        try:
            with pytest.raises(RateLimited) as caught:
                client.balance()
        finally:
            client.session.close()
        elapsed = time.monotonic() - started

    assert caught.value.retry_after == 3600.0
    assert caught.value.status == 429
    assert server.seen == [("GET", "/api/v3/balance")]
    assert waits == []
    assert elapsed < 5.0


def test_a_retry_after_within_the_cap_is_waited_through_the_connections_sleep() -> None:
    with Scripted(failed(429, {"Retry-After": "9"}), ok({"balance": 3})) as server:
        client, waits = client_of(server.base_url, retry_after_cap=60.0)
        try:
            held = client.balance()
        finally:
            client.session.close()

    assert held == Decimal(3)
    assert waits == [9.0]  # recorded, never slept
    assert len(server.seen) == 2


def test_a_get_gives_up_after_attempts_retries_with_the_last_status() -> None:
    with Scripted(failed(502)) as server:
        client, waits = client_of(server.base_url, attempts=2)
        try:
            with pytest.raises(ServiceError) as caught:
                client.balance()
        finally:
            client.session.close()

    assert not isinstance(caught.value, RateLimited)
    assert caught.value.status == 502
    assert len(server.seen) == 3  # the first try and two retries
    assert len(waits) == 2


def test_a_dropped_connection_is_retried() -> None:
    with Scripted(DROP, ok({"balance": 7})) as server:
        client, waits = client_of(server.base_url)
        try:
            held = client.balance()
        finally:
            client.session.close()

    assert held == Decimal(7)
    assert len(server.seen) == 2
    assert len(waits) == 1


def test_a_read_only_post_is_retried() -> None:
    with Scripted(failed(503), ok({"unit_price": "0.25"})) as server:
        client, _ = client_of(server.base_url)
        try:
            price = client.price("runwayml/upscale-v1", {"video": "https://x/y.mp4"})
        finally:
            client.session.close()

    assert price == Decimal("0.25")
    assert server.seen == [("POST", "/api/v3/model/pricing")] * 2


def test_the_submit_post_is_never_retried() -> None:
    with Scripted(failed(503), ok({"id": "abc", "status": "created"})) as server:
        client, waits = client_of(server.base_url)
        try:
            with pytest.raises(AmbiguousSubmit):
                client.submit("runwayml/upscale-v1", {"video": "https://x/y.mp4"})
        finally:
            client.session.close()

    assert server.seen == [("POST", "/api/v3/runwayml/upscale-v1")]
    assert waits == []


# -- end to end: the local stand-in server's injected faults ---------------------------------------


def test_the_stand_in_server_s_503s_are_retried_through(service: Service) -> None:
    service.inject(Fault("balance", "http", times=2, status=503))
    client, waits = client_of(service.base_url)
    try:
        held = client.balance()
    finally:
        client.session.close()

    assert held > 0
    assert service.injected() == {"balance:http": 2}
    assert len(waits) == 2


def test_the_stand_in_server_s_long_retry_after_stops_at_once(service: Service) -> None:
    service.inject(Fault("balance", "http", times=3, status=429, retry_after="600"))
    client, waits = client_of(service.base_url, retry_after_cap=30.0)
    try:
        with pytest.raises(RateLimited) as caught:
            client.balance()
    finally:
        client.session.close()

    assert caught.value.retry_after == 600.0
    assert service.injected() == {"balance:http": 1}
    assert waits == []
