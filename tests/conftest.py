"""Shared fixtures: paths to the real media and GPEN fixtures in ../shared."""
from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
DATA = SHARED / "data"
GPEN_FIXTURES = SHARED / "gpen"


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA.is_dir():
        pytest.fail(f"missing shared media folder {DATA}")
    return DATA


@pytest.fixture(scope="session")
def gpen_dir() -> Path:
    if not GPEN_FIXTURES.is_dir():
        pytest.fail(f"missing shared GPEN fixtures folder {GPEN_FIXTURES}")
    return GPEN_FIXTURES
