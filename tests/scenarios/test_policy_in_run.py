"""A host that hands ``run`` a provider of its own is judged by that provider: a local-only show
is refused before anything is sent, even when the config named the local provider."""

from __future__ import annotations

from pathlib import Path

import pytest

from uprez.errors import InputError
from uprez.plugins import PluginManager
from uprez.records import Artifact
from uprez.step.prepare import prepare
from uprez.step.run import run
from uprez.wavespeed.provider import WaveSpeedProvider

from support import SECRET_KEY, Service, fast_config


def test_a_local_only_show_run_through_a_remote_provider_is_refused_before_sending(
    clip: Path, service: Service, pm: PluginManager
) -> None:
    config = fast_config(
        {
            "provider.name": "local",
            "privacy.policies": [{"project": "nda-show", "upload": "local-only"}],
        }
    )
    batch = prepare([Artifact(clip, project="nda-show")], config=config, pm=pm)  # local: fine
    remote = WaveSpeedProvider.from_config(config, base_url=service.base_url, api_key=SECRET_KEY)

    try:
        with pytest.raises(InputError, match=r'privacy\.policies\[0\] \(project "nda-show"'):
            run(batch, provider=remote)
    finally:
        remote.close()

    assert service.spent() == (0, 0)
    assert not clip.with_name("shot_4k.mp4").exists()
