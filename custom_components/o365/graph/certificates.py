"""Certificate credentials: read and check a PEM private key and its certificate.

Entra accepts a client assertion signed with the private key of a
certificate uploaded to the app registration (Microsoft recommends
certificates over secrets: "Microsoft identity platform application
authentication certificate credentials", entra-docs
docs/identity-platform/certificate-credentials.md). The checks here run
before anything is sent, so a wrong paste gets a precise error: a key and a
certificate in PEM, the key matching the certificate, RSA of 2048 bits or
more, valid now. Texts never contain the key.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from .auth import ClientCertificate
from .exceptions import (
    CertificateExpiredError,
    CertificateKeyMismatchError,
    CertificateKeyTooWeakError,
    CertificateUnreadableError,
)

MIN_RSA_BITS = 2048
_BLOCK = re.compile(
    r"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\s.*?-----END (?P=label)-----", re.DOTALL
)


@dataclass(frozen=True, slots=True)
class CertificateInfo:
    """A checked certificate credential and what the portal shows of it."""

    credential: ClientCertificate
    not_before: datetime
    not_after: datetime
    #: SHA-1 thumbprint in hex, as the portal's "Certificates" list shows it.
    thumbprint: str
    subject: str


def looks_like_pem(text: str) -> bool:
    """Return True for pasted text (PEM, or meant to be), rather than a file path."""
    return "-----BEGIN" in text or "\n" in text.strip()


def parse_certificate(text: str, *, now: datetime) -> CertificateInfo:
    """Check a PEM private key plus certificate; raise a CertificateError if unusable."""
    # The first block of each kind: a certificate may be followed by its chain.
    blocks: dict[str, str] = {}
    for match in _BLOCK.finditer(text):
        blocks.setdefault(match["label"], match[0])
    certificate_pem = blocks.get("CERTIFICATE")
    key_label = next((label for label in blocks if label.endswith("PRIVATE KEY")), None)
    if certificate_pem is None or key_label is None:
        raise CertificateUnreadableError(
            "Expected a PEM private key and a PEM certificate "
            "(-----BEGIN PRIVATE KEY----- and -----BEGIN CERTIFICATE-----)"
        )
    if key_label == "ENCRYPTED PRIVATE KEY":
        raise CertificateUnreadableError(
            "The private key is encrypted with a passphrase; export it without one"
        )
    try:
        certificate = x509.load_pem_x509_certificate(certificate_pem.encode())
        key = serialization.load_pem_private_key(
            blocks[key_label].encode(), password=None
        )
    except (ValueError, TypeError) as err:
        raise CertificateUnreadableError(
            f"The PEM text could not be read ({type(err).__name__})"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey) or key.key_size < MIN_RSA_BITS:
        raise CertificateKeyTooWeakError(
            f"Entra needs an RSA key of at least {MIN_RSA_BITS} bits"
        )
    public = certificate.public_key()
    if (
        not isinstance(public, rsa.RSAPublicKey)
        or key.public_key().public_numbers() != public.public_numbers()
    ):
        raise CertificateKeyMismatchError(
            "The private key does not belong to this certificate"
        )
    not_before = certificate.not_valid_before_utc
    not_after = certificate.not_valid_after_utc
    if not not_before <= now < not_after:
        raise CertificateExpiredError(
            f"The certificate is valid from {not_before:%Y-%m-%d} "
            f"to {not_after:%Y-%m-%d}"
        )
    return CertificateInfo(
        credential=ClientCertificate(
            private_key=blocks[key_label], certificate=certificate_pem
        ),
        not_before=not_before,
        not_after=not_after,
        thumbprint=certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303 - the portal's thumbprint
        subject=certificate.subject.rfc4514_string(),
    )
