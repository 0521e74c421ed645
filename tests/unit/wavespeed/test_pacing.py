"""Submits are paced to the account's rate, and a 429 holds them until the window resets."""

from __future__ import annotations

import pytest

from uprez.account import account_limits, concurrency
from uprez.errors import ConfigError
from uprez.wavespeed.pacing import SubmitPacer, account_fingerprint

from support import fast_config


class Clock:
    """A clock the test moves by hand (monotonic and wall time alike)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_bronze_pacing_sends_two_submits_a_minute_and_no_more() -> None:
    clock = Clock()
    pacer = SubmitPacer(2, clock=clock, wall=clock)
    sent = []
    for _ in range(5):
        pacer.wait_turn(deadline=clock.now + 3600, sleep=clock.sleep)
        sent.append(clock.now)

    assert sent[:2] == [1000.0, 1000.0]
    # Any 60 s holds at most two of them.
    for i, moment in enumerate(sent):
        assert sum(1 for other in sent[i:] if other - moment < 60) <= 2
    assert sent[-1] - sent[0] < 125  # and no slower than the rate needs


def test_a_turn_after_the_deadline_is_refused_without_waiting_for_it() -> None:
    clock = Clock()
    pacer = SubmitPacer(1, clock=clock, wall=clock)
    pacer.wait_turn(deadline=clock.now + 10, sleep=clock.sleep)

    with pytest.raises(TimeoutError):
        pacer.wait_turn(deadline=clock.now + 10, sleep=clock.sleep)
    assert clock.now == 1000.0


def test_a_429_holds_every_submit_until_just_past_the_next_minute() -> None:
    clock = Clock(start=6030.0)  # half a minute into a wall-clock minute
    pacer = SubmitPacer(None, clock=clock, wall=clock)

    hold = pacer.refused()
    waited = pacer.wait_turn(deadline=clock.now + 3600, sleep=clock.sleep)

    assert hold == pytest.approx(31.0)
    assert waited == pytest.approx(31.0)
    # A second refusal in a row waits a whole window, in case the service's window slides.
    assert pacer.refused() == pytest.approx(61.0)
    pacer.accepted()
    clock.sleep(100)
    assert pacer.refused() < 61.0


def test_a_429_waits_until_this_processs_oldest_submit_has_left_a_sliding_window() -> None:
    # Two submits at :05; another process's third is refused at :58. The next wall minute (+1 s)
    # is 3 s away, but a window that slides counts this process's two until :05 + 60 s: the
    # hold is that, with the pacer's spare (7.5 s), or the retry would be refused again.
    clock = Clock(start=6005.0)
    pacer = SubmitPacer(2, clock=clock, wall=clock)
    pacer.wait_turn(deadline=clock.now + 10, sleep=clock.sleep)
    pacer.wait_turn(deadline=clock.now + 10, sleep=clock.sleep)
    clock.sleep(53.0)

    assert pacer.refused() == pytest.approx(7.5)
    pacer.accepted()
    clock.sleep(20.0)  # :18 of the next minute: the own submits have left any window
    assert pacer.refused() == pytest.approx(43.0)  # the next wall minute, as before


def test_an_unlimited_pacer_never_waits() -> None:
    clock = Clock()
    pacer = SubmitPacer(None, clock=clock, wall=clock)
    for _ in range(100):
        assert pacer.wait_turn(deadline=clock.now, sleep=clock.sleep) == 0.0


def test_the_account_fingerprint_never_holds_the_key() -> None:
    key = "sk-very-secret-key-123456"
    fingerprint = account_fingerprint("https://api.wavespeed.ai", key)

    assert key not in fingerprint and "secret" not in fingerprint
    assert fingerprint != account_fingerprint("https://api.wavespeed.ai", key + "x")


@pytest.mark.parametrize(
    ("account", "limits"),
    [
        ({}, (2, 2)),
        ({"account.level": "silver"}, (500, 300)),
        ({"account.level": "bronze", "account.submits_per_minute": 5}, (5, 2)),
        (
            {
                "account.level": "custom",
                "account.submits_per_minute": 30,
                "account.concurrent_tasks": 7,
            },
            (30, 7),
        ),
    ],
)
def test_account_levels_set_the_rate_and_the_tasks_at_once(
    account: dict[str, object], limits: tuple[int, int]
) -> None:
    config = fast_config({"account.level": "bronze", **account})
    assert account_limits(config) == limits
    assert concurrency(config) == min(64, limits[1])


def test_a_custom_level_without_its_numbers_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"\$\.account: .*needs submits_per_minute"):
        account_limits(fast_config({"account.level": "custom"}))


def test_an_explicit_concurrency_wins_over_the_account() -> None:
    assert concurrency(fast_config({"account.level": "bronze", "limits.concurrency": 5})) == 5
