"""Reading a face gallery back: the images its contact sheet shows, decoded, and its index rows."""
from __future__ import annotations

import csv
import json
from fractions import Fraction
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
from PIL import Image


class _Images(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.sources: list[str] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "img":
            self.sources.append(dict(attrs)["src"] or "")
        self.scripts += tag == "script"


def page_images(folder: Path) -> list[np.ndarray]:
    """Every image ``folder/index.html`` shows, decoded as uint8 [H, W, 3]; fails on a missing or broken file
    and on any script in the page."""
    parser = _Images()
    parser.feed((folder / "index.html").read_text())
    assert parser.scripts == 0
    images = []
    for source in parser.sources:
        with Image.open(folder / source) as image:
            images.append(np.asarray(image.convert("RGB")))
    return images


def gallery_tracks(folder: Path) -> list[dict]:
    """``index.json``'s entries, checked against ``index.csv`` (same tracks, same best frames)."""
    tracks = json.loads((folder / "index.json").read_text())["tracks"]
    with open(folder / "index.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [(int(r["track_id"]), int(r["best_frame"])) for r in rows] == [(t["track_id"], t["best_frame"]) for t in tracks]
    return tracks


def seconds(pts: int, time_base: str) -> float:
    """What the gallery writes for a frame with ``pts``: pts × time base in seconds."""
    return float(pts * Fraction(time_base))
