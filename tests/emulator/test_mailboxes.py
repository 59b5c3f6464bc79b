"""Kinds of mailboxes: a Microsoft account with a Gmail address, shared mailboxes, sizes."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from emulator import Directory, Emulator
from emulator.directory import (
    NON_OUTLOOK_PERSONAL_ALIAS,
    NON_OUTLOOK_PERSONAL_UPN,
    SHARED_MAILBOX,
)

from .helpers import (
    ALERTS,
    ME,
    MIB,
    PNG,
    bearer,
    claims,
    create_draft,
    error_of,
    file_attachment,
    message,
    send,
    sign_in,
    start_device_flow,
)

SHARED = f"/v1.0/users/{SHARED_MAILBOX}"
SHARED_SCOPE = "Mail.Send Mail.Send.Shared User.Read"


def sender(address: str) -> dict[str, Any]:
    return {"emailAddress": {"address": address}}


async def listed(session: aiohttp.ClientSession) -> list[dict[str, Any]]:
    async with session.get("/_emulator/messages") as response:
        return list(await response.json())


# A Microsoft account whose sign-in name is not an Outlook.com address ----------------


async def test_personal_account_with_a_gmail_address(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    _, flow = await start_device_flow(session, emulator)
    async with session.post(
        "/devicelogin", data={"code": flow["user_code"]}
    ) as response:
        page = await response.text()
    assert f">{NON_OUTLOOK_PERSONAL_UPN}</button>" in page  # the sign-in name
    tokens = await sign_in(session, emulator, NON_OUTLOOK_PERSONAL_UPN)
    access = claims(tokens["access_token"])
    assert access["preferred_username"] == NON_OUTLOOK_PERSONAL_UPN
    assert claims(tokens["id_token"])["preferred_username"] == NON_OUTLOOK_PERSONAL_UPN
    auth = bearer(tokens["access_token"])
    async with session.get(ME, headers=auth) as response:
        me = await response.json()
    assert (me["mail"], me["userPrincipalName"]) == (None, NON_OUTLOOK_PERSONAL_UPN)
    assert (
        await send(session, auth, {"message": message()}, f"{ME}/sendMail")
    ).status == 202
    [received] = await listed(session)
    assert received["from"]["emailAddress"]["address"] == NON_OUTLOOK_PERSONAL_ALIAS
    assert received["signedInUser"] == NON_OUTLOOK_PERSONAL_ALIAS
    # The Gmail address is not a mailbox of the account: mail cannot come from it.
    refused = await send(
        session,
        auth,
        {"message": message(**{"from": sender(NON_OUTLOOK_PERSONAL_UPN)})},
        f"{ME}/sendMail",
    )
    assert refused.status == 403
    allowed = await send(
        session,
        auth,
        {"message": message(**{"from": sender(NON_OUTLOOK_PERSONAL_ALIAS)})},
        f"{ME}/sendMail",
    )
    assert allowed.status == 202


# Shared mailboxes ------------------------------------------------------------------


async def work_auth(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    user: str = "ops@contoso.com",
    scope: str = SHARED_SCOPE,
) -> dict[str, str]:
    tokens = await sign_in(
        session, emulator, user, authority="organizations", scope=scope
    )
    return bearer(tokens["access_token"])


async def test_send_as_a_shared_mailbox(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    auth = await work_auth(session, emulator)
    response = await send(session, auth, {"message": message()}, f"{SHARED}/sendMail")
    assert response.status == 202
    [received] = emulator.messages
    assert received.mailbox.address == SHARED_MAILBOX
    assert received.delegate is not None
    assert received.delegate.address == "ops@contoso.com"
    [shown] = await listed(session)
    assert shown["from"]["emailAddress"]["address"] == SHARED_MAILBOX
    assert shown["sender"]["emailAddress"]["address"] == SHARED_MAILBOX  # Send As
    assert (shown["auth"], shown["signedInUser"]) == ("delegated", "ops@contoso.com")
    # Through /me with `from` set, as the Graph page's example 1 does.
    through_me = {"message": message(**{"from": sender(SHARED_MAILBOX)})}
    assert (await send(session, auth, through_me, f"{ME}/sendMail")).status == 202
    assert emulator.messages[0].mailbox.address == SHARED_MAILBOX


async def test_send_on_behalf_of_a_shared_mailbox(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    shared = emulator.directory.user(SHARED_MAILBOX)
    shared.send_as, shared.send_on_behalf = [], ["ops@contoso.com"]
    auth = await work_auth(session, emulator)
    assert (
        await send(session, auth, {"message": message()}, f"{SHARED}/sendMail")
    ).status == 202
    [shown] = await listed(session)
    assert shown["from"]["emailAddress"]["address"] == SHARED_MAILBOX
    assert shown["sender"]["emailAddress"]["address"] == "ops@contoso.com"


@pytest.mark.parametrize(
    ("user", "scope", "path", "status", "code"),
    [
        # No Mail.Send.Shared in the token.
        ("ops@contoso.com", "Mail.Send User.Read", SHARED, 403, "ErrorAccessDenied"),
        ("ops@contoso.com", "Mail.Send User.Read", ME, 403, "ErrorSendAsDenied"),
        # No rights on the shared mailbox.
        ("o'brien+alerts@contoso.com", SHARED_SCOPE, SHARED, 403, "ErrorAccessDenied"),
        ("o'brien+alerts@contoso.com", SHARED_SCOPE, ME, 403, "ErrorSendAsDenied"),
    ],
)
async def test_shared_mailbox_refusals(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    user: str,
    scope: str,
    path: str,
    status: int,
    code: str,
) -> None:
    auth = await work_auth(session, emulator, user, scope)
    body = {"message": message(**{"from": sender(SHARED_MAILBOX)})}
    async with session.post(f"{path}/sendMail", json=body, headers=auth) as response:
        assert (await error_of(response))[:2] == (status, code)
    assert emulator.messages == []


async def test_full_access_without_send_as(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    """Full Access opens the mailbox; sending from it still needs Send As."""
    emulator.directory.user(SHARED_MAILBOX).send_as = []
    auth = await work_auth(session, emulator)
    async with session.post(
        f"{SHARED}/sendMail", json={"message": message()}, headers=auth
    ) as response:
        status, code, text = await error_of(response)
    assert (status, code) == (403, "ErrorSendAsDenied")
    assert "send mail on behalf of the specified sending account" in text


async def test_drafts_in_a_shared_mailbox(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    scope = "Mail.Send.Shared Mail.ReadWrite.Shared User.Read"
    auth = await work_auth(session, emulator, scope=scope)
    draft_id = await create_draft(session, auth, root=SHARED)
    async with session.post(
        f"{SHARED}/messages/{draft_id}/send", headers=auth
    ) as response:
        assert response.status == 202
    [received] = emulator.messages
    assert (received.via, received.mailbox.address) == ("draft", SHARED_MAILBOX)
    # Without Mail.ReadWrite.Shared the shared mailbox's drafts are closed.
    auth = await work_auth(session, emulator)
    async with session.post(
        f"{SHARED}/messages", json=message(), headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (403, "ErrorAccessDenied")


async def test_shared_mailbox_is_no_sign_in_account(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    _, flow = await start_device_flow(session, emulator, authority="organizations")
    async with session.post(
        "/devicelogin", data={"code": flow["user_code"]}
    ) as response:
        assert SHARED_MAILBOX not in await response.text()
    result = emulator.complete_device_login(flow["user_code"], SHARED_MAILBOX)
    assert result.error is not None
    assert result.error.aadsts == 50057
    # An app with the Mail.Send application permission sends from it directly.
    assert (
        await send(session, auth, {"message": message()}, f"{SHARED}/sendMail")
    ).status == 202


# Message size limits ----------------------------------------------------------------


async def upload_status(
    session: aiohttp.ClientSession,
    auth: dict[str, str],
    root: str,
    draft_id: str,
    size: int,
) -> tuple[int, dict[str, Any]]:
    item = {
        "AttachmentItem": {"attachmentType": "file", "name": "clip.mp4", "size": size}
    }
    path = f"{root}/messages/{draft_id}/attachments/createUploadSession"
    async with session.post(path, json=item, headers=auth) as response:
        return response.status, dict(await response.json())


async def test_outlook_com_25_mb_at_upload(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    """25 MB for personal accounts (attachments counted base64-encoded, as sent)."""
    scope = "Mail.Send Mail.ReadWrite User.Read"
    auth = bearer((await sign_in(session, emulator, scope=scope))["access_token"])
    draft_id = await create_draft(session, auth, root=ME)
    status, body = await upload_status(session, auth, ME, draft_id, 20_000_000)
    assert (status, body["error"]["code"]) == (400, "ErrorMessageSizeExceeded")
    status, _ = await upload_status(session, auth, ME, draft_id, 18_000_000)
    assert status == 201
    # A second attachment would take the message over the limit.
    status, body = await upload_status(session, auth, ME, draft_id, 3 * MIB)
    assert (status, body["error"]["code"]) == (400, "ErrorMessageSizeExceeded")


async def test_work_mailbox_limit_at_upload(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    draft_id = await create_draft(session, auth)
    status, body = await upload_status(session, auth, ALERTS, draft_id, 30 * MIB)
    assert (status, body["error"]["code"]) == (400, "ErrorMessageSizeExceeded")
    status, _ = await upload_status(session, auth, ALERTS, draft_id, 25 * MIB)
    assert status == 201


async def test_outlook_com_limit_at_send_and_attach(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    emulator.directory.consumer_tenant.max_message_size = 2000
    scope = "Mail.Send Mail.ReadWrite User.Read"
    auth = bearer((await sign_in(session, emulator, scope=scope))["access_token"])
    big = {"message": message(attachments=[file_attachment("a.bin", b"x" * 1600)])}
    async with session.post(f"{ME}/sendMail", json=big, headers=auth) as response:
        assert (await error_of(response))[:2] == (400, "ErrorMessageSizeExceeded")
    draft_id = await create_draft(session, auth, root=ME)
    async with session.post(
        f"{ME}/messages/{draft_id}/attachments",
        json=file_attachment("a.bin", b"x" * 1600),
        headers=auth,
    ) as response:
        assert (await error_of(response))[:2] == (400, "ErrorMessageSizeExceeded")
    async with session.post(
        f"{ME}/messages/{draft_id}/attachments",
        json=file_attachment("pixel.png", PNG),
        headers=auth,
    ) as response:
        assert response.status == 201
    emulator.directory.consumer_tenant.max_message_size = 100
    async with session.post(f"{ME}/messages/{draft_id}/send", headers=auth) as response:
        assert (await error_of(response))[:2] == (400, "ErrorMessageSizeExceeded")
    assert emulator.messages == []


# The directory file ------------------------------------------------------------------


def test_directory_file_fields() -> None:
    directory = Directory.from_json(
        {
            "other_tenants": [
                {
                    "id": "11111111-2222-4333-8444-555555555555",
                    "domains": ["tailspintoys.com"],
                    "display_name": "Tailspin Toys",
                    "user_consent_allowed": False,
                }
            ],
            "mailboxes": [
                {"address": "pat@contoso.com", "account_enabled": False},
                {
                    "address": "team@contoso.com",
                    "shared": True,
                    "send_as": ["pat@contoso.com"],
                    "send_on_behalf": ["kim@contoso.com"],
                    "full_access": ["pat@contoso.com"],
                },
                {
                    "address": "kim@tailspintoys.com",
                    "tenant_id": "11111111-2222-4333-8444-555555555555",
                },
                {
                    "address": "outlook_ABC@outlook.com",
                    "user_principal_name": "kim@example.org",
                    "personal": True,
                },
            ],
        }
    )
    pat, team, kim, personal = directory.mailboxes
    assert pat.account_enabled is False
    assert (team.shared, team.send_as, team.send_on_behalf, team.full_access) == (
        True,
        ["pat@contoso.com"],
        ["kim@contoso.com"],
        ["pat@contoso.com"],
    )
    assert team.granted(team.send_as, pat)
    tailspin = directory.tenant_of(kim)
    assert (tailspin.display_name, tailspin.user_consent_allowed) == (
        "Tailspin Toys",
        False,
    )
    assert directory.find_tenant("tailspintoys.com") is tailspin
    assert "11111111-2222-4333-8444-555555555555" in directory.tenant_ids
    assert personal.own_addresses == frozenset({"outlook_abc@outlook.com"})
    assert personal.mail is None
