"""uprez.wavespeed.webhooks.verify against signature vectors made with the openssl command line.

The vectors (tests/contract/webhook_vectors.json) were computed by tests/contract/webhook_vectors.sh
with ``openssl dgst -sha256 -hmac``, not by any code of uprez, so a verifier and a signer that
share a mistake cannot agree with each other and pass.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from typing import Any

import pytest
from werkzeug.datastructures import Headers

from uprez.errors import UprezError, WebhookError
from uprez.wavespeed.webhooks import verify

import support

CONTRACT = support.TESTS / "contract"
VECTORS: dict[str, Any] = json.loads((CONTRACT / "webhook_vectors.json").read_text("utf-8"))
BY_NAME = {vector["name"]: vector for vector in VECTORS["vectors"]}


def _run(vector: dict[str, Any], **changes: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "secret": vector["secret"],
        "headers": vector["headers"],
        "body": vector["body"].encode("utf-8"),
        "now": vector["now"],
    }
    args.update(changes)
    return verify(args.pop("secret"), args.pop("headers"), args.pop("body"), **args)


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS["vectors"] if v["expect"] == "valid"], ids=lambda v: v["name"]
)
def test_a_correctly_signed_delivery_gives_back_the_prediction(vector: dict[str, Any]) -> None:
    assert _run(vector) == json.loads(vector["body"])


@pytest.mark.parametrize(
    "vector", [v for v in VECTORS["vectors"] if v["expect"] == "invalid"], ids=lambda v: v["name"]
)
def test_a_bad_delivery_is_refused_with_its_reason(vector: dict[str, Any]) -> None:
    with pytest.raises(WebhookError) as caught:
        _run(vector)
    message = str(caught.value)
    assert vector["reason"].lower() in message.lower()
    assert "\n" not in message
    # The secret never shows, whole or stripped of its prefix.
    assert vector["secret"] not in message
    assert vector["secret"].removeprefix("whsec_") not in message


def test_webhook_error_is_an_uprez_error() -> None:
    assert issubclass(WebhookError, UprezError)


def test_the_vectors_cover_what_a_receiver_meets() -> None:
    names = set(BY_NAME)
    for needed in (
        "good",
        "good_secret_without_prefix",
        "tampered_body",
        "wrong_secret",
        "stale_timestamp",
        "future_timestamp",
        "missing_id",
        "missing_timestamp",
        "missing_signature",
        "several_signatures_one_good",
        "uppercase_header_names",
    ):
        assert needed in names


def test_werkzeug_request_headers_are_accepted() -> None:
    """What a Flask receiver passes: werkzeug's Headers, names in title case."""
    vector = BY_NAME["good"]
    headers = Headers([(name.title(), value) for name, value in vector["headers"].items()])
    assert _run(vector, headers=headers)["id"] == json.loads(vector["body"])["id"]


def test_signatures_split_over_repeated_headers_are_all_considered() -> None:
    vector = BY_NAME["several_signatures_one_good"]
    bad, good = vector["headers"]["webhook-signature"].split()
    headers = Headers(
        [
            ("webhook-id", vector["headers"]["webhook-id"]),
            ("webhook-timestamp", vector["headers"]["webhook-timestamp"]),
            ("webhook-signature", bad),
            ("webhook-signature", good),
        ]
    )
    assert _run(vector, headers=headers)["status"] == "completed"


def test_two_different_ids_are_refused() -> None:
    vector = BY_NAME["good"]
    headers = Headers(list(vector["headers"].items()))
    headers.add("Webhook-Id", "someone-else")
    with pytest.raises(WebhookError, match="more than once"):
        _run(vector, headers=headers)


def test_the_tolerance_can_be_narrowed_and_widened() -> None:
    stale = BY_NAME["stale_timestamp"]
    assert _run(stale, tolerance=301.0)["status"] == "completed"
    good = BY_NAME["good"]  # signed 72 s before its `now`
    with pytest.raises(WebhookError, match="too old"):
        _run(good, tolerance=60.0)


def test_without_now_the_clock_is_used() -> None:
    """The vectors are from 2025: against today's clock they are replays."""
    with pytest.raises(WebhookError, match="too old"):
        _run(BY_NAME["good"], now=None)


def test_body_must_be_the_raw_bytes() -> None:
    vector = BY_NAME["good"]
    with pytest.raises(TypeError, match="raw request body"):
        _run(vector, body=vector["body"])
    assert _run(vector, body=bytearray(vector["body"].encode()))["status"] == "completed"


@pytest.mark.parametrize("secret", ["", "whsec_"])
def test_an_empty_secret_is_refused(secret: str) -> None:
    with pytest.raises(WebhookError, match="no webhook secret"):
        _run(BY_NAME["good"], secret=secret)


@pytest.mark.parametrize("tolerance", [-1.0, float("nan"), float("inf")])
def test_a_meaningless_tolerance_is_a_programming_error(tolerance: float) -> None:
    with pytest.raises(ValueError, match="tolerance"):
        _run(BY_NAME["good"], tolerance=tolerance)


def test_a_signed_json_array_is_not_a_prediction() -> None:
    # A delivery correctly signed (by openssl, with the vectors' id, timestamp and key) whose
    # body is JSON but not an object.
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    vector = BY_NAME["good"]
    body = b"[1, 2, 3]"
    head = f"{vector['headers']['webhook-id']}.{vector['headers']['webhook-timestamp']}.".encode()
    digest = (
        subprocess.run(
            ["openssl", "dgst", "-sha256", "-hmac", vector["secret"].removeprefix("whsec_")],
            input=head + body,
            capture_output=True,
            check=True,
        )
        .stdout.split()[-1]
        .decode()
    )
    headers = {**vector["headers"], "webhook-signature": f"v3,{digest}"}
    with pytest.raises(WebhookError, match="not a JSON object"):
        _run(vector, headers=headers, body=body)


# -- the provider's own worked example ------------------------------------------------------------


@pytest.mark.parametrize(
    "case", VECTORS["docs_worked_example"]["cases"], ids=lambda case: case["name"]
)
def test_the_docs_worked_example_does_not_verify(case: dict[str, Any]) -> None:
    """wavespeed-api.md: "The worked example in the docs does not verify". openssl agrees under
    every reading of the key (as text, prefix kept, base64-decoded), and so does verify()."""
    documented = case["documented_signature"]
    assert documented not in case["openssl"].values()
    with pytest.raises(WebhookError, match="signature does not match"):
        verify(case["secret"], case["headers"], case["body"].encode(), now=case["now"])


def test_the_docs_worked_example_verifies_once_signed_by_the_documented_rule() -> None:
    """The same example with the signature openssl makes by the documented rule passes: the rule
    is right and the page's signature is not."""
    case = VECTORS["docs_worked_example"]["cases"][0]
    headers = {
        **case["headers"],
        "webhook-signature": "v3," + case["openssl"]["key_as_text_without_prefix"],
    }
    prediction = verify(case["secret"], headers, case["body"].encode(), now=case["now"])
    assert prediction["id"] == case["headers"]["webhook-id"]


# -- the vectors are what openssl says ------------------------------------------------------------


@pytest.mark.skipif(
    not all(shutil.which(tool) for tool in ("bash", "openssl", "jq", "xxd", "base64")),
    reason="the vector script needs bash, openssl, jq, xxd and base64",
)
def test_the_stored_vectors_are_what_the_openssl_script_makes() -> None:
    made = subprocess.run(
        ["bash", str(CONTRACT / "webhook_vectors.sh")],
        capture_output=True,
        check=True,
        timeout=60,
    ).stdout
    assert json.loads(made) == VECTORS
