"""Whose faces are restored: a selection of track ids, given directly or taken from a face gallery.

A gallery's ids name people only for the run that made it: ``selection_from_gallery`` refuses a gallery
whose input or tracking settings (``faces.fingerprint``) differ from this run's.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .fingerprint import RunFingerprint


@dataclass(frozen=True)
class TrackSelection:
    """The tracks whose faces are restored.

    Attributes:
        only: these track ids only; None: every track.
        excluded: never these track ids.
    """

    only: frozenset[int] | None = None
    excluded: frozenset[int] = frozenset()

    def restores(self, track_id: int) -> bool:
        return (self.only is None or track_id in self.only) and track_id not in self.excluded


EVERY_TRACK = TrackSelection()


def parse_track_ids(text: str) -> frozenset[int]:
    """Track ids written as "3,7" (spaces allowed).

    Raises:
        InputError: not a comma-separated list of non-negative integers.
    """
    parts = [part.strip() for part in text.split(",")]
    if any(not part.isdigit() for part in parts):
        raise InputError(f"track ids must be non-negative integers separated by commas, got '{text}'")
    return frozenset(int(part) for part in parts)


def selection_from_gallery(index: str | Path, run: RunFingerprint, pick: Iterable[int] | None = None) -> frozenset[int]:
    """The track ids of a gallery's ``index.json`` (or those of them in ``pick``), if its run tracked as this one will.

    Raises:
        InputError: the file is not a gallery index, has no fingerprint, was made from another input or
            other tracking settings (which ones, in the message), or ``pick`` names ids it does not hold.
    """
    try:
        data = json.loads(Path(index).read_text())
        recorded = data["fingerprint"]
        ids = frozenset(int(track["track_id"]) for track in data["tracks"])
    except FileNotFoundError:
        raise InputError(f"gallery index not found: {index}") from None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{index} is not a gallery index.json ({type(exc).__name__}: {exc})") from None
    if not isinstance(recorded, dict):
        raise InputError(f"the gallery {index} does not record the run that made it: its track ids cannot be checked")
    if recorded.get("input_sha256") != run.input_sha256 or run.input_sha256 is None:
        raise InputError(f"the gallery {index} was made from another input (sha256 {recorded.get('input_sha256')}, "
                         f"this input: {run.input_sha256}): its track ids do not name the same faces")
    theirs = recorded.get("tracking") or {}
    differ = sorted(key for key in set(theirs) | set(run.tracking) if theirs.get(key) != run.tracking.get(key))
    if differ:
        changes = ", ".join(f"{key} {theirs.get(key)!r} -> {run.tracking.get(key)!r}" for key in differ)
        raise InputError(f"the gallery {index} was made with other tracking settings ({changes}): "
                         "its track ids do not name the same faces")
    if pick is None:
        return ids
    missing = sorted(set(pick) - ids)
    if missing:
        raise InputError(f"the gallery {index} has no track {', '.join(map(str, missing))} "
                         f"(it has {', '.join(map(str, sorted(ids))) or 'none'})")
    return frozenset(pick)
