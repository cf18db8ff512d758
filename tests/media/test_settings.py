"""media.settings: [input] owns deinterlacing; the settings read without PyAV."""
from __future__ import annotations

import subprocess
import sys

import pytest

from gpen_video.config import build_settings
from gpen_video.errors import InputError
from tests.helpers.paths import ROOT


def test_deinterlace_belongs_to_input_and_the_old_key_names_its_place() -> None:
    assert build_settings(None, {"input": {"deinterlace": False}}).input.deinterlace is False
    with pytest.raises(InputError, match=r"encode\.deinterlace'.*replaced by input\.deinterlace"):
        build_settings(None, {"encode": {"deinterlace": False}})


def test_reading_the_settings_loads_neither_pyav_nor_torch() -> None:
    code = ("import sys; from gpen_video.config import build_settings; build_settings('film'); "
            "print(sorted(m for m in ('av', 'torch', 'cv2', 'numpy') if m in sys.modules))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                            cwd=ROOT).stdout.strip()
    assert loaded == "[]"
