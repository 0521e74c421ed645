"""What the account holds and what the service says a task costs, read before spending."""

from __future__ import annotations

import logging
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from uprez.errors import BudgetError, ServiceError
from uprez.wavespeed.answers import read_envelope

if TYPE_CHECKING:
    from uprez.wavespeed.connection import Connection

log = logging.getLogger(__name__)


def balance(connection: Connection) -> Decimal:
    """The account's balance in US dollars (``GET /api/v3/balance``)."""
    data = read_envelope(connection.get_url(connection.api_url("/balance"), "balance"), "balance")
    amount = decimal_of(data.get("balance") if isinstance(data, dict) else data)
    if amount is None:
        raise ServiceError("balance: the answer has no amount")
    return amount


def quoted_price(connection: Connection, model: str, inputs: dict[str, Any]) -> Decimal | None:
    """What the service says a task of ``model`` costs, or None if it will not say.

    The reference documents ``POST /api/v3/model/pricing`` (``unit_price``); the official CLI
    calls ``/model/price`` (``price``, ``discounted_price``): both are asked."""
    for path in ("/model/pricing", "/model/price"):
        try:
            answer = connection.post_json(
                connection.api_url(path), {"model_id": model, "inputs": inputs}, "price"
            )
            data = read_envelope(answer, "price")
        except ServiceError as exc:
            log.debug("no price from %s: %s", path, exc)
            continue
        if isinstance(data, dict):
            for key in ("discounted_price", "unit_price", "price"):
                if data.get(key) is not None:
                    return decimal_of(data[key])
        return decimal_of(data)
    return None


def decimal_of(value: object) -> Decimal | None:
    """An amount of money from a JSON number or string; None for anything else."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() else None


def check_funds(
    connection: Connection,
    model: str,
    inputs: dict[str, Any],
    cost: Decimal,
    price_per_second: Decimal | None = None,
) -> None:
    """Refuse (:class:`BudgetError`) a run whose estimate is over the account's balance,
    before anything is uploaded; say so when the service quotes another price than the one
    estimates use. A balance that cannot be read is logged, not fatal."""
    try:
        held = balance(connection)
    except ServiceError as exc:
        log.warning("could not read the account's balance (%s); going on", exc)
    else:
        if held < cost:
            raise BudgetError(
                f"the account's balance is ${held}, below this run's estimate of ${cost}; "
                "nothing was spent: top up the account, or upscale fewer files"
            )
        log.debug("balance $%s covers the estimate of $%s", held, cost)
    if price_per_second is None:
        return
    quoted = quoted_price(connection, model, inputs)
    if quoted is not None and quoted != price_per_second:
        log.warning(
            "the service quotes $%s for %s where uprez estimates with $%s per second "
            "(limits.price_per_second): check the price before relying on the estimate",
            quoted,
            model,
            price_per_second,
        )
