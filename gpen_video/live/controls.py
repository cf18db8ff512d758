"""Control of a running live session: what each key does, and the switches it sets.

Keys come from the OpenCV window or, headless, from the terminal (``terminal_keys.py``); both feed
:meth:`LiveControls.press`. The run loop reads the switches for every frame it hands out, so a
toggle shows on the next frame; a temporal step reaches the engine's paste stage at once and shows
once the frames already pasted (at most ``max_in_flight``) have gone out.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Literal, Protocol

from ..faces.compose import FaceCompositor

TEMPORAL_STEP = 0.1
Action = Literal["quit", "status", "help"]

KEYS = {
    "e": "enhancement on/off (off: the source as captured)",
    "s": "side by side with the original",
    "]": f"temporal blending +{TEMPORAL_STEP:g} (also +)",
    "[": f"temporal blending -{TEMPORAL_STEP:g} (also -)",
    "i": "print fps and latency",
    "h": "print these keys (also ?)",
    "q": "quit (also Esc)",
}
_ALIASES = {"+": "]", "=": "]", "-": "[", "?": "h", "\x1b": "q"}


class KeySource(Protocol):
    """Keys pressed since the last poll, one character each (a terminal, a test's script)."""

    def poll(self) -> list[str]: ...

    def close(self) -> None: ...


def key_help() -> str:
    return "keys: " + ", ".join(f"{key} {meaning}" for key, meaning in KEYS.items())


@dataclass(frozen=True)
class ControlEvent:
    """A key that was acted on: after ``frame`` frames had been handed out, ``key`` set ``state``."""

    frame: int
    key: str
    state: str


class LiveControls:
    """The switches of a live run. Thread-safe: keys may arrive from any thread.

    Args:
        compositor: the stream's face compositor; its temporal strength is what ``[`` and ``]`` step.
        enhance, side_by_side: the starting state.
    """

    def __init__(self, compositor: FaceCompositor, *, enhance: bool = True, side_by_side: bool = False) -> None:
        self.compositor = compositor
        self.enhance = enhance
        self.side_by_side = side_by_side
        self.events: list[ControlEvent] = []
        self._lock = threading.Lock()

    @property
    def temporal(self) -> float:
        return self.compositor.strength

    def press(self, key: str, frame: int) -> tuple[Action | None, str | None]:
        """Act on ``key`` (one character) after ``frame`` frames were handed out.

        Returns what the run loop must do besides (quit, print the status or the keys) and a line
        that says what changed; (None, None) for a key without a meaning.
        """
        key = _ALIASES.get(key, key.lower() if key.isalpha() else key)
        if key == "q":
            return "quit", None
        if key == "i":
            return "status", None
        if key == "h":
            return "help", key_help()
        with self._lock:
            if key == "e":
                self.enhance = not self.enhance
                state = f"enhancement {'on' if self.enhance else 'off'}"
            elif key == "s":
                self.side_by_side = not self.side_by_side
                state = f"side by side {'on' if self.side_by_side else 'off'}"
            elif key in ("[", "]"):
                step = TEMPORAL_STEP if key == "]" else -TEMPORAL_STEP
                self.compositor.set_strength(round(min(1.0, max(0.0, self.temporal + step)), 3))
                state = f"temporal {self.temporal:.1f}"
            else:
                return None, None
            self.events.append(ControlEvent(frame, key, state))
        return None, state
