"""The README and docs/: links that resolve, commands that CI and users copy, no internal notes."""
from __future__ import annotations

import ast
import re
from collections import Counter
from pathlib import Path

import pytest

import gpen_video
from tests.helpers.clips import make_clip
from tests.helpers.paths import ROOT

PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


def anchors(page: Path) -> set[str]:
    """GitHub's anchors for the headings of ``page``: lower case, punctuation dropped, spaces to hyphens."""
    seen: Counter[str] = Counter()
    result = set()
    in_code = False
    for line in page.read_text().splitlines():
        in_code ^= line.startswith("```")
        if in_code or not line.startswith("#"):
            continue
        slug = re.sub(r"[^\w\- ]", "", line.lstrip("#").strip().lower()).replace(" ", "-")
        result.add(slug if not seen[slug] else f"{slug}-{seen[slug]}")
        seen[slug] += 1
    return result


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_reach_a_file_and_heading(page: Path) -> None:
    broken = []
    for target in LINK.findall(page.read_text()):
        if re.match(r"[a-z]+://", target):
            continue
        path, _, anchor = target.partition("#")
        linked = (page.parent / path).resolve() if path else page
        if not linked.exists() or (anchor and linked.suffix == ".md" and anchor not in anchors(linked)):
            broken.append(target)
    assert broken == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_no_internal_notes_or_placeholders(page: Path) -> None:
    text = page.read_text()
    assert re.findall(r"(?i)\bissues? \d+|to be (?:filled|measured)|\bTODO\b|\bTBD\b|fill in", text) == []


def test_readme_keeps_the_two_quick_start_commands() -> None:
    text = (ROOT / "README.md").read_text()
    assert "pip install -e . && gpen-video samples/talking_head.mp4 out.mp4\n" in text
    # .ci/run runs the same two passes: keep them in step.
    assert ('pip install -e \'.[test,ray]\' && python3 -m pytest -q -n 2 -m "not serial" && '
            'python3 -m pytest -q -m serial\n') in text


def test_readme_python_runs_on_the_public_api(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    (snippet,) = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    imported = {alias.name for node in ast.walk(ast.parse(snippet)) if isinstance(node, ast.ImportFrom)
                and node.module == "gpen_video" for alias in node.names}
    assert imported and imported <= set(gpen_video.__all__)

    # As written, but on a short clip and without GPEN's weights: faces pass through unchanged.
    clip = make_clip(tmp_path / "clip.mp4", size=(96, 64), frames=6)
    real_build = gpen_video.build_settings
    monkeypatch.setattr(gpen_video, "build_settings", lambda config=None, cli=None: real_build(
        config, {**(cli or {}), "restore": {"restorer": "none"}}))
    monkeypatch.chdir(tmp_path)
    exec(compile(snippet.replace("samples/talking_head.mp4", str(clip)), "README.md", "exec"), {})
    printed = capsys.readouterr().out.splitlines()
    assert printed[0] == "6 frames, 0 faces"
    assert printed[1:] == [f"{index} 0 (64, 96, 3)" for index in range(6)]
    assert (tmp_path / "out.mp4").stat().st_size > 0
