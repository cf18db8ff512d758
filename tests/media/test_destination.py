"""The `gpen-video` command claims its output (issue 17): races at the destination, the input through a
``file://`` URL, and the exit-2 cases that used to give exit 1 (defect 8). Real processes, real clips."""
from __future__ import annotations

import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import av
import pytest
from PIL import Image

from gpen_video.media.output import TEMP_MARK
from tests.helpers.cli import assert_one_line_error, cli_env, run_cli
from tests.helpers.fakes import save_tiny_gpen
from tests.helpers.files import SPELLINGS, file_type, special_file, spelled
from tests.helpers.paths import ROOT, SAMPLE
from tests.helpers.real_media import cut_clip
from tests.helpers.streams import leftovers

FAST = ("--restorer", "none", "--preset", "ultrafast", "-q")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short real clip (1.5 s of the talking head at 256 px, with audio): each run takes a few seconds."""
    return cut_clip(SAMPLE, tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=1.5)


def _start(source: Path, output: Path) -> subprocess.Popen:
    """A CLI run without -y, in the background."""
    return subprocess.Popen([sys.executable, "-m", "gpen_video", str(source), str(output), *FAST], cwd=ROOT,
                            env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _writing(folder: Path) -> int:
    """How many runs in ``folder`` are past every check and encoding: temporary outputs that hold data."""
    return sum(1 for p in folder.iterdir() if TEMP_MARK in p.name and p.is_file() and p.stat().st_size > 0)


def _wait_until_writing(folder: Path, process: subprocess.Popen, runs: int = 1, timeout: float = 120) -> None:
    """Poll until ``runs`` runs write in ``folder`` (``process`` is the one that must still be running)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        if _writing(folder) >= runs:
            return
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the run never started writing: {process.communicate()[1]}")


def _frames(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


def _copy(clip: Path, folder: Path) -> Path:
    source = folder / "in.mp4"
    shutil.copyfile(clip, source)
    return source


def test_a_file_created_at_the_output_mid_run_survives(clip: Path, tmp_path: Path) -> None:
    source, output = _copy(clip, tmp_path), tmp_path / "out.mp4"
    process = _start(source, output)
    _wait_until_writing(tmp_path, process)
    process.send_signal(signal.SIGSTOP)  # held, so that the file surely appears before the run finishes
    try:
        output.write_bytes(b"precious")
    finally:
        process.send_signal(signal.SIGCONT)
    _, stderr = process.communicate(timeout=180)
    result = subprocess.CompletedProcess(process.args, process.returncode, "", stderr)
    assert_one_line_error(result, 2)
    kept = tmp_path / f"out.gpen-{process.pid}.mp4"
    assert str(output) in stderr and str(kept) in stderr
    assert output.read_bytes() == b"precious"
    assert _frames(kept) == _frames(clip)  # the finished work is kept beside it, complete
    assert leftovers(tmp_path, {"in.mp4", "out.mp4", kept.name}) == []


@pytest.mark.serial
def test_two_concurrent_runs_leave_one_complete_output_and_one_error(clip: Path, tmp_path: Path) -> None:
    source, output = _copy(clip, tmp_path), tmp_path / "out.mp4"
    first = _start(source, output)
    _wait_until_writing(tmp_path, first)
    first.send_signal(signal.SIGSTOP)  # held until the second is writing too: both passed the start checks
    try:
        second = _start(source, output)
        _wait_until_writing(tmp_path, second, runs=2)
    finally:
        first.send_signal(signal.SIGCONT)
    results = {process.pid: (process.returncode, stderr)
               for process in (first, second) for _, stderr in [process.communicate(timeout=240)]}
    assert sorted(code for code, _ in results.values()) == [0, 2], results
    loser, (_, stderr) = next((pid, result) for pid, result in results.items() if result[0] == 2)
    assert_one_line_error(subprocess.CompletedProcess([], 2, "", stderr), 2)
    kept = tmp_path / f"out.gpen-{loser}.mp4"
    assert str(output) in stderr and str(kept) in stderr
    assert _frames(output) == _frames(kept) == _frames(clip)  # one output, and the loser's work kept beside it
    assert leftovers(tmp_path, {"in.mp4", "out.mp4", kept.name}) == []


def test_a_dangling_symlink_at_the_output_is_kept_without_y(clip: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    output.symlink_to(tmp_path / "missing.mp4")
    result = run_cli(clip, output, *FAST)
    assert_one_line_error(result, 2)
    assert output.is_symlink() and not (tmp_path / "missing.mp4").exists()


def test_the_input_through_a_file_url_is_not_overwritten(clip: Path, tmp_path: Path) -> None:
    source = _copy(clip, tmp_path)
    result = run_cli(f"file://{source}", source, *FAST, "-y")
    assert_one_line_error(result, 2)
    assert "input" in result.stderr
    assert source.read_bytes() == clip.read_bytes()
    assert leftovers(tmp_path, {"in.mp4"}) == []


def _huge_png(path: Path, width: int, height: int) -> Path:
    """A PNG whose header declares ``width`` x ``height`` (a 1-pixel image with its IHDR rewritten)."""
    Image.new("RGB", (1, 1)).save(path)
    data = bytearray(path.read_bytes())
    data[16:24] = struct.pack(">II", width, height)  # IHDR: 8-byte signature, length, type, then the size
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    path.write_bytes(bytes(data))
    return path


@pytest.mark.parametrize("case", ["proc-video", "proc-picture", "read-only-folder", "gif-for-video", "live-png",
                                  "huge-png", "start-past-end"])
def test_defect_8_cases_exit_2_naming_the_file_and_the_cause(clip: Path, data_dir: Path, tmp_path: Path,
                                                             case: str) -> None:
    """``.png`` for a video is the live case here, and for the file mode in tests/media/test_output.py."""
    picture = data_dir / "Solvay_conference_1927.png"
    args: tuple[str | Path, ...]
    if case == "proc-video":
        args, named, cause = (clip, "/proc/out.mp4"), "/proc/out.mp4", "does not accept new files"
    elif case == "proc-picture":
        args, named, cause = (picture, "/proc/out.png"), "/proc/out.png", "does not accept new files"
    elif case == "read-only-folder":
        if os.geteuid() == 0:
            pytest.skip("root writes into read-only folders")
        folder = tmp_path / "ro"
        folder.mkdir(mode=0o555)
        args, named, cause = (clip, folder / "out.mp4"), str(folder / "out.mp4"), "Permission denied"
    elif case == "gif-for-video":
        args, named, cause = (clip, tmp_path / "out.gif"), "out.gif", "cannot hold libx264"
    elif case == "live-png":
        args, named, cause = ("live", "--source", clip, "-o", tmp_path / "x.png", "--no-window"), "x.png", "cannot hold"
    elif case == "huge-png":
        source = _huge_png(tmp_path / "huge.png", 30000, 30000)
        args, named, cause = (source, tmp_path / "out.png"), "huge.png", "900000000 pixels"
    else:
        args, named, cause = (clip, tmp_path / "out.mp4", "--start", "100"), "clip.mp4", "1.5"
    result = run_cli(*args, *FAST)
    assert_one_line_error(result, 2)
    assert named in result.stderr and cause in result.stderr, result.stderr
    assert leftovers(tmp_path, {"huge.png", "ro"}) == []


# -- every file a run writes goes through one policy ---------------------------------------------------------

@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """A tiny random-weight GPEN checkpoint's bytes."""
    return save_tiny_gpen(tmp_path_factory.mktemp("ck") / "ck.pth").read_bytes()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_export_never_writes_over_its_checkpoint(checkpoint: bytes, tmp_path: Path, spelling: str) -> None:
    weights = tmp_path / "ck.pth"
    weights.write_bytes(checkpoint)
    result = run_cli("export", "--weights", weights, "-o", spelled(weights, spelling), "-y")
    assert_one_line_error(result, 2)
    assert "which this run reads" in result.stderr
    assert weights.read_bytes() == checkpoint
    assert leftovers(tmp_path, {"ck.pth", "ck-link.pth", "ck-hard.pth"}) == []


@pytest.mark.parametrize("kind", ["fifo", "device"])
@pytest.mark.parametrize("overwrite", [(), ("-y",)], ids=["plain", "y"])
def test_the_report_never_replaces_a_fifo_or_a_device(clip: Path, tmp_path: Path, kind: str, overwrite) -> None:
    special = special_file(tmp_path / "rep.json", kind)
    before = file_type(special)
    result = run_cli(clip, tmp_path / "out.mp4", "--report", special, *overwrite, *FAST)
    assert_one_line_error(result, 2)
    assert str(special) in result.stderr and "not a file" in result.stderr
    assert file_type(special) == before
    assert leftovers(tmp_path, {"rep.json"}) == []  # refused before any work: no output either


def test_the_report_is_replaced_only_with_y(clip: Path, tmp_path: Path) -> None:
    report = tmp_path / "rep.json"
    report.write_text("precious")
    result = run_cli(clip, tmp_path / "out.mp4", "--report", report, *FAST)
    assert_one_line_error(result, 2)
    assert "already exists" in result.stderr and report.read_text() == "precious"
    assert run_cli(clip, tmp_path / "out.mp4", "--report", report, "-y", *FAST).returncode == 0
    assert report.read_text().startswith("{")


def test_the_output_is_never_the_weights(clip: Path, checkpoint: bytes, tmp_path: Path) -> None:
    weights = tmp_path / "ck.pth"
    weights.write_bytes(checkpoint)
    link = tmp_path / "out.mp4"
    link.symlink_to(weights)
    result = run_cli(clip, link, "--weights", weights, "-y", *FAST)
    assert_one_line_error(result, 2)
    assert "which this run reads" in result.stderr and weights.read_bytes() == checkpoint


def test_a_gallery_folder_holding_the_input_is_never_replaced(clip: Path, tmp_path: Path) -> None:
    folder = tmp_path / "faces"
    folder.mkdir()
    source = _copy(clip, folder)
    result = run_cli(source, tmp_path / "out.mp4", "--faces-out", folder, "-y", *FAST)
    assert_one_line_error(result, 2)
    assert "which this run reads" in result.stderr and source.read_bytes() == clip.read_bytes()
    output = folder / "out.mp4"  # the output inside the gallery folder would be removed with the old gallery
    result = run_cli(clip, output, "--faces-out", folder, "-y", *FAST)
    assert_one_line_error(result, 2)
    assert not output.exists() and source.read_bytes() == clip.read_bytes()
