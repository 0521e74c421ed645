"""The account's limits as the config states them: submits per minute and tasks at once.

Levels as the provider's page gives them (2026): the lowest, bronze, allows 2 submits a minute
and 2 tasks at once; silver 500 and 300. Gold's figures are not published there: 1000 and 600
are a guess, and ``custom`` with explicit numbers is the way to state an account exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from uprez.errors import ConfigError

if TYPE_CHECKING:
    from uprez.config import Config


@dataclass(frozen=True)
class AccountLimits:
    """One account, named by a fingerprint of its key (never the key), and what it allows
    (None: no limit); shared through the ledger by every process that uses the account."""

    fingerprint: str
    per_minute: int | None = None
    at_once: int | None = None

    @property
    def limited(self) -> bool:
        """True when the account limits submits or tasks at all."""
        return self.per_minute is not None or self.at_once is not None


#: Submits per minute and tasks at once of each account level.
ACCOUNT_LEVELS: dict[str, tuple[int, int]] = {
    "bronze": (2, 2),
    "silver": (500, 300),
    "gold": (1000, 600),
}
# More segments than this never run at once in one process, whatever the account allows.
MAX_CONCURRENCY = 64


def account_limits(config: Config) -> tuple[int, int]:
    """Submits per minute and tasks at once of the configured account."""
    account = config.account
    rate, tasks = account.submits_per_minute, account.concurrent_tasks
    if account.level not in ACCOUNT_LEVELS and (rate is None or tasks is None):
        raise ConfigError(
            f'$.account: level "{account.level}" needs submits_per_minute and concurrent_tasks; '
            "give both numbers, or choose bronze, silver or gold"
        )
    per_minute, at_once = ACCOUNT_LEVELS.get(account.level, (0, 0))
    return (per_minute if rate is None else rate), (at_once if tasks is None else tasks)


def concurrency(config: Config) -> int:
    """Segments (or watch-folder jobs) run at once: ``limits.concurrency``, else as many as
    the account runs at once (further ones would only wait in the service's queue)."""
    given = config.limits.concurrency
    if given is not None:
        return max(1, given)
    return max(1, min(MAX_CONCURRENCY, account_limits(config)[1]))


def segments_at_once(config: Config, segments: int) -> int:
    """A job's segments in flight at once (submitted, waiting or downloading):
    ``limits.concurrency``, else all of them (up to :data:`MAX_CONCURRENCY`), since the
    account's tasks at once are held by its turns in the ledger, or by the service's queue,
    and a segment waiting there for a slot has its upload done already."""
    given = config.limits.concurrency
    if given is not None:
        return max(1, given)
    return max(1, min(MAX_CONCURRENCY, segments))
