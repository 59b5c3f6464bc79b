"""What the emulator holds while it runs: mail, drafts, uploads and statistics.

Attachment bytes live in files under the state directory (``blobs/`` once
received, ``uploads/`` while an upload session fills them); everything else is
kept in memory and lost on restart. Concurrency and upload bytes are counted
per key (`Settings.throttle_key`: the app, or the app and mailbox).
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
import hashlib
import math
import mimetypes
from pathlib import Path
import secrets
import shutil
import time
from typing import Any
import uuid

from aiohttp import web

from .common import Operation, iso, utc_now
from .directory import Directory, Mailbox
from .faults import FaultBook
from .schemas import GraphSchemas
from .settings import Settings
from .signin import SignInStore
from .tokens import TokenIssuer

RECENT_REQUESTS = 200


@dataclass
class StoredAttachment:
    """A file attachment whose bytes are stored in ``path``."""

    name: str
    content_type: str | None
    size: int
    is_inline: bool
    content_id: str | None
    sha256: str
    path: Path
    id: str = field(default_factory=lambda: f"AAMkAtt{secrets.token_urlsafe(18)}=")

    @property
    def media_type(self) -> str:
        """Return the type to serve the bytes with."""
        guessed = mimetypes.guess_type(self.name)[0]
        return self.content_type or guessed or "application/octet-stream"

    def to_json(self, index: int) -> dict[str, Any]:
        """Describe the attachment for ``/_emulator/messages``."""
        return {
            "index": index,
            "name": self.name,
            "contentType": self.content_type,
            "size": self.size,
            "isInline": self.is_inline,
            "contentId": self.content_id,
            "sha256": self.sha256,
        }


@dataclass
class ReceivedMessage:
    """A mail the emulator accepted (through ``sendMail`` or a sent draft)."""

    mailbox: Mailbox
    message: dict[str, Any]
    save_to_sent_items: bool
    via: str
    attachments: list[StoredAttachment]
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    received_at: datetime = field(default_factory=utc_now)
    #: The app (client id) that sent it.
    client_id: str | None = None
    #: Sent with a delegated token: the mailbox is the signed-in user.
    signed_in: bool = False

    @property
    def subject(self) -> str:
        """Return the subject ("" when there is none)."""
        return str(self.message.get("subject") or "")

    @property
    def body(self) -> dict[str, str]:
        """Return the body as ``{"contentType", "content"}``."""
        body = self.message.get("body") or {}
        return {
            "contentType": str(body.get("contentType") or "text"),
            "content": str(body.get("content") or ""),
        }

    def recipients(self, kind: str) -> list[dict[str, Any]]:
        """Return ``toRecipients``, ``ccRecipients``, ``bccRecipients`` or ``replyTo``."""
        return list(self.message.get(kind) or [])

    def to_json(self) -> dict[str, Any]:
        """Describe the message for ``/_emulator/messages``."""
        return {
            "id": self.id,
            "received_at": iso(self.received_at),
            "mailbox": self.mailbox.address,
            "from": {
                "emailAddress": {
                    "address": self.mailbox.address,
                    "name": self.mailbox.display_name,
                }
            },
            "subject": self.subject,
            "body": self.body,
            "toRecipients": self.recipients("toRecipients"),
            "ccRecipients": self.recipients("ccRecipients"),
            "bccRecipients": self.recipients("bccRecipients"),
            "replyTo": self.recipients("replyTo"),
            "importance": str(self.message.get("importance") or "normal"),
            "saveToSentItems": self.save_to_sent_items,
            "via": self.via,
            "appId": self.client_id,
            "auth": "delegated" if self.signed_in else "app",
            "signedInUser": self.mailbox.address if self.signed_in else None,
            "attachments": [a.to_json(i) for i, a in enumerate(self.attachments)],
        }


@dataclass
class Draft:
    """A message saved in a mailbox's Drafts folder."""

    mailbox: Mailbox
    message: dict[str, Any]
    attachments: list[StoredAttachment]
    id: str = field(default_factory=lambda: f"AAMkAD{secrets.token_urlsafe(45)}AAA=")
    created_at: datetime = field(default_factory=utc_now)
    #: The app (client id) that created it.
    client_id: str | None = None


@dataclass
class UploadSession:
    """An upload session filling one attachment of a draft, chunk by chunk."""

    draft: Draft
    name: str
    size: int
    content_type: str | None
    is_inline: bool
    content_id: str | None
    path: Path
    expires_at: datetime
    id: str
    #: The app that created the session: its upload requests count against it.
    client_id: str = ""
    authtoken: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    received: int = 0
    digest: Any = field(default_factory=hashlib.sha256)
    #: Chunks of one session are handled one at a time.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def next_expected_ranges(self) -> list[str]:
        """Return ``nextExpectedRanges`` as Outlook attachment sessions do.

        For Outlook attachments Graph sends a single start offset (``["N"]``),
        not OneDrive's ``["N-"]`` ranges.
        """
        return [str(self.received)]


@dataclass
class RequestRecord:
    """One request in the statistics' recent log."""

    time: datetime
    method: str
    path: str
    operation: Operation
    authorization: bool
    content_range: str | None
    #: The status answered; 0 when the connection was dropped.
    status: int = 0
    faults: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        """Describe the request."""
        return {
            "time": iso(self.time),
            "method": self.method,
            "path": self.path,
            "operation": self.operation.value,
            "status": self.status,
            "authorization": self.authorization,
            "content_range": self.content_range,
            "faults": self.faults,
        }


class Stats:
    """Request counts per operation, tokens issued and a log of recent requests."""

    def __init__(self) -> None:
        """Start from zero."""
        self.operations: Counter[str] = Counter()
        self.tokens_issued = 0
        self.refresh_tokens_issued = 0
        #: Successful token requests per ``grant_type``.
        self.token_grants: Counter[str] = Counter()
        self.max_in_flight = 0
        self.max_in_flight_by_key: dict[str, int] = {}
        self.recent: deque[RequestRecord] = deque(maxlen=RECENT_REQUESTS)

    def begin(self, request: web.Request, operation: Operation) -> RequestRecord:
        """Count a request and log it (its status is filled in later)."""
        self.operations[operation.value] += 1
        record = RequestRecord(
            time=utc_now(),
            method=request.method,
            path=request.path,
            operation=operation,
            authorization="Authorization" in request.headers,
            content_range=request.headers.get("Content-Range"),
        )
        self.recent.append(record)
        return record

    def reset(self) -> None:
        """Forget everything."""
        self.operations.clear()
        self.tokens_issued = 0
        self.refresh_tokens_issued = 0
        self.token_grants.clear()
        self.max_in_flight = 0
        self.max_in_flight_by_key.clear()
        self.recent.clear()

    def to_json(self) -> dict[str, Any]:
        """Describe the statistics (the log is oldest first)."""
        return {
            "operations": dict(self.operations),
            "tokens_issued": self.tokens_issued,
            "refresh_tokens_issued": self.refresh_tokens_issued,
            "token_grants": dict(self.token_grants),
            "max_in_flight": self.max_in_flight,
            "max_in_flight_by_key": dict(self.max_in_flight_by_key),
            "requests": [record.to_json() for record in self.recent],
        }


class InFlight:
    """Counts concurrent requests per key (app, or app and mailbox), like Exchange."""

    def __init__(self, stats: Stats, settings: Settings) -> None:
        """Refuse more than ``settings.max_concurrency`` per key (0: no limit)."""
        self._stats = stats
        self._settings = settings
        self._counts: Counter[str] = Counter()

    @contextmanager
    def slot(self, key: str | None) -> Iterator[bool]:
        """Hold a slot for the block; yield False when the limit is reached.

        A ``None`` key (a request no app is known for) is always admitted.
        """
        if key is None:
            yield True
            return
        limit = self._settings.max_concurrency
        if limit and self._counts[key] >= limit:
            yield False
            return
        self._counts[key] += 1
        count = self._counts[key]
        stats = self._stats
        stats.max_in_flight = max(stats.max_in_flight, count)
        stats.max_in_flight_by_key[key] = max(
            stats.max_in_flight_by_key.get(key, 0), count
        )
        try:
            yield True
        finally:
            self._counts[key] -= 1


class UploadBudget:
    """Bytes PUT to upload URLs per key in a sliding window (Outlook's 150 MB / 5 min)."""

    def __init__(
        self, settings: Settings, clock: Callable[[], float] = time.monotonic
    ) -> None:
        """Count against ``settings.upload_budget_bytes`` per window."""
        self._settings = settings
        self._clock = clock
        self._spent: dict[str, deque[tuple[float, int]]] = {}

    def _window(self, key: str, now: float) -> deque[tuple[float, int]]:
        entries = self._spent.setdefault(key, deque())
        window = self._settings.upload_window_seconds
        while entries and entries[0][0] + window <= now:
            entries.popleft()
        return entries

    def used(self, key: str) -> int:
        """Return the bytes counted in the current window."""
        return sum(size for _, size in self._window(key, self._clock()))

    def reserve(self, key: str, size: int) -> tuple[float, int] | int:
        """Count ``size`` bytes, or return the whole seconds to wait (an int).

        The returned reservation can be given back with `release` when the
        bytes were not stored after all.
        """
        budget = self._settings.upload_budget_bytes
        now = self._clock()
        entries = self._window(key, now)
        used = sum(spent for _, spent in entries)
        if not budget or used + size <= budget:
            entry = (now, size)
            entries.append(entry)
            return entry
        window = self._settings.upload_window_seconds
        if size > budget:
            return max(1, math.ceil(window))
        excess, freed = used + size - budget, 0
        for at, spent in entries:
            freed += spent
            if freed >= excess:
                return max(1, math.ceil(at + window - now))
        return max(1, math.ceil(window))  # not reached: the loop frees enough

    def release(self, key: str, entry: tuple[float, int]) -> None:
        """Give back a reservation whose bytes were not stored."""
        entries = self._spent.get(key)
        if entries is not None and entry in entries:
            entries.remove(entry)

    def reset(self) -> None:
        """Forget every counted byte."""
        self._spent.clear()


class MailStore:
    """Received mail, drafts and upload sessions, with their files."""

    def __init__(self, root: Path) -> None:
        """Keep files under ``root``."""
        self.blobs = root / "blobs"
        self.uploads_dir = root / "uploads"
        self.messages: list[ReceivedMessage] = []
        self.drafts: dict[str, Draft] = {}
        self.uploads: dict[str, UploadSession] = {}

    def prepare(self) -> None:
        """Create empty file folders (files of an earlier run are removed)."""
        for folder in (self.blobs, self.uploads_dir):
            shutil.rmtree(folder, ignore_errors=True)
            folder.mkdir(parents=True)

    async def save_blob(self, data: bytes) -> tuple[Path, str]:
        """Store attachment bytes; return the file and their SHA-256."""
        path = self.blobs / uuid.uuid4().hex
        await asyncio.to_thread(path.write_bytes, data)
        return path, hashlib.sha256(data).hexdigest()

    def deliver(self, message: ReceivedMessage) -> None:
        """Add a received message."""
        self.messages.append(message)

    def newest_first(self) -> list[ReceivedMessage]:
        """Return the received messages, newest first."""
        return self.messages[::-1]

    def find_message(self, message_id: str) -> ReceivedMessage | None:
        """Return a received message by id."""
        return next((m for m in self.messages if m.id == message_id), None)

    def find_draft(self, mailbox: Mailbox, draft_id: str) -> Draft | None:
        """Return a draft of this mailbox by id."""
        draft = self.drafts.get(draft_id)
        return draft if draft is not None and draft.mailbox is mailbox else None

    def open_session(
        self,
        draft: Draft,
        *,
        name: str,
        size: int,
        content_type: str | None,
        is_inline: bool,
        content_id: str | None,
        expires_at: datetime,
        client_id: str,
    ) -> UploadSession:
        """Open an upload session for one attachment of a draft."""
        session_id = secrets.token_urlsafe(24)
        session = UploadSession(
            client_id=client_id,
            draft=draft,
            name=name,
            size=size,
            content_type=content_type,
            is_inline=is_inline,
            content_id=content_id,
            path=self.uploads_dir / session_id,
            expires_at=expires_at,
            id=session_id,
        )
        session.path.touch()
        self.uploads[session_id] = session
        return session

    def sessions_of(self, draft: Draft) -> list[UploadSession]:
        """Return the open upload sessions of a draft."""
        return [s for s in self.uploads.values() if s.draft is draft]

    def close_session(self, session: UploadSession) -> None:
        """Forget an upload session and its partial file."""
        self.uploads.pop(session.id, None)
        session.path.unlink(missing_ok=True)

    def delete_draft(self, draft: Draft) -> None:
        """Delete a draft, its attachments and its upload sessions."""
        for session in self.sessions_of(draft):
            self.close_session(session)
        for attachment in draft.attachments:
            attachment.path.unlink(missing_ok=True)
        self.drafts.pop(draft.id, None)

    def clear_messages(self) -> None:
        """Delete every received message and its attachment files."""
        for message in self.messages:
            for attachment in message.attachments:
                attachment.path.unlink(missing_ok=True)
        self.messages.clear()

    def reset(self) -> None:
        """Delete messages, drafts and upload sessions."""
        self.clear_messages()
        for draft in list(self.drafts.values()):
            self.delete_draft(draft)


@dataclass
class EmulatorState:
    """Everything the request handlers share."""

    directory: Directory
    schemas: GraphSchemas
    store: MailStore
    settings: Settings
    tokens: TokenIssuer = field(default_factory=TokenIssuer)
    faults: FaultBook = field(default_factory=FaultBook)
    stats: Stats = field(default_factory=Stats)
    signins: SignInStore = field(default_factory=SignInStore)
    #: Accepted token audiences (normalised ``https://host:port``), set on start.
    audiences: frozenset[str] = frozenset()
    in_flight: InFlight = field(init=False)
    upload_budget: UploadBudget = field(init=False)

    def __post_init__(self) -> None:
        """Create the counters that read the settings."""
        self.in_flight = InFlight(self.stats, self.settings)
        self.upload_budget = UploadBudget(self.settings)

    @property
    def token_lifetime(self) -> int:
        """Return the lifetime of new access tokens in seconds."""
        return self.settings.token_lifetime

    def reset(self) -> None:
        """Forget messages, drafts, uploads, faults, sign-ins and statistics."""
        self.store.reset()
        self.faults.clear()
        self.stats.reset()
        self.signins.reset()
        self.upload_budget.reset()
