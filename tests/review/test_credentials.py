"""Signed Content Credentials: a manifest embedded in MP4, JPEG and PNG files, read back and checked with
c2pa-python's reader, against a chain made for the test; a changed byte or a foreign root fails."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("c2pa")
pytest.importorskip("cryptography")

from gpen_video.errors import InputError, VerificationFailed  # noqa: E402
from gpen_video.review.credentials import (  # noqa: E402
    COMPOSITE_WITH_TRAINED_MODEL,
    Claim,
    SigningKey,
    check_signable,
    read_credentials,
    sign_output,
)
from tests.helpers.clips import make_clip  # noqa: E402
from tests.helpers.signing import make_signing_chain  # noqa: E402

CLAIM = dict(source_sha256="ab" * 32, model="GPEN-BFR-512", model_sha256="cd" * 32, audit_sha256="ef" * 32)


@pytest.fixture(scope="module")
def chain(tmp_path_factory):
    return make_signing_chain(tmp_path_factory.mktemp("chain"))


def _picture(path: Path) -> Path:
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)).save(path)
    return path


@pytest.mark.parametrize("name", ["out.mp4", "out.jpg", "out.png"])
def test_a_signed_output_validates_and_says_what_was_done(tmp_path: Path, chain, name: str) -> None:
    source = make_clip(tmp_path / "in.mp4", frames=4)
    output = make_clip(tmp_path / name, frames=4) if name.endswith(".mp4") else _picture(tmp_path / name)
    key = SigningKey(chain.chain, chain.key)
    check_signable(output, key)
    sign_output(output, name, Claim(source, **CLAIM), key)

    valid = read_credentials(output)
    assert valid.state == "Valid"
    assert read_credentials(output, chain.root).state == "Trusted"
    actions = next(a["data"]["actions"] for a in valid.manifest["assertions"] if a["label"].startswith("c2pa.actions"))
    edited = next(action for action in actions if action["action"] == "c2pa.edited")
    assert edited["softwareAgent"]["name"] == "gpen-video"
    assert edited["digitalSourceType"] == COMPOSITE_WITH_TRAINED_MODEL
    (ingredient,) = valid.manifest["ingredients"]
    assert ingredient["title"] == "in.mp4" and ingredient["relationship"] == "parentOf"
    assert "ab" * 32 in ingredient["metadata"].values()
    assert valid.provenance == {"input": {"name": "in.mp4", "sha256": "ab" * 32},
                                "model": {"name": "GPEN-BFR-512", "sha256": "cd" * 32},
                                "audit": {"chain_sha256": "ef" * 32}}


@pytest.mark.parametrize("name", ["out.mp4", "out.jpg", "out.png"])
def test_a_changed_byte_or_a_foreign_root_fails(tmp_path: Path, chain, name: str) -> None:
    output = make_clip(tmp_path / name, frames=4) if name.endswith(".mp4") else _picture(tmp_path / name)
    sign_output(output, name, Claim(output, **CLAIM), SigningKey(chain.chain, chain.key))
    other = make_signing_chain(tmp_path, "other")
    with pytest.raises(VerificationFailed, match="signingCredential.untrusted"):
        read_credentials(output, other.root)
    data = bytearray(output.read_bytes())
    data[-len(data) // 8] ^= 0x20  # in the pictures' pixels and the video's media data, past the manifest
    output.write_bytes(bytes(data))
    with pytest.raises(VerificationFailed, match=f"^{name}'s Content Credentials: "):
        read_credentials(output)


def test_only_formats_that_hold_a_manifest_are_signed(tmp_path: Path, chain) -> None:
    with pytest.raises(InputError, match="cannot sign out.mkv"):
        check_signable(tmp_path / "out.mkv", SigningKey(chain.chain, chain.key))
    with pytest.raises(FileNotFoundError, match="signing file not found"):
        check_signable(tmp_path / "out.mp4", SigningKey(chain.chain, tmp_path / "missing.pem"))
    with pytest.raises(VerificationFailed, match="no readable Content Credentials"):
        read_credentials(_picture(tmp_path / "plain.png"))
