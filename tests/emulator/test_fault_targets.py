"""Faults aimed at one app or one mailbox (e.g. to test a backup account)."""

from __future__ import annotations

import aiohttp
import pytest
from yarl import URL

from emulator import App, ClientSecret, Emulator, Fault
from emulator.directory import DEFAULT_CLIENT_ID, DEFAULT_PUBLIC_CLIENT_ID

from .helpers import (
    ALERTS,
    ME,
    MIB,
    TOKEN_PATH,
    bearer,
    create_draft,
    message,
    open_upload,
    put_chunk,
    send,
    sign_in,
    token_form,
)

OPS = "/v1.0/users/ops@contoso.com"


async def test_fault_for_one_mailbox(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.add_fault(
        "503", count=-1, match="sendMail", mailbox="alerts@contoso.com", retry_after=1
    )
    for _ in range(2):
        assert (await send(session, auth, {"message": message()})).status == 503
        response = await send(session, auth, {"message": message()}, f"{OPS}/sendMail")
        assert response.status == 202
    # The mailbox may be named by any of its names in the path.
    by_id = "/v1.0/users/3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60/sendMail"
    assert (await send(session, auth, {"message": message()}, by_id)).status == 503
    assert [m.mailbox.address for m in emulator.messages] == ["ops@contoso.com"] * 2


async def test_fault_for_one_app(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    other = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
    emulator.directory.apps.append(App(other, [ClientSecret("other")], ["Mail.Send"]))
    emulator.add_fault("429", count=-1, match="token", client_id=other, retry_after=2)
    form = token_form(emulator, client_id=other, client_secret="other")
    async with session.post(TOKEN_PATH, data=form) as response:
        assert response.status == 429  # token requests are aimed by client_id
    emulator.clear_faults()
    async with session.post(TOKEN_PATH, data=form) as response:
        other_auth = bearer((await response.json())["access_token"])
    emulator.add_fault("429", count=-1, match="sendMail", client_id=other.upper())
    assert (await send(session, other_auth, {"message": message()})).status == 429
    assert (await send(session, auth, {"message": message()})).status == 202


async def test_token_fault_for_one_app(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    emulator.add_fault("expired_secret", client_id="someone-else")
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        assert response.status == 200
    emulator.clear_faults()
    emulator.add_fault("expired_secret", client_id=DEFAULT_CLIENT_ID)
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        assert (await response.json())["error_codes"] == [7000222]


async def test_fault_for_a_signed_in_user(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    tokens = await sign_in(session, emulator, "jamie@hotmail.com")
    delegated = bearer(tokens["access_token"])
    emulator.add_fault("503", count=-1, mailbox="jamie@hotmail.com")
    response = await send(session, delegated, {"message": message()}, f"{ME}/sendMail")
    assert response.status == 503
    assert (await send(session, auth, {"message": message()})).status == 202
    emulator.clear_faults()
    emulator.add_fault("503", count=-1, client_id=DEFAULT_PUBLIC_CLIENT_ID)
    response = await send(session, delegated, {"message": message()}, f"{ME}/sendMail")
    assert response.status == 503


async def test_fault_for_one_mailbox_uploads(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    alerts = await create_draft(session, auth)
    ops = await create_draft(session, auth, root=OPS)
    alerts_url = URL((await open_upload(session, auth, alerts, 3 * MIB))["uploadUrl"])
    ops_url = URL(
        (await open_upload(session, auth, ops, 3 * MIB, root=OPS))["uploadUrl"]
    )
    emulator.add_fault("size_exceeded", count=-1, mailbox="ops@contoso.com")
    chunk, content_range = b"\0" * MIB, f"bytes 0-{MIB - 1}/{3 * MIB}"
    status, _ = await put_chunk(session, alerts_url.relative(), chunk, content_range)
    assert status == 200
    status, body = await put_chunk(session, ops_url.relative(), chunk, content_range)
    assert (status, body["error"]["code"]) == (400, "ErrorMessageSizeExceeded")


async def test_targeted_faults_over_http_and_the_command_line(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    spec = {
        "kind": "503",
        "count": 1,
        "match": "sendMail",
        "mailbox": "ops@contoso.com",
    }
    async with session.post("/_emulator/faults", json=spec) as response:
        assert response.status == 201
        [created] = await response.json()
    assert (created["mailbox"], created["client_id"]) == ("ops@contoso.com", "")
    assert (await send(session, auth, {"message": message()})).status == 202
    response = await send(session, auth, {"message": message()}, f"{OPS}/sendMail")
    assert response.status == 503
    fault = Fault.parse(
        f"504:after_accept,mailbox=alerts@contoso.com,client_id={DEFAULT_CLIENT_ID}"
    )
    assert (fault.mailbox, fault.client_id, fault.after_accept) == (
        "alerts@contoso.com",
        DEFAULT_CLIENT_ID,
        True,
    )
    with pytest.raises(ValueError, match="mailbox"):
        Fault.from_mapping({"kind": "503", "mailbox": 3})


async def test_untargeted_fault_counts_are_not_used_by_other_mailboxes(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.add_fault("503", count=1, mailbox="alerts@contoso.com")
    assert (
        await send(session, auth, {"message": message()}, f"{OPS}/sendMail")
    ).status == 202
    assert emulator.faults[0].count == 1
    assert (
        await send(session, auth, {"message": message()}, f"{ALERTS}/sendMail")
    ).status == 503
    assert emulator.faults == []
