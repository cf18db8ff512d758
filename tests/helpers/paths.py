"""Where the tests find the checkout and the media and fixtures committed under ``tests/``."""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "tests" / "data"  # real clips and pictures, provenance in its README
FIXTURES = ROOT / "tests" / "fixtures"  # GPEN layouts and reference outputs
SAMPLE = ROOT / "samples" / "talking_head.mp4"
