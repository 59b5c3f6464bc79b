"""Helpers shared by the emulator tests: tokens, messages, drafts, uploads, sign-in."""

from __future__ import annotations

import base64
import json
from typing import Any

import aiohttp
from yarl import URL

from emulator import Emulator
from emulator.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_TENANT_ID,
)

TOKEN_PATH = f"/{DEFAULT_TENANT_ID}/oauth2/v2.0/token"
ALERTS = "/v1.0/users/alerts@contoso.com"
ME = "/v1.0/me"
MIB = 1024 * 1024
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg=="
)


def token_form(emulator: Emulator, **overrides: str | None) -> dict[str, str]:
    """Return a client-credentials token request for the default app."""
    form: dict[str, str | None] = {
        "client_id": DEFAULT_CLIENT_ID,
        "client_secret": DEFAULT_CLIENT_SECRET,
        "grant_type": "client_credentials",
        "scope": f"{emulator.url}/.default",
        **overrides,
    }
    return {key: value for key, value in form.items() if value is not None}


async def get_token(session: aiohttp.ClientSession, emulator: Emulator) -> str:
    """Return an app-only access token of the default app."""
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        assert response.status == 200, await response.text()
        return str((await response.json())["access_token"])


def claims(token: str) -> dict[str, Any]:
    """Return the payload of a JWT (no signature check)."""
    payload = token.split(".")[1]
    return dict(
        json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    )


def message(**overrides: Any) -> dict[str, Any]:
    """Return a small message body."""
    return {
        "subject": "Motion in the garden",
        "body": {"contentType": "text", "content": "Someone is there."},
        "toRecipients": [{"emailAddress": {"address": "owner@example.com"}}],
        **overrides,
    }


def file_attachment(name: str, data: bytes, **extra: Any) -> dict[str, Any]:
    """Return a fileAttachment with ``data`` as base64."""
    return {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": name,
        "contentBytes": base64.b64encode(data).decode(),
        **extra,
    }


def bearer(token: str) -> dict[str, str]:
    """Return an Authorization header."""
    return {"Authorization": f"Bearer {token}"}


async def error_of(response: aiohttp.ClientResponse) -> tuple[int, str, str]:
    """Return the status, Graph error code and message of an error answer."""
    body = await response.json()
    return response.status, body["error"]["code"], body["error"]["message"]


async def send(
    session: aiohttp.ClientSession,
    auth: dict[str, str],
    body: Any,
    path: str = f"{ALERTS}/sendMail",
) -> aiohttp.ClientResponse:
    """POST a sendMail body and read the answer."""
    async with session.post(path, json=body, headers=auth) as response:
        await response.read()
        return response


async def create_draft(
    session: aiohttp.ClientSession,
    auth: dict[str, str],
    *,
    root: str = ALERTS,
    **fields: Any,
) -> str:
    """Create a draft; return its id."""
    async with session.post(
        f"{root}/messages", json=message(**fields), headers=auth
    ) as response:
        assert response.status == 201, await response.text()
        draft = await response.json()
    assert draft["isDraft"] is True
    return str(draft["id"])


async def open_upload(
    session: aiohttp.ClientSession,
    auth: dict[str, str],
    draft_id: str,
    size: int,
    *,
    root: str = ALERTS,
) -> dict[str, Any]:
    """Open an upload session for a ``size``-byte attachment of a draft."""
    item = {
        "AttachmentItem": {
            "attachmentType": "file",
            "name": "clip.mp4",
            "size": size,
            "contentType": "video/mp4",
        }
    }
    path = f"{root}/messages/{draft_id}/attachments/createUploadSession"
    async with session.post(path, json=item, headers=auth) as response:
        assert response.status == 201, await response.text()
        return dict(await response.json())


async def put_chunk(
    session: aiohttp.ClientSession,
    upload_url: URL,
    data: bytes,
    content_range: str,
    **headers: str,
) -> tuple[int, Any]:
    """PUT one chunk to an upload URL; return the status and the JSON body."""
    headers = {
        "Content-Range": content_range,
        "Content-Type": "application/octet-stream",
        **headers,
    }
    async with session.put(upload_url, data=data, headers=headers) as response:
        raw = await response.read()
        return response.status, json.loads(raw) if raw else None


# Delegated sign-in over plain HTTP ----------------------------------------------


async def start_device_flow(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    *,
    authority: str = "consumers",
    client_id: str = DEFAULT_PUBLIC_CLIENT_ID,
    scope: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """POST to ``/devicecode``; return the status and the answer."""
    scope = scope or (
        f"{emulator.url}/Mail.Send {emulator.url}/User.Read openid profile "
        "offline_access"
    )
    async with session.post(
        f"/{authority}/oauth2/v2.0/devicecode",
        data={"client_id": client_id, "scope": scope},
    ) as response:
        return response.status, dict(await response.json())


async def poll(
    session: aiohttp.ClientSession,
    device_code: str,
    *,
    authority: str = "consumers",
    client_id: str = DEFAULT_PUBLIC_CLIENT_ID,
    **extra: str,
) -> tuple[int, dict[str, Any]]:
    """Poll the token endpoint once for a device code."""
    form = {
        "grant_type": DEVICE_CODE_GRANT,
        "client_id": client_id,
        "device_code": device_code,
        "client_info": "1",
        **extra,
    }
    async with session.post(f"/{authority}/oauth2/v2.0/token", data=form) as response:
        return response.status, dict(await response.json())


async def refresh(
    session: aiohttp.ClientSession,
    refresh_token: str,
    *,
    authority: str = "consumers",
    client_id: str = DEFAULT_PUBLIC_CLIENT_ID,
    **extra: str,
) -> tuple[int, dict[str, Any]]:
    """Redeem a refresh token once."""
    form = {
        "grant_type": "refresh_token",
        "client_id": client_id,
        "refresh_token": refresh_token,
        "client_info": "1",
        **extra,
    }
    async with session.post(f"/{authority}/oauth2/v2.0/token", data=form) as response:
        return response.status, dict(await response.json())


async def sign_in(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    user: str = "casey@outlook.com",
    *,
    authority: str = "consumers",
    client_id: str = DEFAULT_PUBLIC_CLIENT_ID,
    scope: str | None = None,
) -> dict[str, Any]:
    """Run a whole device code sign-in; return the token response."""
    status, flow = await start_device_flow(
        session, emulator, authority=authority, client_id=client_id, scope=scope
    )
    assert status == 200, flow
    emulator.complete_device_login(flow["user_code"], user)
    status, tokens = await poll(
        session, flow["device_code"], authority=authority, client_id=client_id
    )
    assert status == 200, tokens
    return tokens
