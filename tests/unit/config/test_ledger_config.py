"""``journal.url`` and ``budgets``: the shared ledger's address never shows its password, and a
bad value is refused with its JSON path."""

from __future__ import annotations

from decimal import Decimal

import pytest

from uprez.config import load_config
from uprez.errors import ConfigError
from uprez.journal.postgres import shown

URL = "postgresql://uprez:s3cret@db.studio.lan:5432/uprez"


def test_the_url_is_read_from_the_variable_it_names() -> None:
    config = load_config(env={"LEDGER": URL}, overrides={"journal.url": {"$env": "LEDGER"}})

    assert config.ledger_url() == URL
    assert "s3cret" not in repr(config) + repr(config.journal)


def test_a_variable_that_is_not_set_is_a_config_error_naming_it() -> None:
    config = load_config(env={}, overrides={"journal.url": {"$env": "LEDGER"}})

    with pytest.raises(ConfigError, match=r"\$\.journal\.url: the environment variable LEDGER"):
        config.ledger_url()


def test_a_literal_url_is_shown_without_its_password() -> None:
    config = load_config(env={}, overrides={"journal.url": URL})

    assert config.redacted()["journal"]["url"] == (
        "postgresql://uprez:<redacted>@db.studio.lan:5432/uprez"
    )
    assert "s3cret" not in repr(config)
    assert shown(URL) == "postgresql://uprez@db.studio.lan:5432/uprez"
    assert shown(URL + "?password=s3cret&sslmode=require") == shown(URL)


def test_no_url_keeps_the_sqlite_file() -> None:
    assert load_config(env={}).ledger_url() is None


@pytest.mark.parametrize(
    "url",
    ["mysql://db/uprez", "postgresql://", "https://db.studio.lan/uprez", "postgresql://h/ x"],
)
def test_a_url_that_is_not_postgresql_is_refused_with_its_path(url: str) -> None:
    with pytest.raises(ConfigError, match=r"\$\.journal\.url"):
        load_config(env={}, overrides={"journal.url": url})


def test_budgets_are_typed_with_exact_money_and_defaults() -> None:
    config = load_config(
        env={},
        overrides={
            "budgets": [{"usd": "200.00"}, {"project": "tentpole", "period": "day", "usd": "5"}]
        },
    )

    assert [(b.project, b.period, b.usd) for b in config.budgets] == [
        ("*", "month", Decimal("200.00")),
        ("tentpole", "day", Decimal("5")),
    ]


@pytest.mark.parametrize(
    ("budget", "where"),
    [
        ({"usd": "ten"}, r"\$\.budgets\[0\]\.usd"),
        ({"usd": "1.00", "period": "week"}, r"\$\.budgets\[0\]\.period"),
        ({"project": "x"}, r"\$\.budgets\[0\]"),
    ],
)
def test_a_bad_budget_names_its_path(budget: dict[str, str], where: str) -> None:
    with pytest.raises(ConfigError, match=where):
        load_config(env={}, overrides={"budgets": [budget]})
