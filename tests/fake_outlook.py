"""A fake Outlook for drafts and upload sessions, as strict as Microsoft documents.

Shared by the Graph client's tests and Home Assistant-level tests.
"""

from __future__ import annotations

from collections.abc import Callable
import hashlib
import json
import re
from typing import Any

import aiohttp
from aioresponses import CallbackResult
from yarl import URL

from tests.conftest import MAILBOX, GraphMock, users_url

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
    """Drafts and upload sessions on aioresponses, as strict as Outlook documents.

    Upload URLs take PUT and DELETE only (a GET is refused and counted);
    chunks must come in order (an out-of-place chunk is refused without
    saying where the session stands); createUploadSession refuses files
    under ``min_upload``.
    """

    def __init__(
        self,
        graph_mock: GraphMock,
        *,
        draft_status: int = 201,
        min_upload: int = 2 * 1024 * 1024,
        mailbox_url: Callable[..., URL] = lambda *segments: users_url(
            MAILBOX, *segments
        ),
    ) -> None:
        self.mock = graph_mock
        self.url = mailbox_url
        self.min_upload = min_upload
        self.sessions: dict[str, dict[str, Any]] = {}
        self.puts: list[dict[str, Any]] = []
        self.draft: dict[str, Any] | None = None
        self.attachments: list[dict[str, Any]] = []
        #: PUT numbers (1-based) refused with 503, nothing stored.
        self.fail_put_at: set[int] = set()
        #: PUT numbers whose chunk is stored, then answered 504 (answer lost).
        self.lose_answer_at: set[int] = set()
        #: PUT numbers whose connection drops before anything is stored.
        self.drop_put_at: set[int] = set()
        #: PUT numbers answered ErrorMessageSizeExceeded (seen mid-upload).
        self.size_exceeded_at: set[int] = set()
        #: Extra members of chunk error bodies (Outlook documents none).
        self.error_extra: dict[str, Any] = {}
        self.status_requests = 0
        self.send_unreachable = False
        self.deleted: list[str] = []
        graph_mock.graph(
            "POST",
            mailbox_url("messages"),
            status=draft_status,
            payload={"id": DRAFT_ID},
            code="ErrorAccessDenied" if draft_status == 403 else None,
        )
        graph_mock.mocked.post(
            mailbox_url("messages", DRAFT_ID, "attachments"),
            callback=self._add_attachment,
            repeat=True,
        )
        graph_mock.mocked.post(
            mailbox_url("messages", DRAFT_ID, "attachments", "createUploadSession"),
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
            mailbox_url("messages", DRAFT_ID, "send"),
            callback=lambda url, **kw: self._send(url, **kw),  # noqa: PLW0108
            repeat=True,
        )
        graph_mock.mocked.delete(
            mailbox_url("messages", DRAFT_ID), callback=self._delete, repeat=True
        )

    def _add_attachment(self, url: URL, **kwargs: Any) -> CallbackResult:
        body = kwargs["data"]
        if len(body) > 4 * 1024 * 1024:
            return CallbackResult(status=413, payload={"error": {"code": "TooBig"}})
        self.attachments.append(json.loads(body))
        return CallbackResult(status=201, payload={"id": "att"})

    def _create_session(self, url: URL, **kwargs: Any) -> CallbackResult:
        item = json.loads(kwargs["data"])["AttachmentItem"]
        if item["size"] < self.min_upload:
            return CallbackResult(
                status=400,
                payload={
                    "error": {
                        "code": "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                        "message": "Attachment size must be greater than the minimum size.",
                    }
                },
            )
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

    def _error(self, status: int, code: str) -> CallbackResult:
        return CallbackResult(
            status=status,
            payload={"error": {"code": code, "message": code}, **self.error_extra},
        )

    def _put(self, url: URL, **kwargs: Any) -> CallbackResult:
        session = self._session(url)
        headers = kwargs["headers"]
        # aioresponses joins the streamed pieces of the body.
        body: bytes = kwargs["data"]
        assert int(headers["Content-Length"]) == len(body)
        assert "Authorization" not in headers
        self.puts.append({"headers": dict(headers), "size": len(body)})
        number = len(self.puts)
        if number in self.drop_put_at:
            raise aiohttp.ClientConnectionError("connection reset")
        if number in self.fail_put_at:
            return self._error(503, "ServiceUnavailable")
        if number in self.size_exceeded_at:
            return self._error(400, "ErrorMessageSizeExceeded")
        start, end, total = map(
            int,
            re.fullmatch(r"bytes (\d+)-(\d+)/(\d+)", headers["Content-Range"]).groups(),
        )
        if start != len(session["data"]):
            return self._error(416, "ErrorInvalidContentRange")
        assert end - start + 1 == len(body) <= 4 * 1024 * 1024
        assert total == session["item"]["size"]
        session["data"] += body
        if number in self.lose_answer_at:
            return self._error(504, "GatewayTimeout")
        if end + 1 == total:
            session["done"] = True
            return CallbackResult(status=201)
        # Outlook sends the next offset alone (OneDrive would say "N-").
        return CallbackResult(
            status=200, payload={"nextExpectedRanges": [f"{end + 1}"]}
        )

    def _status(self, url: URL, **kwargs: Any) -> CallbackResult:
        # Outlook documents no GET on upload URLs.
        self.status_requests += 1
        return self._error(405, "ErrorInvalidRequest")

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
            if url == self.url("messages")
        ]
        return data
