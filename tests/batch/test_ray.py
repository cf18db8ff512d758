"""`gpen-video batch --ray ADDRESS` against a local two-CPU Ray cluster started once for this module."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from tests.helpers.cli import run_cli
from tests.helpers.fakes import save_tiny_gpen
from tests.helpers.paths import ROOT
from tests.helpers.real_media import cut_clip
from tests.helpers.streams import audio_packets, leftovers, video_pts
from tests.batch.faults import faulty_cli
from gpen_video.config import build_settings
from gpen_video.engine import Engine
from gpen_video.job import enhance_video
from gpen_video.review.metrics import psnr

ray = pytest.importorskip("ray")

FAST = ("--restorer", "none", "--preset", "ultrafast", "-q")


@pytest.fixture(scope="module")
def ray_address() -> str:
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory, data_dir: Path) -> dict[str, Path]:
    """Three 1 s clips in a folder, and a 2 s clip with a keyframe every 10 frames (0.4 s)."""
    folder = tmp_path_factory.mktemp("clips")
    videos = folder / "videos"
    videos.mkdir()
    head, crowd = data_dir / "talking_head_844.mp4", data_dir / "crowd_1080p.mp4"
    return {
        "a": cut_clip(head, videos / "a.mp4", start=0.0, seconds=1.0),
        "b": cut_clip(crowd, videos / "b.mp4", start=1.0, seconds=1.0),
        "c": cut_clip(head, videos / "c.mp4", start=3.0, seconds=1.0),
        "long": cut_clip(head, folder / "long.mp4", start=1.0, seconds=2.0, gop=10),
    }


def single_run(source: Path, dest: Path, *extra: str) -> Path:
    """What `gpen-video SOURCE DEST --restorer none --preset ultrafast EXTRA` writes, run in-process."""
    overrides = {"restore": {"restorer": "none"}, "encode": {"preset": "ultrafast"}}
    if extra:
        overrides["encode"]["crf"] = int(extra[extra.index("--crf") + 1])
    settings = build_settings(None, overrides)
    enhance_video(source, dest, settings, engine=Engine(settings))
    return dest


def manifest(out_dir: Path) -> dict:
    return json.loads((out_dir / "gpen-batch.json").read_text())


def units_of(data: dict, name: str) -> list[dict]:
    (record,) = [r for r in data["inputs"] if Path(r["source"]).name == name]
    return record["units"]


def decoded(path: Path) -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]


def test_folder_outputs_equal_single_runs(ray_address: str, clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = run_cli("batch", clips["a"].parent, "--out-dir", out, "--ray", ray_address, *FAST)
    assert result.returncode == 0, result.stderr
    for name in ("a", "b", "c"):
        expected = single_run(clips[name], tmp_path / f"single_{name}.mp4")
        assert (out / f"{name}.mp4").read_bytes() == expected.read_bytes(), name
    data = manifest(out)
    assert data["runs"] == 1 and {r["state"] for r in data["inputs"]} == {"done"}
    assert leftovers(out, {"a.mp4", "b.mp4", "c.mp4", "gpen-batch.json", ".gpen-batch"}) == []
    assert list((out / ".gpen-batch").iterdir()) == []  # parts are removed once their output is final


def test_split_video_equals_single_run_without_seams_after_a_retry(
    ray_address: str, clips: dict[str, Path], tmp_path: Path
) -> None:
    from gpen_video.batch import input_key

    # The second segment's first attempt fails (injected); Ray retries it and the job completes.
    # Lossless encoding (crf 0), so the comparison sees the pipeline's seams, not encoder noise.
    out, marker = tmp_path / "out", tmp_path / "failed-once"
    retried = f"{input_key(clips['long'])}.s001"
    result = run_cli("batch", clips["long"], "--out-dir", out, "--ray", ray_address, "--segment-seconds", "0.5",
                     "--crf", "0", *FAST, program=faulty_cli("fail", retried, marker))
    assert result.returncode == 0, result.stderr
    units = units_of(manifest(out), "long.mp4")
    assert len(units) >= 3 and all(u["kind"] == "segment" and u["state"] == "done" for u in units)
    assert marker.exists()  # the first attempt ran and failed
    assert {u["id"]: u["attempts"] for u in units} == {u["id"]: 2 if u["id"] == retried else 1 for u in units}
    joined, single = out / "long.mp4", single_run(clips["long"], tmp_path / "single.mp4", "--crf", "0")
    assert video_pts(joined) == video_pts(single) == video_pts(clips["long"])
    assert audio_packets(joined) == audio_packets(single) == audio_packets(clips["long"])
    ours, theirs = decoded(joined), decoded(single)
    first_cut = units[1]["start"]
    for index in range(first_cut):  # before the first cut nothing differs at all
        assert np.array_equal(ours[index], theirs[index])
    for unit in units[1:]:
        for index in (unit["start"] - 1, unit["start"], unit["start"] + 1):
            assert psnr(ours[index], theirs[index]) > 45.0, (unit["id"], index)


@pytest.mark.serial
def test_interrupted_job_resumes_without_redoing_finished_units(ray_address: str, clips: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "out"
    args = ["batch", clips["long"], "--out-dir", out, "--ray", ray_address, "--segment-seconds", "0.3",
            "--workers", "1", *FAST]
    command = [sys.executable, "-m", "gpen_video", *map(str, args)]
    process = subprocess.Popen(command, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and process.poll() is None:
        path = out / "gpen-batch.json"
        if path.exists() and any(u["state"] == "done" for u in units_of(manifest(out), "long.mp4")):
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 130, stderr
    assert not (out / "long.mp4").exists()  # no output until every part is done
    first = {u["id"]: u for u in units_of(manifest(out), "long.mp4")}
    finished = {k for k, u in first.items() if u["state"] == "done"}
    assert finished and len(finished) < len(first)

    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    data = manifest(out)
    second = {u["id"]: u for u in units_of(data, "long.mp4")}
    assert data["runs"] == 2
    for unit_id in finished:  # untouched: same run, same timing, one attempt
        assert second[unit_id]["run"] == 1 and second[unit_id]["seconds"] == first[unit_id]["seconds"]
        assert second[unit_id]["attempts"] == 1
    assert {k for k, u in second.items() if u["run"] == 2} == set(first) - finished
    assert video_pts(out / "long.mp4") == video_pts(clips["long"])
    assert audio_packets(out / "long.mp4") == audio_packets(clips["long"])


def test_tiny_gpen_checkpoint_on_ray(ray_address: str, clips: dict[str, Path], tmp_path: Path) -> None:
    weights = save_tiny_gpen(tmp_path / "tiny.pth")
    out = tmp_path / "out"
    result = run_cli("batch", clips["long"], "--out-dir", out, "--ray", ray_address, "--segment-seconds", "0.7",
                     "--weights", weights, "--device", "cpu", "--preset", "ultrafast", "-q")
    assert result.returncode == 0, result.stderr
    assert len(units_of(manifest(out), "long.mp4")) >= 2
    assert video_pts(out / "long.mp4") == video_pts(clips["long"])
    assert audio_packets(out / "long.mp4") == audio_packets(clips["long"])
    ours, source = decoded(out / "long.mp4"), decoded(clips["long"])
    # A random GPEN repaints the face: every part of the output differs from the input somewhere.
    assert all(np.abs(ours[i].astype(int) - source[i].astype(int)).max() > 50 for i in (0, 25, len(ours) - 1))
