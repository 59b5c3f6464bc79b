"""Upload sessions as Outlook documents them, and the 4 MB request limit."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest
from yarl import URL

from emulator import Emulator, Fault

from .helpers import (
    ALERTS,
    MIB,
    create_draft,
    error_of,
    file_attachment,
    get_token,
    open_upload,
    put_chunk,
)


async def test_get_on_upload_url_is_refused(
    session: aiohttp.ClientSession, auth: dict[str, str]
) -> None:
    draft_id = await create_draft(session, auth)
    url = URL((await open_upload(session, auth, draft_id, 3 * MIB))["uploadUrl"])
    async with session.get(url.relative()) as response:
        status, code, text = await error_of(response)
        assert response.headers["Allow"] == "PUT, DELETE"
    assert (status, code) == (405, "ErrorInvalidRequest")
    assert "PUT" in text
    assert "DELETE" in text


async def test_allow_upload_status_answers_get(tmp_path: Path) -> None:
    async with Emulator(tmp_path / "state", allow_upload_status=True) as emulator:
        connector = aiohttp.TCPConnector(ssl=emulator.ssl_context())
        async with aiohttp.ClientSession(
            base_url=emulator.url, connector=connector
        ) as session:
            auth = {"Authorization": f"Bearer {await get_token(session, emulator)}"}
            draft_id = await create_draft(session, auth)
            upload = await open_upload(session, auth, draft_id, 3 * MIB)
            url = URL(upload["uploadUrl"]).relative()
            status, _ = await put_chunk(
                session, url, b"\0" * MIB, f"bytes 0-{MIB - 1}/{3 * MIB}"
            )
            assert status == 200
            async with session.get(url) as response:
                assert response.status == 200
                assert (await response.json())["nextExpectedRanges"] == [str(MIB)]


async def test_chunk_ranges_fault(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    draft_id = await create_draft(session, auth)
    url = URL((await open_upload(session, auth, draft_id, 3 * MIB))["uploadUrl"])
    url = url.relative()
    emulator.add_fault("chunk_ranges", count=2)
    assert emulator.faults[0].match == "uploadChunk"
    # A successful chunk does not use the fault up.
    status, body = await put_chunk(
        session, url, b"\0" * MIB, f"bytes 0-{MIB - 1}/{3 * MIB}"
    )
    assert (status, body["nextExpectedRanges"]) == (200, [str(MIB)])
    assert emulator.faults[0].count == 2
    wrong = f"bytes 0-{MIB - 1}/{3 * MIB}"
    for _ in range(2):
        status, body = await put_chunk(session, url, b"\0" * MIB, wrong)
        assert (status, body["nextExpectedRanges"]) == (416, [str(MIB)])
    status, body = await put_chunk(session, url, b"\0" * MIB, wrong)
    assert status == 416
    assert "nextExpectedRanges" not in body
    assert emulator.faults == []


@pytest.mark.parametrize("spec", ["chunk_ranges:match=sendMail", "chunk_ranges:x=1"])
def test_chunk_ranges_fault_options(spec: str) -> None:
    with pytest.raises(ValueError):  # noqa: PT011
        Fault.parse(spec)


@pytest.mark.parametrize(
    "minimum", [None, 2 * MIB, 3 * MIB], ids=["default", "2MiB", "3MB-strict"]
)
async def test_minimum_upload_session_size(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    minimum: int | None,
) -> None:
    if minimum is not None:
        emulator.min_upload_size = minimum
    assert emulator.min_upload_size == (minimum or 3 * MIB)
    draft_id = await create_draft(session, auth)
    path = f"{ALERTS}/messages/{draft_id}/attachments/createUploadSession"
    item = {"attachmentType": "file", "name": "x.bin"}
    body = {"AttachmentItem": {**item, "size": emulator.min_upload_size - 1}}
    async with session.post(path, json=body, headers=auth) as response:
        status, code, text = await error_of(response)
    assert (status, code) == (400, "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize")
    assert str(emulator.min_upload_size) in text
    body = {"AttachmentItem": {**item, "size": emulator.min_upload_size}}
    async with session.post(path, json=body, headers=auth) as response:
        assert response.status == 201


async def test_min_upload_size_in_constructor(tmp_path: Path) -> None:
    emulator = Emulator(tmp_path, min_upload_size=3_145_728)
    assert emulator.min_upload_size == 3_145_728
    assert emulator.settings.min_upload_size == 3_145_728
    with pytest.raises(ValueError, match="negative"):
        emulator.min_upload_size = -1
    assert emulator.min_upload_size == 3_145_728


async def test_inline_attachment_fallback_fits_in_4_mib(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    """The client's fallback for files under the upload minimum: one POST."""
    draft_id = await create_draft(session, auth)
    path = f"{ALERTS}/messages/{draft_id}/attachments"
    fits = file_attachment("snapshot.bin", b"\1" * 3_100_000)
    async with session.post(path, json=fits, headers=auth) as response:
        assert response.status == 201, await response.text()
        assert (await response.json())["size"] == 3_100_000
    too_big = file_attachment("big.bin", b"\1" * 3_146_000)  # base64 > 4 MiB
    async with session.post(path, json=too_big, headers=auth) as response:
        assert (await error_of(response))[:2] == (413, "RequestEntityTooLarge")
    send = f"{ALERTS}/messages/{draft_id}/send"
    async with session.post(send, headers=auth) as response:
        assert response.status == 202
    [received] = emulator.messages
    assert [a.size for a in received.attachments] == [3_100_000]


async def test_size_exceeded_fault_on_chunk_stores_nothing(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    draft_id = await create_draft(session, auth)
    url = URL((await open_upload(session, auth, draft_id, 3 * MIB))["uploadUrl"])
    url = url.relative()
    emulator.add_fault("size_exceeded")
    assert emulator.faults[0].match == "uploadChunk"
    status, body = await put_chunk(
        session, url, b"\0" * MIB, f"bytes 0-{MIB - 1}/{3 * MIB}"
    )
    assert (status, body["error"]["code"]) == (400, "ErrorMessageSizeExceeded")
    status, body = await put_chunk(
        session, url, b"\0" * MIB, f"bytes 0-{MIB - 1}/{3 * MIB}"
    )
    assert (status, body["nextExpectedRanges"]) == (200, [str(MIB)])


@pytest.mark.parametrize("operation", ["createUploadSession", "sendDraft"])
async def test_size_exceeded_fault_on_session_and_send(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    auth: dict[str, str],
    operation: str,
) -> None:
    draft_id = await create_draft(session, auth)
    emulator.add_fault("size_exceeded", match=operation)
    if operation == "createUploadSession":
        path = f"{ALERTS}/messages/{draft_id}/attachments/createUploadSession"
        body = {"AttachmentItem": {"attachmentType": "file", "name": "a", "size": 1}}
        async with session.post(path, json=body, headers=auth) as response:
            assert (await error_of(response))[:2] == (400, "ErrorMessageSizeExceeded")
    else:
        path = f"{ALERTS}/messages/{draft_id}/send"
        async with session.post(path, headers=auth) as response:
            assert (await error_of(response))[:2] == (400, "ErrorMessageSizeExceeded")
        assert emulator.messages == []


def test_size_exceeded_fault_matches() -> None:
    with pytest.raises(ValueError, match="uploadChunk, createUploadSession, sendDraft"):
        Fault.parse("size_exceeded:match=sendMail")
