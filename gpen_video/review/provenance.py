"""Provenance: which software, model and input made an output, for the report and the output's own tags."""
from __future__ import annotations

import platform
from pathlib import Path

from .._version import __version__
from ..media.checksum import file_sha256
from ..config import Settings
from ..restore.settings import RestoreSettings
from ..media.source import local_file


def model_name(restore: RestoreSettings) -> str:
    """The model a run used, in words: a registry name, a checkpoint's file name, or the pass-through."""
    if restore.restorer == "none":
        return "none (faces passed through)"
    return Path(restore.weights).name if restore.weights else restore.model


def output_tags(settings: Settings) -> dict[str, str]:
    """Metadata naming the tool, its version and the model, written into every output file.

    ``comment`` is kept by mp4, mov, mkv, webm, avi, PNG, JPEG, WebP and TIFF; ``software`` where the
    format has such a field (mkv, webm, the pictures' EXIF).
    """
    software = f"gpen-video {__version__}"
    return {"comment": f"faces enhanced by {software}, model {model_name(settings.restore)}",
            "software": software}


def software_versions() -> dict[str, object]:
    """Versions of gpen-video and of the libraries that shape its output (FFmpeg's libraries one by one)."""
    import av
    import cv2
    import numpy
    import onnxruntime
    import torch

    libraries = {name: ".".join(map(str, version)) for name, version in av.library_versions.items()}
    return {
        "gpen-video": __version__,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "av": av.__version__,
        "ffmpeg": libraries.get("libavcodec", ""),
        "ffmpeg_libraries": libraries,
        "onnxruntime": onnxruntime.__version__,
        "opencv": cv2.__version__,
        "numpy": numpy.__version__,
    }


def weights_record(restore: RestoreSettings) -> dict[str, object]:
    """The GPEN weights a run used: ``{"model", "path", "sha256"}``; path and sha256 are None for the
    pass-through, or where the run's settings name no file (an engine built around another restorer)."""
    from ..errors import WeightsError
    from ..models.weights import resolve_weights

    record: dict[str, object] = {"model": model_name(restore), "path": None, "sha256": None}
    if restore.restorer == "gpen":
        try:
            path = resolve_weights(restore.model, restore.weights, download=False)
        except WeightsError:
            return record
        record.update(path=str(path), sha256=file_sha256(path))
    return record


def input_record(source: str | Path) -> dict[str, object]:
    """The input as read: ``{"path", "bytes", "sha256"}`` (hashed in 1 MiB chunks); a URL or a device
    has neither size nor hash."""
    path = local_file(str(source))
    if path is None or not path.is_file():
        return {"path": str(source), "bytes": None, "sha256": None}
    return {"path": str(source), "bytes": path.stat().st_size, "sha256": file_sha256(path)}
