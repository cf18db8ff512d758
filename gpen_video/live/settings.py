"""The ``[live]`` settings: the window, the virtual camera, reconnecting and the in-flight limit, with the
checks that types alone cannot express."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass
class LiveSettings:
    """Real-time mode."""

    reconnect_seconds: float = 10.0  # keep trying to reopen a lost source this long
    window: bool = True  # show an OpenCV window
    max_in_flight: int = 2  # frames inside the engine at once: more overlaps stages, fewer cut latency
    virtual_cam: bool = False  # publish the output as a virtual camera (pyvirtualcam)
    cam_width: int = 0  # virtual camera size; 0 = the source's
    cam_height: int = 0
    cam_fps: float = 0.0  # virtual camera rate; 0 = the source's (30 when it has none)
    cam_device: str = ""  # e.g. /dev/video10; empty = the first free one


def live_checks(settings: LiveSettings) -> list[tuple[bool, str]]:
    """(passes, what it requires) for each range check of ``settings``."""
    return [
        (settings.reconnect_seconds >= 0.0, "reconnect seconds must not be negative"),
        (settings.max_in_flight >= 1, "max in flight must be at least 1"),
        (settings.cam_width >= 0 and settings.cam_height >= 0, "virtual camera size must not be negative"),
        ((settings.cam_width == 0) == (settings.cam_height == 0), "virtual camera size needs both width and height"),
        (settings.cam_fps >= 0.0, "virtual camera fps must not be negative"),
    ]
