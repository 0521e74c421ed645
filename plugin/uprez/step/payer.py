"""Who pays for a job: its project (show) and user, what each of its tasks costs, and the
budget reservation a batch makes before its first upload (:mod:`uprez.journal.reservations`)."""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING

from uprez.errors import ConfigError
from uprez.journal.charges import Payer
from uprez.journal.tasks import Price
from uprez.records import Artifact

if TYPE_CHECKING:
    from uprez.config import Config
    from uprez.journal.store import Journal
    from uprez.step.plan import Plan


def project_of(artifact: Artifact) -> str:
    """The artifact's project, else ``UPREZ_PROJECT``, else none (``""``)."""
    return artifact.project or os.environ.get("UPREZ_PROJECT", "")


def user_of(artifact: Artifact) -> str:
    """The artifact's user, else ``UPREZ_USER``, else the login name."""
    if artifact.user:
        return artifact.user
    try:
        return os.environ.get("UPREZ_USER") or getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a bare container)
        return str(os.getuid())


def prices(plan: Plan, payer: Payer) -> list[Price]:
    """What each segment's task bills, charged to ``payer``."""
    rule = plan.rule
    return [
        Price(payer, rule.billed_seconds(s.duration), rule.cost(s.duration)) for s in plan.segments
    ]


def reserve(
    journal: Journal | None, amounts: Mapping[tuple[str, str], Decimal], config: Config
) -> dict[tuple[str, str], str]:
    """Reserve a batch's estimate (``amounts`` by ``(project, user)``) against the config's
    budgets, before anything is spent (:class:`~uprez.errors.BudgetError` if one would be
    exceeded); each reservation's id by ``(project, user)``: the jobs' charges draw from it,
    and :meth:`~uprez.journal.store.Journal.release` frees the rest when the batch ends."""
    if not config.budgets or not amounts:
        return {}
    if journal is None:
        raise ConfigError(
            "$.budgets: budgets are kept in the journal, which is off (journal.enabled = "
            "false); turn it on, or remove the budgets"
        )
    ids, _standing = journal.reserve(amounts, config.budgets)
    return ids
