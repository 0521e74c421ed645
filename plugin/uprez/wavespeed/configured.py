"""The client and the poll schedule a configuration asks for, with its base URL and key checked.

Apart from the provider so that what is refused before anything is sent (no key, a base URL that
is not HTTPS or that hides its host) reads in one place, beside nothing that runs a job.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from uprez.account import AccountLimits, account_limits
from uprez.errors import ConfigError
from uprez.net.retry import RetryPolicy
from uprez.net.session import ServiceSession
from uprez.net.urls import parse_strict, plain_http_allowed
from uprez.wavespeed.client import WaveSpeedClient
from uprez.wavespeed.pacing import account_fingerprint, pacer_for
from uprez.wavespeed.polling import PollSchedule

if TYPE_CHECKING:
    from uprez.config import Config


def client_from_config(
    config: Config, *, base_url: str | None = None, api_key: str | None = None, paced: bool = True
) -> WaveSpeedClient:
    """The client ``config`` describes; refuses a missing or malformed key, a base URL that is
    not HTTPS (loopback aside) or that hides its host (``user@host``, ``\\``), and a bundle of
    authorities that cannot be read. Every leg goes through one session that trusts
    ``provider.ca_bundle`` and goes through ``provider.proxy`` (each, when unset: the
    environment's; see :mod:`uprez.net.session`). ``paced`` off skips the per-minute pacing
    (an in-process server does not limit it)."""
    settings, retry = config.provider, config.retry
    base = base_url or settings.base_url
    key = api_key or config.api_key()
    if not key:
        raise ConfigError(
            "no API key: set WAVESPEED_API_KEY in the environment (or provider.api_key in "
            "the config), or run with --provider local to use the local server"
        )
    try:
        parts = parse_strict(base, "$.provider.base_url")
    except ValueError as exc:
        raise ConfigError(f"{exc}; write it as https://host[:port]") from None
    if not plain_http_allowed(parts, settings.allow_insecure_http):
        raise ConfigError(
            f"$.provider.base_url: {base} is not HTTPS; the key would travel in clear. "
            "Use https://, or set provider.allow_insecure_http = true if you mean it"
        )
    per_minute, at_once = account_limits(config)
    fingerprint = account_fingerprint(base, key)
    session = ServiceSession(ca_bundle=settings.ca_bundle, proxy=settings.proxy)
    return WaveSpeedClient(
        base,
        key,
        session=session,
        retry=RetryPolicy(
            attempts=retry.attempts,
            base=retry.backoff_base,
            cap=retry.backoff_cap,
            retry_after_cap=retry.retry_after_cap,
        ),
        pacer=pacer_for(fingerprint, per_minute if paced else None),
        account=AccountLimits(fingerprint, per_minute, at_once) if paced else None,
        connect_timeout=settings.connect_timeout,
        read_timeout=settings.read_timeout,
        upload_timeout=settings.upload_timeout,
    )


def schedule_from_config(config: Config) -> PollSchedule:
    """How often to ask about a task when nothing predicts its end: ``polling.*``."""
    polling = config.polling
    return PollSchedule(
        first=polling.first_interval,
        factor=polling.factor,
        max=polling.max_interval,
        jitter=polling.jitter,
    )
