"""examples/ run as users run them, on the repo's sample, without GPEN weights."""
from __future__ import annotations

import json
import re
from pathlib import Path

import av
import numpy as np

from tests.helpers.cli import run_cli
from tests.helpers.paths import ROOT

SAMPLE = ROOT / "samples" / "talking_head.mp4"
FAST = ("--restorer", "none", "--preset", "ultrafast", "-q")


def run_example(name: str, *args: str | Path) -> str:
    done = run_cli(*args, program=(ROOT / "examples" / name,))
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_custom_restorer_sharpens_the_faces_only(tmp_path: Path) -> None:
    out = tmp_path / "sharpened.mp4"
    printed = run_example("custom_restorer.py", SAMPLE, out, "--end", "0.4")
    assert "faces sharpened" in printed
    with av.open(str(out)) as result, av.open(str(SAMPLE)) as source:
        enhanced = [f.to_ndarray(format="rgb24").astype(np.int16) for f in result.decode(video=0)]
        original = [f.to_ndarray(format="rgb24").astype(np.int16) for _, f in zip(enhanced, source.decode(video=0))]
    changed = np.abs(enhanced[-1] - original[-1]).max(axis=2) > 24  # beyond what the encoder alone changes
    assert changed.any() and changed.mean() < 0.25  # the face changed (once faded in), most of the frame did not


def test_stream_frames_prints_every_frame_with_its_tracks() -> None:
    printed = run_example("stream_frames.py", SAMPLE, "--restorer", "none", "--frames", "6").splitlines()
    assert [line.split(":")[0] for line in printed] == [f"frame {k}" for k in range(6)]
    assert all("tracks [0]" in line for line in printed)  # the sample's one face, tracked from the start


def test_read_report_reads_a_real_report(tmp_path: Path) -> None:
    report = tmp_path / "report.json"
    assert run_cli(SAMPLE, tmp_path / "out.mp4", *FAST, "--end", "0.4", "--report", report).returncode == 0
    frames = json.loads(report.read_text())["frames"]
    printed = run_example("read_report.py", report)
    assert f"{frames} frames" in printed and "track 0: on" in printed and "sha256" in printed


def test_the_readme_snippet_decodes_frames_as_the_example_does() -> None:
    (snippet,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    decoder = snippet[snippet.index("def frames(path):"):snippet.index("engine = Engine(")].strip()
    assert decoder in (ROOT / "examples" / "stream_frames.py").read_text()
