"""Outlook's limits per application: concurrency and the upload byte budget."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from emulator import App, ClientSecret, Emulator
from emulator.directory import DEFAULT_CLIENT_ID

from .helpers import (
    ALERTS,
    MIB,
    TOKEN_PATH,
    bearer,
    create_draft,
    message,
    open_upload,
    put_chunk,
    send,
    token_form,
)

OPS = "/v1.0/users/ops@contoso.com"
OTHER_CLIENT_ID = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"


@pytest.fixture
async def other_app(emulator: Emulator) -> str:
    """Register a second confidential app with the same permissions."""
    emulator.directory.apps.append(
        App(OTHER_CLIENT_ID, [ClientSecret("other-secret")], ["Mail.Send"])
    )
    return OTHER_CLIENT_ID


async def token_of(
    session: aiohttp.ClientSession, emulator: Emulator, client_id: str, secret: str
) -> dict[str, str]:
    form = token_form(emulator, client_id=client_id, client_secret=secret)
    async with session.post(TOKEN_PATH, data=form) as response:
        assert response.status == 200, await response.text()
        return bearer((await response.json())["access_token"])


async def test_concurrency_is_per_app_across_mailboxes(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    other_app: str,
) -> None:
    emulator.add_fault("latency", delay_ms=300, count=-1, match="sendMail")
    other = await token_of(session, emulator, other_app, "other-secret")
    paths = [f"{ALERTS}/sendMail"] * 3 + [f"{OPS}/sendMail"] * 2
    responses = await asyncio.gather(
        *(send(session, auth, {"message": message()}, path) for path in paths),
        send(session, other, {"message": message()}),
    )
    statuses = [r.status for r in responses]
    assert sorted(statuses[:5]) == [202, 202, 202, 202, 429]
    assert statuses[5] == 202  # another app has its own four
    throttled = next(r for r in responses if r.status == 429)
    assert throttled.headers["Retry-After"] == "1"
    stats = emulator.stats
    assert stats["max_in_flight"] == 4
    assert stats["max_in_flight_by_key"] == {
        DEFAULT_CLIENT_ID.casefold(): 4,
        OTHER_CLIENT_ID.casefold(): 1,
    }


@pytest.fixture
async def per_mailbox(tmp_path: Path) -> AsyncIterator[Emulator]:
    async with Emulator(tmp_path / "state", concurrency_key="app_mailbox") as running:
        yield running


async def test_concurrency_per_app_and_mailbox(per_mailbox: Emulator) -> None:
    emulator = per_mailbox
    connector = aiohttp.TCPConnector(ssl=emulator.ssl_context())
    async with aiohttp.ClientSession(
        base_url=emulator.url, connector=connector
    ) as session:
        auth = await token_of(
            session, emulator, DEFAULT_CLIENT_ID, token_form(emulator)["client_secret"]
        )
        emulator.add_fault("latency", delay_ms=300, count=-1, match="sendMail")
        paths = [f"{ALERTS}/sendMail"] * 4 + [f"{OPS}/sendMail"] * 4
        responses = await asyncio.gather(
            *(send(session, auth, {"message": message()}, path) for path in paths)
        )
    assert [r.status for r in responses] == [202] * 8
    by_key = emulator.stats["max_in_flight_by_key"]
    app = DEFAULT_CLIENT_ID.casefold()
    assert by_key == {
        f"{app}|3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60": 4,
        f"{app}|b8e1f0a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b": 4,
    }


async def test_upload_requests_count_against_the_app(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    draft_id = await create_draft(session, auth)
    url = URL((await open_upload(session, auth, draft_id, 3 * MIB))["uploadUrl"])
    url = url.relative()
    emulator.add_fault("latency", delay_ms=400, count=4, match="sendMail")
    sends = [
        asyncio.create_task(send(session, auth, {"message": message()}))
        for _ in range(4)
    ]
    await asyncio.sleep(0.2)  # the four sends hold the app's slots
    status, body = await put_chunk(
        session, url, b"\0" * MIB, f"bytes 0-{MIB - 1}/{3 * MIB}"
    )
    assert (status, body["error"]["code"]) == (429, "ApplicationThrottled")
    assert [r.status for r in await asyncio.gather(*sends)] == [202] * 4
    status, _ = await put_chunk(
        session, url, b"\0" * MIB, f"bytes 0-{MIB - 1}/{3 * MIB}"
    )
    assert status == 200
    async with session.delete(url) as response:
        assert response.status == 204
    assert emulator.stats["max_in_flight_by_key"] == {DEFAULT_CLIENT_ID.casefold(): 4}


def test_upload_budget_defaults(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path)
    assert emulator.upload_budget_bytes == 150_000_000
    assert emulator.upload_window_seconds == 300
    assert emulator.concurrency_key == "app"
    custom = Emulator(tmp_path, upload_budget_bytes=10, upload_window_seconds=2)
    assert (custom.upload_budget_bytes, custom.upload_window_seconds) == (10, 2)
    with pytest.raises(ValueError):  # noqa: PT011
        Emulator(tmp_path, concurrency_key="tenant")


async def test_upload_budget(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    other_app: str,
) -> None:
    emulator.upload_budget_bytes = 5 * MIB
    size = 4 * MIB
    draft_id = await create_draft(session, auth)
    first = URL((await open_upload(session, auth, draft_id, size))["uploadUrl"])
    second = URL((await open_upload(session, auth, draft_id, size))["uploadUrl"])
    chunk = b"\0" * (3 * MIB)
    status, _ = await put_chunk(
        session, first.relative(), chunk, f"bytes 0-{len(chunk) - 1}/{size}"
    )
    assert status == 200
    async with session.put(
        second.relative(),
        data=chunk,
        headers={"Content-Range": f"bytes 0-{len(chunk) - 1}/{size}"},
    ) as response:
        body = await response.json()
        retry_after = int(response.headers["Retry-After"])
        assert response.status == 429
    assert body["error"]["code"] == "ApplicationThrottled"
    assert 299 <= retry_after <= 300
    # The refused chunk stored nothing: the session still starts at 0.
    status, body = await put_chunk(
        session, second.relative(), b"\0" * MIB, f"bytes 0-{MIB - 1}/{size}"
    )
    assert (status, body["nextExpectedRanges"]) == (200, [str(MIB)])
    # Another app has its own budget.
    emulator.directory.app(other_app).roles.append("Mail.ReadWrite")
    other = await token_of(session, emulator, other_app, "other-secret")
    other_draft = await create_draft(session, other)
    third = URL((await open_upload(session, other, other_draft, size))["uploadUrl"])
    status, _ = await put_chunk(
        session, third.relative(), chunk, f"bytes 0-{len(chunk) - 1}/{size}"
    )
    assert status == 200
    # Once the window has moved on, the first app may upload again.
    emulator.upload_window_seconds = 0.2
    await asyncio.sleep(0.25)
    status, _ = await put_chunk(
        session,
        second.relative(),
        b"\0" * (3 * MIB),
        f"bytes {MIB}-{size - 1}/{size}",
    )
    assert status == 201


async def test_upload_budget_retry_after_counts_to_the_freeing_chunk(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    emulator.upload_budget_bytes = 3 * MIB
    emulator.upload_window_seconds = 10
    size = 8 * MIB
    draft_id = await create_draft(session, auth)
    url = URL((await open_upload(session, auth, draft_id, size))["uploadUrl"])
    for start in (0, MIB, 2 * MIB):
        status, _ = await put_chunk(
            session,
            url.relative(),
            b"\0" * MIB,
            f"bytes {start}-{start + MIB - 1}/{size}",
        )
        assert status == 200
    async with session.put(
        url.relative(),
        data=b"\0" * MIB,
        headers={"Content-Range": f"bytes {3 * MIB}-{4 * MIB - 1}/{size}"},
    ) as response:
        assert response.status == 429
        assert 9 <= int(response.headers["Retry-After"]) <= 10
    # A chunk larger than the whole budget can never fit: wait a window.
    emulator.upload_budget_bytes = MIB // 2
    async with session.put(
        url.relative(),
        data=b"\0" * MIB,
        headers={"Content-Range": f"bytes {3 * MIB}-{4 * MIB - 1}/{size}"},
    ) as response:
        assert (response.status, response.headers["Retry-After"]) == (429, "10")
