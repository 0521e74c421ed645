"""One studio job end to end over TLS, through the studio's proxy: the private authority trusted
by ``provider.ca_bundle``, every leg a CONNECT tunnel that never carries the key, the upload in
the ledger's audit, the task deleted on the service once its result is here; and the NDA show of
the same config refused before anything is read or sent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import requests

from uprez.errors import InputError
from uprez.journal.store import Journal, default_path
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.step.run import run_upscale
from uprez.wavespeed.provider import WaveSpeedProvider

from proxy import ForwardProxy
from studio_net import Twin, ca_config
from support import SECRET_KEY, fast_config

POLICIES = [{"project": "nda-show", "upload": "local-only"}]


def job(clip: Path, twin: Twin, pm: PluginManager, proxy: str, project: str) -> Artifact:
    overrides = ca_config(
        twin.pki,
        **{
            "provider.proxy": proxy,
            "privacy.delete_after_download": True,
            "privacy.policies": POLICIES,
        },
    )
    config = fast_config(overrides)
    provider = WaveSpeedProvider.from_config(config, base_url=twin.base_url, api_key=SECRET_KEY)
    try:
        return run_upscale(
            Artifact(clip, project=project, user="mia"), config=config, pm=pm, provider=provider
        )
    finally:
        provider.close()


def test_a_studio_job_over_tls_through_the_proxy_is_audited_and_deleted_after_download(
    clip: Path, twin: Twin, pm: PluginManager
) -> None:
    with ForwardProxy(secret=SECRET_KEY.encode()) as proxy:
        result = job(clip, twin, pm, proxy.url, "show-a")

        # The NDA show is refused by the same config before anything of it is read or sent.
        with pytest.raises(InputError, match=r"privacy\.policies\[0\]"):
            job(clip, twin, pm, proxy.url, "nda-show")

    assert twin.spent() == (1, 1)
    assert all(line.startswith("CONNECT 127.0.0.1:") for line in proxy.lines), proxy.lines
    assert proxy.leaks == []
    journal = Journal(default_path())
    try:
        rows = journal.audit_rows()
    finally:
        journal.close()
    [upload] = [row for row in rows if row.kind == "upload"]
    [deleted] = [row for row in rows if row.kind == "delete"]
    assert upload.sha256 == hashlib.sha256(clip.read_bytes()).hexdigest()
    assert (upload.bytes, upload.host) == (clip.stat().st_size, f"127.0.0.1:{twin.port('storage')}")
    assert (upload.project, upload.user_name) == ("show-a", "mia")
    assert upload.task_id == deleted.task_id == result.metadata["task_id"]
    assert deleted.state == "done"
    # The service forgot it: its result is gone, asked over TLS with the studio's authority.
    answer = requests.get(
        f"{twin.base_url}/api/v3/predictions/{deleted.task_id}/result",
        headers={"Authorization": f"Bearer {SECRET_KEY}"},
        verify=str(twin.pki.ca),
        timeout=10,
    )
    assert answer.status_code == 404
