"""A whole job through uprez's adapter against a bare sequence of ``requests`` calls.

The server's processing is a copy (the output is the input four times over), so what is
measured is what the client spends around the service: upload, submit, notice, download.

Like for like: the source is a real H.264 clip of about 20 MB (a job's source is always a
video: uprez refuses anything else before a job starts), and the baseline lands its download as
uprez does,
in a temporary file beside the target, synced, then renamed into place. uprez does a little
more, and it is timed: it probes the source's length after the submit (for when to poll, some
10 ms while the service works) and reports progress. The twin runs in a process of its own
with its files in memory (:func:`benchmarks.common.twin_process`), as the real service shares
neither this interpreter nor this disk; each job's task is deleted after it, untimed, so the
twin's files do not pile up. Each uprez job has a provider of its own, as each ``uprez upscale``
has (the baseline opens a session per job too): it uploads its source and opens its connections;
what the journal would hand it, earlier tasks' times, it is given.

The two sides run in alternating order (AB, BA, ...) for many rounds: each job is a third of a
second, so single rounds swing with the shared machine. The verdict is the median of the
rounds' ratios; the note gives their spread.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import (
    LENIENT_TWIN,
    UNPACED_CLIENT,
    Row,
    alternating,
    median,
    timed,
    twin_process,
)
from uprez.config import load_config
from uprez.wavespeed.eta import TaskTimes
from uprez.wavespeed.provider import WaveSpeedProvider

KEY = "bench-key"
POLL = 0.1
SOURCE_MB = 20  # MiB of real H.264 + AAC
ROUNDS = (21, 41)  # (quick, full): odd, so the median is a round
TARGET = 1.15


def bare_job(base: str, source: Path, target: Path) -> str:
    """The same job written as plainly as the protocol allows; returns the task's id."""
    auth = {"Authorization": f"Bearer {KEY}"}
    with requests.Session() as http:
        ticket = http.post(
            f"{base}/api/v3/media/uploads",
            headers=auth,
            timeout=60,
            json={
                "filename": source.name,
                "size": source.stat().st_size,
                "content_type": "video/mp4",
            },
        ).json()["data"]
        with source.open("rb") as body:
            http.put(
                ticket["upload"]["url"], data=body, headers=ticket["upload"]["headers"], timeout=300
            ).raise_for_status()
        task = http.post(
            f"{base}/api/v3/runwayml/upscale-v1",
            headers=auth,
            timeout=60,
            json={"video": ticket["download_url"]},
        ).json()["data"]
        while True:
            state = http.get(
                f"{base}/api/v3/predictions/{task['id']}/result", headers=auth, timeout=60
            ).json()["data"]
            if state["status"] == "completed":
                break
            time.sleep(POLL)
        # uprez lands a download whole or not at all, durably: a temporary file beside the
        # target, synced, renamed into place. So does the baseline.
        temp = target.with_name(f".{target.name}.{os.getpid()}.part")
        with (
            http.get(state["outputs"][0], stream=True, timeout=300) as answer,
            temp.open("wb") as out,
        ):
            answer.raise_for_status()
            for chunk in answer.iter_content(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    return str(task["id"])


def _delete_task(base: str, task_id: str) -> None:
    """Delete a finished task with its input and output on the twin (not timed)."""
    requests.post(
        f"{base}/api/v3/predictions/delete",
        headers={"Authorization": f"Bearer {KEY}"},
        json={"ids": [task_id]},
        timeout=60,
    ).raise_for_status()


def run(quick: bool) -> list[Row]:
    from benchmarks.bench_media import make_export

    rounds = ROUNDS[0 if quick else 1]
    twin = {"api_key": KEY, "copy_factor": 4, "workers": 2, **LENIENT_TWIN}
    with tempfile.TemporaryDirectory(prefix="uprez-bench-overhead-", dir="/tmp") as folder:
        work = Path(folder)
        source = make_export(work, SOURCE_MB)  # about 20 MB: a whole number of 2 s tiles
        size = source.stat().st_size
        with twin_process(twin, work / "twin.log") as base_url:
            config = load_config(
                env={},
                overrides={
                    "polling.first_interval": POLL,
                    "polling.factor": 1.0,
                    "polling.max_interval": POLL,
                    "polling.jitter": 0.0,
                    **UNPACED_CLIENT,
                },
            )
            times = TaskTimes()  # what a journal would hand each new run: earlier tasks' times
            tasks: list[str] = []

            def ours() -> float:
                # A provider per job, as each `uprez upscale` has (and as the baseline opens a
                # session per job): each job uploads its source and opens its connections.
                provider = WaveSpeedProvider.from_config(config, base_url=base_url, api_key=KEY)
                provider.times = times
                target = work / "ours.mp4"
                target.unlink(missing_ok=True)
                try:
                    seconds = timed(
                        lambda: tasks.append(
                            provider.run(source, target, emit=lambda event: None).task_id
                        )
                    )
                finally:
                    provider.close()
                _delete_task(base_url, tasks[-1])
                return seconds

            def bare() -> float:
                target = work / "bare.mp4"
                target.unlink(missing_ok=True)
                seconds = timed(lambda: tasks.append(bare_job(base_url, source, target)))
                _delete_task(base_url, tasks[-1])
                return seconds

            ours(), bare()  # warm both paths (connections, page cache, uprez's first estimate)
            a, b = alternating(ours, bare, rounds)
    # The row is the round whose ratio is the median (its two times, so the table's ratio is
    # the verdict); the note gives the medians of all rounds and the spread.
    ratios = [x / y for x, y in zip(a, b, strict=True)]
    middle = sorted(range(rounds), key=lambda i: ratios[i])[rounds // 2]
    quartiles = statistics.quantiles(ratios, n=4)
    return [
        Row(
            f"whole job: {size / 1e6:.0f} MB up, submit, poll, {4 * size / 1e6:.0f} MB down",
            a[middle],
            b[middle],
            "s",
            f"<= {TARGET:g}x",
            ratios[middle] <= TARGET,
            note=(
                "processing replaced by a copy; a real H.264 clip; both land the download in a "
                "temporary file, fsync, rename; uprez also probes the source's length and "
                "reports progress; the twin in its own process, its files in memory; the median "
                f"of {rounds} alternating rounds' ratios (quartiles {quartiles[0]:.2f}-"
                f"{quartiles[2]:.2f}, all {min(ratios):.2f}-{max(ratios):.2f}; medians of all "
                f"rounds {median(a):.3f} vs {median(b):.3f} s)"
            ),
        )
    ]
