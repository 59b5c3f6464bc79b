"""Delegated sign-in: device codes, refresh tokens, /me, and real MSAL."""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
import threading
from typing import Any

import aiohttp
import msal
import pytest
from yarl import URL

from emulator import App, Emulator, FlowStatus, SignInAudience
from emulator.directory import (
    CONSUMER_TENANT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_TENANT_ID,
)

from .helpers import (
    ALERTS,
    ME,
    MIB,
    bearer,
    claims,
    create_draft,
    error_of,
    message,
    open_upload,
    poll,
    put_chunk,
    refresh,
    send,
    sign_in,
    start_device_flow,
)

CASEY_OID = "00000000-0000-0000-1d0f-ddbd1dab94fe"
ALERTS_OID = "3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60"


def add_app(emulator: Emulator, client_id: str, audience: str, **options: Any) -> str:
    """Register a public client app with the given supported account types."""
    emulator.directory.apps.append(
        App(
            client_id,
            [],
            [],
            display_name=f"app {audience}",
            public_client=options.pop("public_client", True),
            sign_in_audience=SignInAudience(audience),
            delegated_permissions=options.pop(
                "permissions", ["Mail.Send", "User.Read", "offline_access"]
            ),
            **options,
        )
    )
    return client_id


def oauth_error(body: dict[str, Any]) -> tuple[str, list[int]]:
    return body["error"], body["error_codes"]


# Discovery and the device authorization endpoint ---------------------------------


@pytest.mark.parametrize(
    ("authority", "issuer_tenant"),
    [
        ("consumers", CONSUMER_TENANT_ID),
        (CONSUMER_TENANT_ID, CONSUMER_TENANT_ID),
        ("organizations", "{tenantid}"),
        ("common", "{tenantid}"),
        ("contoso.com", DEFAULT_TENANT_ID),
    ],
)
async def test_openid_configuration_of_authorities(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    authority: str,
    issuer_tenant: str,
) -> None:
    async with session.get(
        f"/{authority}/v2.0/.well-known/openid-configuration"
    ) as response:
        assert response.status == 200
        config = await response.json()
    name = DEFAULT_TENANT_ID if authority == "contoso.com" else authority
    root = f"{emulator.url}/{name}"
    assert config["issuer"] == f"{emulator.url}/{issuer_tenant}/v2.0"
    assert config["token_endpoint"] == f"{root}/oauth2/v2.0/token"
    assert config["device_authorization_endpoint"] == f"{root}/oauth2/v2.0/devicecode"


async def test_device_code_answer(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    status, flow = await start_device_flow(session, emulator)
    assert status == 200
    assert set(flow) == {
        "user_code",
        "device_code",
        "verification_uri",
        "expires_in",
        "interval",
        "message",
    }
    assert len(flow["user_code"]) == 9
    assert flow["user_code"].isalnum()
    assert flow["user_code"] == flow["user_code"].upper()
    assert flow["verification_uri"] == f"{emulator.url}/devicelogin"
    assert (flow["expires_in"], flow["interval"]) == (900, 5)
    assert flow["user_code"] in flow["message"]
    assert flow["verification_uri"] in flow["message"]
    emulator.device_code_lifetime = 60
    emulator.device_code_interval = 1
    _, flow = await start_device_flow(session, emulator)
    assert (flow["expires_in"], flow["interval"]) == (60, 1)


async def test_polling_errors(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    _, flow = await start_device_flow(session, emulator)
    status, body = await poll(session, flow["device_code"])
    assert (status, *oauth_error(body)) == (400, "authorization_pending", [70016])
    assert body["error_description"].startswith("AADSTS70016:")
    assert {"timestamp", "trace_id", "correlation_id"} <= body.keys()
    # Polled again at once: slow down, and the interval grows by 5 s.
    status, body = await poll(session, flow["device_code"])
    assert (status, body["error"], body["error_codes"]) == (400, "slow_down", [])
    assert "10 seconds" in body["error_description"]
    status, body = await poll(session, "no-such-code")
    assert oauth_error(body) == ("bad_verification_code", [70018])
    emulator.device_code_lifetime = 0
    _, expired = await start_device_flow(session, emulator)
    _, body = await poll(session, expired["device_code"])
    assert oauth_error(body) == ("expired_token", [70019])


async def test_declined(session: aiohttp.ClientSession, emulator: Emulator) -> None:
    _, flow = await start_device_flow(session, emulator)
    result = emulator.complete_device_login(
        flow["user_code"], "casey@outlook.com", accept=False
    )
    assert (result.flow.status, result.error) == (FlowStatus.DECLINED, None)
    _, body = await poll(session, flow["device_code"])
    assert oauth_error(body) == ("authorization_declined", [65004])


async def test_successful_sign_in_of_a_personal_account(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(session, emulator)
    assert tokens["token_type"] == "Bearer"
    assert tokens["expires_in"] == 3599
    assert tokens["scope"] == (
        f"{emulator.url}/Mail.Send {emulator.url}/User.Read offline_access openid "
        "profile"
    )
    access = claims(tokens["access_token"])
    assert access["scp"] == "Mail.Send User.Read"
    assert "roles" not in access
    assert (access["tid"], access["oid"], access["idtyp"]) == (
        CONSUMER_TENANT_ID,
        CASEY_OID,
        "user",
    )
    assert access["appid"] == DEFAULT_PUBLIC_CLIENT_ID
    assert access["preferred_username"] == "casey@outlook.com"
    assert access["aud"] == emulator.url
    identity = claims(tokens["id_token"])
    assert identity["aud"] == DEFAULT_PUBLIC_CLIENT_ID
    assert identity["iss"] == f"{emulator.url}/{CONSUMER_TENANT_ID}/v2.0"
    assert (identity["tid"], identity["oid"]) == (CONSUMER_TENANT_ID, CASEY_OID)
    assert identity["preferred_username"] == "casey@outlook.com"
    assert identity["name"] == "Casey"
    info = tokens["client_info"]
    assert json.loads(base64.urlsafe_b64decode(info + "=" * (-len(info) % 4))) == {
        "uid": CASEY_OID,
        "utid": CONSUMER_TENANT_ID,
    }
    assert tokens["refresh_token"]
    stats = emulator.stats
    assert stats["token_grants"] == {"urn:ietf:params:oauth:grant-type:device_code": 1}
    assert stats["refresh_tokens_issued"] == 1
    assert stats["tokens_issued"] == 1
    assert stats["operations"]["deviceCode"] == 1


async def test_work_account_and_bare_scopes(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(
        session,
        emulator,
        "alerts@contoso.com",
        authority="organizations",
        scope="Mail.Send User.Read",
    )
    assert tokens["scope"] == "Mail.Send User.Read"
    assert "refresh_token" not in tokens  # no offline_access
    assert "id_token" not in tokens  # no openid
    access = claims(tokens["access_token"])
    assert (access["tid"], access["oid"], access["upn"]) == (
        DEFAULT_TENANT_ID,
        ALERTS_OID,
        "alerts@contoso.com",
    )


@pytest.mark.parametrize(
    ("scope", "error", "code"),
    [
        ("https://api.example.invalid/Mail.Send", "invalid_resource", 500011),
        (
            "{url}/Mail.Send https://outlook.office.com/Mail.Send",
            "invalid_scope",
            700022,
        ),
        ("{url}/.default {url}/Mail.Send", "invalid_scope", 70011),
    ],
)
async def test_device_code_scope_errors(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    scope: str,
    error: str,
    code: int,
) -> None:
    status, body = await start_device_flow(
        session, emulator, scope=scope.format(url=emulator.url)
    )
    assert (status, *oauth_error(body)) == (400, error, [code])


async def test_default_scope_means_the_registered_permissions(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(
        session, emulator, scope=f"{emulator.url}/.default offline_access"
    )
    assert claims(tokens["access_token"])["scp"] == "Mail.Send User.Read Mail.ReadWrite"
    assert tokens["scope"].startswith(f"{emulator.url}/Mail.Send ")


# Wrong app set-ups ---------------------------------------------------------------


async def test_public_client_flows_off(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    _, flow = await start_device_flow(
        session, emulator, authority=DEFAULT_TENANT_ID, client_id=DEFAULT_CLIENT_ID
    )
    status, body = await poll(
        session,
        flow["device_code"],
        authority=DEFAULT_TENANT_ID,
        client_id=DEFAULT_CLIENT_ID,
    )
    assert (status, *oauth_error(body)) == (401, "invalid_client", [7000218])


async def test_unknown_app(session: aiohttp.ClientSession, emulator: Emulator) -> None:
    status, body = await start_device_flow(
        session, emulator, client_id="11111111-2222-3333-4444-555555555555"
    )
    assert (status, *oauth_error(body)) == (400, "unauthorized_client", [700016])


@pytest.mark.parametrize(
    ("audience", "authority", "code"),
    [
        ("AzureADMyOrg", "consumers", 9002332),
        ("AzureADMultipleOrgs", "consumers", 9002332),
        ("AzureADMyOrg", "common", 50194),
        ("AzureADMyOrg", "organizations", 50194),
        ("PersonalMicrosoftAccount", "common", 9002331),
        ("PersonalMicrosoftAccount", DEFAULT_TENANT_ID, 9002331),
    ],
)
async def test_app_audience_and_authority(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    audience: str,
    authority: str,
    code: int,
) -> None:
    client_id = add_app(emulator, "aaaaaaaa-0000-4000-8000-000000000001", audience)
    status, body = await start_device_flow(
        session, emulator, authority=authority, client_id=client_id
    )
    assert (status, *oauth_error(body)) == (400, "invalid_request", [code])
    assert client_id in body["error_description"]


@pytest.mark.parametrize(
    ("audience", "authority", "user", "error", "code"),
    [
        ("AzureADMultipleOrgs", "common", "casey@outlook.com", "invalid_grant", 50020),
        (
            "AzureADandPersonalMicrosoftAccount",
            DEFAULT_TENANT_ID,
            "casey@outlook.com",
            "invalid_grant",
            50020,
        ),
        (
            "AzureADandPersonalMicrosoftAccount",
            "consumers",
            "alerts@contoso.com",
            "invalid_grant",
            50034,
        ),
        (
            "PersonalMicrosoftAccount",
            "consumers",
            "alerts@contoso.com",
            "invalid_grant",
            50034,
        ),
    ],
)
async def test_user_not_admitted(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    audience: str,
    authority: str,
    user: str,
    error: str,
    code: int,
) -> None:
    client_id = add_app(emulator, "aaaaaaaa-0000-4000-8000-000000000002", audience)
    _, flow = await start_device_flow(
        session, emulator, authority=authority, client_id=client_id
    )
    result = emulator.complete_device_login(flow["user_code"], user)
    assert result.error is not None
    assert result.error.aadsts == code
    _, body = await poll(
        session, flow["device_code"], authority=authority, client_id=client_id
    )
    assert oauth_error(body) == (error, [code])


async def test_conditional_access_blocks(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    emulator.directory.user("jamie@hotmail.com").conditional_access_blocked = True
    _, flow = await start_device_flow(session, emulator)
    emulator.complete_device_login(flow["user_code"], "jamie@hotmail.com")
    _, body = await poll(session, flow["device_code"])
    assert oauth_error(body) == ("invalid_grant", [53003])


@pytest.mark.parametrize("dynamic", [True, False])
async def test_scope_not_in_the_registration(
    session: aiohttp.ClientSession, emulator: Emulator, dynamic: bool
) -> None:
    """Microsoft documents dynamic consent; the strict setting refuses instead."""
    emulator.dynamic_consent = dynamic
    emulator.directory.app(DEFAULT_PUBLIC_CLIENT_ID).delegated_permissions = [
        "Mail.Send",
        "User.Read",
        "offline_access",
    ]
    scope = f"{emulator.url}/Mail.ReadWrite offline_access"
    _, flow = await start_device_flow(session, emulator, scope=scope)
    emulator.complete_device_login(flow["user_code"], "casey@outlook.com")
    status, body = await poll(session, flow["device_code"])
    if dynamic:
        assert status == 200
        assert claims(body["access_token"])["scp"] == "Mail.ReadWrite"
    else:
        assert (status, *oauth_error(body)) == (400, "invalid_client", [650057])


# Refresh tokens ------------------------------------------------------------------


async def test_refresh_rotates(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    first = await sign_in(session, emulator)
    status, second = await refresh(session, first["refresh_token"])
    assert status == 200, second
    assert second["refresh_token"] != first["refresh_token"]
    assert claims(second["access_token"])["scp"] == "Mail.Send User.Read"
    assert second["scope"] == first["scope"]
    status, body = await refresh(session, first["refresh_token"])
    assert (status, *oauth_error(body)) == (400, "invalid_grant", [70000])
    status, third = await refresh(
        session, second["refresh_token"], scope=f"{emulator.url}/Mail.Send"
    )
    assert status == 200
    assert claims(third["access_token"])["scp"] == "Mail.Send"
    assert "refresh_token" not in third  # offline_access not asked for this time
    status, body = await refresh(
        session, first["refresh_token"], client_id=DEFAULT_CLIENT_ID
    )
    assert body["error"] in {"invalid_client", "invalid_grant"}
    stats = emulator.stats
    assert stats["refresh_tokens_issued"] == 2
    assert stats["token_grants"]["refresh_token"] == 2


async def test_refresh_needs_consent_for_new_scopes(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(session, emulator)
    status, body = await refresh(
        session, tokens["refresh_token"], scope=f"{emulator.url}/Mail.ReadWrite"
    )
    assert (status, *oauth_error(body)) == (400, "invalid_grant", [65001])


@pytest.mark.parametrize(
    ("action", "code"),
    [
        ("password_changed", 50173),
        ("consent_revoked", 65001),
        ("expire", 70008),
        ("inactive", 70008),
    ],
)
async def test_refresh_token_end(
    session: aiohttp.ClientSession, emulator: Emulator, action: str, code: int
) -> None:
    tokens = await sign_in(session, emulator)
    if action == "expire":
        assert emulator.expire_refresh_tokens("casey@outlook.com") == 1
    elif action == "inactive":
        emulator.refresh_token_lifetime = 0
    else:
        assert emulator.revoke_refresh_tokens("casey@outlook.com", action) == 1
    status, body = await refresh(session, tokens["refresh_token"])
    assert (status, *oauth_error(body)) == (400, "invalid_grant", [code])


async def test_refresh_token_control_endpoints(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(session, emulator)
    async with session.post(
        "/_emulator/refresh_tokens/revoke",
        json={"user": "casey@outlook.com", "reason": "password_changed"},
    ) as response:
        assert (response.status, await response.json()) == (200, {"revoked": 1})
    _, body = await refresh(session, tokens["refresh_token"])
    assert body["error_codes"] == [50173]
    tokens = await sign_in(session, emulator)
    async with session.post(
        "/_emulator/refresh_tokens/expire", json={"user": "casey@outlook.com"}
    ) as response:
        assert (await response.json()) == {"expired": 1}
    _, body = await refresh(session, tokens["refresh_token"])
    assert body["error_codes"] == [70008]
    async with session.post(
        "/_emulator/refresh_tokens/revoke", json={"user": "nobody@example.com"}
    ) as response:
        assert response.status == 404
    async with session.post(
        "/_emulator/refresh_tokens/revoke",
        json={"user": "casey@outlook.com", "reason": "bored"},
    ) as response:
        assert response.status == 400


# Graph under /me -----------------------------------------------------------------


async def test_me_of_a_personal_account(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    auth = bearer((await sign_in(session, emulator))["access_token"])
    async with session.get(
        ME, params={"$select": "mail,userPrincipalName"}, headers=auth
    ) as response:
        assert response.status == 200
        me = await response.json()
    assert me["mail"] is None
    assert me["userPrincipalName"] == "casey@outlook.com"
    assert me["id"] == "1d0fddbd1dab94fe"
    assert me["displayName"] == "Casey"  # $select is ignored for personal accounts
    async with session.get("/v1.0/users/casey@outlook.com", headers=auth) as response:
        assert (await response.json())["id"] == "1d0fddbd1dab94fe"
    async with session.get(ALERTS, headers=auth) as response:
        assert (await error_of(response))[:2] == (403, "Authorization_RequestDenied")


async def test_me_of_a_work_account(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(session, emulator, "alerts@contoso.com", authority="common")
    auth = bearer(tokens["access_token"])
    async with session.get(ME, params={"$select": "mail,id"}, headers=auth) as response:
        me = await response.json()
    assert (me["mail"], me["id"]) == ("alerts@contoso.com", ALERTS_OID)
    assert "displayName" not in me
    async with session.get(
        ME, params={"$select": "mailNickname,proxyAddresses"}, headers=auth
    ) as response:
        me = await response.json()
    assert me["proxyAddresses"] == ["SMTP:alerts@contoso.com"]
    async with session.get(ME, params={"$select": "id,mial"}, headers=auth) as response:
        status, code, text = await error_of(response)
    assert (status, code) == (400, "BadRequest")
    assert "'mial'" in text


async def test_me_needs_user_read(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(session, emulator, scope=f"{emulator.url}/Mail.Send")
    async with session.get(ME, headers=bearer(tokens["access_token"])) as response:
        assert (await error_of(response))[:2] == (403, "Authorization_RequestDenied")


async def test_me_with_an_app_only_token(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    for method, path in (
        ("GET", ME),
        ("POST", f"{ME}/sendMail"),
        ("POST", f"{ME}/messages"),
    ):
        async with session.request(method, path, json={}, headers=auth) as response:
            status, code, text = await error_of(response)
        assert (status, code) == (400, "BadRequest")
        assert text == "/me request is only valid with delegated authentication flow."


async def test_send_mail_as_the_signed_in_user(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    auth = bearer((await sign_in(session, emulator))["access_token"])
    sender = {"emailAddress": {"address": "casey@outlook.com"}}
    assert (
        await send(
            session, auth, {"message": message(**{"from": sender})}, f"{ME}/sendMail"
        )
    ).status == 202
    [received] = emulator.messages
    assert received.mailbox.address == "casey@outlook.com"
    assert (received.signed_in, received.client_id) == (True, DEFAULT_PUBLIC_CLIENT_ID)
    async with session.get("/_emulator/messages") as response:
        [listed] = await response.json()
    assert listed["from"]["emailAddress"]["address"] == "casey@outlook.com"
    assert (listed["auth"], listed["signedInUser"]) == (
        "delegated",
        "casey@outlook.com",
    )
    assert listed["appId"] == DEFAULT_PUBLIC_CLIENT_ID
    # Its own address under /users works like /me; anyone else is refused.
    own = "/v1.0/users/casey@outlook.com/sendMail"
    assert (await send(session, auth, {"message": message()}, own)).status == 202
    other = await send(session, auth, {"message": message()}, f"{ALERTS}/sendMail")
    assert other.status == 403
    someone = {"emailAddress": {"address": "jamie@hotmail.com"}}
    refused = await send(
        session, auth, {"message": message(**{"from": someone})}, f"{ME}/sendMail"
    )
    assert refused.status == 403


async def test_delegated_scopes_are_checked(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(session, emulator, scope=f"{emulator.url}/User.Read")
    auth = bearer(tokens["access_token"])
    async with session.post(
        f"{ME}/sendMail", json={"message": message()}, headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (403, "ErrorAccessDenied")
    async with session.post(f"{ME}/messages", json=message(), headers=auth) as response:
        assert (await error_of(response))[:2] == (403, "ErrorAccessDenied")


async def test_draft_and_upload_under_me(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    scope = f"{emulator.url}/Mail.Send {emulator.url}/Mail.ReadWrite"
    auth = bearer((await sign_in(session, emulator, scope=scope))["access_token"])
    draft_id = await create_draft(session, auth, root=ME)
    size = 3 * MIB
    upload = await open_upload(session, auth, draft_id, size, root=ME)
    status, _ = await put_chunk(
        session,
        URL(upload["uploadUrl"]).relative(),
        b"\0" * size,
        f"bytes 0-{size - 1}/{size}",
    )
    assert status == 201
    async with session.post(f"{ME}/messages/{draft_id}/send", headers=auth) as response:
        assert response.status == 202
    [received] = emulator.messages
    assert (received.via, received.signed_in) == ("draft", True)
    assert received.mailbox.address == "casey@outlook.com"
    other = await create_draft(session, auth, root=ME)
    async with session.delete(f"{ME}/messages/{other}", headers=auth) as response:
        assert response.status == 204


# The device login page -----------------------------------------------------------


async def test_device_login_page(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    async with session.get("/devicelogin") as response:
        assert response.status == 200
        assert response.content_type == "text/html"
        page = await response.text()
    assert '<label for="code">Code</label>' in page
    assert '<button type="submit">Next</button>' in page
    assert "http://" not in page
    assert "https://" not in page
    assert "<script" not in page
    _, flow = await start_device_flow(session, emulator)
    async with session.post("/devicelogin", data={"code": "NOPE12345"}) as response:
        assert response.status == 400
        assert "Check the code and try again." in await response.text()
    code = flow["user_code"].lower()  # people type codes as they like
    async with session.post("/devicelogin", data={"code": code}) as response:
        page = await response.text()
    assert ">casey@outlook.com</button>" in page
    assert ">jamie@hotmail.com</button>" in page
    assert "alerts@contoso.com" not in page  # consumers: personal accounts only
    async with session.post(
        "/devicelogin", data={"code": code, "user": "casey@outlook.com"}
    ) as response:
        page = await response.text()
    assert "Home Assistant o365 (sign-in)" in page
    for text in (
        "Send mail as you",
        "Sign you in and read your profile",
        "Maintain access",
    ):
        assert text in page
    assert ">Accept</button>" in page
    assert ">Cancel</button>" in page
    async with session.post(
        "/devicelogin",
        data={"code": code, "user": "casey@outlook.com", "decision": "accept"},
    ) as response:
        page = await response.text()
    assert (
        "You have signed in to Home Assistant o365 (sign-in) on your device. You can "
        "close this window." in page
    )
    status, tokens = await poll(session, flow["device_code"])
    assert status == 200
    assert claims(tokens["access_token"])["oid"] == CASEY_OID
    async with session.post("/devicelogin", data={"code": code}) as response:
        assert "AADSTS90120" in await response.text()  # already used


async def test_device_login_page_cancel_and_errors(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    _, flow = await start_device_flow(session, emulator)
    form = {
        "code": flow["user_code"],
        "user": "jamie@hotmail.com",
        "decision": "cancel",
    }
    async with session.post("/devicelogin", data=form) as response:
        assert "Sign-in cancelled" in await response.text()
    _, body = await poll(session, flow["device_code"])
    assert body["error"] == "authorization_declined"
    client_id = add_app(
        emulator, "aaaaaaaa-0000-4000-8000-000000000003", "AzureADMultipleOrgs"
    )
    _, flow = await start_device_flow(
        session, emulator, authority="common", client_id=client_id
    )
    form = {"code": flow["user_code"], "user": "casey@outlook.com"}
    async with session.post("/devicelogin", data=form) as response:
        assert response.status == 400
        assert "AADSTS50020" in await response.text()


async def test_device_login_control_endpoint(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    _, flow = await start_device_flow(session, emulator)
    async with session.get("/_emulator/devicelogin") as response:
        [listed] = await response.json()
    assert (listed["user_code"], listed["status"]) == (flow["user_code"], "pending")
    async with session.post(
        "/_emulator/devicelogin",
        json={"user_code": flow["user_code"], "user": "jamie@hotmail.com"},
    ) as response:
        assert response.status == 200
        assert (await response.json())["status"] == "approved"
    status, tokens = await poll(session, flow["device_code"])
    assert status == 200
    assert claims(tokens["access_token"])["preferred_username"] == "jamie@hotmail.com"
    async with session.post(
        "/_emulator/devicelogin",
        json={"user_code": flow["user_code"], "user": "jamie@hotmail.com"},
    ) as response:
        assert response.status == 409
    async with session.post(
        "/_emulator/devicelogin", json={"user_code": "NOPE", "user": "x"}
    ) as response:
        assert response.status == 409


# Real MSAL -----------------------------------------------------------------------


@pytest.fixture
async def fast_polls(tmp_path: Path) -> Emulator:
    return Emulator(tmp_path / "fast", device_code_interval=1)


@pytest.mark.usefixtures("msal_trusts_verify")
@pytest.mark.parametrize(
    ("authority", "user", "tenant"),
    [
        ("consumers", "casey@outlook.com", CONSUMER_TENANT_ID),
        ("organizations", "ops@contoso.com", DEFAULT_TENANT_ID),
    ],
)
async def test_msal_device_flow_and_silent_refresh(
    fast_polls: Emulator, authority: str, user: str, tenant: str
) -> None:
    async with fast_polls as emulator:
        scopes = [f"{emulator.url}/Mail.Send", f"{emulator.url}/User.Read"]
        cache = msal.SerializableTokenCache()

        def build() -> msal.PublicClientApplication:
            return msal.PublicClientApplication(
                DEFAULT_PUBLIC_CLIENT_ID,
                authority=f"{emulator.url}/{authority}",
                instance_discovery=False,
                verify=str(emulator.ca_path),
                token_cache=cache,
            )

        def sign_in_with_msal() -> tuple[dict[str, Any], dict[str, Any]]:
            app = build()
            try:
                flow = app.initiate_device_flow(scopes)
                assert "user_code" in flow, flow
                # The person signs in while MSAL polls (after its first pending).
                timer = threading.Timer(
                    0.3, emulator.complete_device_login, (flow["user_code"], user)
                )
                timer.start()
                result = app.acquire_token_by_device_flow(flow)
                timer.join()
                return flow, dict(result)
            finally:
                app.http_client.close()

        flow, result = await asyncio.to_thread(sign_in_with_msal)
        assert "access_token" in result, result
        assert result["id_token_claims"]["tid"] == tenant
        assert cache.has_state_changed
        stored = cache.serialize()

        def silent(force_refresh: bool) -> tuple[list[dict[str, Any]], dict[str, Any]]:
            restored = msal.SerializableTokenCache()
            restored.deserialize(stored)
            app = msal.PublicClientApplication(
                DEFAULT_PUBLIC_CLIENT_ID,
                authority=f"{emulator.url}/{authority}",
                instance_discovery=False,
                verify=str(emulator.ca_path),
                token_cache=restored,
            )
            try:
                accounts = app.get_accounts()
                found = app.acquire_token_silent_with_error(
                    scopes, account=accounts[0], force_refresh=force_refresh
                )
                return accounts, dict(found or {})
            finally:
                app.http_client.close()

        accounts, cached = await asyncio.to_thread(silent, False)
        assert [a["username"] for a in accounts] == [user]
        assert cached["token_source"] == "cache"
        _, refreshed = await asyncio.to_thread(silent, True)
        assert refreshed["token_source"] == "identity_provider", refreshed
        # The cache above still holds the first refresh token: it was replaced.
        _, again = await asyncio.to_thread(silent, True)
        assert again.get("error") == "invalid_grant"
        assert again["error_codes"] == [70000]
        stats = emulator.stats
        assert stats["token_grants"] == {
            "urn:ietf:params:oauth:grant-type:device_code": 1,
            "refresh_token": 1,
        }
        assert len(flow["user_code"]) == 9


async def test_app_only_tokens_never_reach_personal_mailboxes(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    response = await send(
        session, auth, {"message": message()}, "/v1.0/users/casey@outlook.com/sendMail"
    )
    assert response.status == 404
    async with session.post(
        "/v1.0/users/casey@outlook.com/sendMail",
        json={"message": message()},
        headers=auth,
    ) as answer:
        assert (await error_of(answer))[:2] == (404, "ErrorInvalidUser")


async def test_personal_account_through_common(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(session, emulator, "jamie@hotmail.com", authority="common")
    auth = bearer(tokens["access_token"])
    qualified = f"{ME}/microsoft.graph.sendMail"
    assert (await send(session, auth, {"message": message()}, qualified)).status == 202
    assert claims(tokens["access_token"])["tid"] == CONSUMER_TENANT_ID
