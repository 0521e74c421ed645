"""A whole job through uprez's adapter against a bare sequence of ``requests`` calls.

The server's processing is a copy (the output is the input four times over), so what is
measured is what the client spends around the service: upload, submit, notice, download.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import requests

from benchmarks.common import LENIENT_TWIN, UNPACED_CLIENT, Row, interleaved, median, timed
from uprez.config import load_config
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings
from uprez.wavespeed.provider import WaveSpeedProvider

KEY = "bench-key"
POLL = 0.1


def bare_job(base: str, source: Path, target: Path) -> None:
    """The same job written as plainly as the protocol allows."""
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
        with (
            http.get(state["outputs"][0], stream=True, timeout=300) as answer,
            target.open("wb") as out,
        ):
            for chunk in answer.iter_content(1 << 20):
                out.write(chunk)
            # uprez makes its download durable before it counts as done; so does the baseline.
            out.flush()
            os.fsync(out.fileno())


def run(quick: bool) -> list[Row]:
    repeats = 9
    size = 20 * 1024 * 1024
    with (
        tempfile.TemporaryDirectory() as folder,
        LocalServer(
            ServerSettings(api_key=KEY, copy_factor=4, workers=2, **LENIENT_TWIN)
        ) as server,
    ):
        work = Path(folder)
        source = work / "export.mp4"
        source.write_bytes(os.urandom(size))
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
        provider = WaveSpeedProvider.from_config(config, base_url=server.base_url, api_key=KEY)

        def ours() -> float:
            target = work / "ours.mp4"
            target.unlink(missing_ok=True)
            return timed(lambda: provider.run(source, target, emit=lambda event: None))

        def bare() -> float:
            target = work / "bare.mp4"
            target.unlink(missing_ok=True)
            return timed(lambda: bare_job(server.base_url, source, target))

        ours(), bare()  # warm both paths (connections, page cache)
        a, b = interleaved(ours, bare, repeats)
        provider.close()
    ratio = median(a) / median(b)
    return [
        Row(
            "whole job: 20 MB up, submit, poll, 80 MB down",
            median(a),
            median(b),
            "s",
            "<= 1.15x",
            ratio <= 1.15,
            note="processing replaced by a copy",
        )
    ]
