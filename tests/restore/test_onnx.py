"""ONNX export and the ONNX Runtime restorer: equivalence with torch, fp16, the whole pipeline, bad files,
execution providers, the measured CPU default, the registry listing.

Exports are the slow part (torch.export traces every op: 7-14 s of CPU each), so the module exports two
small graphs only: the tiny reference fixture with a dynamic batch (through ``gpen-video export``) and a
16 px fp16 network. The 512 px checks (fixed and dynamic batch) are in ``bench/bench_restorer.py
--backends``, which exports GPEN-BFR-256 and 512 anyway.
"""
from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto, helper

from gpen_video.cli import main
from gpen_video.config import RestoreSettings
from gpen_video.errors import InputError, WeightsError
from gpen_video.media.checksum import file_sha256
from gpen_video.models.gpen import build_gpen
from gpen_video.models.onnx import export_onnx
from gpen_video.models.weights import list_models
from gpen_video.restore import GpenRestorer, build_restorer, cpu_choice
from gpen_video.restore.onnx import OnnxRestorer
from gpen_video.restore.providers import CPU, CUDA, TENSORRT, ProviderPlan, plan_providers
from tests.helpers.cli import run_cli
from tests.helpers.paths import DATA
from tests.helpers.real_media import cut_clip

CPU_PLAN = ProviderPlan([(CPU, {})], "cpu")


def _rel(a, b) -> float:
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return float(np.abs(a - b).max() / np.abs(b).max())


def _one_line(capsys) -> str:
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("gpen-video: error: "), lines
    return lines[0]


@pytest.fixture(scope="module")
def exported(tmp_path_factory, tiny_reference) -> tuple[Path, Path]:
    """(checkpoint, its dynamic-batch export) of the tiny reference GPEN, exported by the command."""
    folder = tmp_path_factory.mktemp("onnx")
    checkpoint = folder / "tiny64.pth"
    torch.save({"g_ema": tiny_reference[1]["state_dict"]}, checkpoint)
    graph = folder / "tiny64.onnx"
    assert main(["export", "--weights", str(checkpoint), "-o", str(graph), "--dynamic-batch"]) == 0
    return checkpoint, graph


def test_export_reproduces_the_reference_fixture_at_batches_1_3_8(exported, tiny_reference):
    checkpoint, graph = exported
    model, d = tiny_reference
    proto = onnx.load(str(graph))
    onnx.checker.check_model(proto, full_check=True)
    meta = {p.key: p.value for p in proto.metadata_props}
    assert meta == {"gpen_video.model": "tiny64", "gpen_video.size": "64", "gpen_video.precision": "fp32",
                    "gpen_video.source_sha256": file_sha256(checkpoint)}
    session = ort.InferenceSession(str(graph), providers=[CPU])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, out.name) == ("input", "output") and inp.shape[1:] == [3, 64, 64] and isinstance(inp.shape[0], str)
    (y,) = session.run(None, {"input": d["input"].numpy()})
    assert _rel(y, d["output"]) <= 1e-4  # the reference implementation's own output
    faces = torch.cat([d["input"], d["input"].flip(3), d["input"].flip(2), -d["input"]])  # 8 different inputs
    for n in (1, 3, 8):
        with torch.inference_mode():
            want = model(faces[:n]).numpy()
        (got,) = session.run(None, {"input": faces[:n].numpy()})
        assert got.shape == want.shape and _rel(got, want) <= 1e-4, n


def test_fp16_export_runs_close_to_fp32(tmp_path, capsys):
    torch.manual_seed(2)
    model = build_gpen(16, channel_multiplier=1, narrow=1 / 16, style_dim=64, n_mlp=2)  # 16 px: the quickest export
    done = export_onnx(model, tmp_path / "half.onnx", name="half", source_sha256="", fp16=True)
    restorer = OnnxRestorer(done.path, CPU_PLAN, warmup=False)
    assert restorer.backend == "onnxruntime CPUExecutionProvider fp16"
    assert restorer.signature.input_type == np.float32  # fp16 inside, float32 at both ends
    x = torch.rand(4, 3, 16, 16) * 2 - 1
    with torch.inference_mode():
        want = model(x).numpy()
    got = np.concatenate([restorer.session.run(None, {"input": x[i:i + 1].numpy()})[0] for i in range(4)])
    error = _rel(got, want)
    with capsys.disabled():
        print(f"\n  fp16 export vs fp32 torch: relative error {error:.1e}")
    assert 1e-6 < error <= 1e-2  # really fp16, and within the bound


@pytest.fixture(scope="module")
def clip(tmp_path_factory) -> Path:
    return cut_clip(DATA / "talking_head_844.mp4", tmp_path_factory.mktemp("clip") / "clip.mp4", seconds=0.3,
                    width=320)


def _frames(path: Path, fmt: str = "rgb24") -> list[np.ndarray]:
    with av.open(str(path)) as container:
        return [f.to_ndarray(format=fmt) for f in container.decode(video=0)]


def test_onnx_weights_run_the_pipeline_like_torch(exported, clip, tmp_path):
    checkpoint, graph = exported
    lossless = ("--device", "cpu", "--crf", "0", "--pix-fmt", "yuv444p", "--preset", "ultrafast", "-q", "--det-size", "320")
    report = tmp_path / "report.json"
    assert main([str(clip), str(tmp_path / "onnx.mp4"), "--weights", str(graph), "--report", str(report),
                 *lossless]) == 0
    assert main([str(clip), str(tmp_path / "torch.mp4"), "--weights", str(checkpoint), "--backend", "torch", "--fp32",
                 *lossless]) == 0
    restorer = json.loads(report.read_text())["restorer"]
    assert restorer["backend"] == "onnxruntime CPUExecutionProvider fp32"
    assert restorer["cpu_choice"]["cpu"] == cpu_choice.cpu_key()
    original, by_torch = _frames(clip), _frames(tmp_path / "torch.mp4")
    assert len(by_torch) == len(original) > 0
    face = np.stack([np.abs(a.astype(int) - b).max(-1) > 8 for a, b in zip(by_torch, original)])
    assert face.mean() > 0.01  # the random GPEN repainted the face regions
    # Compared as stored (lossless 4:4:4 YUV): an RGB step of 1 can read back as 3 after YUV -> RGB.
    yuv_onnx, yuv_torch = _frames(tmp_path / "onnx.mp4", "yuv444p"), _frames(tmp_path / "torch.mp4", "yuv444p")
    assert len(yuv_onnx) == len(yuv_torch) == len(original)
    diff = np.stack([np.abs(a.astype(int) - b).max(0) for a, b in zip(yuv_onnx, yuv_torch)])
    assert diff[face].max() <= 2 and diff.max() <= 2
    assert (diff > 0).mean() < 0.001  # and nearly every pixel is the same


def _graph(path: Path, inputs, outputs, nodes) -> Path:
    model = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs), opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def test_a_foreign_fixed_batch_graph_is_accepted_and_padded(tmp_path):
    img = helper.make_tensor_value_info("img", TensorProto.FLOAT, [2, 3, 32, 32])
    out = helper.make_tensor_value_info("neg", TensorProto.FLOAT, [2, 3, 32, 32])
    graph = _graph(tmp_path / "negate.onnx", [img], [out], [helper.make_node("Neg", ["img"], ["neg"])])
    restorer = OnnxRestorer(graph, CPU_PLAN, batch_size=8)
    assert (restorer.size, restorer.batch_size, restorer.device) == (32, 2, "cpu")
    crops = np.random.default_rng(0).integers(0, 256, (3, 32, 32, 3), dtype=np.uint8)
    restorer.submit(crops, "a")
    restorer.submit(crops[:1], "b")
    (a, got_a), (b, got_b) = restorer.flush()
    assert (a, b) == ("a", "b")
    assert np.array_equal(got_a, 255 - crops) and np.array_equal(got_b, 255 - crops[:1])


def test_bad_onnx_files_fail_in_one_line_with_exit_3(exported, clip, tmp_path, capsys):
    _, graph = exported
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(graph.read_bytes()[: graph.stat().st_size // 2])
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(np.random.default_rng(0).bytes(4096))
    flat = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 64])
    wrong = _graph(tmp_path / "wrong.onnx", [flat], [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 64])],
                   [helper.make_node("Neg", ["x"], ["y"])])
    for bad, words in ((truncated, "not a usable ONNX model"), (corrupt, "not a usable ONNX model"),
                       (wrong, "is not a GPEN graph: it has inputs x tensor(float) [1, 3, 64]")):
        assert main([str(clip), str(tmp_path / "out.mp4"), "--weights", str(bad), "--device", "cpu", "-q"]) == 3
        assert words in _one_line(capsys)
        assert not (tmp_path / "out.mp4").exists()
    # TensorRT asked for where onnxruntime has none (this machine): one line, exit 2 like --device cuda without CUDA
    assert main([str(clip), str(tmp_path / "out.mp4"), "--weights", str(graph), "--backend", "tensorrt", "-q"]) == 2
    assert "no TensorRT execution provider" in _one_line(capsys)


def test_provider_plans(monkeypatch, caplog):
    monkeypatch.setattr("gpen_video.restore.providers.resolve_device", lambda spec: torch.device("cuda:1"))
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    gpu = plan_providers("onnxruntime", "auto", fp16=True, engine_cache="/c", available=[CUDA, CPU])
    assert gpu.names == [CUDA, CPU] and gpu.providers[0][1] == {"device_id": "1"} and gpu.device == "cuda:1"
    trt = plan_providers("tensorrt", "cuda:1", fp16=True, engine_cache="/c", available=[TENSORRT, CUDA, CPU])
    assert trt.names == [TENSORRT, CUDA, CPU]
    assert {"device_id": "1", "trt_fp16_enable": "True", "trt_engine_cache_enable": "True",
            "trt_engine_cache_path": "/c"}.items() <= trt.providers[0][1].items()
    fallback = plan_providers("onnxruntime", "cuda", fp16=False, engine_cache="/c", available=[CPU])
    assert fallback.names == [CPU] and fallback.device == "cpu" and "no CUDA execution provider" in fallback.notices[0]
    assert plan_providers("onnxruntime", "cpu", fp16=False, engine_cache="/c", available=[CUDA, CPU]).names == [CPU]
    with pytest.raises(InputError, match="no TensorRT"):
        plan_providers("tensorrt", "cuda", fp16=False, engine_cache="/c", available=[CUDA, CPU])


# Runs the command with every CUDA device hidden, then says whether torch ever initialised CUDA.
WITHOUT_CUDA = """
import sys
import torch
from gpen_video.cli import main
code = main(sys.argv[1:])
print("cuda initialised" if torch.cuda.is_initialized() else "cuda untouched")
sys.exit(code)
"""


def test_onnx_weights_run_on_the_cpu_path_without_touching_cuda(exported, clip, tmp_path):
    """The CPU route needs no CUDA wheel: ONNX Runtime runs GPEN and the embedded detector, OpenCV the rest."""
    _, graph = exported
    result = run_cli(clip, tmp_path / "out.mp4", "--weights", graph, "--report", tmp_path / "r.json", "-q",
                     "--preset", "ultrafast", program=("-c", WITHOUT_CUDA), env={"CUDA_VISIBLE_DEVICES": ""})
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["cuda", "untouched"]
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["restorer"]["backend"] == "onnxruntime CPUExecutionProvider fp32"
    assert report["frames"] == len(_frames(clip)) and report["faces"] > 0


def test_cpu_default_is_measured_once_per_environment_and_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path))
    calls = []

    def measure():
        calls.append(1)
        return {"torch fp32": 30.0, "torch bf16": 10.0, "onnxruntime fp32": 20.0}

    first = cpu_choice.choose_cpu_backend(measure=measure)
    assert (first.backend, first.precision, first.measured_now) == ("torch", "bf16", True)
    again = cpu_choice.choose_cpu_backend(measure=measure)
    assert calls == [1] and not again.measured_now and again.timings_ms == first.timings_ms
    fp32 = cpu_choice.choose_cpu_backend(fp32_only=True, measure=measure)
    assert (fp32.backend, fp32.precision) == ("onnxruntime", "fp32")
    saved = json.loads((tmp_path / cpu_choice.CACHE_FILE).read_text())
    assert list(saved) == [cpu_choice.cache_key()] and cpu_choice.cache_key().startswith(cpu_choice.cpu_key())
    assert cpu_choice.cached_choice().as_report()["probe_ms"]["onnxruntime fp32"] == 20.0


def test_auto_backend_follows_the_file_and_the_measurement(exported, tmp_path, monkeypatch):
    checkpoint, graph = exported
    assert "onnxruntime" in build_restorer(RestoreSettings(weights=str(graph), device="cpu")).backend
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path))
    (tmp_path / cpu_choice.CACHE_FILE).write_text(json.dumps({cpu_choice.cache_key(): {"probe_ms": {
        "torch fp32": 3.0, "onnxruntime fp32": 1.0}}}))
    (tmp_path / "onnx").mkdir()
    cached = tmp_path / "onnx" / f"tiny64-{file_sha256(checkpoint)[:12]}.onnx"
    cached.write_bytes(graph.read_bytes())  # the export a first run would have made
    restorer = build_restorer(RestoreSettings(weights=str(checkpoint), device="cpu"))
    assert restorer.backend == "onnxruntime CPUExecutionProvider fp32"
    assert isinstance(build_restorer(RestoreSettings(weights=str(checkpoint), device="cpu", backend="torch")),
                      GpenRestorer)
    with pytest.raises(InputError, match="not the ONNX graph"):
        build_restorer(RestoreSettings(weights=str(graph), device="cpu", backend="torch"))
    with pytest.raises(WeightsError, match="already an ONNX graph"):
        from gpen_video.models.onnx import export_checkpoint
        export_checkpoint("x", graph, tmp_path / "again.onnx")


def test_weights_list_shows_onnx_exports(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path))
    (tmp_path / "GPEN-BFR-256.onnx").write_bytes(b"x")
    (tmp_path / "mine.onnx").write_bytes(b"x")
    rows = {r["name"]: r for r in list_models()}
    assert rows["GPEN-BFR-256 (onnx)"]["present"] and not rows["GPEN-BFR-512 (onnx)"]["present"]
    assert rows["GPEN-BFR-512"]["kind"] == "gpen" and rows["mine"]["kind"] == "gpen-onnx"
    monkeypatch.setenv("COLUMNS", "400")  # a table wide enough for whole paths
    assert main(["weights", "list"]) == 0
    listing = capsys.readouterr().err
    assert str(tmp_path / "GPEN-BFR-256.onnx") in listing and str(tmp_path / "GPEN-BFR-256.pth") in listing
    assert "GPEN-BFR-256 (onnx)" in listing and str(tmp_path / "mine.onnx") in listing


def test_live_and_batch_take_backend():
    from gpen_video.cli.batch import batch_parser
    from gpen_video.cli.live import live_parser
    from gpen_video.cli.parsers import command_line_overrides

    live = live_parser().parse_args(["--source", "0", "--backend", "onnxruntime"])
    batch = batch_parser().parse_args(["in.mp4", "--out-dir", "o", "--backend", "tensorrt"])
    assert command_line_overrides(live)["restore"]["backend"] == "onnxruntime"
    assert command_line_overrides(batch)["restore"]["backend"] == "tensorrt"


# -- numbers that are not numbers ------------------------------------------------------------------------------
def _square(name: str) -> onnx.ValueInfoProto:
    return helper.make_tensor_value_info(name, TensorProto.FLOAT, ["N", 3, 16, 16])


def _nan_weight(path: Path) -> Path:
    """x * w with the one weight w = NaN."""
    w = helper.make_tensor("w", TensorProto.FLOAT, [1], [float("nan")])
    model = helper.make_model(helper.make_graph([helper.make_node("Mul", ["x", "w"], ["y"])], "g", [_square("x")],
                                                [_square("y")], initializer=[w]),
                              opset_imports=[helper.make_opsetid("", 17)])
    onnx.save(model, str(path))
    return path


def _divide_by_zero(path: Path, numerator: str) -> Path:
    """(x - x) / (x - x) = NaN everywhere, or (x + 2) / (x - x) = +Inf: fine weights, a graph gone wrong."""
    two = helper.make_tensor("two", TensorProto.FLOAT, [1], [2.0])
    nodes = [helper.make_node("Sub", ["x", "x"], ["zero"]), helper.make_node("Add", ["x", "two"], ["x2"]),
             helper.make_node("Div", [{"nan": "zero", "inf": "x2"}[numerator], "zero"], ["y"])]
    onnx.save(helper.make_model(helper.make_graph(nodes, "g", [_square("x")], [_square("y")], initializer=[two]),
                                opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


@pytest.mark.parametrize("numerator", ["nan", "inf"])
def test_a_graph_computing_nan_or_inf_stops_at_the_first_batch_naming_the_file(tmp_path, numerator):
    graph = _divide_by_zero(tmp_path / "broken.onnx", numerator)
    restorer = OnnxRestorer(graph, CPU_PLAN, warmup=False)
    crops = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    with pytest.raises(WeightsError, match=f"{graph} gives NaN or infinite values"):
        restorer.submit(crops)
    with pytest.raises(WeightsError, match=f"{graph} gives NaN or infinite values"):
        OnnxRestorer(graph, CPU_PLAN)  # the warm-up batch is the first batch


def test_an_onnx_weight_holding_nan_is_refused_at_load_naming_it(tmp_path):
    graph = _nan_weight(tmp_path / "nan.onnx")
    with pytest.raises(WeightsError, match=f"{graph} refused: tensor 'w' holds NaN or infinite values"):
        OnnxRestorer(graph, CPU_PLAN, warmup=False)


@pytest.mark.parametrize("make", [_nan_weight, lambda path: _divide_by_zero(path, "nan")], ids=["nan-weight", "0/0"])
def test_nan_graphs_exit_3_in_one_line_with_no_output(clip, tmp_path, capsys, make):
    graph = make(tmp_path / "bad.onnx")
    assert main([str(clip), str(tmp_path / "out.mp4"), "--weights", str(graph), "--device", "cpu", "-q"]) == 3
    assert str(graph) in _one_line(capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.onnx"]


def test_a_refused_checkpoint_never_announces_an_export(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path / "cache"))
    corrupt = tmp_path / "corrupt.pth"
    corrupt.write_bytes(b"\x07" + bytes(range(256)) * 8)
    with pytest.raises(WeightsError, match="truncated or corrupt"):
        build_restorer(RestoreSettings(weights=str(corrupt), backend="onnxruntime", device="cpu"))
    assert "exporting" not in caplog.text


# -- opsets ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("opset", ["7", "99", "-1", "17"])
def test_an_opset_the_exporter_would_not_write_is_refused(exported, tmp_path, capsys, opset):
    checkpoint, _ = exported
    dest = tmp_path / "x.onnx"
    assert main(["export", "--weights", str(checkpoint), "-o", str(dest), "--opset", opset]) == 2
    assert f"--opset must be from 18 to {onnx.defs.onnx_opset_version()}, got {opset}" in _one_line(capsys)
    assert not dest.exists()


def test_a_supported_opset_is_written_as_asked(tmp_path):
    torch.manual_seed(2)
    model = build_gpen(16, channel_multiplier=1, narrow=1 / 16, style_dim=64, n_mlp=2)
    done = export_onnx(model, tmp_path / "o21.onnx", name="o21", source_sha256="", opset=21)
    written = {o.domain: o.version for o in onnx.load(str(done.path)).opset_import}
    assert done.opset == written[""] == 21
