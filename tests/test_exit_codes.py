"""Every exit code of docs/exit-codes.md, each from a real ``gpen-video`` run on tiny inputs.

The deeper cases live beside the code they test: bad inputs (test_cli), weights (models/test_weights),
live losses and signals (test_live), batches (batch/test_batch), network timeouts (media/test_network).
"""
from __future__ import annotations

import os
import pickle
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gpen_video.cli import EXIT_CODES
from tests.helpers.cli import assert_one_line_error, cli_env, run_cli
from tests.helpers.clips import make_clip
from tests.helpers.paths import ROOT
from tests.helpers.servers import serve_once
from tests.helpers.streams import temp_files

FAST = ("--restorer", "none", "--preset", "ultrafast", "-q")
# A real bug stands in for any: the job function raises something that is no GpenVideoError.
WITH_A_BUG = ("-c", "import sys\nimport gpen_video.job as job\n"
                    "def broken(*args, **kwargs):\n    raise RuntimeError('a bug')\n"
                    "job.enhance_video = broken\nfrom gpen_video.cli import main\nsys.exit(main())")


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_clip(tmp_path_factory.mktemp("exit") / "clip.mp4", frames=10)


def test_the_table_lists_the_codes_of_the_help_text() -> None:
    table = (ROOT / "docs" / "exit-codes.md").read_text()
    documented = re.findall(r"^\| \*\*(\d+)\*\* \|", table, flags=re.M)
    in_help = re.findall(r"^  (\d+) ", EXIT_CODES, flags=re.M)
    assert documented == in_help == ["0", "1", "2", "3", "4", "5", "130"]
    assert "docs/exit-codes.md" in (ROOT / "README.md").read_text()


def test_0_success(clip: Path, tmp_path: Path) -> None:
    result = run_cli(clip, tmp_path / "out.mp4", *FAST)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "out.mp4").is_file()


def test_1_internal_error(clip: Path, tmp_path: Path) -> None:
    result = run_cli(clip, tmp_path / "out.mp4", *FAST, program=WITH_A_BUG)
    assert_one_line_error(result, 1)
    assert "internal error: RuntimeError: a bug" in result.stderr


def test_2_bad_input(tmp_path: Path) -> None:
    assert_one_line_error(run_cli(tmp_path / "missing.mp4", tmp_path / "out.mp4", *FAST), 2)


class _RunsCode:
    def __reduce__(self):
        return os.system, ("echo unpickled",)


def test_3_unusable_weights(clip: Path, tmp_path: Path) -> None:
    weights = tmp_path / "gpen.pth"  # a pickle that would run a command: torch also warns about its protocol
    weights.write_bytes(pickle.dumps({"generator.style.1.weight": _RunsCode()}))
    result = run_cli(clip, tmp_path / "out.mp4", "--weights", weights, "--device", "cpu", "-q")
    assert_one_line_error(result, 3)  # one line: torch's warning does not reach stderr
    assert f"{weights} refused: not a plain tensor file" in result.stderr and "unpickled" not in result.stdout


def test_4_live_source_lost(tmp_path: Path) -> None:
    stream = make_clip(tmp_path / "cam.ts", frames=12, audio=())
    port = serve_once(stream.read_bytes())  # one client, then the "camera" is gone
    result = run_cli("live", "--source", f"http://127.0.0.1:{port}/cam.ts", "--no-window", "--reconnect-seconds", "0",
                     *FAST, timeout=120)
    assert result.returncode == 4, result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("gpen-video: error: lost the source")


def test_5_batch_with_a_broken_input(tmp_path: Path) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video\n")
    result = run_cli("batch", broken, "--out-dir", tmp_path / "out", *FAST, timeout=120)
    assert result.returncode == 5, result.stderr
    assert f"failed: {broken}" in result.stderr


@pytest.mark.serial
def test_130_interrupted(tmp_path: Path) -> None:
    source = make_clip(tmp_path / "long.mp4", size=(320, 240), frames=600, audio=())
    output = tmp_path / "out.mp4"
    process = subprocess.Popen(
        [sys.executable, "-m", "gpen_video", str(source), str(output), "--restorer", "none", "--preset", "veryslow"],
        cwd=ROOT, env=cli_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not temp_files(tmp_path) and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)  # the temporary output exists: the job is running
        assert temp_files(tmp_path), "the job never started writing"
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 130, stderr
    assert "interrupted" in stderr and "Traceback" not in stderr
    assert not output.exists() and temp_files(tmp_path) == []
