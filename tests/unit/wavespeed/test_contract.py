"""The documented contract of the WaveSpeed service, held as fixtures, against three readers.

tests/contract/*.json hold the documented requests and answers of each call (each tagged with
its source: [doc] the provider's pages, [sdk] an official client's source or test fixture,
[guess] an inference), and schemas/service-answers.schema.json describes the answers uprez
relies on. Here:

(a) every fixture fits the schema, so fixtures and schema agree;
(b) the client's parser (``read_envelope``, ``parse_prediction``) accepts every documented form,
    fed real ``requests.Response`` objects built from the fixtures;
(c) the local stand-in server (the twin) answers in the same shapes, checked against the same
    schema after a real upload, submit, wait, list and balance.

So the client and the twin cannot drift apart from the documented service (or each other).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import requests
from jsonschema import Draft202012Validator
from requests.adapters import BaseAdapter
from requests.structures import CaseInsensitiveDict

from uprez import protocol
from uprez.errors import AmbiguousSubmit, AuthError, RateLimited, ServiceError
from uprez.schema_files import load_schema
from uprez.standin.faults import Fault
from uprez.standin.runner import LocalServer
from uprez.wavespeed.answers import parse_prediction, read_envelope

import support
from support import SECRET_KEY, upload, wait_for

CONTRACT = support.TESTS / "contract"
CALLS = sorted(p.stem for p in CONTRACT.glob("*.json") if p.stem != "webhook_vectors")
SOURCE_TAGS = ("[doc]", "[sdk]", "[guess]")
API = "https://api.wavespeed.ai"


def _call(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((CONTRACT / f"{name}.json").read_text("utf-8"))
    return loaded


def _answer(call: str, name: str) -> dict[str, Any]:
    answer: dict[str, Any] = _call(call)["answers"][name]
    return answer


def _all(section: str) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (call, name, entry)
        for call in CALLS
        for name, entry in _call(call).get(section, {}).items()
    ]


ANSWERS = _all("answers")
REQUESTS = _all("requests")


def _validator(definition: str) -> Draft202012Validator:
    """A validator for ``#/$defs/<definition>`` of the service-answers schema."""
    schema = dict(load_schema("service-answers"))
    schema.pop("anyOf", None)
    schema["$ref"] = f"#/$defs/{definition}"
    return Draft202012Validator(schema)


def _errors(definition: str, body: object) -> list[str]:
    return [
        f"{'/'.join(str(p) for p in error.absolute_path) or '(root)'}: {error.message}"
        for error in _validator(definition).iter_errors(body)
    ]


def _response(
    answer: dict[str, Any], method: str = "GET", url: str = f"{API}/api/v3/x"
) -> requests.Response:
    """A real requests.Response carrying a fixture's status, headers and body."""
    response = requests.Response()
    response.status_code = answer["status"]
    response.reason = HTTPStatus(answer["status"]).phrase
    if "body_text" in answer:
        content, ctype = answer["body_text"].encode(), "text/plain"
    else:
        content, ctype = json.dumps(answer["body"]).encode(), "application/json"
    response._content = content
    response.headers = CaseInsensitiveDict(
        {"Content-Type": ctype, "Content-Length": str(len(content)), **answer.get("headers", {})}
    )
    response.encoding = "utf-8"
    response.url = url
    response.request = requests.Request(method, url).prepare()
    return response


def _ids(entries: list[tuple[str, str, dict[str, Any]]]) -> list[str]:
    return [f"{call}.{name}" for call, name, _ in entries]


# == (a) the fixtures and the schema agree ======================================================


def test_the_answer_schema_is_valid_draft_2020_12() -> None:
    schema = load_schema("service-answers")
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    for needed in (
        "envelope",
        "prediction_submitted",
        "prediction_result",
        "prediction_list_item",
        "list_page",
        "upload_ticket",
        "upload_binary",
        "balance",
        "deleted",
    ):
        assert needed in schema["$defs"]


@pytest.mark.parametrize(("call", "name", "answer"), ANSWERS, ids=_ids(ANSWERS))
def test_every_documented_answer_fits_the_schema(
    call: str, name: str, answer: dict[str, Any]
) -> None:
    assert answer["source"].startswith(SOURCE_TAGS), "each fixture records its source"
    definition = answer["schema"]
    if definition is None:  # not JSON (a gateway's page): nothing to check
        assert "body_text" in answer
        return
    assert _errors(definition, answer["body"]) == []
    # The document as a whole accepts every answer too.
    assert Draft202012Validator(load_schema("service-answers")).is_valid(answer["body"])
    if definition == "error_answer":
        assert answer["status"] >= 400
    else:  # successes and refusals alike come with HTTP 200
        assert answer["status"] == 200


@pytest.mark.parametrize(("call", "name", "request_"), REQUESTS, ids=_ids(REQUESTS))
def test_every_documented_request_records_its_source(
    call: str, name: str, request_: dict[str, Any]
) -> None:
    assert request_["source"].startswith(SOURCE_TAGS)
    assert "body" in request_ or "multipart_field" in request_


def test_the_documented_requests_carry_the_documented_fields() -> None:
    assert _call("submit")["requests"]["plain"]["body"] == {
        "video": "https://storage.example/uploads/shot.mp4"
    }
    for listing in _call("list")["requests"].values():
        body = listing["body"]
        assert isinstance(body["page"], int) and body["page"] >= 1
        assert isinstance(body["page_size"], int) and 1 <= body["page_size"] <= 100
        for key in ("created_after", "created_before"):
            if key in body:
                datetime.fromisoformat(body[key])
    ticket = _call("upload_ticket")["requests"]["ticket"]["body"]
    assert set(ticket) == {"filename", "size", "content_type"}
    price = _call("model_price")["requests"]["price"]["body"]
    assert set(price) == {"model_id", "inputs"}
    deletion = _call("delete")["requests"]["documented"]["body"]
    assert set(deletion) == {"ids"} and all(isinstance(i, str) for i in deletion["ids"])


def _ok(data: object) -> dict[str, Any]:
    return {"code": 200, "message": "success", "data": data}


_TICKET = _answer("upload_ticket", "documented")["body"]["data"]
_DONE = {"id": "a", "status": "completed"}
RULED_OUT = {
    "a refusal is no submit answer": ("submit_answer", _answer("submit", "refusal")["body"]),
    "a submit answer is no refusal": ("refusal", _answer("submit", "full")["body"]),
    "an id alone is no refusal": ("refusal", _answer("submit", "minimal_id_only")["body"]),
    "an empty id": ("submit_answer", _ok({"id": ""})),
    "no id": ("submit_answer", _ok({"status": "created"})),
    "a result without status": ("result_answer", _ok({"id": "a"})),
    "an output that is no URL": ("result_answer", _ok({**_DONE, "outputs": ["not a url"]})),
    "an output object without url": (
        "result_answer",
        _ok({**_DONE, "outputs": [{"href": "https://x/y"}]}),
    ),
    "an inference time as text": ("result_answer", _ok({**_DONE, "timings": {"inference": "1"}})),
    "a list page without page": ("list_answer", _ok({"items": []})),
    "a list item without id": ("list_answer", _ok({"page": 1, "items": [{"status": "created"}]})),
    "a ticket typed as a MIME type": (
        "upload_ticket_answer",
        _ok({**_TICKET, "type": "video/mp4"}),
    ),
    "a ticket to POST": (
        "upload_ticket_answer",
        _ok({**_TICKET, "upload": {"method": "POST", "url": "https://s/x", "headers": {}}}),
    ),
    "a binary upload without its fields": (
        "upload_binary_answer",
        _ok({"download_url": "https://s/x"}),
    ),
    "a balance as text": ("balance_answer", _ok({"balance": "12.00"})),
    "a price without a price": ("model_price_answer", _ok({"model_id": "m", "currency": "USD"})),
    "a deletion without its count": ("delete_answer", _ok({})),
    "a deletion counted as text": ("delete_answer", _ok({"deleted_count": "2"})),
    "an error without message": ("error_answer", {"code": 500}),
}


@pytest.mark.parametrize(("definition", "body"), RULED_OUT.values(), ids=list(RULED_OUT))
def test_the_schema_refuses_what_the_documents_rule_out(definition: str, body: object) -> None:
    """The schema is not vacuous: the shapes that must be told apart are."""
    assert _errors(definition, body) != []


# == (b) the client's parser accepts every documented form ======================================


def _parse(call: str, name: str, task_id: str | None = None) -> Any:
    data = read_envelope(_response(_answer(call, name)), call, task_id)
    return parse_prediction(data, call, task_id)


def test_client_reads_a_full_submit_answer_as_a_created_task() -> None:
    state = _parse("submit", "full")
    assert state.id == "e6832d4abffb4d79bfbca19783fca133"
    assert state.status == "created"
    assert not state.finished


def test_client_accepts_a_submit_answer_with_only_an_id_as_a_created_task() -> None:
    state = _parse("submit", "minimal_id_only")
    assert (state.id, state.status) == ("req-123", "created")
    assert state.outputs == ()


def test_client_accepts_the_guides_submit_answer_with_a_pred_id() -> None:
    state = _parse("submit", "guide_form")
    assert (state.id, state.status) == ("pred_abc123", "created")


def test_client_reads_a_sync_mode_timeout_as_a_task_still_running() -> None:
    state = _parse("submit", "sync_timeout")
    assert (state.id, state.status, state.code) == ("req-timeout", "processing", 5004)
    assert not state.finished


def test_client_reads_a_completed_result_and_keeps_its_input() -> None:
    state = _parse("result", "completed_with_input", "e6832d4abffb4d79bfbca19783fca133")
    assert state.status == "completed" and state.finished
    assert state.outputs == ("https://cdn.example/output/e6832d4a-shot-4k.mp4",)
    assert state.raw["input"]["video"] == "https://storage.example/uploads/shot.mp4"
    assert state.inference_ms == 25729


def test_client_reads_outputs_given_as_objects_as_their_urls() -> None:
    state = _parse("result", "outputs_as_objects")
    assert state.outputs == ("https://cdn.example/output/e6832d4a-shot-4k.mp4",)


def test_client_accepts_a_fractional_inference_time() -> None:
    state = _parse("result", "float_inference_time")
    assert state.status == "completed"
    assert state.inference_ms is not None and abs(state.inference_ms - 25729.5) <= 1


@pytest.mark.parametrize("name", ["failed", "failed_guide_form"])
def test_client_reads_a_failed_task_from_an_http_200_answer(name: str) -> None:
    answer = _answer("result", name)
    state = _parse("result", name)
    assert state.status == "failed" and state.finished
    assert state.error == answer["body"]["data"]["error"]
    assert state.code == answer["body"]["data"].get("code")


@pytest.mark.parametrize("name", ["processing", "pending", "unknown_status"])
def test_client_treats_running_and_unknown_statuses_as_not_finished(name: str) -> None:
    assert not _parse("result", name).finished


def test_client_treats_a_cancelled_task_as_finished() -> None:
    assert _parse("result", "cancelled").finished


@pytest.mark.parametrize("name", ["reference_page", "without_total", "empty"])
def test_client_reads_every_list_item_without_needing_input(name: str) -> None:
    answer = _answer("list", name)
    page = read_envelope(_response(answer, "POST"), "recent tasks")
    assert [parse_prediction(item, "recent tasks").id for item in page["items"]] == [
        item["id"] for item in answer["body"]["data"]["items"]
    ]
    assert all("input" not in item and "inputs" not in item for item in page["items"])


@pytest.mark.parametrize(
    ("call", "name"),
    [("submit", "refusal"), ("submit", "refusal_with_null_data"), ("upload_ticket", "refusal")],
)
def test_client_reads_an_http_200_refusal_as_an_error_with_its_envelope_code(
    call: str, name: str
) -> None:
    answer = _answer(call, name)
    with pytest.raises(ServiceError) as caught:
        read_envelope(_response(answer, "POST"), call)
    assert not isinstance(caught.value, AmbiguousSubmit)
    assert caught.value.code == answer["body"]["code"]
    assert answer["body"]["message"] in str(caught.value)


class _Canned(BaseAdapter):
    """A transport that answers every request with one fixture (the network, not our code)."""

    def __init__(self, answer: dict[str, Any]) -> None:
        super().__init__()
        self.answer = answer
        self.sent: list[requests.PreparedRequest] = []

    def send(  # type: ignore[override]
        self, request: requests.PreparedRequest, **kwargs: Any
    ) -> requests.Response:
        self.sent.append(request)
        return _response(self.answer, request.method or "GET", request.url or API)

    def close(self) -> None:
        pass


def _client_over(answer: dict[str, Any]) -> tuple[Any, _Canned]:
    from uprez.wavespeed.client import WaveSpeedClient

    transport = _Canned(answer)
    session = requests.Session()
    session.mount("https://", transport)
    session.mount("http://", transport)
    return WaveSpeedClient(API, api_key="k", session=session), transport


@pytest.mark.parametrize("name", ["refusal", "refusal_with_null_data"])
def test_client_submit_reads_a_refusal_as_no_task_not_as_ambiguous(name: str) -> None:
    """HTTP 200 with an envelope code other than 200 and no id: no task exists, nothing may
    have been paid (every official client reads it so), so it is not an AmbiguousSubmit."""
    client, transport = _client_over(_answer("submit", name))
    with pytest.raises(ServiceError) as caught:
        client.submit(protocol.DEFAULT_MODEL, {"video": "https://storage.example/a.mp4"})
    assert not isinstance(caught.value, AmbiguousSubmit), str(caught.value)
    assert len(transport.sent) == 1


@pytest.mark.parametrize("name", ["full", "minimal_id_only", "guide_form"])
def test_client_submit_accepts_every_documented_submit_answer(name: str) -> None:
    client, transport = _client_over(_answer("submit", name))
    state = client.submit(protocol.DEFAULT_MODEL, {"video": "https://storage.example/a.mp4"})
    assert state.id == _answer("submit", name)["body"]["data"]["id"]
    assert state.status == "created"
    assert len(transport.sent) == 1


ERRORS = _call("errors")["answers"]


@pytest.mark.parametrize(("name", "answer"), ERRORS.items(), ids=list(ERRORS))
def test_client_reads_every_documented_error_as_a_typed_error(
    name: str, answer: dict[str, Any]
) -> None:
    with pytest.raises(ServiceError) as caught:
        read_envelope(_response(answer), "call")
    assert caught.value.status == answer["status"]
    body = answer.get("body", {})
    text = body.get("message") or body.get("error")
    if text:
        assert text[:80] in str(caught.value)


def test_client_shows_the_error_code_beside_the_message() -> None:
    with pytest.raises(AuthError) as caught:
        read_envelope(_response(_answer("errors", "forbidden_with_error_code")), "submit")
    assert "PERMISSION_DENIED" in str(caught.value)


def test_client_does_not_claim_a_suspension_on_a_403() -> None:
    """A 403 names a key's role as often as a suspended account: say what is known."""
    with pytest.raises(AuthError) as caught:
        read_envelope(_response(_answer("errors", "forbidden_with_error_code")), "submit")
    assert "suspend" not in str(caught.value).lower()


def test_client_reads_a_429_without_retry_after_as_rate_limited_with_no_given_wait() -> None:
    with pytest.raises(RateLimited) as caught:
        read_envelope(_response(_answer("errors", "rate_limited_without_retry_after")), "submit")
    assert caught.value.retry_after is None


@pytest.mark.parametrize("name", ["documented", "sdk_fixture"])
def test_client_reads_an_upload_ticket_as_put_instructions(name: str) -> None:
    data = read_envelope(_response(_answer("upload_ticket", name), "POST"), "upload ticket")
    assert data["upload"]["method"] == "PUT"
    assert data["download_url"].startswith("https://")
    assert isinstance(data["upload"]["headers"], dict)


@pytest.mark.parametrize(
    ("call", "name"),
    [
        ("upload_binary", "reference_page"),
        ("upload_binary", "video"),
        ("upload_legacy", "reference_page"),
    ],
)
def test_client_reads_a_multipart_upload_answer(call: str, name: str) -> None:
    data = read_envelope(_response(_answer(call, name), "POST"), "upload")
    assert (data.get("download_url") or data.get("url")).startswith("https://")


@pytest.mark.parametrize("name", ["reference_page", "guide_with_currency", "whole_dollars"])
def test_client_reads_the_balance(name: str) -> None:
    answer = _answer("balance", name)
    client, _ = _client_over(answer)

    assert client.balance() == Decimal(str(answer["body"]["data"]["balance"]))


@pytest.mark.parametrize("name", ["cli_contract", "pricing_page_contract"])
def test_client_reads_a_model_price(name: str) -> None:
    answer = _answer("model_price", name)
    data = answer["body"]["data"]
    client, _ = _client_over(answer)

    quoted = client.price(protocol.DEFAULT_MODEL, {})

    expected = data.get("discounted_price") or data.get("unit_price") or data.get("price")
    assert quoted == Decimal(str(expected))


@pytest.mark.parametrize(("name", "count"), [("documented", 2), ("none_known", 0)])
def test_client_reads_a_deletion_and_sends_the_documented_body(name: str, count: int) -> None:
    client, transport = _client_over(_answer("delete", name))
    ids = _call("delete")["requests"]["documented"]["body"]["ids"]

    assert client.delete(ids) == count
    [sent] = transport.sent
    assert (sent.method, sent.url) == ("POST", f"{API}/api/v3/predictions/delete")
    assert json.loads(sent.body or b"{}") == {"ids": ids}


def test_client_reads_a_404_on_delete_as_already_gone() -> None:
    client, _ = _client_over(_answer("errors", "not_found"))
    assert client.delete(["gone-task"]) == 0


# == (c) the twin answers in the documented shapes =================================================


@dataclass
class TwinRun:
    """What the local server answered to one real run: upload, submit, wait, list, balance."""

    base_url: str
    answers: dict[str, requests.Response] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)
    video_url: str | None = None
    task_ids: list[str] = field(default_factory=list)

    def get(self, name: str) -> requests.Response:
        if name not in self.answers:
            pytest.fail(f"the twin run never got to {name}: {self.problems or 'no reason kept'}")
        return self.answers[name]

    def json(self, name: str, status: int = 200) -> Any:
        answer = self.get(name)
        assert answer.status_code == status, (
            f"{answer.request.method} {answer.url} -> HTTP {answer.status_code}: "
            f"{answer.text[:300]}"
        )
        return answer.json()


def _iso(moment: float) -> str:
    return datetime.fromtimestamp(moment, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _run_twin(server: LocalServer, clip: Path, session: requests.Session) -> TwinRun:
    base = server.base_url
    run = TwinRun(base)
    api = f"{base}{protocol.API_PREFIX}"
    model = protocol.DEFAULT_MODEL
    # Uploads, the three ways.
    run.answers["upload_ticket"] = session.post(
        f"{api}/media/uploads",
        json={"filename": clip.name, "size": clip.stat().st_size, "content_type": "video/mp4"},
        timeout=30,
    )
    with clip.open("rb") as body:
        run.answers["upload_binary"] = session.post(
            f"{api}/media/upload/binary", files={"file": (clip.name, body, "video/mp4")}, timeout=60
        )
    with clip.open("rb") as body:
        run.answers["upload_legacy"] = session.post(
            f"{api}/upload", files={"file": (clip.name, body, "video/mp4")}, timeout=60
        )
    try:
        run.video_url = upload(session, base, clip)
    except AssertionError as exc:
        run.problems["upload"] = str(exc)[:300]
        return run
    # Submit, wait, read the result both ways.
    started = time.time()
    run.answers["submit"] = session.post(
        f"{api}/{model}", json={"video": run.video_url}, timeout=30
    )
    try:
        task = run.answers["submit"].json()["data"]
        run.task_ids.append(task["id"])
        wait_for(session, task["urls"]["get"])
    except (AssertionError, ValueError, KeyError, TypeError) as exc:
        run.problems["submit"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        return run
    run.answers["result"] = session.get(task["urls"]["get"], timeout=30)
    run.answers["result_short"] = session.get(f"{api}/predictions/{task['id']}", timeout=30)
    # A task that fails (its input "could not be fetched"): still HTTP 200.
    app = server.app
    assert app is not None
    try:
        fault = Fault(route="submit", kind="task_fail", code=protocol.CODE_MEDIA_UNREACHABLE)
        app.faults.add(fault)
        failing = session.post(f"{api}/{model}", json={"video": run.video_url}, timeout=30)
        failed = failing.json()["data"]
        run.task_ids.append(failed["id"])
        wait_for(session, failed["urls"]["get"])
        run.answers["failed_result"] = session.get(failed["urls"]["get"], timeout=30)
    except (AssertionError, ValueError, KeyError, TypeError) as exc:
        run.problems["failed task"] = f"{type(exc).__name__}: {str(exc)[:300]}"
    finally:
        app.faults.clear()
    # The documented listing, and the undocumented GET.
    run.answers["list"] = session.post(
        f"{api}/predictions",
        json={
            "page": 1,
            "page_size": 100,
            "model": model,
            "created_after": _iso(started - 60),
            "created_before": _iso(time.time() + 60),
        },
        timeout=30,
    )
    run.answers["list_get"] = session.get(f"{api}/predictions", timeout=30)
    run.answers["balance"] = session.get(f"{api}/balance", timeout=30)
    run.answers["model_price"] = session.post(
        f"{api}/model/pricing",
        json={"model_id": model, "inputs": {"video": run.video_url}},
        timeout=30,
    )
    # Errors.
    run.answers["error_400"] = session.post(f"{api}/{model}", json={}, timeout=30)
    run.answers["error_401"] = requests.get(f"{api}/balance", timeout=30)
    run.answers["error_404"] = session.get(f"{api}/predictions/no-such-task/result", timeout=30)
    # Last, as it forgets them: deleting the run's tasks, and one it does not know.
    run.answers["delete"] = session.post(
        f"{api}/predictions/delete", json={"ids": [*run.task_ids, "no-such-task"]}, timeout=30
    )
    return run


@pytest.fixture(scope="module")
def twin(shared_server: LocalServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TwinRun]:
    """One real run against the module's local server (conftest's ``shared_server``), with a
    real clip made as conftest's ``make_clip`` makes them; every twin test reads its answers."""
    from uprez.media.synth import make_clip

    clip = tmp_path_factory.mktemp("contract") / "shot.mp4"
    make_clip(str(clip), seconds=1, fps=12, width=64, height=36, audio=True)
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {SECRET_KEY}"
    with session:
        yield _run_twin(shared_server, clip, session)


def _fits(definition: str, body: object) -> None:
    problems = _errors(definition, body)
    assert problems == [], f"the twin's answer breaks the contract ({definition}): {problems}"


def test_twin_upload_ticket_answer_fits_the_contract(twin: TwinRun) -> None:
    body = twin.json("upload_ticket")
    _fits("upload_ticket_answer", body)
    assert body["data"]["type"] == "video"


def test_twin_binary_upload_answer_fits_the_contract(twin: TwinRun) -> None:
    body = twin.json("upload_binary")
    _fits("upload_binary_answer", body)
    assert body["data"]["type"] == "video"


def test_twin_legacy_upload_answer_fits_the_contract(twin: TwinRun) -> None:
    _fits("upload_legacy_answer", twin.json("upload_legacy"))


def test_twin_submit_answer_fits_the_contract(twin: TwinRun) -> None:
    body = twin.json("submit")
    _fits("submit_answer", body)
    assert body["data"]["status"] in ("created", "pending", "processing")


@pytest.mark.parametrize("name", ["result", "result_short"])
def test_twin_result_fits_the_contract_and_carries_its_input(twin: TwinRun, name: str) -> None:
    body = twin.json(name)
    _fits("result_answer", body)
    data = body["data"]
    assert data["status"] == "completed"
    assert data.get("input", {}).get("video") == twin.video_url, "the result carries its input"


def test_twin_failed_task_is_http_200_with_status_failed_and_its_code(twin: TwinRun) -> None:
    body = twin.json("failed_result")
    _fits("result_answer", body)
    data = body["data"]
    assert (data["status"], data.get("code")) == ("failed", protocol.CODE_MEDIA_UNREACHABLE)
    assert data["error"]


def test_twin_lists_by_post_in_the_documented_shape(twin: TwinRun) -> None:
    body = twin.json("list")
    _fits("list_answer", body)
    listed = [item["id"] for item in body["data"]["items"]]
    assert set(twin.task_ids) <= set(listed)


def test_twin_list_items_carry_no_input(twin: TwinRun) -> None:
    items = twin.json("list")["data"]["items"]
    assert items
    assert [item["id"] for item in items if "input" in item or "inputs" in item] == []


def test_twin_answers_a_get_listing_with_405(twin: TwinRun) -> None:
    assert twin.get("list_get").status_code == 405


def test_twin_balance_answer_fits_the_contract(twin: TwinRun) -> None:
    _fits("balance_answer", twin.json("balance"))


def test_twin_model_price_answer_fits_the_contract(twin: TwinRun) -> None:
    answer = twin.get("model_price")
    # The twin serves the reference's /model/pricing, the strictest of the documented paths.
    assert answer.status_code == 200, answer.text
    _fits("model_price_answer", twin.json("model_price"))


@pytest.mark.parametrize(
    ("name", "status"), [("error_400", 400), ("error_401", 401), ("error_404", 404)]
)
def test_twin_error_answers_fit_the_contract(twin: TwinRun, name: str, status: int) -> None:
    _fits("error_answer", twin.json(name, status))


def test_twin_delete_answer_fits_the_contract_and_counts_what_it_knew(twin: TwinRun) -> None:
    body = twin.json("delete")
    _fits("delete_answer", body)
    assert body["data"]["deleted_count"] == len(twin.task_ids)


def test_client_reads_every_twin_answer(twin: TwinRun) -> None:
    """The client's parser and the twin meet on the same shapes."""
    submitted = parse_prediction(read_envelope(twin.get("submit"), "submit"), "submit")
    assert submitted.id == twin.task_ids[0]
    done = parse_prediction(read_envelope(twin.get("result"), "result"), "result")
    assert done.finished and done.outputs
    page = read_envelope(twin.get("list"), "recent tasks")
    ids = [parse_prediction(item, "recent tasks").id for item in page["items"]]
    assert submitted.id in ids
