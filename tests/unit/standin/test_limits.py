"""The account's limits, as the provider documents them: submits per minute (429 with no
``Retry-After``, no task created; counted in any 60 s, the strictest reading of "limits reset
every minute") and tasks at once (the rest wait, ``created``), by account level — bronze by
default, as strict as the lowest real account."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from uprez.errors import ConfigError
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, GatedOrigin, serving, task_ids, wait_for

MODEL = "runwayml/upscale-v1"


class Clock:
    """A wall clock the test moves by hand, starting 10 s into a minute."""

    def __init__(self) -> None:
        self.now = 1_900_000_000.0 - 1_900_000_000.0 % 60 + 10

    def __call__(self) -> float:
        return self.now


@contextmanager
def limited(**settings: Any) -> Iterator[tuple[LocalServer, requests.Session]]:
    options: dict[str, Any] = {"api_key": TEST_KEY, "max_size": TEST_BOX, **settings}
    with LocalServer(ServerSettings(**options)) as server:
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TEST_KEY}"
        yield server, session


def submit(api: requests.Session, server: LocalServer, video: str | None = None) -> Any:
    video = video or f"{server.storage_url}/media/000/none.mp4"
    return api.post(f"{server.base_url}/api/v3/{MODEL}", json={"video": video}, timeout=10)


def stats(api: requests.Session, server: LocalServer) -> dict[str, Any]:
    data: dict[str, Any] = api.get(f"{server.base_url}/_uprez/stats", timeout=10).json()["data"]
    return data


# -- the levels ----------------------------------------------------------------------------------


def test_the_default_account_is_bronze_two_submits_a_minute_and_two_tasks_at_once() -> None:
    settings = ServerSettings(workers=8)

    assert settings.account_level == "bronze"
    assert (settings.rate_limit, settings.concurrency) == (2, 2)


@pytest.mark.parametrize(
    ("level", "rate", "at_once"),
    [("bronze", 2, 2), ("silver", 500, 300), ("gold", 1000, 600), ("unlimited", None, 1000)],
)
def test_each_level_has_its_limits_within_the_workers(
    level: str, rate: int | None, at_once: int
) -> None:
    settings = ServerSettings(account_level=level, workers=1000)

    assert settings.rate_limit == rate
    assert settings.concurrency == at_once
    assert ServerSettings(account_level=level, workers=1).concurrency == 1


def test_explicit_limits_override_the_level() -> None:
    settings = ServerSettings(account_level="silver", submits_per_minute=7, concurrent_tasks=3)

    assert (settings.rate_limit, settings.concurrency) == (7, 2)  # 3 at once, within 2 workers
    assert ServerSettings(account_level="unlimited", concurrent_tasks=1).concurrency == 1


@pytest.mark.parametrize(
    "options",
    [
        {"account_level": "platinum"},
        {"submits_per_minute": 0},
        {"concurrent_tasks": -1},
        {"submits_per_minute": 1.5},
    ],
)
def test_an_impossible_account_is_a_config_error(options: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ServerSettings(**options)


# -- submits per minute --------------------------------------------------------------------------


def test_a_submit_over_the_minute_is_429_without_retry_after_and_creates_no_task() -> None:
    clock = Clock()
    with limited(clock=clock) as (server, api):
        accepted = [submit(api, server) for _ in range(2)]
        refused = submit(api, server)
        counters = stats(api, server)
        tasks = task_ids(server.base_url, TEST_KEY)

    assert [answer.status_code for answer in accepted] == [200, 200]
    assert refused.status_code == 429, refused.text
    assert refused.json()["code"] == 429
    assert refused.json()["data"] is None
    assert "Retry-After" not in refused.headers
    assert counters["submissions"] == 2
    assert counters["rate_limited"] == 1
    assert sorted(tasks) == sorted(answer.json()["data"]["id"] for answer in accepted)


def test_the_window_slides_a_refused_submit_goes_60_s_after_the_oldest_one_counted() -> None:
    clock = Clock()
    start = clock.now
    with limited(clock=clock, submits_per_minute=1) as (server, api):
        first = submit(api, server)
        clock.now += 49.0  # 59 s into the same minute
        same_minute = submit(api, server)
        clock.now += 1.0  # the next wall-clock minute has begun: no reset, 50 s since the first
        next_minute = submit(api, server)
        clock.now += 9.99  # 59.99 s since the first
        almost = submit(api, server)
        clock.now = start + 60.0  # the first submit's time + 60 s
        sixty_after = submit(api, server)
        again = submit(api, server)
        counters = stats(api, server)

    codes = [a.status_code for a in (first, same_minute, next_minute, almost, sixty_after, again)]
    assert codes == [200, 429, 429, 429, 200, 429]
    assert counters["rate_limited"] == 4


def test_no_60_s_anywhere_holds_more_than_the_limit() -> None:
    # Two submits at the end of one minute and two at the start of the next are four in 2 s:
    # a window that reset on the minute would take them; any 60 s holds at most two here.
    clock = Clock()
    clock.now += 48.0  # 58 s into a minute
    with limited(clock=clock, submits_per_minute=2) as (server, api):
        late = [submit(api, server) for _ in range(2)]
        clock.now += 2.0  # the next minute
        early = [submit(api, server) for _ in range(2)]
        clock.now += 30.0
        first_one_out = submit(api, server)  # 32 s after the two: still in their 60 s
        clock.now += 28.0  # 60 s after the two
        both_out = [submit(api, server) for _ in range(3)]

    assert [a.status_code for a in late] == [200, 200]
    assert [a.status_code for a in early] == [429, 429]
    assert first_one_out.status_code == 429
    assert [a.status_code for a in both_out] == [200, 200, 429]


def test_refused_submits_do_not_use_up_the_window() -> None:
    clock = Clock()
    with limited(clock=clock, submits_per_minute=2) as (server, api):
        bad = api.post(f"{server.base_url}/api/v3/{MODEL}", json={}, timeout=10)
        unknown = api.post(
            f"{server.base_url}/api/v3/vendor/x", json={"video": "http://a/b"}, timeout=10
        )
        good = [submit(api, server) for _ in range(2)]

    assert (bad.status_code, unknown.status_code) == (400, 404)
    assert [answer.status_code for answer in good] == [200, 200]


# -- tasks at once -------------------------------------------------------------------------------


def status_of(api: requests.Session, answer: requests.Response) -> str:
    url = answer.json()["data"]["urls"]["get"]
    status: str = api.get(url, timeout=10).json()["data"]["status"]
    return status


def test_tasks_over_the_concurrency_limit_wait_as_created_until_one_finishes() -> None:
    # Bronze allows 2 tasks at once even with 4 workers; the third waits in the queue.
    body = b"not a video, but it takes as long as the origin holds it"
    with (
        limited(workers=4, submits_per_minute=10) as (server, api),
        GatedOrigin(body) as origin,
    ):
        held = [submit(api, server, origin.url(f"{i}.mp4")) for i in range(3)]
        origin.wait_for_requests(2)
        snapshot = [status_of(api, answer) for answer in held]
        fetches_while_full = origin.requests

        origin.gate.set()
        finished = [wait_for(api, answer.json()["data"]["urls"]["get"]) for answer in held]
        assert server.app is not None
        peak = server.app.processor.peak_running

    assert snapshot == ["processing", "processing", "created"]
    assert fetches_while_full == 2
    assert [task["status"] for task in finished] == ["failed"] * 3  # all ran, in the end
    assert peak == 2


# -- uprez serve ---------------------------------------------------------------------------------


def test_uprez_serve_takes_the_account_flags() -> None:
    with serving(
        *("--account-level", "silver", "--submits-per-minute", "1"), *("--concurrent-tasks", "1")
    ) as (lines, base):
        session = requests.Session()
        session.headers["Authorization"] = f"Bearer {TEST_KEY}"
        video = {"video": "http://127.0.0.1:9/none.mp4"}
        answers = [
            session.post(f"{base}/api/v3/{MODEL}", json=video, timeout=10).status_code
            for _ in range(2)
        ]

    assert "account level silver: 1 submits a minute, 1 tasks at once" in lines[3]
    assert answers == [200, 429]


@pytest.mark.parametrize(
    "flags",
    [
        ("--account-level", "platinum"),
        ("--submits-per-minute", "0"),
        ("--concurrent-tasks", "-2"),
        ("--max-upload-bytes", "0"),
    ],
)
def test_uprez_serve_refuses_impossible_limits(flags: tuple[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "uprez", "serve", "--port", "0", *flags],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert done.returncode == 2, done
    assert flags[0] in done.stderr
    assert "must be at least 1" in done.stderr or "invalid choice" in done.stderr
    assert "Traceback" not in done.stderr
