"""Listing recent predictions as the reference documents it: ``POST /api/v3/predictions`` with a
JSON body, answering ``{page, total, items}`` whose items carry exactly the documented fields and
no ``input`` — while the per-task result does carry ``input``."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests

from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, wait_for

MODEL = "runwayml/upscale-v1"
OTHER = "vendor/other-upscaler"
DOCUMENTED_ITEM_FIELDS = {
    "id",
    "model",
    "outputs",
    "urls",
    "has_nsfw_contents",
    "status",
    "created_at",
    "error",
    "executionTime",
    "timings",
}


class Clock:
    """A clock the test moves by hand, so creation times are known to the millisecond."""

    def __init__(self) -> None:
        self.now = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC).timestamp()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def lister(clock: Clock) -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=TEST_KEY,
        max_size=TEST_BOX,
        account_level=TEST_LEVEL,
        models=(MODEL, OTHER),
        clock=clock,
    )
    with LocalServer(settings) as running:
        yield running


def submit(
    api: requests.Session, server: LocalServer, name: str, model: str = MODEL
) -> dict[str, Any]:
    """A task whose input names nothing on the storage host: it fails fast (1402)."""
    video = f"{server.storage_url}/media/000/{name}"
    answer = api.post(f"{server.base_url}/api/v3/{model}", json={"video": video}, timeout=10)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()["data"]
    return data


def listing(api: requests.Session, server: LocalServer, **query: Any) -> requests.Response:
    return api.post(f"{server.base_url}/api/v3/predictions", json=query, timeout=10)


def listed(api: requests.Session, server: LocalServer, **query: Any) -> dict[str, Any]:
    answer = listing(api, server, **query)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["code"] == 200
    data: dict[str, Any] = body["data"]
    return data


def iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat()


def test_a_get_on_the_listing_is_405_allowing_only_post(
    lister: LocalServer, keyed: requests.Session
) -> None:
    answer = keyed.get(f"{lister.base_url}/api/v3/predictions", timeout=10)

    assert answer.status_code == 405
    assert answer.json()["code"] == 405
    assert answer.headers["Allow"] == "POST"


def test_items_carry_exactly_the_documented_fields_and_no_input(
    lister: LocalServer, keyed: requests.Session
) -> None:
    task = submit(keyed, lister, "a.mp4")
    wait_for(keyed, task["urls"]["get"])

    data = listed(keyed, lister, page=1, page_size=100)

    assert set(data) == {"page", "total", "items"}
    assert (data["page"], data["total"]) == (1, 1)
    [item] = data["items"]
    assert set(item) == DOCUMENTED_ITEM_FIELDS
    assert item["id"] == task["id"]
    assert item["status"] == "failed"
    assert isinstance(item["executionTime"], int)


def test_the_per_task_result_carries_the_input(
    lister: LocalServer, keyed: requests.Session
) -> None:
    task = submit(keyed, lister, "b.mp4")

    for suffix in ("/result", ""):
        answer = keyed.get(f"{lister.base_url}/api/v3/predictions/{task['id']}{suffix}", timeout=10)
        assert answer.json()["data"]["input"] == {"video": f"{lister.storage_url}/media/000/b.mp4"}


def test_the_listing_is_newest_first_and_pages(
    lister: LocalServer, keyed: requests.Session, clock: Clock
) -> None:
    ids = []
    for i in range(5):
        ids.append(submit(keyed, lister, f"c{i}.mp4")["id"])
        clock.now += 1
    newest_first = ids[::-1]

    pages = [listed(keyed, lister, page=page, page_size=2) for page in (1, 2, 3, 4)]

    assert [[item["id"] for item in page["items"]] for page in pages] == [
        newest_first[0:2],
        newest_first[2:4],
        newest_first[4:5],
        [],
    ]
    assert [page["total"] for page in pages] == [5] * 4
    assert [page["page"] for page in pages] == [1, 2, 3, 4]


def test_page_size_is_capped_at_100(lister: LocalServer, keyed: requests.Session) -> None:
    for i in range(102):
        submit(keyed, lister, f"d{i}.mp4")

    data = listed(keyed, lister, page=1, page_size=500)
    rest = listed(keyed, lister, page=2, page_size=500)

    assert data["total"] == 102
    assert len(data["items"]) == 100
    assert len(rest["items"]) == 2


def test_the_listing_filters_by_model_and_status(
    lister: LocalServer, keyed: requests.Session
) -> None:
    ours = submit(keyed, lister, "e.mp4")
    other = submit(keyed, lister, "f.mp4", model=OTHER)
    wait_for(keyed, ours["urls"]["get"])
    wait_for(keyed, other["urls"]["get"])

    by_model = listed(keyed, lister, page=1, page_size=100, model=OTHER)
    failed = listed(keyed, lister, page=1, page_size=100, model=MODEL, status="failed")
    completed = listed(keyed, lister, page=1, page_size=100, status="completed")

    assert [item["id"] for item in by_model["items"]] == [other["id"]]
    assert by_model["total"] == 1
    assert [item["id"] for item in failed["items"]] == [ours["id"]]
    assert completed == {"page": 1, "total": 0, "items": []}


def test_the_listing_filters_by_a_creation_window(
    lister: LocalServer, keyed: requests.Session, clock: Clock
) -> None:
    start = clock.now
    first = submit(keyed, lister, "g.mp4")
    clock.now += 60
    second = submit(keyed, lister, "h.mp4")
    clock.now += 60
    third = submit(keyed, lister, "i.mp4")

    def window(**bounds: str) -> list[str]:
        data = listed(keyed, lister, page=1, page_size=100, **bounds)
        return [item["id"] for item in data["items"]]

    assert window(created_after=iso(start + 30)) == [third["id"], second["id"]]
    assert window(created_before=iso(start + 30)) == [first["id"]]
    assert window(created_after=iso(start + 30), created_before=iso(start + 90)) == [second["id"]]
    # A bound copied from an item's created_at includes that item (bounds are inclusive).
    assert window(created_after=second["created_at"], created_before=second["created_at"]) == [
        second["id"]
    ]
    # "Z" and naive times (taken as UTC) are ISO 8601 too.
    naive = datetime.fromtimestamp(start + 90, UTC).replace(tzinfo=None).isoformat()
    assert window(created_after=naive) == [third["id"]]
    later = (datetime.fromtimestamp(start, UTC) + timedelta(hours=1)).isoformat()
    assert window(created_after=later.replace("+00:00", "Z")) == []


BAD_QUERIES: dict[str, Any] = {
    "page-text": {"page": "1"},
    "page-zero": {"page": 0},
    "page-float": {"page": 1.5},
    "page-bool": {"page": True},
    "size-negative": {"page_size": -1},
    "size-null": {"page_size": None},
    "model-number": {"model": 5},
    "status-list": {"status": ["failed"]},
    "after-number": {"created_after": 1700000000},
    "after-not-a-time": {"created_after": "yesterday"},
    "before-object": {"created_before": {"t": 1}},
}


@pytest.mark.parametrize("query", BAD_QUERIES.values(), ids=BAD_QUERIES.keys())
def test_a_listing_query_of_the_wrong_types_is_a_400_envelope(
    lister: LocalServer, keyed: requests.Session, query: dict[str, Any]
) -> None:
    answer = listing(keyed, lister, **query)

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 400
    assert answer.json()["data"] is None


@pytest.mark.parametrize(
    "body", [b"[1, 2]", b'"page"', b"{not json", b""], ids=["list", "string", "broken", "empty"]
)
def test_a_listing_body_that_is_not_a_json_object_is_400(
    lister: LocalServer, keyed: requests.Session, body: bytes
) -> None:
    answer = keyed.post(
        f"{lister.base_url}/api/v3/predictions",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=10,
    )
    well_formed = listing(keyed, lister, page=1, page_size=10)

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 400
    assert well_formed.status_code == 200, well_formed.text
