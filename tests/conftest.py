"""Session fixtures: the real media and GPEN fixtures committed under ``tests/``."""
from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.paths import DATA, FIXTURES


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def gpen_dir() -> Path:
    return FIXTURES
