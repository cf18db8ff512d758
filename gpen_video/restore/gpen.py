"""Batched GPEN restoration of aligned face crops, with an asynchronous submit/collect pipeline.

Crops are uint8 RGB [N, S, S, 3]. ``GpenRestorer.restore`` is the plain synchronous path. ``submit`` /
``collect`` / ``flush`` let the engine queue work and pick results up later: on CUDA each
micro-batch goes through one of two slots (double buffering) of pinned host buffers and device
buffers; a copy stream uploads batch k+1 while the compute stream runs batch k, results return to
pinned memory on a second copy stream, and everything is ordered with CUDA events (the host only
waits, blocked rather than spinning, on the event of the oldest slot, never on
``torch.cuda.synchronize``). On CPU the very same scheduling code runs with streams and pinning
switched off, so each submit computes at once.

With static shapes (the default on CUDA) every micro-batch is padded up to the next bucket size
(1, 2, 4, 8, 16, 32, capped at ``batch_size``: ``bucket_sizes``) and the padding rows are dropped on
return: the model sees a handful of shapes, each tuned by cuDNN (or compiled by ``torch.compile``) once
at start-up, and a batch of 3 faces costs 4 rows rather than ``batch_size``. The fixed shapes also let
each slot's compute be captured as one CUDA graph per bucket (``cuda_graphs``) and replayed with a
single launch. The model's derived constants are folded during the warm-up pass
(``models.gpen.fold_constants``).

All model work (warm-up, capture, every restore and submit) runs on one thread that the restorer owns
(``worker.ComputeThread``), whichever thread calls it: the kernels tuned at start-up serve every later
stream. ``close`` ends that thread.
"""
from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections import deque
from dataclasses import dataclass, field
from typing import overload

import numpy as np
import torch
from torch import Tensor, nn

from ..models.device import PRECISION_DTYPES, resolve_device, resolve_precision
from ..errors import InputError, NonFiniteOutput
from ..models.gpen import fold_constants, folded_values
from .crops import all_finite, check_crop_tensor, check_crops, check_finite, to_model_input, to_uint8
from .worker import ComputeThread

log = logging.getLogger(__name__)

_SLOTS = 2
_BUCKETS = (1, 2, 4, 8, 16, 32)


def bucket_sizes(batch_size: int) -> tuple[int, ...]:
    """The micro-batch row counts the model is run at with static shapes: the powers of two below
    ``batch_size`` (at most 32), then ``batch_size`` itself, ascending."""
    return tuple(b for b in _BUCKETS if b < batch_size) + (batch_size,)


def bucket_for(rows: int, buckets: tuple[int, ...]) -> int:
    """The smallest of ``buckets`` (ascending) that holds ``rows`` (1 <= rows <= buckets[-1])."""
    return next(b for b in buckets if b >= rows)


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
    """One of the two buffers sets. host_* are pinned on CUDA; on CPU dev_in is host_in (and so on).
    ``*_finite``: a 0-d bool, whether the last compute gave no NaN or infinite value."""

    host_in: Tensor
    dev_in: Tensor
    dev_out: Tensor
    host_out: Tensor
    dev_finite: Tensor
    host_finite: Tensor
    uploaded: object
    computed: object
    done: object
    graphs: dict[int, object] = field(default_factory=dict)  # rows -> the slot's captured compute (CUDAGraph)
    job: _Job | None = None
    start: int = 0
    n: int = 0


@dataclass
class _Streams:
    """Copy-in, compute and copy-out streams (all None when streams are off)."""

    h2d: object = None
    compute: object = None
    d2h: object = None


class GpenRestorer:
    """GPEN restorer for a fixed crop size S (``size``), on one device (a ``protocols.Restorer``).

    ``device`` is the resolved spec ("cpu", "cuda", "cuda:N"); ``torch_device`` the same as a torch device;
    ``backend`` "torch <precision>", with " inductor" when compiled; ``startup_seconds`` how long the
    warm-up (and compilation and graph capture) took; ``buckets`` the row counts the model runs at with
    static shapes.

    Args:
        model: a GPEN FullGenerator (``in_size`` attribute); moved to ``device`` once.
        device: torch device or spec ("auto", "cpu", "cuda", "cuda:N"), validated by resolve_device.
        batch_size: largest micro-batch run at once.
        precision: "auto" | "fp32" | "fp16" | "bf16" (autocast); the resolved value is ``precision``.
        compile: wrap the model in ``torch.compile`` (Inductor; on CUDA in "max-autotune-no-cudagraphs"
            mode, CUDA graphs being ``cuda_graphs``' job; needs a working compiler toolchain). With
            static shapes it compiles once per bucket, on the warm-up pass: minutes on a GPU.
        warmup: run the model now (which also folds its constants, and with static shapes tunes every
            bucket) so the first real batch is not slow. Without it the constants are derived on every
            pass (same results).
        static_shapes: pad every micro-batch to its bucket (``bucket_sizes(batch_size)``). Default: on
            CUDA or when compiling. Off on the CPU by default, where padding rows would cost real compute.
        cuda_graphs: capture each slot's compute as a CUDA graph per bucket at start-up (needs static
            shapes and warmup; adds about two forward passes per bucket to the start-up); ignored on the CPU.
        name: the weights (file or registry model) named when the model gives NaN or infinite values.

    Raises:
        NonFiniteOutput: the model gives NaN or infinite values (from the warm-up pass on, and from
            ``restore``, ``collect`` or ``flush`` for the batch that gave them).
    """

    def __init__(self, model: nn.Module, *, device: torch.device | str = "cpu", batch_size: int = 4,
                 precision: str = "auto", compile: bool = False, warmup: bool = True,
                 static_shapes: bool | None = None, cuda_graphs: bool = False, name: str = "the GPEN model") -> None:
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        self.torch_device = resolve_device(str(device))
        self.device = str(self.torch_device)
        self.precision = resolve_precision(precision, self.torch_device)
        self.batch_size = int(batch_size)
        self.size = int(model.in_size)
        self.backend = f"torch {self.precision}" + (" inductor" if compile else "")
        self.name = name
        self.model = model.eval().requires_grad_(False).to(self.torch_device)
        cuda = self.torch_device.type == "cuda"
        self._forward = (torch.compile(self.model, dynamic=False, mode="max-autotune-no-cudagraphs" if cuda else None)
                         if compile else self.model)
        self._dtype = PRECISION_DTYPES[self.precision]
        self.static_shapes = (cuda or compile) if static_shapes is None else bool(static_shapes)
        self._rows = self.batch_size  # the slots' size
        self.buckets = bucket_sizes(self._rows)
        if cuda and cuda_graphs and not (warmup and self.static_shapes):
            raise InputError("cuda_graphs needs warmup and static shapes")
        # the thread's start-up must not hold the restorer: a restorer dropped unclosed still ends its thread
        self._thread = ComputeThread("gpen-restorer", functools.partial(torch.cuda.set_device, self.torch_device)
                                     if cuda else None)
        self._streams = _Streams()
        self._next = 0
        self._inflight: deque[_Slot] = deque()
        self._jobs: deque[_Job] = deque()
        started = time.perf_counter()
        self._thread.run(self._start, warmup=warmup, compile=compile, cuda_graphs=cuda and cuda_graphs)
        self.startup_seconds = time.perf_counter() - started
        if compile:  # minutes on a GPU: say where they went
            log.warning("torch.compile (Inductor) of %s: the restorer was ready in %.1f s", name, self.startup_seconds)

    def _start(self, *, warmup: bool, compile: bool, cuda_graphs: bool) -> None:
        """On the compute thread: streams, slots, the warm-up passes and the CUDA graphs."""
        cuda = self.torch_device.type == "cuda"
        if cuda:
            torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
            self._streams = _Streams(*(torch.cuda.Stream(self.torch_device) for _ in range(3)))
        self._slots = [self._new_slot(cuda) for _ in range(_SLOTS)]
        if warmup:
            shapes = self.buckets if self.static_shapes else (1,)
            with torch.inference_mode(), fold_constants(self.model):
                # eager: a compiler never traces the recording pass
                check_finite(self._run(self._zeros(shapes[-1]), self.model), self.name)
            for rows in shapes if compile else shapes[:-1]:  # tune (or compile) each bucket's shape once
                check_finite(self._run(self._zeros(rows)), self.name)
            if cuda:
                torch.cuda.synchronize(self.torch_device)  # once, at start-up
        if cuda_graphs:
            self._graph_constants = folded_values(self.model)  # the graphs read these by address
            pool = None
            for slot in self._slots:
                for rows in self.buckets:
                    slot.graphs[rows] = graph = self._capture(slot, rows, pool)
                    pool = graph.pool()  # graphs replay one at a time on one stream: share the memory

    def close(self) -> None:
        """End the compute thread (a later call starts a new one, which tunes its kernels again)."""
        self._thread.close()

    # -- model -------------------------------------------------------------------------------------
    def _zeros(self, rows: int) -> Tensor:
        return torch.zeros(rows, 3, self.size, self.size, device=self.torch_device)

    def _new_slot(self, cuda: bool) -> _Slot:
        shape = (self.batch_size, self.size, self.size, 3)
        host_in = torch.empty(shape, dtype=torch.uint8, pin_memory=cuda)
        host_out = torch.empty(shape, dtype=torch.uint8, pin_memory=cuda)
        dev_in = torch.empty(shape, dtype=torch.uint8, device=self.torch_device) if cuda else host_in
        dev_out = torch.empty(shape, dtype=torch.uint8, device=self.torch_device) if cuda else host_out
        host_finite = torch.ones((), dtype=torch.bool, pin_memory=cuda)
        dev_finite = torch.ones((), dtype=torch.bool, device=self.torch_device) if cuda else host_finite
        event = (lambda: torch.cuda.Event()) if cuda else _NoEvent
        # The host waits only on ``done``: a blocking event sleeps the thread instead of spinning a core.
        done = torch.cuda.Event(blocking=True) if cuda else _NoEvent()
        return _Slot(host_in, dev_in, dev_out, host_out, dev_finite, host_finite, event(), event(), done)

    def _capture(self, slot: _Slot, rows: int, pool: object) -> object:
        """The compute of the slot's first ``rows`` rows (dev_in -> dev_out) captured as a CUDA graph."""
        stream = self._streams.compute
        with torch.inference_mode():
            with torch.cuda.stream(stream):  # capture wants a warmed-up side stream
                self._compute(slot, rows)
            stream.synchronize()
            graph = torch.cuda.CUDAGraph()
            with torch.cuda.graph(graph, pool=pool, stream=stream):
                self._compute(slot, rows)
        return graph

    def _run(self, x: Tensor, forward: nn.Module | None = None) -> Tensor:
        """float [n, 3, S, S] in [-1, 1] on device -> float32 [n, 3, S, S] (unclamped), through
        ``forward`` (default: the model, compiled when asked for).

        With static shapes, n <= batch_size rows are padded with zeros to their bucket for the model
        and the padding rows dropped from the result.
        """
        n = x.shape[0]
        rows = bucket_for(n, self.buckets) if self.static_shapes and n else n
        if rows > n:
            x = torch.cat([x, x.new_zeros(rows - n, *x.shape[1:])])
        x = x.contiguous(memory_format=torch.channels_last)  # measured faster on CPU; NHWC suits cuDNN
        # No autocast cache: it would hold casts across calls, which a CUDA graph capture forbids.
        with torch.inference_mode(), torch.autocast(self.torch_device.type, dtype=self._dtype or torch.float32,
                                                    enabled=self._dtype is not None, cache_enabled=False):
            return (forward or self._forward)(x).float()[:n]

    def _compute(self, slot: _Slot, rows: int) -> None:
        """uint8 dev_in[:rows] -> restored uint8 dev_out[:rows] and dev_finite, on the current stream."""
        restored = self._run(to_model_input(slot.dev_in[:rows]))
        slot.dev_finite.copy_(all_finite(restored))  # no sync here: the host reads it when it retires the slot
        slot.dev_out[:rows].copy_(to_uint8(restored))

    def _step(self) -> int:
        """Faces per micro-batch: ``batch_size``, but never more than the slots hold."""
        return min(self.batch_size, self._rows)

    # -- synchronous path --------------------------------------------------------------------------
    @overload
    def restore(self, crops: np.ndarray) -> np.ndarray: ...

    @overload
    def restore(self, crops: Tensor) -> Tensor: ...

    def restore(self, crops: np.ndarray | Tensor) -> np.ndarray | Tensor:
        """Restore a batch, in micro-batches of at most ``batch_size``.

        ``np.ndarray``: uint8 [N, S, S, 3] RGB in and out. A tensor stays a tensor and never goes through
        the host: uint8 [N, S, S, 3] RGB, or float [N, 3, S, S] in [-1, 1] (the result clamped to
        [-1, 1]); the result is on the input's device (an inference tensor), and a tensor already on the
        restorer's device is not copied in or out.
        """
        return self._thread.run(self._restore_tensor if isinstance(crops, Tensor) else self._restore_array, crops)

    @torch.inference_mode()
    def _restore_array(self, crops: np.ndarray) -> np.ndarray:
        crops = check_crops(crops, self.size)
        out = np.empty_like(crops)
        step = self._step()
        for i in range(0, len(crops), step):
            u8 = torch.from_numpy(crops[i:i + step]).to(self.torch_device)
            out[i:i + len(u8)] = to_uint8(check_finite(self._run(to_model_input(u8)), self.name)).cpu().numpy()
        return out

    @torch.inference_mode()
    def _restore_tensor(self, crops: Tensor) -> Tensor:
        floats = check_crop_tensor(crops, self.size)
        step, x = self._step(), crops.to(self.torch_device)
        outs = []
        for i in range(0, x.shape[0], step):
            chunk = x[i:i + step] if floats else to_model_input(x[i:i + step])
            restored = check_finite(self._run(chunk), self.name)
            outs.append(restored.clamp_(-1.0, 1.0) if floats else to_uint8(restored))
        return torch.cat(outs).to(crops.device) if outs else crops.new_empty(crops.shape)

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
            graph = slot.graphs.get(bucket_for(n, self.buckets)) if slot.graphs else None
            if graph is not None:
                graph.replay()  # the bucket's rows; those past n are stale and dropped below
            else:  # with static shapes, _run pads to the bucket
                self._compute(slot, n)
            slot.computed.record()
        with ctx(s.d2h):
            if s.d2h is not None:
                s.d2h.wait_event(slot.computed)
            if slot.host_out is not slot.dev_out:
                slot.host_out[:n].copy_(slot.dev_out[:n], non_blocking=True)
                slot.host_finite.copy_(slot.dev_finite, non_blocking=True)
            slot.done.record()

    def _retire(self, slot: _Slot) -> None:
        """Wait for the oldest in-flight ``slot`` and move its result into its job's array.

        Raises:
            NonFiniteOutput: the slot's batch gave NaN or infinite values.
        """
        assert self._inflight and self._inflight[0] is slot
        slot.done.synchronize()
        if not bool(slot.host_finite):
            raise NonFiniteOutput(self.name)
        slot.job.result[slot.start:slot.start + slot.n] = slot.host_out[:slot.n].numpy()
        slot.job.pending -= 1
        slot.job = None
        self._inflight.popleft()

    def submit(self, crops: np.ndarray, tag: object = None) -> None:
        """Queue uint8 [N, S, S, 3] crops; results come back from ``collect``/``flush`` with ``tag``.

        Blocks only while both buffer slots are busy (then it waits for the oldest one).
        """
        self._thread.run(self._submit, check_crops(crops, self.size), tag)

    def _submit(self, crops: np.ndarray, tag: object) -> None:
        job = _Job(tag, np.empty_like(crops), pending=0)
        self._jobs.append(job)
        step = self._step()
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
        return self._thread.run(self._collect, wait)

    def _collect(self, wait: bool) -> list[tuple[object, np.ndarray]]:
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
        return self._thread.run(self._flush)

    def _flush(self) -> list[tuple[object, np.ndarray]]:
        while self._inflight:
            self._retire(self._inflight[0])
        return self._finished()
