"""gpen-video: video and streaming face enhancement with GPEN.

The public names below are imported on first use: the engine pulls in torch, and neither
``import gpen_video`` nor ``gpen-video --help`` should pay for that.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from ._version import __version__

# public name -> submodule that defines it
_EXPORTS = {
    "Engine": "engine",
    "enhance_video": "job",
    "enhance_image": "job",
    "JobResult": "job",
    "Settings": "config",
    "build_settings": "config",
    "Frame": "types",
    "Detection": "types",
    "TrackedFace": "types",
    "AlignedFace": "types",
    "FrameResult": "types",
    "PastedFace": "types",
    "FaceDetector": "protocols",
    "Restorer": "protocols",
    "FrameObserver": "protocols",
    "Progress": "types",
    "ProgressListener": "protocols",
    "PipelineStats": "types",
    "GpenVideoError": "errors",
    "InputError": "errors",
    "MediaOpenError": "errors",
    "DestinationExists": "errors",
    "WeightsError": "errors",
    "WeightsMissing": "errors",
    "SourceLost": "errors",
    "Interrupted": "errors",
}

__all__ = [
    "AlignedFace", "DestinationExists", "Detection", "Engine", "FaceDetector", "Frame", "FrameObserver",
    "FrameResult", "GpenVideoError", "InputError", "Interrupted", "JobResult", "MediaOpenError", "PastedFace",
    "PipelineStats", "Progress", "ProgressListener", "Restorer", "Settings", "SourceLost", "TrackedFace", "WeightsError",
    "WeightsMissing", "__version__", "build_settings", "enhance_image", "enhance_video",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


if TYPE_CHECKING:  # what type checkers and IDEs see
    from .config import Settings, build_settings
    from .engine import Engine
    from .errors import (DestinationExists, GpenVideoError, InputError, Interrupted, MediaOpenError, SourceLost,
                         WeightsError, WeightsMissing)
    from .job import JobResult, enhance_image, enhance_video
    from .protocols import FaceDetector, FrameObserver, ProgressListener, Restorer
    from .types import AlignedFace, Detection, Frame, FrameResult, PastedFace, PipelineStats, Progress, TrackedFace
