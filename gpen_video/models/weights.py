"""Weights registry, cache, verified resumable downloads, and strict GPEN checkpoint loading.

The cache folder is ``$GPEN_VIDEO_HOME`` (default ``~/.cache/gpen-video``). A file appears in the
cache only once it is complete and verified: downloads go to ``<file>.part``, resume with an HTTP
Range request after a cut-off (or restart when the server ignores Range), and are renamed into place
after the size check (the registry's size, else the server's Content-Length) and, where the registry
pins one, the sha256 check. Every failure is a :class:`WeightsError`.
"""
from __future__ import annotations

import http.client
import os
import pickle
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from urllib.error import HTTPError, URLError
from urllib.request import Request, urlopen

import torch
from torch import Tensor, nn

from gpen_video.media.checksum import file_sha256
from gpen_video.errors import InputError, WeightsError, WeightsMissing
from gpen_video.media.source import file_problem
from gpen_video.models.gpen import build_gpen, channels

__all__ = [
    "GpenConfig", "ModelEntry", "REGISTRY", "cache_dir", "weights_path", "download_file", "download_weights",
    "resolve_weights", "load_state_dict", "infer_config", "load_gpen", "list_models", "onnx_export_path", "is_onnx",
    "check_weights_file"]


@dataclass(frozen=True)
class GpenConfig:
    """Hyper-parameters of a GPEN FullGenerator (the arguments of ``build_gpen``)."""

    in_size: int
    channel_multiplier: int
    narrow: float
    style_dim: int
    n_mlp: int

    def build(self) -> nn.Module:
        """A GPEN network with this config (random weights, on the current default device)."""
        return build_gpen(self.in_size, self.channel_multiplier, self.narrow, self.style_dim, self.n_mlp)


@dataclass(frozen=True)
class ModelEntry:
    """One downloadable file. ``kind`` is "gpen", "detector", "parsing" or "upsampler"; config is None unless gpen."""

    name: str
    filename: str
    url: str
    config: GpenConfig | None
    sha256: str | None
    size: int | None
    kind: str


_GPEN_URL = "https://public-vigen-video.oss-cn-shanghai.aliyuncs.com/robin/models/{}.pth"
# Best effort: the 1024/2048 models are published on ModelScope; this is its file-download API.
_MODELSCOPE_URL = ("https://www.modelscope.cn/api/v1/models/damo/cv_gpen_image-portrait-enhancement-hires/"
                   "repo?Revision=master&FilePath={}.pth")
_FACEXLIB_URL = "https://github.com/xinntao/facexlib/releases/download/{}/{}"
_REALESRGAN_URL = "https://github.com/xinntao/Real-ESRGAN/releases/download/{}/{}.pth"


def _gpen(name: str, url: str, in_size: int, cm: int, narrow: float) -> ModelEntry:
    return ModelEntry(name, f"{name}.pth", url, GpenConfig(in_size, cm, narrow, 512, 8), None, None, "gpen")


def _aux(filename: str, tag: str, kind: str) -> ModelEntry:
    return ModelEntry(filename.removesuffix(".pth"), filename, _FACEXLIB_URL.format(tag, filename), None, None,
                      None, kind)


REGISTRY: dict[str, ModelEntry] = {
    e.name: e
    for e in (
        _gpen("GPEN-BFR-256", _GPEN_URL.format("GPEN-BFR-256"), 256, 1, 0.5),
        _gpen("GPEN-BFR-512", _GPEN_URL.format("GPEN-BFR-512"), 512, 2, 1.0),
        _gpen("GPEN-BFR-1024", _MODELSCOPE_URL.format("GPEN-BFR-1024"), 1024, 2, 1.0),
        _gpen("GPEN-BFR-2048", _MODELSCOPE_URL.format("GPEN-BFR-2048"), 2048, 2, 1.0),
        _aux("detection_Resnet50_Final.pth", "v0.1.0", "detector"),
        _aux("detection_mobilenet0.25_Final.pth", "v0.1.0", "detector"),
        _aux("parsing_parsenet.pth", "v0.2.2", "parsing"),
        # Background upsamplers (loaded with spandrel): the official Real-ESRGAN releases, and the
        # RealESRNet models GPEN's own demo uses for --use_sr. Hashes where published copies agree.
        ModelEntry("RealESRGAN_x2plus", "RealESRGAN_x2plus.pth", _REALESRGAN_URL.format("v0.2.1", "RealESRGAN_x2plus"),
                   None, "49fafd45f8fd7aa8d31ab2a22d14d91b536c34494a5cfe31eb5d89c2fa266abb", 67061725, "upsampler"),
        ModelEntry("RealESRGAN_x4plus", "RealESRGAN_x4plus.pth", _REALESRGAN_URL.format("v0.1.0", "RealESRGAN_x4plus"),
                   None, "4fa0d38905f75ac06eb49a7951b426670021be3018265fd191d2125df9d682f1", 67040989, "upsampler"),
        ModelEntry("realesrnet_x2", "realesrnet_x2.pth", _GPEN_URL.format("realesrnet_x2"), None, None, None,
                   "upsampler"),
        ModelEntry("realesrnet_x4", "realesrnet_x4.pth", _GPEN_URL.format("realesrnet_x4"), None, None, None,
                   "upsampler"),
    )
}

_CHUNK = 1 << 20
_ATTEMPTS = 3


def cache_dir() -> Path:
    """``$GPEN_VIDEO_HOME`` or ``~/.cache/gpen-video`` (not created here)."""
    env = os.environ.get("GPEN_VIDEO_HOME")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gpen-video"


def _find(name: str) -> ModelEntry | None:
    """The registry entry called ``name`` or whose file is called ``name``."""
    return REGISTRY.get(name) or next((e for e in REGISTRY.values() if e.filename == name), None)


def _entry(name: str) -> ModelEntry:
    """Raises InputError for a name the registry does not know: a typing error, not a weights problem."""
    entry = _find(name)
    if entry is None:
        raise InputError(f"unknown model {name!r}; known: {', '.join(REGISTRY)}")
    return entry


def check_weights_file(path: Path) -> None:
    """Check that ``path`` is a regular file before anything reads it (a pipe would block, /dev/zero never end).

    Raises:
        WeightsError: nothing is there. InputError: a folder, named pipe, device or something else
            that is not a file, named as what it is.
    """
    problem = file_problem(path)
    if problem == "no such file":
        raise WeightsError(f"weights file not found: {path}")
    if problem is not None:
        raise InputError(f"weights {path}: {problem}")


def weights_path(name: str) -> Path:
    """Where the cached file of registry entry ``name`` lives (it may not exist)."""
    return cache_dir() / _entry(name).filename


def is_onnx(path: str | Path) -> bool:
    """True for an ONNX graph file (by its extension)."""
    return Path(path).suffix.lower() == ".onnx"


def onnx_export_path(name: str | None, source: Path) -> Path:
    """Where the cached ONNX export of a checkpoint lives: ``<cache>/<registry name>.onnx`` beside the
    registry's ``.pth``, or ``<cache>/onnx/<stem>-<sha256 prefix>.onnx`` for any other file (so that a
    changed file never reuses a stale export)."""
    entry = _find(name) if name else None
    if entry is not None and entry.kind == "gpen":
        return cache_dir() / f"{entry.name}.onnx"
    return cache_dir() / "onnx" / f"{source.stem}-{file_sha256(source)[:12]}.onnx"


def _offline_error(url: str, dest: Path, why: object) -> WeightsMissing:
    return WeightsMissing(f"cannot download {url} ({why}). Download it by hand and place it at {dest}", name=None,
                          url=url, path=dest, reason=str(why))


def _progress_bar(enabled: bool):
    from rich.console import Console
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    console=Console(stderr=True), disable=not enabled, transient=True)


def _fetch(url: str, part: Path, progress, task, timeout: float) -> int | None:
    """One HTTP attempt that appends to ``part`` (resuming with Range when it has bytes).

    Returns the expected total size when the server announced it, else None. Network errors and
    short reads propagate as OSError / http.client exceptions so the caller can retry.
    """
    offset = part.stat().st_size if part.exists() else 0
    headers = {"User-Agent": "gpen-video"}
    if offset:
        headers["Range"] = f"bytes={offset}-"
    try:
        resp = urlopen(Request(url, headers=headers), timeout=timeout)
    except HTTPError as e:
        if e.code == 416 and offset:  # our .part is not a prefix the server recognises: restart
            part.unlink()
            raise ConnectionError("range not satisfiable; restarting") from e
        raise
    with resp:
        length = resp.headers.get("Content-Length")
        if offset and resp.status == 206:
            match = re.match(r"bytes (\d+)-", resp.headers.get("Content-Range", ""))
            if not match or int(match.group(1)) != offset:
                part.unlink()
                raise ConnectionError("server resumed at the wrong offset; restarting")
            mode = "ab"
        else:  # server ignored Range (200): start over
            offset, mode = 0, "wb"
        total = offset + int(length) if length is not None else None
        progress.update(task, completed=offset, total=total)
        with part.open(mode) as f:
            while block := resp.read(_CHUNK):
                f.write(block)
                progress.advance(task, len(block))
    got = part.stat().st_size
    if total is not None and got < total:
        raise http.client.IncompleteRead(b"", total - got)
    return total


def download_file(url: str, dest: str | Path, *, sha256: str | None = None, size: int | None = None,
                  progress: bool = True, timeout: float = 30.0) -> Path:
    """Download ``url`` to ``dest`` via ``dest.part``; verify size and sha256; rename when complete.

    A cut-off transfer is resumed (HTTP Range) or restarted, up to 3 attempts; a partial ``.part``
    left by a failed run is resumed by the next call. A file that fails verification is deleted.

    Raises:
        WeightsMissing: unreachable URL (names the URL and ``dest``).
        WeightsError: HTTP error, or failed verification.
    """
    dest = Path(dest)
    part = dest.with_name(dest.name + ".part")
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise WeightsError(f"cannot create the weights folder {dest.parent}: {e}") from e
    last: BaseException | None = None
    with _progress_bar(progress) as bar:
        task = bar.add_task(dest.name, total=size)
        for _ in range(_ATTEMPTS):
            try:
                total = _fetch(url, part, bar, task, timeout)
                break
            except HTTPError as e:
                raise WeightsError(f"cannot download {url}: HTTP {e.code} {e.reason}. Download it by hand "
                                   f"and place it at {dest}") from e
            except URLError as e:  # could not connect at all
                raise _offline_error(url, dest, e.reason) from e
            except (OSError, http.client.HTTPException) as e:
                last = e
        else:
            raise WeightsError(f"download of {url} was interrupted ({last}); run again to resume "
                               f"(partial file kept at {part})")
    got = part.stat().st_size
    problem = None
    if size is not None and got != size:
        problem = f"size {got} bytes, expected {size}"
    elif total is not None and got != total:
        problem = f"size {got} bytes, server announced {total}"
    elif sha256 is not None and (digest := file_sha256(part)) != sha256.lower():
        problem = f"sha256 {digest}, expected {sha256.lower()}"
    if problem:
        part.unlink()
        raise WeightsError(f"download of {url} is corrupt ({problem}); deleted it. Try again, or place a good "
                           f"copy at {dest}")
    os.replace(part, dest)
    return dest


def download_weights(name: str, *, progress: bool = True) -> Path:
    """Download registry entry ``name`` into the cache (no-op when already there); return its path.

    Raises:
        WeightsError: the download failed; its ``registry_kind`` is the entry's kind.
    """
    entry = _entry(name)
    dest = weights_path(entry.name)
    if dest.is_file():
        return dest
    try:
        return download_file(entry.url, dest, sha256=entry.sha256, size=entry.size, progress=progress)
    except WeightsError as exc:
        exc.registry_kind = entry.kind
        raise


def resolve_weights(name: str, weights: str | Path | None = None, *, download: bool = True) -> Path:
    """Path of the weights to use: an explicit ``weights`` file wins; else the cache; else download.

    Raises:
        WeightsMissing: not cached, and cannot or may not download (the message names the URL and the
            exact path to place the file at).
        WeightsError: explicit file missing. InputError: explicit path that is not a file (see
            ``check_weights_file``), or unknown name.
    """
    if weights is not None:
        path = Path(weights).expanduser()
        check_weights_file(path)
        return path
    entry = _entry(name)
    dest = weights_path(entry.name)
    if dest.is_file():
        return dest
    if not download:
        raise WeightsMissing(f"{entry.name} is not in the cache. Download {entry.url} and place it at {dest}",
                             name=entry.name, url=entry.url, path=dest, reason=None)
    return download_weights(entry.name)


_WRAPPERS = ("g_ema", "params_ema", "state_dict")


def load_state_dict(path: str | Path) -> dict[str, Tensor]:
    """Read a checkpoint on CPU: unwrap g_ema / params_ema / state_dict, strip ``module.`` prefixes.

    Uses ``torch.load(weights_only=True)``: no code in the file is executed, and a file that asks for
    more than tensors and plain containers is refused.

    Raises:
        WeightsError: missing, truncated, corrupt or refused file, content that is not a dict of
            tensors, or a tensor holding NaN or infinite values (named). InputError: a path that is
            not a file (``check_weights_file``).
    """
    path = Path(path)
    check_weights_file(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        if _holds_objects(path):  # the safe unpickler met code to run or an object to build
            raise WeightsError(f"{path} refused: not a plain tensor file (PyTorch's safe loader will not read "
                               "what it holds besides tensors)") from e
        raise _corrupt(path) from e
    except Exception as e:  # torch raises many types for bad files (RuntimeError, KeyError, EOFError...)
        raise _corrupt(path) from e
    while isinstance(obj, dict) and (key := next((k for k in _WRAPPERS if isinstance(obj.get(k), dict)), None)):
        obj = obj[key]
    if not isinstance(obj, dict) or not obj or not all(isinstance(v, Tensor) for v in obj.values()):
        raise WeightsError(f"{path} does not hold a state dict of tensors")
    for key, tensor in obj.items():  # a NaN weight would paste black faces without any error
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            raise WeightsError(f"{path} refused: tensor {key!r} holds NaN or infinite values")
    return {k.removeprefix("module."): v for k, v in obj.items()}


_PICKLE_PROTOCOL = 0x80  # the first byte of a pickle of protocol 2 or newer (what any saver writes)


def _holds_objects(path: Path) -> bool:
    """Whether a file the safe unpickler refused is really a pickle (or PyTorch's zip of one), as opposed
    to bytes that only looked like one to it: random data, a truncated download."""
    if zipfile.is_zipfile(path):
        return True
    with open(path, "rb") as handle:
        return handle.read(1) == bytes([_PICKLE_PROTOCOL])


def _corrupt(path: Path) -> WeightsError:
    # torch's own words for such files are a stray key or offset ("101") or advice on its loader's options
    return WeightsError(f"{path} is not a readable PyTorch checkpoint (truncated or corrupt)")


def _need(sd: dict[str, Tensor], key: str) -> Tensor:
    if key not in sd:
        raise WeightsError(f"not a GPEN state dict: key {key!r} is missing")
    return sd[key]


def infer_config(state_dict: dict[str, Tensor]) -> GpenConfig:
    """Infer the GPEN config from tensor shapes (the exact layout is checked when loading).

    Raises:
        WeightsError: the keys do not look like a GPEN FullGenerator.
    """
    sd = state_dict
    style_dim = _need(sd, "generator.style.1.weight").shape[1]
    n_mlp = sum(1 for k in sd if re.fullmatch(r"generator\.style\.\d+\.weight", k))
    n_ecd = sum(1 for k in sd if re.fullmatch(r"ecd\d+\.0\.\d\.weight", k))
    in_size = 2 ** (n_ecd + 1)
    narrow = _need(sd, "generator.input.input").shape[1] / 512
    # Channel multiplier: the one that reproduces every encoder width (widths above 32 px depend on it).
    widths = {in_size: _need(sd, "ecd0.0.0.weight").shape[0]}
    for i in range(1, n_ecd):
        widths[in_size >> i] = _need(sd, f"ecd{i}.0.1.weight").shape[0]
    for cm in range(1, 9):
        try:
            if all(channels(r, cm, narrow) == c for r, c in widths.items()):
                return GpenConfig(in_size, cm, narrow, style_dim, n_mlp)
        except KeyError:  # a resolution GPEN has no width for
            break
    raise WeightsError(f"cannot infer a GPEN config from the tensor shapes (in_size {in_size}, narrow {narrow})")


def _layout_problems(model: nn.Module, sd: dict[str, Tensor]) -> list[str]:
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    have = {k: tuple(v.shape) for k, v in sd.items()}

    def few(keys: list[str]) -> str:
        return ", ".join(keys[:5]) + (f" (+{len(keys) - 5} more)" if len(keys) > 5 else "")

    problems = []
    if missing := sorted(set(want) - set(have)):
        problems.append(f"missing keys: {few(missing)}")
    if unexpected := sorted(set(have) - set(want)):
        problems.append(f"unexpected keys: {few(unexpected)}")
    if wrong := [f"{k} {list(have[k])} vs {list(want[k])}" for k in sorted(set(want) & set(have)) if want[k] != have[k]]:
        problems.append(f"wrong shapes (file vs model): {few(wrong)}")
    return problems


def _config_for(path: Path, name: str | None, sd: dict[str, Tensor]) -> GpenConfig:
    known = (_find(name) if name else None) or _find(path.name)
    if known is not None and known.config is not None:
        return known.config
    return infer_config(sd)


def load_gpen(path: str | Path, *, name: str | None = None) -> tuple[nn.Module, GpenConfig]:
    """Load a GPEN checkpoint strictly into a fresh model (eval mode, fp32, CPU).

    The config comes from the registry when ``name`` (or the file name) is a known GPEN entry, else
    it is inferred from tensor shapes. The model is built on the meta device and takes the file's
    tensors directly, so no random weights are allocated.

    Raises:
        WeightsError: unreadable file, or keys/shapes that do not match (each problem named).
    """
    path = Path(path)
    sd = load_state_dict(path)
    config = _config_for(path, name, sd)
    with torch.device("meta"):
        model = config.build()
    if problems := _layout_problems(model, sd):
        raise WeightsError(f"{path.name} does not fit GPEN {config}: " + "; ".join(problems))
    model.load_state_dict({k: v.float() for k, v in sd.items()}, strict=True, assign=True)
    return model.eval(), config


def list_models() -> list[dict]:
    """Rows for ``gpen-video weights list``: name, kind, size (in_size or None), url, path, present.

    Each GPEN entry is followed by its ONNX export (kind "gpen-onnx", url None, present once
    exported), then come the other ``.onnx`` files in the cache (exports of local checkpoints, graphs
    placed there by hand).
    """
    rows, listed = [], set()
    for e in REGISTRY.values():
        path = weights_path(e.name)
        size = e.config.in_size if e.config else None
        rows.append(dict(name=e.name, kind=e.kind, size=size, url=e.url, path=str(path), present=path.is_file()))
        if e.kind == "gpen":
            onnx = cache_dir() / f"{e.name}.onnx"
            listed.add(onnx)
            rows.append(dict(name=f"{e.name} (onnx)", kind="gpen-onnx", size=size, url=None, path=str(onnx),
                             present=onnx.is_file()))
    for onnx in sorted([*cache_dir().glob("*.onnx"), *cache_dir().glob("onnx/*.onnx")]):
        if onnx not in listed:
            rows.append(dict(name=onnx.stem, kind="gpen-onnx", size=None, url=None, path=str(onnx), present=True))
    return rows
