"""The interfaces the engine is written against: face detectors and verifiers, restorers, frame paths,
frame observers.

Any object with these members works (structural typing): the embedded RetinaFace and facexlib's
detectors, the GPEN restorer and the pass-through, test stand-ins, and ONNX Runtime (TensorRT and
other execution providers). Images are RGB uint8; crops are uint8 [N, S, S, 3] with S the restorer's ``size``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .types import Detection, FrameResult, PastedFace, Progress


class FaceDetector(Protocol):
    def detect(self, images: Sequence[np.ndarray]) -> list[list[Detection]]:
        """Detect faces in RGB uint8 [H, W, 3] images; one list of detections (best score first) per image."""
        ...


class FaceVerifier(Protocol):
    def verify(self, image: np.ndarray, landmarks: Sequence[np.ndarray]) -> list[bool]:
        """Whether each face of RGB uint8 [H, W, 3] ``image``, given by its float32 [5, 2] landmarks
        in frame pixels, is confirmed to be a face by a second look (one bool per face, in order)."""
        ...


class Restorer(Protocol):
    """Restores aligned face crops, synchronously (``restore``) or queued (``submit``/``collect``/``flush``).

    Queued results come back in submission order as ``(tag, uint8 [N, S, S, 3])``, one pair per
    ``submit``; a restorer may compute at once or in the background.
    """

    @property
    def size(self) -> int:
        """Crop side S in pixels."""
        ...

    @property
    def batch_size(self) -> int:
        """Faces per call that the restorer runs best with; the engine gathers batches of this size."""
        ...

    @property
    def device(self) -> str:
        """Where it runs: "cpu" or "cuda[:N]"; the detector and the face parser run there too."""
        ...

    @property
    def backend(self) -> str:
        """What runs the model, for reports: "torch bf16", "onnxruntime CPUExecutionProvider fp32", "none"."""
        ...

    def restore(self, crops: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] RGB in, the restored crops out (same shape and dtype)."""
        ...

    def submit(self, crops: np.ndarray, tag: object = None) -> None:
        """Queue uint8 [N, S, S, 3] crops; ``tag`` comes back with their result."""
        ...

    def collect(self, wait: bool = False) -> list[tuple[object, np.ndarray]]:
        """Results finished so far; with ``wait``, first wait for the oldest pending submission."""
        ...

    def flush(self) -> list[tuple[object, np.ndarray]]:
        """Wait for everything queued and return all remaining results."""
        ...


class FramePath(Protocol):
    """Where the engine cuts a frame's faces out and pastes them back: on the host or on a torch device.

    ``cut`` returns the crops on the host (restorers and temporal blending take numpy) and a handle
    that ``paste`` gets back for the same frame: what the path keeps meanwhile (the device path: the
    frame and its crops on the device; the host path: nothing).
    """

    @property
    def name(self) -> str:
        """"host" or "device"."""
        ...

    def cut(self, image: np.ndarray, affines: Sequence[np.ndarray], size: int) -> tuple[Sequence[np.ndarray], object]:
        """N uint8 [S, S, 3] crops (a list, or one [N, S, S, 3] array) of uint8 [H, W, 3] ``image`` through
        float32 [2, 3] frame -> crop ``affines`` (bilinear, reflected borders), and the handle for ``paste``."""
        ...

    def paste(self, image: np.ndarray, held: object, faces: Sequence[tuple[np.ndarray, np.ndarray]], *,
              alphas: Sequence[float], masks: np.ndarray | None = None, detail: Sequence[float] | None = None,
              planes: bool = False, weight_out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``faces`` (crop uint8 [S, S, 3], affine) blended into a copy of ``image``, the frame that
        ``cut`` gave ``held`` for (None: no faces were cut), as ``faces.paste.paste_faces`` does.
        ``weight_out``: float32 [H, W] zeros, or None: receives each pixel's combined paste weight in [0, 1].

        Returns (the new uint8 [H, W, 3] frame, or ``image`` itself when ``faces`` is empty; with
        ``planes``, the frame's yuv420p planes uint8 [3 H / 2, W] where the path makes them, else None).
        ``masks``: float [N, S, S] in [0, 1], or None for the soft mask.
        """
        ...


class FrameObserver(Protocol):
    """Called by the engine's paste stage once per frame, in frame order, from one thread."""

    def observe(self, result: FrameResult, faces: Sequence[PastedFace]) -> None:
        """``faces`` are the frame's faces in the order of ``result.faces``."""
        ...


class EncodeListener(Protocol):
    """Hears each frame a video writer encodes, in order, from the thread that writes."""

    def encoded(self, planes: Sequence[np.ndarray]) -> None:
        """``planes``: the frame as it goes to the encoder, uint8 [rows, visible bytes] per plane of the
        stream's pixel format (``media.planes.visible_planes``)."""
        ...


class ProgressListener(Protocol):
    """Anything called with each ``Progress``: a function, a lambda, a bound method of a view."""

    def __call__(self, progress: Progress) -> None: ...
