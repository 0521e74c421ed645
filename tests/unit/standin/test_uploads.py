"""Files in and out of the local server: the upload ticket and its PUT, the multipart flows, and
the download routes (ranges, validators, HEAD, safe names)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import TEST_BOX, TEST_KEY, TEST_LEVEL, upscale_by_api

# Bytes that are easy to check at any offset: no two 4-byte windows alike in the first 1 KiB.
PAYLOAD = b"".join(i.to_bytes(4, "big") for i in range(1000))


@pytest.fixture(scope="module")
def shared() -> Iterator[LocalServer]:
    """One server for the whole module: uploads never interfere with one another."""
    settings = ServerSettings(api_key=TEST_KEY, max_size=TEST_BOX, account_level=TEST_LEVEL)
    with LocalServer(settings) as running:
        yield running


@pytest.fixture(scope="module")
def keyed(shared: LocalServer) -> requests.Session:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {TEST_KEY}"
    return session


def open_ticket(
    api: requests.Session, server: LocalServer, body: dict[str, Any]
) -> requests.Response:
    return api.post(f"{server.base_url}/api/v3/media/uploads", json=body, timeout=10)


def ticket_for(
    api: requests.Session,
    server: LocalServer,
    filename: str,
    size: int,
    content_type: str = "video/mp4",
) -> dict[str, Any]:
    answer = open_ticket(
        api, server, {"filename": filename, "size": size, "content_type": content_type}
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == 200
    data: dict[str, Any] = answer.json()["data"]
    return data


def put(ticket: dict[str, Any], body: Any, **headers: str) -> requests.Response:
    """PUT to a ticket's URL the way the SDK does: with the ticket's headers only."""
    sent = {**ticket["upload"]["headers"], **headers}
    return requests.put(ticket["upload"]["url"], data=body, headers=sent, timeout=10)


def served_name(url: str) -> str:
    return urlsplit(url).path.rsplit("/", 1)[1]


# -- the ticket flow -----------------------------------------------------------------------------


def test_a_ticket_answer_has_the_documented_shape(
    shared: LocalServer, keyed: requests.Session
) -> None:
    data = ticket_for(keyed, shared, "clip.mp4", len(PAYLOAD))

    assert data["download_url"].startswith(f"{shared.storage_url}/media/")
    assert data["filename"] == "clip.mp4"
    assert served_name(data["download_url"]) == "clip.mp4"
    assert data["size"] == len(PAYLOAD)
    assert data["type"] == "video"  # the kind, not a MIME type
    ticket = data["upload"]
    assert ticket["method"] == "PUT"
    assert ticket["url"].startswith(f"{shared.storage_url}/")
    assert ticket["url"] != data["download_url"]
    assert isinstance(ticket["headers"], dict)
    assert ticket["headers"]["Content-Type"] == "video/mp4"
    assert "Authorization" not in ticket["headers"]
    expires = datetime.fromisoformat(ticket["expires_at"])
    assert expires > datetime.now(UTC)


def test_the_content_type_is_guessed_from_the_name_when_not_declared(
    shared: LocalServer, keyed: requests.Session
) -> None:
    answer = open_ticket(keyed, shared, {"filename": "clip.mov", "size": 4})
    assert answer.status_code == 200, answer.text
    assert answer.json()["data"]["type"] == "video"
    assert answer.json()["data"]["upload"]["headers"]["Content-Type"] == "video/quicktime"


def test_a_put_with_only_the_ticket_headers_stores_the_exact_bytes(
    shared: LocalServer, keyed: requests.Session
) -> None:
    data = ticket_for(keyed, shared, "exact.mp4", len(PAYLOAD))

    stored = put(data, PAYLOAD)

    assert stored.status_code == 200, stored.text
    assert "Authorization" not in stored.request.headers
    served = requests.get(data["download_url"], timeout=10)
    assert served.status_code == 200
    assert served.content == PAYLOAD
    assert served.headers["Content-Type"] == "video/mp4"


def test_the_download_url_is_404_until_the_put_arrives(
    shared: LocalServer, keyed: requests.Session
) -> None:
    data = ticket_for(keyed, shared, "later.mp4", len(PAYLOAD))

    assert requests.get(data["download_url"], timeout=10).status_code == 404
    assert requests.head(data["download_url"], timeout=10).status_code == 404
    assert put(data, PAYLOAD).status_code == 200
    assert requests.get(data["download_url"], timeout=10).status_code == 200


def test_a_second_put_to_the_same_url_is_refused_with_409(
    shared: LocalServer, keyed: requests.Session
) -> None:
    data = ticket_for(keyed, shared, "twice.mp4", len(PAYLOAD))
    assert put(data, PAYLOAD).status_code == 200

    other = bytes(reversed(PAYLOAD))
    again = put(data, other)

    assert again.status_code == 409
    assert requests.get(data["download_url"], timeout=10).content == PAYLOAD


def test_a_put_to_an_unknown_url_is_404(shared: LocalServer) -> None:
    answer = requests.put(f"{shared.storage_url}/put/not-a-token", data=b"abc", timeout=10)
    assert answer.status_code == 404


@pytest.mark.parametrize("delta", [-1, +1, -len(PAYLOAD)], ids=["short", "long", "empty"])
def test_a_put_whose_length_differs_from_the_declared_size_is_400_and_nothing_is_served(
    shared: LocalServer, keyed: requests.Session, delta: int
) -> None:
    data = ticket_for(keyed, shared, "wrong.mp4", len(PAYLOAD))
    body = (PAYLOAD + b"!")[: len(PAYLOAD) + delta]

    answer = put(data, body)

    assert answer.status_code == 400, answer.text
    assert requests.get(data["download_url"], timeout=10).status_code == 404


@pytest.mark.parametrize("delta", [-1, +1], ids=["short", "long"])
def test_a_chunked_put_whose_length_differs_from_the_declared_size_is_400(
    shared: LocalServer, keyed: requests.Session, delta: int
) -> None:
    data = ticket_for(keyed, shared, "chunked.mp4", len(PAYLOAD))
    body = (PAYLOAD + b"!")[: len(PAYLOAD) + delta]

    def chunks() -> Iterator[bytes]:  # a generator body is sent without Content-Length
        yield body[:100]
        yield body[100:]

    answer = put(data, chunks())

    # Without a Content-Length the server must still notice a body longer than declared (it once
    # accepted it with 200 and silently cut it to the declared size).
    assert answer.request.headers.get("Transfer-Encoding") == "chunked"
    assert answer.status_code == 400, answer.text
    assert requests.get(data["download_url"], timeout=10).status_code == 404


def test_a_chunked_put_of_the_declared_size_is_stored(
    shared: LocalServer, keyed: requests.Session
) -> None:
    data = ticket_for(keyed, shared, "chunked-ok.mp4", len(PAYLOAD))

    answer = put(data, iter([PAYLOAD[:1000], PAYLOAD[1000:]]))

    assert answer.status_code == 200, answer.text
    assert requests.get(data["download_url"], timeout=10).content == PAYLOAD


BAD_TICKETS: dict[str, dict[str, Any]] = {
    "negative-size": {"filename": "a.mp4", "size": -1},
    "string-size": {"filename": "a.mp4", "size": "10"},
    "float-size": {"filename": "a.mp4", "size": 1.5},
    "bool-size": {"filename": "a.mp4", "size": True},
    "no-size": {"filename": "a.mp4"},
    "empty-filename": {"filename": "", "size": 10},
    "number-filename": {"filename": 5, "size": 10},
    "no-filename": {"size": 10},
}


@pytest.mark.parametrize("body", BAD_TICKETS.values(), ids=BAD_TICKETS.keys())
def test_a_ticket_with_a_bad_size_or_filename_is_400(
    shared: LocalServer, keyed: requests.Session, body: dict[str, Any]
) -> None:
    answer = open_ticket(keyed, shared, body)

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 400
    assert answer.json()["data"] is None


def test_a_ticket_body_that_is_not_json_is_400(
    shared: LocalServer, keyed: requests.Session
) -> None:
    answer = keyed.post(
        f"{shared.base_url}/api/v3/media/uploads", data=b"filename=a.mp4", timeout=10
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == 400


def test_tickets_over_the_upload_limit_are_413_and_expired_tickets_403(
    keyed: requests.Session,
) -> None:
    settings = ServerSettings(
        api_key=TEST_KEY, max_size=TEST_BOX, max_upload_bytes=100, upload_ticket_seconds=0.0
    )
    with LocalServer(settings) as server:
        too_big = open_ticket(keyed, server, {"filename": "big.mp4", "size": 101})
        expired = ticket_for(keyed, server, "late.mp4", 10)
        late_put = put(expired, b"0123456789")
        served = requests.get(expired["download_url"], timeout=10)

    assert too_big.status_code == 413
    assert too_big.json()["code"] == 413
    assert late_put.status_code == 403
    assert served.status_code == 404


# -- the multipart flows -------------------------------------------------------------------------


def test_a_binary_upload_answers_a_download_url_serving_the_bytes(
    shared: LocalServer, keyed: requests.Session
) -> None:
    answer = keyed.post(
        f"{shared.base_url}/api/v3/media/upload/binary",
        files={"file": ("bin.mp4", PAYLOAD, "video/mp4")},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    assert answer.json()["code"] == 200
    assert data["filename"] == "bin.mp4"
    assert data["size"] == len(PAYLOAD)
    assert data["type"] == "video"
    assert data["download_url"].startswith(f"{shared.storage_url}/media/")
    assert requests.get(data["download_url"], timeout=10).content == PAYLOAD


@pytest.mark.parametrize("route", ["/api/v3/media/upload/binary", "/api/v3/upload"])
@pytest.mark.parametrize(
    "send",
    [
        {"files": {"other": ("a.mp4", b"abc", "video/mp4")}},
        {"data": {"file": "not a file"}},
        {"json": {"file": "a.mp4"}},
        {},
    ],
    ids=["wrong-field", "form-field", "json", "nothing"],
)
def test_a_multipart_upload_without_the_file_field_is_400(
    shared: LocalServer, keyed: requests.Session, route: str, send: dict[str, Any]
) -> None:
    answer = keyed.post(shared.base_url + route, timeout=10, **send)

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 400


def test_the_legacy_upload_answers_a_url_serving_the_bytes(
    shared: LocalServer, keyed: requests.Session
) -> None:
    answer = keyed.post(
        f"{shared.base_url}/api/v3/upload",
        files={"file": ("old.mp4", PAYLOAD, "video/mp4")},
        timeout=10,
    )

    assert answer.status_code == 200, answer.text
    assert answer.json()["code"] == 200
    url = answer.json()["data"]["url"]
    assert url.startswith(f"{shared.storage_url}/media/")
    assert requests.get(url, timeout=10).content == PAYLOAD


@pytest.mark.parametrize(
    "file",
    [("notes.txt", b"hello", "text/plain"), ("notes.txt", b"hello"), ("x.bin", b"\0\1", None)],
    ids=["declared-text", "guessed-text", "unknown"],
)
def test_the_legacy_upload_refuses_what_is_not_video_image_or_audio(
    shared: LocalServer, keyed: requests.Session, file: tuple[Any, ...]
) -> None:
    answer = keyed.post(f"{shared.base_url}/api/v3/upload", files={"file": file}, timeout=10)

    assert answer.status_code == 400, answer.text
    assert answer.json()["code"] == 400


# -- downloads: ranges, validators, HEAD ---------------------------------------------------------


@pytest.fixture(scope="module")
def downloads(
    shared: LocalServer, keyed: requests.Session, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[str, bytes]]:
    """An uploaded file and a task output, each as (URL, the bytes it must serve)."""
    from uprez.media.synth import make_clip

    clip = tmp_path_factory.mktemp("dl") / "range.mp4"
    make_clip(str(clip), seconds=0.5, fps=12)
    media_url, done = upscale_by_api(keyed, shared.base_url, clip)
    assert done["status"] == "completed", done
    output_url = done["outputs"][0]
    output_bytes = requests.get(output_url, timeout=10).content
    assert len(output_bytes) > 200
    return {"upload": (media_url, clip.read_bytes()), "output": (output_url, output_bytes)}


KINDS = ["upload", "output"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_full_get_has_the_file_length_and_accepts_ranges(
    downloads: dict[str, tuple[str, bytes]], kind: str
) -> None:
    url, content = downloads[kind]

    answer = requests.get(url, timeout=10)

    assert answer.status_code == 200
    assert answer.content == content
    assert int(answer.headers["Content-Length"]) == len(content)
    assert answer.headers["Accept-Ranges"] == "bytes"
    assert answer.headers.get("ETag")


@pytest.mark.parametrize("kind", KINDS)
def test_a_closed_range_gives_206_with_exactly_those_bytes(
    downloads: dict[str, tuple[str, bytes]], kind: str
) -> None:
    url, content = downloads[kind]

    answer = requests.get(url, headers={"Range": "bytes=10-19"}, timeout=10)

    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == f"bytes 10-19/{len(content)}"
    assert answer.content == content[10:20]
    assert int(answer.headers["Content-Length"]) == 10


@pytest.mark.parametrize("kind", KINDS)
def test_an_open_ended_range_gives_the_rest_of_the_file(
    downloads: dict[str, tuple[str, bytes]], kind: str
) -> None:
    url, content = downloads[kind]

    answer = requests.get(url, headers={"Range": "bytes=100-"}, timeout=10)

    assert answer.status_code == 206
    assert answer.headers["Content-Range"] == f"bytes 100-{len(content) - 1}/{len(content)}"
    assert answer.content == content[100:]


@pytest.mark.parametrize("kind", KINDS)
def test_a_range_past_the_end_is_416(downloads: dict[str, tuple[str, bytes]], kind: str) -> None:
    url, content = downloads[kind]

    for past in (f"bytes={len(content)}-", f"bytes={len(content) + 10}-{len(content) + 20}"):
        answer = requests.get(url, headers={"Range": past}, timeout=10)

        assert answer.status_code == 416, past
        assert answer.content != content


@pytest.mark.parametrize("kind", KINDS)
def test_a_416_names_the_full_length_in_content_range(
    downloads: dict[str, tuple[str, bytes]], kind: str
) -> None:
    # RFC 9110 §15.5.17: a 416 to a byte-range request should carry "Content-Range: bytes */N";
    # a resuming downloader whose partial file is already whole learns the full size from it.
    url, content = downloads[kind]

    answer = requests.get(url, headers={"Range": f"bytes={len(content)}-"}, timeout=10)

    assert answer.status_code == 416
    assert answer.headers.get("Content-Range") == f"bytes */{len(content)}"


@pytest.mark.parametrize("kind", KINDS)
def test_the_etag_is_stable_and_if_none_match_gives_304(
    downloads: dict[str, tuple[str, bytes]], kind: str
) -> None:
    url, _ = downloads[kind]

    first = requests.get(url, timeout=10).headers["ETag"]
    second = requests.get(url, timeout=10).headers["ETag"]
    ranged = requests.get(url, headers={"Range": "bytes=0-0"}, timeout=10).headers["ETag"]
    cached = requests.get(url, headers={"If-None-Match": first}, timeout=10)
    stale = requests.get(url, headers={"If-None-Match": '"something-else"'}, timeout=10)

    assert first == second == ranged
    assert cached.status_code == 304
    assert cached.content == b""
    assert stale.status_code == 200


@pytest.mark.parametrize("kind", KINDS)
def test_head_gives_the_headers_of_a_get_without_a_body(
    downloads: dict[str, tuple[str, bytes]], kind: str
) -> None:
    url, content = downloads[kind]

    head = requests.head(url, timeout=10)

    assert head.status_code == 200
    assert head.content == b""
    assert int(head.headers["Content-Length"]) == len(content)
    assert head.headers["ETag"] == requests.get(url, timeout=10).headers["ETag"]
    assert head.headers["Content-Type"] == "video/mp4"


def test_downloads_need_no_key_but_a_wrong_name_is_404(
    downloads: dict[str, tuple[str, bytes]],
) -> None:
    for url, content in downloads.values():
        assert requests.get(url, timeout=10).content == content
        renamed = url.rsplit("/", 1)[0] + "/other.mp4"
        assert requests.get(renamed, timeout=10).status_code == 404


# -- safe names ----------------------------------------------------------------------------------

AWKWARD_NAMES = [
    "my clip (final).mp4",
    "../../x.mp4",
    "..\\..\\x.mp4",
    "/etc/passwd",
    "a/b/../../c.mp4",
    "..",
    "été vidéo.mp4",
    "x.mp4?y=1#z",
]


def check_safe(name: str) -> None:
    assert name
    assert "/" not in name
    assert "\\" not in name
    assert ".." not in name
    assert " " not in name
    assert not name.startswith(".")


@pytest.mark.parametrize("filename", AWKWARD_NAMES)
def test_ticket_file_names_are_made_safe_and_still_served(
    shared: LocalServer, keyed: requests.Session, filename: str
) -> None:
    data = ticket_for(keyed, shared, filename, len(PAYLOAD))

    check_safe(data["filename"])
    assert served_name(data["download_url"]) == data["filename"]
    assert urlsplit(data["download_url"]).path.count("/") == 3  # /media/<id>/<name>
    assert put(data, PAYLOAD).status_code == 200
    assert requests.get(data["download_url"], timeout=10).content == PAYLOAD
    # The bytes landed in the media's own folder under the server's uploads, nowhere else.
    media_id = urlsplit(data["download_url"]).path.split("/")[2]
    folder = shared.root / "uploads" / media_id
    assert [p.name for p in folder.iterdir()] == [data["filename"]]
    assert (folder / data["filename"]).read_bytes() == PAYLOAD


@pytest.mark.parametrize("route", ["/api/v3/media/upload/binary", "/api/v3/upload"])
@pytest.mark.parametrize("filename", ["../../x.mp4", "my clip.mp4"])
def test_multipart_file_names_are_made_safe(
    shared: LocalServer, keyed: requests.Session, route: str, filename: str
) -> None:
    answer = keyed.post(
        shared.base_url + route, files={"file": (filename, PAYLOAD, "video/mp4")}, timeout=10
    )

    assert answer.status_code == 200, answer.text
    data = answer.json()["data"]
    url = data.get("download_url") or data["url"]
    check_safe(served_name(url))
    if "filename" in data:
        check_safe(data["filename"])
    assert requests.get(url, timeout=10).content == PAYLOAD


def test_a_safe_name_keeps_its_base_name_and_extension(
    shared: LocalServer, keyed: requests.Session
) -> None:
    assert ticket_for(keyed, shared, "../../x.mp4", 1)["filename"] == "x.mp4"
    assert ticket_for(keyed, shared, "my clip.mov", 1)["filename"] == "my_clip.mov"


def test_media_ids_do_not_repeat(shared: LocalServer, keyed: requests.Session) -> None:
    urls = {ticket_for(keyed, shared, "same.mp4", 1)["download_url"] for _ in range(20)}
    assert len(urls) == 20
