"""The twin's ``POST /api/v3/predictions/delete`` ``{"ids": [...]}``, over real HTTP: the key is
required, the body is checked strictly, and a deleted task is really forgotten: its record, its
output file and the upload it read are gone from every route and from the server's disk."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from uprez.standin.deletion_route import MAX_DELETE_IDS
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer

from support import TEST_KEY, task_ids, upscale_by_api


@pytest.fixture
def done(
    server: LocalServer, api: requests.Session, clip: Path
) -> Iterator[tuple[str, dict[str, Any]]]:
    """A completed task of the clip uploaded to the server: its upload's URL and its data."""
    url, task = upscale_by_api(api, server.base_url, clip)
    assert task["status"] == "completed", task
    yield url, task


def delete(api: requests.Session, server: LocalServer, body: object) -> requests.Response:
    return api.post(f"{server.base_url}/api/v3/predictions/delete", json=body, timeout=10)


def test_a_deleted_task_is_forgotten_with_its_output_and_its_upload(
    server: LocalServer, api: requests.Session, done: tuple[str, dict[str, Any]]
) -> None:
    upload_url, task = done
    task_id, output = task["id"], task["outputs"][0]
    base = server.base_url
    assert requests.get(output, timeout=10).status_code == 200
    assert requests.get(upload_url, timeout=10).status_code == 200
    on_disk = [p for p in server.root.rglob("*") if p.is_file() and task_id in str(p)]
    assert on_disk, "the output is on the server's disk before"
    assert server.app is not None
    uploads_before = server.app.uploads.count()

    answer = delete(api, server, {"ids": [task_id]})

    assert answer.status_code == 200, answer.text
    assert answer.json() == {"code": 200, "message": "success", "data": {"deleted_count": 1}}
    for path in (f"/api/v3/predictions/{task_id}", f"/api/v3/predictions/{task_id}/result"):
        gone = api.get(base + path, timeout=10)
        assert gone.status_code == 404 and gone.json()["code"] == 404
    assert requests.get(output, timeout=10).status_code == 404
    assert requests.get(upload_url, timeout=10).status_code == 404
    assert task_id not in task_ids(base, TEST_KEY)
    assert not [p for p in on_disk if p.exists()]
    media_id = upload_url.split("/")[-2]
    assert not (server.root / "uploads" / media_id).exists()
    stats = api.get(f"{base}/_uprez/stats", timeout=10).json()["data"]
    assert stats["deleted"] == 1
    assert stats["uploads"] == uploads_before  # what was received stays counted


def test_ids_it_does_not_know_are_left_out_of_the_count(
    server: LocalServer, api: requests.Session, done: tuple[str, dict[str, Any]]
) -> None:
    task_id = done[1]["id"]

    first = delete(api, server, {"ids": [task_id, "no-such-task", task_id]})
    again = delete(api, server, {"ids": [task_id]})

    assert first.json()["data"] == {"deleted_count": 1}
    assert again.status_code == 200
    assert again.json()["data"] == {"deleted_count": 0}


BAD_BODIES: dict[str, object] = {
    "not an object": ["abc"],
    "no ids": {},
    "ids not a list": {"ids": "abc"},
    "empty ids": {"ids": []},
    "an id not a string": {"ids": [42]},
    "an empty id": {"ids": [""]},
    "another field": {"ids": ["abc"], "force": True},
    "too many ids": {"ids": [f"t{n}" for n in range(MAX_DELETE_IDS + 1)]},
}


@pytest.mark.parametrize("body", BAD_BODIES.values(), ids=BAD_BODIES.keys())
def test_a_body_that_is_not_a_list_of_ids_is_a_400_envelope_and_deletes_nothing(
    server: LocalServer, api: requests.Session, done: tuple[str, dict[str, Any]], body: object
) -> None:
    answer = delete(api, server, body)

    assert answer.status_code == 400, answer.text
    envelope = answer.json()
    assert (envelope["code"], envelope["data"]) == (400, None)
    assert "ids" in envelope["message"]
    assert done[1]["id"] in task_ids(server.base_url, TEST_KEY)


def test_a_body_that_is_not_json_is_a_400(server: LocalServer, api: requests.Session) -> None:
    answer = api.post(f"{server.base_url}/api/v3/predictions/delete", data=b"{not json", timeout=10)
    assert answer.status_code == 400
    assert answer.json()["code"] == 400


def test_the_key_is_required_and_a_stranger_deletes_nothing(
    server: LocalServer, api: requests.Session, done: tuple[str, dict[str, Any]]
) -> None:
    task_id = done[1]["id"]

    answer = requests.post(
        f"{server.base_url}/api/v3/predictions/delete",
        json={"ids": [task_id]},
        headers={"Authorization": "Bearer someone-else"},
        timeout=10,
    )

    assert answer.status_code == 401
    assert task_id in task_ids(server.base_url, TEST_KEY)


def test_faults_apply_to_the_delete_route(
    server: LocalServer, api: requests.Session, done: tuple[str, dict[str, Any]]
) -> None:
    assert server.app is not None
    server.app.faults.add(Fault("delete_predictions", "http", status=503))
    task_id = done[1]["id"]

    refused = delete(api, server, {"ids": [task_id]})
    accepted = delete(api, server, {"ids": [task_id]})

    assert refused.status_code == 503
    assert accepted.json()["data"] == {"deleted_count": 1}
    assert server.app.faults.injected == {"delete_predictions:http": 1}
