"""End to end: `gpen-video --audit` and `--sign` on the real talking-head clip with a random GPEN, and
`gpen-video verify`: two runs give the same bytes, and one changed byte in the output, the input or the log
fails, named."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.helpers.cli import assert_one_line_error, run_cli
from tests.helpers.fakes import save_tiny_gpen
from tests.helpers.paths import DATA
from tests.helpers.streams import leftovers

CLIP = DATA / "talking_head_844.mp4"
# Lossless (x264 at crf 0), so that verify can also compare every decoded frame; torch on the CPU, whose
# numbers depend on its batches: the audited run's fixed batches are what make it reproducible.
RUN = ("--end", "0.24", "--crf", "0", "--preset", "ultrafast", "--backend", "torch", "--device", "cpu", "-q")


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two audited runs of the same input, settings and weights, in two folders: (first folder, second)."""
    weights = save_tiny_gpen(tmp_path_factory.mktemp("weights") / "tiny-gpen.pth")
    folders = []
    for name in ("first", "second"):
        folder = tmp_path_factory.mktemp(name)
        result = run_cli(CLIP, folder / "out.mp4", "--weights", weights, "--audit", folder / "out.jsonl", *RUN)
        assert result.returncode == 0, result.stderr
        folders.append(folder)
    return folders[0], folders[1]


def _rechained(log: bytes) -> bytes:
    """``log`` with every ``prev`` and the footer's seal written anew: what a forger would do."""
    from gpen_video.review.audit import GENESIS, encode_line, line_sha256, seal

    lines, prev = [], GENESIS
    for record in (json.loads(line) for line in log.splitlines()):
        record.pop("prev")
        if "seal" in record:
            record["seal"] = seal({**record, "prev": prev})
        line = encode_line(record, prev)
        lines.append(line)
        prev = line_sha256(line)
    return b"\n".join(lines) + b"\n"


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_two_runs_give_the_same_output_and_log(audited) -> None:
    first, second = audited
    assert (first / "out.mp4").read_bytes() == (second / "out.mp4").read_bytes()
    assert (first / "out.jsonl").read_bytes() == (second / "out.jsonl").read_bytes()
    lines = [json.loads(line) for line in (first / "out.jsonl").read_text().splitlines()]
    header, frames, footer = lines[0], lines[1:-1], lines[-1]
    assert header["settings"]["encode"]["crf"] == 0 and header["output"]["lossless"]
    assert header["reproducible"]["bit_exact"] and header["reproducible"]["threads"]["encoder"] == 4
    assert header["changes"].startswith("the pixels under")
    assert [frame["frame"] for frame in frames] == list(range(6)) and footer["frames"] == 6
    assert all(face["track"] == 0 for frame in frames for face in frame["faces"])
    assert leftovers(first, {"out.mp4", "out.jsonl"}) == []


@pytest.mark.slow
def test_verify_passes_the_run_and_names_what_was_changed(audited, tmp_path: Path) -> None:
    folder = audited[0]
    log, output = folder / "out.jsonl", folder / "out.mp4"
    passed = run_cli("verify", log, "--input", CLIP, "--output", output, "--frames")
    assert passed.returncode == 0, passed.stderr
    assert "8 lines, 6 frames; input sha256, output frames, output sha256 match" in passed.stdout

    changed = tmp_path / "out.mp4"
    shutil.copy(output, changed)
    _flip(changed, changed.stat().st_size // 2)  # in the video's data
    failed = run_cli("verify", log, "--output", changed, "--frames")
    assert_one_line_error(failed, 2)
    assert "gpen-video: error: output frame" in failed.stderr and "(audit line" in failed.stderr
    failed = run_cli("verify", log, "--output", changed)
    assert_one_line_error(failed, 2)
    assert "the output: out.mp4's sha256" in failed.stderr and "audit line 8" in failed.stderr

    source = tmp_path / "in.mp4"
    shutil.copy(CLIP, source)
    _flip(source, 5000)
    failed = run_cli("verify", log, "--input", source)
    assert_one_line_error(failed, 2)
    assert "the input: in.mp4's sha256" in failed.stderr

    edited = tmp_path / "out.jsonl"
    edited.write_text(log.read_text().replace('"frame":3', '"frame":4', 1))
    failed = run_cli("verify", edited)
    assert_one_line_error(failed, 2)
    assert "gpen-video: error: audit line 6: does not follow line 5" in failed.stderr


@pytest.mark.slow
def test_upscaling_is_recorded_as_changing_every_pixel(tmp_path: Path) -> None:
    result = run_cli(CLIP, tmp_path / "out.mp4", "--restorer", "none", "--upscale", "2", "--end", "0.08",
                     "--audit", tmp_path / "out.jsonl", "--preset", "ultrafast", "-q")
    assert result.returncode == 0, result.stderr
    header = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert header["changes"] == "every pixel: the frame is enlarged 2x"


@pytest.mark.slow
def test_a_signed_output_carries_the_logs_hash_and_a_failed_signing_leaves_nothing(tmp_path: Path) -> None:
    pytest.importorskip("c2pa")
    pytest.importorskip("cryptography")
    from tests.helpers.signing import make_signing_chain

    chain = make_signing_chain(tmp_path)
    run = ("--restorer", "none", "--end", "0.08", "--preset", "ultrafast", "-q")
    out = tmp_path / "out"
    out.mkdir()
    result = run_cli(CLIP, out / "out.mp4", "--audit", out / "out.jsonl", "--sign", chain.chain, chain.key, *run)
    assert result.returncode == 0, result.stderr
    log = run_cli("verify", out / "out.jsonl", "--output", out / "out.mp4")
    assert log.returncode == 0, log.stderr
    assert "output sha256, signed audit hash match" in log.stdout
    signed = run_cli("verify", out / "out.mp4", "--trust", chain.root)
    assert signed.returncode == 0, signed.stderr
    assert signed.stdout.startswith("Content Credentials trusted")
    assert log.stdout.split("chain sha256 ")[1].strip() in signed.stdout

    # A forger who rewrites every line after the one changed keeps the chain whole, but not the signed hash.
    forged = tmp_path / "forged.jsonl"
    original = (out / "out.jsonl").read_bytes()
    forged.write_bytes(_rechained(original.replace(b'"frame":1,', b'"frame":7,', 1)))
    assert forged.read_bytes() != original
    assert run_cli("verify", forged).returncode == 0  # the chain alone cannot tell
    failed = run_cli("verify", forged, "--output", out / "out.mp4")
    assert_one_line_error(failed, 2)
    assert "out.mp4's Content Credentials: hold the audit hash" in failed.stderr

    bad_key = tmp_path / "bad-key.pem"
    bad_key.write_text("-----BEGIN PRIVATE KEY-----\nbm90IGEga2V5\n-----END PRIVATE KEY-----\n")
    failed_run = tmp_path / "failed"
    failed_run.mkdir()
    result = run_cli(CLIP, failed_run / "out.mp4", "--audit", failed_run / "out.jsonl", "--sign", chain.chain,
                     bad_key, *run)
    assert_one_line_error(result, 2)
    assert "cannot sign out.mp4" in result.stderr
    assert leftovers(failed_run, set()) == []


@pytest.mark.slow
def test_a_picture_gets_a_log_of_one_frame_and_signed_credentials(tmp_path: Path) -> None:
    pytest.importorskip("c2pa")
    pytest.importorskip("cryptography")
    from PIL import Image

    from tests.helpers.signing import make_signing_chain

    chain = make_signing_chain(tmp_path)
    picture = tmp_path / "in.png"
    Image.open(DATA / "Solvay_conference_1927.png").convert("RGB").crop((0, 0, 640, 480)).save(picture)
    result = run_cli(picture, tmp_path / "out.jpg", "--restorer", "none", "--audit", tmp_path / "out.jsonl",
                     "--sign", chain.chain, chain.key, "-q")
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    assert lines[0]["kind"] == "image" and [line.get("frame") for line in lines[1:-1]] == [0]
    assert len(lines[1]["faces"]) >= 3
    checked = run_cli("verify", tmp_path / "out.jsonl", "--input", picture, "--output", tmp_path / "out.jpg")
    assert checked.returncode == 0, checked.stderr
    assert "input sha256, output sha256, signed audit hash match" in checked.stdout
    assert run_cli("verify", tmp_path / "out.jpg", "--trust", chain.root).returncode == 0
