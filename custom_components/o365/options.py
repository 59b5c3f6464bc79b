"""An account's settings, read once from its config entry into a frozen object."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.config_entries import ConfigEntry

from .const import (
    AUTH_SIGN_IN,
    CONF_AUTH_TYPE,
    CONF_BACKUP_ACCOUNT,
    CONF_DAILY_RECIPIENT_LIMIT,
    CONF_DEFAULT_RECIPIENTS,
    CONF_FROM_MAILBOX,
    CONF_MAX_MESSAGE_SIZE_MB,
    CONF_OUTBOX_MAX_AGE_HOURS,
    CONF_QUEUE_ON_FAILURE,
    CONF_SAVE_TO_SENT_ITEMS,
    CONF_SOURCE,
    CONSUMER_TENANT_ID,
    DEFAULT_MAX_MESSAGE_SIZE_MB,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_QUEUE_ON_FAILURE,
    DEFAULT_SAVE_TO_SENT_ITEMS,
    PERSONAL_DAILY_RECIPIENTS,
    WORK_DAILY_RECIPIENTS,
)
from .graph import PERSONAL_MAX_ATTACHMENTS, EmailAddress, MessageLimits


def is_signed_in(data: Mapping[str, Any]) -> bool:
    """Return True for a signed-in (delegated) account's entry data."""
    return data.get(CONF_AUTH_TYPE) == AUTH_SIGN_IN


def is_personal(entry: ConfigEntry) -> bool:
    """Return True for a personal Microsoft account (Outlook.com, Hotmail, Live).

    Its unique ID starts with the consumer tenant's ID, the ``tid`` of every
    personal account.
    """
    return (entry.unique_id or "").partition(":")[0].lower() == CONSUMER_TENANT_ID


@dataclass(frozen=True, slots=True)
class AccountOptions:
    """How one account sends: what its entry's data and options say."""

    #: The sending mailbox as configured (address or object ID).
    mailbox: str
    signed_in: bool
    personal: bool
    default_recipients: tuple[EmailAddress, ...] = ()
    save_to_sent_items: bool = DEFAULT_SAVE_TO_SENT_ITEMS
    queue_on_failure: bool = DEFAULT_QUEUE_ON_FAILURE
    limits: MessageLimits = field(default_factory=MessageLimits)
    #: How long a failed alert is tried again, in seconds.
    outbox_max_age: float = DEFAULT_OUTBOX_MAX_AGE_HOURS * 3600.0
    #: The mailbox of the account that sends when this one cannot.
    backup_account: str | None = None
    #: Recipients (To, Cc and Bcc) per rolling 24 hours.
    daily_recipient_limit: int = WORK_DAILY_RECIPIENTS
    #: A shared mailbox a signed-in work account sends from by default.
    from_mailbox: str | None = None

    @classmethod
    def from_entry(cls, entry: ConfigEntry) -> AccountOptions:
        """Read an entry's data and options (validated by the options flow)."""
        options = entry.options
        personal = is_personal(entry)
        max_message_size = (
            int(options.get(CONF_MAX_MESSAGE_SIZE_MB, DEFAULT_MAX_MESSAGE_SIZE_MB))
            * 1024
            * 1024
        )
        default_limit = PERSONAL_DAILY_RECIPIENTS if personal else WORK_DAILY_RECIPIENTS
        return cls(
            mailbox=str(entry.data[CONF_SOURCE]),
            signed_in=is_signed_in(entry.data),
            personal=personal,
            default_recipients=tuple(
                EmailAddress.parse(value)
                for value in options.get(CONF_DEFAULT_RECIPIENTS) or ()
            ),
            save_to_sent_items=bool(
                options.get(CONF_SAVE_TO_SENT_ITEMS, DEFAULT_SAVE_TO_SENT_ITEMS)
            ),
            queue_on_failure=bool(
                options.get(CONF_QUEUE_ON_FAILURE, DEFAULT_QUEUE_ON_FAILURE)
            ),
            limits=MessageLimits(
                max_message_size=max_message_size,
                max_attachments_size=PERSONAL_MAX_ATTACHMENTS if personal else None,
            ),
            outbox_max_age=float(
                options.get(CONF_OUTBOX_MAX_AGE_HOURS, DEFAULT_OUTBOX_MAX_AGE_HOURS)
            )
            * 3600.0,
            backup_account=options.get(CONF_BACKUP_ACCOUNT) or None,
            daily_recipient_limit=int(
                options.get(CONF_DAILY_RECIPIENT_LIMIT) or default_limit
            ),
            from_mailbox=options.get(CONF_FROM_MAILBOX) or None,
        )
