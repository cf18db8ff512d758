"""Export a GPEN network to ONNX with torch's exporter (``torch.onnx.export(dynamo=True)``).

The exported graph has one input ``input`` float32 [N, 3, S, S] (RGB in [-1, 1]) and one output
``output`` float32 [N, 3, S, S]. N is 1, or free with ``dynamic_batch``. An fp16 export keeps its
weights and activations in fp16 but casts at both ends, so it takes and returns float32 like the fp32
one and any consumer feeds it the same arrays. The model's name, crop size, precision and the sha256 of
the checkpoint it came from are written into the graph's metadata (``METADATA_*`` keys). Needs the
``onnx`` extra (``onnx`` and ``onnxscript``, which torch's exporter uses).
"""
from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from ..errors import InvalidOption, MissingExtra, WeightsError
from ..media.output import check_destination, commit, discard, temp_path_for

__all__ = ["INPUT_NAME", "METADATA_MODEL", "METADATA_PRECISION", "METADATA_SHA256", "METADATA_SIZE", "MIN_OPSET",
           "OUTPUT_NAME", "Checkpoint", "OnnxExport", "check_opset", "export_checkpoint", "export_onnx",
           "load_checkpoint", "max_opset", "require_onnx"]

INPUT_NAME, OUTPUT_NAME = "input", "output"
METADATA_MODEL = "gpen_video.model"
METADATA_SIZE = "gpen_video.size"
METADATA_SHA256 = "gpen_video.source_sha256"
METADATA_PRECISION = "gpen_video.precision"
MAX_BATCH = 4096  # the dynamic batch dimension's upper bound for the exporter's shape reasoning
# torch's exporter writes opset 18 and newer itself; an older one goes through ONNX's version converter,
# which cannot convert GPEN's graph and leaves it at 18 without a word, so it is refused instead.
MIN_OPSET = 18


@dataclass(frozen=True)
class OnnxExport:
    """What ``export_onnx`` wrote."""

    path: Path
    name: str
    size: int
    precision: str  # "fp32" or "fp16"
    dynamic_batch: bool
    opset: int
    source_sha256: str


class _Fp16(nn.Module):
    """A half-precision copy of a GPEN network behind float32 ends: [N, 3, S, S] float32 in and out."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = copy.deepcopy(model).half()

    def forward(self, x: Tensor) -> Tensor:
        return self.model(x.half()).float()


def require_onnx() -> None:
    """Check that the exporter's dependencies are importable.

    Raises:
        MissingExtra: ``onnx`` or ``onnxscript`` is not installed.
    """
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise MissingExtra("ONNX export (onnx, onnxscript)", "onnx") from None


def max_opset() -> int:
    """The newest opset the installed ``onnx`` knows (a newer request would leave the exporter at 18)."""
    require_onnx()
    import onnx

    return int(onnx.defs.onnx_opset_version())


def check_opset(opset: int | None) -> None:
    """Raises InvalidOption (``option`` "opset") unless ``opset`` is None (the exporter's default) or
    one the exporter writes as asked: ``MIN_OPSET`` to ``max_opset()``."""
    if opset is not None and not MIN_OPSET <= opset <= max_opset():
        raise InvalidOption("opset", opset, f"from {MIN_OPSET} to {max_opset()}")


@dataclass(frozen=True)
class Checkpoint:
    """A GPEN checkpoint loaded for export: the network, the graph's name and the file's sha256."""

    net: nn.Module
    name: str
    sha256: str


def export_onnx(model: nn.Module, dest: str | Path, *, name: str, source_sha256: str, dynamic_batch: bool = False,
                fp16: bool = False, opset: int | None = None, overwrite: bool = False) -> OnnxExport:
    """Export the GPEN ``model`` (``in_size`` S) to ``dest``, check it with ``onnx.checker``, publish it.

    The file is written beside ``dest`` under a temporary name and appears at ``dest`` only once it is
    complete and checked.

    Raises:
        MissingExtra: the ``onnx`` extra is missing. InputError / DestinationExists: bad ``dest``.
        InvalidOption: an ``opset`` the exporter does not write (see ``check_opset``).
        WeightsError: the exporter or the checker failed (the first line of its message is kept).
    """
    require_onnx()
    import onnx

    check_opset(opset)
    dest = check_destination(dest, overwrite=overwrite)
    size = int(model.in_size)
    net = _Fp16(model) if fp16 else model
    net.eval()
    example = torch.zeros(1, 3, size, size)
    shapes = {"x": {0: torch.export.Dim("batch", min=1, max=MAX_BATCH)}} if dynamic_batch else None
    temp = temp_path_for(dest)
    try:
        try:
            program = torch.onnx.export(net, (example,), dynamo=True, opset_version=opset, dynamic_shapes=shapes,
                                        input_names=[INPUT_NAME], output_names=[OUTPUT_NAME], verbose=False,
                                        external_data=False)
        except Exception as exc:  # the exporter raises its own error types for any unsupported construct
            raise WeightsError(f"ONNX export of {name} failed: {_first_line(exc)}") from exc
        proto = program.model_proto
        opset_used = next(o.version for o in proto.opset_import if o.domain in ("", "ai.onnx"))
        if opset is not None and opset_used != opset:  # never another opset than the one asked for, silently
            raise WeightsError(f"ONNX export of {name} wrote opset {opset_used}, not the {opset} asked for")
        precision = "fp16" if fp16 else "fp32"
        for key, value in ((METADATA_MODEL, name), (METADATA_SIZE, str(size)), (METADATA_SHA256, source_sha256),
                           (METADATA_PRECISION, precision)):
            proto.metadata_props.add(key=key, value=value)
        proto.producer_name = "gpen-video"
        onnx.save_model(proto, temp)
        try:
            onnx.checker.check_model(str(temp), full_check=True)
        except onnx.checker.ValidationError as exc:
            raise WeightsError(f"ONNX export of {name} does not pass onnx.checker: {_first_line(exc)}") from exc
        with open(temp, "rb+") as handle:
            os.fsync(handle.fileno())
        commit(temp, dest, overwrite=overwrite)
    except BaseException:
        discard(temp)
        raise
    return OnnxExport(dest, name, size, precision, dynamic_batch, opset_used, source_sha256)


def load_checkpoint(model: str, weights: str | Path | None) -> Checkpoint:
    """Load the registry model ``model``, or the checkpoint file ``weights``, for export: the graph is
    named after the registry model or the file's stem.

    Raises:
        InputError: ``weights`` is not a regular file. WeightsError: the checkpoint is missing,
            unreadable or not GPEN, or is already an ONNX graph.
    """
    from ..media.checksum import file_sha256
    from .weights import is_onnx, load_gpen, resolve_weights

    path = resolve_weights(model, weights)
    if is_onnx(path):
        raise WeightsError(f"{path.name} is already an ONNX graph; export takes a PyTorch checkpoint")
    net, _ = load_gpen(path, name=None if weights is not None else model)
    return Checkpoint(net, model if weights is None else path.stem, file_sha256(path))


def export_checkpoint(model: str, weights: str | Path | None, dest: str | Path, *, dynamic_batch: bool = False,
                      fp16: bool = False, opset: int | None = None, overwrite: bool = False) -> OnnxExport:
    """Export the registry model ``model``, or the checkpoint file ``weights``, to ``dest`` (see ``export_onnx``).

    Everything is checked before the slow load: the extra, the opset, ``dest`` (never the checkpoint
    itself, in any spelling). The graph's metadata carries the checkpoint's sha256.

    Raises:
        MissingExtra, InputError, DestinationExists, InvalidOption: as ``export_onnx``; InputError also
            for ``dest`` being the checkpoint. WeightsError: as ``load_checkpoint``.
    """
    from .weights import resolve_weights

    require_onnx()
    check_opset(opset)
    check_destination(dest, inputs=[resolve_weights(model, weights)], overwrite=overwrite)
    loaded = load_checkpoint(model, weights)
    return export_onnx(loaded.net, dest, name=loaded.name, source_sha256=loaded.sha256, dynamic_batch=dynamic_batch,
                       fp16=fp16, opset=opset, overwrite=overwrite)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
