"""Tests of large messages: drafts, upload sessions in chunks, limits, clean-up."""

from __future__ import annotations

import base64
from dataclasses import replace
import json
from pathlib import Path
from typing import Any

import aiohttp
from aioresponses import CallbackResult
import pytest
from yarl import URL

from custom_components.o365.graph import (
    PERSONAL_MAX_ATTACHMENTS,
    Attachment,
    AttachmentTooLargeError,
    EmailAddress,
    GraphClient,
    GraphError,
    GraphTransientError,
    MailReadWriteRequiredError,
    Message,
    MessageLimits,
    MessageSizeExceededError,
    MessageTooLargeError,
    O365ConnectionError,
    PersonalAttachmentsTooLargeError,
    RetryPolicy,
)
from custom_components.o365.graph.client import (
    MAX_ATTACHMENT_SIZE,
    MAX_UPLOAD_SESSIONS,
    UPLOAD_CHUNK_SIZE,
    check_message_limits,
    fits_in_one_request,
)
from tests.conftest import GraphMock
from tests.fake_outlook import DRAFT_ID, FakeOutlook, no_sleep, payload

from .conftest import BOX, FakeTokens, settings


def graph_client(session: aiohttp.ClientSession, tokens: FakeTokens) -> GraphClient:
    return GraphClient(settings(session, sleep=no_sleep), tokens, retry=RetryPolicy())


def message(*attachments: Attachment) -> Message:
    return Message(
        subject="Clip",
        body='<img src="cid:camera.front_door">',
        to=(EmailAddress("ops@contoso.com"), EmailAddress("b@contoso.com")),
        attachments=attachments,
    )


@pytest.mark.parametrize("size", [3_500_000, 20 * 1024 * 1024 + 17])
async def test_large_attachment_through_upload_session(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    tmp_path: Path,
    size: int,
) -> None:
    """Draft, session, ordered PUTs covering every byte once, then send."""
    outlook = FakeOutlook(graph_mock)
    path = tmp_path / "clip.mp4"
    data = payload(size)
    path.write_bytes(data)
    clip = Attachment("clip.mp4", "video/mp4", path, size)
    receipt = await graph_client(session, tokens).send_mail(BOX, message(clip))
    assert receipt.method == "draft"

    assert graph_mock.calls("POST", "/sendMail") == []
    assert (
        outlook.draft_json["toRecipients"][1]["emailAddress"]["address"]
        == "b@contoso.com"
    )
    assert "attachments" not in outlook.draft_json
    (upload,) = outlook.sessions.values()
    assert upload["item"] == {
        "attachmentType": "file",
        "name": "clip.mp4",
        "size": size,
        "contentType": "video/mp4",
        "isInline": False,
    }
    assert bytes(upload["data"]) == data
    ranges = [p["headers"]["Content-Range"] for p in outlook.puts]
    expected, start = [], 0
    while start < size:
        end = min(start + UPLOAD_CHUNK_SIZE, size) - 1
        expected.append(f"bytes {start}-{end}/{size}")
        start = end + 1
    assert ranges == expected
    assert all("Authorization" not in p["headers"] for p in outlook.puts)
    assert all(
        p["headers"]["Content-Type"] == "application/octet-stream" for p in outlook.puts
    )
    assert len(graph_mock.calls("POST", f"/messages/{'AAMkAD%3Ddraft%2F1'}/send")) == 1
    assert outlook.deleted == []


async def test_small_inline_snapshot_and_large_file(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """The snapshot rides in the draft; the big file is uploaded; both arrive."""
    outlook = FakeOutlook(graph_mock)
    snapshot = payload(150_000, 1)
    big = payload(5_000_000, 2)
    await graph_client(session, tokens).send_mail(
        BOX,
        message(
            Attachment.from_bytes(
                "front.jpg", snapshot, "image/jpeg", "camera.front_door"
            ),
            Attachment.from_bytes("report.bin", big),
        ),
    )
    (inline,) = outlook.draft_json["attachments"]
    assert inline["contentId"] == "camera.front_door"
    assert inline["isInline"] is True
    (upload,) = outlook.sessions.values()
    assert bytes(upload["data"]) == big
    assert upload["done"]


async def test_small_files_that_do_not_fit_the_draft_go_one_by_one(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    outlook = FakeOutlook(graph_mock)
    files = [
        Attachment.from_bytes(f"f{i}.bin", payload(2_000_000, i)) for i in range(3)
    ]
    assert not fits_in_one_request(message(*files))
    await graph_client(session, tokens).send_mail(BOX, message(*files))
    in_draft = outlook.draft_json.get("attachments", [])
    assert len(in_draft) + len(outlook.attachments) == 3
    assert len(in_draft) == 1
    assert outlook.sessions == {}


async def test_failure_mid_upload_deletes_the_draft(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """Nothing half-made stays in the mailbox when an upload fails."""
    outlook = FakeOutlook(graph_mock)
    outlook.fail_put_at = {2, 3, 4, 5, 6}
    big = payload(12_000_000)
    with pytest.raises(GraphTransientError):
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment.from_bytes("big.bin", big))
        )
    assert outlook.deleted == [DRAFT_ID]
    (upload,) = outlook.sessions.values()
    assert upload.get("cancelled") is True
    assert graph_mock.calls("POST", "/send") == []


async def test_refused_chunk_is_resent_from_the_last_answer_without_get(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """A 503 on a chunk: resend it where the last successful chunk said; no GET."""
    outlook = FakeOutlook(graph_mock)
    outlook.fail_put_at = {2}
    big = payload(9_000_000)
    await graph_client(session, tokens).send_mail(
        BOX, message(Attachment.from_bytes("big.bin", big))
    )
    (upload,) = outlook.sessions.values()
    assert bytes(upload["data"]) == big
    ranges = [p["headers"]["Content-Range"] for p in outlook.puts]
    assert ranges[1] == ranges[2]
    assert ranges[2].startswith(f"bytes {UPLOAD_CHUNK_SIZE}-")
    assert outlook.status_requests == 0
    assert graph_mock.calls("GET", "AttachmentSessions") == []
    assert outlook.deleted == []


async def test_error_bodies_do_not_move_the_upload(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """Ranges in a chunk's error body are undocumented: they are not followed."""
    outlook = FakeOutlook(graph_mock)
    outlook.fail_put_at = {2}
    outlook.error_extra = {"nextExpectedRanges": ["0"]}
    big = payload(9_000_000)
    await graph_client(session, tokens).send_mail(
        BOX, message(Attachment.from_bytes("big.bin", big))
    )
    (upload,) = outlook.sessions.values()
    assert bytes(upload["data"]) == big
    assert outlook.puts[2]["headers"]["Content-Range"].startswith(
        f"bytes {UPLOAD_CHUNK_SIZE}-"
    )


async def test_lost_answer_starts_a_fresh_upload_session(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """A chunk was stored but its answer lost: the resend is refused, the
    position is unknown, so a new session uploads the file from the start."""
    outlook = FakeOutlook(graph_mock)
    outlook.lose_answer_at = {2}
    big = payload(9_000_000)
    await graph_client(session, tokens).send_mail(
        BOX, message(Attachment.from_bytes("big.bin", big))
    )
    first, second = outlook.sessions.values()
    assert first.get("cancelled") is True
    assert second["done"] is True
    assert bytes(second["data"]) == big
    assert outlook.status_requests == 0
    assert outlook.deleted == []
    assert len(graph_mock.calls("POST", "/send")) == 1


async def test_fresh_sessions_are_bounded(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """An upload that keeps losing its place gives up after three sessions."""
    outlook = FakeOutlook(graph_mock)
    outlook.lose_answer_at = set(range(1, 100))
    with pytest.raises(GraphTransientError, match="losing its place"):
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment.from_bytes("big.bin", payload(9_000_000)))
        )
    assert len(outlook.sessions) == MAX_UPLOAD_SESSIONS
    assert all(s.get("cancelled") for s in outlook.sessions.values())
    assert outlook.deleted == [DRAFT_ID]
    assert graph_mock.calls("POST", "/send") == []


async def test_put_connection_error_resends_the_chunk(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    outlook = FakeOutlook(graph_mock)
    outlook.drop_put_at = {1}
    big = payload(4_000_000)
    await graph_client(session, tokens).send_mail(
        BOX, message(Attachment.from_bytes("big.bin", big))
    )
    (upload,) = outlook.sessions.values()
    assert bytes(upload["data"]) == big
    assert [p["headers"]["Content-Range"] for p in outlook.puts][1].startswith(
        "bytes 0-"
    )
    assert outlook.status_requests == 0


@pytest.mark.parametrize(
    ("minimum", "uploaded"), [(2 * 1024 * 1024, True), (3 * 1024 * 1024, False)]
)
async def test_file_between_the_minimum_readings_is_delivered(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    minimum: int,
    uploaded: bool,
) -> None:
    """A 3.1 MB file: an upload session where 2 MiB is the minimum; where the
    documented "3 MB" is, the session refuses it and it is POSTed instead."""
    outlook = FakeOutlook(graph_mock, min_upload=minimum)
    data = payload(3_100_000)
    receipt = await graph_client(session, tokens).send_mail(
        BOX, message(Attachment.from_bytes("clip.mp4", data, "video/mp4"))
    )
    assert receipt.method == "draft"
    if uploaded:
        (upload,) = outlook.sessions.values()
        assert bytes(upload["data"]) == data
        assert outlook.attachments == []
    else:
        assert outlook.sessions == {}
        (posted,) = outlook.attachments
        assert base64.b64decode(posted["contentBytes"]) == data
        assert posted["name"] == "clip.mp4"
    assert len(graph_mock.calls("POST", "/send")) == 1
    assert outlook.deleted == []


async def test_fallback_post_is_measured_without_the_message_body(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """The refused file is POSTed alone: a long body does not count against it."""
    outlook = FakeOutlook(graph_mock, min_upload=3 * 1024 * 1024)
    data = payload(3_100_000)
    long_report = replace(
        message(Attachment.from_bytes("clip.mp4", data, "video/mp4")),
        body="<p>" + "motion log line " * 10_000 + "</p>",
    )
    await graph_client(session, tokens).send_mail(BOX, long_report)
    (posted,) = outlook.attachments
    assert base64.b64decode(posted["contentBytes"]) == data
    assert len(graph_mock.calls("POST", "/send")) == 1


async def test_size_refused_mid_upload_deletes_the_draft(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """Exchange has been seen to answer ErrorMessageSizeExceeded to a chunk."""
    outlook = FakeOutlook(graph_mock)
    outlook.size_exceeded_at = {2}
    with pytest.raises(MessageSizeExceededError):
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment.from_bytes("big.bin", payload(9_000_000)))
        )
    (upload,) = outlook.sessions.values()
    assert upload.get("cancelled") is True
    assert outlook.deleted == [DRAFT_ID]
    assert len(outlook.puts) == 2


async def test_upload_budget_retry_after_beyond_the_call_gives_up_for_the_outbox(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """Outlook's upload budget answers 429 with minutes to wait: not slept in
    the call; the error carries the wait for the outbox."""
    outlook = FakeOutlook(graph_mock)
    outlook._put = lambda url, **kwargs: CallbackResult(  # type: ignore[method-assign]
        status=429, headers={"Retry-After": "280"}
    )
    with pytest.raises(GraphTransientError) as info:
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )
    assert info.value.retry_after == 280
    assert outlook.deleted == [DRAFT_ID]


async def test_draft_refused_needs_mail_readwrite(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    FakeOutlook(graph_mock, draft_status=403)
    with pytest.raises(MailReadWriteRequiredError, match=r"Mail\.ReadWrite"):
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )


def test_over_150_mb_refused(tmp_path: Path) -> None:
    """Graph's per-attachment limit, checked before anything is sent."""
    path = tmp_path / "huge.bin"
    with path.open("wb") as file:
        file.truncate(151 * 1024 * 1024)
    huge = Attachment("huge.bin", "application/octet-stream", path, path.stat().st_size)
    with pytest.raises(AttachmentTooLargeError) as info:
        check_message_limits(message(huge), MessageLimits(max_message_size=10**9))
    assert info.value.name == "huge.bin"
    assert info.value.limit == MAX_ATTACHMENT_SIZE


def test_over_the_message_limit_refused() -> None:
    files = [Attachment("a.bin", "x", b"", 20 * 1024 * 1024) for _ in range(2)]
    with pytest.raises(MessageTooLargeError):
        check_message_limits(message(*files), MessageLimits())


async def test_file_that_shrank_is_an_error(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    tmp_path: Path,
) -> None:
    outlook = FakeOutlook(graph_mock)
    path = tmp_path / "clip.mp4"
    path.write_bytes(payload(1000))
    clip = Attachment("clip.mp4", "video/mp4", path, 5_000_000)
    with pytest.raises(Exception, match="changed"):
        await graph_client(session, tokens).send_mail(BOX, message(clip))
    assert outlook.deleted == [DRAFT_ID]


async def test_small_file_attachment_is_read_and_embedded(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    tmp_path: Path,
) -> None:
    path = tmp_path / "report.pdf"
    path.write_bytes(b"%PDF-1.7")
    graph_mock.send_mail()
    await graph_client(session, tokens).send_mail(
        BOX, message(Attachment("report.pdf", "application/pdf", path, 8))
    )
    ((_, kwargs),) = graph_mock.calls("POST", "/sendMail")
    (attachment,) = json.loads(kwargs["data"])["message"]["attachments"]
    assert attachment["contentBytes"] == "JVBERi0xLjc="
    path.write_bytes(b"short")
    with pytest.raises(Exception, match="changed"):
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment("report.pdf", "application/pdf", path, 8))
        )


async def test_connection_lost_during_send_deletes_draft(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    outlook = FakeOutlook(graph_mock)
    outlook.send_unreachable = True
    with pytest.raises(O365ConnectionError):
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )
    assert outlook.deleted == [DRAFT_ID]


async def test_chunks_are_read_in_pieces_as_they_are_sent(tmp_path: Path) -> None:
    """Memory holds one 256 KiB piece of a chunk, not the chunk."""
    from custom_components.o365.graph.client import UPLOAD_PIECE_SIZE, _ChunkReader

    data = payload(1_000_000)
    path = tmp_path / "clip.mp4"
    path.write_bytes(data)

    async def run_blocking(func: Any) -> Any:
        return func()

    reader = _ChunkReader(
        Attachment("clip.mp4", "video/mp4", path, len(data)), run_blocking
    )
    await reader.open()
    pieces = [piece async for piece in reader.stream(100, 600_000)]
    await reader.close()
    assert max(len(piece) for piece in pieces) == UPLOAD_PIECE_SIZE
    assert b"".join(pieces) == data[100:600_100]


async def test_send_retried_after_graph_already_sent_it(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """A 504 on send, then 404 on the retry: the draft went out, not an error."""
    outlook = FakeOutlook(graph_mock)
    calls = 0

    def send(url: URL, **kwargs: Any) -> CallbackResult:
        nonlocal calls
        calls += 1
        return CallbackResult(status=504 if calls == 1 else 404)

    outlook._send = send  # type: ignore[method-assign]
    receipt = await graph_client(session, tokens).send_mail(
        BOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
    )
    assert receipt.method == "draft"
    assert calls == 2
    assert outlook.deleted == []


async def test_a_first_404_on_send_is_an_error(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    outlook = FakeOutlook(graph_mock)
    outlook._send = lambda url, **kwargs: CallbackResult(status=404)  # type: ignore[method-assign]
    with pytest.raises(GraphError):
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )


async def test_upload_that_makes_no_progress_gives_up(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    outlook = FakeOutlook(graph_mock)

    def stuck(url: URL, **kwargs: Any) -> CallbackResult:
        outlook.puts.append({"headers": kwargs["headers"]})
        return CallbackResult(status=200, payload={"nextExpectedRanges": ["0"]})

    outlook._put = stuck  # type: ignore[method-assign]
    with pytest.raises(GraphTransientError, match="losing its place"):
        await graph_client(session, tokens).send_mail(
            BOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )
    assert len(outlook.puts) == MAX_UPLOAD_SESSIONS
    assert outlook.deleted == [DRAFT_ID]


def test_message_limit_counts_the_encoded_size() -> None:
    """Exchange measures what it sends: 27 MB of files is 36 MB encoded."""
    files = (Attachment("a.bin", "x", b"", 27 * 1024 * 1024),)
    with pytest.raises(MessageTooLargeError, match="once encoded"):
        check_message_limits(message(*files), MessageLimits())
    check_message_limits(
        message(Attachment("b.bin", "x", b"", 26 * 1024 * 1024)), MessageLimits()
    )


def test_outlook_com_takes_25_mb_of_attachments() -> None:
    """Personal accounts: 25 MB of attachments, whatever the message size limit."""
    personal = MessageLimits(max_attachments_size=PERSONAL_MAX_ATTACHMENTS)
    check_message_limits(
        message(Attachment("a.bin", "x", b"", PERSONAL_MAX_ATTACHMENTS)), personal
    )
    with pytest.raises(PersonalAttachmentsTooLargeError, match=r"Outlook\.com"):
        check_message_limits(
            message(
                Attachment("a.bin", "x", b"", 20_000_000),
                Attachment("b.bin", "x", b"", 5_000_001),
            ),
            personal,
        )
