"""A C2PA signing chain made for a test: a root CA, an intermediate CA and an ES256 signing certificate with the
extended key usage C2PA asks of a signer (document signing) - what a certificate authority would issue."""
from __future__ import annotations

import datetime
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")  # id-kp-documentSigning (RFC 9336)


@dataclass(frozen=True)
class SigningChain:
    """PEM files: ``chain`` (signing certificate, then the intermediate), its ``key``, and the ``root``."""

    chain: Path
    key: Path
    root: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "gpen-video tests")])


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: str, issuer_key: ec.EllipticCurvePrivateKey,
                 *, authority: bool, path_length: int | None = None) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    usage = x509.KeyUsage(digital_signature=not authority, content_commitment=False, key_encipherment=False,
                          data_encipherment=False, key_agreement=False, key_cert_sign=authority, crl_sign=authority,
                          encipher_only=False, decipher_only=False)
    builder = (x509.CertificateBuilder().subject_name(_name(subject)).issuer_name(_name(issuer))
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(hours=1)).not_valid_after(now + datetime.timedelta(days=7))
               .add_extension(x509.BasicConstraints(ca=authority, path_length=path_length), critical=True)
               .add_extension(usage, critical=True)
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
                              critical=False))
    if not authority:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_signing_chain(folder: Path, name: str = "test") -> SigningChain:
    """Write ``<name>-chain.pem``, ``<name>-key.pem`` and ``<name>-root.pem`` into ``folder``: fresh P-256 keys."""
    root_key, middle_key, signer_key = (ec.generate_private_key(ec.SECP256R1()) for _ in range(3))
    root = _certificate(f"{name} root", root_key, f"{name} root", root_key, authority=True, path_length=1)
    middle = _certificate(f"{name} intermediate", middle_key, f"{name} root", root_key, authority=True, path_length=0)
    signer = _certificate(f"{name} signer", signer_key, f"{name} intermediate", middle_key, authority=False)
    pem = serialization.Encoding.PEM
    chain = SigningChain(folder / f"{name}-chain.pem", folder / f"{name}-key.pem", folder / f"{name}-root.pem")
    chain.chain.write_bytes(signer.public_bytes(pem) + middle.public_bytes(pem))
    chain.key.write_bytes(signer_key.private_bytes(pem, serialization.PrivateFormat.PKCS8,
                                                   serialization.NoEncryption()))
    chain.root.write_bytes(root.public_bytes(pem))
    return chain
