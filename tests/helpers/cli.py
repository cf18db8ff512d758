"""Running the ``gpen-video`` command from the checkout, and checking its one-line errors."""
from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

from tests.helpers.paths import ROOT


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment for a ``python -m gpen_video`` child: this checkout first, no debug tracebacks."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **(extra or {})}
    env.pop("GPEN_VIDEO_DEBUG", None)
    return env


def run_cli(*args: str | Path, timeout: float = 300, env: dict | None = None,
            program: Sequence[str | Path] = ("-m", "gpen_video")) -> subprocess.CompletedProcess:
    """Run ``python -m gpen_video ARGS`` (or ``python PROGRAM ARGS``) from the checkout, capturing text output."""
    return subprocess.run(
        [sys.executable, *map(str, program), *map(str, args)],
        cwd=ROOT, env=cli_env(env), capture_output=True, text=True, timeout=timeout,
        stdin=subprocess.DEVNULL,  # live mode reads keys from stdin: a child never takes the terminal's
    )


def assert_one_line_error(result: subprocess.CompletedProcess, code: int) -> None:
    """The run failed with exit ``code`` and printed exactly one ``gpen-video: ...`` line, no traceback."""
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("gpen-video: ")
