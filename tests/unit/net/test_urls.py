"""The key's host is the host requests connects to: URLs that could be read two ways are refused."""

from __future__ import annotations

import pytest

from uprez.errors import ConfigError, TransferError
from uprez.wavespeed.client import WaveSpeedClient
from uprez.wavespeed.fetch_output import check_output_url
from uprez.wavespeed.provider import WaveSpeedProvider

from support import fast_config

TRICKS = [
    "http://evil.example\\@127.0.0.1:8765",
    "http://evil.example%5C@127.0.0.1:8765",
    "http://user:pw@127.0.0.1:8765",
    "http://127.0.0.1:8765@evil.example",
    "https://api.wavespeed.ai@evil.example",
    "http://127.0.0.1:8765\\.evil.example",
    "http://127.0.0.1:8765/ x",
    "ftp://127.0.0.1:8765",
]


@pytest.mark.parametrize("base", TRICKS)
def test_a_base_url_that_hides_its_host_is_a_config_error(base: str) -> None:
    config = fast_config({"provider.allow_insecure_http": False})
    with pytest.raises(ConfigError, match="base_url"):
        WaveSpeedProvider.from_config(config, base_url=base, api_key="k")


@pytest.mark.parametrize("base", TRICKS)
def test_the_client_itself_refuses_such_a_base_url(base: str) -> None:
    with pytest.raises(ConfigError):
        WaveSpeedClient(base, "k")


@pytest.mark.parametrize("url", [*TRICKS, "http://cdn.example/out.mp4"])
def test_an_output_url_that_hides_its_host_or_is_plain_http_is_refused(url: str) -> None:
    with pytest.raises(TransferError):
        check_output_url(url, "t1")


@pytest.mark.parametrize(
    "url", ["https://cdn.example/out.mp4?sig=1", "http://127.0.0.1:9/o.mp4", "http://[::1]:9/o"]
)
def test_plain_output_urls_are_accepted(url: str) -> None:
    check_output_url(url, "t1")


@pytest.mark.parametrize("key", ["sk-1\n", " sk-1", "sk\t1", "sk-\x001", ""])
def test_a_key_with_whitespace_or_control_characters_is_a_config_error(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        WaveSpeedClient("http://127.0.0.1:9", key)

    assert caught.value.exit_code == 2
    assert key.strip() == "" or key.strip() not in str(caught.value)


def test_the_key_goes_to_the_api_host_only() -> None:
    client = WaveSpeedClient("https://api.wavespeed.ai", "sk-1")

    assert client.api_headers("https://api.wavespeed.ai/api/v3/balance")["Authorization"]
    assert client.api_headers("https://api.wavespeed.ai/api/v3/x")["X-Client-Name"] == "uprez"
    for other in (
        "https://storage.wavespeed.ai/put/x",
        "https://api.wavespeed.ai:444/x",
        "https://api.wavespeed.ai.evil.example/x",
        "https://evil.example\\@api.wavespeed.ai/x",
    ):
        assert client.api_headers(other) == {}
