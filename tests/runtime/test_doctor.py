"""``gpen-video doctor``: what is installed, what would run and why, where the caches are."""
from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import pytest

from gpen_video.cli import main
from gpen_video.restore import cpu_choice
from tests.helpers.cli import run_cli


def test_doctor_lists_the_packages_the_device_the_backend_and_the_caches(session_cache: Path) -> None:
    result = run_cli("doctor", env={"COLUMNS": "300"})
    assert result.returncode == 0, result.stderr
    text = result.stdout
    for package in ("torch", "onnxruntime", "onnx", "onnxscript", "av", "opencv", "norfair", "spandrel", "ray",
                    "pyvirtualcam"):
        assert f"\n  {package} " in text or text.startswith(f"  {package} "), package
    assert f"  torch {version('torch')}" in text and "CPUExecutionProvider" in text and "FFmpeg" in text
    assert "device: cpu" in text and "backend: torch" in text  # the session's cache measured torch fastest
    assert str(session_cache) in text and str(session_cache / cpu_choice.CACHE_FILE) in text
    assert "measuring" not in result.stderr  # the cache is read, never measured without --remeasure


def test_doctor_remeasure_replaces_this_environments_timings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path))
    monkeypatch.setattr(cpu_choice, "measure_candidates", lambda: {"torch fp32": 3.0, "onnxruntime fp32": 7.0})
    assert main(["doctor"]) == 0
    assert "not measured yet" in capsys.readouterr().out
    assert not (tmp_path / cpu_choice.CACHE_FILE).exists()
    other = "another CPU x4 | CPython 3.10.0 | torch 2.1.0"
    (tmp_path / cpu_choice.CACHE_FILE).write_text(json.dumps({
        cpu_choice.cache_key(): {"probe_ms": {"torch fp32": 1.0}}, other: {"probe_ms": {"torch fp32": 5.0}}}))
    assert main(["doctor", "--remeasure"]) == 0
    out = capsys.readouterr().out
    saved = json.loads((tmp_path / cpu_choice.CACHE_FILE).read_text())
    assert saved[cpu_choice.cache_key()]["probe_ms"] == {"torch fp32": 3.0, "onnxruntime fp32": 7.0}
    assert saved[other] == {"probe_ms": {"torch fp32": 5.0}}  # other environments keep theirs
    assert "backend: torch fp32 for GPEN checkpoints (the fastest measured here; probe: torch fp32 3 ms, " \
           "onnxruntime fp32 7 ms)" in out
