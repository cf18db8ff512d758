"""Batch planning and the local (process pool) executor; these run without Ray installed."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest

from batch_clips import cut_clip
from batch_faults import faulty_cli
from cli_helpers import audio_packets, run_cli, video_pts
from gpen_video.batch import EXIT_SOME_FAILED, BatchOptions, BatchRun, collect_inputs, input_key
from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.errors import InputError
from gpen_video.job import enhance_video
from gpen_video.media.keyframes import FrameIndex, Segment, plan_segments, reader_window

FAST = ("--restorer", "none", "--preset", "ultrafast", "-q")


def frame_index(count: int, gop: int, *, exact: bool = True) -> FrameIndex:
    """25 fps at time base 1/12800 (512 ticks a frame), a keyframe every ``gop`` frames."""
    return FrameIndex(tuple(512 * i for i in range(count)), tuple(range(0, count, gop)), Fraction(1, 12800),
                      Fraction(0), Fraction(25), exact)


def test_segments_start_on_keyframes_and_cover_every_frame() -> None:
    index = frame_index(110, gop=10)  # 4.4 s, keyframes every 0.4 s
    segments = plan_segments(index, 1.0, warmup=6)
    assert [(s.start, s.end) for s in segments] == [(0, 30), (30, 60), (60, 90), (90, 110)]
    assert [s.warm for s in segments] == [0, 24, 54, 84]
    aligned = plan_segments(index, 1.0, warmup=6, detect_every=4)
    assert [s.warm for s in aligned] == [0, 24, 52, 84]  # multiples of 4: same detector frames
    assert plan_segments(index, 4.4, warmup=6) == [Segment(0, 0, 110)]  # not longer than 4.4 s
    tail = plan_segments(frame_index(95, gop=10), 1.0, warmup=6)  # 0.2 s would be left after frame 90
    assert [(s.start, s.end) for s in tail] == [(0, 30), (30, 60), (60, 95)]
    assert plan_segments(frame_index(100, 10, exact=False), 1.0, warmup=6) == [Segment(0, 0, 100)]


def test_reader_window_stops_half_a_tick_before_the_next_segment() -> None:
    index = frame_index(100, gop=10)
    start, end = reader_window(index, Segment(24, 30, 60))
    assert start == pytest.approx(24 * 0.04) and end == pytest.approx(60 * 0.04 - 1 / 25600)
    assert reader_window(index, Segment(0, 0, 30))[0] is None
    assert reader_window(index, Segment(84, 90, 100))[1] is None


def test_collect_inputs_expands_folders_and_globs(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    for name in ("x.mp4", "notes.txt", "sub/y.MKV"):
        (tmp_path / name).write_bytes(b"")
    found = dict(collect_inputs([tmp_path]))
    assert sorted(map(str, found.values())) == ["sub/y.MKV", "x.mp4"]
    assert [n for _, n in collect_inputs([str(tmp_path / "*.mp4")])] == [Path("x.mp4")]
    with pytest.raises(InputError):
        collect_inputs([str(tmp_path / "*.mov")])


def test_out_dir_inside_an_input_folder_is_not_read_back(tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    (videos / "out" / "sub").mkdir(parents=True)
    for name in ("a.mp4", "out/a.mp4", "out/sub/b.mp4"):  # out/: outputs of an earlier run
        (videos / name).write_bytes(b"")
    link = tmp_path / "link"
    link.symlink_to(videos)
    settings = build_settings(None, {"restore": {"restorer": "none"}})
    cases = [([videos], videos / "out"), ([link], videos / "out"), ([videos], link / "out"),
             ([str(videos / "**" / "*.mp4")], videos / "sub" / ".." / "out")]
    for inputs, out_dir in cases:
        sources = BatchRun(inputs, settings, BatchOptions(out_dir=out_dir)).sources
        assert [(s.resolve(), n) for s, n in sources] == [((videos / "a.mp4").resolve(), Path("a.mp4"))], out_dir
    with pytest.raises(InputError):  # only outputs given: nothing is left to do
        collect_inputs([videos / "out"], exclude=videos / "out")


def test_killed_worker_is_replaced_and_its_unit_retried(data_dir: Path, tmp_path: Path) -> None:
    head = data_dir / "talking_head_844.mp4"
    clips = [cut_clip(head, tmp_path / f"{name}.mp4", seconds=0.2) for name in ("a", "b")]
    out, marker = tmp_path / "out", tmp_path / "killed-once"
    killed = f"{input_key(clips[0])}.whole"
    # SIGKILL in the worker on the first attempt (as the OOM killer would): the pool breaks for both units
    result = run_cli("batch", *clips, "--out-dir", out, "--workers", "2", *FAST,
                     program=faulty_cli("kill", killed, marker))
    assert result.returncode == 0, result.stderr
    assert marker.exists() and "Traceback" not in result.stderr
    data = json.loads((out / "gpen-batch.json").read_text())
    units = {u["id"]: u for r in data["inputs"] for u in r["units"]}
    assert all(r["state"] == "done" for r in data["inputs"]) and units[killed]["attempts"] == 2
    for clip in clips:
        assert video_pts(out / clip.name) == video_pts(clip)


def test_local_workers_retry_skip_bad_input_and_resume(data_dir: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    head = data_dir / "talking_head_844.mp4"
    short = cut_clip(head, videos / "a.mp4", seconds=1.0)
    long = cut_clip(head, videos / "long.mp4", start=2.0, seconds=1.6, gop=10)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200)
    out, marker = tmp_path / "out", tmp_path / "failed-once"
    args = ("batch", videos, "--out-dir", out, "--workers", "2", "--segment-seconds", "0.5", *FAST)
    result = run_cli(*args, program=faulty_cli("fail", f"{input_key(long)}.s001", marker))
    assert result.returncode == EXIT_SOME_FAILED, result.stderr
    assert "failed: " in result.stderr and "broken.mp4" in result.stderr and "Traceback" not in result.stderr
    data = json.loads((out / "gpen-batch.json").read_text())
    state = {Path(r["source"]).name: r for r in data["inputs"]}
    assert state["broken.mp4"]["state"] == "failed" and "cannot open" in state["broken.mp4"]["error"]
    assert state["a.mp4"]["state"] == state["long.mp4"]["state"] == "done"
    attempts = [u["attempts"] for u in state["long.mp4"]["units"]]
    assert len(attempts) >= 2 and attempts[1] == 2 and marker.exists()  # the retry loop ran it again
    settings = build_settings(None, {"restore": {"restorer": "none"}, "encode": {"preset": "ultrafast"}})
    single = tmp_path / "single.mp4"
    enhance_video(short, single, settings, engine=Engine(settings))
    assert (out / "a.mp4").read_bytes() == single.read_bytes()
    assert video_pts(out / "long.mp4") == video_pts(long)
    assert audio_packets(out / "long.mp4") == audio_packets(long)

    stamps = {name: (out / name).stat().st_mtime_ns for name in ("a.mp4", "long.mp4")}
    again = run_cli(*args)
    assert again.returncode == EXIT_SOME_FAILED, again.stderr
    data = json.loads((out / "gpen-batch.json").read_text())
    assert data["runs"] == 2
    assert all(r["skipped"] for r in data["inputs"] if Path(r["source"]).name != "broken.mp4")
    assert stamps == {name: (out / name).stat().st_mtime_ns for name in stamps}


def test_ray_option_without_ray_is_a_usage_error(tmp_path: Path, data_dir: Path) -> None:
    shim = tmp_path / "shim"
    shim.mkdir()
    (shim / "ray.py").write_text("raise ImportError('ray is not installed')\n")
    from cli_helpers import ROOT

    result = run_cli("batch", data_dir / "talking_head_844.mp4", "--out-dir", tmp_path / "out", "--ray", "auto",
                     env={"PYTHONPATH": f"{shim}:{ROOT}"})
    assert result.returncode == 2
    assert result.stderr.strip() == "gpen-video: error: --ray needs Ray: pip install 'gpen-video[ray]'"


def test_existing_output_is_kept_without_overwrite(data_dir: Path, tmp_path: Path) -> None:
    clip = cut_clip(data_dir / "talking_head_844.mp4", tmp_path / "a.mp4", seconds=0.2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mp4").write_bytes(b"mine")
    result = run_cli("batch", clip, "--out-dir", out, *FAST)
    assert result.returncode == EXIT_SOME_FAILED and "already exists" in result.stderr
    assert (out / "a.mp4").read_bytes() == b"mine"


def test_options_out_of_range_are_usage_errors_that_name_the_flag(data_dir: Path, tmp_path: Path) -> None:
    clip = data_dir / "talking_head_844.mp4"
    for flag, value, message in (("--workers", "0", "--workers must be at least 1"),
                                 ("--segment-seconds", "0", "--segment-seconds must be positive"),
                                 ("--retries", "-1", "--retries must be 0 or more")):
        result = run_cli("batch", clip, "--out-dir", tmp_path / "out", flag, value)
        assert result.returncode == 2
        assert result.stderr.strip() == f"gpen-video: error: {message}"
