"""The interfaces the engine is written against: face detectors and verifiers, restorers, frame paths,
frame observers.

Any object with these members works (structural typing): the embedded RetinaFace and facexlib's
detectors, the GPEN restorer and the pass-through, test stand-ins, and ONNX Runtime (TensorRT and
other execution providers). Images are RGB uint8; crops are uint8 [N, S, S, 3] with S the restorer's ``size``.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from .types import Detection, FrameResult, PastedFace, Progress

if TYPE_CHECKING:
    from torch import Tensor

    from .faces.temporal import TemporalBlender


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


@runtime_checkable
class TensorRestorer(Restorer, Protocol):
    """A ``Restorer`` whose queue also takes crops that are tensors on its ``device``, so that a resident
    device frame path's crops never visit the host between ``cut`` and ``paste``."""

    def submit_tensors(self, crops: Tensor, tag: object = None) -> None:
        """Queue uint8 [N, S, S, 3] crop tensors on ``device``; ``collect``/``flush`` give back their result
        with ``tag`` as a uint8 [N, S, S, 3] tensor on ``device``."""
        ...


class CropOps(Protocol):
    """What the face compositor does to crops, where its frame path keeps them: numpy arrays on the host
    (``faces.compose.HOST_CROP_OPS``) or tensors on a device (``gpu.crops.TensorCropOps``). A crop is
    uint8 [S, S, 3] RGB either way."""

    def stack(self, crops: Sequence[Any]) -> Any:
        """N crops as one uint8 [N, S, S, 3] batch of the same kind."""
        ...

    def keep_luminance(self, restored: Any, source: Any) -> Any:
        """``faces.monochrome.keep_luminance``: the restored crop's luminance with the source crop's chroma."""
        ...

    def soften(self, crop: Any, face_size_px: float) -> Any:
        """``faces.paste.soften_small_face``: the crop, lightly blurred when its face is small in the frame."""
        ...

    def blender(self, strength: float) -> TemporalBlender:
        """A fresh temporal blender (``faces.temporal``) for these crops, at ``strength`` in [0, 1]."""
        ...

    def to_host(self, crops: Any) -> np.ndarray:
        """A crop or a batch of them as a host array (the same array on the host)."""
        ...


class FramePath(Protocol):
    """Where the engine cuts a frame's faces out and pastes them back: on the host or on a torch device.

    ``cut`` returns the crops (host arrays; device tensors on a resident device path, whose restorer is
    a ``TensorRestorer``) and a handle that ``paste`` gets back for the same frame: what the path keeps
    meanwhile (the device path: the frame and its crops on the device; the host path: the crops).
    ``crop_ops`` works on the crops where ``cut`` left them.
    """

    @property
    def name(self) -> str:
        """"host" or "device"."""
        ...

    @property
    def resident(self) -> bool:
        """Whether ``cut`` leaves the crops on the device."""
        ...

    @property
    def crop_ops(self) -> CropOps:
        """The compositor's operations on this path's crops."""
        ...

    def cut(self, image: np.ndarray, affines: Sequence[np.ndarray], size: int) -> tuple[Sequence[Any], object]:
        """N uint8 [S, S, 3] crops (a list, or one [N, S, S, 3] array or tensor) of uint8 [H, W, 3] ``image``
        through float32 [2, 3] frame -> crop ``affines`` (bilinear, reflected borders), and the handle for ``paste``."""
        ...

    def paste(self, image: np.ndarray, held: object, faces: Sequence[tuple[Any, np.ndarray]], *,
              alphas: Sequence[float], masks: np.ndarray | None = None, detail: Sequence[float] | None = None,
              planes: bool = False, weight_out: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None]:
        """``faces`` (crop uint8 [S, S, 3], affine) blended into a copy of ``image``, the frame that
        ``cut`` gave ``held`` for (None: no faces were cut, or ``image`` is another frame, such as an
        enlarged one), as ``faces.paste.paste_faces`` does.
        ``weight_out``: float32 [H, W], or None: filled with each pixel's combined paste weight in [0, 1].

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
