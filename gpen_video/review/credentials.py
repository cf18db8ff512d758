"""Signed Content Credentials (C2PA) in the output: who made it from what, checked by any C2PA reader.

``sign_output`` embeds a manifest in an MP4/MOV, JPEG or PNG file (c2pa-python, the ``c2pa`` extra),
signed with the user's certificate chain and ES256 key. It holds:

- the input as the parent ingredient, with its sha256;
- a ``c2pa.opened`` action on it, then ``c2pa.edited`` with gpen-video and its version as the software
  agent and the digital source type of content composited with a trained algorithm;
- the ``org.gpen-video.provenance`` assertion: the model and its weights' sha256, the input's sha256,
  and the run's audit log's chain hash (the hash of its last frame line, which its footer follows).

``read_credentials`` reads a file's manifest back and checks it (signature, hashes of the content).
"""
from __future__ import annotations

import importlib.util
import json
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

from .._version import __version__
from ..errors import InputError, InputMissing, MissingExtra, VerificationFailed
from ..media.output import discard, temp_path_for

COMPOSITE_WITH_TRAINED_MODEL = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
PROVENANCE_LABEL = "org.gpen-video.provenance"
UNTRUSTED = "signingCredential.untrusted"  # c2pa's code for a signer whose root is no trust anchor
SIGNABLE = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".jpg": "image/jpeg",
            ".jpeg": "image/jpeg", ".png": "image/png"}


@dataclass(frozen=True)
class SigningKey:
    """A signing certificate chain (PEM: the signing certificate first, then its intermediates) and
    its private key (PEM, P-256 for ES256)."""

    certificate: Path
    key: Path


@dataclass(frozen=True)
class Claim:
    """What a signed output says about how it was made.

    Attributes:
        source: the input file; it becomes the manifest's parent ingredient.
        source_sha256: its sha256.
        model: the model's name; ``model_sha256`` its weights' sha256 (None without a weights file).
        audit_sha256: the audit log's chain hash (``AuditLog.chain_head`` before its footer), or None.
    """

    source: Path
    source_sha256: str | None
    model: str
    model_sha256: str | None
    audit_sha256: str | None


@dataclass(frozen=True)
class Credentials:
    """A file's manifest as read: ``state`` (c2pa's validation state: "Valid" when it is intact, "Trusted"
    when its signer's root is also a trust anchor), the active ``manifest`` and its ``provenance``
    assertion (or None)."""

    state: str
    manifest: dict
    provenance: dict | None


def _c2pa():
    try:
        import c2pa
    except ImportError:
        raise MissingExtra("c2pa-python (Content Credentials)", "c2pa") from None
    return c2pa


def check_signable(output: str | Path, key: SigningKey) -> None:
    """Before any work: the output's format can hold a manifest, the key files exist, c2pa is installed.

    Raises:
        InputError: the format cannot be signed. InputMissing: a key file is missing.
        MissingExtra: c2pa-python is not installed.
    """
    suffix = Path(output).suffix.lower()
    if suffix not in SIGNABLE:
        raise InputError(f"cannot sign {Path(output).name}: Content Credentials go into "
                         f"{', '.join(sorted(SIGNABLE))} files")
    for path in (key.certificate, key.key):
        if not Path(path).is_file():
            raise InputMissing(f"signing file not found: {path}")
    _c2pa()


def _manifest(claim: Claim, title: str) -> dict:
    agent = {"name": "gpen-video", "version": __version__}
    provenance = {"input": {"name": claim.source.name, "sha256": claim.source_sha256},
                  "model": {"name": claim.model, "sha256": claim.model_sha256},
                  "audit": {"chain_sha256": claim.audit_sha256}}
    # The input is described rather than read: c2pa reads few video containers, and the hash is ours.
    ingredient = {"title": claim.source.name, "format": mimetypes.guess_type(claim.source.name)[0] or
                  "application/octet-stream", "relationship": "parentOf", "label": "input",
                  "metadata": {f"{PROVENANCE_LABEL}.sha256": claim.source_sha256}}
    return {
        "claim_generator_info": [agent],
        "title": title,
        "ingredients": [ingredient],
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": [
                {"action": "c2pa.opened", "parameters": {"ingredientIds": ["input"]}},
                {"action": "c2pa.edited", "softwareAgent": agent, "digitalSourceType": COMPOSITE_WITH_TRAINED_MODEL,
                 "description": f"faces restored with {claim.model}"},
            ]}},
            {"label": PROVENANCE_LABEL, "data": provenance},
        ],
    }


def sign_output(path: Path, title: str, claim: Claim, key: SigningKey) -> None:
    """Embed a signed manifest in the finished file ``path`` (named ``title`` once published), in place.

    Raises:
        InputError: the certificate or key is refused (not PEM, wrong key type, a chain c2pa rejects).
    """
    c2pa = _c2pa()
    mime = SIGNABLE[Path(title).suffix.lower()]
    try:
        signer = c2pa.Signer.from_info(c2pa.C2paSignerInfo(
            c2pa.C2paSigningAlg.ES256, Path(key.certificate).read_bytes(), Path(key.key).read_bytes(), None))
        builder = c2pa.Builder(_manifest(claim, title))
        signed = temp_path_for(path)
        try:
            with open(path, "rb") as unsigned, open(signed, "w+b") as out:
                builder.sign(signer, mime, unsigned, out)
            os.replace(signed, path)
        finally:
            discard(signed)
    except c2pa.C2paError as exc:
        raise InputError(f"cannot sign {title}: {exc}") from None


def read_credentials(path: str | Path, trust_anchors: str | Path | None = None) -> Credentials:
    """Read and check the manifest embedded in ``path``.

    Without ``trust_anchors`` (PEM root certificates) a signer outside C2PA's trust lists is accepted:
    the manifest is checked for integrity ("Valid"). With them, the signer's chain must end in one of
    them ("Trusted").

    Raises:
        InputMissing: no such file. VerificationFailed: no manifest, or one whose signature, chain or
            content hashes do not check out (the first failure is named). MissingExtra: no c2pa-python.
    """
    c2pa = _c2pa()
    path = Path(path)
    for needed in (path, trust_anchors):
        if needed is not None and not Path(needed).is_file():
            raise InputMissing(f"file not found: {needed}")
    context = None if trust_anchors is None else c2pa.Context.from_dict(
        {"trust": {"trust_anchors": Path(trust_anchors).read_text()}})
    try:
        reader = c2pa.Reader(str(path), context=context)
    except c2pa.C2paError as exc:
        raise VerificationFailed(path.name, f"no readable Content Credentials ({exc})") from None
    with reader:
        state = reader.get_validation_state() or "Invalid"
        manifest = reader.get_active_manifest() or {}
        failures = (reader.get_validation_results() or {}).get("activeManifest", {}).get("failure", [])
    if trust_anchors is None:  # integrity only: a signer on no trust list is not a failure
        failures = [failure for failure in failures if failure.get("code") != UNTRUSTED]
    if failures or state not in ("Valid", "Trusted"):
        first = failures[0] if failures else {"code": state, "explanation": "not valid"}
        raise VerificationFailed(f"{path.name}'s Content Credentials",
                                 f"{first.get('code')}: {first.get('explanation', '')}".rstrip(": "))
    provenance = next((a["data"] for a in manifest.get("assertions", []) if a.get("label") == PROVENANCE_LABEL), None)
    return Credentials(state, manifest, provenance)


def signed_audit_hash_matches(output: str | Path, chain_sha256: str) -> bool:
    """Whether ``output`` carries Content Credentials whose audit hash is ``chain_sha256`` (an audit log's
    ``AuditCheck.chain_sha256``): True when it does, False when it carries none or c2pa-python is not
    installed. The chain cannot protect a log's last lines from one who rewrites them all; the signature can.

    Raises:
        VerificationFailed: the manifest fails its checks, or holds another log's hash.
    """
    if Path(output).suffix.lower() not in SIGNABLE or importlib.util.find_spec("c2pa") is None:
        return False
    import c2pa

    with open(output, "rb") as handle:
        if c2pa.Reader.try_create(SIGNABLE[Path(output).suffix.lower()], handle) is None:
            return False
    signed = ((read_credentials(output).provenance or {}).get("audit") or {}).get("chain_sha256")
    if signed != chain_sha256:
        raise VerificationFailed(f"{Path(output).name}'s Content Credentials",
                                 f"hold the audit hash {str(signed)[:16]}..., not this log's {chain_sha256[:16]}...")
    return True


def describe(credentials: Credentials) -> str:
    """One line for a checked manifest: its state, the signer and what it says was done."""
    signature = credentials.manifest.get("signature_info", {})
    who = signature.get("common_name") or signature.get("issuer") or "unknown signer"
    made = json.dumps(credentials.provenance, sort_keys=True) if credentials.provenance else "no gpen-video record"
    return f"Content Credentials {credentials.state.lower()}, signed by {who}: {made}"
