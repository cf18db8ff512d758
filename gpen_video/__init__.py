"""gpen-video: video and streaming face enhancement with GPEN."""
from __future__ import annotations

__version__ = "0.1.0"
