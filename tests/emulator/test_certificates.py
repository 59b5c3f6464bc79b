"""Certificate credentials at the token endpoint, and the app registration in Graph."""

from __future__ import annotations

import asyncio
import base64
from datetime import timedelta
import hashlib
import json
from pathlib import Path
import time
from typing import Any
import uuid

import aiohttp
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
import jwt
import msal
import pytest

from emulator import Emulator, make_self_signed_certificate
from emulator.common import utc_now
from emulator.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
    Directory,
)

from .helpers import TOKEN_PATH, bearer, claims, error_of, token_form

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
APP_BY_ID = f"/v1.0/applications(appId='{DEFAULT_CLIENT_ID}')"


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def assertion(
    emulator: Emulator,
    private_key: str,
    certificate_pem: str,
    *,
    algorithm: str = "PS256",
    thumbprint: str = "x5t#S256",
    **overrides: Any,
) -> str:
    """Return a client assertion like MSAL's (or changed by ``overrides``)."""
    der = x509.load_pem_x509_certificate(certificate_pem.encode()).public_bytes(
        serialization.Encoding.DER
    )
    digest = hashlib.sha256(der) if thumbprint == "x5t#S256" else hashlib.sha1(der)  # noqa: S324
    now = int(time.time())
    payload: dict[str, Any] = {
        "aud": f"{emulator.url}{TOKEN_PATH}",
        "iss": DEFAULT_CLIENT_ID,
        "sub": DEFAULT_CLIENT_ID,
        "exp": now + 600,
        "iat": now,
        "jti": str(uuid.uuid4()),
        **overrides,
    }
    payload = {key: value for key, value in payload.items() if value is not None}
    headers = {thumbprint: b64url(digest.digest())}
    return jwt.encode(payload, private_key, algorithm=algorithm, headers=headers)


def assertion_form(emulator: Emulator, signed: str) -> dict[str, str]:
    return token_form(
        emulator,
        client_secret=None,
        client_assertion_type=ASSERTION_TYPE,
        client_assertion=signed,
    )


@pytest.fixture
def cert(emulator: Emulator) -> Any:
    """A self-signed certificate uploaded to the default app."""
    made = make_self_signed_certificate("ha-o365")
    emulator.add_certificate(made.certificate_pem)
    return made


@pytest.mark.usefixtures("msal_trusts_verify")
@pytest.mark.parametrize("authority", [DEFAULT_TENANT_ID, "contoso.onmicrosoft.com"])
async def test_msal_signs_in_with_a_certificate(
    emulator: Emulator, cert: Any, authority: str
) -> None:
    def acquire() -> dict[str, Any]:
        app = msal.ConfidentialClientApplication(
            DEFAULT_CLIENT_ID,
            client_credential={
                "private_key": cert.private_key_pem,
                "public_certificate": cert.certificate_pem,
            },
            authority=f"{emulator.url}/{authority}",
            instance_discovery=False,
            verify=str(emulator.ca_path),
        )
        try:
            return dict(app.acquire_token_for_client([f"{emulator.url}/.default"]))
        finally:
            app.http_client.close()

    result = await asyncio.to_thread(acquire)
    assert "access_token" in result, result
    assert claims(result["access_token"])["roles"] == ["Mail.Send", "Mail.ReadWrite"]


@pytest.mark.parametrize(
    ("algorithm", "thumbprint"), [("PS256", "x5t#S256"), ("RS256", "x5t")]
)
async def test_assertion_forms(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    cert: Any,
    algorithm: str,
    thumbprint: str,
) -> None:
    signed = assertion(
        emulator,
        cert.private_key_pem,
        cert.certificate_pem,
        algorithm=algorithm,
        thumbprint=thumbprint,
    )
    async with session.post(
        TOKEN_PATH, data=assertion_form(emulator, signed)
    ) as response:
        assert response.status == 200, await response.text()
    # The same assertion may be sent again (MSAL reuses one for minutes).
    async with session.post(
        TOKEN_PATH, data=assertion_form(emulator, signed)
    ) as response:
        assert response.status == 200


@pytest.mark.parametrize(
    ("case", "fragment"),
    [
        ("unknown", "The key was not found"),
        ("other_key", "did not match the expected signature value"),
        ("expired", "The key used is expired"),
        ("aud", "audience"),
        ("iss", "'iss' claim"),
        ("sub", "'sub' claim"),
        ("exp", "not within its valid time range"),
        ("no_jti", "'jti'"),
        ("hs256", "algorithm"),
    ],
)
async def test_assertion_refusals(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    cert: Any,
    case: str,
    fragment: str,
) -> None:
    other = make_self_signed_certificate("not uploaded")
    key, pem = cert.private_key_pem, cert.certificate_pem
    overrides: dict[str, Any] = {}
    if case == "unknown":
        key, pem = other.private_key_pem, other.certificate_pem
    elif case == "other_key":
        key = other.private_key_pem
    elif case == "expired":
        emulator.set_credential_expiry(utc_now() - timedelta(days=1))
    elif case == "aud":
        overrides["aud"] = f"{emulator.url}/common/oauth2/v2.0/token"
    elif case in {"iss", "sub"}:
        overrides[case] = "someone-else"
    elif case == "exp":
        overrides["exp"] = int(time.time()) - 5
    elif case == "no_jti":
        overrides["jti"] = None
    if case == "hs256":
        signed = jwt.encode({"iss": "x"}, "k" * 32, algorithm="HS256")
    else:
        signed = assertion(emulator, key, pem, **overrides)
    async with session.post(
        TOKEN_PATH, data=assertion_form(emulator, signed)
    ) as response:
        body = await response.json()
        assert response.status == 401
    assert (body["error"], body["error_codes"]) == ("invalid_client", [700027])
    assert fragment in body["error_description"]


async def test_assertion_with_the_wrong_type(
    session: aiohttp.ClientSession, emulator: Emulator, cert: Any
) -> None:
    signed = assertion(emulator, cert.private_key_pem, cert.certificate_pem)
    form = {**assertion_form(emulator, signed), "client_assertion_type": "saml"}
    async with session.post(TOKEN_PATH, data=form) as response:
        assert (await response.json())["error_codes"] == [700027]
    both = {**assertion_form(emulator, signed), "client_secret": DEFAULT_CLIENT_SECRET}
    async with session.post(TOKEN_PATH, data=both) as response:
        assert (await response.json())["error"] == "invalid_request"


def test_self_signed_certificate_helper() -> None:
    made = make_self_signed_certificate("x", days=10)
    certificate = x509.load_pem_x509_certificate(made.certificate_pem.encode())
    sha1 = certificate.fingerprint(hashes.SHA1())  # noqa: S303 - a thumbprint
    assert made.sha1_thumbprint == sha1.hex().upper()
    assert len(made.sha256_thumbprint) == 64
    assert "PRIVATE KEY" in made.private_key_pem
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime == timedelta(days=10)


# GET /applications ----------------------------------------------------------------


async def app_token(
    session: aiohttp.ClientSession, emulator: Emulator, *roles: str
) -> dict[str, str]:
    emulator.set_roles(["Mail.Send", *roles])
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        return bearer((await response.json())["access_token"])


async def test_application_needs_application_read_all(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    auth = await app_token(session, emulator)
    async with session.get(APP_BY_ID, headers=auth) as response:
        assert (await error_of(response))[:2] == (403, "Authorization_RequestDenied")
    auth = await app_token(session, emulator, "Application.ReadWrite.All")
    async with session.get(APP_BY_ID, headers=auth) as response:
        assert response.status == 200


async def test_application_credentials(
    session: aiohttp.ClientSession, emulator: Emulator, cert: Any
) -> None:
    ends = (utc_now() + timedelta(days=20)).replace(microsecond=0)
    app = emulator.directory.app()
    emulator.set_credential_expiry(ends, key_id=app.secrets[0].key_id)
    auth = await app_token(session, emulator, "Application.Read.All")
    select = "id,appId,displayName,passwordCredentials,keyCredentials"
    async with session.get(
        APP_BY_ID, params={"$select": select}, headers=auth
    ) as response:
        assert response.status == 200, await response.text()
        body = await response.json()
    assert body["@odata.context"].endswith(f"#applications({select})/$entity")
    assert set(body) == {"@odata.context", *select.split(",")}
    assert (body["id"], body["appId"]) == (app.application_object_id, DEFAULT_CLIENT_ID)
    [secret] = body["passwordCredentials"]
    assert secret["hint"] == DEFAULT_CLIENT_SECRET[:3]
    assert secret["secretText"] is None
    assert secret["keyId"] == app.secrets[0].key_id
    assert secret["endDateTime"] == ends.isoformat().replace("+00:00", "Z")
    assert secret["startDateTime"]
    assert secret["displayName"] == "emulator"
    [key] = body["keyCredentials"]
    certificate = x509.load_pem_x509_certificate(cert.certificate_pem.encode())
    assert base64.b64decode(key["customKeyIdentifier"]).hex().upper() == (
        cert.sha1_thumbprint
    )
    assert (key["type"], key["usage"]) == ("AsymmetricX509Cert", "Verify")
    assert key["displayName"] == "CN=ha-o365"
    assert key["endDateTime"].startswith(
        certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M")
    )
    assert base64.b64decode(key["key"]) == certificate.public_bytes(
        serialization.Encoding.DER
    )
    # By object id, without $select: every property, no key bytes.
    async with session.get(
        f"/v1.0/applications/{app.application_object_id}", headers=auth
    ) as response:
        full = await response.json()
    assert full["keyCredentials"][0]["key"] is None
    assert (full["signInAudience"], full["isFallbackPublicClient"]) == (
        "AzureADMyOrg",
        False,
    )


async def test_application_errors(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    auth = await app_token(session, emulator, "Application.Read.All")
    async with session.get(
        APP_BY_ID, params={"$select": "id,secrets"}, headers=auth
    ) as response:
        status, code, text = await error_of(response)
    assert (status, code) == (400, "BadRequest")
    assert "secrets" in text
    for path in (
        "/v1.0/applications(appId='00000000-0000-0000-0000-000000000000')",
        f"/v1.0/applications/{uuid.uuid4()}",
    ):
        async with session.get(path, headers=auth) as response:
            assert (await error_of(response))[:2] == (404, "Request_ResourceNotFound")


async def test_expiring_a_certificate(emulator: Emulator, cert: Any) -> None:
    [registered] = emulator.directory.app().certificates
    soon = utc_now() + timedelta(days=3)
    emulator.set_credential_expiry(soon, key_id=registered.key_id)
    assert registered.expires_at == soon
    with pytest.raises(KeyError):
        emulator.set_credential_expiry(soon, key_id="nope")
    with pytest.raises(ValueError, match="certificate"):
        emulator.set_credential_expiry(None, key_id=registered.key_id)


async def test_directory_file_with_credentials(tmp_path: Path) -> None:
    made = make_self_signed_certificate("from-file")
    data = {
        "apps": [
            {
                "client_id": "abc",
                "display_name": "From file",
                "secrets": [
                    {
                        "value": "s3cret",
                        "display_name": "ha",
                        "key_id": "11111111-1111-4111-8111-111111111111",
                        "starts": "2026-01-01T00:00:00+00:00",
                        "expires": "2027-01-01T00:00:00+00:00",
                    }
                ],
                "certificates": [
                    {"pem": made.certificate_pem, "expires": "2026-12-01T00:00:00Z"}
                ],
                "public_client": True,
                "sign_in_audience": "AzureADandPersonalMicrosoftAccount",
                "delegated_permissions": ["Mail.Send"],
            }
        ],
        "mailboxes": [
            {"address": "me@outlook.com", "personal": True},
            {"address": "work@contoso.com"},
        ],
    }
    path = tmp_path / "directory.json"
    path.write_text(json.dumps(data))
    directory = Directory.load(path)
    [app] = directory.apps
    [secret] = app.secrets
    assert (secret.display_name, secret.key_id, secret.hint) == (
        "ha",
        "11111111-1111-4111-8111-111111111111",
        "s3c",
    )
    assert secret.starts_at is not None
    assert secret.starts_at.year == 2026
    [certificate] = app.certificates
    assert certificate.expires_at.isoformat() == "2026-12-01T00:00:00+00:00"
    assert (app.public_client, app.sign_in_audience) == (
        True,
        "AzureADandPersonalMicrosoftAccount",
    )
    personal, work = directory.mailboxes
    assert (personal.personal, personal.mail, len(personal.object_id)) == (
        True,
        None,
        16,
    )
    assert (work.personal, work.mail) == (False, "work@contoso.com")
    with pytest.raises(ValueError, match="sign_in_audience"):
        Directory.from_json({"apps": [{"client_id": "x", "sign_in_audience": "All"}]})
