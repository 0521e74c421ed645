"""The farm recipes are files of the repository that a TD copies onto a farm server: the README
names the ones that exist, and the uprez wheel does not carry them."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def test_every_farm_file_the_readme_names_exists() -> None:
    readme = (ROOT / "README.md").read_text("utf-8")
    named = set(re.findall(r"hooks/farm/[\w./-]*[\w]", readme))
    missing = sorted(name for name in named if not (ROOT / name).exists())
    assert missing == []


def test_the_recipes_are_not_packages_and_stay_out_of_the_wheel(farm: Path) -> None:
    """hooks/ is the uprez.hooks package; what lies under hooks/farm/ is not imported from uprez,
    so it is neither a subpackage nor package data."""
    assert list(farm.rglob("__init__.py")) == []
    setuptools = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["tool"]["setuptools"]
    assert not [p for p in setuptools["packages"] if p.startswith("uprez.hooks.")]
    assert "farm/*" in setuptools["exclude-package-data"]["uprez.hooks"]
