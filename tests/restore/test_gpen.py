"""GpenRestorer: uint8/tensor I/O, micro-batching, submit/collect scheduling, precision, build_restorer."""
from __future__ import annotations

import gc
import threading
from fractions import Fraction

import numpy as np
import pytest
import torch

from gpen_video.config import RestoreSettings, Settings
from gpen_video.engine import Engine
from gpen_video.models.device import cpu_has_bf16, onnx_providers, resolve_device, resolve_precision
from gpen_video.errors import InputError, WeightsError
from gpen_video.restore import GpenRestorer, PassthroughRestorer, build_restorer, to_model_input, to_uint8
from gpen_video.restore.gpen import bucket_for, bucket_sizes
from gpen_video.types import Frame
from tests.helpers.fakes import FixedDetector, tiny_gpen

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")


@pytest.fixture(scope="module")
def crops():
    return np.random.default_rng(0).integers(0, 256, (7, 64, 64, 3), dtype=np.uint8)


def test_uint8_conversions_round_trip():
    x = torch.arange(256, dtype=torch.uint8).repeat(4 * 64 * 64 * 3 // 256).view(4, 64, 64, 3)
    f = to_model_input(x)
    assert f.shape == (4, 3, 64, 64) and f.dtype == torch.float32
    assert f.min() == -1 and f.max() == 1
    assert torch.equal(to_uint8(f), x)
    assert torch.equal(to_uint8(torch.full((1, 3, 2, 2), 5.0)), torch.full((1, 2, 2, 3), 255, dtype=torch.uint8))


def test_restore_uint8_matches_model(tiny_reference, crops):
    model, _ = tiny_reference
    r = GpenRestorer(model, device="cpu", batch_size=3, precision="fp32")
    assert r.size == 64 and r.precision == "fp32" and r.device == "cpu"
    out = r.restore(crops)
    assert out.dtype == np.uint8 and out.shape == crops.shape
    with torch.inference_mode():
        y = model(torch.from_numpy(crops).permute(0, 3, 1, 2).float() / 127.5 - 1)
    want = ((y + 1) * 127.5).clamp(0, 255).round().permute(0, 2, 3, 1).numpy()
    assert np.abs(out.astype(np.int16) - want).max() <= 1  # float noise may flip a rounding
    assert np.mean(out == want) > 0.99
    # batching does not change results: micro-batches of 3 vs one at a time
    single = GpenRestorer(model, batch_size=1, precision="fp32", warmup=False).restore(crops)
    assert np.abs(single.astype(np.int16) - out).max() <= 1


def test_restore_float_tensor_reproduces_fixture(tiny_reference):
    model, d = tiny_reference
    r = GpenRestorer(model, batch_size=1, precision="fp32", warmup=False)
    out = r.restore(d["input"])
    ref = d["output"].clamp(-1, 1)
    assert out.shape == ref.shape and out.device == d["input"].device
    assert ((out - ref).abs().max() / ref.abs().max()).item() < 1e-4
    u8 = r.restore(torch.from_numpy(np.zeros((2, 64, 64, 3), np.uint8)))
    assert isinstance(u8, torch.Tensor) and u8.dtype == torch.uint8 and u8.shape == (2, 64, 64, 3)


def _scheduling_matches(r: GpenRestorer, crops: np.ndarray, tolerance: int = 0):
    """submit/collect/flush give restore()'s results, in order; ``tolerance`` in uint8 levels (cuDNN
    may pick different kernels for the two paths)."""
    plain = r.restore(crops)
    r.submit(crops[:5], tag="a")  # 2 micro-batches: 3 + 2 -> both slots
    r.submit(crops[5:5], tag="empty")
    r.submit(crops[5:], tag="b")  # reuses the oldest slot
    first = r.collect(wait=True)
    assert first and first[0][0] == "a"
    rest = first[1:] + r.flush()
    got = dict([first[0]] + rest)
    assert [t for t, _ in [first[0]] + rest] == ["a", "empty", "b"]
    assert got["empty"].shape == (0, r.size, r.size, 3)
    # same micro-batch boundaries as restore() (3, 3, 1 vs 3, 2 | 2): compare per batch split
    ref = np.concatenate([r.restore(crops[:3]), r.restore(crops[3:5]), r.restore(crops[5:])])
    assert np.abs(np.concatenate([got["a"], got["b"]]).astype(np.int16) - ref).max() <= tolerance
    assert np.abs(ref.astype(np.int16) - plain).max() <= 1
    assert r.flush() == [] and r.collect() == []


def test_submit_collect_equals_restore_cpu(tiny_reference, crops):
    model, _ = tiny_reference
    r = GpenRestorer(model, device="cpu", batch_size=3, precision="fp32")
    _scheduling_matches(r, crops)
    # results do not alias the reused buffers
    r.submit(crops[:3], 1)
    r.submit(crops[3:6], 2)
    r.submit(crops[:3], 3)
    res = r.flush()
    assert [t for t, _ in res] == [1, 2, 3] and np.array_equal(res[0][1], res[2][1])
    assert not np.array_equal(res[0][1], res[1][1])
    # a batch_size raised after construction never overruns the preallocated buffers
    r.batch_size = 10
    r.submit(crops, "big")
    (tag, big), = r.flush()
    assert tag == "big" and np.array_equal(big[:3], res[0][1])


def test_buckets_are_powers_of_two_capped_at_the_batch_size():
    assert bucket_sizes(1) == (1,)
    assert bucket_sizes(3) == (1, 2, 3)
    assert bucket_sizes(8) == (1, 2, 4, 8)
    assert bucket_sizes(32) == (1, 2, 4, 8, 16, 32)
    assert bucket_sizes(48) == (1, 2, 4, 8, 16, 32, 48)
    assert [bucket_for(n, bucket_sizes(12)) for n in (1, 2, 3, 4, 5, 8, 9, 12)] == [1, 2, 4, 4, 8, 8, 12, 12]


def test_static_shapes_pad_partial_batches_to_their_bucket_and_drop_the_padding(tiny_reference, crops):
    model, _ = tiny_reference
    shapes = []
    hook = model.register_forward_hook(lambda _m, args, _out: shapes.append(tuple(args[0].shape)))
    try:
        r = GpenRestorer(model, device="cpu", batch_size=8, precision="fp32", static_shapes=True)
        warmed = sorted({s[0] for s in shapes})
        shapes.clear()
        r.submit(crops[:3], tag="a")  # 3 faces run as a 4-row bucket, not 8
        r.submit(crops[:5], tag="b")  # 5 -> 8
        (tag_a, queued_a), (tag_b, queued_b) = r.flush()
        queued_rows = [s[0] for s in shapes]
        floats = r.restore(to_model_input(torch.from_numpy(crops[:1])))
    finally:
        hook.remove()
    assert warmed == [1, 2, 4, 8]  # every bucket's shape is tuned at start-up
    assert r.static_shapes and r.buckets == (1, 2, 4, 8) and (tag_a, tag_b) == ("a", "b")
    assert queued_rows == [4, 8] and shapes[-1][0] == 1
    assert queued_a.shape == (3, 64, 64, 3) and queued_b.shape == (5, 64, 64, 3) and floats.shape == (1, 3, 64, 64)
    loose = GpenRestorer(model, device="cpu", batch_size=8, precision="fp32", warmup=False)
    assert not loose.static_shapes
    # the padding rows never leak into the real rows' results: the same as unpadded batches
    assert np.abs(queued_a.astype(np.int16) - loose.restore(crops[:3])).max() <= 1
    assert np.abs(queued_b.astype(np.int16) - loose.restore(crops[:5])).max() <= 1


def test_every_call_computes_on_the_one_thread_the_restorer_warmed_up_on(tiny_reference, crops):
    model, _ = tiny_reference
    threads = []
    hook = model.register_forward_hook(lambda *_: threads.append(threading.get_ident()))
    try:
        r = GpenRestorer(model, device="cpu", batch_size=3, precision="fp32")
        for _ in range(2):  # two streams, each in a new thread, as the engine's restore stage runs
            caller = threading.Thread(target=lambda: (r.submit(crops[:4]), r.flush(), r.restore(crops[:1])))
            caller.start()
            caller.join()
        r.restore(torch.from_numpy(crops[:2]))
        assert len(threads) >= 6 and set(threads) == {r._thread.ident}
        assert r._thread.ident != threading.get_ident()
        first = next(t for t in threading.enumerate() if t.ident == r._thread.ident)
        r.close()
        assert not first.is_alive()
        r.restore(crops[:1])  # a closed restorer starts a new thread
        assert threads[-1] == r._thread.ident
        r.close()
    finally:
        hook.remove()
    with pytest.raises(InputError):  # errors raised on the thread reach the caller
        r.submit(np.zeros((1, 8, 8, 3), np.uint8))


def test_successive_engine_streams_compute_on_the_restorer_thread():
    model = tiny_gpen()
    threads = []
    model.register_forward_hook(lambda *_: threads.append(threading.get_ident()))
    restorer = GpenRestorer(model, batch_size=2, precision="fp32")
    settings = Settings()
    settings.restore.batch_size = 2
    engine = Engine(settings, restorer=restorer, detector=FixedDetector())
    image = np.random.default_rng(1).integers(0, 256, (180, 200, 3), np.uint8)
    for _ in range(2):  # each stream runs its restore stage in a new thread
        results = list(engine.stream([Frame(i, i, Fraction(1, 25), image) for i in range(3)]))
        assert len(results) == 3 and all(len(r.faces) == 1 for r in results)
    assert len(threads) >= 3 and set(threads) == {restorer._thread.ident}


def test_a_restorer_dropped_without_close_ends_its_thread(tiny_reference, crops):
    r = GpenRestorer(tiny_reference[0], device="cpu", batch_size=2, precision="fp32")
    r.restore(crops[:1])
    thread = next(t for t in threading.enumerate() if t.ident == r._thread.ident)
    del r
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_a_tensor_is_restored_without_visiting_the_host(tiny_reference, crops, monkeypatch):
    model, _ = tiny_reference
    r = GpenRestorer(model, device="cpu", batch_size=3, precision="fp32")
    want = r.restore(crops)
    u8 = torch.from_numpy(crops.copy())

    def refuse(*_a, **_k):
        raise AssertionError("went through the host")

    monkeypatch.setattr(torch.Tensor, "numpy", refuse)
    monkeypatch.setattr(torch.Tensor, "cpu", refuse)
    got = r.restore(u8)
    assert isinstance(got, torch.Tensor) and got.dtype == torch.uint8 and got.shape == u8.shape
    monkeypatch.undo()
    assert np.array_equal(got.numpy(), want)
    with pytest.raises(InputError):
        r.restore(torch.zeros(1, 64, 64, 3, dtype=torch.int16))


def test_bad_inputs(tiny_reference):
    model, _ = tiny_reference
    r = GpenRestorer(model, precision="fp32", warmup=False)
    for bad in (np.zeros((1, 32, 32, 3), np.uint8), np.zeros((1, 64, 64, 3), np.float32), np.zeros((64, 64, 3))):
        with pytest.raises(InputError):
            r.restore(bad)
        with pytest.raises(InputError):
            r.submit(bad)
    with pytest.raises(InputError):
        r.restore(torch.zeros(1, 3, 32, 32))
    with pytest.raises(InputError):
        GpenRestorer(model, batch_size=0)


def test_devices_and_precision():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    for bad in ("tpu", "nonsense"):
        with pytest.raises(InputError):
            resolve_device(bad)
    if not torch.cuda.is_available():
        with pytest.raises(InputError, match="CUDA"):
            resolve_device("cuda:0")
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if cpu_has_bf16() else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32"
    with pytest.raises(InputError):
        resolve_precision("fp16", cpu)
    with pytest.raises(InputError):
        resolve_precision("int8", cpu)


def test_onnx_providers_follow_the_gpu_index(monkeypatch):
    import onnxruntime as ort

    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CUDAExecutionProvider", "CPUExecutionProvider"])
    assert onnx_providers("cuda:1") == [("CUDAExecutionProvider", {"device_id": 1}), "CPUExecutionProvider"]
    assert onnx_providers("cuda")[0] == ("CUDAExecutionProvider", {"device_id": 0})
    assert onnx_providers("cpu") == ["CPUExecutionProvider"]
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["CPUExecutionProvider"])
    assert onnx_providers("cuda:1") == ["CPUExecutionProvider"]


def test_bf16_close_to_fp32(tiny_reference, crops):
    model, _ = tiny_reference
    a = GpenRestorer(model, precision="fp32", warmup=False).restore(crops)
    b = GpenRestorer(model, precision="bf16", warmup=False).restore(crops)
    diff = np.abs(a.astype(np.int16) - b)
    assert diff.max() <= 4 and diff.mean() < 0.5


def test_passthrough(crops):
    p = PassthroughRestorer(size=64)
    assert p.size == 64
    assert np.array_equal(p.restore(crops), crops)
    p.submit(crops[:2], "x")
    p.submit(crops[2:], "y")
    got = p.collect()
    assert [t for t, _ in got] == ["x", "y"] and np.array_equal(got[1][1], crops[2:])
    assert p.flush() == []
    with pytest.raises(InputError):
        p.submit(np.zeros((1, 32, 32, 3), np.uint8))


def test_build_restorer(tmp_path, monkeypatch, tiny_reference):
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path / "cache"))
    model, d = tiny_reference
    torch.save({"g_ema": d["state_dict"]}, tmp_path / "tiny_reference.pth")
    settings = RestoreSettings(weights=str(tmp_path / "tiny_reference.pth"), device="cpu", batch_size=2, fp32=True,
                               backend="torch")
    r = build_restorer(settings)
    assert isinstance(r, GpenRestorer) and r.size == 64 and r.precision == "fp32" and r.batch_size == 2
    passthrough = build_restorer(RestoreSettings(restorer="none", batch_size=3))
    assert isinstance(passthrough, PassthroughRestorer) and passthrough.size == 512 and passthrough.batch_size == 3
    with pytest.raises(InputError):
        build_restorer(RestoreSettings(restorer="codeformer"))
    with pytest.raises(WeightsError):
        build_restorer(RestoreSettings(weights=str(tmp_path / "absent.pth"), device="cpu"))


@cuda
@pytest.mark.cuda
def test_cuda_pipeline_matches_restore(tiny_reference, crops):
    model, _ = tiny_reference
    r = GpenRestorer(model, device="cuda", batch_size=3, precision="fp32")
    assert r.device.startswith("cuda") and r.torch_device.type == "cuda" and r.static_shapes
    _scheduling_matches(r, crops, tolerance=1)
    graphs = GpenRestorer(model, device="cuda", batch_size=3, precision="fp32", cuda_graphs=True)
    assert all(sorted(slot.graphs) == [1, 2, 3] for slot in graphs._slots)
    _scheduling_matches(graphs, crops, tolerance=1)
    assert np.abs(graphs.restore(crops).astype(np.int16) - r.restore(crops)).max() <= 1
    on_gpu = graphs.restore(torch.from_numpy(crops).cuda())  # a device tensor stays on the device
    assert on_gpu.is_cuda and np.abs(on_gpu.cpu().numpy().astype(np.int16) - r.restore(crops)).max() <= 1


@cuda
@pytest.mark.cuda
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_cuda_reduced_precision_close_to_fp32(tiny_reference, crops, precision):
    model, _ = tiny_reference
    if precision == "bf16" and not torch.cuda.is_bf16_supported():
        pytest.skip("no bf16 on this GPU")
    a = GpenRestorer(model, device="cuda", precision="fp32").restore(crops)
    b = GpenRestorer(model, device="cuda", precision=precision).restore(crops)
    diff = np.abs(a.astype(np.int16) - b)
    assert diff.max() <= 4 and diff.mean() < 0.5


def _nan_model() -> torch.nn.Module:
    """A 16 px GPEN whose one weight is NaN (as a checkpoint would be refused; here it is set after loading)."""
    from gpen_video.models.gpen import build_gpen

    torch.manual_seed(0)
    model = build_gpen(16, channel_multiplier=1, narrow=1 / 16, style_dim=64, n_mlp=2)
    with torch.no_grad():
        next(model.parameters()).view(-1)[0] = float("nan")
    return model


def test_a_model_giving_nan_stops_at_the_first_batch_naming_its_weights():
    crops = np.random.default_rng(0).integers(0, 256, (3, 16, 16, 3), dtype=np.uint8)
    restorer = GpenRestorer(_nan_model(), batch_size=2, warmup=False, name="broken.pth")
    for run in (lambda: restorer.restore(crops), lambda: restorer.restore(to_model_input(torch.from_numpy(crops))),
                lambda: (restorer.submit(crops), restorer.flush())):
        with pytest.raises(WeightsError, match="broken.pth gives NaN or infinite values"):
            run()
    with pytest.raises(WeightsError, match="broken.pth gives NaN or infinite values"):
        GpenRestorer(_nan_model(), name="broken.pth")  # the warm-up pass is the first batch


def test_the_finite_check_sees_one_bad_value_and_no_false_alarm_in_fp16():
    from gpen_video.restore.crops import check_finite

    large = torch.full((8, 3, 64, 64), 60000.0, dtype=torch.float16)  # a float16 sum would overflow
    assert check_finite(large, "w") is large
    for bad in (float("nan"), float("inf"), float("-inf")):
        broken = large.clone()
        broken[5, 2, 7, 9] = bad
        with pytest.raises(WeightsError, match="w gives NaN or infinite values"):
            check_finite(broken, "w")
