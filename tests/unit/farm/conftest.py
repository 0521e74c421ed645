"""The farm recipes (``hooks/farm/``) are files copied onto farm servers, not modules of uprez:
the tests load them from their paths, as Deadline and a submission script do."""

from __future__ import annotations

import importlib.util
import itertools
import sys
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

import pytest

FARM = Path(__file__).resolve().parents[3] / "hooks" / "farm"

_serial = itertools.count()


def _load(path: Path) -> ModuleType:
    name = f"farm_recipe_{path.stem}_{next(_serial)}"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while a class is made
    try:
        spec.loader.exec_module(module)
    finally:
        del sys.modules[name]
    return module


@pytest.fixture
def farm() -> Path:
    """The folder of the farm recipes."""
    return FARM


@pytest.fixture
def load_recipe() -> Callable[[Path], ModuleType]:
    """Loads a fresh copy of a Python recipe under a name of its own, so that a test which
    replaced a farm module first gets a copy that imported the replacement."""
    return _load
