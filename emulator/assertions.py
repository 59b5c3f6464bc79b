"""Client assertions: certificate credentials at the token endpoint.

As ``docs/identity-platform/certificate-credentials.md`` describes it: a JWT
(``alg`` PS256, or RS256 as older clients send) whose header names the
certificate by ``x5t#S256`` (SHA-256 thumbprint, base64url) or ``x5t`` (SHA-1),
signed with the certificate's key, with ``aud`` = the token endpoint, ``iss`` =
``sub`` = the client id, ``exp``, ``jti`` (and optionally ``nbf``, ``iat``).
Every refusal is ``invalid_client`` AADSTS700027 with Entra's reasons ("The key
was not found", "The key used is expired", "The provided signature value did
not match the expected signature value"); the claim checks reuse that number
(the error reference documents no other). Assertions may be reused until they
expire (MSAL reuses one for up to nine minutes), as Entra allows.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Collection
from datetime import datetime
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from .client_certs import AppCertificate
from .common import OAuthError
from .directory import App

CLIENT_ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
_ALGORITHMS = frozenset({"PS256", "RS256"})


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _refuse(message: str) -> OAuthError:
    return OAuthError(401, "invalid_client", 700027, message)


def _found_key(certificate: AppCertificate) -> str:
    start = certificate.starts_at.strftime("%m/%d/%Y %H:%M:%S")
    end = certificate.expires_at.strftime("%m/%d/%Y %H:%M:%S")
    return f"Found key 'Start={start}, End={end}'"


def verify_client_assertion(
    assertion: str,
    *,
    app: App,
    token_endpoints: Collection[str],
    now: datetime,
) -> AppCertificate:
    """Return the certificate that signed a valid assertion, or raise `OAuthError`."""
    parts = assertion.split(".")
    if len(parts) != 3:
        raise _refuse("Client assertion is not a well-formed JWT.")
    try:
        header = json.loads(_b64decode(parts[0]))
        claims = json.loads(_b64decode(parts[1]))
        signature = _b64decode(parts[2])
    except (ValueError, binascii.Error) as err:
        raise _refuse("Client assertion is not a well-formed JWT.") from err
    if not isinstance(header, dict) or not isinstance(claims, dict):
        raise _refuse("Client assertion is not a well-formed JWT.")
    algorithm = header.get("alg")
    if algorithm not in _ALGORITHMS:
        raise _refuse(
            f"Client assertion uses the algorithm {algorithm!r}; use PS256 (or RS256)."
        )
    certificate, thumbprint = _certificate(app, header)
    used = f"Thumbprint of key used by client: '{thumbprint}'"
    if certificate.expired(now):
        raise _refuse(
            "Client assertion contains an invalid signature. [Reason - The key used "
            f"is expired., {used}, {_found_key(certificate)}]"
        )
    if certificate.not_yet_valid(now):
        raise _refuse(
            "Client assertion contains an invalid signature. [Reason - The key used "
            f"is not yet valid., {used}, {_found_key(certificate)}]"
        )
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    if not _signature_valid(certificate, str(algorithm), signed, signature):
        raise _refuse(
            "Client assertion contains an invalid signature. [Reason - The provided "
            f"signature value did not match the expected signature value., {used}, "
            f"{_found_key(certificate)}]"
        )
    _check_claims(claims, app, token_endpoints, now)
    return certificate


def _certificate(app: App, header: dict[str, Any]) -> tuple[AppCertificate, str]:
    """Find the registered certificate the header names by thumbprint."""
    for name, attribute in (("x5t#S256", "x5t_s256"), ("x5t", "x5t")):
        value = header.get(name)
        if value is None:
            continue
        try:
            thumbprint = _b64decode(str(value)).hex().upper()
        except (ValueError, binascii.Error):
            thumbprint = str(value)
        for certificate in app.certificates:
            if getattr(certificate, attribute) == str(value).rstrip("="):
                return certificate, thumbprint
        raise _refuse(
            "The certificate with identifier used to sign the client assertion is "
            "not registered on application. [Reason - The key was not found., "
            f"Thumbprint of key used by client: '{thumbprint}', Please visit the "
            "Azure Portal, Graph Explorer or directly use MS Graph to see configured "
            f"keys for app Id '{app.client_id}'.]"
        )
    raise _refuse(
        "Invalid JWT token. No certificate thumbprint specified in token header "
        "(x5t#S256 or x5t)."
    )


def _signature_valid(
    certificate: AppCertificate, algorithm: str, signed: bytes, signature: bytes
) -> bool:
    key = certificate.certificate.public_key()
    if not isinstance(key, rsa.RSAPublicKey):
        return False
    scheme: padding.AsymmetricPadding = (
        padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO)
        if algorithm == "PS256"
        else padding.PKCS1v15()
    )
    try:
        key.verify(signature, signed, scheme, hashes.SHA256())
    except InvalidSignature:
        return False
    return True


def _check_claims(
    claims: dict[str, Any],
    app: App,
    token_endpoints: Collection[str],
    now: datetime,
) -> None:
    """Check ``aud``, ``iss``, ``sub``, ``exp``, ``nbf`` and ``jti``."""
    audience = claims.get("aud")
    wanted = {endpoint.casefold() for endpoint in token_endpoints}
    if not isinstance(audience, str) or audience.casefold() not in wanted:
        raise _refuse(
            f"The audience claim of the client assertion ({audience!r}) must be the "
            f"token endpoint ({sorted(token_endpoints)[0]})."
        )
    for name in ("iss", "sub"):
        if str(claims.get(name, "")).casefold() != app.client_id.casefold():
            raise _refuse(
                f"The '{name}' claim of the client assertion must be the client id "
                f"'{app.client_id}'."
            )
    timestamp = now.timestamp()
    expires = claims.get("exp")
    if not isinstance(expires, int | float) or isinstance(expires, bool):
        raise _refuse("The client assertion has no 'exp' claim.")
    if expires <= timestamp:
        raise _refuse(
            "Client assertion is not within its valid time range. Current time: "
            f"{now.isoformat()}, expiry time of assertion {int(expires)}."
        )
    not_before = claims.get("nbf")
    if isinstance(not_before, int | float) and not_before > timestamp:
        raise _refuse(
            "Client assertion is not within its valid time range (its 'nbf' is in "
            "the future)."
        )
    if not str(claims.get("jti") or ""):
        raise _refuse("The client assertion has no 'jti' claim.")
