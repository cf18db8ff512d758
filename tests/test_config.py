"""Settings: defaults, TOML presets, command-line precedence and key validation."""
from __future__ import annotations

from pathlib import Path

import pytest

from gpen_video.config import Settings, build_settings, preset_names
from gpen_video.errors import InputError


@pytest.mark.parametrize("name", ["default", "film", "surveillance", "webcam"])
def test_every_shipped_preset_loads(name: str) -> None:
    assert name in preset_names()
    build_settings(name)


def test_default_preset_equals_builtin_defaults() -> None:
    assert build_settings("default") == Settings()


def test_command_line_overrides_file_which_overrides_defaults(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('[faces]\nsmooth = 2\ntemporal = 0.25\n[restore]\nbatch_size = 3\n')
    settings = build_settings(config, {"faces": {"smooth": 0.1}})
    assert settings.faces.smooth == 0.1  # command line wins
    assert settings.faces.temporal == 0.25  # from the file
    assert settings.restore.batch_size == 3
    assert settings.faces.alpha == Settings().faces.alpha  # untouched default


@pytest.mark.parametrize(
    "text, needle",
    [
        ("[faces]\nsmoth = 1\n", "faces.smoth"),
        ("[facez]\nsmooth = 1\n", "facez"),
        ("[faces]\nsmooth = 'high'\n", "faces.smooth"),
        ("[restore]\nbatch_size = 0\n", "batch size"),
        ("[restore]\nframe_path = 'gpu'\n", "frame path"),
        ("[faces\n", "not valid TOML"),
    ],
)
def test_bad_config_names_the_problem(tmp_path: Path, text: str, needle: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(text)
    with pytest.raises(InputError, match=needle.replace(".", r"\.")):
        build_settings(config)


def test_missing_config_file() -> None:
    with pytest.raises(InputError, match="not found"):
        build_settings("/nonexistent/preset.toml")


@pytest.mark.parametrize("kind", ["dev-zero", "fifo", "folder", "huge"])
def test_config_must_be_a_small_regular_file(tmp_path: Path, kind: str) -> None:
    import os

    path = {"dev-zero": Path("/dev/zero"), "fifo": tmp_path / "p.toml", "folder": tmp_path, "huge": tmp_path / "h.toml"}[kind]
    if kind == "fifo":
        os.mkfifo(path)  # opening it would block forever: it must be refused without being opened
    if kind == "huge":
        path.write_text("# padding\n" * 200_000)
    with pytest.raises(InputError, match="not a regular file|larger than"):
        build_settings(path)


@pytest.mark.parametrize("section, key, value", [("encode", "bitrate", -5), ("encode", "bitrate", 0),
                                                 ("input", "io_timeout", 0), ("input", "io_timeout", -1.5)])
def test_an_option_out_of_range_is_blamed_by_name(section: str, key: str, value: float) -> None:
    with pytest.raises(InputError, match=f"^{key.replace('_', ' ')} must be positive"):
        build_settings(None, {section: {key: value}})


@pytest.mark.parametrize("faces, needle", [
    ({"keep_threshold": 0.95}, "keep threshold <= start threshold"),  # start (0.9) below keep: no hysteresis
    ({"start_threshold": 1.0}, "start threshold < 1"),
    ({"confirm_frames": 0}, "confirm frames"),
    ({"fade_frames": -1}, "fade frames"),
    ({"yaw_full": 80.0}, "yaw full <= yaw zero"),
    ({"color": "sepia"}, "color must be one of auto, input, restored"),
])
def test_face_gate_settings_are_checked(faces: dict, needle: str) -> None:
    with pytest.raises(InputError, match=needle):
        build_settings(None, {"faces": faces})


def test_the_old_single_threshold_is_gone_with_a_clear_error(tmp_path: Path) -> None:
    config = tmp_path / "old.toml"
    config.write_text("[faces]\ndet_threshold = 0.5\n")
    with pytest.raises(InputError, match="unknown config key 'faces.det_threshold' .replaced by faces.start_threshold and faces.keep_threshold"):
        build_settings(config)


@pytest.mark.parametrize("value", [float("inf"), float("-inf"), float("nan")])
def test_non_finite_numbers_are_refused(value: float) -> None:
    with pytest.raises(InputError, match="faces.smooth.*finite"):
        build_settings(None, {"faces": {"smooth": value}})


def test_webcam_preset_and_live_validation() -> None:
    settings = build_settings("webcam")
    assert settings.restore.model == "GPEN-BFR-256" and settings.restore.batch_size == 1
    assert settings.faces.detect_every > 1 and settings.faces.det_size <= 320
    assert settings.live.max_in_flight >= 1 and settings.live.reconnect_seconds > 0
    with pytest.raises(InputError, match="in flight"):
        build_settings("webcam", {"live": {"max_in_flight": 0}})
    with pytest.raises(InputError, match="reconnect"):
        build_settings("webcam", {"live": {"reconnect_seconds": -1}})
