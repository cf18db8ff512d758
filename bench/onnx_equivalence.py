"""ONNX export equivalence at 512 px, too slow for the test suite (each export traces for 15-60 s):
a random GPEN at 512 px with channel multiplier 2 and a narrow width, exported with a dynamic batch and
run by ONNX Runtime on the CPU at batches 1, 3 and 8 against torch fp32; then its fp16 export.

    python3 bench/onnx_equivalence.py [--narrow 0.0625]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gpen_video.models.gpen import build_gpen  # noqa: E402
from gpen_video.models.onnx import export_onnx  # noqa: E402
from gpen_video.restore.onnx import OnnxRestorer  # noqa: E402
from gpen_video.restore.providers import CPU, ProviderPlan  # noqa: E402


def rel(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--narrow", type=float, default=1 / 16)
    args = ap.parse_args()
    torch.manual_seed(0)
    model = build_gpen(512, channel_multiplier=2, narrow=args.narrow)
    x = torch.rand(8, 3, 512, 512) * 2 - 1
    with torch.inference_mode():
        want = model(x).numpy()
    plan = ProviderPlan([(CPU, {})], "cpu")
    with tempfile.TemporaryDirectory() as folder:
        for fp16 in (False, True):
            began = time.perf_counter()
            done = export_onnx(model, Path(folder) / f"g{int(fp16)}.onnx", name="g512", source_sha256="random",
                               dynamic_batch=True, fp16=fp16)
            seconds = time.perf_counter() - began
            session = OnnxRestorer(done.path, plan, warmup=False).session
            errors = {n: rel(session.run(None, {"input": x[:n].numpy()})[0], want[:n]) for n in (1, 3, 8)}
            print(f"512 px, cm 2, narrow {args.narrow:g}, {done.precision}, dynamic batch (export {seconds:.0f} s): "
                  + ", ".join(f"batch {n} rel err {e:.1e}" for n, e in errors.items()))


if __name__ == "__main__":
    main()
