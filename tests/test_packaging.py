"""The project stands on its own: nothing reads outside the checkout, and a built wheel works."""
from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.helpers.paths import ROOT

# The workplace folder beside the checkout that users never have; spelt in pieces so this file
# does not match its own search.
OUTSIDE = ("..", "/shared")
TEXT_SUFFIXES = {".py", ".md", ".toml", ".txt", ".cfg", ".ini", ".json", ".yml", ".yaml", ".sh", ""}


def tracked_files() -> list[Path]:
    listing = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout
    return [ROOT / name for name in listing.decode().split("\0") if name]


@pytest.mark.skipif(not (ROOT / ".git").exists(), reason="not a git checkout (an sdist or a copy)")
def test_no_file_refers_to_the_workplace_shared_folder() -> None:
    needle = "".join(OUTSIDE)
    pathlib_spelling = "parent / " + '"shared"'
    offenders = []
    for path in tracked_files():
        if path.suffix not in TEXT_SUFFIXES or not path.is_file():
            continue
        text = path.read_text(errors="replace")
        if needle in text or pathlib_spelling in text:
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


@pytest.mark.slow
def test_wheel_carries_every_preset_and_loads_them_by_name(tmp_path: Path) -> None:
    wheels, target = tmp_path / "wheels", tmp_path / "site"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(wheels), str(ROOT)],
        capture_output=True, text=True, timeout=300,
    )
    assert build.returncode == 0, build.stderr
    (wheel,) = wheels.glob("gpen_video-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    presets = sorted(p.stem for p in (ROOT / "configs").glob("*.toml"))
    assert presets and {f"gpen_video/configs/{name}.toml" for name in presets} <= names
    assert "gpen_video/py.typed" in names

    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        capture_output=True, text=True, timeout=300,
    )
    assert install.returncode == 0, install.stderr
    # Run away from the checkout, with only the installed wheel importable as gpen_video.
    probe = (
        "import gpen_video.config as c, json, sys\n"
        "assert c.__file__.startswith(sys.argv[1]), c.__file__\n"
        "names = c.preset_names()\n"
        "loaded = {n: c.build_settings(n).to_dict() for n in names}\n"
        "print(json.dumps({'names': names, 'webcam_window': loaded['webcam']['live']['window']}))\n"
    )
    run = subprocess.run(
        [sys.executable, "-I", "-c", f"import sys; sys.path.insert(0, {str(target)!r}); exec({probe!r})", str(target)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 0, run.stderr
    assert f'"names": {presets!r}'.replace("'", '"') in run.stdout
