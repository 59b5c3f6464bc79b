"""One configured mailbox at run time: what its config entry holds in ``runtime_data``.

An :class:`O365Account` exists from the moment its entry starts setting up,
connected or not, so alerts are accepted (and queued in its durable outbox)
while Microsoft cannot be reached, while setup is retrying, and while a
refused credential awaits re-authentication. It only holds the account's
parts; each part does one job:

- :mod:`.send` is the one path of an alert (recipients, compose, budget);
- :mod:`.budget` counts recipients and says whether an alert goes now;
- :mod:`.digest` holds alerts in a storm and sends them together;
- :mod:`.sender` sends now, through the backup account, or into the outbox;
- :mod:`.outbox` stores what waits; :mod:`.outbox_worker` delivers it later.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ServiceValidationError

from .budget import RecipientBudget
from .connection import Connection
from .const import DOMAIN, with_help
from .digest import DigestScheduler
from .models import AccountStats
from .options import AccountOptions
from .outbox import Outbox
from .outbox_worker import OutboxWorker
from .sender import Sender

if TYPE_CHECKING:
    from .expiry import CredentialExpiry

OUTBOX_FOLDER = "o365_outbox"
#: Messages composed or on their way at once per account: as many as the
#: requests Outlook takes at once (four per app and mailbox; microsoft-graph-
#: docs-contrib concepts/throttling-limits.md, "Outlook service limits"), so
#: that a burst of alerts does not hold every snapshot in memory. A message is composed
#: when one frees: composing takes well under a millisecond, a request to
#: Microsoft tens.
SEND_SLOTS = 4
#: Entry states in which an account accepts messages (queued until connected);
#: a failed setup counts only while it awaits a new credential (reauth).
ACCEPTING_STATES = (
    ConfigEntryState.LOADED,
    ConfigEntryState.SETUP_IN_PROGRESS,
    ConfigEntryState.SETUP_RETRY,
)

type O365ConfigEntry = ConfigEntry[O365Account]


def outbox_path(hass: HomeAssistant, entry_id: str) -> Path:
    """Return the folder of an account's outbox (under .storage)."""
    return Path(hass.config.path(".storage", OUTBOX_FOLDER, entry_id))


@dataclass(eq=False)
class O365Account:
    """A sending mailbox: its settings, its connection (when up) and its parts."""

    hass: HomeAssistant
    entry: O365ConfigEntry
    options: AccountOptions
    outbox: Outbox
    budget: RecipientBudget
    stats: AccountStats = field(default_factory=AccountStats)
    connection: Connection | None = None
    #: Set when Microsoft refused the credential: sends queue until reauth.
    auth_failed: bool = False
    expiry: CredentialExpiry | None = None
    #: Bounds the messages composed and on their way (see SEND_SLOTS).
    slots: asyncio.Semaphore = field(
        default_factory=lambda: asyncio.Semaphore(SEND_SLOTS)
    )
    #: The mailbox's address, looked up once when it was given by object ID.
    address: str | None = None
    # The parts, wired by async_create_account.
    sender: Sender = field(init=False)
    worker: OutboxWorker = field(init=False)
    digests: DigestScheduler = field(init=False)

    @property
    def mailbox(self) -> str:
        """Return the sending mailbox as configured (address or object ID)."""
        return self.options.mailbox

    @property
    def can_send(self) -> bool:
        """Return True while connected and the credential is not refused."""
        return self.connection is not None and not self.auth_failed

    @callback
    def async_stop(self) -> None:
        """Stop the timers of the parts (the entry unloads or is removed)."""
        self.worker.async_stop()
        self.digests.async_stop()
        self.budget.async_stop()

    @property
    def backup(self) -> O365Account | None:
        """Return the account that sends when this one cannot, if one is set."""
        if not (name := self.options.backup_account):
            return None
        return next(
            (
                account
                for account in async_accounts(self.hass)
                if account is not self and account.mailbox.casefold() == name.casefold()
            ),
            None,
        )


async def async_create_account(
    hass: HomeAssistant, entry: O365ConfigEntry
) -> O365Account:
    """Return a new account for an entry, its outbox and budget read from disk."""
    options = AccountOptions.from_entry(entry)
    outbox = Outbox(outbox_path(hass, entry.entry_id))
    await hass.async_add_executor_job(outbox.load)
    budget = RecipientBudget(hass, entry, options.daily_recipient_limit)
    await budget.async_load()
    account = O365Account(hass, entry, options, outbox, budget)
    account.sender = Sender(account)
    account.worker = OutboxWorker(account)
    account.digests = DigestScheduler(account)
    budget.listeners.append(account.worker.budget_changed)
    return account


def async_accounts(hass: HomeAssistant) -> list[O365Account]:
    """Return the accounts of every entry that has one, in setup order."""
    return [
        account
        for entry in hass.config_entries.async_entries(DOMAIN)
        if (account := getattr(entry, "runtime_data", None)) is not None
    ]


def async_get_account(hass: HomeAssistant, name: str | None) -> O365Account:
    """Return the account named ``name`` (mailbox or title), or the first.

    Accounts still setting up, retrying or awaiting reauth count: their
    messages are queued until they connect.
    """
    usable = [
        account
        for account in async_accounts(hass)
        if account.entry.disabled_by is None
        and (
            account.entry.state in ACCEPTING_STATES
            or (
                account.entry.state is ConfigEntryState.SETUP_ERROR
                and account.auth_failed
            )
        )
    ]
    if not usable:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="no_account",
            translation_placeholders=with_help(),
        )
    if name is None:
        return usable[0]
    wanted = name.strip().casefold()
    for account in usable:
        if wanted in (account.mailbox.casefold(), account.entry.title.casefold()):
            return account
    raise ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="unknown_account",
        translation_placeholders=with_help(
            {
                "account": name,
                "accounts": ", ".join(account.mailbox for account in usable),
            }
        ),
    )
