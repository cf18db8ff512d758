"""Network sources: every open and read gives up after the I/O timeout, and a signal never waits for the network."""
from __future__ import annotations

import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from gpen_video.errors import MediaOpenError, SourceTimeout
from gpen_video.media.network import run_interruptibly
from gpen_video.media.reader import VideoReader
from tests.helpers.cli import assert_one_line_error, cli_env, run_cli
from tests.helpers.paths import ROOT
from tests.helpers.servers import silent_server

pytestmark = pytest.mark.serial  # asserts wall-clock behaviour: run apart from the parallel pass

SLACK = 8.0  # seconds on top of a limit: process teardown (torch) on a busy 2-core machine


def test_http_source_that_never_answers_times_out() -> None:
    with silent_server() as server:
        began = time.monotonic()
        with pytest.raises(SourceTimeout) as caught:
            VideoReader(server.url(), io_timeout=1.0)
        assert time.monotonic() - began < 1.0 + SLACK
    assert server.url() in str(caught.value) and "1 s" in str(caught.value)


def test_udp_source_with_no_sender_times_out() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:  # a free UDP port: nobody sends there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(SourceTimeout, match=f"udp://127.0.0.1:{port}"):
        VideoReader(f"udp://127.0.0.1:{port}", io_timeout=1.0)


def test_rtsp_server_that_speaks_another_protocol_is_named_as_such() -> None:
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(10)

    def answer_wrongly() -> None:
        conn, _ = listener.accept()
        with conn:
            conn.recv(4096)
            conn.sendall(b"SSH-2.0-OpenSSH_9.0\r\n" + b"x" * 2000)

    threading.Thread(target=answer_wrongly, daemon=True).start()
    try:
        with pytest.raises(MediaOpenError, match="answered, but not with RTSP media"):
            VideoReader(f"rtsp://127.0.0.1:{listener.getsockname()[1]}/cam", io_timeout=5.0)
    finally:
        listener.close()


class _Stop(Exception):
    pass


def test_a_signal_interrupts_the_wait_and_the_late_result_is_discarded() -> None:
    release, discarded = threading.Event(), []

    def stop(signum, frame):
        raise _Stop

    previous = signal.signal(signal.SIGUSR1, stop)
    try:
        threading.Timer(0.3, signal.pthread_kill, args=(threading.main_thread().ident, signal.SIGUSR1)).start()
        began = time.monotonic()
        with pytest.raises(_Stop):
            run_interruptibly(lambda: release.wait(30) and "opened", discarded.append)
        assert time.monotonic() - began < 5
    finally:
        signal.signal(signal.SIGUSR1, previous)
    release.set()
    deadline = time.monotonic() + 10
    while not discarded and time.monotonic() < deadline:
        time.sleep(0.02)
    assert discarded == ["opened"]


def test_cli_gives_up_on_a_silent_server_after_the_io_timeout(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    with silent_server() as server:
        result = run_cli(server.url(), output, "--restorer", "none", "--io-timeout", "2", timeout=120)
        ended = time.monotonic()
    assert_one_line_error(result, 2)
    assert server.url() in result.stderr and "--io-timeout" in result.stderr
    assert server.accepted_at is not None and ended - server.accepted_at < 2.0 + SLACK
    assert list(tmp_path.iterdir()) == []


def test_cli_sigint_while_waiting_on_a_silent_server_stops_within_2s(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    lines: list[tuple[float, str]] = []  # (time.monotonic(), line) of every stderr line
    with silent_server() as server:
        process = subprocess.Popen(
            [sys.executable, "-m", "gpen_video", server.url(), str(output), "--restorer", "none"],
            cwd=ROOT, env=cli_env(), stderr=subprocess.PIPE, text=True,
        )
        reader = threading.Thread(target=lambda: lines.extend((time.monotonic(), line) for line in process.stderr))
        reader.start()
        try:
            assert server.accepted.wait(60), "the run never connected"
            time.sleep(1.0)
            sent = time.monotonic()
            process.send_signal(signal.SIGINT)
            process.wait(timeout=30)
            exited = time.monotonic() - sent
        finally:
            if process.poll() is None:
                process.kill()
            reader.join(timeout=10)
    stderr = "".join(line for _, line in lines)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    # The run has stopped within 2 s (its message); the interpreter's teardown (torch) comes after.
    stopped = next(at for at, line in lines if "interrupted" in line) - sent
    assert stopped < 2.0, (stopped, exited)
    assert exited < 10.0
    assert list(tmp_path.iterdir()) == []
