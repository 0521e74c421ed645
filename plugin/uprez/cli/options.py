"""Options that several sub-commands share."""

from __future__ import annotations

import argparse


def add_config_options(parser: argparse.ArgumentParser) -> None:
    """``--config`` and ``--provider``, shared by the commands that run jobs."""
    parser.add_argument(
        "--config", metavar="FILE", help="a TOML or JSON config file (default: $UPREZ_CONFIG)"
    )
    parser.add_argument("--provider", help="wavespeed, local, or a plugin's provider")


def add_payer_options(parser: argparse.ArgumentParser) -> None:
    """``--project`` and ``--user``: who the tasks are charged to (budgets, ``uprez spend``)."""
    parser.add_argument(
        "--project",
        metavar="NAME",
        help="the project (show) the tasks are charged to (default: $UPREZ_PROJECT)",
    )
    parser.add_argument(
        "--user",
        metavar="NAME",
        help="the user the tasks are charged to (default: $UPREZ_USER, else the login name)",
    )
