"""Listing the account's tasks for a spend reconciliation, against the local server: every task
in the window, every page of them, once each; and a listing that fails raises rather than
saying "nothing there"."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
import requests

from uprez.errors import AuthError, ServiceError
from uprez.net.retry import RetryPolicy
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.wavespeed.connection import Connection
from uprez.wavespeed.listing import list_tasks
from uprez.wavespeed.submit_answer import post_submit

from support import TEST_BOX, TEST_KEY, TEST_LEVEL

MODEL = "runwayml/upscale-v1"
OTHER = "vendor/other-upscaler"
FIRST_DAY = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()


class Clock:
    """The server's clock, moved by hand, so each task's creation time is known. Each test
    starts a day after the last, so that the tasks of the tests before it (the server is
    shared) lie outside every window it lists."""

    def __init__(self) -> None:
        self.now = FIRST_DAY
        self.start = FIRST_DAY

    def __call__(self) -> float:
        return self.now

    def next_day(self) -> None:
        self.start += 86400
        self.now = self.start


SERVER_CLOCK = Clock()


@pytest.fixture(scope="module")
def lister() -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=TEST_KEY,
        max_size=TEST_BOX,
        account_level=TEST_LEVEL,
        models=(MODEL, OTHER),
        clock=SERVER_CLOCK,
    )
    with LocalServer(settings) as running:
        yield running


@pytest.fixture
def clock(lister: LocalServer) -> Iterator[Clock]:
    """The shared server's clock at the start of a day of this test's own, with no fault."""
    assert lister.app is not None
    SERVER_CLOCK.next_day()
    lister.app.faults.clear()
    yield SERVER_CLOCK
    lister.app.faults.clear()


@pytest.fixture
def connection(lister: LocalServer, clock: Clock) -> Iterator[Connection]:
    """uprez's connection to the server, giving up at once on an answer that is retried."""
    made = Connection(lister.base_url, TEST_KEY, retry=RetryPolicy(attempts=1, base=0.01))
    yield made
    made.session.close()


def submit(connection: Connection, server: LocalServer, name: str, model: str = MODEL) -> str:
    """Submit a task through uprez's own submit leg; its input names nothing on the storage
    host, so it fails fast (1402), which the listing shows like any other task."""
    video = f"{server.storage_url}/media/000/{name}"
    return post_submit(connection, model, {"video": video}).id


def shown(moment: float) -> str:
    """``moment`` as ISO 8601 UTC to the second, without an offset."""
    return datetime.fromtimestamp(moment, UTC).replace(tzinfo=None).isoformat()


def count_pages(connection: Connection) -> list[dict[str, Any]]:
    """The JSON bodies of the listing requests the connection sends from now on."""
    bodies: list[dict[str, Any]] = []

    def seen(response: requests.Response, *args: object, **kwargs: object) -> None:
        if response.request.method == "POST" and response.url.endswith("/api/v3/predictions"):
            bodies.append(json.loads(response.request.body or b"{}"))

    connection.session.hooks["response"].append(seen)
    return bodies


def test_the_tasks_submitted_in_the_window_are_listed_with_their_model_status_and_time(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    first = submit(connection, lister, "a.mp4")
    clock.now += 10
    second = submit(connection, lister, "b.mp4", model=OTHER)

    listed = list_tasks(connection, None, clock.start, clock.now)

    assert [task.id for task in listed] == [second, first]  # newest first, as the service lists
    assert [task.model for task in listed] == [OTHER, MODEL]
    assert all(task.status in ("created", "processing", "failed") for task in listed)
    assert listed[1].created_at.startswith(shown(clock.start))
    assert listed[0].created_at.startswith(shown(clock.start + 10))


def test_every_page_is_read_and_each_task_is_listed_once(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    made = []
    for i in range(5):
        made.append(submit(connection, lister, f"p{i}.mp4"))
        clock.now += 1
    bodies = count_pages(connection)

    listed = list_tasks(connection, MODEL, clock.start, clock.now, page_size=2)

    assert [task.id for task in listed] == made[::-1]
    assert [body["page"] for body in bodies] == [1, 2, 3]
    assert {body["page_size"] for body in bodies} == {2}
    assert bodies[0]["model"] == MODEL
    assert bodies[0]["created_after"] == shown(clock.start) + "Z"
    assert bodies[0]["created_before"] == shown(clock.start + 5) + "Z"


def test_a_window_that_ends_on_a_page_boundary_asks_no_further_page(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    for i in range(4):
        submit(connection, lister, f"q{i}.mp4")
    bodies = count_pages(connection)

    listed = list_tasks(connection, None, clock.start, clock.now, page_size=2)

    assert len(listed) == 4
    assert [body["page"] for body in bodies] == [1, 2]  # the total says there is no page 3


def test_without_a_model_every_model_is_listed_and_the_body_names_none(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    ours = submit(connection, lister, "m1.mp4")
    other = submit(connection, lister, "m2.mp4", model=OTHER)
    bodies = count_pages(connection)

    everything = list_tasks(connection, None, clock.start, clock.now)
    only_other = list_tasks(connection, OTHER, clock.start, clock.now)

    assert {task.id for task in everything} == {ours, other}
    assert "model" not in bodies[0]
    assert [task.id for task in only_other] == [other]


def test_tasks_made_outside_the_window_are_not_listed(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    before = submit(connection, lister, "w0.mp4")
    clock.now += 60
    inside = submit(connection, lister, "w1.mp4")
    clock.now += 60
    after = submit(connection, lister, "w2.mp4")

    listed = list_tasks(connection, None, clock.start + 30, clock.start + 90)

    assert [task.id for task in listed] == [inside]
    assert {before, after}.isdisjoint(task.id for task in listed)


def test_a_task_made_in_the_last_fraction_of_a_second_of_the_window_is_listed(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    # The listing takes whole seconds: the window's end is rounded up, never down past a task.
    clock.now = clock.start + 0.7
    late = submit(connection, lister, "late.mp4")

    listed = list_tasks(connection, None, clock.start, clock.start + 0.9)

    assert [task.id for task in listed] == [late]


def test_an_empty_window_is_an_empty_list_after_one_page(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    bodies = count_pages(connection)

    assert list_tasks(connection, None, clock.start, clock.now) == []
    assert len(bodies) == 1


def test_a_window_longer_than_the_pages_allowed_raises_rather_than_returning_part(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    for i in range(5):
        submit(connection, lister, f"x{i}.mp4")

    with pytest.raises(ServiceError, match="more than 2 pages of 2 tasks"):
        list_tasks(connection, None, clock.start, clock.now, page_size=2, max_pages=2)


FAILURES = {
    "http-500": Fault(route="list_predictions", kind="http", status=500, times=-1),
    "http-400": Fault(route="list_predictions", kind="http", status=400, times=-1),
    "envelope-500": Fault(route="list_predictions", kind="envelope", code=500, times=-1),
    "not-json": Fault(route="list_predictions", kind="garbage", times=-1),
    "dropped": Fault(route="list_predictions", kind="drop", times=-1),
}


@pytest.mark.parametrize("fault", FAILURES.values(), ids=FAILURES.keys())
def test_a_listing_that_fails_raises_a_service_error(
    connection: Connection, lister: LocalServer, clock: Clock, fault: Fault
) -> None:
    submit(connection, lister, "f.mp4")
    assert lister.app is not None
    lister.app.faults.add(fault)

    with pytest.raises(ServiceError, match="listing tasks"):
        list_tasks(connection, None, clock.start, clock.now)


def test_a_listing_whose_second_page_fails_raises_rather_than_returning_the_first(
    connection: Connection, lister: LocalServer, clock: Clock
) -> None:
    for i in range(3):
        submit(connection, lister, f"s{i}.mp4")
    app = lister.app
    assert app is not None

    def fail_from_now_on(response: requests.Response, *args: object, **kwargs: object) -> None:
        app.faults.add(Fault(route="list_predictions", kind="http", status=503, times=-1))

    connection.session.hooks["response"].append(fail_from_now_on)

    with pytest.raises(ServiceError, match="HTTP 503"):
        list_tasks(connection, None, clock.start, clock.now, page_size=2)


def test_a_listing_with_a_wrong_key_raises_an_auth_error(lister: LocalServer, clock: Clock) -> None:
    wrong = Connection(lister.base_url, "not-the-key", retry=RetryPolicy(attempts=1))

    with pytest.raises(AuthError, match="401"):
        list_tasks(wrong, None, clock.start, clock.now)


@pytest.mark.parametrize(("size", "pages"), [(0, 1), (101, 1), (10, 0)])
def test_a_page_size_the_service_cannot_give_or_no_pages_is_refused(size: int, pages: int) -> None:
    nowhere = Connection("http://127.0.0.1:9", TEST_KEY)  # nothing is sent

    with pytest.raises(ValueError, match="page_size"):
        list_tasks(nowhere, None, FIRST_DAY, FIRST_DAY + 1, page_size=size, max_pages=pages)
