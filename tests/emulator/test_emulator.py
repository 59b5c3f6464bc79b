"""Tests of the Graph emulator over real sockets and TLS."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from email.utils import parsedate_to_datetime
import hashlib
import json
import os
from pathlib import Path
import signal
import sys
import time
from typing import Any
from urllib.parse import quote

import aiohttp
import msal
import pytest
from yarl import URL

from emulator import Emulator, Fault, client_ssl_context
from emulator.common import utc_now
from emulator.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_TENANT_ID,
    Directory,
)

from .helpers import (
    ALERTS,
    MIB,
    PNG,
    TOKEN_PATH,
    claims,
    create_draft,
    error_of,
    file_attachment,
    get_token,
    message,
    open_upload,
    put_chunk,
    send,
    token_form,
)

# Sign-in ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "tenant", [DEFAULT_TENANT_ID, "contoso.com", "CONTOSO.onmicrosoft.com"]
)
async def test_openid_configuration(
    session: aiohttp.ClientSession, emulator: Emulator, tenant: str
) -> None:
    async with session.get(
        f"/{tenant}/v2.0/.well-known/openid-configuration"
    ) as response:
        assert response.status == 200
        config = await response.json()
    root = f"{emulator.url}/{DEFAULT_TENANT_ID}"
    assert config["token_endpoint"] == f"{root}/oauth2/v2.0/token"
    assert config["issuer"] == f"{root}/v2.0"
    assert config["authorization_endpoint"] == f"{root}/oauth2/v2.0/authorize"
    async with session.get(URL(config["jwks_uri"]).relative()) as response:
        assert response.status == 200


async def test_openid_unknown_tenant(session: aiohttp.ClientSession) -> None:
    async with session.get(
        "/fabrikam.com/v2.0/.well-known/openid-configuration"
    ) as response:
        assert response.status == 400
        body = await response.json()
    assert body["error"] == "invalid_tenant"
    assert body["error_codes"] == [90002]
    assert body["error_description"].startswith(
        "AADSTS90002: Tenant 'fabrikam.com' not found."
    )
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()


async def test_token_success(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        assert response.status == 200
        body = await response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == body["ext_expires_in"] == 3599
    payload = claims(body["access_token"])
    assert payload["aud"] == emulator.url
    assert payload["tid"] == DEFAULT_TENANT_ID
    assert payload["appid"] == DEFAULT_CLIENT_ID
    assert payload["roles"] == ["Mail.Send", "Mail.ReadWrite"]
    assert payload["exp"] - payload["iat"] == 3599
    assert payload["nbf"] <= time.time() < payload["exp"]
    assert payload["oid"]
    assert emulator.stats["tokens_issued"] == 1


@pytest.mark.parametrize(
    ("path", "overrides", "status", "error", "code"),
    [
        ("/fabrikam.com/oauth2/v2.0/token", {}, 400, "invalid_tenant", 90002),
        (
            TOKEN_PATH,
            {"client_id": "11111111-2222-3333-4444-555555555555"},
            400,
            "unauthorized_client",
            700016,
        ),
        (TOKEN_PATH, {"client_secret": "wrong"}, 401, "invalid_client", 7000215),
        (TOKEN_PATH, {"client_secret": None}, 401, "invalid_client", 7000218),
        (TOKEN_PATH, {"scope": "Mail.Send"}, 400, "invalid_scope", 1002012),
        (
            TOKEN_PATH,
            {"scope": "https://graph.microsoft.us/.default"},  # another cloud's
            400,
            "invalid_resource",
            500011,
        ),
        (TOKEN_PATH, {"grant_type": "password"}, 400, "unsupported_grant_type", 70003),
        (TOKEN_PATH, {"client_id": None}, 400, "invalid_request", 900144),
    ],
)
async def test_token_errors(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    path: str,
    overrides: dict[str, str | None],
    status: int,
    error: str,
    code: int,
) -> None:
    async with session.post(path, data=token_form(emulator, **overrides)) as response:
        assert response.status == status
        body = await response.json()
    assert body["error"] == error
    assert body["error_codes"] == [code]
    assert body["error_description"].startswith(f"AADSTS{code}:")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()


async def test_token_expired_secret(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    emulator.expire_secret()
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        assert response.status == 401
        assert (await response.json())["error_codes"] == [7000222]


async def test_token_secret_before_its_start_is_refused(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    (secret,) = emulator.directory.app(None).secrets
    secret.starts_at = utc_now() + timedelta(hours=1)
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        assert response.status == 401
        assert (await response.json())["error_codes"] == [7000215]


async def test_token_secret_is_decoded_once(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    form = token_form(emulator)
    encoded = {key: quote(value, safe="") for key, value in form.items()}
    twice = {**encoded, "client_secret": quote(encoded["client_secret"], safe="")}
    headers = {"Content-Type": "application/x-www-form-urlencoded"}
    statuses = []
    for fields in (encoded, twice):
        raw = "&".join(f"{key}={value}" for key, value in fields.items())
        async with session.post(TOKEN_PATH, data=raw, headers=headers) as response:
            statuses.append(response.status)
    assert statuses == [200, 401]


@pytest.mark.usefixtures("msal_trusts_verify")
@pytest.mark.parametrize("tenant", [DEFAULT_TENANT_ID, "contoso.com"])
async def test_msal_acquires_token(emulator: Emulator, tenant: str) -> None:
    def acquire() -> dict[str, Any]:
        app = msal.ConfidentialClientApplication(
            DEFAULT_CLIENT_ID,
            client_credential=DEFAULT_CLIENT_SECRET,
            authority=f"{emulator.url}/{tenant}",
            instance_discovery=False,
            verify=str(emulator.ca_path),
        )
        try:
            return dict(
                app.acquire_token_for_client(scopes=[f"{emulator.url}/.default"])
            )
        finally:
            app.http_client.close()  # before the server closes its side

    result = await asyncio.to_thread(acquire)
    assert "access_token" in result, result
    assert claims(result["access_token"])["roles"] == ["Mail.Send", "Mail.ReadWrite"]


@pytest.mark.usefixtures("msal_trusts_verify")
async def test_msal_errors(emulator: Emulator) -> None:
    def build(tenant: str, secret: str) -> msal.ConfidentialClientApplication:
        return msal.ConfidentialClientApplication(
            DEFAULT_CLIENT_ID,
            client_credential=secret,
            authority=f"{emulator.url}/{tenant}",
            instance_discovery=False,
            verify=str(emulator.ca_path),
        )

    with pytest.raises(ValueError, match="Unable to get authority configuration"):
        await asyncio.to_thread(build, "fabrikam.com", DEFAULT_CLIENT_SECRET)
    app = await asyncio.to_thread(build, DEFAULT_TENANT_ID, "secret-id-not-value")
    result = await asyncio.to_thread(
        app.acquire_token_for_client, scopes=[f"{emulator.url}/.default"]
    )
    app.http_client.close()
    assert result["error"] == "invalid_client"
    assert result["error_codes"] == [7000215]


# sendMail --------------------------------------------------------------------


async def test_send_mail_is_stored(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    body = {
        "Message": message(
            body={"contentType": "HTML", "content": '<p>Look <img src="cid:snap"></p>'},
            ccRecipients=[{"emailAddress": {"address": "cc@example.com", "name": "C"}}],
            bccRecipients=[{"emailAddress": {"address": "bcc@example.com"}}],
            replyTo=[{"emailAddress": {"address": "reply@example.com"}}],
            importance="High",
            attachments=[
                file_attachment(
                    "snap.png",
                    PNG,
                    contentType="image/png",
                    isInline=True,
                    contentId="snap",
                ),
                file_attachment("log.txt", b"line\n"),
            ],
        ),
        "SaveToSentItems": False,
    }
    headers = {**auth, "client-request-id": "c0ffee"}
    async with session.post(
        f"{ALERTS}/sendMail", json=body, headers=headers
    ) as response:
        assert response.status == 202
        assert await response.read() == b""
        assert response.headers["request-id"]
        assert response.headers["client-request-id"] == "c0ffee"

    async with session.get("/_emulator/messages") as response:
        [received] = await response.json()
    assert received["mailbox"] == "alerts@contoso.com"
    assert received["subject"] == "Motion in the garden"
    assert received["body"] == {
        "contentType": "html",
        "content": '<p>Look <img src="cid:snap"></p>',
    }
    assert received["ccRecipients"] == [
        {"emailAddress": {"address": "cc@example.com", "name": "C"}}
    ]
    assert received["bccRecipients"][0]["emailAddress"]["address"] == "bcc@example.com"
    assert received["replyTo"][0]["emailAddress"]["address"] == "reply@example.com"
    assert received["importance"] == "high"
    assert received["saveToSentItems"] is False
    assert received["via"] == "sendMail"
    snap, log = received["attachments"]
    assert snap == {
        "index": 0,
        "name": "snap.png",
        "contentType": "image/png",
        "size": len(PNG),
        "isInline": True,
        "contentId": "snap",
        "sha256": hashlib.sha256(PNG).hexdigest(),
    }
    assert log["isInline"] is False
    async with session.get(
        f"/_emulator/messages/{received['id']}/attachments/0"
    ) as response:
        assert response.status == 200
        assert response.content_type == "image/png"
        assert await response.read() == PNG
    assert emulator.attachment_bytes(received["id"], 1) == b"line\n"
    assert emulator.messages[0].subject == "Motion in the garden"


@pytest.mark.parametrize(("flag", "stored"), [("false", False), ("True", True)])
async def test_send_mail_accepts_boolean_strings(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    flag: str,
    stored: bool,
) -> None:
    """Graph reads "true"/"false" strings as booleans (Apprise sends them so)."""
    body = {"message": message(), "saveToSentItems": flag}
    async with session.post(f"{ALERTS}/sendMail", json=body, headers=auth) as response:
        assert response.status == 202
    async with session.get("/_emulator/messages") as response:
        [received] = await response.json()
    assert received["saveToSentItems"] is stored


@pytest.mark.parametrize(
    "user",
    [
        "o%27brien%2Balerts%40contoso.com",
        "3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60",
        "ALERTS%40Contoso.com",
    ],
)
async def test_send_mail_user_forms(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str], user: str
) -> None:
    url = URL(f"/v1.0/users/{user}/sendMail", encoded=True)
    async with session.post(url, json={"message": message()}, headers=auth) as response:
        assert response.status == 202, await response.text()


async def test_send_mail_double_encoded_user_is_unknown(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    url = URL("/v1.0/users/alerts%2540contoso.com/sendMail", encoded=True)
    async with session.post(url, json={"message": message()}, headers=auth) as response:
        assert await error_of(response) == (
            404,
            "ErrorInvalidUser",
            "The requested user 'alerts%40contoso.com' is invalid.",
        )


@pytest.mark.parametrize(
    ("body", "status", "code", "fragment"),
    [
        ({"message": message(subject=5)}, 400, "RequestBodyRead", "Message.subject"),
        (
            {"message": message(subjekt="x")},
            400,
            "RequestBodyRead",
            "'subjekt' does not exist",
        ),
        ({"message": message(), "foo": 1}, 400, "RequestBodyRead", "parameter 'foo'"),
        ({"saveToSentItems": True}, 400, "RequestBodyRead", "'Message' is a required"),
        (
            {"message": message(importance="urgent")},
            400,
            "RequestBodyRead",
            "Message.importance",
        ),
        (
            {"message": message(attachments=[{"name": "a", "contentBytes": "AA=="}])},
            400,
            "RequestBodyRead",
            "abstract",
        ),
        (
            {
                "message": message(
                    attachments=[file_attachment("a", b"x") | {"contentBytes": "a-b_"}]
                )
            },
            400,
            "RequestBodyRead",
            "Edm.Binary",
        ),
        (
            {"message": message(toRecipients=[])},
            400,
            "ErrorInvalidRecipients",
            "no recipients",
        ),
        (
            {
                "message": message(
                    toRecipients=[{"emailAddress": {"address": "Bob <bob@x.com>"}}]
                )
            },
            400,
            "ErrorInvalidRecipients",
            "Bob <bob@x.com>",
        ),
        (
            {
                "message": message(
                    **{"from": {"emailAddress": {"address": "ceo@contoso.com"}}}
                )
            },
            403,
            "ErrorSendAsDenied",
            "send mail on behalf",
        ),
    ],
)
async def test_send_mail_rejections(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    body: dict[str, Any],
    status: int,
    code: str,
    fragment: str,
) -> None:
    async with session.post(f"{ALERTS}/sendMail", json=body, headers=auth) as response:
        got_status, got_code, text = await error_of(response)
    assert (got_status, got_code) == (status, code)
    assert fragment in text
    assert emulator.messages == []


async def test_send_mail_invalid_json(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    async with session.post(f"{ALERTS}/sendMail", data=b"{", headers=auth) as response:
        assert (await error_of(response))[:2] == (400, "BadRequest")


async def test_send_mail_over_4_mb(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    # 3 MiB of attachment is 4 MiB of base64: Graph's request limit comes first.
    body = {
        "message": message(attachments=[file_attachment("big.bin", b"\0" * 3 * MIB)])
    }
    async with session.post(f"{ALERTS}/sendMail", json=body, headers=auth) as response:
        assert await error_of(response) == (
            413,
            "RequestEntityTooLarge",
            "The maximum request length supported is 4MB.",
        )
    just_under = {
        "message": message(
            attachments=[file_attachment("ok.bin", b"\0" * (3 * MIB - 2048))]
        )
    }
    async with session.post(
        f"{ALERTS}/sendMail", json=just_under, headers=auth
    ) as response:
        assert response.status == 202


@pytest.mark.parametrize(
    ("user", "status", "code"),
    [
        ("nobody@contoso.com", 404, "ErrorInvalidUser"),
        ("nolicense@contoso.com", 404, "MailboxNotEnabledForRESTAPI"),
    ],
)
async def test_send_mail_mailbox_errors(
    session: aiohttp.ClientSession,
    auth: dict[str, str],
    user: str,
    status: int,
    code: str,
) -> None:
    async with session.post(
        f"/v1.0/users/{user}/sendMail", json={"message": message()}, headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (status, code)


async def test_graph_authentication(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    token = await get_token(session, emulator)
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    emulator.token_lifetime = 0
    expired = await get_token(session, emulator)
    cases = {
        None: "Access token is empty.",
        "Basic abc": "Bearer <token>",
        "Bearer not-a-jwt": "not well formed",
        f"Bearer {forged}": "Invalid signature",
        f"Bearer {expired}": "expired",
    }
    for header, fragment in cases.items():
        headers = {"Authorization": header} if header else {}
        async with session.post(
            f"{ALERTS}/sendMail", json={"message": message()}, headers=headers
        ) as response:
            status, code, text = await error_of(response)
            assert (status, code) == (401, "InvalidAuthenticationToken")
            assert fragment in text
            assert "Bearer" in response.headers["WWW-Authenticate"]
            assert response.headers["request-id"]


async def test_graph_roles(session: aiohttp.ClientSession, emulator: Emulator) -> None:
    emulator.set_roles(["Mail.ReadWrite"])
    auth = {"Authorization": f"Bearer {await get_token(session, emulator)}"}
    async with session.post(
        f"{ALERTS}/sendMail", json={"message": message()}, headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (403, "ErrorAccessDenied")
    async with session.get(ALERTS, headers=auth) as response:
        assert (await error_of(response))[:2] == (403, "Authorization_RequestDenied")
    emulator.set_roles(["Mail.Send", "User.Read.All"])
    auth = {"Authorization": f"Bearer {await get_token(session, emulator)}"}
    async with session.post(
        f"{ALERTS}/messages", json=message(), headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (403, "ErrorAccessDenied")
    async with session.get(
        ALERTS, params={"$select": "id,mail"}, headers=auth
    ) as response:
        assert response.status == 200
        user = await response.json()
    assert user["id"] == "3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60"
    assert user["mail"] == "alerts@contoso.com"
    assert "displayName" not in user
    async with session.get(ALERTS, headers=auth) as response:
        assert (await response.json())["displayName"] == "Home Alerts"
    async with session.get("/v1.0/users/nobody@contoso.com", headers=auth) as response:
        assert (await error_of(response))[:2] == (404, "Request_ResourceNotFound")


async def test_unsupported_graph_paths(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    async with session.post("/v1.0/me/sendMail", json={}, headers=auth) as response:
        status, code, text = await error_of(response)
    assert (status, code) == (400, "BadRequest")
    assert "delegated" in text
    async with session.get(f"{ALERTS}/sendMail", headers=auth) as response:
        assert (await error_of(response))[:2] == (400, "BadRequest")


# Drafts and upload sessions ---------------------------------------------------


async def test_draft_upload_and_send(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    draft_id = await create_draft(session, auth)
    path = f"{ALERTS}/messages/{draft_id}"
    small = file_attachment("note.txt", b"hello", contentType="text/plain")
    async with session.post(
        f"{path}/attachments", json=small, headers=auth
    ) as response:
        assert response.status == 201
        assert (await response.json())["size"] == 5

    data = os.urandom(5 * MIB + 123)
    size = len(data)
    upload = await open_upload(session, auth, draft_id, size)
    assert upload["nextExpectedRanges"] == ["0-"]
    assert upload["uploadUrl"].startswith(f"{emulator.url}/upload/")
    url = URL(upload["uploadUrl"]).relative()
    half = 3 * MIB

    status, body = await put_chunk(
        session,
        url,
        data[:half],
        f"bytes 0-{half - 1}/{size}",
        Authorization=auth["Authorization"],
    )
    assert status == 401
    assert "without an Authorization header" in body["error"]["message"]
    status, body = await put_chunk(session, url, data[:half], f"bytes 1-{half}/{size}")
    assert status == 416
    assert "nextExpectedRanges" not in body  # Outlook documents none on errors
    status, body = await put_chunk(session, url, data[:half], f"bytes 0-{half}/{size}")
    assert (status, body["error"]["code"]) == (400, "ErrorInvalidContentRange")
    assert "nextExpectedRanges" not in body
    status, body = await put_chunk(
        session, url, data[:half], f"bytes 0-{half - 1}/{size + 1}"
    )
    assert status == 400
    status, body = await put_chunk(session, url, data[:half], "0-100")
    assert status == 400

    status, body = await put_chunk(
        session, url, data[:half], f"bytes 0-{half - 1}/{size}"
    )
    assert (status, body["nextExpectedRanges"]) == (200, [f"{half}"])
    assert body["expirationDateTime"] == body["ExpirationDateTime"]

    async with session.post(f"{path}/send", headers=auth) as response:
        status, code, text = await error_of(response)
    assert (status, code) == (400, "ErrorInvalidRequest")
    assert "not complete" in text

    async with session.get(url) as response:  # Outlook documents no GET
        assert (await error_of(response))[:2] == (405, "ErrorInvalidRequest")
        assert response.headers["Allow"] == "PUT, DELETE"
    emulator.allow_upload_status = True
    async with session.get(url) as response:
        assert (await response.json())["nextExpectedRanges"] == [f"{half}"]
    emulator.allow_upload_status = False
    status, body = await put_chunk(
        session, url, data[half:], f"bytes {half}-{size - 1}/{size}"
    )
    assert (status, body) == (201, None)
    status, body = await put_chunk(
        session, url, data[half:], f"bytes {half}-{size - 1}/{size}"
    )
    assert status == 404

    async with session.post(f"{path}/send", headers=auth) as response:
        assert response.status == 202
    [received] = emulator.messages
    assert received.via == "draft"
    assert received.save_to_sent_items is True
    note, clip = received.attachments
    assert (note.name, clip.name, clip.content_type, clip.size) == (
        "note.txt",
        "clip.mp4",
        "video/mp4",
        size,
    )
    assert clip.sha256 == hashlib.sha256(data).hexdigest()
    assert emulator.attachment_bytes(received.id, 1) == data
    async with session.delete(path, headers=auth) as response:
        assert response.status == 404
    uploads = [r for r in emulator.stats["requests"] if r["operation"] == "uploadChunk"]
    assert uploads[0]["authorization"] is True
    assert uploads[-1]["content_range"] == f"bytes {half}-{size - 1}/{size}"


async def test_upload_chunk_limits(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    draft_id = await create_draft(session, auth)
    size = 6 * MIB
    upload = await open_upload(session, auth, draft_id, size)
    url = URL(upload["uploadUrl"]).relative()
    chunk = b"\0" * (4 * MIB + 1)
    status, body = await put_chunk(
        session, url, chunk, f"bytes 0-{len(chunk) - 1}/{size}"
    )
    assert (status, body["error"]["code"]) == (413, "RequestEntityTooLarge")
    assert "nextExpectedRanges" not in body
    status, _ = await put_chunk(
        session, url.update_query(authtoken="forged"), b"\0", f"bytes 0-0/{size}"
    )
    assert status == 401
    async with session.delete(url) as response:
        assert response.status == 204
    async with session.delete(url) as response:
        assert response.status == 404
    async with session.post(
        f"{ALERTS}/messages/{draft_id}/send", headers=auth
    ) as response:
        assert response.status == 202  # the cancelled upload no longer blocks it


@pytest.mark.parametrize(
    ("size", "code"),
    [
        (2 * MIB - 1, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize"),
        (150 * MIB + 1, "ErrorMessageSizeExceeded"),
    ],
)
async def test_upload_session_size_limits(
    session: aiohttp.ClientSession, auth: dict[str, str], size: int, code: str
) -> None:
    draft_id = await create_draft(session, auth)
    item = {"attachmentItem": {"attachmentType": "file", "name": "x.bin", "size": size}}
    path = f"{ALERTS}/messages/{draft_id}/attachments/createUploadSession"
    async with session.post(path, json=item, headers=auth) as response:
        assert (await error_of(response))[:2] == (400, code)


async def test_draft_errors_and_delete(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    async with session.post(
        f"{ALERTS}/messages", json={"subject": 1}, headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (400, "RequestBodyRead")
    draft_id = await create_draft(session, auth, toRecipients=[])
    async with session.post(
        f"{ALERTS}/messages/{draft_id}/send", headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (400, "ErrorInvalidRecipients")
    async with session.post(
        f"/v1.0/users/ops@contoso.com/messages/{draft_id}/send", headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (404, "ErrorItemNotFound")
    async with session.delete(
        f"{ALERTS}/messages/{draft_id}", headers=auth
    ) as response:
        assert response.status == 204
    async with session.delete(
        f"{ALERTS}/messages/{draft_id}", headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (404, "ErrorItemNotFound")
    assert emulator.messages == []


async def test_message_size_limit(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.directory.tenant.max_message_size = 1000
    body = {"message": message(attachments=[file_attachment("a.bin", b"\0" * 1000)])}
    async with session.post(f"{ALERTS}/sendMail", json=body, headers=auth) as response:
        assert (await error_of(response))[:2] == (400, "ErrorMessageSizeExceeded")


# Faults ----------------------------------------------------------------------


def test_fault_spec_parsing() -> None:
    fault = Fault.parse("429:count=3,retry_after=2,match=sendMail")
    assert (fault.kind, fault.count, fault.retry_after, fault.match) == (
        "429",
        3,
        2,
        "sendMail",
    )
    assert Fault.parse("504:after_accept").after_accept is True
    assert Fault.parse("expired_secret:count=-1").match == "token"
    assert Fault.parse("latency:delay_ms=10").match == "graph"
    for bad in (
        "500",
        "429:delay_ms=3",
        "429:count=0",
        "expired_secret:match=sendMail",
        "429:match=nothing",
        "429:count=x",
    ):
        with pytest.raises(ValueError):  # noqa: PT011
            Fault.parse(bad)


async def test_fault_control_endpoints(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    spec = [{"kind": "429", "count": 2, "retry_after": 1, "match": "sendMail"}]
    async with session.post("/_emulator/faults", json=spec) as response:
        assert response.status == 201
    async with session.post("/_emulator/faults", json={"kind": "nope"}) as response:
        assert response.status == 400
    async with session.get("/_emulator/faults") as response:
        [active] = await response.json()
    assert (active["kind"], active["count"]) == ("429", 2)
    statuses = []
    for _ in range(3):
        async with session.post(
            f"{ALERTS}/sendMail", json={"message": message()}, headers=auth
        ) as response:
            statuses.append(response.status)
            if response.status == 429:
                assert response.headers["Retry-After"] == "1"
                assert (await response.json())["error"][
                    "code"
                ] == "ApplicationThrottled"
    assert statuses == [429, 429, 202]
    async with session.get("/_emulator/faults") as response:
        assert await response.json() == []
    async with session.post(
        "/_emulator/faults", json={"kind": "503", "count": -1}
    ) as response:
        assert response.status == 201
    async with session.delete("/_emulator/faults") as response:
        assert response.status == 204
    assert (await send(session, auth, {"message": message()})).status == 202


async def test_fault_retry_after_date_and_503(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.add_fault("429", retry_after=30, retry_after_date=True)
    emulator.add_fault("503:retry_after=5")
    response = await send(session, auth, {"message": message()})
    assert response.status == 429
    delay = (
        parsedate_to_datetime(response.headers["Retry-After"]).timestamp() - time.time()
    )
    assert 25 < delay <= 31
    response = await send(session, auth, {"message": message()})
    assert (response.status, response.headers["Retry-After"]) == (503, "5")
    assert emulator.messages == []


@pytest.mark.parametrize("after_accept", [False, True])
async def test_fault_504(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    after_accept: bool,
) -> None:
    emulator.add_fault("504", after_accept=after_accept, match="sendMail")
    async with session.post(
        f"{ALERTS}/sendMail", json={"message": message()}, headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (504, "GatewayTimeout")
    assert len(emulator.messages) == int(after_accept)


@pytest.mark.parametrize("after_accept", [False, True])
async def test_fault_drop(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    after_accept: bool,
) -> None:
    emulator.add_fault("drop", after_accept=after_accept)
    with pytest.raises(aiohttp.ClientError):
        await send(session, auth, {"message": message()})
    assert len(emulator.messages) == int(after_accept)
    assert emulator.stats["requests"][-1]["status"] == 0
    assert (await send(session, auth, {"message": message()})).status == 202


async def test_fault_latency(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.add_fault("latency", delay_ms=300, match="sendMail")
    started = time.monotonic()
    assert (await send(session, auth, {"message": message()})).status == 202
    assert time.monotonic() - started >= 0.3
    assert emulator.stats["requests"][-1]["faults"] == ["latency"]


async def test_concurrency_limit(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.add_fault("latency", delay_ms=300, count=-1)
    responses = await asyncio.gather(
        *(send(session, auth, {"message": message()}) for _ in range(5))
    )
    assert sorted(r.status for r in responses) == [202, 202, 202, 202, 429]
    assert emulator.stats["max_in_flight"] == 4


@pytest.mark.parametrize(
    ("kind", "status", "error", "code"),
    [
        ("expired_secret", 401, "invalid_client", 7000222),
        ("wrong_secret", 401, "invalid_client", 7000215),
        ("token_down", 503, "temporarily_unavailable", 90033),
        ("429", 429, "temporarily_unavailable", 90033),
    ],
)
async def test_token_faults(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    kind: str,
    status: int,
    error: str,
    code: int,
) -> None:
    emulator.add_fault(kind, match="token")
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        assert response.status == status
        body = await response.json()
    assert (body["error"], body["error_codes"]) == (error, [code])
    await get_token(session, emulator)  # the fault is used up


async def test_fault_missing_role_and_openid(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    emulator.add_fault("missing_role")
    token = await get_token(session, emulator)
    assert claims(token)["roles"] == ["Mail.ReadWrite"]
    response = await send(
        session, {"Authorization": f"Bearer {token}"}, {"message": message()}
    )
    assert response.status == 403
    assert claims(await get_token(session, emulator))["roles"] == [
        "Mail.Send",
        "Mail.ReadWrite",
    ]
    emulator.add_fault("503", match="openid")
    async with session.get(
        f"/{DEFAULT_TENANT_ID}/v2.0/.well-known/openid-configuration"
    ) as response:
        assert response.status == 503


# Observation, inbox, life cycle -------------------------------------------------


async def test_stats_and_reset(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    await send(session, auth, {"message": message()})
    emulator.add_fault("503")
    async with session.get("/_emulator/stats") as response:
        stats = await response.json()
    assert stats["operations"] == {"token": 1, "sendMail": 1}
    assert stats["tokens_issued"] == 1
    last = stats["requests"][-1]
    assert (
        last["method"],
        last["operation"],
        last["status"],
        last["authorization"],
    ) == (
        "POST",
        "sendMail",
        202,
        True,
    )
    async with session.post("/_emulator/reset") as response:
        assert response.status == 204
    assert (emulator.messages, emulator.faults) == ([], [])
    assert emulator.stats["operations"] == {}
    await send(session, auth, {"message": message()})
    async with session.delete("/_emulator/messages") as response:
        assert response.status == 204
    async with session.get("/_emulator/messages") as response:
        assert await response.json() == []


@pytest.mark.parametrize("path", ["/inbox", "/"])
async def test_inbox_page(session: aiohttp.ClientSession, path: str) -> None:
    async with session.get(path) as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    for marker in (
        'id="messages"',
        "/_emulator/messages",
        '"message"',
        '"subject"',
        '"attachment"',
        "cid:",
        "srcdoc",
        "signedInUser",
        "appId",
    ):
        assert marker in page
    assert "http://" not in page
    assert "https://" not in page


async def test_directory_file_and_certificate_reuse(tmp_path: Path) -> None:
    directory_file = tmp_path / "directory.json"
    directory_file.write_text(
        json.dumps(
            {
                "apps": [
                    {"client_id": "abc", "secret": "s3cret", "roles": ["Mail.Send"]}
                ],
                "mailboxes": [{"address": "home@contoso.com", "display_name": "Home"}],
            }
        )
    )
    directory = Directory.load(directory_file)
    assert directory.tenant.tenant_id == DEFAULT_TENANT_ID
    async with Emulator(tmp_path / "state", directory) as first:
        ca = first.ca_path.read_bytes()
        connector = aiohttp.TCPConnector(ssl=first.ssl_context())
        async with aiohttp.ClientSession(
            base_url=first.url, connector=connector
        ) as client:
            form = token_form(first, client_id="abc", client_secret="s3cret")
            async with client.post(TOKEN_PATH, data=form) as response:
                token = (await response.json())["access_token"]
            response = await send(
                client,
                {"Authorization": f"Bearer {token}"},
                {"message": message()},
                "/v1.0/users/home@contoso.com/sendMail",
            )
            assert response.status == 202
    async with Emulator(tmp_path / "state") as second:
        assert second.ca_path.read_bytes() == ca


async def test_command_line(tmp_path: Path) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "emulator",
        "--port",
        "0",
        "--state-dir",
        str(tmp_path / "state"),
        "--fault",
        "429:count=3,retry_after=2,match=sendMail",
        "--fault",
        "503:match=sendMail,mailbox=ops@contoso.com",
        "--allow-upload-status",
        "--min-upload-size",
        "3145728",
        "--concurrency-key",
        "app_mailbox",
        "--upload-budget-bytes",
        "1000000",
        "--upload-window-seconds",
        "60",
        "--device-code-lifetime",
        "30",
        "--device-code-interval",
        "1",
        "--refresh-token-lifetime",
        "100",
        "--no-dynamic-consent",
        "--unlisted-scope-error",
        "invalid_scope",
        "--device-decline-error",
        "access_denied",
        "--daily-recipient-limit-work",
        "20",
        "--daily-recipient-limit-personal",
        "10",
        "--max-recipients-per-message",
        "5",
        cwd=Path(__file__).parents[2],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert process.stdout is not None
    try:
        lines = [
            (await asyncio.wait_for(process.stdout.readline(), 20)).decode().strip()
            for _ in range(3)
        ]
        values = dict(line.split("=", 1) for line in lines)
        assert list(values) == ["O365_EMULATOR_URL", "O365_EMULATOR_CA", "INBOX"]
        url = values["O365_EMULATOR_URL"]
        assert not url.endswith(":0")
        assert values["INBOX"] == f"{url}/inbox"
        assert Path(values["O365_EMULATOR_CA"]).is_absolute()
        context = client_ssl_context(Path(values["O365_EMULATOR_CA"]))
        connector = aiohttp.TCPConnector(ssl=context)
        async with aiohttp.ClientSession(base_url=url, connector=connector) as client:
            async with client.get("/_emulator/faults") as response:
                [fault, targeted] = await response.json()
            assert (fault["kind"], fault["count"], fault["match"]) == (
                "429",
                3,
                "sendMail",
            )
            assert targeted["mailbox"] == "ops@contoso.com"
            async with client.get("/_emulator/settings") as response:
                settings = await response.json()
            assert settings == {
                "token_lifetime": 3599,
                "max_concurrency": 4,
                "concurrency_key": "app_mailbox",
                "min_upload_size": 3_145_728,
                "upload_budget_bytes": 1_000_000,
                "upload_window_seconds": 60,
                "allow_upload_status": True,
                "device_code_lifetime": 30,
                "device_code_interval": 1,
                "refresh_token_lifetime": 100,
                "dynamic_consent": False,
                "unlisted_scope_error": "invalid_scope",
                "device_decline_error": "access_denied",
                "daily_recipient_limit_work": 20,
                "daily_recipient_limit_personal": 10,
                "max_recipients_per_message": 5,
            }
            async with client.patch(
                "/_emulator/settings", json={"min_upload_size": 2097152}
            ) as response:
                assert (await response.json())["min_upload_size"] == 2_097_152
            async with client.patch(
                "/_emulator/settings", json={"device_code_interval": 0}
            ) as response:
                assert response.status == 400
            async with client.patch(
                "/_emulator/settings", json={"nope": 1}
            ) as response:
                assert response.status == 400
            async with client.patch(
                "/_emulator/settings", json={"device_decline_error": "nope"}
            ) as response:
                assert response.status == 400
        # The refresh-token command asks the running emulator for a token.
        env = {**os.environ, "O365_EMULATOR_URL": url}
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "emulator",
            "refresh-token",
            "casey@outlook.com",
            "--ca",
            values["O365_EMULATOR_CA"],
            "--apprise",
            cwd=Path(__file__).parents[2],
            env=env,
            stdout=asyncio.subprocess.PIPE,
        )
        printed, _ = await asyncio.wait_for(command.communicate(), 30)
        assert command.returncode == 0
        apprise_url = printed.decode().strip()
        assert apprise_url.startswith(
            f"o365://casey@outlook.com/{DEFAULT_PUBLIC_CLIENT_ID}/1.AXo"
        )
        command = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "emulator",
            "refresh-token",
            "nobody@outlook.com",
            "--ca",
            values["O365_EMULATOR_CA"],
            cwd=Path(__file__).parents[2],
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        printed, errors = await asyncio.wait_for(command.communicate(), 30)
        assert (command.returncode, printed) == (1, b"")
        assert b"404" in errors
    finally:
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 10) == 0
