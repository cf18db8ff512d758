"""The CPU backend choice (``restore/cpu_choice.py``): cached per environment, never a backend that cannot run here."""
from __future__ import annotations

import json
import logging
import platform
import sys
from pathlib import Path

import pytest

from gpen_video.cli import main
from gpen_video.restore import cpu_choice
from tests.helpers.fakes import save_tiny_gpen
from tests.helpers.paths import DATA
from tests.helpers.real_media import cut_clip

EXPORTER = ("onnx", "onnxscript")


def _hide(monkeypatch: pytest.MonkeyPatch, *modules: str) -> None:
    """Make ``modules`` not importable, as if they were not installed."""
    for name in modules:
        for loaded in [m for m in sys.modules if m == name or m.startswith(f"{name}.")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)


def _seed(home: Path, timings: dict[str, float]) -> None:
    (home / cpu_choice.CACHE_FILE).write_text(json.dumps({cpu_choice.cache_key(): {"probe_ms": timings}}))


def test_installing_the_onnx_extra_measures_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Measured without the exporter, torch won; with it, ONNX Runtime is a candidate: measure again.

    Before, the cache was keyed by the CPU alone and the run stayed on torch.
    """
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path))
    without = {"torch": "2.5.1", "onnxruntime": "1.20.0"}
    measured: list[dict[str, float]] = []

    def measure(timings: dict[str, float]):
        return lambda: measured.append(timings) or timings

    monkeypatch.setattr(cpu_choice, "installed_backends", lambda: without)
    assert cpu_choice.choose_cpu_backend(measure=measure({"torch fp32": 30.0})).backend == "torch"
    assert cpu_choice.choose_cpu_backend(measure=measure({})).measured_now is False  # cached
    monkeypatch.setattr(cpu_choice, "installed_backends", lambda: {**without, "onnx": "1.17.0", "onnxscript": "0.1.0"})
    choice = cpu_choice.choose_cpu_backend(measure=measure({"torch fp32": 30.0, "onnxruntime fp32": 10.0}))
    assert len(measured) == 2 and (choice.backend, choice.measured_now, choice.notice) == ("onnxruntime", True, None)
    assert len(json.loads((tmp_path / cpu_choice.CACHE_FILE).read_text())) == 2  # one entry per environment


def test_the_key_names_the_cpu_the_interpreter_and_each_backend_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    key = cpu_choice.cache_key({"torch": "2.5.1", "onnxruntime": "1.20.0"})
    assert key == f"{cpu_choice.cpu_key()} | {platform.python_implementation()} {platform.python_version()} | " \
                  "onnxruntime 1.20.0 | torch 2.5.1"
    _hide(monkeypatch, "onnxscript")
    assert "onnxscript" not in cpu_choice.installed_backends() and "torch" in cpu_choice.installed_backends()


def test_a_cached_backend_that_cannot_run_here_gives_way_with_a_notice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    """The cache says ONNX Runtime, the exporter a .pth needs is missing: the run completes on torch (it exited 2)."""
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(home))
    _hide(monkeypatch, *EXPORTER)
    _seed(home, {"torch fp32": 30.0, "onnxruntime fp32": 10.0})
    clip = cut_clip(DATA / "talking_head_844.mp4", tmp_path / "clip.mp4", seconds=0.2, width=160)
    weights = save_tiny_gpen(tmp_path / "tiny.pth")
    report = tmp_path / "report.json"
    with caplog.at_level(logging.WARNING):
        code = main([str(clip), str(tmp_path / "out.mp4"), "--weights", str(weights), "--device", "cpu",
                     "--report", str(report), "--preset", "ultrafast", "-q"])
    assert code == 0, caplog.text
    assert json.loads(report.read_text())["restorer"]["backend"].startswith("torch")
    notices = [r.getMessage() for r in caplog.records if "onnxruntime" in r.getMessage()]
    assert len(notices) == 1 and "torch" in notices[0] and "onnxscript" in notices[0], notices
    assert "\n" not in notices[0]
