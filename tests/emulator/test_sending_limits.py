"""Exchange's sending limits (recipients per day and per message), the clock, quotas."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from emulator import Emulator, Limit
from emulator.directory import SHARED_MAILBOX

from .helpers import (
    ALERTS,
    ME,
    bearer,
    create_draft,
    error_of,
    file_attachment,
    message,
    send,
    sign_in,
)

DAY = 24 * 3600


def addressed(count: int, start: int = 0) -> dict[str, Any]:
    """Return To, Cc and Bcc recipients, ``count`` in all."""
    people = [
        {"emailAddress": {"address": f"person{n}@example.com"}}
        for n in range(start, start + count)
    ]
    return message(
        subject=f"to {count}",
        toRecipients=people[::3],
        ccRecipients=people[1::3],
        bccRecipients=people[2::3],
    )


async def test_daily_recipient_limit_work(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.daily_recipient_limit_work = 5
    assert (await send(session, auth, {"message": addressed(3)})).status == 202
    assert emulator.recipients_sent("alerts@contoso.com") == 3
    # This one would make 6: still 202 (the signal is the NDR), not delivered.
    response = await send(session, auth, {"message": addressed(3, start=10)})
    assert response.status == 202
    ndr, delivered = emulator.messages
    assert (delivered.subject, delivered.via) == ("to 3", "sendMail")
    assert ndr.via == "ndr"
    assert ndr.subject == "Undeliverable: to 3"
    assert (
        "554 5.2.0 STOREDRV.Submission.Exception:SubmissionQuotaExceeded"
        in (ndr.body["content"])
    )
    assert ndr.recipients("toRecipients")[0]["emailAddress"]["address"] == (
        "alerts@contoso.com"
    )
    shown = ndr.to_json()
    assert shown["from"]["emailAddress"] == {
        "address": "postmaster@contoso.com",
        "name": "Microsoft Outlook",
    }
    [crossing] = emulator.limit_crossings
    assert (
        crossing.limit,
        crossing.allowed,
        crossing.counted,
        crossing.recipients,
    ) == (
        Limit.RECIPIENTS_PER_DAY,
        5,
        3,
        3,
    )
    assert (crossing.mailbox, crossing.submitter, crossing.ndr_id) == (
        "alerts@contoso.com",
        "alerts@contoso.com",
        ndr.id,
    )
    assert emulator.recipients_sent("alerts@contoso.com") == 3  # refused: not counted
    # Up to the limit exactly is fine.
    assert (await send(session, auth, {"message": addressed(2)})).status == 202
    assert emulator.messages[0].via == "sendMail"
    assert emulator.recipient_counts() == {"alerts@contoso.com": 5}
    # The window slides: 24 hours later the mailbox sends again.
    emulator.advance_clock(DAY - 60)
    await send(session, auth, {"message": addressed(1)})
    assert emulator.messages[0].via == "ndr"
    emulator.advance_clock(timedelta(seconds=61))
    assert emulator.recipients_sent("alerts@contoso.com") == 0
    await send(session, auth, {"message": addressed(5)})
    assert emulator.messages[0].via == "sendMail"
    assert len(emulator.limit_crossings) == 2


async def test_daily_recipient_limit_personal_default(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    """300 a day for Outlook.com (observed), 10,000 for work mailboxes."""
    assert (
        emulator.daily_recipient_limit_work,
        emulator.daily_recipient_limit_personal,
    ) == (
        10_000,
        300,
    )
    auth = bearer((await sign_in(session, emulator))["access_token"])
    path = f"{ME}/sendMail"
    assert (await send(session, auth, {"message": addressed(300)}, path)).status == 202
    assert (await send(session, auth, {"message": addressed(1)}, path)).status == 202
    ndr, delivered = emulator.messages
    assert delivered.recipient_count == 300
    assert ndr.via == "ndr"
    assert ndr.to_json()["from"]["emailAddress"]["address"] == "postmaster@outlook.com"
    assert emulator.recipients_sent("casey@outlook.com") == 300


async def test_recipients_per_message(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    assert emulator.max_recipients_per_message == 500
    emulator.max_recipients_per_message = 3
    body = {
        "message": addressed(4) | {"attachments": [file_attachment("a.txt", b"hi")]}
    }
    assert (await send(session, auth, body)).status == 202
    [ndr] = emulator.messages
    assert (
        "550 5.5.3 RESOLVER.ADR.RecipLimit; too many recipients" in ndr.body["content"]
    )
    [crossing] = emulator.limit_crossings
    assert (crossing.limit, crossing.allowed, crossing.recipients) == (
        Limit.RECIPIENTS_PER_MESSAGE,
        3,
        4,
    )
    assert emulator.recipients_sent("alerts@contoso.com") == 0
    # The refused message's attachment files are gone with it.
    assert list(emulator._state.store.blobs.iterdir()) == []


async def test_drafts_count_too(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.daily_recipient_limit_work = 4
    recipients = addressed(3)
    draft_id = await create_draft(
        session,
        auth,
        toRecipients=recipients["toRecipients"],
        ccRecipients=recipients["ccRecipients"],
        bccRecipients=recipients["bccRecipients"],
    )
    async with session.post(
        f"{ALERTS}/messages/{draft_id}/send", headers=auth
    ) as response:
        assert response.status == 202
    assert emulator.recipients_sent("alerts@contoso.com") == 3
    draft_id = await create_draft(
        session, auth, toRecipients=recipients["toRecipients"] * 2
    )
    async with session.post(
        f"{ALERTS}/messages/{draft_id}/send", headers=auth
    ) as response:
        assert response.status == 202
    assert emulator.messages[0].via == "ndr"
    assert emulator._state.store.drafts == {}


async def test_delegates_count_their_own_sends(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    """Sending from a shared mailbox counts against the signed-in user."""
    tokens = await sign_in(
        session,
        emulator,
        "ops@contoso.com",
        authority="organizations",
        scope="Mail.Send Mail.Send.Shared",
    )
    delegated = bearer(tokens["access_token"])
    shared = f"/v1.0/users/{SHARED_MAILBOX}/sendMail"
    assert (
        await send(session, delegated, {"message": addressed(2)}, shared)
    ).status == 202
    assert (await send(session, auth, {"message": addressed(4)}, shared)).status == 202
    assert emulator.recipient_counts() == {"ops@contoso.com": 2, SHARED_MAILBOX: 4}
    assert emulator.recipients_sent("ops@contoso.com") == 2


async def test_limits_control_endpoints(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    async with session.patch(
        "/_emulator/settings", json={"daily_recipient_limit_work": 2}
    ) as response:
        assert response.status == 200
    await send(session, auth, {"message": addressed(2)})
    await send(session, auth, {"message": addressed(1)})
    async with session.get("/_emulator/limits") as response:
        limits = await response.json()
    assert limits["window_seconds"] == DAY
    assert limits["limits"] == {
        "daily_recipient_limit_work": 2,
        "daily_recipient_limit_personal": 300,
        "max_recipients_per_message": 500,
    }
    assert limits["recipients"] == {"alerts@contoso.com": 2}
    [crossing] = limits["crossings"]
    assert {k: crossing[k] for k in ("limit", "mailbox", "allowed", "counted")} == {
        "limit": "recipients_per_day",
        "mailbox": "alerts@contoso.com",
        "allowed": 2,
        "counted": 2,
    }
    async with session.get("/_emulator/messages") as response:
        ndr = (await response.json())[0]
    assert (ndr["id"], ndr["via"]) == (crossing["ndr_id"], "ndr")
    async with session.post(
        "/_emulator/clock", json={"advance_seconds": DAY}
    ) as response:
        clock = await response.json()
    assert clock["offset_seconds"] == DAY
    async with session.get("/_emulator/limits") as response:
        assert (await response.json())["recipients"] == {}
    async with session.post("/_emulator/clock", json={"offset_seconds": 0}) as response:
        assert (await response.json())["offset_seconds"] == 0
    async with session.post(
        "/_emulator/clock", json={"advance_seconds": "x"}
    ) as response:
        assert response.status == 400
    async with session.post("/_emulator/reset") as response:
        assert response.status == 204
    assert (emulator.limit_crossings, emulator.recipient_counts()) == ([], {})


async def test_clock_dates_messages(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    before = emulator.now()
    emulator.advance_clock(3 * DAY)
    assert emulator.clock_offset == timedelta(days=3)
    await send(session, auth, {"message": message()})
    assert emulator.messages[0].received_at - before >= timedelta(days=3)
    emulator.clock_offset = timedelta()
    assert abs(emulator.now() - before) < timedelta(minutes=1)


# ErrorSubmissionQuotaExceeded ------------------------------------------------------


async def test_submission_quota_fault(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.add_fault("submission_quota")
    async with session.post(
        f"{ALERTS}/sendMail", json={"message": message()}, headers=auth
    ) as response:
        status, code, _ = await error_of(response)
        assert "Retry-After" not in response.headers
    assert (status, code) == (429, "ErrorSubmissionQuotaExceeded")
    assert emulator.messages == []
    emulator.add_fault("submission_quota:status=403,retry_after=60,match=sendDraft")
    draft_id = await create_draft(session, auth)
    async with session.post(
        f"{ALERTS}/messages/{draft_id}/send", headers=auth
    ) as response:
        assert (await error_of(response))[:2] == (403, "ErrorSubmissionQuotaExceeded")
        assert response.headers["Retry-After"] == "60"
    async with session.post(
        f"{ALERTS}/messages/{draft_id}/send", headers=auth
    ) as response:
        assert response.status == 202
    [request] = [
        r for r in emulator.stats["requests"] if r["faults"] == ["submission_quota"]
    ][:1]
    assert request["operation"] == "sendMail"


@pytest.mark.parametrize("status", [429, 503])
async def test_submission_quota_fault_over_control_api(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    status: int,
) -> None:
    async with session.post(
        "/_emulator/faults",
        json={
            "kind": "submission_quota",
            "status": status,
            "mailbox": "ops@contoso.com",
        },
    ) as response:
        assert response.status == 201
    assert (await send(session, auth, {"message": message()})).status == 202
    ops = "/v1.0/users/ops@contoso.com/sendMail"
    assert (await send(session, auth, {"message": message()}, ops)).status == status
