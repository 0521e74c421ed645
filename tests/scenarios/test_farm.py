"""Many machines, one account: node processes that share only a ledger and the source files.

Each node is a ``uprez upscale`` process with its own HOME, data folder, work folder and machine
name (``UPREZ_NODE``, so a dead node is recognised by its lease, as on another machine, not by its
pid). They all upscale the same shots, duplicates and renamed copies included, against one strict
local server that runs 2 tasks at once and takes 3 submits a minute; some nodes are killed with
SIGKILL at random moments and run again. Whatever happens, the account pays once per distinct
segment, never has more tasks than it runs at once, no job fails on its per-minute limit, every
output is there and right, and the sidecars add up to the ledger's spend. The same farm runs on a
shared PostgreSQL ledger and on a SQLite ledger shared by the processes of one machine.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from uprez.journal.store import Journal
from uprez.media.probe import probe
from uprez.media.synth import make_clip
from uprez.standin.runner import LocalServer
from uprez.standin.settings import ServerSettings

from support import service_env, stats

pytestmark = pytest.mark.slow

KEY = "farm-test-key"
BOX = (128, 72)
AT_ONCE = 2
PER_MINUTE = 3
NODES = 4
SEED = 20261204
# Seconds a dead node's claims and turns outlive it.
LEASE = 2.0


@dataclass(frozen=True)
class Shot:
    """A source file and how many segments its content is planned as."""

    path: Path
    segments: int


@pytest.fixture
def farm_server() -> Iterator[LocalServer]:
    settings = ServerSettings(
        api_key=KEY,
        max_size=BOX,
        workers=AT_ONCE,
        account_level="silver",
        submits_per_minute=PER_MINUTE,
        concurrent_tasks=AT_ONCE,
    )
    with LocalServer(settings) as server:
        yield server


@pytest.fixture
def shots(tmp_path: Path) -> list[Shot]:
    """Three distinct contents (two of two segments, one of one), a renamed copy of the first in
    another folder, and the second again under its own name elsewhere: five distinct segments."""
    sources = tmp_path / "sources"
    (sources / "edit").mkdir(parents=True)
    (sources / "review").mkdir()
    a = Path(make_clip(sources / "edit" / "sh010.mp4", seconds=2, fps=12, width=64, height=36))
    b = Path(make_clip(sources / "edit" / "sh020.mp4", seconds=2, fps=10, width=64, height=36))
    c = Path(make_clip(sources / "edit" / "sh030.mp4", seconds=1, fps=12, width=64, height=36))
    renamed = sources / "review" / "sh010_v002_final.mp4"
    shutil.copyfile(a, renamed)
    again = sources / "review" / "sh020.mp4"
    shutil.copyfile(b, again)
    return [Shot(a, 2), Shot(b, 2), Shot(c, 1), Shot(renamed, 2), Shot(again, 2)]


def distinct_segments(shots: list[Shot]) -> int:
    return sum({s.path.read_bytes(): s.segments for s in shots}.values())


def node_env(
    server: LocalServer, ledger: dict[str, str], home: Path, name: str, project: str = "show"
) -> dict[str, str]:
    return service_env(
        server.base_url,
        key=KEY,
        box=BOX,
        HOME=str(home),
        XDG_DATA_HOME=str(home / "data"),
        UPREZ_NODE=name,
        UPREZ_PROJECT=project,
        UPREZ_USER=f"artist-{name}",
        UPREZ_ACCOUNT__LEVEL="custom",
        UPREZ_ACCOUNT__SUBMITS_PER_MINUTE=str(PER_MINUTE),
        UPREZ_ACCOUNT__CONCURRENT_TASKS=str(AT_ONCE),
        UPREZ_JOURNAL__LEASE_SECONDS=str(LEASE),
        UPREZ_POLLING__FIRST_INTERVAL="0.05",
        UPREZ_POLLING__MAX_INTERVAL="0.2",
        UPREZ_LIMITS__MAX_DURATION="1.2",
        **ledger,
    )


@dataclass
class Node:
    name: str
    home: Path
    out: Path
    sources: list[Path]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0
    killed: int = 0

    def start(self) -> None:
        self.runs += 1
        log = (self.home / f"run-{self.runs}.log").open("wb")
        command = [sys.executable, "-m", "uprez", "upscale", *map(str, self.sources)]
        self.process = subprocess.Popen(
            [*command, "-o", f"{self.out}/", "--json"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def log(self) -> str:
        return (self.home / f"run-{self.runs}.log").read_text(errors="replace")


def make_nodes(
    root: Path, shots: list[Shot], env_for: Callable[[Path, str], dict[str, str]]
) -> list[Node]:
    chooser = random.Random(SEED)
    nodes = []
    a, b, c, renamed, again = (s.path for s in shots)
    for number in range(NODES):
        home = root / f"node{number}"
        (home / "out").mkdir(parents=True)
        # Both sh020.mp4 in one command would be one output: a node takes one or the other.
        order = [a, c, renamed, b if number % 2 else again]
        chooser.shuffle(order)
        name = f"farm-node-{number}"
        nodes.append(Node(name, home, home / "out", order, env_for(home, name)))
    return nodes


def run_farm(nodes: list[Node], kills: int, timeout: float = 240.0) -> None:
    """Start every node; kill ``kills`` of them at random moments, start those again; wait
    until every node has finished with exit 0 (each may be started at most three times)."""
    chooser = random.Random(SEED + 1)
    for node in nodes:
        node.start()
    victims = chooser.sample(nodes, kills)
    moments = sorted(chooser.uniform(0.5, 4.0) for _ in victims)
    started = time.monotonic()
    for victim, moment in zip(victims, moments, strict=True):
        time.sleep(max(0.0, moment - (time.monotonic() - started)))
        assert victim.process is not None
        if victim.process.poll() is None:
            victim.process.send_signal(signal.SIGKILL)
            victim.process.wait(30)
            victim.killed += 1
    deadline = time.monotonic() + timeout
    while True:
        pending = False
        for node in nodes:
            assert node.process is not None
            code = node.process.poll()
            if code is None:
                pending = True
            elif code != 0:
                assert code == -signal.SIGKILL, f"{node.name} exited {code}:\n{node.log()}"
                assert node.runs < 3, f"{node.name} never finished:\n{node.log()}"
                node.start()
                pending = True
        if not pending:
            return
        assert time.monotonic() < deadline, "the farm did not finish in time"
        time.sleep(0.1)


def check_outputs(nodes: list[Node]) -> Decimal:
    """Every node has every output, right, with its sidecar; the sum of what the sidecars
    report as paid."""
    paid = Decimal(0)
    for node in nodes:
        for path in node.sources:
            output = node.out / f"{path.stem}_4k.mp4"
            assert output.is_file(), f"{node.name}: no {output.name}:\n{node.log()}"
            made, source = probe(output), probe(path)
            assert (made.width, made.height) == BOX
            assert made.frames == source.frames
            sidecar = json.loads(output.with_name(output.name + ".uprez.json").read_text())
            paid += Decimal(sidecar["paid"])
        assert not list(node.out.glob("*.part*")), "a partial file was left"
    return paid


def ledger_spend(where: Path | str) -> tuple[int, Decimal, set[str]]:
    journal = Journal(where)
    try:
        charges = [c for c in journal.charges() if c.state != "refunded"]
    finally:
        journal.close()
    return (
        len(charges),
        sum((c.cost for c in charges), Decimal(0)),
        {c.project for c in charges},
    )


def farm_and_check(
    server: LocalServer, shots: list[Shot], nodes: list[Node], where: Path | str
) -> None:
    before = stats(server.base_url, KEY)

    run_farm(nodes, kills=2)

    after = stats(server.base_url, KEY)
    tasks = after["submissions"] - before["submissions"]
    assert tasks == distinct_segments(shots) == 9 - 4  # two copies are paid for by the others
    assert after["peak_outstanding"] <= AT_ONCE  # never a task waiting in the service's queue
    assert sum(node.killed for node in nodes) == 2
    paid = check_outputs(nodes)
    count, spent, projects = ledger_spend(where)
    assert count == tasks
    assert spent == paid == Decimal("0.50")  # five tasks at the 5 s minimum
    assert projects == {"show"}


def test_a_farm_on_a_shared_postgresql_ledger_pays_each_segment_once(
    tmp_path: Path, farm_server: LocalServer, shots: list[Shot], postgres_url: str
) -> None:
    nodes = make_nodes(
        tmp_path,
        shots,
        lambda home, name: node_env(farm_server, {"UPREZ_JOURNAL__URL": postgres_url}, home, name),
    )

    farm_and_check(farm_server, shots, nodes, postgres_url)


def test_a_farm_of_processes_on_one_sqlite_ledger_pays_each_segment_once(
    tmp_path: Path, farm_server: LocalServer, shots: list[Shot]
) -> None:
    shared = tmp_path / "shared" / "ledger.sqlite3"
    nodes = make_nodes(
        tmp_path,
        shots,
        lambda home, name: node_env(farm_server, {"UPREZ_JOURNAL__PATH": str(shared)}, home, name),
    )

    farm_and_check(farm_server, shots, nodes, shared)


def test_parallel_nodes_never_together_exceed_a_project_budget(
    tmp_path: Path, farm_server: LocalServer, postgres_url: str
) -> None:
    # Four nodes, four different one-second shots at $0.10 each, one $0.25 budget: two fit.
    budget = tmp_path / "budget.toml"
    budget.write_text('[[budgets]]\nproject = "*"\nperiod = "day"\nusd = "0.25"\n')
    ledger = {"UPREZ_JOURNAL__URL": postgres_url, "UPREZ_CONFIG": str(budget)}
    processes = []
    for number in range(4):
        home = tmp_path / f"node{number}"
        home.mkdir()
        clip = make_clip(home / f"shot{number}.mp4", seconds=1, fps=8 + number, width=64, height=36)
        env = node_env(farm_server, ledger, home, f"budget-node-{number}", project="tight")
        command = [sys.executable, "-m", "uprez", "upscale", clip, "--json"]
        processes.append(
            subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        )
    ends = [
        (p.wait(180), p.stdout.read(), p.stderr.read()) for p in processes if p.stdout and p.stderr
    ]

    codes = sorted(code for code, _, _ in ends)
    assert codes == [0, 0, 4, 4], ends
    refusal = next(err.decode() for code, _, err in ends if code == 4)
    assert 'project "tight", day budget $0.25' in refusal
    assert "nothing was spent" in refusal
    count, spent, _ = ledger_spend(postgres_url)
    assert (count, spent) == (2, Decimal("0.20"))
    assert spent <= Decimal("0.25")


def test_an_unreachable_ledger_stops_the_job_before_anything_is_spent(
    tmp_path: Path, farm_server: LocalServer
) -> None:
    clip = make_clip(tmp_path / "shot.mp4", seconds=1, fps=12, width=64, height=36)
    # The discard port: nothing listens. The URL comes, password and all, from a variable.
    closed = "postgresql://uprez:s3cret-pw@127.0.0.1:9/uprez"
    config = tmp_path / "uprez.toml"
    config.write_text('[journal]\nurl = { "$env" = "LEDGER" }\n')
    env = node_env(farm_server, {"LEDGER": closed, "UPREZ_CONFIG": str(config)}, tmp_path, "n1")
    before = stats(farm_server.base_url, KEY)

    done = subprocess.run(
        [sys.executable, "-m", "uprez", "upscale", clip], env=env, capture_output=True, timeout=120
    )

    assert done.returncode == 5
    said = done.stderr.decode()
    assert "cannot reach the shared ledger postgresql://uprez@127.0.0.1:9/uprez" in said
    assert "nothing was spent" in said
    assert "s3cret-pw" not in said + done.stdout.decode()
    after = stats(farm_server.base_url, KEY)
    assert (after["uploads"], after["submissions"]) == (before["uploads"], before["submissions"])
    assert not (tmp_path / "shot_4k.mp4").exists()
    assert sorted(os.listdir(tmp_path)) == ["shot.mp4", "uprez.toml"]


def test_a_ledger_lost_mid_run_submits_nothing_more_and_a_rerun_collects_the_rest(
    tmp_path: Path, farm_server: LocalServer, postgres_server: Any, postgres_url: str
) -> None:
    import psycopg

    clip = make_clip(tmp_path / "shot.mp4", seconds=2, fps=12, width=64, height=36)
    name = postgres_url.rsplit("/", 1)[1]
    env = node_env(farm_server, {"UPREZ_JOURNAL__URL": postgres_url}, tmp_path, "cut-node")
    # One submit a minute: the second segment waits for its turn in the ledger when it goes.
    env["UPREZ_ACCOUNT__SUBMITS_PER_MINUTE"] = "1"
    before = stats(farm_server.base_url, KEY)["submissions"]
    node = subprocess.Popen(
        [sys.executable, "-m", "uprez", "upscale", clip, "--json"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    deadline = time.monotonic() + 60
    while stats(farm_server.base_url, KEY)["submissions"] == before:
        assert node.poll() is None and time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.5)  # the second segment is waiting for the account's turn
    with psycopg.connect(postgres_server.url, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,)
        )
        code = node.wait(120)
        err = node.stderr.read().decode() if node.stderr else ""
        assert code == 5, err
        assert "lost the shared ledger" in err
        assert stats(farm_server.base_url, KEY)["submissions"] == before + 1  # none without it
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')

    env["UPREZ_ACCOUNT__SUBMITS_PER_MINUTE"] = str(PER_MINUTE)
    rerun = subprocess.run(
        [sys.executable, "-m", "uprez", "upscale", clip, "--json"],
        env=env,
        capture_output=True,
        timeout=120,
    )

    assert rerun.returncode == 0, rerun.stderr.decode()
    assert stats(farm_server.base_url, KEY)["submissions"] == before + 2  # one per segment
    made = probe(tmp_path / "shot_4k.mp4")
    assert (made.width, made.height, made.frames) == (*BOX, probe(clip).frames)
