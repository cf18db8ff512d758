"""What this installation can run: the packages and their versions, the device and the GPEN backend a
run would use and why, and where the caches are (``gpen-video doctor``)."""
from __future__ import annotations

import platform
from dataclasses import dataclass
from pathlib import Path

from .._version import __version__
from ..errors import install_command
from ..restore.cpu_choice import CpuChoice, distribution_version

# optional packages: (distribution, the gpen-video extra that installs it)
OPTIONAL = (("onnx", "onnx"), ("onnxscript", "onnx"), ("spandrel", "sr"), ("ray", "ray"), ("pyvirtualcam", "live"))


@dataclass(frozen=True)
class Package:
    """One package: ``version`` None when it is not installed; ``detail`` what matters about this build."""

    name: str
    version: str | None
    detail: str = ""
    extra: str | None = None  # the gpen-video extra that installs it, for an optional package


@dataclass(frozen=True)
class Diagnosis:
    """What ``diagnose`` found.

    Attributes:
        device: where GPEN runs by default ("cpu", "cuda:0"), and ``device_reason`` why.
        choice: this environment's CPU backend measurement and pick; None when never measured.
        onnx_providers: the execution providers that would run ``.onnx`` weights, best first.
        weights_cache: the folder of downloaded weights and ONNX exports.
        backend_cache: the CPU backend timings file; ``backend_key`` this environment's entry in it.
    """

    packages: list[Package]
    device: str
    device_reason: str
    choice: CpuChoice | None
    onnx_providers: list[str]
    weights_cache: Path
    backend_cache: Path
    backend_key: str

    def lines(self) -> list[str]:
        """The diagnosis as text, a few sections of indented lines."""
        out = [f"gpen-video {__version__}, {platform.python_implementation()} {platform.python_version()} "
               f"on {platform.system()} {platform.machine()}", "installed:"]
        for package in self.packages:
            if package.version is None:
                how = install_command(package.extra) if package.extra else "a dependency of gpen-video: reinstall it"
                out.append(f"  {package.name} not installed ({how})")
            else:
                out.append(f"  {package.name} {package.version}" + (f" ({package.detail})" if package.detail else ""))
        out += ["would run:", f"  device: {self.device} ({self.device_reason})", f"  backend: {self._backend()}",
                f"  .onnx weights: onnxruntime ({', '.join(self.onnx_providers)})",
                "caches:", f"  weights and ONNX exports: {self.weights_cache}",
                f"  CPU backend timings: {self.backend_cache}", f"    this environment: {self.backend_key}"]
        return out

    def _backend(self) -> str:
        """The backend of a PyTorch checkpoint (the default models), and why."""
        if self.device != "cpu":
            return "torch for GPEN checkpoints (on CUDA, torch runs them in bf16 or fp16)"
        if self.choice is None:
            return "not measured yet in this environment: the first GPEN run on the CPU measures (10-30 s)"
        fastest_first = sorted(self.choice.timings_ms.items(), key=lambda item: item[1])
        timings = ", ".join(f"{name} {ms:g} ms" for name, ms in fastest_first)
        why = self.choice.notice or "the fastest measured here"
        return f"{self.choice.backend} {self.choice.precision} for GPEN checkpoints ({why}; probe: {timings})"


def diagnose(*, remeasure: bool = False) -> Diagnosis:
    """Look at this installation; ``remeasure``: time the CPU backends again (10-30 s) and cache them."""
    import onnxruntime
    import torch

    from ..models.device import resolve_device
    from ..models.weights import cache_dir
    from ..review.provenance import software_versions
    from ..restore import cpu_choice
    from ..restore.providers import plan_providers

    versions = software_versions()
    cuda_build = f"built for CUDA {torch.version.cuda}" if torch.version.cuda else "CPU-only build"
    packages = [
        Package("torch", str(versions["torch"]), cuda_build),
        Package("onnxruntime", str(versions["onnxruntime"]),
                f"providers: {', '.join(onnxruntime.get_available_providers())}"),
        *(Package(name, distribution_version(name), extra=extra) for name, extra in OPTIONAL[:2]),
        Package("av", str(versions["av"]), f"FFmpeg libavcodec {versions['ffmpeg']}"),
        Package("opencv", str(versions["opencv"])),
        Package("norfair", distribution_version("norfair")),
        *(Package(name, distribution_version(name), extra=extra) for name, extra in OPTIONAL[2:]),
    ]
    device = resolve_device("auto")
    if device.type == "cuda":
        reason = f"{torch.cuda.get_device_name(device)}, {torch.cuda.device_count()} CUDA device(s)"
        name = f"cuda:{device.index or 0}"
    else:
        reason = f"torch {cuda_build}, no CUDA device seen" if torch.version.cuda else f"torch is a {cuda_build}"
        name = "cpu"
    choice = cpu_choice.choose_cpu_backend(remeasure=True) if remeasure else cpu_choice.cached_choice()
    plan = plan_providers("onnxruntime", "auto", fp16=True, engine_cache=str(cache_dir() / "tensorrt"),
                          available=onnxruntime.get_available_providers())
    return Diagnosis(packages, name, reason, choice, plan.names, cache_dir(), cpu_choice.cache_path(),
                     cpu_choice.cache_key())

