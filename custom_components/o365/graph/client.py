"""Microsoft Graph mail client: requests, retries, sendMail, drafts and uploads.

One :class:`GraphClient` serves one account. It takes the
:class:`~.settings.GraphSettings` (session, endpoints, how to wait) and a
token provider, and knows nothing of Home Assistant, nor of how the token is
obtained: an app-only account sends as ``/users/{mailbox}``, a signed-in
account as ``/me`` or as a shared mailbox it may send as (a
:class:`Mailbox`); the requests are otherwise the same.

Every request goes through :meth:`GraphClient._request`, which holds a slot of
a :class:`RequestLimiter` while on the wire (Outlook allows four concurrent
requests per app, so accounts sharing an app registration share a limiter),
renews the token once after a 401, and retries what is safe to repeat for
that operation (see :class:`Retry`) with the one retry loop of
:mod:`.retry`.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
import contextlib
from dataclasses import dataclass, field
import json
import logging
import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import quote
import uuid

import aiohttp
import orjson
from yarl import URL

from .auth import AccessTokenProvider
from .exceptions import (
    TRANSIENT_STATUSES,
    AccessDeniedError,
    AttachmentTooLargeError,
    AttachmentTooSmallError,
    GraphError,
    GraphTransientError,
    MailReadWriteRequiredError,
    MessageTooLargeError,
    O365ConnectionError,
    O365Error,
    PersonalAttachmentsTooLargeError,
    graph_error_from_response,
)
from .message import Attachment, Message, base64_size
from .retry import NO_RETRY, RetryPolicy, TryAgain, parse_retry_after, retry
from .settings import GraphSettings, RunBlocking

_LOGGER = logging.getLogger(__name__)

GRAPH_VERSION = "v1.0"
#: Graph refuses requests over 4 MB; stay a little under.
MAX_REQUEST_BYTES = 4_000_000
#: A file attachment inside a request must stay under 3 MB; bigger ones go
#: through an upload session ("attachment: createUploadSession",
#: microsoft-graph-docs-contrib api-reference/v1.0/api/attachment-createuploadsession.md).
MAX_EMBEDDED_ATTACHMENT = 3_000_000
#: What a request may really carry (4 MiB): only the fallback for files an
#: upload session refuses as too small uses the margin above MAX_REQUEST_BYTES.
MAX_REQUEST_BYTES_HARD = 4 * 1024 * 1024
#: Graph's limit for one attachment: "150 MB", read strictly as 10^6 bytes
#: (whether MB means 10^6 or 2^20 is not documented).
MAX_ATTACHMENT_SIZE = 150_000_000
#: Exchange Online's default message size limit (admins may raise it to 150 MB).
DEFAULT_MAX_MESSAGE_SIZE = 35 * 1024 * 1024
#: Outlook.com takes 25 MB of attachments per message (support article
#: "Sending limits in Outlook.com"); read as 10^6 bytes, the stricter reading.
PERSONAL_MAX_ATTACHMENTS = 25_000_000
#: Upload chunk: a multiple of 320 KiB under 4 MB, as Microsoft recommends.
UPLOAD_CHUNK_SIZE = 3_932_160
#: Outlook allows four concurrent requests per app (some versions of
#: Microsoft's throttling page say per app and mailbox: the stricter reading).
MAX_CONCURRENT_REQUESTS = 4
#: Encode message JSON off the event loop above this many attachment bytes.
ENCODE_IN_EXECUTOR_ABOVE = 1_000_000
#: How many upload sessions one attachment may use when an upload loses its
#: place (the first one included).
MAX_UPLOAD_SESSIONS = 3
#: A chunk is read and sent in pieces of this size: memory holds one piece.
UPLOAD_PIECE_SIZE = 256 * 1024

REQUEST_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=45)
#: The longest one Graph request may take, its retries and waits included.
REQUEST_DEADLINE = 60.0
_JSON_OVERHEAD = 512


@dataclass(frozen=True, slots=True)
class ErrorRecord:
    """One failed Graph request, kept for diagnostics."""

    at: float
    operation: str
    status: int | None
    code: str | None
    request_id: str | None
    message: str


@dataclass(slots=True)
class GraphStats:
    """Counters of one client, for diagnostics and benchmarks."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    token_refreshes: int = 0
    last_errors: deque[ErrorRecord] = field(default_factory=lambda: deque(maxlen=10))


@dataclass(frozen=True, slots=True)
class SendReceipt:
    """How a message left: one ``sendMail`` or a draft with uploads."""

    method: Literal["sendMail", "draft"]
    request_id: str | None


@dataclass(frozen=True, slots=True)
class GraphUser:
    """The directory entry of a mailbox."""

    id: str
    mail: str | None
    user_principal_name: str | None
    display_name: str | None


@dataclass(frozen=True, slots=True)
class Mailbox:
    """Where the sending mailbox is in Graph.

    App-only tokens name it: ``/users/{id or address}``. A signed-in
    account's token is the mailbox: ``/me`` (which app-only tokens cannot use).
    """

    #: The user's object ID or address; None for the signed-in user (``/me``).
    user: str | None = None

    @classmethod
    def signed_in(cls) -> Mailbox:
        """Return the signed-in user's mailbox (``/me``)."""
        return cls(None)

    @property
    def segments(self) -> tuple[str, ...]:
        """Return the path segments under the Graph version."""
        return ("me",) if self.user is None else ("users", self.user)

    def __str__(self) -> str:
        """Return the user, or ``me``."""
        return self.user if self.user is not None else "me"


@dataclass(frozen=True, slots=True)
class Retry:
    """What may be retried at once for one kind of request.

    ``statuses`` are the answers worth another try; ``after_send`` says
    whether a connection that failed after the request went out may be
    retried (it may have been processed). A connection that failed before
    anything was sent is always retried.
    """

    statuses: frozenset[int]
    after_send: bool


#: Reads, deletes and the creation of drafts and upload sessions: repeating
#: them can leave an unused draft or session at worst, never a second mail.
REPEATABLE = Retry(TRANSIENT_STATUSES, after_send=True)
#: sendMail and a draft's send: what Microsoft's SDK retries (429, 503, 504;
#: msgraph-sdk-python-core RetryHandler). After a 504 or a reset Graph may
#: have accepted the mail, so a retry may duplicate it: better than a lost
#: alert. A 500 or 502 is not retried here: the message goes to the outbox,
#: which tries again later (it may duplicate too, see the README).
SEND = Retry(frozenset({429, 503, 504}), after_send=True)
#: Adding an attachment to a draft: only what was surely not processed, or
#: the file could be attached twice.
REFUSED_ONLY = Retry(frozenset({429, 503}), after_send=False)


class RequestLimiter:
    """Bounds the requests in flight for one app registration.

    Outlook counts its concurrency limit per application ("Microsoft Graph
    throttling limits", Outlook service limits), so every account signing in
    with the same client ID (same cloud and tenant) shares one limiter; upload
    requests count too.
    """

    def __init__(self, limit: int = MAX_CONCURRENT_REQUESTS) -> None:
        """Allow ``limit`` requests at once."""
        self.limit = limit
        self._slots = asyncio.Semaphore(limit)
        self.in_flight = 0
        self.max_in_flight = 0

    async def __aenter__(self) -> None:
        """Wait for a slot."""
        await self._slots.acquire()
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)

    async def __aexit__(self, *exc: object) -> None:
        """Give the slot back."""
        self.in_flight -= 1
        self._slots.release()


class _UploadPositionLostError(Exception):
    """An upload session can no longer say where to resume: start a new one."""


@dataclass(frozen=True, slots=True)
class _Reply:
    status: int
    body: bytes
    headers: Any
    token: str | None

    @property
    def request_id(self) -> str | None:
        value = self.headers.get("request-id") or self.headers.get("client-request-id")
        return str(value) if value else None

    def json(self) -> Any:
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def error(self, now: float) -> GraphError:
        return graph_error_from_response(
            self.status,
            self.json(),
            request_id=self.request_id,
            retry_after=parse_retry_after(self.headers.get("Retry-After"), now),
        )


@dataclass(frozen=True, slots=True)
class MessageLimits:
    """What one mailbox accepts per message."""

    #: The message as sent (attachments base64-encoded), in bytes.
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    #: The raw bytes of all attachments, when the mailbox limits them
    #: (Outlook.com: PERSONAL_MAX_ATTACHMENTS).
    max_attachments_size: int | None = None


def check_message_limits(message: Message, limits: MessageLimits) -> None:
    """Raise a :class:`MessageLimitError` if the mailbox would refuse the message.

    :meth:`GraphClient.send_mail` takes messages that passed this check.
    """
    for attachment in message.attachments:
        if attachment.size > MAX_ATTACHMENT_SIZE:
            raise AttachmentTooLargeError(
                f"{attachment.name} is {attachment.size} bytes, over the "
                f"{MAX_ATTACHMENT_SIZE} bytes Graph accepts per attachment",
                name=attachment.name,
                limit=MAX_ATTACHMENT_SIZE,
            )
    total = message.attachments_size
    if limits.max_attachments_size is not None and total > limits.max_attachments_size:
        raise PersonalAttachmentsTooLargeError(
            f"The attachments total {total} bytes, over the "
            f"{limits.max_attachments_size} bytes Outlook.com accepts per message",
            name=None,
            limit=limits.max_attachments_size,
        )
    # Exchange measures the message as sent: attachments base64-encoded.
    encoded = base64_size(total)
    if encoded > limits.max_message_size:
        raise MessageTooLargeError(
            f"The attachments total {total} bytes, {encoded} once encoded for "
            f"email, over the {limits.max_message_size} bytes message size limit",
            name=None,
            limit=limits.max_message_size,
        )


def _estimated_size(message: Message, attachments: Iterable[Attachment]) -> int:
    """Return an upper estimate of the JSON size of a message with attachments."""
    size = len(_dumps(message.to_graph(()))) + _JSON_OVERHEAD
    return size + sum(_attachment_size(attachment) for attachment in attachments)


def _attachment_size(attachment: Attachment) -> int:
    """Return an upper estimate of one file attachment's JSON size."""
    return (
        base64_size(attachment.size)
        + len(attachment.name.encode()) * 2
        + len(attachment.content_type)
        + len(attachment.content_id or "")
        + 200
    )


def fits_in_one_request(message: Message) -> bool:
    """Return True when ``sendMail`` can carry the message and all its files."""
    if any(a.size > MAX_EMBEDDED_ATTACHMENT for a in message.attachments):
        return False
    return _estimated_size(message, message.attachments) <= MAX_REQUEST_BYTES


def _dumps(value: Any) -> bytes:
    """Return compact UTF-8 JSON (orjson: a 200 KB message in a quarter of the time)."""
    return orjson.dumps(value)


def _next_expected_offset(body: Any) -> int | None:
    """Return where an upload session wants the next bytes, if it says."""
    if not isinstance(body, dict):
        return None
    ranges = body.get("nextExpectedRanges") or body.get("NextExpectedRanges")
    if not isinstance(ranges, list) or not ranges:
        return None
    start = str(ranges[0]).split("-", 1)[0]
    return int(start) if start.isdigit() else None


class _ChunkReader:
    """Reads an attachment's bytes at an offset: from memory or from its file."""

    def __init__(self, attachment: Attachment, run_blocking: RunBlocking) -> None:
        self._content = attachment.content
        self._size = attachment.size
        self._run_blocking = run_blocking
        self._fd: int | None = None

    async def open(self) -> None:
        """Open the file (if any) and check it still has the announced size."""
        if isinstance(self._content, bytes):
            return
        path = self._content

        def open_checked() -> int:
            fd = os.open(path, os.O_RDONLY)
            if os.fstat(fd).st_size != self._size:
                os.close(fd)
                raise O365Error(f"{path.name} changed before it was sent")
            return fd

        self._fd = await self._run_blocking(open_checked)

    async def read(self, offset: int, length: int) -> bytes:
        if isinstance(self._content, bytes):
            return self._content[offset : offset + length]
        fd = self._fd
        if fd is None:
            raise O365Error("The file is not open")
        data: bytes = await self._run_blocking(lambda: os.pread(fd, length, offset))
        if len(data) != length:
            raise O365Error("The file changed while it was being sent")
        return data

    async def stream(self, offset: int, length: int) -> AsyncIterator[bytes]:
        """Yield ``length`` bytes from ``offset`` in pieces, each read when sent."""
        end = offset + length
        while offset < end:
            piece = await self.read(offset, min(UPLOAD_PIECE_SIZE, end - offset))
            yield piece
            offset += len(piece)

    async def close(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            await self._run_blocking(lambda: os.close(fd))


class GraphClient:
    """Sends mail through Microsoft Graph for one account."""

    def __init__(
        self,
        settings: GraphSettings,
        tokens: AccessTokenProvider,
        *,
        retry: RetryPolicy | None = None,
        limiter: RequestLimiter | None = None,
    ) -> None:
        """Send through the settings' session with bearer tokens from ``tokens``.

        ``limiter`` is shared by the clients of one app registration; by
        default the client has its own.
        """
        self.settings = settings
        self._tokens = tokens
        self._base = f"{settings.endpoints.graph_url.rstrip('/')}/{GRAPH_VERSION}"
        self._retry = retry or RetryPolicy()
        self.limiter = limiter or RequestLimiter()
        self.stats = GraphStats()

    # -- public API ---------------------------------------------------------

    async def send_mail(
        self, mailbox: Mailbox, message: Message, *, save_to_sent_items: bool = True
    ) -> SendReceipt:
        """Send ``message`` (checked with :func:`check_message_limits`) from ``mailbox``.

        A message that fits in one request goes out with one ``sendMail``.
        Bigger ones become a draft, their large files are uploaded in chunks
        and the draft is sent; a failure on the way deletes the draft.
        """
        if not fits_in_one_request(message):
            return await self._send_with_draft(mailbox, message)
        attachments = await self._load(message.attachments)
        payload = await self._encode(
            lambda: {
                "message": message.to_graph(attachments),
                "saveToSentItems": save_to_sent_items,
            },
            message.attachments_size,
        )
        reply = await self._request(
            "POST",
            self._url(mailbox, "sendMail"),
            "sendMail",
            body=payload,
            ok=(200, 202),
            retry_on=SEND,
        )
        return SendReceipt("sendMail", reply.request_id)

    async def get_user(self, mailbox: Mailbox) -> GraphUser:
        """Return the directory entry of a mailbox.

        ``/users/{id}`` needs ``User.Read.All`` (app-only); ``/me`` needs the
        delegated ``User.Read``.
        """
        url = self._url(mailbox).with_query(
            {"$select": "id,mail,userPrincipalName,displayName"}
        )
        reply = await self._request("GET", url, "getUser", ok=(200,))
        data = reply.json() or {}
        return GraphUser(
            id=str(data.get("id") or mailbox),
            mail=data.get("mail"),
            user_principal_name=data.get("userPrincipalName"),
            display_name=data.get("displayName"),
        )

    async def get(
        self, path: str, operation: str, *, query: dict[str, str] | None = None
    ) -> Any:
        """GET a Graph resource under the version root (e.g. ``applications(...)``).

        ``path`` is used as given: percent-encode what goes into it.
        """
        url = URL(f"{self._base}/{path}", encoded=True)
        if query:
            url = url.with_query(query)
        reply = await self._request("GET", url, operation, ok=(200,))
        return reply.json()

    # -- the large-message path ----------------------------------------------

    async def _send_with_draft(self, mailbox: Mailbox, message: Message) -> SendReceipt:
        small = [a for a in message.attachments if a.size <= MAX_EMBEDDED_ATTACHMENT]
        large = [a for a in message.attachments if a.size > MAX_EMBEDDED_ATTACHMENT]
        budget = MAX_REQUEST_BYTES - _estimated_size(message, ())
        in_draft: list[Attachment] = []
        one_by_one: list[Attachment] = []
        for attachment in small:
            cost = _estimated_size(message, (attachment,)) - _estimated_size(
                message, ()
            )
            if cost <= budget:
                in_draft.append(attachment)
                budget -= cost
            else:
                one_by_one.append(attachment)

        loaded = await self._load(in_draft)
        payload = await self._encode(
            lambda: message.to_graph(loaded), sum(a.size for a in in_draft)
        )
        try:
            reply = await self._request(
                "POST",
                self._url(mailbox, "messages"),
                "createDraft",
                body=payload,
                ok=(200, 201),
            )
        except AccessDeniedError as err:
            raise MailReadWriteRequiredError(
                err.status,
                err.code,
                "Creating a draft was refused: messages over 4 MB need the "
                "Mail.ReadWrite permission",
                request_id=err.request_id,
            ) from err
        draft_id = str((reply.json() or {}).get("id") or "")
        if not draft_id:
            raise GraphTransientError(
                reply.status, None, "The draft has no id", request_id=reply.request_id
            )
        try:
            for attachment in one_by_one:
                await self._add_attachment(mailbox, draft_id, attachment)
            for attachment in large:
                try:
                    await self._upload(mailbox, draft_id, attachment)
                except AttachmentTooSmallError:
                    # Microsoft documents upload sessions from "3 MB"; some
                    # tenants refuse files under that (2 MiB has also been
                    # seen). A file between the readings fits one request.
                    # The attachment goes alone, without the message.
                    if (
                        _attachment_size(attachment) + _JSON_OVERHEAD
                        > MAX_REQUEST_BYTES_HARD
                    ):
                        raise
                    await self._add_attachment(mailbox, draft_id, attachment)
            sent = await self._request(
                "POST",
                self._url(mailbox, "messages", draft_id, "send"),
                "sendDraft",
                ok=(200, 202),
                # Graph may have sent it before a 504 or a reset: the retry
                # then finds no draft.
                ok_after_retry=(404,),
                retry_on=SEND,
            )
        except BaseException:
            await asyncio.shield(self._delete_draft(mailbox, draft_id))
            raise
        return SendReceipt("draft", sent.request_id)

    async def _add_attachment(
        self, mailbox: Mailbox, draft_id: str, attachment: Attachment
    ) -> None:
        """POST one file attachment (with its bytes) to a draft."""
        (item,) = await self._load((attachment,))
        body = await self._encode(item.to_graph, item.size)
        await self._request(
            "POST",
            self._url(mailbox, "messages", draft_id, "attachments"),
            "addAttachment",
            body=body,
            ok=(200, 201),
            retry_on=REFUSED_ONLY,
        )

    async def _delete_draft(self, mailbox: Mailbox, draft_id: str) -> None:
        """Delete a draft that could not be sent (best effort, no retries)."""
        with contextlib.suppress(O365Error):
            await self._request(
                "DELETE",
                self._url(mailbox, "messages", draft_id),
                "deleteDraft",
                ok=(200, 204, 404),
                retry_policy=NO_RETRY,
            )

    async def _upload(
        self, mailbox: Mailbox, draft_id: str, attachment: Attachment
    ) -> None:
        """Attach a large file to a draft through an upload session.

        Outlook documents only ``PUT`` (chunks) and ``DELETE`` (cancel) on an
        upload URL (microsoft-graph-docs-contrib
        concepts/outlook-large-attachments.md); the status ``GET`` is
        OneDrive's. So an upload resumes from what the last successful chunk
        answered, and when that is no longer known (a resent chunk refused),
        it starts again in a new session, at most MAX_UPLOAD_SESSIONS times.
        """
        reader = _ChunkReader(attachment, self.settings.run_blocking)
        await reader.open()
        try:
            for _ in range(MAX_UPLOAD_SESSIONS):
                url = await self._create_upload_session(mailbox, draft_id, attachment)
                try:
                    await self._upload_chunks(url, attachment, reader)
                except _UploadPositionLostError:
                    await asyncio.shield(self._cancel_upload(url))
                    continue
                except BaseException:
                    await asyncio.shield(self._cancel_upload(url))
                    raise
                return
            raise GraphTransientError(
                0, None, f"The upload of {attachment.name} kept losing its place"
            )
        finally:
            await reader.close()

    async def _create_upload_session(
        self, mailbox: Mailbox, draft_id: str, attachment: Attachment
    ) -> URL:
        reply = await self._request(
            "POST",
            self._url(
                mailbox, "messages", draft_id, "attachments", "createUploadSession"
            ),
            "createUploadSession",
            body=_dumps({"AttachmentItem": attachment.to_upload_item()}),
            ok=(200, 201),
        )
        upload_url = (reply.json() or {}).get("uploadUrl")
        if not isinstance(upload_url, str) or not upload_url.startswith("https://"):
            raise GraphTransientError(
                reply.status, None, "The upload session has no https uploadUrl"
            )
        # The upload URL is pre-authenticated: it must never be logged.
        return URL(upload_url, encoded=True)

    async def _upload_chunks(
        self, url: URL, attachment: Attachment, reader: _ChunkReader
    ) -> None:
        """PUT the file in chunks; raise _UploadPositionLostError when the place is lost."""
        # A new session expects the first byte (nextExpectedRanges ["0-"]).
        offset = 0
        while offset < attachment.size:
            offset = await self._upload_chunk(url, attachment.size, reader, offset)

    async def _upload_chunk(
        self, url: URL, total: int, reader: _ChunkReader, offset: int
    ) -> int:
        """PUT the chunk at ``offset`` (retried); return where the next one starts."""
        length = min(UPLOAD_CHUNK_SIZE, total - offset)
        headers = {
            "Content-Range": f"bytes {offset}-{offset + length - 1}/{total}",
            "Content-Length": str(length),
            "Content-Type": "application/octet-stream",
        }
        #: An earlier try of this chunk may have been stored (504, reset after
        #: sending): a refusal of the resend then means "already there".
        uncertain = False

        async def attempt(_: int) -> int:
            nonlocal uncertain
            try:
                reply = await self._send_once(
                    "PUT",
                    url,
                    "uploadChunk",
                    reader.stream(offset, length),
                    headers,
                    authorize=False,
                )
            except O365ConnectionError as err:
                self._record("uploadChunk", err)
                uncertain = uncertain or not err.unsent
                raise TryAgain(err) from None
            if reply.status in (200, 201, 202):
                if reply.status == 201 or offset + length >= total:
                    return total
                # Where the session wants the next bytes (documented for a
                # successful chunk); without it, right after this one.
                expected = _next_expected_offset(reply.json())
                next_offset = offset + length if expected is None else expected
                if not offset < next_offset <= total:
                    raise _UploadPositionLostError
                return next_offset
            error = self._refused("uploadChunk", reply)
            if reply.status not in TRANSIENT_STATUSES:
                if uncertain or type(error) is GraphError or error.status == 404:
                    # The session moved past this chunk or lost it: what it
                    # holds is unknown (chunk errors carry no documented
                    # position), so start afresh.
                    raise _UploadPositionLostError from error
                raise error
            # Resending a chunk cannot duplicate a mail (the session refuses a
            # range it already has); only 429 and 503 say for sure that this
            # one was not stored.
            uncertain = uncertain or reply.status not in REFUSED_ONLY.statuses
            raise TryAgain(error)

        return await retry(
            self._retry,
            self.settings.sleep,
            attempt,
            on_retry=self._retrying("uploadChunk"),
        )

    async def _cancel_upload(self, url: URL) -> None:
        with contextlib.suppress(O365Error):
            await self._send_once("DELETE", url, "cancelUpload", authorize=False)

    # -- plumbing -------------------------------------------------------------

    def _url(self, mailbox: Mailbox, *segments: str) -> URL:
        """Return the mailbox's URL with every segment percent-encoded once."""
        path = "/".join(quote(part, safe="") for part in (*mailbox.segments, *segments))
        return URL(f"{self._base}/{path}", encoded=True)

    async def _load(self, attachments: Sequence[Attachment]) -> list[Attachment]:
        """Return the attachments with file contents read (off the event loop)."""
        loaded: list[Attachment] = []
        for attachment in attachments:
            content = attachment.content
            if not isinstance(content, Path):
                loaded.append(attachment)
                continue
            data: bytes = await self.settings.run_blocking(content.read_bytes)
            if len(data) != attachment.size:
                raise O365Error(f"{attachment.name} changed while it was read")
            loaded.append(
                Attachment(
                    attachment.name,
                    attachment.content_type,
                    data,
                    len(data),
                    attachment.content_id,
                )
            )
        return loaded

    async def _encode(self, build: Callable[[], Any], attachment_bytes: int) -> bytes:
        """Build and serialise a JSON body, in the executor when it is big."""
        if attachment_bytes > ENCODE_IN_EXECUTOR_ABOVE:
            data: bytes = await self.settings.run_blocking(lambda: _dumps(build()))
            return data
        return _dumps(build())

    async def _request(
        self,
        method: str,
        url: URL,
        operation: str,
        *,
        body: bytes | None = None,
        ok: tuple[int, ...] = (200,),
        ok_after_retry: tuple[int, ...] = (),
        retry_policy: RetryPolicy | None = None,
        retry_on: Retry = REPEATABLE,
    ) -> _Reply:
        """Send an authorised Graph request, retrying what may succeed later.

        ``retry_on`` says which failures are safe to repeat for this request;
        ``ok_after_retry`` are answers that mean success once an earlier try
        may have gone through (a 404 for a draft that was already sent). A
        401 renews the token once, outside the count of tries.
        """
        headers = {"Content-Type": "application/json"} if body is not None else {}
        rejected: str | None = None

        async def attempt(number: int) -> _Reply:
            nonlocal rejected
            while True:
                try:
                    reply = await self._send_once(
                        method, url, operation, body, headers, rejected=rejected
                    )
                except O365Error as err:
                    if not err.transient:
                        raise
                    self._record(operation, err)
                    if (
                        isinstance(err, O365ConnectionError)
                        and not err.unsent
                        and not retry_on.after_send
                    ):
                        raise
                    raise TryAgain(err) from err
                if reply.status in ok or (
                    number > 1 and reply.status in ok_after_retry
                ):
                    return reply
                if reply.status == 401 and rejected is None:
                    # The token was revoked or expired early: renew it once.
                    rejected = reply.token or ""
                    self.stats.token_refreshes += 1
                    continue
                error = self._refused(operation, reply)
                if error.status not in retry_on.statuses:
                    raise error
                raise TryAgain(error)

        try:
            async with asyncio.timeout(REQUEST_DEADLINE):
                return await retry(
                    retry_policy or self._retry,
                    self.settings.sleep,
                    attempt,
                    on_retry=self._retrying(operation),
                )
        except TimeoutError as err:
            raise O365ConnectionError(
                f"{operation} gave up after {REQUEST_DEADLINE:.0f} s"
            ) from err

    def _refused(self, operation: str, reply: _Reply) -> GraphError:
        """Return (and record) the error of a Graph answer that is not a success."""
        error = reply.error(self.settings.clock())
        self._record(operation, error)
        if error.status == 429:
            self.stats.throttled += 1
        return error

    def _retrying(self, operation: str) -> Callable[[O365Error, int, float], None]:
        def count(error: O365Error, attempt: int, delay: float) -> None:
            self.stats.retries += 1
            _LOGGER.debug(
                "%s failed (%s); retry %d in %.1f s", operation, error, attempt, delay
            )

        return count

    async def _send_once(
        self,
        method: str,
        url: URL,
        operation: str,
        body: bytes | AsyncIterator[bytes] | None = None,
        headers: dict[str, str] | None = None,
        *,
        authorize: bool = True,
        rejected: str | None = None,
    ) -> _Reply:
        """Send one request (no retries); network failures raise."""
        send_headers = {
            "Accept": "application/json",
            "client-request-id": str(uuid.uuid4()),
            **(headers or {}),
        }
        token: str | None = None
        if authorize:
            token = await self._tokens.async_get_access_token(rejected=rejected)
            send_headers["Authorization"] = f"Bearer {token}"
        async with self.limiter:
            self.stats.requests += 1
            try:
                async with self.settings.session.request(
                    method,
                    url,
                    data=body,
                    headers=send_headers,
                    ssl=self.settings.ssl_context,
                    timeout=REQUEST_TIMEOUT,
                ) as resp:
                    return _Reply(resp.status, await resp.read(), resp.headers, token)
            except (aiohttp.ClientError, TimeoutError) as err:
                error = O365ConnectionError(
                    f"{operation} failed: {type(err).__name__}",
                    # Nothing reached Graph: the connection was never made.
                    unsent=isinstance(
                        err,
                        aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError,
                    ),
                )
                if not authorize:
                    # aiohttp's text may hold the URL: an upload URL is its
                    # own credential and must not reach a traceback.
                    raise error from None
                raise error from err

    def _record(self, operation: str, error: O365Error) -> None:
        graph = error if isinstance(error, GraphError) else None
        self.stats.last_errors.append(
            ErrorRecord(
                at=self.settings.clock(),
                operation=operation,
                status=graph.status if graph else None,
                code=graph.code if graph else type(error).__name__,
                request_id=graph.request_id if graph else None,
                message=str(error),
            )
        )
