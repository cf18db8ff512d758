"""Restorer throughput (faces/s) for GPEN-BFR-256/512 with random weights, plus side-by-side ratios
for each optimisation kept, all measured in one run on one device.

    python3 bench/bench_restorer.py --quick                 # CPU: a few minutes
    python3 bench/bench_restorer.py --device cuda --batches 1,8,32,64 --repeats 20
    python3 bench/bench_restorer.py --backends --sizes 256,512   # torch fp32/bf16 vs ONNX Runtime, side by side

``--backends`` exports each model to ONNX (dynamic batch; slow for 512) and times torch fp32, torch bf16
(fp16 on a GPU without bf16) and ONNX Runtime (the CPU provider on a CPU; CUDA, and TensorRT where
present, on a GPU) alternately at each batch size, through the restorers' uint8 ``restore``, and prints
each one's error against torch fp32.

Each timing is the best of ``--repeats`` calls after one warm-up call (the cores may be shared).
"""
from __future__ import annotations

import argparse
import contextlib
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpen_video.models.device import PRECISION_DTYPES, resolve_device  # noqa: E402
from gpen_video.models import gpen as G  # noqa: E402
from gpen_video.models.weights import REGISTRY  # noqa: E402
from gpen_video.restore import GpenRestorer  # noqa: E402


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def best_time(fn, device: torch.device, repeats: int) -> float:
    """Best wall time of ``fn()`` over ``repeats`` calls, after one warm-up call."""
    fn()
    _sync(device)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        _sync(device)
        best = min(best, time.perf_counter() - t)
    return best


def paired(fast, slow, device: torch.device, repeats: int) -> tuple[float, float]:
    """Best times of two closures measured alternately (fast, slow, fast, ...), so that load from
    other processes hits both alike."""
    fast(), slow()
    _sync(device)
    best = [float("inf"), float("inf")]
    for _ in range(repeats):
        for i, fn in enumerate((fast, slow)):
            t = time.perf_counter()
            fn()
            _sync(device)
            best[i] = min(best[i], time.perf_counter() - t)
    return best[0], best[1]


def model_call(model, x: torch.Tensor, dtype: torch.dtype | None):
    """Closure: one forward of ``model`` on device-resident ``x`` under autocast ``dtype``."""
    def run():
        with torch.inference_mode(), torch.autocast(x.device.type, dtype=dtype or torch.float32,
                                                    enabled=dtype is not None):
            return model(x)
    return run


# -- the naive upfirdn2d that the depthwise FIR replaced (pad / reshape / single-channel conv) ----------
def _naive_upfirdn(x, kernel, up, pad0, pad1):
    n, c, h, w = x.shape
    x = x.reshape(n * c, 1, h, w)
    if up > 1:
        z = x.new_zeros(n * c, 1, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, (pad0, pad1, pad0, pad1))
    x = F.conv2d(x, kernel.flip([0, 1]).to(x.dtype)[None, None])
    return x.reshape(n, c, x.shape[-2], x.shape[-1])


@contextlib.contextmanager
def naive_fir():
    blur, up = G.Blur.forward, G.Upsample.forward
    G.Blur.forward = lambda self, x: _naive_upfirdn(x, self.kernel, 1, self.pad, self.pad)
    G.Upsample.forward = lambda self, x: _naive_upfirdn(x, self.kernel, 2, 2, 1)
    try:
        yield
    finally:
        G.Blur.forward, G.Upsample.forward = blur, up


def ratio_line(label: str, fast: float, slow: float, n: int) -> str:
    return f"  {label:<44s} {n / fast:8.2f} vs {n / slow:8.2f} faces/s  -> x{slow / fast:.2f}"


def compare_backends(size: int, device: torch.device, batches: list[int], repeats: int, folder: Path) -> None:
    """torch fp32 / bf16 against ONNX Runtime on one random-weight GPEN-BFR-``size``, measured alternately."""
    import onnxruntime as ort

    from gpen_video.models.device import cpu_has_bf16
    from gpen_video.models.onnx import export_onnx
    from gpen_video.restore.onnx import OnnxRestorer
    from gpen_video.restore.providers import plan_providers

    torch.manual_seed(0)
    model = REGISTRY[f"GPEN-BFR-{size}"].config.build()
    began = time.perf_counter()
    graph = export_onnx(model, folder / f"gpen{size}.onnx", name=f"GPEN-BFR-{size}", source_sha256="random",
                        dynamic_batch=True, overwrite=True).path
    print(f"\nGPEN-BFR-{size} (random weights): ONNX export {time.perf_counter() - began:.1f} s")
    top = max(batches)
    runners = {"torch fp32": GpenRestorer(model, device=device, batch_size=top, precision="fp32")}
    low = "bf16" if device.type == "cpu" or torch.cuda.is_bf16_supported() else "fp16"
    runners[f"torch {low}"] = GpenRestorer(model, device=device, batch_size=top, precision=low)
    if device.type == "cpu" and not cpu_has_bf16():
        print("  (this CPU has no native bf16: torch bf16 is emulated)")
    kinds = ["onnxruntime"] + (["tensorrt"] if "TensorrtExecutionProvider" in ort.get_available_providers() else [])
    for kind in kinds:
        plan = plan_providers(kind, str(device), fp16=False, engine_cache=str(folder / "trt"),
                              available=ort.get_available_providers())
        r = OnnxRestorer(graph, plan, batch_size=top, pad=kind == "tensorrt")
        runners[r.backend] = r
    for b in batches:
        crops = np.random.default_rng(b).integers(0, 256, (b, size, size, 3), dtype=np.uint8)
        best = {name: float("inf") for name in runners}
        for _ in range(repeats + 1):  # the first round warms up
            for name, r in runners.items():
                if "Tensorrt" not in name:  # TensorRT keeps one padded shape
                    r.batch_size = b
                t = time.perf_counter()
                r.restore(crops)
                best[name] = min(best[name], time.perf_counter() - t)
        base = best["torch fp32"]
        cells = "  ".join(f"{name} {1000 * t / b:7.1f} ms/face (x{base / t:.2f})" for name, t in best.items())
        print(f"  batch {b:3d}: {cells}")
    crops = np.random.default_rng(0).integers(0, 256, (2, size, size, 3), dtype=np.uint8)
    ref = runners["torch fp32"].restore(crops).astype(int)
    x = (torch.rand(2, 3, size, size) * 2 - 1)
    with torch.inference_mode():
        want = model(x).numpy()
    onnx = next(r for name, r in runners.items() if name.startswith("onnx"))
    (got,) = onnx.session.run(None, {"input": x.numpy()})
    rel = float(np.abs(got - want).max() / np.abs(want).max())
    print(f"  ONNX Runtime vs torch fp32: float rel {rel:.1e}; uint8 max diff, per backend: " + ", ".join(
        f"{name} {np.abs(r.restore(crops).astype(int) - ref).max()}" for name, r in runners.items()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--device", default="auto", help="auto | cpu | cuda | cuda:N")
    ap.add_argument("--sizes", default="256,512", help="comma list of 256, 512, 1024, 2048")
    ap.add_argument("--batches", default="1,4,8", help="comma list of batch sizes")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--ablation-batch", type=int, default=4, help="batch size for the side-by-side ratios")
    ap.add_argument("--quick", action="store_true", help="batches 1,4, 3 repeats, ratios at batch 2")
    ap.add_argument("--backends", action="store_true",
                    help="only compare torch fp32/bf16 against ONNX Runtime (and TensorRT where present)")
    args = ap.parse_args()
    if args.backends:
        import tempfile

        device = resolve_device(args.device)
        print(f"device: {device}; torch {torch.__version__}; {torch.get_num_threads()} threads")
        with tempfile.TemporaryDirectory() as folder:
            for size in (int(s) for s in args.sizes.split(",")):
                compare_backends(size, device, [int(b) for b in args.batches.split(",")], args.repeats, Path(folder))
        return
    if args.quick:
        args.batches, args.repeats, args.ablation_batch = "1,4", 3, 2
    device = resolve_device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else f"CPU x{torch.get_num_threads()} threads"
    print(f"device: {device} ({name}); torch {torch.__version__}")
    torch.manual_seed(0)
    for size in (int(s) for s in args.sizes.split(",")):
        c = REGISTRY[f"GPEN-BFR-{size}"].config
        model = c.build()
        r = GpenRestorer(model, device=device, batch_size=max(int(b) for b in args.batches.split(",")))
        dtype = PRECISION_DTYPES[r.precision]
        print(f"\nGPEN-BFR-{size} (random weights), precision {r.precision}, channels_last, unfused modconv")
        for b in (int(s) for s in args.batches.split(",")):
            crops = np.random.default_rng(b).integers(0, 256, (b, size, size, 3), dtype=np.uint8)
            r.batch_size = b
            t = best_time(lambda: r.restore(crops), device, args.repeats)
            print(f"  batch {b:3d}: {b / t:8.2f} faces/s  ({1000 * t / b:8.1f} ms/face, host uint8 I/O)")

        n = args.ablation_batch
        r.batch_size = n
        x = (torch.rand(n, 3, size, size, device=device) * 2 - 1).contiguous(memory_format=torch.channels_last)
        kept = model_call(r.model, x, dtype)
        print(f" side by side at batch {n} (kept vs replaced, measured alternately):")

        def fused():
            G.set_modconv_mode(r.model, "fused")
            try:
                kept()
            finally:
                G.set_modconv_mode(r.model, "unfused")

        def naive():
            with naive_fir():
                kept()

        print(ratio_line("unfused shared-weight modconv vs fused grouped",
                         *paired(kept, fused, device, args.repeats), n))
        print(ratio_line("depthwise FIR conv vs naive upfirdn2d", *paired(kept, naive, device, args.repeats), n))
        print(ratio_line("channels_last vs NCHW",
                         *paired(kept, model_call(r.model, x.contiguous(), dtype), device, args.repeats), n))
        if dtype is not None:
            print(ratio_line(f"{r.precision} autocast vs fp32",
                             *paired(kept, model_call(r.model, x, None), device, args.repeats), n))
            with torch.inference_mode(), torch.autocast(device.type, dtype=dtype):
                y = r.model(x).float()
            with torch.inference_mode():
                y32 = r.model(x)
            err = ((y - y32).abs().max() / y32.abs().max()).item()
            u8 = lambda t: ((t + 1) * 127.5).clamp(0, 255).round()  # noqa: E731
            d = (u8(y) - u8(y32)).abs()
            print(f"    {r.precision} vs fp32 error: rel {err:.2e}, uint8 max {d.max().item():.0f} "
                  f"mean {d.mean().item():.3f}")
        # Host uint8 I/O through the submit/collect pipeline vs device-resident float tensors.
        k = 2  # batches per measurement: the pipeline needs two slots busy
        crops = np.random.default_rng(1).integers(0, 256, (n, size, size, 3), dtype=np.uint8)

        def pipeline():
            for i in range(k):
                r.submit(crops, i)
            r.flush()

        def resident():
            for _ in range(k):
                model_call(r.model, x, dtype)()

        tp, td = paired(pipeline, resident, device, args.repeats)
        print(f"  host uint8 pipeline {k * n / tp:8.2f} faces/s vs device-resident {k * n / td:8.2f} faces/s"
              f"  -> {100 * (td / tp):.0f}% of device-resident")


if __name__ == "__main__":
    main()
