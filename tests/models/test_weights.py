"""Weights: registry, cache paths, checkpoint loading/validation, and downloads from a local server."""
from __future__ import annotations

import hashlib
import http.server
import json
import os
import pickle
import socket
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from gpen_video.errors import InputError, WeightsError, WeightsMissing
from gpen_video.models import weights as W
from gpen_video.models.gpen import build_gpen
from tests.helpers.cli import assert_one_line_error, run_cli
from tests.helpers.clips import make_clip


@pytest.fixture()
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("GPEN_VIDEO_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture(scope="module")
def tiny(gpen_dir):
    return torch.load(gpen_dir / "gpen_reference_tiny64.pt", weights_only=False)


# -- registry and cache ------------------------------------------------------------------------------
def test_registry_entries(home):
    gpen = {n: e for n, e in W.REGISTRY.items() if e.kind == "gpen"}
    assert set(gpen) == {"GPEN-BFR-256", "GPEN-BFR-512", "GPEN-BFR-1024", "GPEN-BFR-2048"}
    assert W.REGISTRY["GPEN-BFR-256"].config == W.GpenConfig(256, 1, 0.5, 512, 8)
    assert W.REGISTRY["GPEN-BFR-512"].url.endswith("/robin/models/GPEN-BFR-512.pth")
    aux = {e.filename: e.kind for e in W.REGISTRY.values() if e.kind != "gpen"}
    assert aux == {"detection_Resnet50_Final.pth": "detector", "detection_mobilenet0.25_Final.pth": "detector",
                   "parsing_parsenet.pth": "parsing", "RealESRGAN_x2plus.pth": "upsampler",
                   "RealESRGAN_x4plus.pth": "upsampler", "realesrnet_x2.pth": "upsampler",
                   "realesrnet_x4.pth": "upsampler"}
    assert W.REGISTRY["RealESRGAN_x4plus"].url.endswith("/v0.1.0/RealESRGAN_x4plus.pth")
    assert W.REGISTRY["realesrnet_x4"].url.endswith("/robin/models/realesrnet_x4.pth")
    assert W.weights_path("GPEN-BFR-512") == home / "GPEN-BFR-512.pth"
    assert W.weights_path("parsing_parsenet.pth") == home / "parsing_parsenet.pth"  # file name also works
    with pytest.raises(InputError, match="unknown model"):
        W.weights_path("GPEN-BFR-999")


def test_cache_dir_default(monkeypatch, tmp_path):
    monkeypatch.delenv("GPEN_VIDEO_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert W.cache_dir() == tmp_path / ".cache" / "gpen-video"


def test_list_models_and_resolve(home, tmp_path):
    home.mkdir(parents=True)
    (home / "GPEN-BFR-256.pth").write_bytes(b"x")
    rows = {r["name"]: r for r in W.list_models()}
    assert rows["GPEN-BFR-256"]["present"] and not rows["GPEN-BFR-512"]["present"]
    assert rows["GPEN-BFR-512"]["size"] == 512 and rows["detection_Resnet50_Final"]["size"] is None
    assert rows["GPEN-BFR-256"]["path"] == str(home / "GPEN-BFR-256.pth")
    assert W.resolve_weights("GPEN-BFR-256") == home / "GPEN-BFR-256.pth"
    explicit = tmp_path / "mine.pth"
    explicit.write_bytes(b"y")
    assert W.resolve_weights("GPEN-BFR-512", explicit) == explicit
    with pytest.raises(WeightsError, match="not found"):
        W.resolve_weights("GPEN-BFR-512", tmp_path / "absent.pth")
    with pytest.raises(WeightsMissing) as e:
        W.resolve_weights("GPEN-BFR-512", download=False)
    assert W.REGISTRY["GPEN-BFR-512"].url in str(e.value) and str(home / "GPEN-BFR-512.pth") in str(e.value)
    assert (e.value.name, e.value.path, e.value.reason) == ("GPEN-BFR-512", home / "GPEN-BFR-512.pth", None)


# -- loading -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("wrap", ["bare", "g_ema", "params_ema", "state_dict", "module"])
def test_load_state_dict_unwraps(tmp_path, tiny, wrap):
    sd = tiny["state_dict"]
    obj = {"bare": sd, "g_ema": {"g_ema": sd, "epoch": {}}, "params_ema": {"params_ema": sd},
           "state_dict": {"state_dict": sd}, "module": {"g_ema": {"module." + k: v for k, v in sd.items()}}}[wrap]
    torch.save(obj, tmp_path / "w.pth")
    got = W.load_state_dict(tmp_path / "w.pth")
    assert set(got) == set(sd) and all(torch.equal(got[k], sd[k]) for k in sd)


def test_load_gpen_infers_config_and_reproduces(tmp_path, tiny):
    torch.save({"g_ema": tiny["state_dict"]}, tmp_path / "custom.pth")
    model, cfg = W.load_gpen(tmp_path / "custom.pth")
    c = tiny["config"]
    assert cfg == W.GpenConfig(c["size"], c["channel_multiplier"], c["narrow"], c["style_dim"], c["n_mlp"])
    assert not model.training and all(p.device.type == "cpu" for p in model.parameters())
    with torch.inference_mode():
        out = model(tiny["input"])
    assert ((out - tiny["output"]).abs().max() / tiny["output"].abs().max()).item() < 1e-4


def test_infer_config_official_and_small(gpen_dir):
    small = torch.load(gpen_dir / "gpen_reference_small128.pt", weights_only=False)
    assert W.infer_config(small["state_dict"]) == W.GpenConfig(128, 2, 0.125, 128, 4)
    for name, layout in json.loads((gpen_dir / "layouts.json").read_text()).items():
        sd = {k: torch.empty(v, device="meta") for k, v in layout["state_dict"].items()}
        assert W.infer_config(sd) == W.REGISTRY[name].config


def test_bad_checkpoints_fail_clearly(tmp_path, tiny):
    sd = dict(tiny["state_dict"])
    good = tmp_path / "good.pth"
    torch.save(sd, good)
    data = good.read_bytes()
    cases = {
        "truncated.pth": (data[: len(data) // 2], "not a readable PyTorch checkpoint"),
        "text.pth": (b"hello, not a checkpoint\n" * 10, "not a readable PyTorch checkpoint"),
        "empty.pth": (b"", "not a readable PyTorch checkpoint"),
    }
    for fname, (blob, msg) in cases.items():
        (tmp_path / fname).write_bytes(blob)
        with pytest.raises(WeightsError, match=msg):
            W.load_gpen(tmp_path / fname)
    key = "generator.convs.3.conv.modulation.bias"
    edits = {
        "missing": ({k: v for k, v in sd.items() if k != key}, f"missing keys: {key}"),
        "shape": ({**sd, key: torch.zeros(7)}, f"wrong shapes .*{key} \\[7\\]"),
        "unexpected": ({**sd, "generator.extra.weight": torch.zeros(1)}, "unexpected keys: generator.extra.weight"),
        "notdict": ([1, 2, 3], "does not hold a state dict"),
    }
    for fname, (obj, msg) in edits.items():
        torch.save(obj, tmp_path / f"{fname}.pth")
        with pytest.raises(WeightsError, match=msg):
            model, _ = W.load_gpen(tmp_path / f"{fname}.pth", name="custom")
    with pytest.raises(WeightsError, match="not a GPEN state dict"):
        W.infer_config({"foo": torch.zeros(1)})
    with pytest.raises(WeightsError, match="not found"):
        W.load_gpen(tmp_path / "absent.pth")


class _RunsCode:
    """Unpickling this would run a shell command: what a malicious checkpoint does."""

    def __reduce__(self):
        return os.system, ("echo unpickled",)


@pytest.mark.parametrize("save", [torch.save, lambda obj, path: path.write_bytes(pickle.dumps(obj))],
                         ids=["torch-save", "plain-pickle"])
def test_malicious_pickle_is_refused_as_not_a_plain_tensor_file(tmp_path, save):
    path = tmp_path / "evil.pth"
    save({"generator.style.1.weight": _RunsCode()}, path)
    with pytest.raises(WeightsError, match="refused: not a plain tensor file"):
        W.load_gpen(path)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_weights_holding_nan_or_inf_are_refused_naming_the_tensor(tmp_path, tiny, bad):
    sd = dict(tiny["state_dict"])
    key = "generator.convs.3.conv.modulation.bias"
    sd[key] = sd[key].clone()
    sd[key][1] = bad
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(WeightsError, match=f"refused: tensor '{key}' holds NaN or infinite values"):
        W.load_gpen(tmp_path / "bad.pth")


def test_registry_name_fixes_config(tmp_path, tiny):
    """A file named like a registry entry is checked against that entry's config."""
    torch.save(tiny["state_dict"], tmp_path / "GPEN-BFR-256.pth")
    with pytest.raises(WeightsError, match="does not fit GPEN"):
        W.load_gpen(tmp_path / "GPEN-BFR-256.pth")
    with torch.device("meta"):
        m = build_gpen(256, 1, 0.5)
    assert W.infer_config(m.state_dict()) == W.REGISTRY["GPEN-BFR-256"].config


# -- downloads ---------------------------------------------------------------------------------------
PAYLOAD = bytes(range(256)) * 4096 + b"tail"  # ~1 MiB


class _Server:
    """http.server on 127.0.0.1 in a thread. ``cut`` cuts the next N responses midway;
    ``ranges`` turns Range support on or off; ``requests`` records the Range headers seen."""

    def __init__(self, payload: bytes):
        self.payload, self.cut, self.ranges, self.requests = payload, 0, True, []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                rng = self.headers.get("Range")
                outer.requests.append(rng)
                body, start = outer.payload, 0
                if rng and outer.ranges:
                    start = int(rng.split("=")[1].split("-")[0])
                    self.send_response(206)
                    self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
                else:
                    self.send_response(200)
                body = body[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if outer.cut:
                    outer.cut -= 1
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/file.pth"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture()
def server():
    s = _Server(PAYLOAD)
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def _files(folder):
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_success_with_checksum(tmp_path, server):
    dest = tmp_path / "d" / "w.pth"
    sha = hashlib.sha256(PAYLOAD).hexdigest()
    assert W.download_file(server.url, dest, sha256=sha, size=len(PAYLOAD), progress=True) == dest
    assert dest.read_bytes() == PAYLOAD and _files(dest.parent) == ["w.pth"]


def test_download_checksum_and_size_mismatch_leave_nothing(tmp_path, server):
    dest = tmp_path / "w.pth"
    with pytest.raises(WeightsError, match="corrupt .*sha256"):
        W.download_file(server.url, dest, sha256="0" * 64, progress=False)
    assert _files(tmp_path) == []
    with pytest.raises(WeightsError, match="corrupt .*size"):
        W.download_file(server.url, dest, size=len(PAYLOAD) + 1, progress=False)
    assert _files(tmp_path) == []


def test_download_cut_off_is_resumed_with_range(tmp_path, server):
    server.cut = 1
    dest = tmp_path / "w.pth"
    W.download_file(server.url, dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert dest.read_bytes() == PAYLOAD and _files(tmp_path) == ["w.pth"]
    assert server.requests[0] is None and server.requests[1] == f"bytes={len(PAYLOAD) // 2}-"


def test_download_cut_off_restarts_when_server_ignores_range(tmp_path, server):
    server.cut, server.ranges = 1, False
    dest = tmp_path / "w.pth"
    W.download_file(server.url, dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert dest.read_bytes() == PAYLOAD and len(server.requests) == 2


def test_download_interrupted_every_time_keeps_only_part_then_resumes(tmp_path, server):
    server.cut = 10
    dest = tmp_path / "w.pth"
    with pytest.raises(WeightsError, match="interrupted"):
        W.download_file(server.url, dest, progress=False)
    assert not dest.exists() and _files(tmp_path) == ["w.pth.part"]  # never a corrupt final file
    server.cut = 0
    W.download_file(server.url, dest, sha256=hashlib.sha256(PAYLOAD).hexdigest(), progress=False)
    assert dest.read_bytes() == PAYLOAD and _files(tmp_path) == ["w.pth"]
    assert server.requests[-1] is not None  # the next run resumed


def test_download_offline_names_url_and_path(tmp_path, home, monkeypatch):
    with socket.socket() as s:  # a port with nothing listening
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}/GPEN-BFR-512.pth"
    monkeypatch.setitem(W.REGISTRY, "GPEN-BFR-512", W.REGISTRY["GPEN-BFR-512"].__class__(
        **{**W.REGISTRY["GPEN-BFR-512"].__dict__, "url": url}))
    with pytest.raises(WeightsMissing) as e:
        W.resolve_weights("GPEN-BFR-512")
    assert url in str(e.value) and str(home / "GPEN-BFR-512.pth") in str(e.value)
    assert (e.value.url, e.value.path) == (url, home / "GPEN-BFR-512.pth") and e.value.reason
    assert e.value.registry_kind == "gpen"  # the command line offers --weights for this kind only
    assert _files(home) == []


def test_download_weights_through_registry(home, server, monkeypatch):
    entry = W.ModelEntry("test-model", "test.pth", server.url, None, hashlib.sha256(PAYLOAD).hexdigest(),
                         len(PAYLOAD), "detector")
    monkeypatch.setitem(W.REGISTRY, "test-model", entry)
    path = W.download_weights("test-model", progress=False)
    assert path == home / "test.pth" and path.read_bytes() == PAYLOAD
    n = len(server.requests)
    assert W.resolve_weights("test-model") == path and len(server.requests) == n  # cached: no new request


# -- what a weights path is, said in one line ------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["fifo", "folder", "device"])
def test_weights_that_are_not_a_file_say_what_they_are(tmp_path, kind):
    path = {"fifo": tmp_path / "w.pth", "folder": tmp_path / "w.pth", "device": Path("/dev/zero")}[kind]
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "folder":
        path.mkdir()
    what = {"fifo": "a named pipe", "folder": "a folder", "device": "a device"}[kind]
    for read in (lambda: W.resolve_weights("GPEN-BFR-512", path), lambda: W.load_state_dict(path)):
        with pytest.raises(InputError, match=f"weights {path}: it is {what}"):
            read()


@pytest.mark.parametrize("content", ["random", "text", "zeros"])
def test_a_corrupt_checkpoint_is_called_corrupt_in_a_clean_line(tmp_path, content):
    path = tmp_path / "w.pth"
    path.write_bytes({"random": bytes([7]) + np.random.default_rng(0).bytes(100_000),  # no pickle header
                      "text": b"hello, not a checkpoint\n" * 10, "zeros": bytes(1000)}[content])
    with pytest.raises(WeightsError) as caught:
        W.load_state_dict(path)
    assert str(caught.value) == f"{path} is not a readable PyTorch checkpoint (truncated or corrupt)"


def test_the_cli_names_what_the_weights_path_is(tmp_path):
    clip = make_clip(tmp_path / "clip.mp4", frames=3)
    fifo = tmp_path / "w.pth"
    os.mkfifo(fifo)
    for weights, what in ((fifo, "a named pipe (FIFO)"), (tmp_path, "a folder"), ("/dev/zero", "a device")):
        result = run_cli(clip, tmp_path / "out.mp4", "--weights", weights, "--device", "cpu", "-q", timeout=120)
        assert_one_line_error(result, 2)
        assert f"it is {what}, not a file" in result.stderr and "not found" not in result.stderr
        assert not (tmp_path / "out.mp4").exists()


def test_an_unknown_model_name_is_bad_usage(tmp_path):
    for args in (("weights", "path", "nosuch"), ("weights", "download", "nosuch")):
        result = run_cli(*args, timeout=120)
        assert_one_line_error(result, 2)
        assert "unknown model 'nosuch'" in result.stderr
    with pytest.raises(InputError, match="unknown model"):
        W.resolve_weights("nosuch")
