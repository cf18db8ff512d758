"""faces.settings: the [faces] section checks its own names, before any engine is built."""
from __future__ import annotations

import pytest

from gpen_video.config import build_settings
from gpen_video.errors import InputError
from gpen_video.faces.settings import DETECTOR_NAMES, FaceSettings, face_checks


def test_an_unknown_detector_is_refused_with_the_settings() -> None:
    with pytest.raises(InputError, match="detector must be one of retinaface, .*got 'retina'"):
        build_settings(None, {"faces": {"detector": "retina"}})


def test_every_accepted_name_passes_its_checks() -> None:
    for name in DETECTOR_NAMES:
        assert all(ok for ok, _ in face_checks(FaceSettings(detector=name)))
    assert not all(ok for ok, _ in face_checks(FaceSettings(mask="square")))
