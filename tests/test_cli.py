"""End to end: the `gpen-video` command on real clips, bad input, interrupts."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest

from PIL import Image

from tests.helpers.cli import assert_one_line_error, run_cli
from tests.helpers.clips import make_clip
from tests.helpers.fakes import save_tiny_gpen
from tests.helpers.paths import ROOT, SAMPLE
from tests.helpers.streams import audio_packets, leftovers, video_pts

FAST = ("--preset", "ultrafast", "-q")


@pytest.fixture(scope="module")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight GPEN at 64 px, saved the way official files are (wrapped, module. prefix)."""
    return save_tiny_gpen(tmp_path_factory.mktemp("weights") / "tiny-gpen.pth", wrapped=True)


@pytest.mark.parametrize("clip", ["talking_head_844.mp4", "crowd_1080p.mp4"])
def test_passthrough_keeps_frames_timestamps_and_audio(data_dir: Path, tmp_path: Path, clip: str) -> None:
    source = data_dir / clip
    output = tmp_path / "out.mp4"
    report = tmp_path / "report.json"
    result = run_cli(source, output, "--restorer", "none", "--report", report, *FAST)
    assert result.returncode == 0, result.stderr
    assert video_pts(output) == video_pts(source)
    assert audio_packets(output) == audio_packets(source)
    data = json.loads(report.read_text())
    assert data["frames"] == len(video_pts(source))
    assert data["faces"] > 0 and len(data["per_frame"]) == data["frames"]
    assert {"versions", "settings", "stage_seconds", "metrics"} <= data.keys()
    assert leftovers(tmp_path, {"out.mp4", "report.json"}) == []


def test_tiny_gpen_checkpoint_runs_end_to_end(tmp_path: Path, tiny_checkpoint: Path) -> None:
    output = tmp_path / "out.mp4"
    result = run_cli(SAMPLE, output, "--weights", tiny_checkpoint, "--device", "cpu", *FAST)
    assert result.returncode == 0, result.stderr
    assert video_pts(output) == video_pts(SAMPLE)
    assert audio_packets(output) == audio_packets(SAMPLE)
    with av.open(str(output)) as container:
        first = next(container.decode(video=0)).to_ndarray(format="rgb24")
    with av.open(str(SAMPLE)) as container:
        original = next(container.decode(video=0)).to_ndarray(format="rgb24")
    # A random GPEN repaints the face: the output must differ from the input somewhere.
    assert np.abs(first.astype(int) - original.astype(int)).max() > 50


def test_compare_doubles_width_and_trim_cuts_both_streams(tmp_path: Path) -> None:
    output = tmp_path / "cmp.mp4"
    result = run_cli(SAMPLE, output, "--restorer", "none", "--compare", "--start", "1", "--end", "2", *FAST)
    assert result.returncode == 0, result.stderr
    with av.open(str(output)) as container:
        stream = container.streams.video[0]
        assert (stream.codec_context.width, stream.codec_context.height) == (1024, 512)
        frames = list(container.decode(video=0))
        first_video = float(frames[0].pts * frames[0].time_base)
    assert len(frames) == 25  # one second at 25 fps
    audio = audio_packets(output)
    assert audio == audio_packets(SAMPLE, 1.0, 2.0) or audio[1:-1] == audio_packets(SAMPLE, 1.0, 2.0)[1:-1]
    with av.open(str(output)) as container:
        first_audio = next(p for p in container.demux(audio=0) if p.size)
        audio_start = float(first_audio.pts * first_audio.time_base)
    assert abs(first_video - audio_start) <= 0.04  # in sync to within a frame


def test_image_mode_on_group_photo(data_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "solvay.png"
    result = run_cli(data_dir / "Solvay_conference_1927.png", output, "--restorer", "none", "--report",
                     tmp_path / "r.json", "-q")
    assert result.returncode == 0, result.stderr
    with av.open(str(output)) as container:
        image = next(container.decode(video=0)).to_ndarray(format="rgb24")
    assert image.shape == (568, 1328, 3)
    assert json.loads((tmp_path / "r.json").read_text())["faces"] >= 25


@pytest.mark.parametrize("case", ["missing", "text", "empty", "truncated", "option", "config", "thresholds"])
def test_bad_input_exits_2_with_one_line(data_dir: Path, tmp_path: Path, case: str) -> None:
    source = tmp_path / "in.mp4"
    extra: list[str] = []
    if case == "text":
        source.write_text("this is not a video\n" * 50)
    elif case == "empty":
        source.write_bytes(b"")
    elif case == "truncated":
        source.write_bytes((data_dir / "talking_head_844.mp4").read_bytes()[:20_000])
    elif case in ("option", "config", "thresholds"):
        source = SAMPLE
        if case == "option":
            extra = ["--no-such-option"]
        elif case == "thresholds":
            extra = ["--start-threshold", "0.3"]  # below the keep threshold (0.5): no hysteresis left
        else:
            config = tmp_path / "bad.toml"
            config.write_text("[faces]\nsmoth = 1\n")
            extra = ["--config", str(config)]
    output = tmp_path / "out.mp4"
    result = run_cli(source, output, "--restorer", "none", *extra, *FAST)
    assert_one_line_error(result, 2)
    assert not output.exists()
    assert leftovers(tmp_path, {"in.mp4", "bad.toml"}) == []


@pytest.mark.parametrize("options, file_named", [
    (("--model", "GPEN-BFR-256"), "GPEN-BFR-256"),
    (("--restorer", "none", "--mask", "parsing"), "parsing_parsenet.pth"),
], ids=["gpen", "parsing"])
def test_missing_weights_exit_3_and_say_where_to_put_them(tmp_path: Path, options: tuple, file_named: str) -> None:
    home = tmp_path / "home"
    output = tmp_path / "out.mp4"
    result = run_cli(SAMPLE, output, *options, "-q",
                     env={"GPEN_VIDEO_HOME": str(home), "https_proxy": "http://127.0.0.1:9", "HTTPS_PROXY": "http://127.0.0.1:9"})
    assert_one_line_error(result, 3)
    assert file_named in result.stderr and str(home) in result.stderr
    assert ("--weights" in result.stderr) == (file_named != "parsing_parsenet.pth")  # a GPEN option only
    assert not output.exists()


def test_truncated_input_is_encoded_with_a_warning_and_reported(tmp_path: Path) -> None:
    full = make_clip(tmp_path / "full.mkv", frames=50, audio=())  # mkv declares its duration up front
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    result = run_cli(cut, tmp_path / "out.mp4", "--restorer", "none", "--report", tmp_path / "r.json", *FAST)
    assert result.returncode == 0, result.stderr
    (warning,) = [line for line in result.stderr.splitlines() if line.strip()]
    assert "warning: the input ends early: decoded" in warning and "of the 50 frames" in warning
    reader = json.loads((tmp_path / "r.json").read_text())["media"]["reader"]
    assert reader["declared_frames"] == 50 and 0 < reader["frames"] < 45 and warning.endswith(reader["notices"][0])


def test_library_warnings_do_not_reach_stderr(tmp_path: Path) -> None:
    picture = tmp_path / "palette.png"  # PIL warns when it converts this kind of palette picture to RGB
    image = Image.fromarray(np.arange(64 * 64, dtype=np.uint32).reshape(64, 64).astype(np.uint8)).convert("P")
    image.save(picture, transparency=bytes([0] * 16 + [255] * 240))
    result = run_cli(picture, tmp_path / "out.png", "--restorer", "none", "-q")
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == ""


def test_report_path_is_checked_before_any_work(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    result = run_cli(SAMPLE, output, "--restorer", "none", "--report", str(tmp_path / "missing" / "r.json"), *FAST)
    assert_one_line_error(result, 2)
    assert "missing" in result.stderr and not output.exists()
    result = run_cli(SAMPLE, output, "--restorer", "none", "--report", str(SAMPLE), *FAST)
    assert_one_line_error(result, 2)


def test_existing_output_needs_overwrite_flag(tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    result = run_cli(SAMPLE, output, "--restorer", "none", *FAST)
    assert_one_line_error(result, 2)
    assert f"output {output} already exists; use -y to overwrite it" in result.stderr
    assert output.read_bytes() == b"precious"


# Runs the command in a fresh interpreter, then reports its peak memory (VmHWM: getrusage's maxrss keeps the
# forking parent's) and whether torch was ever imported.
PEAK_KB = "int(next(l for l in open('/proc/self/status') if l.startswith('VmHWM')).split()[1])"
MEASURED_MAIN = f"""
import json, sys
from gpen_video.cli import main
code = main(sys.argv[1:])
print(json.dumps({{"torch": "torch" in sys.modules, "peak_kb": {PEAK_KB}}}))
sys.exit(code)
"""
IMPORT_TORCH = f"""
import json
import torch
print(json.dumps({{"torch": True, "peak_kb": {PEAK_KB}}}))
"""


def _measured(code: str, *args: str | Path) -> tuple[subprocess.CompletedProcess, float, dict]:
    """``python -c code ARGS`` from the checkout: (the process, its wall-clock seconds, what it printed last)."""
    began = time.perf_counter()
    result = run_cli(*args, program=("-c", code))
    seconds = time.perf_counter() - began
    return result, seconds, json.loads(result.stdout.splitlines()[-1])


@pytest.mark.serial
@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the peak memory from /proc")
def test_settings_and_destinations_are_checked_before_torch_loads(tmp_path: Path) -> None:
    """Config errors and bad destinations come back faster and smaller than ``import torch`` alone, without it.

    Before, every one of them loaded torch (about 770 MB) and answered after 4-7 s.
    """
    _, torch_seconds, torch_run = _measured(IMPORT_TORCH)
    bad_key, bad_value = tmp_path / "bad_key.toml", tmp_path / "bad_value.toml"
    bad_key.write_text("[faces]\nsmoth = 1\n")
    bad_value.write_text("[faces]\ndet_size = \"big\"\n")
    existing = tmp_path / "existing.mp4"
    existing.write_bytes(b"precious")
    source = tmp_path / "in.mp4"
    source.write_bytes(SAMPLE.read_bytes())
    out = tmp_path / "out.mp4"
    cases = {
        "config key": (source, out, "--config", bad_key),
        "config value": (source, out, "--config", bad_value),
        "unknown preset": (source, out, "--config", "nosuchpreset"),
        "option value": (source, out, "--alpha", "2"),
        "existing output": (source, existing),
        "output = input": (source, source, "-y"),
        "missing input": (tmp_path / "missing.mp4", out),
        "batch config": ("batch", source, "--out-dir", tmp_path / "batch", "--config", "nosuchpreset"),
        "live config": ("live", "--source", source, "--no-window", "--config", bad_key),
    }
    for case, args in cases.items():
        result, seconds, run = _measured(MEASURED_MAIN, *args, "-q")
        assert_one_line_error(result, 2)
        assert not run["torch"], case
        assert seconds < torch_seconds, (case, seconds, torch_seconds)
        assert run["peak_kb"] < torch_run["peak_kb"] / 2, (case, run, torch_run)
    assert existing.read_bytes() == b"precious" and source.read_bytes() == SAMPLE.read_bytes()
    assert leftovers(tmp_path, {"bad_key.toml", "bad_value.toml", "existing.mp4", "in.mp4"}) == []


def test_cuda_asked_for_without_cuda_fails_with_or_without_gpen(tmp_path: Path, tiny_checkpoint: Path) -> None:
    """``--restorer none`` refuses ``--device cuda`` the way GPEN does (it was silently ignored)."""
    import torch

    if torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    gpen = run_cli(SAMPLE, tmp_path / "gpen.mp4", "--weights", tiny_checkpoint, "--device", "cuda", *FAST)
    none = run_cli(SAMPLE, tmp_path / "none.mp4", "--restorer", "none", "--device", "cuda", *FAST)
    assert_one_line_error(gpen, 2)
    assert_one_line_error(none, 2)
    assert none.stderr == gpen.stderr and "CUDA is not available" in none.stderr
    assert list(tmp_path.iterdir()) == []


def test_hints_name_the_options_library_errors_leave_out(tmp_path: Path) -> None:
    from gpen_video.cli import error_line, hint_for
    from gpen_video.errors import DestinationExists, InputError, WeightsMissing

    place = tmp_path / "w.pth"
    offline = WeightsMissing("cannot download", name=None, url="http://x", path=place, reason="refused")
    not_cached = WeightsMissing("not in the cache", name="GPEN-BFR-512", url="http://x", path=place, reason=None)
    assert error_line(DestinationExists(place)) == f"output {place} already exists; use -y to overwrite it"
    assert hint_for(offline) is None  # which file it is decides: only a GPEN checkpoint has --weights
    offline.registry_kind = "gpen"
    assert hint_for(offline) == "or pass --weights PATH"
    assert hint_for(not_cached) == "or run `gpen-video weights download GPEN-BFR-512`"
    assert hint_for(InputError("bad")) is None and error_line(InputError("bad")) == "bad"


def test_refuses_to_overwrite_input(tmp_path: Path) -> None:
    source = tmp_path / "in.mp4"
    source.write_bytes(SAMPLE.read_bytes())
    result = run_cli(source, source, "--restorer", "none", "-y", *FAST)
    assert_one_line_error(result, 2)
    assert source.read_bytes() == SAMPLE.read_bytes()


def test_file_urls_name_local_inputs_in_every_spelling(tmp_path: Path) -> None:
    clip = make_clip(tmp_path / "v.mp4", frames=5)
    relative = os.path.relpath(clip, ROOT)  # the command runs in ROOT
    for spelling, output in ((f"file:{relative}", tmp_path / "a.mp4"), (f"file://{clip}", None)):
        result = run_cli(spelling, *([output] if output else []), "--restorer", "none", *FAST)
        assert result.returncode == 0, result.stderr
        assert len(video_pts(output or tmp_path / "output_v.mp4")) == 5  # the default output lies beside the input
    before = clip.read_bytes()
    result = run_cli(f"file:{relative}", clip, "--restorer", "none", "-y", *FAST)
    assert_one_line_error(result, 2)
    assert "over the input" in result.stderr and clip.read_bytes() == before
    result = run_cli(f"file:{tmp_path / 'nosuch.mp4'}", tmp_path / "b.mp4", "--restorer", "none", *FAST)
    assert_one_line_error(result, 2)
    assert "input not found" in result.stderr


@pytest.mark.serial
def test_sigint_exits_130_and_leaves_destination_untouched(data_dir: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.mp4"
    output.write_bytes(b"precious")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, "-m", "gpen_video", str(data_dir / "crowd_1080p.mp4"), str(output), "--restorer", "none",
         "--preset", "slow", "-y"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(list(tmp_path.iterdir())) < 2:
        time.sleep(0.1)  # wait until the temporary output exists: the run is mid-way
    assert len(list(tmp_path.iterdir())) == 2, "the run never started writing"
    time.sleep(0.5)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 130, stderr
    assert "Traceback" not in stderr
    assert output.read_bytes() == b"precious"
    assert leftovers(tmp_path, {"out.mp4"}) == []


def test_help_documents_defaults_and_exit_codes() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "[default: 640]" in result.stdout  # --det-size
    assert "--start-threshold" in result.stdout and "[default: 0.9]" in result.stdout
    assert "--det-threshold" not in result.stdout  # replaced by --start-threshold and --keep-threshold
    assert "130" in result.stdout and "--restorer" in result.stdout


def option_helps(help_text: str) -> dict[str, str]:
    """Each long option in ``--help`` output -> its entry: the invocation's line and the continuation lines
    of its help text, joined by single spaces."""
    helps: dict[str, str] = {}
    flag = None
    for line in help_text.splitlines():
        stripped = line.strip()
        if line.startswith("  -"):
            flag = next((word.rstrip(",") for word in stripped.split() if word.startswith("--")), None)
            if flag is not None:
                helps[flag] = stripped
        elif flag is not None and line.startswith("   ") and stripped:
            helps[flag] += " " + stripped
        else:
            flag = None
    return helps


def shown_default(help_text: str) -> str | None:
    match = re.search(r"\[default: ([^\]]*)\]$", help_text)
    return match.group(1) if match else None


@pytest.mark.parametrize("command, preset", [((), None), (("batch",), None), (("live",), "webcam")])
def test_help_shows_the_defaults_the_command_runs_with(command: tuple[str, ...], preset: str | None) -> None:
    from gpen_video.cli.parsers import TUNING_OPTIONS
    from gpen_video.config import build_settings

    settings = build_settings(preset, {})
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    helps = option_helps(result.stdout)
    for flag, section, key, *_ in TUNING_OPTIONS:
        assert shown_default(helps[flag]) == str(getattr(getattr(settings, section), key)), (flag, helps[flag])
    if preset is not None:  # live's own options come from the same preset
        assert shown_default(helps["--reconnect-seconds"]) == str(settings.live.reconnect_seconds)
        assert shown_default(helps["--max-in-flight"]) == str(settings.live.max_in_flight)
        assert "[default: GPEN-BFR-256]" in result.stdout and "GPEN-BFR-512]" not in result.stdout


@pytest.mark.parametrize("command", [(), ("live",), ("batch",), ("export",), ("weights",)])
def test_help_metavars_explain_instead_of_repeating_the_option(command: tuple[str, ...]) -> None:
    result = run_cli(*command, "--help")
    assert result.returncode == 0, result.stderr
    repeats = []
    for line in result.stdout.splitlines():
        for flag, metavar in re.findall(r"(--?[a-z][a-z0-9-]*) ([A-Z][A-Z0-9_.]*)\b", line):
            # argparse's own metavar: the dest upper-cased (START_THRESHOLD, or FACES.START_THRESHOLD)
            if metavar.split(".")[-1] == flag.lstrip("-").replace("-", "_").upper() or "_" in metavar:
                repeats.append(f"{flag} {metavar}")
    assert repeats == []


@pytest.mark.parametrize("command, examples", [((), 3), (("live",), 1), (("batch",), 1), (("export",), 1)])
def test_help_shows_examples_and_fits_80_columns(command: tuple[str, ...], examples: int) -> None:
    result = run_cli(*command, "--help", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    assert [line for line in result.stdout.splitlines() if len(line) > 80] == []
    section = result.stdout.split("\nexamples:\n", 1)[1].split("\n\n", 1)[0]
    shown = [line for line in section.splitlines() if line.startswith("  gpen-video ")]
    assert examples <= len(shown) <= 4, section


@pytest.mark.parametrize("command, preset", [(("samples/talking_head.mp4", "{tmp}/out.mp4", "--restorer", "none"), "film"),
                                             (("live", "--source", "0"), "webcam")])
def test_encoder_preset_given_a_config_preset_name_suggests_config(tmp_path: Path, command: tuple[str, ...],
                                                                     preset: str) -> None:
    result = run_cli(*(arg.format(tmp=tmp_path) for arg in command), "--preset", preset)
    assert_one_line_error(result, 2)
    assert f"--config {preset}" in result.stderr
    assert list(tmp_path.iterdir()) == []
