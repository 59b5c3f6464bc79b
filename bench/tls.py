"""A CA and a server certificate for the benchmark's SMTP server, made per run.

Runs in the runner's venv (Home Assistant's, which has ``cryptography``). The
keys are EC P-256, as the emulator's. The server certificate names
``127.0.0.1`` (and ``localhost``), the address Home Assistant connects to, so
Python's hostname check passes.

Home Assistant trusts the CA the way a user trusts a private CA: its SSL
contexts (``homeassistant.util.ssl``, which the ``smtp`` integration uses when
``verify_ssl`` is on, the default) read their CA file from
``REQUESTS_CA_BUNDLE``, else certifi's. The runner sets that variable for
Home Assistant's process to :attr:`TlsFiles.bundle`: the CAs Home Assistant
would trust anyway plus this run's CA. Nothing turns verification off.
"""

from __future__ import annotations

from dataclasses import dataclass
import datetime as dt
import ipaddress
import os
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID


@dataclass(frozen=True)
class TlsFiles:
    """Paths of the generated files."""

    ca: Path
    cert: Path
    key: Path
    bundle: Path
    base_bundle: str


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "o365 benchmark"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def base_bundle() -> str:
    """Return the CA file Home Assistant trusts without us (what we add to)."""
    if os.environ.get("REQUESTS_CA_BUNDLE"):
        return os.environ["REQUESTS_CA_BUNDLE"]
    import certifi  # noqa: PLC0415 - a Home Assistant dependency

    return str(certifi.where())


def generate(directory: Path) -> TlsFiles:
    """Write ``ca.pem``, ``server.pem``, ``server.key`` and ``bundle.pem``."""
    directory.mkdir(parents=True, exist_ok=True)
    now = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)
    until = now + dt.timedelta(days=2)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = _name("o365 benchmark SMTP CA")
    ca_cert = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("127.0.0.1"))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(until)
        .add_extension(
            x509.SubjectAlternativeName(
                [
                    x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
                    x509.DNSName("localhost"),
                ]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = TlsFiles(
        ca=directory / "ca.pem",
        cert=directory / "server.pem",
        key=directory / "server.key",
        bundle=directory / "bundle.pem",
        base_bundle=base_bundle(),
    )
    files.ca.write_bytes(ca_cert.public_bytes(pem))
    files.cert.write_bytes(cert.public_bytes(pem))
    files.key.write_bytes(
        key.private_bytes(
            pem,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    files.key.chmod(0o600)
    base = Path(files.base_bundle).read_text(encoding="utf-8")
    files.bundle.write_text(
        base.rstrip("\n")
        + "\n# o365 benchmark SMTP CA (this run)\n"
        + ca_cert.public_bytes(pem).decode(),
        encoding="utf-8",
    )
    return files
