"""GPEN model: official layouts, reference fixtures, batching, and the fast FIR/modconv forms."""
from __future__ import annotations

import json

import pytest
import torch
import torch.nn.functional as F

from gpen_video.models.gpen import build_gpen, fold_constants, set_modconv_mode
from gpen_video.models.gpen_layers import Blur, Upsample

OFFICIAL = ["GPEN-BFR-256", "GPEN-BFR-512", "GPEN-BFR-1024", "GPEN-BFR-2048"]


def _fixture(gpen_dir, name):
    d = torch.load(gpen_dir / f"gpen_reference_{name}.pt", weights_only=False)
    c = d["config"]
    model = build_gpen(c["size"], c["channel_multiplier"], c["narrow"], c["style_dim"], c["n_mlp"])
    model.load_state_dict(d["state_dict"], strict=True)
    return model, d


def _rel(a, b):
    return ((a - b).abs().max() / b.abs().max()).item()


@pytest.mark.parametrize("name", OFFICIAL)
def test_official_layout_keys_and_shapes(gpen_dir, name):
    layout = json.loads((gpen_dir / "layouts.json").read_text())[name]
    with torch.device("meta"):  # no real allocation, even for 2048
        model = build_gpen(layout["in_size"], layout["channel_multiplier"], layout["narrow"],
                           layout["style_dim"], layout["n_mlp"])
    got = {k: list(v.shape) for k, v in model.state_dict().items()}
    assert got == layout["state_dict"]
    assert len(got) == layout["num_tensors"]
    assert sum(v.numel() for v in model.state_dict().values()) == layout["num_values"]
    # strict load of a same-shaped state dict works (meta tensors, assign)
    sd = {k: torch.empty(v, device="meta") for k, v in layout["state_dict"].items()}
    model.load_state_dict(sd, strict=True, assign=True)


@pytest.mark.parametrize("mode", ["unfused", "fused"])
@pytest.mark.parametrize("name", ["tiny64", "small128"])
def test_reproduces_reference_fixture(gpen_dir, name, mode):
    model, d = _fixture(gpen_dir, name)
    set_modconv_mode(model, mode)
    with torch.inference_mode():
        out = model(d["input"])
    assert out.shape == d["output"].shape
    assert _rel(out, d["output"]) < 1e-4


def test_batch_equals_single_runs_and_channels_last(gpen_dir):
    model, d = _fixture(gpen_dir, "tiny64")
    x = torch.cat([d["input"], d["input"].flip(3)])  # 4 different faces
    with torch.inference_mode():
        batch = model(x)
        singles = torch.cat([model(x[i:i + 1]) for i in range(len(x))])
        nhwc = model(x.contiguous(memory_format=torch.channels_last))
    assert (batch - singles).abs().max().item() < 1e-5
    assert (batch - nhwc).abs().max().item() < 1e-5


def _naive_upfirdn(x, kernel, up, pad):
    """Reference upfirdn2d: zero insertion, zero pad, true convolution with the kernel."""
    n, c, h, w = x.shape
    if up > 1:
        z = x.new_zeros(n, c, h * up, w * up)
        z[:, :, ::up, ::up] = x
        x = z
    x = F.pad(x, (pad[0], pad[1], pad[0], pad[1]))
    k = kernel.flip([0, 1]).expand(c, 1, *kernel.shape)
    return F.conv2d(x, k, groups=c)


def test_depthwise_fir_matches_naive_upfirdn():
    torch.manual_seed(0)
    x = torch.randn(2, 5, 9, 9)
    blur = Blur(pad=2)
    blur.kernel = torch.rand(4, 4)  # asymmetric kernel: catches a missing flip
    assert torch.allclose(blur(x), _naive_upfirdn(x, blur.kernel, 1, (2, 2)), atol=1e-5)
    up = Upsample()
    up.kernel = torch.rand(4, 4) * 4
    out = up(x)
    assert out.shape == (2, 5, 18, 18)
    assert torch.allclose(out, _naive_upfirdn(x, up.kernel, 2, (2, 1)), atol=1e-5)


def test_bad_size_and_input_shape():
    with pytest.raises(ValueError):
        build_gpen(100)
    model = build_gpen(16, 1, 1 / 16, 16, 1)
    with pytest.raises(ValueError, match="expected input"):
        model(torch.zeros(1, 3, 32, 32))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_reduced_precision_paths(gpen_dir, dtype):
    """The autocast paths (fp32 style/demod, fp16 clamp) stay finite and close to fp32."""
    model, d = _fixture(gpen_dir, "tiny64")
    with torch.inference_mode(), torch.autocast("cpu", dtype=dtype):
        out = model(d["input"].contiguous(memory_format=torch.channels_last))
        huge = model(d["input"] * 1000)  # activations far beyond a face's range
    assert out.dtype == torch.float32
    assert _rel(out, d["output"]) < 2e-2
    assert torch.isfinite(huge).all()


def test_traces_as_one_graph_for_torch_compile():
    """--compile must see the whole model as one graph (graph breaks would recompile per layer)."""
    model = build_gpen(32, 1, 1 / 16, 16, 1)
    x = torch.rand(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        info = torch._dynamo.explain(model)(x)
    assert info.graph_break_count == 0 and info.graph_count == 1


def test_folded_constants_give_the_same_output_and_keep_the_checkpoint_layout():
    torch.manual_seed(0)
    model = build_gpen(32, 1, 1 / 8, 16, 2)
    d = {"state_dict": {k: v.clone() for k, v in model.state_dict().items()}}
    keys = list(model.state_dict())
    x = torch.rand(2, 3, 32, 32).contiguous(memory_format=torch.channels_last) * 2 - 1
    with torch.inference_mode():
        plain = model(x)
        with fold_constants(model):
            recorded = model(x)
        folded = model(x)
    assert torch.equal(plain, recorded) and torch.equal(plain, folded)
    assert list(model.state_dict()) == keys
    # the folded values are really used: a weight changed in place no longer reaches the output...
    with torch.no_grad():
        model.ecd0[0][0].weight.mul_(2.0)
    with torch.inference_mode():
        assert torch.equal(model(x), folded)
    # ...until weights are loaded (or the model moved), which drops the folded values
    model.load_state_dict(d["state_dict"])
    with torch.no_grad():
        model.ecd0[0][0].weight.mul_(2.0)
    with torch.inference_mode():
        assert not torch.equal(model(x), folded)
        with fold_constants(model):
            model(x)
    model.to(torch.float32)
    with torch.no_grad():
        model.ecd0[0][0].weight.div_(2.0)
    with torch.inference_mode():
        assert torch.equal(model(x), folded)


def test_folded_model_traces_as_one_graph():
    model = build_gpen(32, 1, 1 / 16, 16, 1)
    x = torch.rand(2, 3, 32, 32).contiguous(memory_format=torch.channels_last)
    with torch.inference_mode():
        with fold_constants(model):
            model(x)
        info = torch._dynamo.explain(model)(x)
    assert info.graph_break_count == 0 and info.graph_count == 1
