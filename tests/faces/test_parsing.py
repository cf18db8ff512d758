import numpy as np
import pytest

from gpen_video.errors import WeightsError
from gpen_video.faces.paste import soft_mask


@pytest.mark.slow
def test_face_parser_masks_shape_range_and_border(tmp_path):
    torch = pytest.importorskip("torch")
    from facexlib.parsing.parsenet import ParseNet

    from gpen_video.faces.parsing import FaceParser

    torch.manual_seed(0)
    path = tmp_path / "parsenet.pth"
    torch.save(ParseNet(in_size=512, out_size=512, parsing_ch=19).state_dict(), path)  # random weights
    parser = FaceParser(path, "cpu")
    crops = np.random.default_rng(0).integers(0, 256, (1, 128, 128, 3)).astype(np.uint8)
    masks = parser.masks(crops)
    assert masks.shape == (1, 128, 128) and masks.dtype == np.float32
    assert masks.min() >= 0.0 and masks.max() <= 1.0
    assert np.all(masks <= soft_mask(128) + 1e-6)  # never beyond the geometric mask's border
    assert parser.masks(np.zeros((0, 128, 128, 3), np.uint8)).shape == (0, 128, 128)
    torch.save({"x": torch.zeros(1)}, tmp_path / "bad.pth")
    with pytest.raises(WeightsError):
        FaceParser(tmp_path / "bad.pth")
