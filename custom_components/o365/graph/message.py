"""Pure building blocks of a mail: addresses, attachments, the message JSON.

Nothing here does I/O: attachments either hold their bytes or point at a file
that the client reads in chunks (off the event loop) when it sends them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from email.utils import parseaddr
from enum import StrEnum
from functools import lru_cache
from pathlib import Path
import re
from typing import Any
import uuid

import orjson

# Base64 in SIMD C (wheels for every platform Home Assistant runs on): a
# 150 KB snapshot takes 8 us here, against 380 us with the standard library,
# and the encoding runs on the event loop for every alert.
import pybase64

_ADDRESS_RE = re.compile(
    r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$"
)


def is_email_address(value: str) -> bool:
    """Return True for a plain ``local@domain.tld`` address."""
    return (
        bool(_ADDRESS_RE.match(value)) and ".." not in value.split("@", maxsplit=1)[0]
    )


def is_object_id(value: str) -> bool:
    """Return True for a GUID such as an Entra tenant, app or object ID."""
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


class BodyType(StrEnum):
    """How Outlook renders the body."""

    TEXT = "text"
    HTML = "html"


class Importance(StrEnum):
    """The importance flag of a message."""

    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"


@dataclass(frozen=True, slots=True)
class EmailAddress:
    """A recipient: an address and an optional display name."""

    address: str
    name: str | None = None

    @classmethod
    def parse(cls, value: str) -> EmailAddress:
        """Parse ``addr`` or ``Name <addr>``; raise ValueError if it is not one."""
        return _parse_address(value)

    def to_graph(self) -> dict[str, Any]:
        """Return the Graph ``recipient`` object."""
        email: dict[str, str] = {"address": self.address}
        if self.name:
            email["name"] = self.name
        return {"emailAddress": email}

    def __str__(self) -> str:
        """Return ``Name <addr>`` or ``addr``."""
        return f"{self.name} <{self.address}>" if self.name else self.address


@lru_cache(maxsize=256)
def _parse_address(value: str) -> EmailAddress:
    """Parse one address (cached: alerts go to the same few people again and again)."""
    text = value.strip()
    name, address = parseaddr(text)
    if "<" in text and not text.endswith(">"):
        address = ""
    if not address or not is_email_address(address):
        raise ValueError(f"{value!r} is not an email address")
    return EmailAddress(address, name.strip() or None)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file attached to a message.

    ``content`` holds the bytes, or the path of a file read in chunks when the
    message is sent. An attachment with a ``content_id`` is inline unless
    ``inline`` says otherwise: the HTML body shows it with
    ``<img src="cid:CONTENT_ID">``. (A text mail's snapshot keeps its content
    ID, naming its camera, but is an ordinary attachment.)
    """

    name: str
    content_type: str
    content: bytes | Path = field(repr=False)
    size: int
    content_id: str | None = None
    inline: bool | None = None

    @classmethod
    def from_bytes(
        cls,
        name: str,
        data: bytes,
        content_type: str = "application/octet-stream",
        content_id: str | None = None,
    ) -> Attachment:
        """Build an attachment held in memory."""
        return cls(name, content_type, data, len(data), content_id)

    @property
    def is_inline(self) -> bool:
        """Return True when the body shows it (by its content ID)."""
        if self.inline is not None:
            return self.inline
        return self.content_id is not None

    def to_graph(self) -> dict[str, Any]:
        """Return the Graph ``fileAttachment`` with its bytes in base64.

        The base64 is a ready JSON string (an ``orjson.Fragment``, written as
        is): orjson would scan a ``str`` for characters to escape, reserving
        eight times its length first (2 MB for a 150 KB snapshot).
        """
        if not isinstance(self.content, bytes):
            raise TypeError("Read the file first: only bytes can be embedded")
        item: dict[str, Any] = {
            "@odata.type": "#microsoft.graph.fileAttachment",
            "name": self.name,
            "contentType": self.content_type,
            "contentBytes": orjson.Fragment(
                b'"' + pybase64.b64encode(self.content) + b'"'
            ),
            "isInline": self.is_inline,
        }
        if self.is_inline and self.content_id is not None:
            item["contentId"] = self.content_id
        return item

    def to_upload_item(self) -> dict[str, Any]:
        """Return the Graph ``attachmentItem`` that opens an upload session."""
        item: dict[str, Any] = {
            "attachmentType": "file",
            "name": self.name,
            "size": self.size,
            "contentType": self.content_type,
            "isInline": self.is_inline,
        }
        if self.is_inline and self.content_id is not None:
            item["contentId"] = self.content_id
        return item


@dataclass(frozen=True, slots=True)
class Message:
    """An email ready to send: every field Graph needs, already validated."""

    subject: str
    body: str
    body_type: BodyType = BodyType.TEXT
    to: tuple[EmailAddress, ...] = ()
    cc: tuple[EmailAddress, ...] = ()
    bcc: tuple[EmailAddress, ...] = ()
    reply_to: tuple[EmailAddress, ...] = ()
    importance: Importance | None = None
    attachments: tuple[Attachment, ...] = ()

    @property
    def recipient_count(self) -> int:
        """Return the number of To, Cc and Bcc recipients."""
        return len(self.to) + len(self.cc) + len(self.bcc)

    @property
    def attachments_size(self) -> int:
        """Return the raw size of all attachments in bytes."""
        return sum(a.size for a in self.attachments)

    def to_graph(
        self, attachments: Iterable[Attachment] | None = None
    ) -> dict[str, Any]:
        """Return the Graph ``message`` object.

        ``attachments`` chooses which attachments are embedded (all of them by
        default); they must hold their bytes.
        """
        body: dict[str, Any] = {
            "subject": self.subject,
            "body": {"contentType": self.body_type.value, "content": self.body},
            "toRecipients": [r.to_graph() for r in self.to],
        }
        if self.cc:
            body["ccRecipients"] = [r.to_graph() for r in self.cc]
        if self.bcc:
            body["bccRecipients"] = [r.to_graph() for r in self.bcc]
        if self.reply_to:
            body["replyTo"] = [r.to_graph() for r in self.reply_to]
        if self.importance is not None:
            body["importance"] = self.importance.value
        embedded = self.attachments if attachments is None else tuple(attachments)
        if embedded:
            body["attachments"] = [a.to_graph() for a in embedded]
        return body


def base64_size(size: int) -> int:
    """Return the length of the base64 text of ``size`` bytes."""
    return 4 * ((size + 2) // 3)
