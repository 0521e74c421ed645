"""The local server's HTTP surface: envelopes, auth, the prediction object, listing, balance,
and the refusal of bad submissions — all over real HTTP on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import requests

from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, upload, wait_for

MODEL = "runwayml/upscale-v1"


@pytest.fixture(scope="module")
def refusing() -> Iterator[LocalServer]:
    """One server for the tests that must never create a task: its list stays empty throughout.

    (Shared by the module because each server's stop costs about half a second.)
    """
    with LocalServer(ServerSettings(api_key=TEST_KEY, max_size=TEST_BOX)) as running:
        yield running


@pytest.fixture(scope="module")
def refusing_api(refusing: LocalServer) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TEST_KEY}"
    return session


def assert_no_task(api: requests.Session, server: LocalServer) -> None:
    assert list_predictions(api, server) == {"items": [], "page": 1, "total": 0}
    assert server.app is not None and server.app.submissions == 0


def submit_url(server: LocalServer, model: str = MODEL) -> str:
    return f"{server.base_url}/api/v3/{model}"


def missing_media(server: LocalServer, name: str = "none.mp4") -> str:
    """A URL on the server's own storage host that names nothing: the task fails fast (1402)."""
    return f"{server.storage_url}/media/000/{name}"


def envelope_of(answer: requests.Response) -> dict[str, Any]:
    """The JSON body, checked to be the service's envelope ``{code, message, data}``."""
    assert answer.headers["Content-Type"].startswith("application/json"), answer.headers
    body = answer.json()
    assert isinstance(body, dict)
    assert {"code", "message", "data"} <= body.keys(), body
    assert isinstance(body["code"], int)
    assert isinstance(body["message"], str)
    return body


def list_predictions(api: requests.Session, server: LocalServer, **query: Any) -> dict[str, Any]:
    """The documented listing: ``POST /api/v3/predictions`` with a JSON body."""
    answer = api.post(f"{server.base_url}/api/v3/predictions", json=query, timeout=10)
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = envelope_of(answer)["data"]
    return data


# -- envelopes -----------------------------------------------------------------------------------


def test_every_json_answer_is_an_envelope(
    server: LocalServer, api: requests.Session, tmp_path: Path
) -> None:
    base = server.base_url
    sample = tmp_path / "a.mp4"
    sample.write_bytes(b"\0" * 32)

    submitted = api.post(submit_url(server), json={"video": missing_media(server)}, timeout=10)
    task_id = envelope_of(submitted)["data"]["id"]
    answers = [
        submitted,
        api.get(f"{base}/api/v3/predictions/{task_id}/result", timeout=10),
        api.get(f"{base}/api/v3/predictions/{task_id}", timeout=10),
        api.post(f"{base}/api/v3/predictions", json={"page": 1, "page_size": 10}, timeout=10),
        api.get(f"{base}/api/v3/balance", timeout=10),
        api.get(f"{base}/api/v3/webhook/secret", timeout=10),
        api.post(
            f"{base}/api/v3/media/uploads",
            json={"filename": "a.mp4", "size": 3, "content_type": "video/mp4"},
            timeout=10,
        ),
        api.post(
            f"{base}/api/v3/media/upload/binary",
            files={"file": ("a.mp4", sample.read_bytes(), "video/mp4")},
            timeout=10,
        ),
        api.post(
            f"{base}/api/v3/upload",
            files={"file": ("a.mp4", sample.read_bytes(), "video/mp4")},
            timeout=10,
        ),
    ]
    for answer in answers:
        assert answer.status_code == 200, answer.text
        body = envelope_of(answer)
        assert body["code"] == 200
        assert body["message"] == "success"
        assert isinstance(body["data"], dict)


def test_error_answers_are_envelopes_whose_code_is_the_http_status(
    refusing: LocalServer, refusing_api: requests.Session
) -> None:
    base = refusing.base_url
    cases = [
        (refusing_api.get(f"{base}/api/v3/predictions/nope", timeout=10), 404),
        (refusing_api.post(submit_url(refusing), data=b"{not json", timeout=10), 400),
        (requests.get(f"{base}/api/v3/balance", timeout=10), 401),
        (refusing_api.post(f"{base}/api/v3/predictions", json={"page": "x"}, timeout=10), 400),
        (refusing_api.post(submit_url(refusing, "vendor/unknown"), json={}, timeout=10), 404),
        (refusing_api.post(f"{base}/api/v3/media/uploads", json={"size": 1}, timeout=10), 400),
    ]
    for answer, status in cases:
        assert answer.status_code == status, answer.text
        body = envelope_of(answer)
        assert body["code"] == status
        assert body["data"] is None
        assert body["message"]


def test_a_wrong_method_is_a_405_envelope_with_an_allow_header(
    refusing: LocalServer, refusing_api: requests.Session
) -> None:
    # RFC 9110 §15.5.6: a 405 MUST carry Allow; the envelope must not lose the exception's headers.
    answer = refusing_api.get(submit_url(refusing), timeout=10)

    assert answer.status_code == 405
    assert envelope_of(answer)["code"] == 405
    assert "POST" in answer.headers.get("Allow", "")
    assert_no_task(refusing_api, refusing)


# -- auth ----------------------------------------------------------------------------------------

PROTECTED: list[tuple[str, str, dict[str, Any]]] = [
    ("POST", f"/api/v3/{MODEL}", {"json": {"video": "https://example.com/a.mp4"}}),
    ("GET", "/api/v3/predictions/abc/result", {}),
    ("GET", "/api/v3/predictions/abc", {}),
    ("POST", "/api/v3/predictions", {"json": {"page": 1, "page_size": 10}}),
    ("POST", "/api/v3/predictions/delete", {"json": {"ids": ["abc"]}}),
    ("GET", "/api/v3/balance", {}),
    ("GET", "/api/v3/webhook/secret", {}),
    ("POST", "/api/v3/media/uploads", {"json": {"filename": "a.mp4", "size": 1}}),
    ("POST", "/api/v3/media/upload/binary", {"files": {"file": ("a.mp4", b"x", "video/mp4")}}),
    ("POST", "/api/v3/upload", {"files": {"file": ("a.mp4", b"x", "video/mp4")}}),
]

BAD_AUTH: dict[str, dict[str, str]] = {
    "missing": {},
    "wrong-key": {"Authorization": "Bearer not-the-key"},
    "empty-bearer": {"Authorization": "Bearer "},
    "basic-scheme": {"Authorization": f"Basic {TEST_KEY}"},
    "token-scheme": {"Authorization": f"Token {TEST_KEY}"},
    "bare-key": {"Authorization": TEST_KEY},
    "key-prefix": {"Authorization": f"Bearer {TEST_KEY[:-1]}"},
}


@pytest.mark.parametrize("headers", BAD_AUTH.values(), ids=BAD_AUTH.keys())
@pytest.mark.parametrize(
    ("method", "path", "extra"), PROTECTED, ids=[f"{m} {p}" for m, p, _ in PROTECTED]
)
def test_protected_routes_answer_401_without_a_valid_bearer_key(
    refusing: LocalServer, method: str, path: str, extra: dict[str, Any], headers: dict[str, str]
) -> None:
    answer = requests.request(
        method, refusing.base_url + path, headers=headers, timeout=10, **extra
    )
    assert answer.status_code == 401, answer.text
    assert envelope_of(answer)["code"] == 401


def test_a_refused_submit_creates_no_task(
    refusing: LocalServer, refusing_api: requests.Session
) -> None:
    for headers in BAD_AUTH.values():
        answer = requests.post(
            submit_url(refusing),
            json={"video": missing_media(refusing)},
            headers=headers,
            timeout=10,
        )
        assert answer.status_code == 401
    assert_no_task(refusing_api, refusing)


def test_the_right_key_is_accepted_with_any_case_of_bearer(refusing: LocalServer) -> None:
    for scheme in ("Bearer", "bearer", "BEARER"):
        answer = requests.get(
            f"{refusing.base_url}/api/v3/balance",
            headers={"Authorization": f"{scheme} {TEST_KEY}"},
            timeout=10,
        )
        assert answer.status_code == 200, (scheme, answer.text)


# -- the prediction object -----------------------------------------------------------------------


def check_prediction_shape(data: dict[str, Any], model: str) -> None:
    assert isinstance(data["id"], str) and data["id"]
    assert data["model"] == model
    assert isinstance(data["outputs"], list)
    assert isinstance(data["urls"]["get"], str)
    assert data["urls"]["get"].startswith("http://127.0.0.1:")
    assert data["id"] in data["urls"]["get"]
    assert isinstance(data["has_nsfw_contents"], list)
    assert len(data["has_nsfw_contents"]) == len(data["outputs"])
    assert all(isinstance(flag, bool) for flag in data["has_nsfw_contents"])
    assert data["status"] in ("created", "processing", "completed", "failed")
    created = datetime.fromisoformat(data["created_at"])
    assert created.tzinfo is not None
    assert isinstance(data["error"], str)
    assert isinstance(data["timings"]["inference"], int)
    assert data["timings"]["inference"] >= 0


def test_submit_answers_a_full_prediction_object(
    server: LocalServer, api: requests.Session
) -> None:
    answer = api.post(submit_url(server), json={"video": missing_media(server)}, timeout=10)

    assert answer.status_code == 200, answer.text
    data = envelope_of(answer)["data"]
    check_prediction_shape(data, MODEL)
    # A task that has just been created has nothing to show yet.
    if data["status"] in ("created", "processing"):
        assert data["outputs"] == []
        assert data["error"] == ""


def test_result_and_plain_prediction_routes_give_the_same_task(
    server: LocalServer, api: requests.Session
) -> None:
    task_id = api.post(
        submit_url(server), json={"video": missing_media(server)}, timeout=10
    ).json()["data"]["id"]
    wait_for(api, f"{server.base_url}/api/v3/predictions/{task_id}/result")

    with_result = api.get(f"{server.base_url}/api/v3/predictions/{task_id}/result", timeout=10)
    plain = api.get(f"{server.base_url}/api/v3/predictions/{task_id}", timeout=10)

    assert with_result.status_code == plain.status_code == 200
    assert envelope_of(with_result)["data"] == envelope_of(plain)["data"]
    assert plain.json()["data"]["id"] == task_id


@pytest.mark.parametrize("suffix", ["", "/result"])
def test_an_unknown_prediction_id_is_a_404_envelope(
    refusing: LocalServer, refusing_api: requests.Session, suffix: str
) -> None:
    url = f"{refusing.base_url}/api/v3/predictions/{'0' * 32}{suffix}"
    answer = refusing_api.get(url, timeout=10)

    assert answer.status_code == 404
    body = envelope_of(answer)
    assert body["code"] == 404
    assert body["data"] is None


def test_urls_get_fetches_the_task_itself(server: LocalServer, api: requests.Session) -> None:
    data = api.post(submit_url(server), json={"video": missing_media(server)}, timeout=10).json()[
        "data"
    ]

    fetched = api.get(data["urls"]["get"], timeout=10)

    assert fetched.status_code == 200, fetched.text
    again = envelope_of(fetched)["data"]
    assert again["id"] == data["id"]
    assert again["model"] == data["model"]
    assert again["created_at"] == data["created_at"]


def test_the_configured_models_are_accepted_and_echoed(api: requests.Session) -> None:
    models = ("runwayml/upscale-v1", "vendor/a/b-c_d.1")
    settings = ServerSettings(api_key=TEST_KEY, max_size=TEST_BOX, models=models)
    with LocalServer(settings) as server:
        for model in models:
            answer = api.post(
                submit_url(server, model), json={"video": missing_media(server)}, timeout=10
            )

            assert answer.status_code == 200, answer.text
            data = envelope_of(answer)["data"]
            assert data["model"] == model
            assert api.get(data["urls"]["get"], timeout=10).json()["data"]["model"] == model


@pytest.mark.parametrize(
    "model", ["wavespeed-ai/video-upscaler", "runwayml/upscale-v2", "runwayml", "a/b/c"]
)
def test_an_unknown_model_path_is_a_404_envelope_and_no_task(
    refusing: LocalServer, refusing_api: requests.Session, model: str
) -> None:
    answer = refusing_api.post(
        submit_url(refusing, model), json={"video": missing_media(refusing)}, timeout=10
    )

    assert answer.status_code == 404, answer.text
    assert envelope_of(answer)["code"] == 404
    assert model in envelope_of(answer)["message"]
    assert_no_task(refusing_api, refusing)


# -- balance -------------------------------------------------------------------------------------


def balance(api: requests.Session, server: LocalServer) -> float:
    answer = api.get(f"{server.base_url}/api/v3/balance", timeout=10)
    assert answer.status_code == 200, answer.text
    value = envelope_of(answer)["data"]["balance"]
    assert isinstance(value, int | float) and not isinstance(value, bool)
    return float(value)


def test_balance_is_a_number(refusing: LocalServer, refusing_api: requests.Session) -> None:
    assert balance(refusing_api, refusing) > 0


def test_a_completed_one_second_task_costs_the_five_second_minimum(
    server: LocalServer, api: requests.Session, make_clip: Callable[..., Path]
) -> None:
    url = upload(api, server.base_url, make_clip("one.mp4", seconds=1.0, fps=12))
    before = balance(api, server)

    task = api.post(submit_url(server), json={"video": url}, timeout=10).json()["data"]
    done = wait_for(api, task["urls"]["get"])

    assert done["status"] == "completed", done
    assert balance(api, server) == pytest.approx(before - 0.10, abs=1e-9)


def test_a_failed_task_costs_nothing(server: LocalServer, api: requests.Session) -> None:
    before = balance(api, server)
    task = api.post(submit_url(server), json={"video": missing_media(server)}, timeout=10).json()[
        "data"
    ]
    done = wait_for(api, task["urls"]["get"])

    assert done["status"] == "failed"
    assert balance(api, server) == before


# -- bad submissions -----------------------------------------------------------------------------


@pytest.mark.parametrize("body", [{}, {"image": "https://example.com/a.mp4"}, {"Video": "x"}])
def test_a_submit_without_video_is_400_with_code_1400(
    refusing: LocalServer, refusing_api: requests.Session, body: dict[str, Any]
) -> None:
    answer = refusing_api.post(submit_url(refusing), json=body, timeout=10)

    assert answer.status_code == 400
    envelope = envelope_of(answer)
    assert envelope["code"] == 1400
    assert "video" in envelope["message"]
    assert_no_task(refusing_api, refusing)


BAD_VIDEOS: list[Any] = [
    "file:///etc/passwd",
    "ftp://example.com/a.mp4",
    "/etc/passwd",
    "clip.mp4",
    "http://",
    "javascript:alert(1)",
    "",
    42,
    None,
    ["https://example.com/a.mp4"],
]


@pytest.mark.parametrize("video", BAD_VIDEOS, ids=[repr(v) for v in BAD_VIDEOS])
def test_a_video_that_is_not_an_http_url_is_400_with_code_1401_and_no_task(
    refusing: LocalServer, refusing_api: requests.Session, video: Any
) -> None:
    answer = refusing_api.post(submit_url(refusing), json={"video": video}, timeout=10)

    assert answer.status_code == 400, answer.text
    assert envelope_of(answer)["code"] == 1401
    assert_no_task(refusing_api, refusing)


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"{not json", "application/json"),
        (b"video=https://example.com/a.mp4", "application/x-www-form-urlencoded"),
        (b'["https://example.com/a.mp4"]', "application/json"),
        (b'"https://example.com/a.mp4"', "application/json"),
        (b"", "application/json"),
    ],
    ids=["broken-json", "form", "json-list", "json-string", "empty"],
)
def test_a_body_that_is_not_a_json_object_is_400(
    refusing: LocalServer, refusing_api: requests.Session, body: bytes, content_type: str
) -> None:
    answer = refusing_api.post(
        submit_url(refusing), data=body, headers={"Content-Type": content_type}, timeout=10
    )

    assert answer.status_code == 400, answer.text
    assert envelope_of(answer)["code"] == 400
    assert_no_task(refusing_api, refusing)
