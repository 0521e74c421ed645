"""Input by URL: ``uprez upscale https://...`` submits the URL itself, nothing is uploaded.

A real clip is served over real HTTP on loopback (with ``Range``, as object storage serves a
presigned URL); the step probes it there, the local stand-in server fetches it there, and the
result comes back as any other. Whatever cannot be checked from the URL before spending is
refused with exit 3 and no submission. The URL's signature never shows in a log, a message, a
sidecar or the journal's list of jobs.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import av
import pytest
import requests
from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.utils import send_file
from werkzeug.wrappers import Request, Response

from uprez.errors import InputError
from uprez.journal.store import Journal, default_path
from uprez.journal.tasks import TaskRecord
from uprez.media.probe import probe
from uprez.media.remote import RemoteVideo, Source, as_source
from uprez.plugins import PluginManager
from uprez.providers import Provider, ProviderResult
from uprez.records import Artifact, JobEvent
from uprez.standin.faults import Fault
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, TEST_BOX, Service, fast_config, service_env

#: The part of a presigned URL that must never be shown or written down.
SIGNATURE = "X-Amz-Signature=0ddba11-SIGNED"


# -- a file server standing in for object storage -------------------------------------------------


class _Quiet(WSGIRequestHandler):
    def log_request(self, *args: object, **kwargs: object) -> None:
        """Storage's own access log is not uprez's: keep it out of the logs checked here."""


@dataclass
class Storage:
    """Files served over HTTP on loopback, with ``Range`` support."""

    folder: Path
    port: int

    def url(self, name: str, signature: str = SIGNATURE) -> str:
        return f"http://127.0.0.1:{self.port}/bucket/{name}?X-Amz-Expires=3600&{signature}"

    def redacted(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/bucket/{name}?<redacted>"


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    folder = tmp_path / "storage"
    folder.mkdir()

    @Request.application
    def app(request: Request) -> Response:
        if request.path == "/live.ts":  # a stream of unknown length (no Content-Length)
            data = (folder / "shot.ts").read_bytes()
            return Response(iter([data]), mimetype="video/mp2t")
        path = folder / request.path.removeprefix("/bucket/")
        if not path.is_file():
            return Response("NoSuchKey", status=404)
        return send_file(path, request.environ, conditional=True)

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=_Quiet)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield Storage(folder, server.port)
    finally:
        server.shutdown()
        thread.join(5)


@pytest.fixture
def stored(storage: Storage, make_clip: Callable[..., Path]) -> Storage:
    """Storage holding ``shot.mp4`` (1 s, 12 fps, 64x36, with sound), a text page, and the
    clip's video as a stream of unknown length (``/live.ts``)."""
    make_clip("shot.mp4", seconds=1, fps=12, width=64, height=36, audio=True).rename(
        storage.folder / "shot.mp4"
    )
    (storage.folder / "notes.html").write_text("<html><body>not a video</body></html>" * 20)
    _remux_to_transport_stream(storage.folder / "shot.mp4", storage.folder / "shot.ts")
    return storage


def _remux_to_transport_stream(clip: Path, target: Path) -> None:
    """The clip's video as MPEG-TS: served as a stream, nothing in it tells its length."""
    with av.open(str(clip)) as inp, av.open(str(target), "w", format="mpegts") as out:
        video = inp.streams.video[0]
        copy = out.add_stream_from_template(video)
        for packet in inp.demux(video):
            if packet.dts is not None:
                packet.stream = copy
                out.mux(packet)


@pytest.fixture(autouse=True)
def signature_stays_out_of_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    assert SIGNATURE not in caplog.text
    assert SECRET_KEY not in caplog.text


def uprez(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uprez", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=120,
    )


def upscale_url(url: str, service: Service, pm: PluginManager, **options: Any) -> Artifact:
    """Run the step on a URL artifact, as a pipeline would."""
    config = fast_config()
    provider = WaveSpeedProvider.from_config(config, base_url=service.base_url, api_key=SECRET_KEY)
    try:
        artifact = Artifact(as_source(url))
        return run_upscale(artifact, config=config, pm=pm, provider=provider, **options)
    finally:
        provider.close()


# -- the command line ------------------------------------------------------------------------------


def test_the_cli_submits_a_url_without_uploading_it_and_downloads_the_result(
    stored: Storage, service: Service, tmp_path: Path
) -> None:
    here = tmp_path / "here"
    here.mkdir()

    run = uprez(
        "-vv",
        "upscale",
        stored.url("shot.mp4"),
        "--json",
        cwd=here,
        env=service_env(service.base_url),
    )

    assert run.returncode == 0, run.stderr
    assert service.spent() == (0, 1)  # no upload, one submission
    [result] = json.loads(run.stdout)["results"]
    assert result["source"] == stored.redacted("shot.mp4")
    output = Path(result["output"])
    assert output == here / "shot_4k.mp4"  # the URL's file name, in the current folder
    source, made = probe(stored.folder / "shot.mp4"), probe(output)
    assert (made.width, made.height) == TEST_BOX
    assert (made.frames, made.fps, made.audio_streams) == (source.frames, source.fps, 1)
    record = json.loads(sidecar_path(output).read_text())
    assert record["source"]["path"] == stored.redacted("shot.mp4")
    assert record["source"]["probe"]["frames"] == 12
    assert record["verification"] == {"ok": True, "problems": []}
    # The service was given the URL itself, signature and all.
    answer = requests.get(
        f"{service.base_url}/api/v3/predictions/{result['task_id']}/result",
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
        timeout=10,
    )
    assert answer.json()["data"]["input"]["video"] == stored.url("shot.mp4")
    assert SIGNATURE not in run.stdout + run.stderr
    assert SIGNATURE not in sidecar_path(output).read_text()


def test_the_cli_writes_a_url_sources_result_where_o_says(
    stored: Storage, service: Service, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "hero.mp4"
    target.parent.mkdir()

    run = uprez(
        "upscale",
        stored.url("shot.mp4"),
        "-o",
        str(target),
        cwd=tmp_path,
        env=service_env(service.base_url),
    )

    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == str(target)
    assert probe(target).width == TEST_BOX[0]
    assert service.spent() == (0, 1)


REFUSED = {
    "longer than the limit": (
        "{storage}/bucket/shot.mp4",
        {"UPREZ_LIMITS__MAX_DURATION": "0.5"},
        "cannot be cut into segments without downloading it",
    ),
    "unreachable": ("http://127.0.0.1:{closed}/shot.mp4", {}, "Connection refused"),
    "silent": (
        "http://127.0.0.1:{silent}/shot.mp4",
        {"UPREZ_PROVIDER__CONNECT_TIMEOUT": "1"},
        "did not answer in time",
    ),
    "not a video": ("{storage}/bucket/notes.html", {}, "could not be read as a video"),
    "missing": ("{storage}/bucket/gone.mp4", {}, "404"),
    "length unknown": ("{storage}/live.ts", {}, "length of the video cannot be told"),
    "a host hidden by a backslash": (
        "http://evil.example\\@127.0.0.1:{port}/bucket/shot.mp4",
        {},
        "backslashes",
    ),
    "a host hidden by user@": ("http://evil.example@127.0.0.1:{port}/shot.mp4", {}, "user@host"),
    "not http": ("ftp://127.0.0.1:{port}/bucket/shot.mp4", {}, "http:// or https://"),
}


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_a_url_that_cannot_be_checked_or_sent_is_refused_with_exit_3_before_spending(
    case: str, stored: Storage, service: Service, tmp_path: Path
) -> None:
    template, settings, reason = REFUSED[case]
    with socket.create_server(("127.0.0.1", 0)) as silent:  # takes connections, never answers
        with socket.socket() as closed:  # a port nothing listens on, once closed
            closed.bind(("127.0.0.1", 0))
            closed_port = closed.getsockname()[1]
        url = template.format(
            storage=f"http://127.0.0.1:{stored.port}",
            port=stored.port,
            silent=silent.getsockname()[1],
            closed=closed_port,
        )
        env = {**service_env(service.base_url), **settings}

        run = uprez("-v", "upscale", f"{url}?{SIGNATURE}", cwd=tmp_path, env=env)

    assert run.returncode == 3, run.stderr
    [line] = run.stderr.strip().splitlines()
    assert reason in line
    assert SIGNATURE not in run.stderr + run.stdout
    assert service.spent() == (0, 0)
    assert not service.new_task_ids()
    assert not list(tmp_path.glob("*.mp4"))


# -- a pipeline's artifact -------------------------------------------------------------------------


def test_a_pipelines_presigned_url_artifact_is_upscaled_and_a_resigned_rerun_costs_nothing(
    stored: Storage,
    service: Service,
    pm: PluginManager,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)

    result = upscale_url(stored.url("shot.mp4"), service, pm)

    assert result.path == tmp_path / "shot_4k.mp4"
    assert isinstance(result.source, RemoteVideo)
    assert result.metadata["verification"]["ok"]
    assert service.spent() == (0, 1)

    # The pipeline asks again with the URL signed anew: the same object, the same job.
    again = upscale_url(stored.url("shot.mp4", "X-Amz-Signature=fresh-SIGNED"), service, pm)

    assert again.path == result.path
    assert again.metadata["task_id"] == result.metadata["task_id"]
    assert service.spent() == (0, 1)
    journal = Journal(default_path())
    try:
        [job] = journal.recent(limit=5)
    finally:
        journal.close()
    assert job["source"] == stored.redacted("shot.mp4")


def test_a_result_that_lost_its_sound_gets_it_back_from_the_url_source(
    stored: Storage, service: Service, pm: PluginManager, tmp_path: Path
) -> None:
    service.inject(Fault("submit", "drop_audio"))

    result = upscale_url(stored.url("shot.mp4"), service, pm, output=tmp_path / "out.mp4")

    assert service.injected().get("submit:drop_audio") == 1
    assert probe(result.path).audio_streams == 1
    assert result.metadata["verification"]["ok"]
    assert service.spent() == (0, 1)
    assert not (tmp_path / ".uprez-work").exists()  # the source's copy went with the work folder


class _FilesOnly(Provider):
    """A provider that knows nothing of URLs (it has no ``upload``)."""

    name = "files-only"

    def run(
        self,
        source: Source,
        target: Path,
        *,
        emit: Callable[[JobEvent], None],
        record: TaskRecord | None = None,
    ) -> ProviderResult:
        raise AssertionError("a URL source must not reach a provider that takes files")

    def close(self) -> None:
        pass


def test_a_provider_that_takes_only_files_refuses_a_url_before_spending(
    stored: Storage, pm: PluginManager, tmp_path: Path
) -> None:
    with pytest.raises(InputError, match="takes files, not URLs") as caught:
        run_upscale(
            Artifact(RemoteVideo(stored.url("shot.mp4"))),
            config=fast_config(),
            pm=pm,
            provider=_FilesOnly(),
            output=tmp_path / "out.mp4",
        )
    assert caught.value.exit_code == 3
    assert SIGNATURE not in str(caught.value)


def test_a_url_artifact_is_named_after_its_last_path_segment() -> None:
    video = Artifact("https://cdn.example/a/b/take%202.mov?sig=1").path

    assert isinstance(video, RemoteVideo)
    assert (video.name, video.stem, video.suffix) == ("take 2.mov", "take 2", ".mov")
    assert str(video) == "https://cdn.example/a/b/take%202.mov?<redacted>"
    assert RemoteVideo("https://cdn.example/").name == "video"
    assert Artifact(os.path.join("exports", "shot.mp4")).path == Path("exports/shot.mp4")
