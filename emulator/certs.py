"""A private CA and a server certificate for the emulator's HTTPS listener.

Both live in the state directory and are reused while valid, so a CA trusted
once (by a browser, or through ``O365_EMULATOR_CA``) keeps working. The server
certificate covers ``127.0.0.1``, ``localhost`` and ``::1`` (and the listening
host) and meets Python 3.13's strict X.509 checks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
import ipaddress
from pathlib import Path
import ssl

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .common import utc_now

CA_VALIDITY = timedelta(days=3650)
SERVER_VALIDITY = timedelta(days=397)
RENEW_BEFORE = timedelta(days=1)
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})  # noqa: S104 - compared, not bound

Pair = tuple[x509.Certificate, ec.EllipticCurvePrivateKey]


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Where the CA and the server certificate are stored (PEM)."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path

    @classmethod
    def in_directory(cls, directory: Path) -> TlsFiles:
        """Return the file names used inside ``directory``."""
        return cls(
            directory / "ca.pem",
            directory / "ca-key.pem",
            directory / "server.pem",
            directory / "server-key.pem",
        )


def server_names(host: str) -> frozenset[str]:
    """Return the names the server certificate must cover for ``host``."""
    names = set(LOOPBACK_NAMES)
    if host not in _WILDCARD_HOSTS:
        names.add(_canonical_name(host))
    return frozenset(_canonical_name(name) for name in names)


def ensure_certificates(directory: Path, host: str) -> TlsFiles:
    """Create the CA and server certificate, or reuse them while still valid."""
    directory.mkdir(parents=True, exist_ok=True)
    files = TlsFiles.in_directory(directory)
    now = utc_now()
    names = server_names(host)
    ca = _load_pair(files.ca_cert, files.ca_key)
    server: Pair | None = None
    if ca is None or not _current(ca[0], now):
        ca = _new_ca(now)
        _store(ca, files.ca_cert, files.ca_key)
    else:
        server = _load_pair(files.server_cert, files.server_key)
    if server is None or not _server_usable(server[0], ca[0], names, now):
        _store(_new_server(ca, names, now), files.server_cert, files.server_key)
    return files


def server_ssl_context(files: TlsFiles) -> ssl.SSLContext:
    """Return the TLS context of the listener."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(files.server_cert, files.server_key)
    return context


def client_ssl_context(ca_path: Path) -> ssl.SSLContext:
    """Return a client TLS context that trusts the emulator's CA."""
    return ssl.create_default_context(cafile=str(ca_path))


def _canonical_name(name: str) -> str:
    try:
        return str(ipaddress.ip_address(name.strip("[]")))
    except ValueError:
        return name.casefold()


def _load_pair(cert_path: Path, key_path: Path) -> Pair | None:
    """Return a stored certificate and its key, or None if unusable."""
    try:
        cert = x509.load_pem_x509_certificate(cert_path.read_bytes())
        key = serialization.load_pem_private_key(key_path.read_bytes(), None)
    except (OSError, ValueError, TypeError):
        return None
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        return None
    encoding = serialization.Encoding.DER
    public = serialization.PublicFormat.SubjectPublicKeyInfo
    if key.public_key().public_bytes(
        encoding, public
    ) != cert.public_key().public_bytes(encoding, public):
        return None
    return cert, key


def _current(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now < cert.not_valid_after_utc - RENEW_BEFORE


def _server_usable(
    cert: x509.Certificate, ca: x509.Certificate, names: frozenset[str], now: datetime
) -> bool:
    """Return True if the server certificate is current, ours and covers ``names``."""
    try:
        cert.verify_directly_issued_by(ca)
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except (ValueError, TypeError, InvalidSignature, x509.ExtensionNotFound):
        return False
    covered = {name.casefold() for name in san.get_values_for_type(x509.DNSName)}
    covered |= {str(ip) for ip in san.get_values_for_type(x509.IPAddress)}
    return _current(cert, now) and names <= covered


def _new_ca(now: datetime) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "o365 Graph emulator"),
            x509.NameAttribute(NameOID.COMMON_NAME, "o365 Graph emulator local CA"),
        ]
    )
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .sign(key, hashes.SHA256())
    )
    return cert, key


def _new_server(ca: Pair, names: frozenset[str], now: datetime) -> Pair:
    ca_cert, ca_key = ca
    key = ec.generate_private_key(ec.SECP256R1())
    alt_names: list[x509.GeneralName] = []
    for name in sorted(names):
        try:
            alt_names.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt_names.append(x509.DNSName(name))
    usage = x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )
    ca_key_id = ca_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "o365 Graph emulator")])
        )
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + SERVER_VALIDITY)
        .add_extension(x509.SubjectAlternativeName(alt_names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False
        )
        .add_extension(
            x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(
                ca_key_id.value
            ),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return cert, key


def _store(pair: Pair, cert_path: Path, key_path: Path) -> None:
    """Write a certificate and its key (the key readable by the owner only)."""
    cert, key = pair
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.touch(mode=0o600, exist_ok=True)
    key_path.chmod(0o600)
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
