"""Batch planning and the local (process pool) executor; these run without Ray installed."""
from __future__ import annotations

import json
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.clips import make_raw_h264
from tests.helpers.paths import ROOT
from tests.helpers.real_media import cut_clip
from tests.helpers.gallery import gallery_tracks, page_images
from tests.helpers.streams import audio_packets, frame_times, video_pts
from tests.batch.faults import faulty_cli
from gpen_video.cli import EXIT_SOME_FAILED
from gpen_video.batch import BatchOptions, BatchRun, collect_inputs, input_key
from gpen_video.batch.executors.threads import cap_threads, core_shares
from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.errors import InputError
from gpen_video.job import enhance_video

FAST = ("--restorer", "none", "--preset", "ultrafast", "-q")


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
    with pytest.raises(InputError, match="lies in the output folder"):  # only outputs given: nothing to do
        collect_inputs([videos / "out"], exclude=videos / "out")


def test_out_dir_equal_to_the_input_folder_is_named(tmp_path: Path) -> None:
    (tmp_path / "a.mp4").write_bytes(b"")
    with pytest.raises(InputError, match=f"every video in the inputs lies in the output folder {tmp_path.resolve()}"):
        collect_inputs([tmp_path], exclude=tmp_path)


def test_raw_h264_stream_without_timestamps_is_one_whole_unit(tmp_path: Path) -> None:
    raw = make_raw_h264(tmp_path / "raw.h264", frames=20)
    result = run_cli("batch", raw, "--out-dir", tmp_path / "out", *FAST)
    assert result.returncode == 0, result.stderr
    data = json.loads((tmp_path / "out" / "gpen-batch.json").read_text())
    (record,) = data["inputs"]
    assert record["state"] == "done" and [u["kind"] for u in record["units"]] == ["whole"]
    assert record["frames"] == 20 and len(video_pts(tmp_path / "out" / "raw.h264")) == 20


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


def _single_run(cores: frozenset[int], source: Path, dest: Path) -> None:
    """``gpen-video enhance`` of ``source`` as the batch tests run it, in a process held to ``cores``."""
    cap_threads(cores)
    settings = build_settings(None, {"restore": {"restorer": "none"}, "encode": {"preset": "ultrafast"}})
    enhance_video(source, dest, settings, engine=Engine(settings))


def test_local_workers_retry_skip_bad_input_and_resume(data_dir: Path, tmp_path: Path) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    head = data_dir / "talking_head_844.mp4"
    short = cut_clip(head, videos / "a.mp4", seconds=1.0)
    long = cut_clip(head, videos / "long.mp4", start=2.0, seconds=1.6, gop=10)
    (videos / "broken.mp4").write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"garbage" * 200)
    out, marker, faces = tmp_path / "out", tmp_path / "failed-once", tmp_path / "faces"
    args = ("batch", videos, "--out-dir", out, "--workers", "2", "--segment-seconds", "0.5", "--faces-out", faces, *FAST)
    result = run_cli(*args, program=faulty_cli("fail", f"{input_key(long)}.s001", marker))
    assert result.returncode == EXIT_SOME_FAILED, result.stderr
    assert "failed: " in result.stderr and "broken.mp4" in result.stderr and "Traceback" not in result.stderr
    data = json.loads((out / "gpen-batch.json").read_text())
    state = {Path(r["source"]).name: r for r in data["inputs"]}
    assert state["broken.mp4"]["state"] == "failed" and "cannot open" in state["broken.mp4"]["error"]
    assert state["a.mp4"]["state"] == state["long.mp4"]["state"] == "done"
    attempts = [u["attempts"] for u in state["long.mp4"]["units"]]
    assert len(attempts) >= 2 and attempts[1] == 2 and marker.exists()  # the retry loop ran it again
    # The same file as the single command run on a worker's share of the cores (x264's output depends on
    # its thread count, which follows the cores).
    single = tmp_path / "single.mp4"
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        pool.submit(_single_run, core_shares(2)[0], short, single).result(timeout=120)
    assert (out / "a.mp4").read_bytes() == single.read_bytes()
    assert video_pts(out / "long.mp4") == video_pts(long)
    assert audio_packets(out / "long.mp4") == audio_packets(long)
    # One gallery per input; the segments' galleries merged, each entry at its frame's exact source time.
    times = [float(t) for t in frame_times(long)]
    merged = gallery_tracks(faces / input_key(long))
    assert [t["track_id"] for t in merged] == list(range(len(merged)))
    assert sorted({t["segment"] for t in merged}) == list(range(len(state["long.mp4"]["units"])))
    assert sum(t["frames"] for t in merged) == len(times)  # one face in every frame, one track per segment
    for track in merged:
        assert [track[f"{end}_seconds"] for end in ("first", "last", "best")] == \
            [times[track[f"{end}_frame"]] for end in ("first", "last", "best")]
    assert [t["segment"] for t in gallery_tracks(faces / input_key(short))] == [None]
    assert len(page_images(faces / input_key(long))) == 2 * len(merged)
    assert (faces / "index.html").read_text().count("/index.html") == 2  # links both galleries
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
    result = run_cli("batch", data_dir / "talking_head_844.mp4", "--out-dir", tmp_path / "out", "--ray", "auto",
                     env={"PYTHONPATH": f"{shim}:{ROOT}"})
    assert result.returncode == 2
    assert result.stderr.strip() == "gpen-video: error: --ray needs Ray: pip install 'gpen-video[ray]'"


def test_existing_output_is_kept_without_overwrite(data_dir: Path, tmp_path: Path) -> None:
    clip = cut_clip(data_dir / "talking_head_844.mp4", tmp_path / "a.mp4", seconds=0.2)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a.mp4").write_bytes(b"mine")
    result = run_cli("batch", clip, "--out-dir", out, "--faces-out", tmp_path / "faces", *FAST)
    assert result.returncode == EXIT_SOME_FAILED and "already exists" in result.stderr
    assert (out / "a.mp4").read_bytes() == b"mine"
    assert not (tmp_path / "faces" / input_key(clip)).exists()  # no gallery for an input whose output was refused


def test_options_out_of_range_are_usage_errors_that_name_the_flag(data_dir: Path, tmp_path: Path) -> None:
    clip = data_dir / "talking_head_844.mp4"
    for flag, value, message in (("--workers", "0", "--workers must be at least 1"),
                                 ("--segment-seconds", "0", "--segment-seconds must be positive"),
                                 ("--retries", "-1", "--retries must be 0 or more")):
        result = run_cli("batch", clip, "--out-dir", tmp_path / "out", flag, value)
        assert result.returncode == 2
        assert result.stderr.strip() == f"gpen-video: error: {message}"



def test_track_choices_and_redact_others_are_refused_with_the_reason(data_dir: Path, tmp_path: Path) -> None:
    clip = data_dir / "lp_d9_3s.mp4"
    for args, words in ((["--tracks", "3"], "--tracks is not a batch option: track ids name faces of one input"),
                        (["--tracks-from", "faces/index.json"], "--tracks-from is not a batch option"),
                        (["--redact", "others"], "batch takes no --redact others")):
        result = run_cli("batch", clip, "--out-dir", tmp_path / "out", *args)
        assert result.returncode == 2 and words in result.stderr, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_redact_all_hides_every_face_and_never_splits_a_video(data_dir: Path, tmp_path: Path) -> None:
    """A 3 s clip that --segment-seconds 1 would cut into segments is one unit when faces are hidden (the
    look-ahead must not stop at a segment's end), and the detector at twice the default size finds no face."""
    from gpen_video.config import Settings
    from gpen_video.faces.detect import RetinaFaceOnnx
    from tests.helpers.real_media import video_frames

    clip = data_dir / "lp_d9_3s.mp4"
    out = tmp_path / "out"
    result = run_cli("batch", clip, "--out-dir", out, "--segment-seconds", "1", "--redact", "all",
                     "--redact-style", "pixelate", *FAST)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "gpen-batch.json").read_text())
    (record,) = manifest["inputs"].values() if isinstance(manifest["inputs"], dict) else manifest["inputs"]
    assert [unit["kind"] for unit in record["units"]] == ["whole"]
    detector = RetinaFaceOnnx(det_size=2 * Settings().faces.det_size, score_threshold=0.05)
    import av

    with av.open(str(out / clip.name)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 90
    assert max((hit.score for hits in detector.detect(frames) for hit in hits), default=0.0) < 0.5
    assert max(hit.score for hits in detector.detect(list(video_frames(clip.name, 5))) for hit in hits) > 0.9
