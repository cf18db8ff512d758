"""Checking an audit log (``review.audit``): its hash chain, its footer's seal, and the files it names.

The log is read line by line, so a log of any length is checked in flat memory; with ``frames`` the
output is decoded alongside it, one frame per frame line.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import InputError, InputMissing, VerificationFailed
from ..media.checksum import file_sha256
from .audit import AUDIT_FORMAT, GENESIS, encode_line, line_sha256, planes_sha256, seal


@dataclass
class AuditCheck:
    """What a successful check found: the log's ``lines`` and ``frames``, ``chain_sha256`` (the hash of
    its last frame line, which a signed output's manifest holds) and what was compared (``checked``)."""

    lines: int = 0
    frames: int = 0
    chain_sha256: str = GENESIS
    checked: list[str] = field(default_factory=list)


def verify_audit(log: str | Path, *, source: str | Path | None = None, output: str | Path | None = None,
                 frames: bool = False) -> AuditCheck:
    """Check the audit log ``log`` and, when given, that ``source`` and ``output`` are the files it names.

    ``frames``: also decode ``output`` and compare each frame's planes with its line's ``out`` hash
    (a lossless video's log only: a lossy encoder does not give back the planes it was given).

    Raises:
        VerificationFailed: the first thing that does not check out, named by its line ("audit line 7")
            or its file ("the output").
        InputMissing: a file is missing. InputError: ``frames`` for a lossy encode or a picture.
    """
    log, check = Path(log), AuditCheck()
    for path in (log, source, output):
        if path is not None and not Path(path).is_file():
            raise InputMissing(f"file not found: {path}")
    decoded: Iterator[str] | None = None
    with open(log, "rb") as handle:
        lines = enumerate(handle, start=1)
        header = _next_line(lines, check)
        if header.get("audit") != AUDIT_FORMAT:
            raise VerificationFailed("audit line 1", f"is not a {AUDIT_FORMAT} header")
        if source is not None:
            _compare_file(Path(source), header.get("input", {}).get("sha256"), "the input", "audit line 1")
            check.checked.append("input sha256")
        if frames and output is not None:
            decoded = _decoded_hashes(Path(output), header)
        footer = _frame_lines(lines, check, decoded)
    if output is not None:
        _compare_file(Path(output), footer.get("output", {}).get("sha256"), "the output", f"audit line {check.lines}")
        check.checked.append("output sha256")
    return check


def _next_line(lines: Iterator[tuple[int, bytes]], check: AuditCheck) -> dict:
    """The next line's fields, once it is shown to follow the line before it; a missing line fails."""
    try:
        number, line = next(lines)
    except StopIteration:
        raise VerificationFailed(f"audit line {check.lines + 1}",
                                 "missing: the log ends before its footer (cut short?)") from None
    where = f"audit line {number}"
    try:
        record = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise VerificationFailed(where, "is not a JSON line (changed or damaged)") from None
    if not isinstance(record, dict) or "prev" not in record:
        raise VerificationFailed(where, "has no prev hash: not a line of an audit log")
    if record["prev"] != check.chain_sha256:
        before = f"line {number - 1}" if number > 1 else "nothing"
        raise VerificationFailed(where, f"does not follow {before}: its prev hash differs (that line was changed, "
                                        "or lines were removed or inserted)")
    fields = {key: value for key, value in record.items() if key != "prev"}
    if encode_line(fields, record["prev"]) != line.rstrip(b"\n"):
        raise VerificationFailed(where, "is not written the way the log writes its lines (changed)")
    check.lines, check.chain_sha256 = number, line_sha256(line)
    return record


def _frame_lines(lines: Iterator[tuple[int, bytes]], check: AuditCheck, decoded: Iterator[str] | None) -> dict:
    """Read the frame lines up to the footer (checking each against ``decoded`` output frames); returns the footer."""
    while True:
        before = check.chain_sha256
        record = _next_line(lines, check)
        where = f"audit line {check.lines}"
        if "end" in record:
            break
        if "frame" not in record or "out" not in record:
            raise VerificationFailed(where, "is neither a frame line nor the footer")
        check.frames += 1
        if decoded is not None:
            found = next(decoded, None)
            if found != record["out"]:
                what = "is missing" if found is None else "differs from the line's out hash"
                raise VerificationFailed(f"output frame {check.frames - 1}", f"{what} ({where})")
    if record.get("seal") != seal(record):
        raise VerificationFailed(where, "its seal does not match its fields (the footer was changed)")
    if record.get("frames") != check.frames:
        raise VerificationFailed(where, f"counts {record.get('frames')} frames, the log has {check.frames} lines of them")
    if next(lines, None) is not None:
        raise VerificationFailed(f"audit line {check.lines + 1}", "follows the footer (lines were added)")
    if decoded is not None:
        if next(decoded, None) is not None:
            raise VerificationFailed(f"output frame {check.frames}", "is not in the log (frames were added)")
        check.checked.append("output frames")
    check.chain_sha256 = before  # the hash of the last frame line: what a signed output's manifest holds
    return record


def _compare_file(path: Path, expected: str | None, what: str, where: str) -> None:
    actual = file_sha256(path)
    if expected is None:
        raise VerificationFailed(where, f"records no sha256 for {what}")
    if actual != expected:
        raise VerificationFailed(what, f"{path.name}'s sha256 {actual[:16]}... differs from the "
                                       f"{expected[:16]}... of {where}")


def _decoded_hashes(output: Path, header: dict) -> Iterator[str]:
    """The sha256 of each decoded frame's planes of the video ``output``, in order."""
    import av

    if header.get("kind") != "video" or not header.get("output", {}).get("lossless"):
        raise InputError("the output's frames can be compared only for a lossless video encode; "
                         "this log's output was encoded with loss: compare its sha256")
    from ..media.planes import visible_planes

    def hashes() -> Iterator[str]:
        try:
            with av.open(str(output)) as container:
                for frame in container.decode(video=0):
                    yield planes_sha256(visible_planes(frame))
        except av.FFmpegError as exc:
            raise VerificationFailed("the output", f"{output.name} cannot be decoded ({exc})") from None
    return hashes()
