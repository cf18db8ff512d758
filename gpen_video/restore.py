"""Batched GPEN restoration of aligned face crops, with an asynchronous submit/collect pipeline.

Crops are uint8 RGB [N, S, S, 3]. ``Restorer.restore`` is the plain synchronous path. ``submit`` /
``collect`` / ``flush`` let the engine queue work and pick results up later: on CUDA each
micro-batch goes through one of two slots (double buffering) of pinned host buffers and device
buffers; a copy stream uploads batch k+1 while the compute stream runs batch k, results return to
pinned memory on a second copy stream, and everything is ordered with CUDA events (the host only
waits on the event of the oldest slot, never on ``torch.cuda.synchronize``). On CPU the very same
scheduling code runs with streams and pinning switched off, so each submit computes at once.
"""
from __future__ import annotations

import contextlib
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor, nn

from gpen_video.errors import InputError

__all__ = ["resolve_device", "resolve_precision", "cpu_has_bf16", "to_model_input", "to_uint8", "Restorer",
           "PassthroughRestorer", "build_restorer"]

_DTYPES = {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}
_SLOTS = 2


def resolve_device(spec: str = "auto") -> torch.device:
    """"auto" -> cuda when available else cpu; "cpu"; "cuda" / "cuda:N".

    Raises:
        InputError: CUDA asked for but not available, bad index, or an unknown spec.
    """
    spec = str(spec).strip().lower()
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        dev = torch.device(spec)
    except RuntimeError as e:
        raise InputError(f"unknown device {spec!r} (use auto, cpu, cuda or cuda:N)") from e
    if dev.type == "cpu":
        return dev
    if dev.type != "cuda":
        raise InputError(f"unsupported device {spec!r} (use auto, cpu, cuda or cuda:N)")
    if not torch.cuda.is_available():
        raise InputError(f"device {spec!r} asked for, but CUDA is not available")
    if dev.index is not None and dev.index >= torch.cuda.device_count():
        raise InputError(f"device {spec!r} does not exist ({torch.cuda.device_count()} CUDA device(s))")
    return dev


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """True when the CPU has native bf16 dot products (AVX512-BF16 or AMX-BF16)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_precision(precision: str, device: torch.device) -> str:
    """"auto" -> CUDA: bf16 where supported else fp16; CPU: bf16 with native bf16 support else fp32.

    Raises:
        InputError: unknown value, or fp16 on CPU (slow, and not validated there).
    """
    if precision not in ("auto", *_DTYPES):
        raise InputError(f"precision must be auto, fp32, fp16 or bf16, got {precision!r}")
    if precision == "auto":
        if device.type == "cuda":
            return "bf16" if torch.cuda.is_bf16_supported() else "fp16"
        return "bf16" if cpu_has_bf16() else "fp32"
    if precision == "fp16" and device.type != "cuda":
        raise InputError("fp16 is for CUDA only; use fp32 or bf16 on CPU")
    return precision


def to_model_input(crops: Tensor) -> Tensor:
    """uint8 [N, S, S, 3] RGB -> float32 [N, 3, S, S] in [-1, 1], channels_last (no copy of layout)."""
    return crops.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)


def to_uint8(images: Tensor) -> Tensor:
    """float [N, 3, S, S] in [-1, 1] -> uint8 [N, S, S, 3] RGB (clamped, rounded), contiguous."""
    out = images.float().add(1.0).mul_(127.5).clamp_(0.0, 255.0).round_()
    return out.permute(0, 2, 3, 1).to(torch.uint8).contiguous()


def _check_crops(crops: np.ndarray, size: int) -> np.ndarray:
    if not isinstance(crops, np.ndarray) or crops.dtype != np.uint8 or crops.ndim != 4 or crops.shape[1:] != (
            size, size, 3):
        got = f"{type(crops).__name__} {getattr(crops, 'dtype', '')} {list(getattr(crops, 'shape', []))}"
        raise InputError(f"expected uint8 crops [N, {size}, {size}, 3], got {got}")
    return np.ascontiguousarray(crops)


class _NoEvent:
    """Stand-in for torch.cuda.Event when streams are off: work is already done when recorded."""

    def record(self, stream=None) -> None:
        pass

    def query(self) -> bool:
        return True

    def synchronize(self) -> None:
        pass


@dataclass
class _Job:
    """One submit(): its tag, its output array, and how many micro-batches are still in flight."""

    tag: object
    result: np.ndarray
    pending: int


@dataclass
class _Slot:
    """One of the two buffers sets. host_* are pinned on CUDA; on CPU dev_in is host_in."""

    host_in: Tensor
    dev_in: Tensor
    dev_out: Tensor
    host_out: Tensor
    uploaded: object
    computed: object
    done: object
    job: _Job | None = None
    start: int = 0
    n: int = 0


@dataclass
class _Streams:
    """Copy-in, compute and copy-out streams (all None when streams are off)."""

    h2d: object = None
    compute: object = None
    d2h: object = None


class Restorer:
    """GPEN restorer for a fixed crop size S (``size``), on one device.

    Args:
        model: a GPEN FullGenerator (``in_size`` attribute); moved to ``device`` once.
        device: torch device or spec ("auto", "cpu", "cuda", "cuda:N"), validated by resolve_device.
        batch_size: largest micro-batch run at once.
        precision: "auto" | "fp32" | "fp16" | "bf16" (autocast); the resolved value is ``precision``.
        compile: wrap the model in ``torch.compile`` (needs a working compiler toolchain).
        warmup: run one forward pass now so the first real batch is not slow.
    """

    def __init__(self, model: nn.Module, *, device: torch.device | str = "cpu", batch_size: int = 4,
                 precision: str = "auto", compile: bool = False, warmup: bool = True) -> None:
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.device = resolve_device(str(device))
        self.precision = resolve_precision(precision, self.device)
        self.batch_size = int(batch_size)
        self.size = int(model.in_size)
        self.model = model.eval().requires_grad_(False).to(self.device)
        self._forward = torch.compile(self.model) if compile else self.model
        self._dtype = _DTYPES[self.precision]
        cuda = self.device.type == "cuda"
        if cuda:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
            self._streams = _Streams(torch.cuda.Stream(self.device), torch.cuda.Stream(self.device),
                                     torch.cuda.Stream(self.device))
        else:
            self._streams = _Streams()
        self._slots = [self._new_slot(cuda) for _ in range(_SLOTS)]
        self._next = 0
        self._inflight: deque[_Slot] = deque()
        self._jobs: deque[_Job] = deque()
        if warmup:
            n = self.batch_size if cuda else 1
            with torch.inference_mode():
                self._run(torch.zeros(n, 3, self.size, self.size, device=self.device))
            if cuda:
                torch.cuda.synchronize(self.device)  # once, at start-up

    # -- model -------------------------------------------------------------------------------------
    def _new_slot(self, cuda: bool) -> _Slot:
        shape = (self.batch_size, self.size, self.size, 3)
        host_in = torch.empty(shape, dtype=torch.uint8, pin_memory=cuda)
        host_out = torch.empty(shape, dtype=torch.uint8, pin_memory=cuda)
        dev_in = torch.empty(shape, dtype=torch.uint8, device=self.device) if cuda else host_in
        dev_out = torch.empty(shape, dtype=torch.uint8, device=self.device) if cuda else host_out
        event = (lambda: torch.cuda.Event()) if cuda else _NoEvent
        return _Slot(host_in, dev_in, dev_out, host_out, event(), event(), event())

    def _run(self, x: Tensor) -> Tensor:
        """float [n, 3, S, S] in [-1, 1] on device -> float32 [n, 3, S, S] (unclamped)."""
        x = x.contiguous(memory_format=torch.channels_last)  # measured faster on CPU; NHWC suits cuDNN
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=self._dtype or torch.float32,
                                                    enabled=self._dtype is not None):
            return self._forward(x).float()

    # -- synchronous path --------------------------------------------------------------------------
    @torch.inference_mode()
    def restore(self, crops: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Restore a batch, in micro-batches of at most ``batch_size``.

        ``np.ndarray`` / uint8 tensor: uint8 [N, S, S, 3] RGB in and out. Float tensor: [N, 3, S, S] in
        [-1, 1] in, the same (clamped to [-1, 1]) out, on the input's device (an inference tensor).
        """
        if isinstance(crops, Tensor) and crops.is_floating_point():
            if crops.ndim != 4 or tuple(crops.shape[1:]) != (3, self.size, self.size):
                raise InputError(f"expected float crops [N, 3, {self.size}, {self.size}], got {list(crops.shape)}")
            outs = [self._run(crops[i:i + self.batch_size].to(self.device)).clamp_(-1.0, 1.0)
                    for i in range(0, crops.shape[0], self.batch_size)]
            return torch.cat(outs).to(crops.device) if outs else crops.new_empty(crops.shape)
        if isinstance(crops, Tensor):
            return torch.from_numpy(self.restore(crops.cpu().numpy())).to(crops.device)
        crops = _check_crops(crops, self.size)
        out = np.empty_like(crops)
        for i in range(0, len(crops), self.batch_size):
            u8 = torch.from_numpy(crops[i:i + self.batch_size]).to(self.device)
            out[i:i + len(u8)] = to_uint8(self._run(to_model_input(u8))).cpu().numpy()
        return out

    # -- asynchronous path -------------------------------------------------------------------------
    @torch.inference_mode()
    def _launch(self, slot: _Slot) -> None:
        """Queue upload -> compute -> download of ``slot`` (runs at once when streams are off)."""
        s, n = self._streams, slot.n
        ctx = torch.cuda.stream if s.compute is not None else (lambda _: contextlib.nullcontext())
        with ctx(s.h2d):
            if slot.dev_in is not slot.host_in:
                slot.dev_in[:n].copy_(slot.host_in[:n], non_blocking=True)
            slot.uploaded.record()
        with ctx(s.compute):
            if s.compute is not None:
                s.compute.wait_event(slot.uploaded)
            slot.dev_out[:n].copy_(to_uint8(self._run(to_model_input(slot.dev_in[:n]))))
            slot.computed.record()
        with ctx(s.d2h):
            if s.d2h is not None:
                s.d2h.wait_event(slot.computed)
            if slot.host_out is not slot.dev_out:
                slot.host_out[:n].copy_(slot.dev_out[:n], non_blocking=True)
            slot.done.record()

    def _retire(self, slot: _Slot) -> None:
        """Wait for the oldest in-flight ``slot`` and move its result into its job's array."""
        assert self._inflight and self._inflight[0] is slot
        slot.done.synchronize()
        slot.job.result[slot.start:slot.start + slot.n] = slot.host_out[:slot.n].numpy()
        slot.job.pending -= 1
        slot.job = None
        self._inflight.popleft()

    def submit(self, crops: np.ndarray, tag: object = None) -> None:
        """Queue uint8 [N, S, S, 3] crops; results come back from ``collect``/``flush`` with ``tag``.

        Blocks only while both buffer slots are busy (then it waits for the oldest one).
        """
        crops = _check_crops(crops, self.size)
        job = _Job(tag, np.empty_like(crops), pending=0)
        self._jobs.append(job)
        step = min(self.batch_size, self._slots[0].host_in.shape[0])  # buffers are sized at construction
        for start in range(0, len(crops), step):
            slot = self._slots[self._next]
            self._next = (self._next + 1) % _SLOTS
            if slot.job is not None:  # round-robin: the slot we reuse is the oldest in flight
                while self._inflight[0] is not slot:
                    self._retire(self._inflight[0])
                self._retire(slot)
            chunk = crops[start:start + step]
            slot.host_in[:len(chunk)].numpy()[...] = chunk
            slot.job, slot.start, slot.n = job, start, len(chunk)
            job.pending += 1
            self._inflight.append(slot)
            self._launch(slot)

    def _finished(self) -> list[tuple[object, np.ndarray]]:
        jobs, out = self._jobs, []
        while jobs and jobs[0].pending == 0:
            job = jobs.popleft()
            out.append((job.tag, job.result))
        return out

    def collect(self, wait: bool = False) -> list[tuple[object, np.ndarray]]:
        """Finished results, in submission order, as (tag, uint8 [N, S, S, 3]).

        With ``wait=True``, first waits until the oldest pending submission is complete.
        """
        jobs = self._jobs
        if wait and jobs:
            oldest = jobs[0]
            while oldest.pending:
                self._retire(self._inflight[0])
        while self._inflight and self._inflight[0].done.query():
            self._retire(self._inflight[0])
        return self._finished()

    def flush(self) -> list[tuple[object, np.ndarray]]:
        """Wait for everything in flight; return all remaining results in submission order."""
        while self._inflight:
            self._retire(self._inflight[0])
        return self._finished()


class PassthroughRestorer:
    """Restorer with the same interface that returns the crops unchanged (``--restorer none``)."""

    def __init__(self, size: int = 512, batch_size: int = 4) -> None:
        self.size = int(size)
        self.batch_size = int(batch_size)
        self.device = torch.device("cpu")
        self.precision = "fp32"
        self._done: deque[tuple[object, np.ndarray]] = deque()

    def restore(self, crops: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Return a copy of ``crops`` (uint8 [N, S, S, 3] array, or any tensor)."""
        if isinstance(crops, Tensor):
            return crops.clone()
        return _check_crops(crops, self.size).copy()

    def submit(self, crops: np.ndarray, tag: object = None) -> None:
        self._done.append((tag, _check_crops(crops, self.size).copy()))

    def collect(self, wait: bool = False) -> list[tuple[object, np.ndarray]]:
        return self.flush()

    def flush(self) -> list[tuple[object, np.ndarray]]:
        out = list(self._done)
        self._done.clear()
        return out


def build_restorer(kind: str = "gpen", *, model: str = "GPEN-BFR-512", weights: str | Path | None = None,
                   device: str = "auto", batch_size: int = 4, fp32: bool = False, compile: bool = False,
                   size: int = 512) -> Restorer | PassthroughRestorer:
    """Build the restorer the CLI asks for.

    Args:
        kind: "gpen", or "none" for a pass-through of crop side ``size``.
        model: registry name (GPEN-BFR-256/512/1024/2048) used when ``weights`` is None.
        weights: explicit checkpoint path (its config is taken from its file name or its shapes).
        fp32: force fp32 instead of the device's reduced-precision default.

    Raises:
        InputError: unknown kind or device; WeightsError: weights missing, unreachable or invalid.
    """
    from gpen_video.models.weights import load_gpen, resolve_weights

    if kind == "none":
        return PassthroughRestorer(size=size, batch_size=batch_size)
    if kind != "gpen":
        raise InputError(f"unknown restorer {kind!r} (use gpen or none)")
    dev = resolve_device(device)
    path = resolve_weights(model, weights)
    net, _ = load_gpen(path, name=None if weights is not None else model)
    return Restorer(net, device=dev, batch_size=batch_size, precision="fp32" if fp32 else "auto", compile=compile)
