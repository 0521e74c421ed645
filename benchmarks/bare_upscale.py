"""The baseline of ``bench_command``: one upscale job as a bare ``requests`` script.

``python benchmarks/bare_upscale.py BASE_URL CLIP OUT FIRST FACTOR MAX`` (the key in
``WAVESPEED_API_KEY``) does what ``uprez upscale CLIP -o OUT`` does on the wire, by the route
uprez takes, and no more: an upload ticket and the PUT it names, the submit, polls of the task's
result on uprez's growing schedule (at once, then FIRST seconds growing by FACTOR up to MAX),
and the download. Where uprez makes its result durable and whole, so does this: the download is
written beside OUT, synced and renamed into place, and a sidecar is written by temp + rename.

It runs as a file, not a module of the package, so the process imports requests and nothing of
uprez or of the benchmarks.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import requests


def job(
    base: str, key: str, source: Path, target: Path, schedule: tuple[float, float, float]
) -> tuple[str, str]:
    """Upload, submit, poll until completed, download; return the task's id and output URL."""
    first, factor, longest = schedule
    auth = {"Authorization": f"Bearer {key}"}
    with requests.Session() as http:
        answer = http.post(
            f"{base}/api/v3/media/uploads",
            headers=auth,
            timeout=60,
            json={
                "filename": source.name,
                "size": source.stat().st_size,
                "content_type": "video/mp4",
            },
        )
        answer.raise_for_status()
        ticket = answer.json()["data"]
        with source.open("rb") as body:
            http.put(
                ticket["upload"]["url"], data=body, headers=ticket["upload"]["headers"], timeout=300
            ).raise_for_status()
        answer = http.post(
            f"{base}/api/v3/runwayml/upscale-v1",
            headers=auth,
            timeout=60,
            json={"video": ticket["download_url"]},
        )
        answer.raise_for_status()
        task_id: str = answer.json()["data"]["id"]
        wait = 0.0  # uprez asks at once first, then on the growing schedule
        interval = first
        while True:
            if wait:
                time.sleep(wait)
            state = http.get(
                f"{base}/api/v3/predictions/{task_id}/result", headers=auth, timeout=60
            ).json()["data"]
            if state["status"] == "completed":
                break
            if state["status"] in ("failed", "cancelled", "timeout", "deleted"):
                raise SystemExit(f"task {task_id} ended {state['status']}: {state.get('error')}")
            wait, interval = min(longest, interval), min(longest, interval * factor)
        url: str = state["outputs"][0]
        temp = target.with_name(f".{target.name}.{os.getpid()}.part")
        with http.get(url, stream=True, timeout=300) as got, temp.open("wb") as out:
            got.raise_for_status()
            for chunk in got.iter_content(1 << 20):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, target)
    return task_id, url


def main(argv: list[str]) -> int:
    base, clip, out, first, factor, longest = argv
    source, target = Path(clip), Path(out)
    started = time.monotonic()
    task_id, url = job(
        base,
        os.environ["WAVESPEED_API_KEY"],
        source,
        target,
        (float(first), float(factor), float(longest)),
    )
    # The facts this script knows, beside the result, written whole as uprez writes its own.
    record = {
        "source": {"path": str(source), "size_bytes": source.stat().st_size},
        "output": {"path": str(target), "size_bytes": target.stat().st_size},
        "task_id": task_id,
        "output_url": url,
        "total_s": round(time.monotonic() - started, 3),
    }
    sidecar = target.with_name(target.name + ".uprez.json")
    temp = sidecar.with_name(f".{sidecar.name}.{os.getpid()}.part")
    temp.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    os.replace(temp, sidecar)
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
