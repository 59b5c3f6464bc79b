"""What the emulator holds while it runs: mail, drafts, uploads and statistics.

Attachment bytes live in files under the state directory (``blobs/`` once
received, ``uploads/`` while an upload session fills them); everything else is
kept in memory and lost on restart. Concurrency and upload bytes are counted
per key (`Settings.throttle_key`: the app, or the app and mailbox).

Recipients are counted as Exchange Online counts them (defender-docs
``outbound-spam-sending-limits-troubleshoot.md`` and
``outbound-spam-policies-send-as-send-on-behalf.md``): every To, Cc and Bcc
recipient of every message, over a sliding 24 hours, against the one who
submits it (the signed-in user, even when sending from a shared mailbox; the
mailbox itself for app-only sends), with the limit of the mailbox in From.
Over a limit "messages are rejected": sendMail has already answered 202, so
the sender learns it from a non-delivery report (NDR) in its own inbox. The
NDR texts are Exchange's: ``554 5.2.0 STOREDRV.Submission.Exception:
SubmissionQuotaExceededException`` for the daily limit (SupportArticles-docs,
"Message storage and concurrent connection throttling for SMTP Authenticated
Submission") and ``550 5.5.3 RESOLVER.ADR.RecipLimit; too many recipients``
for the per-message one (SupportArticles-docs, "too many recipients" NDR).
What Graph answers, and what Outlook.com's NDRs say, is not documented.
"""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
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

from .common import Clock, Operation, iso, utc_now
from .directory import Directory, Mailbox
from .faults import FaultBook
from .schemas import GraphSchemas
from .settings import RECIPIENT_WINDOW_SECONDS, Settings
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
    #: The signed-in user who sent it from ``mailbox`` (a shared mailbox).
    delegate: Mailbox | None = None
    #: The delegate sent on behalf of ``mailbox``: ``sender`` is the delegate.
    on_behalf: bool = False
    #: Who the message is from when it is not ``mailbox`` (an NDR's system
    #: sender): ``{"address", "name"}``.
    system_sender: dict[str, str] | None = None

    @property
    def submitter(self) -> Mailbox:
        """Return who submitted the message (recipient limits count it)."""
        return self.delegate or self.mailbox

    @property
    def recipient_count(self) -> int:
        """Return the number of To, Cc and Bcc recipients."""
        return sum(
            len(self.recipients(kind))
            for kind in ("toRecipients", "ccRecipients", "bccRecipients")
        )

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
        """Describe the message for ``/_emulator/messages``.

        ``mailbox`` is the mailbox the message is from, or for an NDR (``via``
        ``ndr``) the mailbox whose inbox received it.
        """
        author = self.system_sender or {
            "address": self.mailbox.address,
            "name": self.mailbox.display_name,
        }
        sender = (
            {"address": self.delegate.address, "name": self.delegate.display_name}
            if self.delegate is not None and self.on_behalf
            else author
        )
        return {
            "id": self.id,
            "received_at": iso(self.received_at),
            "mailbox": self.mailbox.address,
            "from": {"emailAddress": dict(author)},
            "sender": {"emailAddress": dict(sender)},
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
            "signedInUser": self.submitter.address if self.signed_in else None,
            "attachments": [a.to_json(i) for i, a in enumerate(self.attachments)],
        }


class Limit(StrEnum):
    """The Exchange sending limits the emulator enforces."""

    RECIPIENTS_PER_DAY = "recipients_per_day"
    RECIPIENTS_PER_MESSAGE = "recipients_per_message"


@dataclass(frozen=True, slots=True)
class LimitCrossing:
    """A message refused because it would cross a sending limit (an NDR went out)."""

    limit: Limit
    #: The mailbox in From (its kind chose the limit).
    mailbox: str
    #: Who submitted it (the recipients are counted against them).
    submitter: str
    #: The limit (recipients per 24 hours, or per message).
    allowed: int
    #: Recipients counted for the submitter in the 24 hours before.
    counted: int
    #: Recipients of the refused message.
    recipients: int
    subject: str
    at: datetime
    #: The id of the NDR delivered to the mailbox.
    ndr_id: str

    def to_json(self) -> dict[str, Any]:
        """Describe the crossing for ``/_emulator/limits``."""
        return {
            "limit": self.limit.value,
            "mailbox": self.mailbox,
            "submitter": self.submitter,
            "allowed": self.allowed,
            "counted": self.counted,
            "recipients": self.recipients,
            "subject": self.subject,
            "at": iso(self.at),
            "ndr_id": self.ndr_id,
        }


class RecipientLedger:
    """Recipients sent per submitter over a sliding 24 hours, and limit crossings.

    Totals are kept as entries come and go, so a send costs O(1) amortised.
    """

    def __init__(self, clock: Clock) -> None:
        """Count on the emulator's ``clock`` (tests may move it)."""
        self._clock = clock
        self._sent: dict[str, deque[tuple[datetime, int]]] = {}
        self._totals: dict[str, int] = {}
        self.crossings: list[LimitCrossing] = []

    def _window(self, key: str) -> str:
        """Drop the entries of ``key`` older than 24 hours; return the key."""
        key = key.casefold()
        entries = self._sent.setdefault(key, deque())
        start = self._clock.now() - timedelta(seconds=RECIPIENT_WINDOW_SECONDS)
        while entries and entries[0][0] <= start:
            self._totals[key] -= entries.popleft()[1]
        return key

    def counted(self, key: str) -> int:
        """Return the recipients counted for ``key`` (an address) in 24 hours."""
        return self._totals.get(self._window(key), 0)

    def add(self, key: str, count: int) -> None:
        """Count ``count`` recipients for ``key`` now."""
        key = self._window(key)
        self._sent[key].append((self._clock.now(), count))
        self._totals[key] = self._totals.get(key, 0) + count

    def counts(self) -> dict[str, int]:
        """Return the recipients counted per submitter (lower case) in 24 hours."""
        return {key: total for key in list(self._sent) if (total := self.counted(key))}

    def reset(self) -> None:
        """Forget every count and crossing."""
        self._sent.clear()
        self._totals.clear()
        self.crossings.clear()


def non_delivery_report(
    original: ReceivedMessage, *, status: str, diagnostic: str, reason: str
) -> ReceivedMessage:
    """Return the NDR the sender of a refused message gets in its inbox.

    The report's sender is the emulator's stand-in for Exchange's system
    mailbox (``postmaster@`` the sender's domain; ``outlook.com`` for personal
    accounts): the exact address is not documented.
    """
    mailbox = original.mailbox
    domain = "outlook.com" if mailbox.personal else mailbox.address.rpartition("@")[2]
    listed = ", ".join(
        str((r.get("emailAddress") or {}).get("address"))
        for kind in ("toRecipients", "ccRecipients", "bccRecipients")
        for r in original.recipients(kind)
    )
    text = (
        f"Your message couldn't be delivered.\n\n{reason}\n\n"
        f"Original subject: {original.subject}\nRecipients: {listed}\n\n"
        "Diagnostic information for administrators:\n"
        f"Remote server returned '{status} {diagnostic}'"
    )
    return ReceivedMessage(
        mailbox,
        {
            "subject": f"Undeliverable: {original.subject}",
            "body": {"contentType": "text", "content": text},
            "toRecipients": [
                {
                    "emailAddress": {
                        "address": mailbox.address,
                        "name": mailbox.display_name,
                    }
                }
            ],
            "importance": "normal",
        },
        False,
        "ndr",
        [],
        client_id=original.client_id,
        system_sender={"address": f"postmaster@{domain}", "name": "Microsoft Outlook"},
    )


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
        self, settings: Settings, clock: Callable[[], float] | None = None
    ) -> None:
        """Count against ``settings.upload_budget_bytes`` per window.

        The clock is looked up when read, so a test that moves time (freezegun)
        moves the window too.
        """
        self._settings = settings
        self._clock = clock or (lambda: time.monotonic())  # noqa: PLW0108
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

    def __init__(self, root: Path, clock: Clock | None = None) -> None:
        """Keep files under ``root``; ``clock`` dates received messages."""
        self.clock = clock or Clock()
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
        """Add a received message (dated by the emulator's clock)."""
        message.received_at = self.clock.now()
        self.messages.append(message)

    def discard_attachments(self, attachments: list[StoredAttachment]) -> None:
        """Delete the files of attachments nobody will receive."""
        for attachment in attachments:
            attachment.path.unlink(missing_ok=True)

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
    #: Accepted token audiences (normalised ``https://host:port``), set on start.
    audiences: frozenset[str] = frozenset()
    #: The day-scale clock (see `Clock`); the store and sign-ins share it.
    clock: Clock = field(init=False)
    signins: SignInStore = field(init=False)
    recipients: RecipientLedger = field(init=False)
    in_flight: InFlight = field(init=False)
    upload_budget: UploadBudget = field(init=False)

    def __post_init__(self) -> None:
        """Create the clock and the counters that read the settings."""
        self.clock = self.store.clock
        self.signins = SignInStore(self.clock)
        self.recipients = RecipientLedger(self.clock)
        self.in_flight = InFlight(self.stats, self.settings)
        self.upload_budget = UploadBudget(self.settings)

    @property
    def token_lifetime(self) -> int:
        """Return the lifetime of new access tokens in seconds."""
        return self.settings.token_lifetime

    def reset(self) -> None:
        """Forget mail, uploads, faults, sign-ins, statistics and counted recipients.

        The clock goes back to real time too.
        """
        self.store.reset()
        self.faults.clear()
        self.stats.reset()
        self.signins.reset()
        self.upload_budget.reset()
        self.recipients.reset()
        self.clock.reset()
