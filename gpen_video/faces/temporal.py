"""Per-track temporal blending of what the restorer changed, in aligned (crop) coordinates.

A restorer run frame by frame invents slightly different texture and tone each time, which shows as
flicker. Only that invention is smoothed: the blender works on the restorer's *residual* (restored
crop − input crop), so the output always follows the input's real motion. The residual is split in
three bands that flicker differently:

- the tone (its mean over the whole crop, per channel: the face's overall tone and colour), which
  neither motion nor misalignment affects: it needs no warp, and it is blended unless the face as a
  whole stops showing what it showed (its typical coarse cell changed: another person); a blink, a
  passing hand or a background that moves on its own do not stop it;
- the low band (the rest of its averages on a coarse grid: shading), which misalignment barely
  affects: it is blended strongly, also while the face moves, and only a real change of the input
  at that scale (a blink, an opening mouth, something passing) stops it;
- the high band (texture), blended only where the previous input, warped onto the current one by
  dense optical flow, matches it to within a few levels at the source's resolution: a moved edge the
  flow missed, a blink or the mouth use the current residual alone.

Each band keeps, per pixel (the tone: per channel), a running mean that forgets: the history weighs
as many frames as it has seen (fewer where the match was poor), up to a cap set by the strength. The whole crop is blended,
hair, jaw and background included, since the paste changes all of it. A global tone change of the
input is not motion and does not stop blending.
"""
from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache

import cv2
import numpy as np

# Most frames a band's history stands for (at strength 1): the tone and the low band (shading)
# hardly care about small misalignment, the high band (texture) does; over many frames the low
# band drifts too. (A tone history of 10 frames added 0.3 dB on the crowd clip but made more
# frames worse than unblended where the restorer's current tone happened to be right.)
_LOW_FRAMES = 6.0
_HIGH_FRAMES = 4.0
# Side (cells) of the grid that holds the low band: a 512 crop's band is its 16-px averages.
_LOW_SIDE = 32
# Input difference (0-255 units) at which a band's history counts 1/e as much: the high band's at
# half a source pixel, the low band's on the low grid.
_TOLERANCE = 4.0
_LOW_TOLERANCE = 12.0
# The tone's test, on the typical (median) low-grid cell of the face: after the flow the same face's
# differs by about 3 levels (codec noise, misfit), another person's by 11-14.
_TONE_TOLERANCE = 8.0
# Largest side (px) at which optical flow is computed, then scaled up; a face smaller in the frame
# than the crop gets its own size.
_FLOW_SIZE = 160
# Side (px) at which the report's face region is drawn, then scaled up.
_REGION_SIZE = 128


@dataclass
class _Band:
    values: np.ndarray  # float32 [N, N, 3] the blended band
    count: np.ndarray  # float32 [N, N] how many frames each pixel's value stands for (>= 1)

    def warped(self, map_x: np.ndarray, map_y: np.ndarray) -> _Band:
        """The band moved onto the current crop by remap tables float32 [N, N]."""
        return _Band(*(cv2.remap(a, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
                       for a in (self.values, self.count)))


@dataclass
class _Tone:
    values: np.ndarray  # float32 [3] the blended mean of the residual over the crop, per channel
    count: float  # how many frames it stands for (>= 1)


@dataclass
class _TrackState:
    grey: np.ndarray  # float32 [S, S] grey input crop
    high: _Band  # [S, S] the residual's high band
    low: _Band  # [L, L] its low band, on the low grid, less the tone
    grey_u8: np.ndarray  # uint8 [S, S] grey input crop, for the optical flow
    tone: _Tone  # the residual's mean over the crop


class TemporalBlender:
    """Motion-compensated recursive blending of each track's restorer residual, in three bands.

    The residual (restored − input crop) is split into its tone (mean over the crop, per channel),
    a low band (the rest of its averages on a coarse grid: shading) and the high band that remains
    (texture). The low and high bands' histories are warped with the input's optical flow and count
    where the warped previous input matches the current one; the low band's test is made on the
    coarse grid, so it stays on while a face moves and only real change of the input there (a blink,
    an opening mouth, something passing) stops it. The tone is not warped; its history counts as far
    as the face as a whole matches (the typical coarse cell of the crop's middle half), so a
    background that changes on its own does not stop it. The whole crop is blended: the paste
    changes all of it.

    Args:
        strength: in [0, 1]; 0 turns blending off, 1 lets the tone's and the low band's history
            stand for up to 6 frames (86 % weight) and the high band's for up to 4 (80 %).
    """

    def __init__(self, strength: float = 0.7):
        self._tracks: dict[int, _TrackState] = {}
        self.strength = 0.0
        self.set_strength(strength)

    def set_strength(self, strength: float) -> None:
        """Change the strength, also while another thread blends (live mode's controls).

        Turning blending back on starts every track afresh: its history stopped when blending did.
        """
        if not 0.0 <= strength <= 1.0:
            raise ValueError(f"temporal strength must be in [0, 1], got {strength}")
        if strength and not self.strength:
            self._tracks.clear()
        self.strength = float(strength)

    def blend(
        self, track_id: int, source: np.ndarray, restored: np.ndarray, magnification: float = 1.0
    ) -> np.ndarray:
        """Blend a track's new restored crop with its history.

        Args:
            source: uint8 [S, S, 3] the aligned input crop the restorer was given.
            restored: uint8 [S, S, 3] the restorer's output for it.
            magnification: crop pixels per frame pixel: a small face enlarged into the crop has no
                detail finer than this, so its flow and its texture's motion test are computed
                nearer its own size.

        Returns:
            uint8 [S, S, 3]; ``restored`` itself when blending is off or the track is new.
        """
        strength = self.strength  # read once: the controls may change it meanwhile
        if strength == 0.0:
            return restored
        size = source.shape[0]
        residual = cv2.subtract(restored, source, dtype=cv2.CV_32F)
        low = _to_grid(residual)
        high = cv2.subtract(residual, _from_grid(low, size))
        tone = np.float32(cv2.mean(low)[:3])  # the grid's mean is the crop's
        low -= tone
        grey_u8 = cv2.cvtColor(source, cv2.COLOR_RGB2GRAY)
        grey = grey_u8.astype(np.float32)
        prev = self._tracks.get(track_id)
        if prev is None or prev.grey.shape != grey.shape:
            self._tracks[track_id] = _TrackState(grey, _first(high), _first(low), grey_u8, _Tone(tone, 1.0))
            return restored
        pixel = max(1.0, float(magnification))  # one frame pixel, in crop pixels
        side = min(_FLOW_SIZE, size, int(round(size / pixel)))
        back = _flow(_shrink(grey_u8, side), _shrink(prev.grey_u8, side))
        map_x, map_y = _maps(back, size)
        warped_grey = cv2.remap(prev.grey, map_x, map_y, cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
        # High band: at full size, strictly gated.
        trust = texture_match(grey, warped_grey, pixel)
        high = _recursive(high, prev.high.warped(map_x, map_y), trust, strength * _HIGH_FRAMES)
        # Low band: on the coarse grid, where misalignment barely shows.
        grid, warped_grid = _to_grid(grey), _to_grid(warped_grey)
        trust = _match(grid, warped_grid, _LOW_TOLERANCE)
        low = _recursive(low, prev.low.warped(*_maps(back, _LOW_SIDE)), trust, strength * _LOW_FRAMES)
        # Tone: not warped, tested on the face as a whole.
        tone = _recursive_tone(tone, prev.tone, _face_match(grid, warped_grid, _TONE_TOLERANCE),
                               strength * _LOW_FRAMES)
        self._tracks[track_id] = _TrackState(grey, high, low, grey_u8, tone)
        blended = cv2.add(high.values, _from_grid(low.values + tone.values, size))
        return cv2.add(source, blended, dtype=cv2.CV_8U)  # rounded and saturated

    def blend_faces(self, track_ids: Sequence[int], sources: Sequence[np.ndarray], restored: Sequence[np.ndarray],
                    magnifications: Sequence[float]) -> list[np.ndarray]:
        """``blend`` for each of one frame's faces (distinct tracks), in order."""
        return [self.blend(*face) for face in zip(track_ids, sources, restored, magnifications)]

    def reset(self, track_id: int | None = None) -> None:
        """Forget one track's history (it restarted), or every track's (scene cut) when None."""
        if track_id is None:
            self._tracks.clear()
        else:
            self._tracks.pop(track_id, None)

    def retain(self, alive_track_ids: Iterable[int]) -> None:
        """Drop the history of every track not in ``alive_track_ids``."""
        keep = set(alive_track_ids)
        for tid in [t for t in self._tracks if t not in keep]:
            del self._tracks[tid]

def _flow(cur: np.ndarray, prev: np.ndarray) -> np.ndarray:
    """Flow float32 [F, F, 2] from each pixel of the current grey crop to where it was in the
    previous one (Farnebäck's: on real faces it aligned texture better than DIS, at the cost of
    one DIS call with its forward-backward check; bench/bench_temporal_real.py)."""
    return cv2.calcOpticalFlowFarneback(cur, prev, None, 0.5, 3, 9, 3, 5, 1.1, 0)


def _first(band: np.ndarray) -> _Band:
    """A band after its first frame: the band itself, standing for one frame."""
    return _Band(band, np.ones(band.shape[:2], np.float32))


def _recursive(band: np.ndarray, history: _Band, trust: np.ndarray, most_frames: float) -> _Band:
    """One step of a per-pixel running mean that forgets.

    ``band`` float32 [N, N, 3] is this frame's, ``history`` the blended band warped onto this frame;
    ``trust`` [N, N] in [0, 1] scales the frames it stands for (1: aligned and unchanged, 0:
    unusable), at most ``most_frames``. The history weighs count / (count + 1): a young history is
    one frame among few.
    """
    count = cv2.min(cv2.multiply(trust, history.count), most_frames)
    weight = cv2.divide(count, cv2.add(count, 1.0))
    step = cv2.multiply(cv2.subtract(history.values, band), cv2.merge([weight] * 3))
    return _Band(cv2.add(band, step), cv2.add(count, 1.0))


def _recursive_tone(tone: np.ndarray, history: _Tone, trust: float, most_frames: float) -> _Tone:
    """``_recursive``'s step for one value per channel (float32 [3]) and a scalar ``trust``."""
    count = min(trust * history.count, most_frames)
    weight = np.float32(count / (count + 1.0))
    return _Tone(tone + weight * (history.values - tone), count + 1.0)


def _maps(flow: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray]:
    """x and y remap tables float32 [side, side] that follow a flow field given on another grid."""
    scale = side / flow.shape[0]
    if flow.shape[0] != side:
        flow = cv2.resize(flow, (side, side), interpolation=cv2.INTER_LINEAR)
    grid_x, grid_y = _grid(side)
    return cv2.scaleAdd(flow[..., 0], scale, grid_x), cv2.scaleAdd(flow[..., 1], scale, grid_y)


def _to_grid(image: np.ndarray) -> np.ndarray:
    """float32 image's averages on the low grid [L, L(, C)]."""
    return cv2.resize(image, (_LOW_SIDE, _LOW_SIDE), interpolation=cv2.INTER_AREA)


def _from_grid(low: np.ndarray, size: int) -> np.ndarray:
    """The low grid's smooth interpolation at crop size: float32 [S, S(, C)]."""
    return cv2.resize(low, (size, size), interpolation=cv2.INTER_LINEAR)


def _match(cur: np.ndarray, warped_prev: np.ndarray, tolerance: float) -> np.ndarray:
    """float32 [N, N] in [0, 1]: how well two grey images agree, their mean difference (a global
    tone change, not motion) removed; 1/e at ``tolerance`` levels apart."""
    diff = cur - warped_prev
    diff -= np.float32(cv2.mean(diff)[0])  # cv2's mean: ~10x faster than numpy's
    diff *= np.float32(1.0 / tolerance)
    return cv2.exp(-cv2.multiply(diff, diff))


def _face_match(cur: np.ndarray, warped_prev: np.ndarray, tolerance: float) -> float:
    """In [0, 1]: whether the face still shows what it showed, from two grey aligned crops on the low
    grid [L, L]: the typical (median) size of their difference over the crop's middle half (where
    the alignment puts the face), its median (a global tone change, not motion) removed; 1/e at
    ``tolerance`` levels. Another face scores near 0; a blink, a hand over part of the face or a
    background moving on its own leave it near 1."""
    middle = slice(_LOW_SIDE // 4, _LOW_SIDE - _LOW_SIDE // 4)
    diff = cur[middle, middle] - warped_prev[middle, middle]
    typical = float(np.median(np.abs(diff - np.median(diff))))
    return float(np.exp(-((typical / tolerance) ** 2)))


def _shrink(grey: np.ndarray, side: int) -> np.ndarray:
    """uint8 [side, side] copy of a grey crop (the crop itself at its own size)."""
    if grey.shape[0] == side:
        return grey
    return cv2.resize(grey, (side, side), interpolation=cv2.INTER_AREA)


@lru_cache(maxsize=4)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel x and y coordinates float32 [size, size] (shared, read-only)."""
    grid_x, grid_y = np.meshgrid(np.arange(size, dtype=np.float32), np.arange(size, dtype=np.float32))
    grid_x.setflags(write=False)
    grid_y.setflags(write=False)
    return grid_x, grid_y


def texture_match(cur: np.ndarray, warped_prev: np.ndarray, pixel: float = 1.0) -> np.ndarray:
    """How far the high band's history can be trusted, float32 [S, S] in [0, 1], from the grey input
    crops float32 [S, S] (current, and previous warped onto it).

    Judged without blur at half a source pixel (``pixel``: one source pixel in crop pixels, >= 1),
    so that a fraction of a pixel's shift of an edge the flow missed counts as motion, while a small
    face's enlarged compression noise does not. (At a whole source pixel the restorer's texture
    ghosted on the edges of small faces.)
    """
    size = cur.shape[0]
    side = max(16, int(round(2.0 * size / pixel)))
    if side >= size:
        return _match(cur, warped_prev, _TOLERANCE)
    shrunk = [cv2.resize(im, (side, side), interpolation=cv2.INTER_AREA) for im in (cur, warped_prev)]
    return cv2.resize(_match(*shrunk, _TOLERANCE), (size, size), interpolation=cv2.INTER_LINEAR)


def face_region(landmarks: np.ndarray, size: int) -> np.ndarray:
    """Feathered face region float32 [S, S] in [0, 1] of a crop, from its five landmarks (crop pixels).

    An ellipse centred between the eyes and the mouth, turned with the eye line, reaching past the
    cheeks, chin and brows: where the report measures a restorer's flicker.
    """
    points = np.asarray(landmarks, np.float64).reshape(5, 2)
    eyes, mouth = points[:2].mean(axis=0), points[3:].mean(axis=0)
    eye_line = points[1] - points[0]
    eye_distance = float(np.linalg.norm(eye_line))
    scale = _REGION_SIZE / size
    centre = (eyes + mouth) / 2 * scale
    axes = (1.25 * eye_distance * scale, 1.5 * float(np.linalg.norm(mouth - eyes)) * scale)
    angle = float(np.degrees(np.arctan2(eye_line[1], eye_line[0])))
    mask = np.zeros((_REGION_SIZE, _REGION_SIZE), np.float32)
    polygon = cv2.ellipse2Poly(
        (int(round(centre[0])), int(round(centre[1]))), (int(round(axes[0])), int(round(axes[1]))), int(round(angle)), 0, 360, 10
    )
    cv2.fillConvexPoly(mask, polygon, 1.0)
    mask = cv2.GaussianBlur(mask, (0, 0), sigmaX=_REGION_SIZE / 40)
    return cv2.resize(mask, (size, size), interpolation=cv2.INTER_LINEAR)
