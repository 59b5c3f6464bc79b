"""What travels along the send path: the mail to send and what became of it."""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
from typing import Literal

from .graph import Message


@dataclass(frozen=True, slots=True)
class OutgoingMail:
    """A composed message and how it is to be sent."""

    message: Message
    save_to_sent_items: bool
    #: A mailbox to send from instead of the account's own (``from``).
    sender: str | None = None

    @property
    def recipients(self) -> int:
        """Return what the message costs of the sending budget (To, Cc, Bcc)."""
        return self.message.recipient_count

    @property
    def group(self) -> str:
        """Return a key of who it goes to and from: one digest per group."""
        message = self.message
        parts = [
            ",".join(sorted(a.address.casefold() for a in addresses))
            for addresses in (message.to, message.cc, message.bcc)
        ]
        key = "|".join((*parts, (self.sender or "").casefold()))
        return hashlib.sha256(key.encode()).hexdigest()[:16]

    @property
    def urgent(self) -> bool:
        """Return True for ``importance: high`` (sent on its own in a storm)."""
        return self.message.importance == "high"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a submitted message."""

    status: Literal["sent", "queued", "held"]
    #: The mailbox that sent it (this one or its backup), when sent.
    via: str | None = None
    #: Why it waits in the outbox, when queued or held.
    reason: str | None = None


@dataclass(slots=True)
class AccountStats:
    """What happened to an account's messages since Home Assistant started."""

    sent: int = 0
    failed: int = 0
    queued: int = 0
    dropped: int = 0
    #: Messages this account could not send that its backup sent.
    failovers: int = 0
    #: Alerts held for a digest, and digests sent.
    held: int = 0
    digests: int = 0
