"""The fault matrix: every fault the issue names, injected by the real local server over real HTTP.

Each case is one row: the faults to inject, the config overrides, the expected outcome (a correct
output, or a typed error) and the submissions the server must count. Whatever happens, nothing
partial may be left at the output path, a task error must carry its task id, and the recognisable
key must not show in any byte the run produced: the DEBUG log of every logger, the error (and its
causes), the sidecar, the journal. A CLI pass does the same at ``-vv`` in a separate process.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
import requests

from uprez.errors import (
    AmbiguousSubmit,
    JobTimeout,
    RateLimited,
    ServiceError,
    TaskFailed,
    TaskGone,
    TransferError,
    UprezError,
)
from uprez.media.probe import probe
from uprez.net.redact import redact_url
from uprez.net.retry import RetryPolicy
from uprez.net.transfers import CHUNK
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.standin.faults import Fault
from uprez.step.run import run_upscale
from uprez.step.sidecar import sidecar_path
from uprez.wavespeed.client import WaveSpeedClient
from uprez.wavespeed.pacing import SubmitPacer
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, TEST_BOX, Service, fast_config, service_env, upload

#: Stands for a Retry-After HTTP-date about one second ahead, built when the fault is injected.
HTTP_DATE_SOON = "<HTTP-date one second ahead>"


def _dated(fault: Fault) -> Fault:
    """The fault, with a Retry-After HTTP-date made at injection time where the table asks."""
    if fault.retry_after != HTTP_DATE_SOON:
        return fault
    return replace(fault, retry_after=formatdate(time.time() + 1, usegmt=True))


OK = "ok"
TASK_CODES = (1200, 1400, 1401, 1402, 1403, 1405, 5000, 5003, 5004)


# -- the service, as the tests see it --------------------------------------------------------------


def upscale(
    clip: Path, service: Service, pm: PluginManager, overrides: dict[str, object] | None = None
) -> Artifact:
    """Run the step on ``clip`` as a host would, against the shared server."""
    config = fast_config(overrides)
    provider = WaveSpeedProvider.from_config(config, base_url=service.base_url, api_key=SECRET_KEY)
    # A 429 without Retry-After waits for the next minute; on this clock, it is a second away.
    provider.client.pacer = SubmitPacer(None, wall=lambda: 59.9)
    try:
        return run_upscale(Artifact(clip), config=config, pm=pm, provider=provider)
    finally:
        provider.close()


def leftovers(folder: Path, *keep: Path) -> list[str]:
    """Entries in ``folder`` other than ``keep`` (partial downloads, work folders, outputs)."""
    return sorted(p.name for p in folder.iterdir() if p not in keep)


def error_texts(error: BaseException) -> list[str]:
    """str and repr of an error and of every cause and context behind it."""
    texts: list[str] = []
    seen: BaseException | None = error
    while seen is not None and len(texts) < 40:
        texts += [str(seen), repr(seen)]
        seen = seen.__cause__ or seen.__context__
    return texts


def journal_bytes(data_dir: Path) -> dict[str, bytes]:
    """The journal database and its WAL/SHM files, as bytes."""
    folder = data_dir / "uprez"
    return {p.name: p.read_bytes() for p in sorted(folder.glob("journal.sqlite3*"))}


# -- the table -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    """One fault (or a few) and what uprez must do about it."""

    id: str
    faults: tuple[Fault, ...]
    overrides: dict[str, object] = field(default_factory=dict)
    outcome: str | type[UprezError] = OK
    submissions: int = 1
    code: int | None = None
    match: str | None = None


def _case(
    case_id: str,
    *faults: Fault,
    overrides: dict[str, object] | None = None,
    outcome: str | type[UprezError] = OK,
    submissions: int = 1,
    code: int | None = None,
    match: str | None = None,
) -> Case:
    return Case(case_id, faults, overrides or {}, outcome, submissions, code, match)


CASES: list[Case] = [
    # 429 on a poll: without Retry-After, with seconds, with an HTTP-date.
    _case("poll-429", Fault("prediction", "http", status=429)),
    _case("poll-429-retry-after-seconds", Fault("prediction", "http", status=429, retry_after="1")),
    _case(
        "poll-429-retry-after-http-date",
        Fault("prediction", "http", status=429, retry_after=HTTP_DATE_SOON),
    ),
    # 5xx on a poll: retried (a GET is idempotent).
    *[_case(f"poll-{s}", Fault("prediction", "http", status=s)) for s in (500, 502, 503, 504)],
    # A 429 on the submit: the service made no task, so it is safe to send it again later.
    _case("submit-429", Fault("submit", "http", status=429)),
    _case("submit-429-retry-after", Fault("submit", "http", status=429, retry_after="1")),
    _case(
        "submit-429-always",
        Fault("submit", "http", status=429, times=-1),
        # Waited for the window until the job's deadline, then stopped: no task exists.
        overrides={"polling.deadline": 3},
        outcome=RateLimited,
        submissions=0,
    ),
    _case(
        "submit-429-asks-too-long",
        Fault("submit", "http", status=429, retry_after="3600"),
        outcome=RateLimited,
        submissions=0,
    ),
    # A 5xx on the submit: ambiguous; the lookup finds no task (the fault short-circuits).
    *[
        _case(
            f"submit-{s}",
            Fault("submit", "http", status=s),
            outcome=AmbiguousSubmit,
            submissions=0,
            match="--resubmit",
        )
        for s in (500, 503)
    ],
    # Connection dropped before an answer.
    _case("poll-drop", Fault("prediction", "drop")),
    _case(
        "submit-drop",
        Fault("submit", "drop"),
        outcome=AmbiguousSubmit,
        submissions=0,
        match="--resubmit",
    ),
    # The submit was processed but its answer was lost: recovered by the lookup.
    _case("submit-drop-after", Fault("submit", "drop_after")),
    # Answers slower than the read timeout.
    _case(
        "poll-slower-than-read-timeout",
        Fault("prediction", "delay", delay=0.6),
        overrides={"provider.read_timeout": 0.3},
    ),
    # Malformed JSON.
    _case("poll-garbage", Fault("prediction", "garbage")),
    _case(
        "submit-garbage",
        Fault("submit", "garbage"),
        outcome=AmbiguousSubmit,
        submissions=0,
        match="--resubmit",
    ),
    # An envelope code that differs from the HTTP status.
    _case("poll-envelope-500", Fault("prediction", "envelope", code=500)),
    # An HTTP 200 whose envelope says 500 on the ticket route: the binary route takes over.
    _case("ticket-envelope-500-binary-fallback", Fault("upload_ticket", "envelope", code=500)),
    # Failed tasks, with each documented task code.
    *[
        _case(f"task-fail-{c}", Fault("submit", "task_fail", code=c), outcome=TaskFailed, code=c)
        for c in TASK_CODES
    ],
    # Tasks that end otherwise than completed.
    *[
        _case(
            f"task-{s}",
            Fault("prediction", "task_status", task_status=s),
            outcome=TaskFailed,
            match=s,
        )
        for s in ("cancelled", "timeout", "deleted")
    ],
    # A task stuck in processing: the deadline passes.
    _case(
        "task-stuck-processing",
        Fault("prediction", "task_status", times=-1, task_status="processing"),
        overrides={"polling.deadline": 0.5},
        outcome=JobTimeout,
        match="rerun",
    ),
    # An unknown status counts as not finished yet.
    _case("task-unknown-status", Fault("prediction", "task_status", times=3, task_status="weird")),
    # Completed, but no outputs.
    _case(
        # Outputs can lag the status: the task is asked again, and its outputs are there.
        "task-no-outputs-once",
        Fault("prediction", "no_outputs"),
    ),
    _case(
        # Still none: stopped without paying twice; exit 6 (a person decides on --resubmit).
        "task-no-outputs",
        Fault("prediction", "no_outputs", times=-1),
        outcome=TaskGone,
        match="--resubmit",
    ),
    # The output URL is gone (404) until the task is fetched again.
    _case("output-404-until-refetched", Fault("output", "http", status=404)),
    _case("output-503", Fault("output", "http", status=503)),
    # A download cut mid-body; a server ignoring Range. These outputs are smaller than one read
    # chunk, so the retry starts over: test_a_large_download_survives_body_faults proves Range.
    _case("output-cut", Fault("output", "cut")),
    _case("output-cut-no-range", Fault("output", "cut"), Fault("output", "no_range")),
    _case("output-drop", Fault("output", "drop")),
    # A wrong Content-Length.
    _case("output-bad-length", Fault("output", "bad_length")),
    # A failing upload PUT; a missing ticket route (upload/binary instead).
    # The binary route takes over from a failing PUT too.
    _case("put-500-binary-fallback", Fault("put_target", "http", status=500)),
    _case("ticket-404-binary-fallback", Fault("upload_ticket", "http", status=404)),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_fault(
    case: Case,
    clip: Path,
    service: Service,
    pm: PluginManager,
    caplog: pytest.LogCaptureFixture,
    private_data_dir: Path,
) -> None:
    caplog.set_level(logging.DEBUG)
    service.inject(*(_dated(fault) for fault in case.faults))
    target = clip.parent / "shot_4k.mp4"
    error: UprezError | None = None
    result: Artifact | None = None
    try:
        result = upscale(clip, service, pm, case.overrides)
    except UprezError as exc:
        error = exc

    # Every fault of the row really happened.
    injected = service.injected()
    for fault in case.faults:
        assert injected.get(f"{fault.route}:{fault.kind}", 0) >= 1, injected
    # Exactly the submissions expected: never more than one for the one segment.
    uploads, submissions = service.spent()
    assert submissions == case.submissions, (submissions, error)
    assert uploads <= 1
    new_tasks = service.new_task_ids()
    assert len(new_tasks) == case.submissions

    produced: dict[str, bytes] = {"log": caplog.text.encode()}
    if case.outcome == OK:
        assert error is None, f"expected a result, got {type(error).__name__}: {error}"
        assert result is not None
        assert result.path == target
        source, output = probe(clip), probe(target)
        assert (output.width, output.height) == TEST_BOX
        assert output.frames == source.frames == 12
        assert leftovers(clip.parent, clip, target, sidecar_path(target)) == []
        assert result.metadata["task_id"] in new_tasks
        produced["sidecar"] = sidecar_path(target).read_bytes()
    else:
        assert isinstance(case.outcome, type)
        assert error is not None, f"expected {case.outcome.__name__}, got a result"
        assert isinstance(error, case.outcome), f"{type(error).__name__}: {error}"
        assert error.exit_code == (6 if isinstance(error, TaskGone) else 5)
        # Nothing at the output path: no file, no partial download, no work folder.
        assert not target.exists()
        assert leftovers(clip.parent, clip) == []
        assert isinstance(error, ServiceError)
        if case.code is not None:
            assert error.code == case.code
        if new_tasks:
            # The task exists (and may be paid for): the error says which.
            [task_id] = new_tasks
            assert error.task_id == task_id
            assert task_id in str(error)
        else:
            assert error.task_id is None
        for number, text in enumerate(error_texts(error)):
            produced[f"error[{number}]"] = text.encode()
    produced.update(journal_bytes(private_data_dir))
    assert "journal.sqlite3" in produced
    # The key shows nowhere: log, error, sidecar, journal.
    for where, data in produced.items():
        assert SECRET_KEY.encode() not in data, f"the key leaked into {where}"
    for record in caplog.records:
        assert SECRET_KEY not in record.getMessage(), f"key logged by {record.name}"
    # Last, what the error must say (the resume hint): everything else was checked first.
    if case.match is not None:
        assert error is not None
        assert case.match in str(error), str(error)


def test_the_retry_after_second_is_waited_before_the_next_poll(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    service.inject(Fault("prediction", "http", status=429, retry_after="1"))

    result = upscale(clip, service, pm)

    assert result.metadata["timings"]["processing_s"] >= 0.95
    assert service.spent()[1] == 1


# -- downloads of more than one chunk: resume with Range, or restart -------------------------------

BIG = 2 * CHUNK + 1234  # a partial last chunk: what was read before a cut is kept


@dataclass(frozen=True)
class Transfer:
    """A download of a large file with body faults, and the requests it must take."""

    id: str
    faults: tuple[str, ...]
    size: int
    ranges: tuple[tuple[str | None, int], ...]


TRANSFERS = [
    # Cut mid-body: the whole chunks read are kept, the rest is asked for with Range (206).
    Transfer("cut-resumes-with-range", ("cut",), BIG, ((None, 200), (f"bytes={CHUNK}-", 206))),
    # The server ignores Range on the retry (200, whole file): the download starts over.
    Transfer(
        "cut-then-range-ignored-restarts",
        ("cut", "no_range"),
        BIG,
        ((None, 200), (f"bytes={CHUNK}-", 200)),
    ),
    # 1000 bytes more announced than sent: the missing tail is asked for again.
    Transfer(
        "wrong-content-length", ("bad_length",), BIG, ((None, 200), (f"bytes={2 * CHUNK}-", 206))
    ),
    # The same, for a file that ends on a chunk boundary: every byte arrived, and the server's
    # 416 says the file has exactly those bytes (Content-Range: bytes */size).
    Transfer(
        "wrong-content-length-on-a-chunk-boundary",
        ("bad_length",),
        2 * CHUNK,
        ((None, 200), (f"bytes={2 * CHUNK}-", 416)),
    ),
]


@pytest.fixture
def media_api() -> Iterator[requests.Session]:
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {SECRET_KEY}"
    yield session
    session.close()


@pytest.mark.parametrize("transfer", TRANSFERS, ids=[t.id for t in TRANSFERS])
def test_a_large_download_survives_body_faults(
    transfer: Transfer,
    service: Service,
    media_api: requests.Session,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    data = os.urandom(transfer.size)
    source = tmp_path / "source" / "big.mp4"
    source.parent.mkdir()
    source.write_bytes(data)
    url = upload(media_api, service.base_url, source)
    service.inject(*(Fault("media", kind) for kind in transfer.faults))
    client = WaveSpeedClient(
        service.base_url, SECRET_KEY, retry=RetryPolicy(attempts=3, base=0.01, cap=0.02)
    )
    seen: list[tuple[str | None, int]] = []
    client.session.hooks["response"].append(
        lambda answer, *args, **kwargs: seen.append(
            (answer.request.headers.get("Range"), answer.status_code)
        )
    )
    target = tmp_path / "out" / "big.mp4"
    try:
        size = client.download(url, target)
    finally:
        client.session.close()

    assert tuple(seen) == transfer.ranges
    assert size == transfer.size
    assert target.read_bytes() == data
    assert leftovers(target.parent, target) == []  # no partial file beside it
    assert SECRET_KEY not in caplog.text


def test_a_download_that_keeps_being_cut_fails_typed_and_leaves_nothing(
    service: Service, media_api: requests.Session, tmp_path: Path
) -> None:
    source = tmp_path / "big.mp4"
    source.write_bytes(os.urandom(BIG))
    url = upload(media_api, service.base_url, source)
    service.inject(Fault("media", "cut", times=-1))
    client = WaveSpeedClient(
        service.base_url, SECRET_KEY, retry=RetryPolicy(attempts=2, base=0.01, cap=0.02)
    )
    target = tmp_path / "out" / "big.mp4"
    try:
        with pytest.raises(TransferError) as caught:
            client.download(url, target)
    finally:
        client.session.close()

    assert "3 attempts" in str(caught.value)
    assert leftovers(target.parent) == []


# -- signed URLs -----------------------------------------------------------------------------------


def test_redact_url_drops_query_strings_fragments_and_credentials() -> None:
    assert (
        redact_url("https://cdn.example/out.mp4?X-Signature=abc&token=t0k3n")
        == "https://cdn.example/out.mp4?<redacted>"
    )
    assert redact_url("https://user:pw@cdn.example/a.mp4#frag") == "https://cdn.example/a.mp4"
    assert redact_url("https://cdn.example/a.mp4") == "https://cdn.example/a.mp4"


def test_a_signed_download_url_never_shows_whole_in_the_debug_log(
    clip: Path,
    service: Service,
    pm: PluginManager,
    caplog: pytest.LogCaptureFixture,
    tmp_path: Path,
) -> None:
    result = upscale(clip, service, pm)
    # The output as the CDN serves it (a host of its own), with a signature added.
    signed = f"{result.metadata['output_url']}?token=sig-0123456789abcdef"
    # Two failed attempts first, so the download logs its retries (with the URL).
    service.inject(Fault("output", "http", status=503), Fault("output", "cut"))
    client = WaveSpeedClient(
        service.base_url, SECRET_KEY, retry=RetryPolicy(attempts=3, base=0.01, cap=0.02)
    )
    caplog.clear()
    caplog.set_level(logging.DEBUG)
    try:
        size = client.download(signed, tmp_path / "signed.mp4")
    finally:
        client.session.close()

    assert size == (tmp_path / "signed.mp4").stat().st_size == result.path.stat().st_size
    assert "download attempt" in caplog.text  # the retries were logged, at DEBUG
    assert signed not in caplog.text
    assert "?<redacted>" in caplog.text
    for record in caplog.records:
        if record.name.startswith("uprez"):
            assert "sig-0123456789abcdef" not in record.getMessage(), record.getMessage()
    assert SECRET_KEY not in caplog.text


# -- the command line, at -vv ----------------------------------------------------------------------


def cli_env(base_url: str) -> dict[str, str]:
    """The caller's environment (XDG_DATA_HOME included) pointed at the test server."""
    return service_env(
        base_url,
        UPREZ_POLLING__FIRST_INTERVAL="0.05",
        UPREZ_POLLING__MAX_INTERVAL="0.2",
        UPREZ_RETRY__BACKOFF_BASE="0.01",
        UPREZ_RETRY__BACKOFF_CAP="0.05",
    )


def uprez(*args: str | Path, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "uprez", *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


def post_faults(base_url: str, faults: list[dict[str, Any]]) -> None:
    answer = requests.post(
        f"{base_url}/_uprez/faults",
        json=faults,
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
        timeout=10,
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["data"]["pending"]) >= len(faults)


def test_the_cli_at_debug_through_faults_never_prints_the_key(
    clip: Path, service: Service, tmp_path: Path, private_data_dir: Path
) -> None:
    env = cli_env(service.base_url)
    out = tmp_path / "out" / "shot_4k.mp4"
    post_faults(
        service.base_url,
        [
            {"route": "submit", "kind": "drop_after"},
            {"route": "prediction", "kind": "http", "status": 503},
            {"route": "prediction", "kind": "http", "status": 429, "retry_after": "0"},
            {"route": "output", "kind": "cut"},
        ],
    )
    done = uprez("-vv", "upscale", clip, "-o", out, "--json", env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    [entry] = json.loads(done.stdout)["results"]
    assert entry["output"] == str(out)
    assert probe(out).frames == 12
    assert service.spent()[1] == 1
    assert "DEBUG" in done.stderr  # -vv really logged at debug

    # A failing job at -vv: the error path prints too.
    failing = make_second_clip(clip, tmp_path)
    post_faults(service.base_url, [{"route": "submit", "kind": "task_fail", "code": 1403}])
    failed = uprez("-vv", "upscale", failing, "--json", env=env, cwd=tmp_path)
    assert failed.returncode == 5, failed.stderr[-3000:]
    [bad] = json.loads(failed.stdout)["results"]
    assert bad["task_id"] and bad["task_id"] in bad["error"]

    shown = uprez("config", "show", env=env, cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    jobs = uprez("jobs", "--json", env=env, cwd=tmp_path)
    assert jobs.returncode == 0, jobs.stderr
    assert len(json.loads(jobs.stdout)["jobs"]) == 2

    outputs = {
        "upscale": done,
        "failed upscale": failed,
        "config show": shown,
        "jobs": jobs,
    }
    for name, run in outputs.items():
        assert SECRET_KEY not in run.stdout, f"the key is in the stdout of {name}"
        assert SECRET_KEY not in run.stderr, f"the key is in the stderr of {name}"
    assert SECRET_KEY.encode() not in Path(f"{out}.uprez.json").read_bytes()
    for name, data in journal_bytes(private_data_dir).items():
        assert SECRET_KEY.encode() not in data, f"the key is in {name}"


def make_second_clip(clip: Path, folder: Path) -> Path:
    """Another clip with other content (so it is another job), made like the first."""
    from uprez.media.synth import make_clip

    path = folder / "other.mp4"
    make_clip(str(path), seconds=0.5, fps=12, width=64, height=36, audio=True)
    assert path.read_bytes() != clip.read_bytes()
    return path
