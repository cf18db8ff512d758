"""The temporal blender (``faces.temporal``) on a torch device: the same maths, the crops and bands kept there.

Everything that touches a crop-sized array runs on the device: the residual and its three bands, the
grey input, the warps that follow the flow, the match tests and the running means. Only the optical
flow runs on the host (OpenCV's Farnebäck, as in ``faces.temporal``), on grey thumbnails of at most
``_FLOW_SIZE`` px: one download of every face's thumbnails per frame, and one upload of their flows.
The constants and the flow come from ``faces.temporal``, so both blenders follow one definition.

Resampling follows OpenCV's exactly where it can: RGB -> grey in OpenCV's fixed point; INTER_AREA
shrinking as a product with an area-weight matrix; INTER_LINEAR resizing as ``interpolate`` (half-pixel
centres, no anti-aliasing); ``remap`` with its coordinates rounded to OpenCV's 1/32 px. Against the
numpy blender on real crops the output is within one level (tests/gpu/test_temporal.py).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..faces.temporal import (_FLOW_SIZE, _HIGH_FRAMES, _LOW_FRAMES, _LOW_SIDE, _LOW_TOLERANCE, _TOLERANCE,
                              _TONE_TOLERANCE, TemporalBlender, _flow)

_REMAP_STEPS = 32  # OpenCV's remap works at 1/32 px


@dataclass
class _Band:
    values: Tensor  # float32 [C, N, N] the blended band
    count: Tensor  # float32 [1, N, N] how many frames each pixel's value stands for (>= 1)


@dataclass
class _TrackState:
    grey: Tensor  # float32 [1, S, S] grey input crop (whole levels)
    high: _Band  # [S, S] the residual's high band
    low: _Band  # [L, L] its low band, on the low grid, less the tone
    tone: Tensor  # float32 [3] the residual's blended mean over the crop, per channel
    tone_count: float  # how many frames the tone stands for (>= 1)


class TorchTemporalBlender(TemporalBlender):
    """``faces.temporal.TemporalBlender`` for uint8 [S, S, 3] crops that are tensors on one device.

    Strength, resets and the tracks kept are the numpy blender's; ``blend_faces`` blends one frame's
    faces with one host round trip for their flows.
    """

    def blend(self, track_id: int, source: Tensor, restored: Tensor, magnification: float = 1.0) -> Tensor:
        """One face: ``blend_faces`` of one."""
        return self.blend_faces([track_id], [source], [restored], [magnification])[0]

    @torch.inference_mode()
    def blend_faces(self, track_ids: Sequence[int], sources: Sequence[Tensor], restored: Sequence[Tensor],
                    magnifications: Sequence[float]) -> list[Tensor]:
        """Blend one frame's restored crops with their tracks' histories (as ``TemporalBlender.blend`` each),
        with one host round trip for all their flows.

        Args:
            track_ids: N distinct track ids.
            sources: N uint8 [S, S, 3] the aligned input crops the restorer was given.
            restored: N uint8 [S, S, 3] the restorer's output for them, on the same device.
            magnifications: N crop pixels per frame pixel.

        Returns:
            N uint8 [S, S, 3]; ``restored``'s own crops when blending is off or a track is new.
        """
        strength = self.strength  # read once: the controls may change it meanwhile
        if strength == 0.0 or len(track_ids) == 0:
            return list(restored)
        sources, restored = torch.stack(list(sources)), torch.stack(list(restored))
        size = sources.shape[1]
        greys = _grey(sources)  # [N, 1, S, S]
        residuals = (restored.float() - sources.float()).permute(0, 3, 1, 2)  # [N, 3, S, S]
        previous = [self._tracks.get(tid) for tid in track_ids]
        previous = [None if prev is None or prev.grey.shape != greys[0].shape else prev for prev in previous]
        pixels = [max(1.0, float(m)) for m in magnifications]
        sides = [min(_FLOW_SIZE, size, int(round(size / pixel))) for pixel in pixels]
        flows = _flows([(greys[k], prev.grey, side) for k, (prev, side) in enumerate(zip(previous, sides))
                        if prev is not None])
        out = list(restored)
        for k, tid in enumerate(track_ids):
            low = _shrink(residuals[k], _LOW_SIDE)
            high = residuals[k] - _enlarge(low, size)
            tone = low.mean(dim=(1, 2))
            low = low - tone[:, None, None]
            prev = previous[k]
            if prev is None:
                ones = torch.ones_like
                self._tracks[tid] = _TrackState(greys[k], _Band(high, ones(high[:1])), _Band(low, ones(low[:1])),
                                                tone, 1.0)
                continue
            back = flows.pop(0)
            grid = _follow(back, size)
            warped_grey = _remap(prev.grey, grid)
            trust = _texture_match(greys[k], warped_grey, pixels[k])
            high = _recursive(high, _warped(prev.high, grid), trust, strength * _HIGH_FRAMES)
            grid_grey, warped_grid = _shrink(greys[k], _LOW_SIDE), _shrink(warped_grey, _LOW_SIDE)
            trust = _match(grid_grey, warped_grid, _LOW_TOLERANCE)
            low = _recursive(low, _warped(prev.low, _follow(back, _LOW_SIDE)), trust, strength * _LOW_FRAMES)
            count = min(_face_match(grid_grey, warped_grid) * prev.tone_count, strength * _LOW_FRAMES)
            tone = tone + (prev.tone - tone) * (count / (count + 1.0))
            self._tracks[tid] = _TrackState(greys[k], high, low, tone, count + 1.0)
            blended = high.values + _enlarge(low.values + tone[:, None, None], size)
            out[k] = (sources[k].float() + blended.permute(1, 2, 0)).round_().clamp_(0, 255).to(torch.uint8)
        return out


def _grey(crops: Tensor) -> Tensor:
    """uint8 [N, S, S, 3] RGB -> float32 [N, 1, S, S] grey, in OpenCV's fixed point (``COLOR_RGB2GRAY``)."""
    r, g, b = crops.to(torch.int32).unbind(-1)
    return ((r * 4899 + g * 9617 + b * 1868 + 8192) >> 14).float()[:, None]


def _flows(pairs: list[tuple[Tensor, Tensor, int]]) -> list[Tensor]:
    """Per (current grey, previous grey, side): the flow float32 [2, F, F] on the device, from the current
    thumbnail to the previous one (``faces.temporal._flow``); one download and one upload for them all."""
    if not pairs:
        return []
    thumbs = [_shrink(grey, side).round_().to(torch.uint8).reshape(-1) for cur, prev, side in pairs
              for grey in (cur, prev)]
    host = torch.cat(thumbs).cpu().numpy()  # the blender's one host round trip per frame
    flows, offset = [], 0
    for _, _, side in pairs:
        cur, prev = (host[offset + i * side * side: offset + (i + 1) * side * side].reshape(side, side) for i in (0, 1))
        flows.append(_flow(cur, prev))
        offset += 2 * side * side
    device = pairs[0][0].device
    stacked = torch.from_numpy(np.concatenate([f.reshape(-1) for f in flows])).to(device)
    out, offset = [], 0
    for f in flows:
        side = f.shape[0]
        out.append(stacked[offset: offset + side * side * 2].view(side, side, 2).permute(2, 0, 1))
        offset += side * side * 2
    return out


@lru_cache(maxsize=16)
def _area_weights(size: int, side: int, device: torch.device) -> Tensor:
    """float32 [side, size]: row i averages input pixels [i s, (i + 1) s), s = size / side, by their
    overlap (OpenCV's INTER_AREA for shrinking)."""
    scale = size / side
    edges = np.arange(side + 1) * scale
    pixels = np.arange(size)
    overlap = np.clip(np.minimum(edges[1:, None], pixels + 1) - np.maximum(edges[:-1, None], pixels), 0.0, None)
    return torch.from_numpy((overlap / scale).astype(np.float32)).to(device)


def _shrink(image: Tensor, side: int) -> Tensor:
    """float [C, S, S] -> [C, side, side] averaged by area (side <= S; the image itself at its own size)."""
    size = image.shape[-1]
    if side == size:
        return image
    weights = _area_weights(size, side, image.device)
    return weights @ image.float() @ weights.T


def _enlarge(image: Tensor, size: int) -> Tensor:
    """float [C, N, N] -> [C, size, size], bilinear with half-pixel centres (OpenCV's INTER_LINEAR)."""
    if image.shape[-1] == size:
        return image
    return F.interpolate(image[None], size=(size, size), mode="bilinear", align_corners=False)[0]


def _follow(flow: Tensor, side: int) -> Tensor:
    """Sampling grid [1, side, side, 2] (``grid_sample``, align_corners=True) that follows a flow field
    float32 [2, F, F] given on another grid: where each pixel was in the previous crop."""
    scale = side / flow.shape[-1]
    if flow.shape[-1] != side:
        flow = F.interpolate(flow[None], size=(side, side), mode="bilinear", align_corners=False)[0]
    coords = torch.arange(side, dtype=torch.float32, device=flow.device)
    x = flow[0] * scale + coords[None, :]
    y = flow[1] * scale + coords[:, None]
    xy = torch.stack([x, y], -1).mul_(_REMAP_STEPS).round_().div_(_REMAP_STEPS)  # OpenCV's remap precision
    return (xy * (2.0 / max(side - 1, 1)) - 1.0)[None]


def _remap(image: Tensor, grid: Tensor) -> Tensor:
    """float [C, N, N] sampled at ``grid`` (``_follow``), bilinear, borders replicated."""
    return F.grid_sample(image[None], grid, mode="bilinear", padding_mode="border", align_corners=True)[0]


def _warped(band: _Band, grid: Tensor) -> _Band:
    """A band moved onto the current crop."""
    return _Band(_remap(band.values, grid), _remap(band.count, grid))


def _match(cur: Tensor, warped_prev: Tensor, tolerance: float) -> Tensor:
    """float32 [1, N, N] in [0, 1] (``faces.temporal._match``)."""
    diff = cur - warped_prev
    diff = (diff - diff.mean()) * (1.0 / tolerance)
    return torch.exp(-(diff * diff))


def _face_match(cur: Tensor, warped_prev: Tensor) -> float:
    """``faces.temporal._face_match`` for float [1, L, L] grey crops on the low grid (one host sync)."""
    middle = slice(_LOW_SIDE // 4, _LOW_SIDE - _LOW_SIDE // 4)
    diff = (cur - warped_prev)[0, middle, middle].reshape(-1)
    typical = torch.quantile((diff - torch.quantile(diff, 0.5)).abs(), 0.5)  # numpy's median: the mean of the two middle
    return float(torch.exp(-(typical / _TONE_TOLERANCE) ** 2))


def _texture_match(cur: Tensor, warped_prev: Tensor, pixel: float) -> Tensor:
    """``faces.temporal.texture_match`` for float [1, S, S] grey crops."""
    size = cur.shape[-1]
    side = max(16, int(round(2.0 * size / pixel)))
    if side >= size:
        return _match(cur, warped_prev, _TOLERANCE)
    return _enlarge(_match(_shrink(cur, side), _shrink(warped_prev, side), _TOLERANCE), size)


def _recursive(band: Tensor, history: _Band, trust: Tensor, most_frames: float) -> _Band:
    """One step of the running mean that forgets (``faces.temporal._recursive``)."""
    count = torch.clamp(trust * history.count, max=most_frames)
    weight = count / (count + 1.0)
    return _Band(band + (history.values - band) * weight, count + 1.0)
