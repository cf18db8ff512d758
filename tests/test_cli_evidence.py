"""The command's mask, marks and forensic preset: the files land beside the output under the one destination
policy, and a bad destination is a one-line error with exit code 2 that leaves nothing behind."""
from __future__ import annotations

import shutil
from pathlib import Path

import av
import pytest

from gpen_video.config import build_settings
from tests.helpers.cli import assert_one_line_error, run_cli
from tests.helpers.paths import DATA

CLIP = DATA / "talking_head_844.mp4"


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def test_the_forensic_preset_is_lossless_modest_and_writes_everything_beside_the_output():
    settings = build_settings("forensic")
    assert (settings.encode.codec, settings.encode.pix_fmt) == ("ffv1", "yuv420p")
    assert settings.faces.alpha == 0.8 and settings.upscale.scale == 1
    assert settings.output.mask and settings.output.marked_copy and settings.output.gallery


def test_forensic_run_writes_the_mask_marked_copy_and_gallery_beside_the_output(tmp_path: Path) -> None:
    out = tmp_path / "out.mkv"
    args = (CLIP, out, "--config", "forensic", "--restorer", "none", "--end", "0.12", "-q")
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.faces", "out.marked.mkv", "out.mask.mkv", "out.mkv"]
    assert frame_count(out) == frame_count(tmp_path / "out.mask.mkv") == frame_count(tmp_path / "out.marked.mkv") == 3
    with av.open(str(tmp_path / "out.mask.mkv")) as mask:
        assert (mask.streams.video[0].codec_context.name, mask.streams.video[0].format.name) == ("ffv1", "gray")
    again = run_cli(*args)  # nothing is replaced without -y
    assert_one_line_error(again, 2)


@pytest.mark.parametrize(("extra", "needle"), [
    (["--mask-out", "{out}"], "different file"),
    (["--mask-out", "{tmp}/m.mkv", "--mark-out", "{tmp}/m.mkv"], "different file"),
    (["--mask-out", "{input}"], "over the input"),
    (["--mark-out", "{tmp}/taken.mkv"], "exists"),
    (["--mask-out", "{tmp}/missing/m.mkv"], "does not exist"),
    (["--mask-out", "{tmp}/m.mkv", "--compare"], "not with --compare"),
    (["--mark", "--redact", "all"], "hidden"),
    (["--faces-out", "{tmp}/m.mkv", "--mask-out", "{tmp}/m.mkv"], "folder of its own"),
])
def test_bad_evidence_destinations_fail_with_one_line_and_leave_nothing(tmp_path: Path, extra: list[str],
                                                                        needle: str) -> None:
    source = tmp_path / "in.mp4"
    shutil.copy(CLIP, source)
    (tmp_path / "taken.mkv").write_bytes(b"keep me")
    names = {"out": tmp_path / "out.mkv", "tmp": tmp_path, "input": source}
    result = run_cli(source, names["out"], "--restorer", "none", "--end", "0.08",
                     *(arg.format(**names) for arg in extra))
    assert_one_line_error(result, 2)
    assert needle in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.mp4", "taken.mkv"]
    assert (tmp_path / "taken.mkv").read_bytes() == b"keep me"


def test_mask_and_marks_are_for_videos_only(tmp_path: Path) -> None:
    picture = tmp_path / "in.png"
    shutil.copy(DATA / "Solvay_conference_1927.png", picture)
    result = run_cli(picture, tmp_path / "out.png", "--mark", "--restorer", "none")
    assert_one_line_error(result, 2)
    assert "videos only" in result.stderr
