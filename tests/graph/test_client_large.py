"""Tests of large messages: drafts, upload sessions in chunks, limits, clean-up."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
import re
from typing import Any

import aiohttp
from aioresponses import CallbackResult
import pytest
from yarl import URL

from custom_components.o365.graph import (
    Attachment,
    AttachmentTooLargeError,
    EmailAddress,
    GraphClient,
    GraphError,
    GraphTransientError,
    MailReadWriteRequiredError,
    Message,
    MessageTooLargeError,
    O365ConnectionError,
    RetryPolicy,
)
from custom_components.o365.graph.client import (
    MAX_ATTACHMENT_SIZE,
    UPLOAD_CHUNK_SIZE,
    check_message_limits,
    fits_in_one_request,
)
from tests.conftest import MAILBOX, GraphMock, users_url

from .conftest import FakeTokens

DRAFT_ID = "AAMkAD=draft/1"
UPLOAD = "https://outlook.office.com/api/v2.0/Users('x')/Messages('m')/AttachmentSessions('s{n}')"
UPLOAD_RE = re.compile(
    r"^https://outlook\.office\.com/api/v2\.0/.*AttachmentSessions.*"
)


async def no_sleep(delay: float) -> None:
    return None


def payload(size: int, seed: int = 0) -> bytes:
    block = hashlib.sha256(str(seed).encode()).digest()
    return (block * (size // len(block) + 1))[:size]


class FakeOutlook:
    """Drafts and upload sessions, strict about ranges, on aioresponses."""

    def __init__(self, graph_mock: GraphMock, *, draft_status: int = 201) -> None:
        self.mock = graph_mock
        self.sessions: dict[str, dict[str, Any]] = {}
        self.puts: list[dict[str, Any]] = []
        self.draft: dict[str, Any] | None = None
        self.attachments: list[dict[str, Any]] = []
        self.fail_put_at: set[int] = set()
        self.drop_put_at: set[int] = set()
        self.status_unreachable = False
        self.send_unreachable = False
        self.deleted: list[str] = []
        graph_mock.graph(
            "POST",
            users_url(MAILBOX, "messages"),
            status=draft_status,
            payload={"id": DRAFT_ID},
            code="ErrorAccessDenied" if draft_status == 403 else None,
        )
        graph_mock.mocked.post(
            users_url(MAILBOX, "messages", DRAFT_ID, "attachments"),
            callback=self._add_attachment,
            repeat=True,
        )
        graph_mock.mocked.post(
            users_url(
                MAILBOX, "messages", DRAFT_ID, "attachments", "createUploadSession"
            ),
            callback=self._create_session,
            repeat=True,
        )
        # Through lambdas, so that a test can replace a handler.
        graph_mock.mocked.put(
            UPLOAD_RE,
            callback=lambda url, **kw: self._put(url, **kw),  # noqa: PLW0108
            repeat=True,
        )
        graph_mock.mocked.get(UPLOAD_RE, callback=self._status, repeat=True)
        graph_mock.mocked.delete(UPLOAD_RE, callback=self._cancel, repeat=True)
        graph_mock.mocked.post(
            users_url(MAILBOX, "messages", DRAFT_ID, "send"),
            callback=lambda url, **kw: self._send(url, **kw),  # noqa: PLW0108
            repeat=True,
        )
        graph_mock.mocked.delete(
            users_url(MAILBOX, "messages", DRAFT_ID), callback=self._delete, repeat=True
        )

    def _add_attachment(self, url: URL, **kwargs: Any) -> CallbackResult:
        self.attachments.append(json.loads(kwargs["data"]))
        return CallbackResult(status=201, payload={"id": "att"})

    def _create_session(self, url: URL, **kwargs: Any) -> CallbackResult:
        item = json.loads(kwargs["data"])["AttachmentItem"]
        number = len(self.sessions)
        upload_url = f"{UPLOAD.format(n=number)}?authtoken=secret-upload-token"
        self.sessions[str(number)] = {"item": item, "data": bytearray(), "done": False}
        return CallbackResult(
            status=201,
            payload={"uploadUrl": upload_url, "nextExpectedRanges": ["0-"]},
        )

    def _session(self, url: URL) -> dict[str, Any]:
        number = re.search(r"AttachmentSessions\('s(\d+)'\)", str(url))
        assert number
        assert url.query.get("authtoken") == "secret-upload-token"
        return self.sessions[number.group(1)]

    def _put(self, url: URL, **kwargs: Any) -> CallbackResult:
        session = self._session(url)
        headers = kwargs["headers"]
        # aioresponses joins the streamed pieces of the body.
        body: bytes = kwargs["data"]
        assert int(headers["Content-Length"]) == len(body)
        self.puts.append({"headers": dict(headers), "size": len(body)})
        if len(self.puts) in self.drop_put_at:
            raise aiohttp.ClientConnectionError("connection reset")
        start, end, total = map(
            int,
            re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers["Content-Range"]).groups(),
        )
        if len(self.puts) in self.fail_put_at:
            # The server kept the first half of the chunk before failing.
            session["data"] += body[: len(body) // 2]
            return CallbackResult(status=503)
        assert "Authorization" not in headers
        assert start == len(session["data"])
        assert end - start + 1 == len(body) <= 4 * 1024 * 1024
        assert total == session["item"]["size"]
        session["data"] += body
        if end + 1 == total:
            session["done"] = True
            return CallbackResult(status=201)
        # Outlook sends the next offset alone (OneDrive would say "N-").
        return CallbackResult(
            status=200, payload={"nextExpectedRanges": [f"{end + 1}"]}
        )

    def _status(self, url: URL, **kwargs: Any) -> CallbackResult:
        if self.status_unreachable:
            raise aiohttp.ClientConnectionError("unreachable")
        session = self._session(url)
        return CallbackResult(
            status=200, payload={"nextExpectedRanges": [f"{len(session['data'])}-"]}
        )

    def _cancel(self, url: URL, **kwargs: Any) -> CallbackResult:
        self._session(url)["cancelled"] = True
        return CallbackResult(status=204)

    def _send(self, url: URL, **kwargs: Any) -> CallbackResult:
        if self.send_unreachable:
            raise aiohttp.ClientConnectionError("unreachable")
        return CallbackResult(status=202)

    def _delete(self, url: URL, **kwargs: Any) -> CallbackResult:
        self.deleted.append(DRAFT_ID)
        return CallbackResult(status=204)

    @property
    def draft_json(self) -> dict[str, Any]:
        (data,) = [
            json.loads(kwargs["data"])
            for url, kwargs in self.mock.calls("POST", "/messages")
            if url == users_url(MAILBOX, "messages")
        ]
        return data


def graph_client(session: aiohttp.ClientSession, tokens: FakeTokens) -> GraphClient:
    return GraphClient(session, tokens, retry=RetryPolicy(), sleep=no_sleep)


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
    receipt = await graph_client(session, tokens).send_mail(MAILBOX, message(clip))
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
        MAILBOX,
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
    await graph_client(session, tokens).send_mail(MAILBOX, message(*files))
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
            MAILBOX, message(Attachment.from_bytes("big.bin", big))
        )
    assert outlook.deleted == [DRAFT_ID]
    (upload,) = outlook.sessions.values()
    assert upload.get("cancelled") is True
    assert graph_mock.calls("POST", "/send") == []


async def test_chunk_failure_resumes_where_the_session_says(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """A failed chunk is not resent blindly: the upload asks and resumes there."""
    outlook = FakeOutlook(graph_mock)
    outlook.fail_put_at = {2}
    big = payload(9_000_000)
    await graph_client(session, tokens).send_mail(
        MAILBOX, message(Attachment.from_bytes("big.bin", big))
    )
    (upload,) = outlook.sessions.values()
    assert bytes(upload["data"]) == big
    resumed_at = UPLOAD_CHUNK_SIZE + UPLOAD_CHUNK_SIZE // 2
    assert outlook.puts[2]["headers"]["Content-Range"].startswith(
        f"bytes {resumed_at}-"
    )
    assert len(graph_mock.calls("GET", "AttachmentSessions")) == 1
    assert outlook.deleted == []


async def test_upload_status_unreachable_gives_up(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """When the session cannot say where it stands, the upload gives up cleanly."""
    outlook = FakeOutlook(graph_mock)
    outlook.fail_put_at = {1}
    outlook.status_unreachable = True
    with pytest.raises(GraphTransientError):
        await graph_client(session, tokens).send_mail(
            MAILBOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )
    assert outlook.deleted == [DRAFT_ID]


async def test_put_connection_error_resumes(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    outlook = FakeOutlook(graph_mock)
    outlook.drop_put_at = {1}
    big = payload(4_000_000)
    await graph_client(session, tokens).send_mail(
        MAILBOX, message(Attachment.from_bytes("big.bin", big))
    )
    (upload,) = outlook.sessions.values()
    assert bytes(upload["data"]) == big
    assert [p["headers"]["Content-Range"] for p in outlook.puts][1].startswith(
        "bytes 0-"
    )


async def test_draft_refused_needs_mail_readwrite(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    FakeOutlook(graph_mock, draft_status=403)
    with pytest.raises(MailReadWriteRequiredError, match=r"Mail\.ReadWrite"):
        await graph_client(session, tokens).send_mail(
            MAILBOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )


async def test_over_150_mb_refused_before_any_request(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    tmp_path: Path,
) -> None:
    path = tmp_path / "huge.bin"
    with path.open("wb") as file:
        file.truncate(151 * 1024 * 1024)
    huge = Attachment("huge.bin", "application/octet-stream", path, path.stat().st_size)
    with pytest.raises(AttachmentTooLargeError) as info:
        await graph_client(session, tokens).send_mail(MAILBOX, message(huge))
    assert info.value.name == "huge.bin"
    assert info.value.limit == MAX_ATTACHMENT_SIZE
    assert graph_mock.mocked.requests == {}


async def test_over_the_message_limit_refused(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    files = [Attachment("a.bin", "x", b"", 20 * 1024 * 1024) for _ in range(2)]
    with pytest.raises(MessageTooLargeError):
        await graph_client(session, tokens).send_mail(MAILBOX, message(*files))
    assert graph_mock.mocked.requests == {}


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
        await graph_client(session, tokens).send_mail(MAILBOX, message(clip))
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
        MAILBOX, message(Attachment("report.pdf", "application/pdf", path, 8))
    )
    ((_, kwargs),) = graph_mock.calls("POST", "/sendMail")
    (attachment,) = json.loads(kwargs["data"])["message"]["attachments"]
    assert attachment["contentBytes"] == "JVBERi0xLjc="
    path.write_bytes(b"short")
    with pytest.raises(Exception, match="changed"):
        await graph_client(session, tokens).send_mail(
            MAILBOX, message(Attachment("report.pdf", "application/pdf", path, 8))
        )


async def test_connection_lost_during_send_deletes_draft(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    outlook = FakeOutlook(graph_mock)
    outlook.send_unreachable = True
    with pytest.raises(O365ConnectionError):
        await graph_client(session, tokens).send_mail(
            MAILBOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
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
        MAILBOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
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
            MAILBOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )


async def test_upload_that_makes_no_progress_gives_up(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    outlook = FakeOutlook(graph_mock)

    def stuck(url: URL, **kwargs: Any) -> CallbackResult:
        outlook.puts.append({"headers": kwargs["headers"]})
        return CallbackResult(status=200, payload={"nextExpectedRanges": ["0-"]})

    outlook._put = stuck  # type: ignore[method-assign]
    with pytest.raises(GraphTransientError, match="no progress"):
        await graph_client(session, tokens).send_mail(
            MAILBOX, message(Attachment.from_bytes("big.bin", payload(4_000_000)))
        )
    assert len(outlook.puts) == 4
    assert outlook.deleted == [DRAFT_ID]


def test_message_limit_counts_the_encoded_size() -> None:
    """Exchange measures what it sends: 27 MB of files is 36 MB encoded."""
    files = (Attachment("a.bin", "x", b"", 27 * 1024 * 1024),)
    with pytest.raises(MessageTooLargeError, match="once encoded"):
        check_message_limits(message(*files))
    check_message_limits(message(Attachment("b.bin", "x", b"", 26 * 1024 * 1024)))
