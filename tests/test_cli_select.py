"""The command's face choice and hiding options: checked before any work, and what the report says."""
from __future__ import annotations

import json

from gpen_video.config import Settings
from gpen_video.faces.fingerprint import run_fingerprint
from tests.helpers.cli import assert_one_line_error, run_cli
from tests.helpers.paths import DATA

CLIP = DATA / "lp_d9_3s.mp4"


def _gallery(folder, faces) -> str:
    """A gallery index.json of a run on CLIP with ``faces`` settings, holding tracks 0 and 1."""
    folder.mkdir()
    fingerprint = run_fingerprint(CLIP, faces).to_dict()
    (folder / "index.json").write_text(json.dumps({"fingerprint": fingerprint,
                                                   "tracks": [{"track_id": 0}, {"track_id": 1}]}))
    return str(folder / "index.json")


def test_a_gallery_of_other_tracking_settings_is_refused_before_any_work(tmp_path):
    from dataclasses import replace

    index = _gallery(tmp_path / "faces", replace(Settings().faces, det_size=320))
    result = run_cli(CLIP, tmp_path / "out.mp4", "--tracks-from", index)
    assert_one_line_error(result, 2)
    assert "other tracking settings (det_size 320 -> 640)" in result.stderr
    assert not (tmp_path / "out.mp4").exists()


def test_bad_choices_are_usage_errors(tmp_path):
    index = _gallery(tmp_path / "faces", Settings().faces)
    for args, words in ((["--tracks", "3,x"], "track ids"), (["--pick", "1"], "--pick needs --tracks-from"),
                        (["--tracks-from", index, "--pick", "7"], "has no track 7"),
                        (["--redact", "some"], "redact must be one of"),
                        (["--redact", "all", "--redact-style", "paint"], "redact style must be one of")):
        result = run_cli(CLIP, tmp_path / "out.mp4", *args)
        assert_one_line_error(result, 2)
        assert words in result.stderr


def test_the_report_counts_what_was_hidden(tmp_path):
    report = tmp_path / "run.json"
    result = run_cli(CLIP, tmp_path / "out.mp4", "--restorer", "none", "--redact", "all", "--end", "0.5",
                     "--report", report, "-q")
    assert result.returncode == 0, result.stderr
    hidden = json.loads(report.read_text())["redaction"]
    assert hidden["faces"] == 1 and hidden["frames"] == 15 and hidden["bridged_frames"] == []
    assert json.loads(report.read_text())["settings"]["redact"]["mode"] == "all"


def test_a_gallery_without_a_fingerprint_is_refused(tmp_path):
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "index.json").write_text(json.dumps({"tracks": [{"track_id": 0}]}))
    result = run_cli(CLIP, tmp_path / "out.mp4", "--tracks-from", folder / "index.json")
    assert_one_line_error(result, 2)
    assert "is not a gallery index.json" in result.stderr
