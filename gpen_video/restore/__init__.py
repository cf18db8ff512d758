"""Face restorers (``protocols.Restorer``): GPEN on torch (``gpen``) or on ONNX Runtime (``onnx``), and the
pass-through (``passthrough``); ``build.build_restorer`` picks one, ``settings`` holds the ``[restore]``
section.

The names below are imported on first use, so that reading the settings does not load torch.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# public name -> submodule that defines it
_EXPORTS = {
    "GpenRestorer": "gpen",
    "PassthroughRestorer": "passthrough",
    "build_restorer": "build",
    "resolve_backend": "build",
    "to_model_input": "crops",
    "to_uint8": "crops",
}

__all__ = ["GpenRestorer", "PassthroughRestorer", "build_restorer", "resolve_backend", "to_model_input", "to_uint8"]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value  # later look-ups skip this function
    return value


if TYPE_CHECKING:
    from .build import build_restorer, resolve_backend
    from .crops import to_model_input, to_uint8
    from .gpen import GpenRestorer
    from .passthrough import PassthroughRestorer
