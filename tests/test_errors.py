"""The library's errors are also their natural built-ins: a library user catches them as any Python error."""
from __future__ import annotations

from pathlib import Path

import pytest

from gpen_video.cli import EXIT_CODES_BY_ERROR, exit_code_for
from gpen_video.config import build_settings
from gpen_video.errors import DestinationExists, GpenVideoError, InputMissing, SourceTimeout
from gpen_video.job import enhance_image, enhance_video
from gpen_video.media.reader import VideoReader
from tests.helpers.clips import make_clip
from tests.helpers.servers import silent_server

SETTINGS = build_settings(None, {"restore": {"restorer": "none"}})


def test_except_file_exists_error_catches_an_existing_destination(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "in.mp4", frames=3)
    taken = tmp_path / "out.mp4"
    taken.write_bytes(b"someone else's")
    try:
        enhance_video(clip, taken, SETTINGS)
    except FileExistsError as caught:
        assert isinstance(caught, DestinationExists) and str(taken) in str(caught)
    else:
        pytest.fail("an existing destination was overwritten")
    assert taken.read_bytes() == b"someone else's"


@pytest.mark.parametrize("job", [enhance_video, enhance_image])
def test_except_file_not_found_error_catches_a_missing_input(tmp_path: Path, job) -> None:
    with pytest.raises(FileNotFoundError) as caught:
        job(tmp_path / "missing.mp4", tmp_path / "out.mp4", SETTINGS)
    assert isinstance(caught.value, InputMissing) and "no such file" in str(caught.value)
    assert not (tmp_path / "out.mp4").exists()


def test_except_timeout_error_catches_a_silent_source() -> None:
    with silent_server() as server, pytest.raises(TimeoutError) as caught:
        VideoReader(server.url(), io_timeout=0.5)
    assert isinstance(caught.value, SourceTimeout) and caught.value.seconds == 0.5


def test_bad_input_is_a_value_error_and_keeps_its_exit_code() -> None:
    with pytest.raises(ValueError) as caught:
        build_settings(None, {"faces": {"det_size": -1}})
    assert isinstance(caught.value, GpenVideoError) and exit_code_for(caught.value) == 2


def test_every_error_type_has_an_exit_code() -> None:
    import gpen_video.errors as errors

    kinds = [v for v in vars(errors).values() if isinstance(v, type) and issubclass(v, GpenVideoError)]
    assert len(kinds) > 10
    assert all(any(issubclass(kind, row) for row, _ in EXIT_CODES_BY_ERROR) for kind in kinds)
