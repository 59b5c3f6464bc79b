"""One configured sending mailbox at run time: its Graph client and settings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant

from .const import (
    CONF_DEFAULT_RECIPIENTS,
    CONF_MAX_MESSAGE_SIZE_MB,
    CONF_SAVE_TO_SENT_ITEMS,
    CONF_SOURCE,
    DEFAULT_MAX_MESSAGE_SIZE_MB,
    DEFAULT_SAVE_TO_SENT_ITEMS,
)
from .graph import EmailAddress

if TYPE_CHECKING:
    from homeassistant.config_entries import ConfigEntry

    from .connection import Connection


@dataclass(slots=True)
class AccountStats:
    """What happened to this account's messages since it was loaded."""

    sent: int = 0
    failed: int = 0
    queued: int = 0
    dropped: int = 0


@dataclass
class O365Account:
    """A mailbox that sends through Graph, with the entry's options."""

    hass: HomeAssistant
    entry: ConfigEntry
    connection: Connection
    stats: AccountStats = field(default_factory=AccountStats)

    @property
    def mailbox(self) -> str:
        """Return the sending mailbox as configured (address or object ID)."""
        return str(self.entry.data[CONF_SOURCE])

    @property
    def save_to_sent_items(self) -> bool:
        """Return whether sent mail is kept in Sent Items by default."""
        return bool(
            self.entry.options.get(CONF_SAVE_TO_SENT_ITEMS, DEFAULT_SAVE_TO_SENT_ITEMS)
        )

    @property
    def max_message_size(self) -> int:
        """Return the message size limit in bytes."""
        megabytes = self.entry.options.get(
            CONF_MAX_MESSAGE_SIZE_MB, DEFAULT_MAX_MESSAGE_SIZE_MB
        )
        return int(megabytes) * 1024 * 1024

    @property
    def default_recipients(self) -> tuple[EmailAddress, ...]:
        """Return the recipients used when an action names none."""
        return tuple(
            EmailAddress.parse(value)
            for value in self.entry.options.get(CONF_DEFAULT_RECIPIENTS) or ()
        )
