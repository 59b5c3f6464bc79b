"""Certificate credentials of app registrations, and a test helper to make one.

`AppCertificate` is a certificate uploaded to an app registration, with what the
portal shows for it (thumbprints, start and end dates) and what Graph answers
for it in ``keyCredentials``. `make_self_signed_certificate` creates an RSA key
and a self-signed certificate for tests (the integration's tests reuse it)::

    cert = make_self_signed_certificate()
    emulator.add_certificate(cert.certificate_pem)
    msal.ConfidentialClientApplication(
        client_id,
        client_credential={
            "private_key": cert.private_key_pem,
            "public_certificate": cert.certificate_pem,
        },
        ...,
    )
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import uuid

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from .common import utc_now


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


@dataclass
class AppCertificate:
    """A certificate registered on an app (``keyCredential`` of type X.509)."""

    certificate: x509.Certificate
    display_name: str
    starts_at: datetime
    expires_at: datetime
    key_id: str = field(default_factory=lambda: str(uuid.uuid4()))

    @classmethod
    def from_pem(
        cls, pem: str | bytes, *, display_name: str | None = None
    ) -> AppCertificate:
        """Register a PEM certificate the way the portal's upload does.

        The portal shows the certificate's subject, thumbprint and validity
        (``docs/identity-platform/certificate-credentials.md``).
        """
        data = pem.encode("ascii") if isinstance(pem, str) else pem
        try:
            certificate = x509.load_pem_x509_certificate(data)
        except ValueError as err:
            raise ValueError(f"not a PEM certificate: {err}") from err
        return cls(
            certificate,
            display_name or certificate.subject.rfc4514_string(),
            certificate.not_valid_before_utc,
            certificate.not_valid_after_utc,
        )

    @property
    def sha1(self) -> bytes:
        """Return the SHA-1 thumbprint (``x5t``, ``customKeyIdentifier``)."""
        return self.certificate.fingerprint(hashes.SHA1())  # noqa: S303 - a thumbprint

    @property
    def sha256(self) -> bytes:
        """Return the SHA-256 thumbprint (``x5t#S256``)."""
        return self.certificate.fingerprint(hashes.SHA256())

    @property
    def x5t(self) -> str:
        """Return the JWT header value naming this certificate by SHA-1."""
        return _b64url(self.sha1)

    @property
    def x5t_s256(self) -> str:
        """Return the JWT header value naming this certificate by SHA-256."""
        return _b64url(self.sha256)

    @property
    def der(self) -> bytes:
        """Return the certificate's DER bytes."""
        return self.certificate.public_bytes(serialization.Encoding.DER)

    def expired(self, now: datetime) -> bool:
        """Return True once the registered end date has passed."""
        return self.expires_at <= now

    def not_yet_valid(self, now: datetime) -> bool:
        """Return True before the registered start date."""
        return now < self.starts_at


@dataclass(frozen=True, slots=True)
class SelfSignedCertificate:
    """A private key and its self-signed certificate, both PEM."""

    certificate_pem: str
    private_key_pem: str
    #: Upper-case hex SHA-1 thumbprint, as the portal shows it.
    sha1_thumbprint: str
    sha256_thumbprint: str


def make_self_signed_certificate(
    common_name: str = "o365 emulator client",
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    days: int = 365,
    key_size: int = 2048,
) -> SelfSignedCertificate:
    """Return a new RSA key and a self-signed certificate for it (for tests)."""
    now = utc_now()
    start = not_before or now - timedelta(minutes=5)
    end = not_after or start + timedelta(days=days)
    key = rsa.generate_private_key(public_exponent=65537, key_size=key_size)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return SelfSignedCertificate(
        certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode("ascii"),
        certificate.fingerprint(hashes.SHA1()).hex().upper(),  # noqa: S303
        certificate.fingerprint(hashes.SHA256()).hex().upper(),
    )
