"""The signal policy (``gpen_video/media/signals.py``) with real processes and real signals.

Each double-signal case runs REPEATS processes at once (the second signal lands at a different
moment of the clean-up in each); every wait polls against a generous deadline.
"""
from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import pytest

from gpen_video.batch.manifest import BatchPaths
from gpen_video.media.output import TEMP_MARK
from tests.helpers.cli import cli_env, run_cli
from tests.helpers.paths import DATA, ROOT
from tests.helpers.real_media import cut_clip
from tests.helpers.streams import leftovers, video_pts

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

pytestmark = [pytest.mark.serial,
              pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads process state from /proc")]

FAST = ("--restorer", "none", "--preset", "ultrafast", "-q")
REPEATS = 5
GAP = 0.1  # seconds between the signals of one case
START_DEADLINE = 120.0  # seconds for a run to get going: start-up is slow when the cores are shared
EXIT_DEADLINE = 60.0
INT, TERM = signal.SIGINT, signal.SIGTERM


@contextmanager
def _running(*argv: str | Path) -> Iterator[subprocess.Popen]:
    """``python ARGV`` from the checkout with text pipes; killed if it still runs when the block ends."""
    process = subprocess.Popen([sys.executable, *map(str, argv)], cwd=ROOT, env=cli_env(), stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def _gpen_video(*args: str | Path) -> AbstractContextManager[subprocess.Popen]:
    return _running("-m", "gpen_video", *args)


def _wait_for(condition: Callable[[], bool], deadline: float, what: str) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting for {what}"
        time.sleep(0.02)


def _writing(folder: Path) -> bool:
    return any(TEMP_MARK in p.name for p in folder.iterdir())


def _signalled(args: Sequence[str | Path], folder: Path, sigs: Sequence[int], delay: float) -> tuple[int, str]:
    """Run the command, send ``sigs`` GAP apart ``delay`` s after it starts writing in ``folder``; (exit code, stderr)."""
    with _gpen_video(*args) as process:
        _wait_for(lambda: _writing(folder) or process.poll() is not None, START_DEADLINE, "the output")
        assert process.poll() is None, process.communicate()[1]
        time.sleep(delay)
        for k, sig in enumerate(sigs):
            time.sleep(GAP if k else 0.0)
            process.send_signal(sig)
        _, stderr = process.communicate(timeout=EXIT_DEADLINE)
    return process.returncode, stderr


def _repeated(run: Callable[[int], tuple[int, str]], repeats: int = REPEATS) -> list[tuple[int, str]]:
    """``run(k)`` for k in range(repeats), all at once."""
    with ThreadPoolExecutor(repeats) as pool:
        return list(pool.map(run, range(repeats)))


def _assert_clean_130(code: int, stderr: str) -> None:
    """Exit 130 with ``gpen-video: interrupted``, no traceback."""
    assert code == 130, stderr
    assert "Traceback" not in stderr and "terminate called" not in stderr, stderr
    assert "gpen-video: interrupted" in stderr, stderr


@pytest.mark.parametrize(("sigs", "repeats"), [((INT, INT), REPEATS), ((INT, TERM), REPEATS), ((INT, TERM, INT), 2)],
                         ids=["int-int", "int-term", "three"])
def test_file_mode_stops_cleanly_on_repeated_signals(tmp_path: Path, sigs: tuple[int, ...], repeats: int) -> None:
    """Exit 130, no traceback or abort, no temporary file, the destination untouched (it was an abort, 134)."""
    def run(k: int) -> tuple[int, str]:
        folder = tmp_path / str(k)
        folder.mkdir()
        (folder / "out.mp4").write_bytes(b"precious")
        return _signalled([DATA / "talking_head_844.mp4", folder / "out.mp4", "-y", *FAST], folder, sigs, 0.15 * k)

    for k, (code, stderr) in enumerate(_repeated(run, repeats)):
        _assert_clean_130(code, stderr)
        folder = tmp_path / str(k)
        assert (folder / "out.mp4").read_bytes() == b"precious"
        assert leftovers(folder, {"out.mp4"}) == []


def test_live_mode_keeps_its_recording_on_a_second_signal(tmp_path: Path) -> None:
    """SIGINT then SIGINT or SIGTERM: exit 130 and a finalised recording (it was lost, or a hidden part file was left)."""
    camera = cut_clip(DATA / "talking_head_844.mp4", tmp_path / "camera.mp4", seconds=4.0, width=320)

    def run(k: int) -> tuple[int, str]:
        folder = tmp_path / str(k)
        folder.mkdir()
        return _signalled(["live", "--source", camera, "--no-window", "-o", folder / "rec.mp4", *FAST], folder,
                          (INT, (INT, TERM)[k % 2]), 0.3 + 0.1 * k)

    for k, (code, stderr) in enumerate(_repeated(run)):
        _assert_clean_130(code, stderr)
        assert "recording kept" in stderr
        folder = tmp_path / str(k)
        assert leftovers(folder, {"rec.mp4"}) == []
        pts = video_pts(folder / "rec.mp4")
        assert len(pts) >= 2 and all(b > a for a, b in itertools.pairwise(pts))


def _catches_sigterm(pid: int) -> bool:
    """The process has a handler for SIGTERM (``SigCgt`` in /proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGTERM - 1) & 1)
    return False


def _loaded_torch(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def test_sigterm_during_start_up_exits_130(tmp_path: Path) -> None:
    """The handler is there before torch loads (it came with the job, a few seconds in: exit 143)."""
    with _gpen_video(DATA / "talking_head_844.mp4", tmp_path / "out.mp4", *FAST) as process:
        _wait_for(lambda: process.poll() is not None or _catches_sigterm(process.pid) or _loaded_torch(process.pid),
                  START_DEADLINE, "the signal handler or torch")
        process.send_signal(TERM)
        _, stderr = process.communicate(timeout=EXIT_DEADLINE)
    _assert_clean_130(process.returncode, stderr)
    assert list(tmp_path.iterdir()) == []


# What the ``gpen-video`` console script runs (pip writes the same).
_MODULE, _FUNCTION = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]["gpen-video"].split(":")
CONSOLE_SCRIPT = f"import sys\nfrom {_MODULE} import {_FUNCTION}\nsys.exit({_FUNCTION}())\n"
START_UP_OFFSETS = (0.02, 0.05, 0.1, 0.3, 1.0)  # seconds after the entry point's first line


def _signal_bits(pid: int, field: str) -> int:
    """``field`` ("SigBlk", "SigCgt") of /proc/PID/status: bit n-1 is signal n; 0 once the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _holds_int_and_term(pid: int) -> bool:
    """SIGINT and SIGTERM are blocked, and not everything: between fork and exec, subprocess blocks all."""
    blocked = _signal_bits(pid, "SigBlk")
    return all(blocked >> (sig - 1) & 1 for sig in (INT, TERM)) and not blocked >> (signal.SIGUSR1 - 1) & 1


@pytest.mark.parametrize("sig", [INT, TERM], ids=["int", "term"])
@pytest.mark.parametrize("command", ["enhance", "batch"])
def test_a_signal_at_any_moment_of_start_up_exits_130_with_one_line(tmp_path: Path, command: str, sig: int) -> None:
    """From the entry point's first line on, through the imports and into the run: each offset REPEATS times.

    Time starts when the process holds SIGINT and SIGTERM, which the entry point does first: before that,
    only the interpreter's own start-up and the import of that one small module run, and no Python code
    can catch a signal there (SIGTERM kills, SIGINT fails the import of ``site``). Before, nothing held
    them: SIGTERM within the imports killed the process (143), SIGINT printed a KeyboardInterrupt or
    ImportError traceback, until the policy came with the command's main a few tenths of a second in.
    """
    def run(offset: float, k: int) -> tuple[int, str, Path]:
        folder = tmp_path / f"{offset}-{k}"
        folder.mkdir()
        args = (("batch", DATA / "talking_head_844.mp4", "--out-dir", folder / "out") if command == "batch"
                else (DATA / "talking_head_844.mp4", folder / "out.mp4"))
        with _running("-c", CONSOLE_SCRIPT, *args, *FAST) as process:
            deadline = time.monotonic() + START_DEADLINE
            while not _holds_int_and_term(process.pid):
                assert process.poll() is None and time.monotonic() < deadline, "the entry point never held the signals"
                time.sleep(0.001)
            time.sleep(offset)
            process.send_signal(sig)
            _, stderr = process.communicate(timeout=EXIT_DEADLINE)
        return process.returncode, stderr, folder

    for offset in START_UP_OFFSETS:
        for code, stderr, folder in _repeated(lambda k, offset=offset: run(offset, k)):
            assert code == 130 and len([line for line in stderr.splitlines() if line.strip()]) == 1, (offset, stderr)
            _assert_clean_130(code, stderr)
            assert not [p for p in folder.rglob("*") if TEMP_MARK in p.name or p.suffix == ".mp4"], offset


CLEAN_UP_HANGS = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from gpen_video.errors import Interrupted
    from gpen_video.media import output, signals
    signals.install()
    output.temp_path_for(Path(sys.argv[1])).write_bytes(b"half")
    try:
        print("running", flush=True)
        time.sleep(60)
    except Interrupted:
        print("cleaning up", flush=True)
        time.sleep(60)
    """
)


def test_a_second_signal_waits_for_the_clean_up_and_a_third_exits_at_once(tmp_path: Path) -> None:
    with _running("-c", CLEAN_UP_HANGS, tmp_path / "out.mp4") as child:
        assert child.stdout.readline().strip() == "running"
        child.send_signal(INT)
        assert child.stdout.readline().strip() == "cleaning up"
        child.send_signal(TERM)
        with pytest.raises(subprocess.TimeoutExpired):
            child.wait(timeout=0.5)
        child.send_signal(INT)
        assert child.wait(timeout=EXIT_DEADLINE) == 130
    assert list(tmp_path.iterdir()) == []


STOP_IN_A_FINALISER = textwrap.dedent(
    """
    import time
    from gpen_video.media import signals
    signals.install()

    class Slow:
        def __del__(self):
            print("finalising", flush=True)
            time.sleep(60)

    Slow()
    print("went on", flush=True)
    """
)


def test_a_stop_raised_inside_a_finaliser_is_not_swallowed() -> None:
    """Python reports and swallows an exception raised in ``__del__``: the policy exits at once instead."""
    with _running("-c", STOP_IN_A_FINALISER) as child:
        assert child.stdout.readline().strip() == "finalising"
        child.send_signal(INT)
        out, err = child.communicate(timeout=EXIT_DEADLINE)
    assert child.returncode == 130 and "went on" not in out and "Exception ignored" not in err, err


ORPHAN = textwrap.dedent(
    """
    import os, subprocess, sys, time
    if sys.argv[1] == "parent":  # start a worker, say its pid once it watches us, and die
        worker = subprocess.Popen([sys.executable, "-c", sys.argv[2], "worker", ""], stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL, text=True)
        assert worker.stdout.readline() == "watching\\n"
        print(worker.pid, flush=True)
        os._exit(0)
    from gpen_video.media import signals
    signals._parent_death_signal = lambda: False  # the fallback: poll the parent
    signals.install(exit_at=1)  # as a batch worker
    signals.stop_with_parent(os.getppid())
    print("watching", flush=True)
    time.sleep(60)
    """
)


def test_a_worker_whose_parent_dies_stops_by_polling_where_the_kernel_cannot_tell_it(tmp_path: Path) -> None:
    parent = subprocess.run([sys.executable, "-c", ORPHAN, "parent", ORPHAN], cwd=ROOT, env=cli_env(), check=True,
                            capture_output=True, text=True, timeout=EXIT_DEADLINE)
    worker = int(parent.stdout)
    _wait_for(lambda: not _alive(worker), 10, "the orphaned worker to stop")


def _children(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            children.add(int(stat.parent.name))
    return children


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _stop_batch(args: Sequence[str | Path], ready: Callable[[], bool], sig: int) -> tuple[int, str]:
    """Start the batch, send ``sig`` once ``ready()``; no worker may remain 10 s later. (exit code, stderr)."""
    with _gpen_video(*args) as driver:
        _wait_for(lambda: ready() or driver.poll() is not None, START_DEADLINE, "the units to run")
        assert driver.poll() is None, driver.communicate()[1]
        workers = _children(driver.pid)
        driver.send_signal(sig)
        stopped = time.monotonic()
        _wait_for(lambda: driver.poll() is not None, EXIT_DEADLINE, "the driver")
        while any(map(_alive, workers)) and time.monotonic() - stopped < 10:
            time.sleep(0.05)
        assert not [pid for pid in workers if _alive(pid)], "workers outlived the driver"
        _, stderr = driver.communicate(timeout=EXIT_DEADLINE)
    return driver.returncode, stderr


def test_batch_stops_and_reaps_its_workers_and_resumes(tmp_path: Path) -> None:
    """SIGTERM: exit 130, the workers stopped; SIGKILL of the driver: the workers stop themselves; a re-run resumes.

    Before, SIGTERM gave exit 143 and left a worker blocked on a pipe for ever.
    """
    short = cut_clip(DATA / "talking_head_844.mp4", tmp_path / "a.mp4", seconds=0.4, width=320)
    long = cut_clip(DATA / "talking_head_844.mp4", tmp_path / "b.mp4", seconds=3.0, width=320)
    out = tmp_path / "out"
    args = ("batch", short, long, "--out-dir", out, "--workers", "2", *FAST)

    def writing() -> bool:  # a part file: not the manifest's temporary file, which comes and goes
        return any(BatchPaths.under(out).work_dir.rglob(f"*{TEMP_MARK}*"))

    code, stderr = _stop_batch(args, lambda: (out / "a.mp4").exists() and writing(), TERM)
    _assert_clean_130(code, stderr)
    assert not writing()
    manifest = json.loads((out / "gpen-batch.json").read_text())
    states = {Path(r["source"]).name: (r["state"], {u["state"] for u in r["units"]}) for r in manifest["inputs"]}
    assert states == {"a.mp4": ("done", {"done"}), "b.mp4": ("pending", {"pending"})}  # nothing left "running"
    code, stderr = _stop_batch(args, writing, signal.SIGKILL)
    assert code == -signal.SIGKILL
    assert stderr == ""  # the workers' and multiprocessing's helpers left nothing on the terminal
    result = run_cli(*args)
    assert result.returncode == 0, result.stderr
    manifest = json.loads((out / "gpen-batch.json").read_text())
    assert manifest["runs"] == 3
    assert [(Path(r["source"]).name, r["state"], r["skipped"]) for r in manifest["inputs"]] == [
        ("a.mp4", "done", True), ("b.mp4", "done", False)]
    assert video_pts(out / "b.mp4") == video_pts(long)
    assert not list(out.rglob(f"*{TEMP_MARK}*"))
