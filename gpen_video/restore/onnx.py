"""GPEN restoration with ONNX Runtime: our exports, or GPEN ONNX files made elsewhere.

A usable graph has one input and one output, both [N, 3, S, S] float (fp32 or fp16) with S fixed in
the graph (the crop size is read from there); N may be fixed (then every call carries exactly N
crops, padded when fewer) or free. Crops go in and out through the same conversion as the torch
restorer (``crops.to_model_input`` / ``to_uint8``). On CUDA (and TensorRT) the crops are converted on
the GPU and the session reads and writes torch buffers on that device through IO binding, so only
uint8 crops cross the bus; elsewhere arrays stay in host memory.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..errors import WeightsError
from ..models.weights import check_weights_file
from .crops import check_crops, check_finite, to_model_input, to_uint8
from .eager import EagerQueue
from .providers import CPU, ProviderPlan, free_cores

log = logging.getLogger(__name__)

_ELEMENT_TYPES = {"tensor(float)": np.float32, "tensor(float16)": np.float16}
_ORT_ERROR = 3  # onnxruntime's log severity "error": its warnings (constant folding, ...) are not for users


@dataclass(frozen=True)
class GraphSignature:
    """The input and output of a GPEN ONNX graph.

    ``batch`` is the fixed batch size, or None when the graph takes any. ``metadata`` holds the graph's
    custom metadata (our exports: model name, size, precision, source sha256).
    """

    size: int
    batch: int | None
    input_name: str
    output_name: str
    input_type: type
    output_type: type
    metadata: dict[str, str] = field(default_factory=dict)


def _describe(args) -> str:
    return ", ".join(f"{a.name} {a.type} {list(a.shape)}" for a in args) or "none"


def read_signature(session, path: Path) -> GraphSignature:
    """Check that ``session``'s graph is a GPEN-like [N, 3, S, S] -> [N, 3, S, S] network.

    Raises:
        WeightsError: any other signature (the line names what the graph has).
    """
    inputs, outputs = session.get_inputs(), session.get_outputs()
    want = "one input and one output [N, 3, S, S] float with S fixed"
    problem = f"{path.name} is not a GPEN graph: it has inputs {_describe(inputs)} and outputs {_describe(outputs)}; " \
              f"need {want}"
    if len(inputs) != 1 or len(outputs) != 1:
        raise WeightsError(problem)
    (inp,), (out,) = inputs, outputs
    shape, out_shape = list(inp.shape), list(out.shape)
    if len(shape) != 4 or shape[1] != 3 or not isinstance(shape[2], int) or shape[2] != shape[3] or shape[2] < 16:
        raise WeightsError(problem)
    if len(out_shape) != 4 or any(isinstance(o, int) and o != i for o, i in zip(out_shape[1:], shape[1:])):
        raise WeightsError(problem)
    if inp.type not in _ELEMENT_TYPES or out.type not in _ELEMENT_TYPES:
        raise WeightsError(problem)
    batch = shape[0] if isinstance(shape[0], int) and shape[0] > 0 else None
    meta = dict(session.get_modelmeta().custom_metadata_map)
    return GraphSignature(int(shape[2]), batch, inp.name, out.name, _ELEMENT_TYPES[inp.type],
                          _ELEMENT_TYPES[out.type], meta)


def open_session(path: str | Path, plan: ProviderPlan, *, threads: int | None = None):
    """An ``onnxruntime.InferenceSession`` on ``path`` with ``plan``'s providers.

    ``threads``: intra-op threads (default ``providers.free_cores()``).

    Raises:
        WeightsError: a missing, truncated or corrupt file, a graph onnxruntime cannot load, or an
            initializer holding NaN or infinite values (named). InputError: a path that is not a file.
    """
    import onnxruntime as ort

    path = Path(path)
    check_weights_file(path)
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or free_cores()
    options.log_severity_level = _ORT_ERROR
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(path), options, providers=plan.providers)
    except Exception as exc:  # onnxruntime raises its own types (InvalidProtobuf, Fail, InvalidGraph, ...)
        text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise WeightsError(f"{path} is not a usable ONNX model (truncated or corrupt?): {text}") from exc


def check_initializers(path: Path) -> None:
    """Refuse a graph whose stored weights hold NaN or infinite values, naming the first such tensor
    (like a checkpoint's). Needs the ``onnx`` package; without it the first batch's check still stops
    what those weights would do.

    Raises:
        WeightsError: a floating-point initializer with a NaN or infinite value.
    """
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return
    graph = onnx.load(str(path), load_external_data=False).graph
    for tensor in graph.initializer:
        values = numpy_helper.to_array(tensor, base_dir=str(path.parent))
        if values.dtype.kind == "f" and not np.isfinite(values).all():
            raise WeightsError(f"{path} refused: tensor {tensor.name!r} holds NaN or infinite values")


class OnnxRestorer(EagerQueue):
    """A ``protocols.Restorer`` running a GPEN ONNX graph in ONNX Runtime.

    Args:
        path: the ``.onnx`` file.
        plan: execution providers and device (``providers.plan_providers``).
        batch_size: largest micro-batch; a graph with a fixed batch dimension B uses B instead.
        threads: intra-op threads (default: the cores the pipeline leaves free).
        pad: run every micro-batch at full ``batch_size`` (zeros fill the rest), so engines built for one
            shape (TensorRT) are never rebuilt; always on for a fixed-batch graph.
        warmup: run one batch now, so the first real batch is not slow.

    Raises:
        WeightsError: unreadable file, a graph of another signature, or stored weights holding NaN
            or infinite values. NonFiniteOutput: the graph computes NaN or infinite values (from the
            warm-up batch on, and from ``restore``/``submit`` for the batch that gave them).
    """

    def __init__(self, path: str | Path, plan: ProviderPlan, *, batch_size: int = 8, threads: int | None = None,
                 pad: bool = False, warmup: bool = True) -> None:
        super().__init__()
        for notice in plan.notices:
            log.warning(notice)
        self.path = Path(path)
        self.session = open_session(self.path, plan, threads=threads)
        check_initializers(self.path)
        self.signature = sig = read_signature(self.session, self.path)
        self.size = sig.size
        self.batch_size = sig.batch or max(1, int(batch_size))
        self._pad = pad or sig.batch is not None
        active = self.session.get_providers()[0]
        if plan.device != "cpu" and active == CPU:
            log.warning("onnxruntime could not start %s here; restoring on the CPU", plan.names[0])
        self.device = plan.device if active != CPU else "cpu"
        self.torch_device = torch.device(self.device)
        precision = "fp16" if sig.input_type == np.float16 else sig.metadata.get("gpen_video.precision", "fp32")
        self.backend = f"onnxruntime {active} {precision}"
        if warmup:
            self.restore(np.zeros((1, self.size, self.size, 3), np.uint8))

    def restore(self, crops: np.ndarray) -> np.ndarray:
        """uint8 [N, S, S, 3] RGB in, the restored crops out, in micro-batches of at most ``batch_size``."""
        crops = check_crops(crops, self.size)
        out = np.empty_like(crops)
        for start in range(0, len(crops), self.batch_size):
            chunk = crops[start:start + self.batch_size]
            out[start:start + len(chunk)] = self._run(chunk)
        return out

    @torch.inference_mode()
    def _run(self, chunk: np.ndarray) -> np.ndarray:
        """One session call on uint8 [n, S, S, 3] -> uint8 [n, S, S, 3]."""
        n = len(chunk)
        u8 = torch.from_numpy(chunk).to(self.torch_device)
        if self._pad and n < self.batch_size:
            u8 = torch.cat([u8, u8.new_zeros((self.batch_size - n, *u8.shape[1:]))])
        x = to_model_input(u8).contiguous().to(_torch_dtype(self.signature.input_type))
        y = self._run_bound(x) if self.torch_device.type == "cuda" else self._run_host(x)
        return to_uint8(check_finite(y[:n], str(self.path))).cpu().numpy()

    def _run_host(self, x: torch.Tensor) -> torch.Tensor:
        sig = self.signature
        (y,) = self.session.run([sig.output_name], {sig.input_name: x.numpy()})
        return torch.from_numpy(y)

    def _run_bound(self, x: torch.Tensor) -> torch.Tensor:
        """IO binding: the session reads ``x`` and writes the output in place, on the same CUDA device."""
        sig, dev = self.signature, self.torch_device
        y = torch.empty(x.shape, dtype=_torch_dtype(sig.output_type), device=dev)
        binding = self.session.io_binding()
        binding.bind_input(sig.input_name, "cuda", dev.index, sig.input_type, tuple(x.shape), x.data_ptr())
        binding.bind_output(sig.output_name, "cuda", dev.index, sig.output_type, tuple(y.shape), y.data_ptr())
        torch.cuda.current_stream(dev).synchronize()  # x is written on torch's stream; the session uses its own
        self.session.run_with_iobinding(binding)
        binding.synchronize_outputs()
        return y


def _torch_dtype(np_type: type) -> torch.dtype:
    return torch.float16 if np_type == np.float16 else torch.float32
