"""Session fixtures: the real media and GPEN fixtures committed under ``tests/``, and a weights cache
of the session's own."""
from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.helpers.paths import DATA, FIXTURES


@pytest.fixture(scope="session", autouse=True)
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``$GPEN_VIDEO_HOME`` for the session (children inherit it), never the user's cache. It holds this
    environment's CPU backend timings, so no run measures them (``restore.cpu_choice``): torch, in the precision that
    the CPU flags suggest, as before the measurement existed. Tests of the measurement use their own cache."""
    from gpen_video.models.device import cpu_has_bf16
    from gpen_video.restore.cpu_choice import CACHE_FILE, cache_key

    home = tmp_path_factory.mktemp("gpen-video-home")
    timings = {"torch bf16": 1.0, "torch fp32": 2.0} if cpu_has_bf16() else {"torch fp32": 1.0}
    (home / CACHE_FILE).write_text(json.dumps({cache_key(): {"probe_ms": timings}}))
    before = os.environ.get("GPEN_VIDEO_HOME")
    os.environ["GPEN_VIDEO_HOME"] = str(home)
    yield home
    if before is None:
        os.environ.pop("GPEN_VIDEO_HOME", None)
    else:
        os.environ["GPEN_VIDEO_HOME"] = before


@pytest.fixture(scope="session")
def data_dir() -> Path:
    return DATA


@pytest.fixture(scope="session")
def gpen_dir() -> Path:
    return FIXTURES


@pytest.fixture(scope="module")
def tiny_reference(gpen_dir):
    """The tiny64 GPEN reference fixture: (its model in eval mode, the fixture's dict: config,
    state_dict, inputs and reference outputs). One model per test module, since restorers fold
    constants into it."""
    import torch

    from gpen_video.models.gpen import build_gpen

    fixture = torch.load(gpen_dir / "gpen_reference_tiny64.pt", weights_only=False)
    c = fixture["config"]
    model = build_gpen(c["size"], c["channel_multiplier"], c["narrow"], c["style_dim"], c["n_mlp"])
    model.load_state_dict(fixture["state_dict"], strict=True)
    return model.eval(), fixture
