"""Pass-through restorer: detect -> align -> paste back must reproduce the input faces."""
import numpy as np
import pytest

from gpen_video.faces.align import align_face
from gpen_video.faces.detect import RetinaFaceOnnx
from gpen_video.faces.paste import paste_faces
from gpen_video.review.metrics import psnr
from tests.helpers.real_media import solvay, video_frames


def _face_mask(shape, dets):
    mask = np.zeros(shape[:2], bool)
    for d in dets:
        x0, y0, x1, y1 = np.round(d.box).astype(int)
        mask[max(y0, 0) : max(y1, 0), max(x0, 0) : max(x1, 0)] = True
    return mask


@pytest.mark.parametrize(
    "name", ["solvay", "crowd_1080p.mp4", "talking_head_844.mp4"]
)
def test_passthrough_psnr_over_faces(name):
    image = solvay() if name == "solvay" else video_frames(name, 3)[2]
    dets = RetinaFaceOnnx(det_size=0 if name == "solvay" else 640).detect([image])[0]
    assert dets
    out = paste_faces(image, [align_face(image, d.landmarks, 512) for d in dets])
    value = psnr(out, image, _face_mask(image.shape, dets))
    print(f"\n{name}: {len(dets)} faces, pass-through PSNR over faces {value:.2f} dB")
    assert value >= 45.0
