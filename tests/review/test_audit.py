"""The audit log: its hash chain, what a frame line records, what verify catches, and that it stays small and
streams (the engine's and the CLI's side are in tests/test_cli_verify.py)."""
from __future__ import annotations

import hashlib
import json
import tracemalloc
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from gpen_video.errors import VerificationFailed
from gpen_video.review.audit import GENESIS, AuditLog, line_sha256
from gpen_video.review.audit_check import verify_audit
from gpen_video.types import AlignedFace, Detection, Frame, FrameResult, PastedFace, TrackedFace
from tests.helpers.streams import leftovers

HEADER = {"audit": "gpen-video audit 1", "input": {"sha256": None}, "kind": "video", "output": {"lossless": False}}


def _result(index: int, faces: int, side: int = 32) -> tuple[FrameResult, list[PastedFace]]:
    """A frame of ``faces`` faces, each a 20 px box at a place of its own; the pixels follow the index."""
    image = np.full((side, side, 3), index % 256, np.uint8)
    frame = Frame(index=index, pts=index * 512, time_base=Fraction(1, 12800), image=image)
    pasted = []
    for k in range(faces):
        box = np.float32([10.04 * k, 7.0, 10.04 * k + 20, 27.0])
        landmarks = np.float32([[3, 4], [9, 4], [6, 7], [4, 10], [8, 10]]) + box[:2] + 0.123456
        tracked = TrackedFace(k, Detection(box, 0.97, landmarks), landmarks)
        aligned = AlignedFace(index, k, np.zeros((8, 8, 3), np.uint8), np.eye(2, 3, dtype=np.float32), box)
        pasted.append(PastedFace(tracked, aligned, aligned.crop, aligned.crop, alpha=0.5 if k else 1.0,
                                 held=("fade",) if k else ()))
    return FrameResult(frame, image, [face.aligned for face in pasted]), pasted


def write_log(folder: Path, frames: int = 4, faces: int = 2) -> tuple[Path, Path]:
    """An audit log of ``frames`` frames and the "output" file it describes."""
    output = folder / "out.mp4"
    output.write_bytes(b"not really a video")
    with AuditLog(folder / "run.jsonl", HEADER) as log:
        for index in range(frames):
            log.observe(*_result(index, faces))
            log.encoded([np.full((4, 6), index, np.uint8), np.zeros((2, 3), np.uint8)])
        log.finish(output)
    return folder / "run.jsonl", output


def test_every_line_carries_the_hash_of_the_line_before(tmp_path: Path) -> None:
    log, output = write_log(tmp_path)
    lines = log.read_bytes().splitlines()
    assert len(lines) == 1 + 4 + 1
    records = [json.loads(line) for line in lines]
    assert records[0]["prev"] == GENESIS
    assert [r["prev"] for r in records[1:]] == [hashlib.sha256(line).hexdigest() for line in lines[:-1]]
    assert all(line == json.dumps(r, sort_keys=True, separators=(",", ":")).encode() for line, r in zip(lines, records))
    frame = records[2]
    assert (frame["frame"], frame["pts"], frame["time"]) == (1, 512, 0.04)
    assert frame["in"] == hashlib.sha256(np.full((32, 32, 3), 1, np.uint8).tobytes()).hexdigest()
    assert frame["out"] == hashlib.sha256(np.full((4, 6), 1, np.uint8).tobytes() + bytes(6)).hexdigest()
    assert frame["faces"][1] == {"track": 1, "box": [10.0, 7.0, 30.0, 27.0], "alpha": 0.5, "restored": True,
                                 "held": ["fade"], "landmarks": [[13.2, 11.1], [19.2, 11.1], [16.2, 14.1],
                                                                 [14.2, 17.1], [18.2, 17.1]]}
    assert "held" not in frame["faces"][0]
    footer = records[-1]
    assert footer["frames"] == 4 and footer["output"]["sha256"] == hashlib.sha256(output.read_bytes()).hexdigest()
    check = verify_audit(log, output=output)
    assert (check.lines, check.frames, check.chain_sha256) == (6, 4, line_sha256(lines[-2]))
    assert check.checked == ["output sha256"]


def _flip(line: bytes, after: bytes) -> bytes:
    """``line`` with the byte just after ``after`` changed (a hex digit or a letter: still valid JSON)."""
    at = line.index(after) + len(after)
    return line[:at] + (b"1" if line[at:at + 1] != b"1" else b"2") + line[at + 1:]


@pytest.mark.parametrize("changed, after, message", [
    (1, b'"kind":"vide', r"^audit line 2: does not follow line 1: its prev hash differs"),
    (3, b'"in":"', r"^audit line 4: does not follow line 3: its prev hash differs"),
    (6, b'"sha256":"', r"^audit line 6: its seal does not match its fields"),
])
def test_one_changed_byte_in_any_line_fails_naming_the_line(tmp_path: Path, changed: int, after: bytes,
                                                            message: str) -> None:
    """A changed header or frame line breaks the next line's prev; a changed footer, its seal."""
    log, _ = write_log(tmp_path)
    lines = log.read_bytes().splitlines(keepends=True)
    lines[changed - 1] = _flip(lines[changed - 1], after)
    log.write_bytes(b"".join(lines))
    with pytest.raises(VerificationFailed, match=message):
        verify_audit(log)


def test_a_changed_frame_line_names_the_line_after_it(tmp_path: Path) -> None:
    log, _ = write_log(tmp_path)
    text = log.read_text().replace('"alpha":0.5', '"alpha":0.6', 1)
    log.write_text(text)
    with pytest.raises(VerificationFailed, match=r"^audit line 3: does not follow line 2"):
        verify_audit(log)


@pytest.mark.parametrize("edit, message", [
    (lambda lines: lines[:3], r"audit line 4: missing: the log ends before its footer"),
    (lambda lines: lines[:2] + lines[3:], r"audit line 3: does not follow line 2"),
    (lambda lines: lines[:3] + lines[2:], r"audit line 4: does not follow line 3"),
    (lambda lines: lines + lines[-1:], r"audit line 7: follows the footer"),
    (lambda lines: [line.replace(b'"frames":4', b'"frames":5') for line in lines], r"audit line 6: its seal"),
])
def test_removed_repeated_and_cut_lines_fail(tmp_path: Path, edit, message) -> None:
    log, _ = write_log(tmp_path)
    log.write_bytes(b"".join(edit(log.read_bytes().splitlines(keepends=True))))
    with pytest.raises(VerificationFailed, match=message):
        verify_audit(log)


def test_a_changed_output_or_input_is_named(tmp_path: Path) -> None:
    log, output = write_log(tmp_path)
    output.write_bytes(b"not really a video!")
    with pytest.raises(VerificationFailed, match=r"^the output: out.mp4's sha256 .* differs from .* audit line 6"):
        verify_audit(log, output=output)
    with pytest.raises(VerificationFailed, match=r"^audit line 1: records no sha256 for the input"):
        verify_audit(log, source=output)


def test_an_interrupted_log_leaves_nothing(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError), AuditLog(tmp_path / "run.jsonl", HEADER) as log:
        log.observe(*_result(0, 1))
        raise RuntimeError("the run failed")
    assert leftovers(tmp_path, set()) == []


def test_a_crowded_1080p_minute_second_fits_in_a_megabyte_and_memory_stays_flat(tmp_path: Path) -> None:
    """60 frames of 40 faces (the crowd clip finds about 30) make well under 1 MB; 3000 frames hold no more memory
    than 300 (lines are written as they come, never kept)."""
    log, _ = write_log(tmp_path, frames=60, faces=40)
    assert log.stat().st_size < 1_000_000
    peaks = []
    for frames in (300, 3000):
        folder = tmp_path / str(frames)
        folder.mkdir()
        tracemalloc.start()
        write_log(folder, frames=frames, faces=2)
        peaks.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()
    assert peaks[1] < 1.5 * peaks[0]
