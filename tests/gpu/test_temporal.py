"""gpu.temporal.TorchTemporalBlender on CPU tensors against faces.temporal.TemporalBlender, on real crops."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import torch

from gpen_video.faces.align import affine_scale, align_face
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.temporal import TemporalBlender
from gpen_video.gpu.temporal import TorchTemporalBlender
from tests.helpers.real_media import video_frames

FRAMES = 8


@pytest.fixture(scope="module")
def tracks() -> list[list[tuple[np.ndarray, np.ndarray, float]]]:
    """Two tracks of (aligned crop, restored crop, magnification) over FRAMES real frames: a 512 px talking
    head that blinks and turns at full size and shrunk to a quarter (a small face enlarged into the crop).
    The restorer sharpens and invents a new tone and texture on every frame, as a GAN does."""
    rng = np.random.default_rng(0)
    detector = RetinaFaceOnnx(det_size=640)
    out = []
    for shrink in (1, 4):
        track = []
        for image in video_frames("lp_d9_3s.mp4", FRAMES):
            image = cv2.resize(image, None, fx=1 / shrink, fy=1 / shrink, interpolation=cv2.INTER_AREA)
            crop, affine = align_face(image, detector.detect([image])[0][0].landmarks, 256)
            pixels = crop.astype(np.float32)
            noise = cv2.GaussianBlur(rng.normal(0, 6, crop.shape).astype(np.float32), (0, 0), 1.0)
            restored = 2 * pixels - cv2.GaussianBlur(pixels, (0, 0), 2.0) + rng.uniform(-8, 8) + 2 * noise
            track.append((crop, np.clip(np.rint(restored), 0, 255).astype(np.uint8), affine_scale(affine)))
        out.append(track)
    return out


def test_the_torch_blender_equals_the_numpy_blender_within_a_level(tracks):
    host, device = TemporalBlender(0.85), TorchTemporalBlender(0.85)
    changed = 0.0
    for frame in range(FRAMES):
        faces = [track[frame] for track in tracks]
        want = [host.blend(tid, crop, restored, scale) for tid, (crop, restored, scale) in enumerate(faces)]
        got = device.blend_faces([0, 1], [torch.from_numpy(f[0]) for f in faces], [torch.from_numpy(f[1]) for f in faces],
                                 [f[2] for f in faces])
        assert len(got) == 2 and all(g.dtype == torch.uint8 and g.shape == (256, 256, 3) for g in got)
        for k in range(2):
            diff = np.abs(got[k].numpy().astype(np.int16) - want[k])
            assert diff.max() <= 1, (frame, k, diff.max(), np.mean(diff > 0))
            changed = max(changed, float(np.abs(want[k].astype(np.int16) - faces[k][1]).mean()))
    assert changed > 1.0  # the history really changed the restorer's output


def test_the_torch_blender_follows_strength_and_resets(tracks):
    blender = TorchTemporalBlender(0.0)
    crop, restored, scale = tracks[0][0]
    r = torch.from_numpy(restored)
    assert blender.blend_faces([0], [r], [r], [scale])[0] is r  # off: the restorer's output itself
    assert blender.blend_faces([], [], [], []) == []
    blender.set_strength(1.0)
    assert torch.equal(blender.blend(0, torch.from_numpy(crop), r, scale), r)  # a new track
    blender.retain([])
    crop2, restored2, scale2 = tracks[0][1]
    assert torch.equal(blender.blend(0, torch.from_numpy(crop2), torch.from_numpy(restored2), scale2),
                       torch.from_numpy(restored2))  # forgotten: new again
