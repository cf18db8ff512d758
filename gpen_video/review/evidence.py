"""What a video run delivers beside its output to show what changed: the mask video (each pixel's paste
weight, 0-255, lossless FFV1 grey) and the marked output (``review.mark``), on the output itself or on a
copy. Every file is written to a temporary name and published only with the output (``finish`` all, then
``close``), or removed when the run fails.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from ..media.info import VideoInfo
from ..media.open import open_writer
from ..media.settings import EncodeSettings, InputSettings
from ..media.writer import VideoWriter
from ..types import Frame, FrameResult
from .mark import mark_frame

MASK_ENCODE = EncodeSettings(codec="ffv1", crf=None, preset=None, pix_fmt="gray")


@dataclass(frozen=True)
class EvidenceFiles:
    """Which evidence a run writes.

    Attributes:
        mask: the mask video's path, or None.
        marked: a marked copy's path, or None (the output stays unmarked).
        mark_output: draw the marks on the output itself (with no ``marked`` copy).
    """

    mask: str | Path | None = None
    marked: str | Path | None = None
    mark_output: bool = False

    @property
    def wanted(self) -> bool:
        """Whether the run needs each frame's paste weight for these."""
        return self.mask is not None or self.marked is not None or self.mark_output


def face_centres(result: FrameResult) -> list[tuple[int, tuple[float, float]]]:
    """(track id, centre of the detection box) of each face of ``result``, in the enhanced picture's pixels."""
    scale = result.enhanced.shape[1] / result.frame.image.shape[1]
    return [(face.track_id, (float(x0 + x1) * scale / 2, float(y0 + y1) * scale / 2))
            for face in result.faces for x0, y0, x1, y1 in [face.box]]


def marked(result: FrameResult) -> tuple[np.ndarray, np.ndarray]:
    """``result``'s enhanced picture with its enhanced regions outlined and labelled (needs ``result.weight``),
    and what differs from the input in it: uint8 [H, W], the paste weight, at least 1 where a mark is drawn
    (for ``VideoWriter.write``'s ``changed``: everything else is encoded from the input as decoded)."""
    if result.weight is None:
        raise ValueError("marking needs the frame's paste weight (Engine.stream(weights=True))")
    picture = mark_frame(result.enhanced, result.weight, face_centres(result))
    drawn = (picture != result.enhanced).any(axis=2)
    return picture, np.maximum(result.weight, drawn.astype(np.uint8))


class EvidenceWriters:
    """The mask and marked-copy writers of one run, on its output's timeline.

    Args:
        files: what to write.
        info, encode, source, start, width, height, overwrite, inputs, tags: as for ``media.open.open_writer``
            of the output; the marked copy is encoded like the output; both copy the source's other streams.

    Raises:
        InputError, DestinationExists: a destination is refused (``media.output.check_destination``).
    """

    def __init__(self, files: EvidenceFiles, info: VideoInfo, encode: EncodeSettings, *,
                 source: str | Path | None, start: float | None, width: int, height: int, overwrite: bool,
                 inputs: InputSettings, tags: dict[str, str]) -> None:
        self.files = files
        self._writers: list[VideoWriter] = []
        self._mask: VideoWriter | None = None
        self._marked: VideoWriter | None = None
        try:
            if files.mask is not None:
                # The source's streams too: muxers shift a file's timeline for its audio (Matroska moves every
                # stream later by an AAC priming delay), so the mask keeps the output's timestamps only with them.
                self._mask = self._open(open_writer(files.mask, info, MASK_ENCODE, source=source, start=start,
                                                    width=width, height=height, overwrite=overwrite, inputs=inputs,
                                                    tags=tags))
            if files.marked is not None:
                self._marked = self._open(open_writer(files.marked, info, encode, source=source, start=start,
                                                      width=width, height=height, overwrite=overwrite,
                                                      inputs=inputs, tags=tags))
        except BaseException:
            self.abort()
            raise

    def _open(self, writer: VideoWriter) -> VideoWriter:
        self._writers.append(writer)
        return writer

    def write(self, result: FrameResult, frame: Frame) -> None:
        """Write ``result``'s mask and marked picture at ``frame``'s time (the frame given to the output)."""
        if self._mask is not None:
            self._mask.write_planes(frame, result.weight)
        if self._marked is not None:
            picture, changed = marked(result)
            self._marked.write(replace(frame, image=picture), None, changed)

    def finish(self) -> None:
        """Finish every file into its temporary name (``VideoWriter.finish``)."""
        for writer in self._writers:
            writer.finish()

    def close(self) -> None:
        """Publish every file (after ``finish``)."""
        for writer in self._writers:
            writer.close()

    def abort(self) -> None:
        """Remove every temporary file; no destination is touched."""
        for writer in self._writers:
            writer.abort()

    def __enter__(self) -> EvidenceWriters:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()
