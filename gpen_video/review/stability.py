"""The warping error of Lai et al. (2018), "Learning Blind Video Temporal Consistency", over the face regions.

For consecutive frames t-1 and t of a video V (the output O, or the input I for reference):

    E_warp(V) = mean over t of ( sum M * |V(t-1) - warp(V(t))|^2 / sum M )

``warp`` follows the optical flow of the *input* from t-1 to t, so real motion cancels and what remains is
what changed without moving: flicker (plus the flow's own error, which the input's E_warp measures). M is 1
where that flow passes the forward-backward check of Ruder et al. (2016) (|w + w'|^2 < 0.01 (|w|^2 + |w'|^2)
+ 0.5, with w' the backward flow where w lands) and where the paste changed the frame in both frames (each
pasted face's soft mask above one half), 0 elsewhere. |.|^2 is the squared difference in 8-bit levels,
averaged over the three channels.

The ratio E_warp(O) / E_warp(I) is near 1 for a restorer that adds no flicker and grows with the flicker
it adds, with one caveat: the ratio counts the input's own temporal noise (codec noise, the flow's misfit)
as the output carries it, so a restorer that adds contrast or fine detail raises it a little even when it
is a fixed function of its input (the unsharp mask ``2 crop - blur(crop, sigma 2)``: 1.2-1.3 on real clips,
against 15-50 for the same plus the flicker of a GAN restorer).

Cost stays low: OpenCV's DIS flow runs on the host, once each way per face, on the face's region only,
shrunk so that its longer side is at most ``FLOW_SIDE`` pixels: the scale of tone, shading and coarse
texture flicker (eyes about 6 px across), above which a sharper restorer mostly amplifies codec noise.
About 8-10 ms per face and frame on a shared 2-core CPU.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

from ..faces.paste import face_roi, mask_support, soft_mask
from ..types import FrameResult, PastedFace

FLOW_SIDE = 64  # longest side (px) of the face region the flow and the errors are computed at
MIN_SIDE = 16  # px: a face region smaller than this in the frame is not measured
MIN_PIXELS = 64  # pixel pairs a frame pair needs in M to count
_FB_RELATIVE, _FB_ABSOLUTE = 0.01, 0.5  # the forward-backward check's terms (Ruder et al. 2016)


@dataclass
class WarpError:
    """Running E_warp of the output and of the input over the frame pairs of one stretch of video.

    Attributes:
        first_frame: index of the stretch's first frame.
        pairs: frame pairs measured.
        output_total, input_total: sums over those pairs of each pair's masked mean squared error (levels^2).
    """

    first_frame: int
    pairs: int = 0
    output_total: float = 0.0
    input_total: float = 0.0

    def add(self, output_error: float, input_error: float) -> None:
        self.pairs += 1
        self.output_total += output_error
        self.input_total += input_error

    def summary(self) -> dict[str, float | int | None]:
        """``first_frame``, ``pairs``, ``output`` and ``input`` (E_warp, levels^2) and their ``ratio``
        (None where nothing was measured or the input has no error at all)."""
        output = self.output_total / self.pairs if self.pairs else None
        inputs = self.input_total / self.pairs if self.pairs else None
        return {"first_frame": self.first_frame, "pairs": self.pairs, "output": output, "input": inputs,
                "ratio": output / inputs if output is not None and inputs else None}


@dataclass(frozen=True)
class _Face:
    """A pasted face as the meter needs it: its frame -> crop affine float32 [2, 3], crop side S and the
    frame region (x0, y0, x1, y1), exclusive end, where its mask is above one half (None: off the frame)."""

    affine: np.ndarray
    size: int
    roi: tuple[int, int, int, int] | None

    @classmethod
    def of(cls, face: PastedFace, frame_hw: tuple[int, int]) -> _Face:
        affine, size = face.aligned.affine, face.aligned.crop.shape[0]
        return cls(affine, size, face_roi(affine, _mask_support(size), frame_hw))


@dataclass
class _Seen:
    """What the meter keeps of the previous frame: references to its images (never written to), its faces."""

    source: np.ndarray  # uint8 [H, W, 3]
    output: np.ndarray  # uint8 [H*s, W*s, 3]
    faces: dict[int, _Face]  # by track id, the faces pasted (alpha > 0)


class WarpErrorMeter:
    """E_warp of a run's output and input over the face regions, per shot and overall (a ``FrameObserver``).

    A shot runs from one scene cut to the next; the run's value is the mean over all its frame pairs. Each
    track pasted in both frames of a pair is measured on its own region (the union of its two paste regions,
    shrunk to at most ``FLOW_SIDE`` px), and the pair's error pools the pixels of all of them. A frame pair whose
    faces give fewer than ``MIN_PIXELS`` pixels is left out; so are faces smaller than ``MIN_SIDE`` px.
    """

    def __init__(self) -> None:
        self.shots: list[WarpError] = []
        self._previous: _Seen | None = None
        self._flow = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)

    def observe(self, result: FrameResult, faces: Sequence[PastedFace]) -> None:
        frame = result.frame
        if result.scene_cut or not self.shots:
            self.shots.append(WarpError(frame.index))
            self._previous = None
        frame_hw = frame.image.shape[:2]
        seen = _Seen(frame.image, result.enhanced,
                     {face.aligned.track_id: _Face.of(face, frame_hw) for face in faces if face.alpha > 0})
        previous, self._previous = self._previous, seen
        if previous is None or previous.source.shape != frame.image.shape:
            return
        sums = np.zeros(3)  # sum M |O - warp O|^2, sum M |I - warp I|^2, sum M
        for track_id in previous.faces.keys() & seen.faces.keys():
            sums += self._face_sums(previous, seen, previous.faces[track_id], seen.faces[track_id])
        if sums[2] >= MIN_PIXELS:
            self.shots[-1].add(sums[0] / sums[2], sums[1] / sums[2])

    def summary(self) -> dict[str, object]:
        """``warp_error_output``, ``warp_error_input`` (levels^2) and ``warp_error_ratio`` over the run,
        and ``warp_error_shots``: each shot's ``WarpError.summary``. None where nothing was measured."""
        run = WarpError(self.shots[0].first_frame if self.shots else 0)
        for shot in self.shots:
            run.pairs += shot.pairs
            run.output_total += shot.output_total
            run.input_total += shot.input_total
        total = run.summary()
        return {"warp_error_output": total["output"], "warp_error_input": total["input"],
                "warp_error_ratio": total["ratio"], "warp_error_shots": [shot.summary() for shot in self.shots]}

    def _face_sums(self, previous: _Seen, current: _Seen, before: _Face, after: _Face) -> np.ndarray:
        """float64 [3]: one track's masked sums of squared output error, squared input error and pixels."""
        if before.roi is None or after.roi is None:
            return np.zeros(3)
        rois = (before.roi, after.roi)
        x0, y0 = min(r[0] for r in rois), min(r[1] for r in rois)
        x1, y1 = max(r[2] for r in rois), max(r[3] for r in rois)
        if min(x1 - x0, y1 - y0) < MIN_SIDE:
            return np.zeros(3)
        roi = (x0, y0, x1, y1)
        shrink = min(1.0, FLOW_SIDE / max(x1 - x0, y1 - y0))
        small = (max(MIN_SIDE, round((x1 - x0) * shrink)), max(MIN_SIDE, round((y1 - y0) * shrink)))
        scale = current.output.shape[0] // current.source.shape[0]  # an enlarged output is compared at the input's size
        source_prev, source_cur = (_shrink(image, roi, 1, small) for image in (previous.source, current.source))
        output_prev, output_cur = (_shrink(image, roi, scale, small) for image in (previous.output, current.output))
        grey_prev = cv2.cvtColor(source_prev, cv2.COLOR_RGB2GRAY)
        grey_cur = cv2.cvtColor(source_cur, cv2.COLOR_RGB2GRAY)
        ahead = self._flow.calc(grey_prev, grey_cur, None)  # t-1 -> t, on the t-1 grid
        back = self._flow.calc(grey_cur, grey_prev, None)  # t -> t-1, on the t grid
        grid_x, grid_y = np.meshgrid(np.arange(small[0], dtype=np.float32), np.arange(small[1], dtype=np.float32))
        map_x, map_y = grid_x + ahead[..., 0], grid_y + ahead[..., 1]
        returned = cv2.remap(back, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        loop = ((ahead + returned) ** 2).sum(axis=2)
        consistent = loop < _FB_RELATIVE * ((ahead**2).sum(axis=2) + (returned**2).sum(axis=2)) + _FB_ABSOLUTE
        inside = (map_x >= 0) & (map_x <= small[0] - 1) & (map_y >= 0) & (map_y <= small[1] - 1)
        region_prev = _face_mask(before, roi, small)
        region_cur = cv2.remap(_face_mask(after, roi, small), map_x, map_y, cv2.INTER_LINEAR)
        mask = consistent & inside & (region_prev > 0.5) & (region_cur > 0.5)
        return np.array([_squared_error(output_prev, output_cur, map_x, map_y, mask),
                         _squared_error(source_prev, source_cur, map_x, map_y, mask), float(mask.sum())])


@lru_cache(maxsize=8)
def _mask_support(size: int) -> tuple[int, int, int, int] | None:
    return mask_support(soft_mask(size) > 0.5)


def _shrink(image: np.ndarray, roi: tuple[int, int, int, int], scale: int, small: tuple[int, int]) -> np.ndarray:
    """The region ``roi`` (input pixels) of ``image`` (``scale`` times the input's size), at ``small`` (w, h)."""
    x0, y0, x1, y1 = roi
    region = image[y0 * scale:y1 * scale, x0 * scale:x1 * scale]
    return cv2.resize(region, small, interpolation=cv2.INTER_AREA)


def _face_mask(face: _Face, roi: tuple[int, int, int, int], small: tuple[int, int]) -> np.ndarray:
    """float32 [h, w]: the face's soft paste mask over the region ``roi`` shrunk to ``small`` (w, h)."""
    x0, y0 = roi[:2]
    sx, sy = (roi[2] - x0) / small[0], (roi[3] - y0) / small[1]
    # Small pixel u lies over frame pixel (u + 0.5) * s - 0.5 + x0 (INTER_AREA's grid).
    to_frame = np.array([[sx, 0, 0.5 * sx - 0.5 + x0], [0, sy, 0.5 * sy - 0.5 + y0], [0, 0, 1]], np.float64)
    to_crop = (np.asarray(face.affine, np.float64) @ to_frame).astype(np.float32)
    return cv2.warpAffine(soft_mask(face.size), to_crop, small, flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0)


def _squared_error(prev: np.ndarray, cur: np.ndarray, map_x: np.ndarray, map_y: np.ndarray, mask: np.ndarray) -> float:
    """Sum over ``mask`` of |prev - cur warped onto prev's grid|^2, averaged over channels (levels^2)."""
    warped = cv2.remap(cur, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    diff = prev.astype(np.float32)[mask] - warped.astype(np.float32)[mask]
    return float((diff * diff).sum()) / 3.0
