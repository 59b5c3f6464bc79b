"""One configured sending mailbox at run time: send now, through the backup, or later.

An :class:`O365Account` exists from the moment its entry starts setting up,
connected or not, so alerts are accepted (and queued in its durable outbox)
while Microsoft cannot be reached, while setup is retrying, and while a
refused credential awaits re-authentication. When the account cannot send
now and another account is its backup, the backup sends at once instead. A
background worker delivers the outbox in order once the account is connected.

The account does not know how its tokens are obtained: its connection's
token provider and mailbox path say that.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
import random
import time
from typing import TYPE_CHECKING, Any, Literal

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.util.hass_dict import HassKey

from .connection import Connection
from .const import (
    CONF_BACKUP_ACCOUNT,
    CONF_DEFAULT_RECIPIENTS,
    CONF_MAX_MESSAGE_SIZE_MB,
    CONF_OUTBOX_MAX_AGE_HOURS,
    CONF_QUEUE_ON_FAILURE,
    CONF_SAVE_TO_SENT_ITEMS,
    CONF_SOURCE,
    DEFAULT_MAX_MESSAGE_SIZE_MB,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_QUEUE_ON_FAILURE,
    DEFAULT_SAVE_TO_SENT_ITEMS,
    DOMAIN,
    EVENT_MESSAGE_DROPPED,
    EVENT_MESSAGE_QUEUED,
    EVENT_MESSAGE_SENT,
    LOGGER,
    with_help,
)
from .errors import as_home_assistant_error, error_code
from .graph import (
    AccessDeniedError,
    CredentialRefusedError,
    EmailAddress,
    GraphError,
    MailboxFullError,
    MailReadWriteRequiredError,
    Message,
    O365Error,
)
from .graph.message import is_email_address
from .issues import (
    async_clear_send_issues,
    async_raise_account_issue,
    async_raise_dropped_issue,
)
from .outbox import Outbox, OutboxItem

if TYPE_CHECKING:
    from .models import O365ConfigEntry

DATA_ACCOUNTS: HassKey[dict[str, O365Account]] = HassKey(f"{DOMAIN}_accounts")
#: Dispatcher signal (with the entry ID) when the outbox length changes.
SIGNAL_OUTBOX_CHANGED = f"{DOMAIN}_outbox_changed_{{}}"

OUTBOX_FOLDER = "o365_outbox"
#: Entry states in which an account accepts messages (queued until connected);
#: a failed setup counts only while it awaits a new credential (reauth).
ACCEPTING_STATES = (
    ConfigEntryState.LOADED,
    ConfigEntryState.SETUP_IN_PROGRESS,
    ConfigEntryState.SETUP_RETRY,
)
#: The outbox keeps at most this many messages / bytes; the oldest give way.
OUTBOX_MAX_MESSAGES = 100
OUTBOX_MAX_BYTES = 200 * 1024 * 1024
#: Waits between delivery attempts of a queued message: 15 s doubling to 5 min.
OUTBOX_FIRST_DELAY = 15.0
OUTBOX_MAX_DELAY = 300.0
#: The longest Retry-After the outbox honours (Outlook's upload budget is
#: counted over 5 minutes; anything longer is capped here).
OUTBOX_MAX_RETRY_AFTER = 3600.0


@dataclass(slots=True)
class AccountStats:
    """What happened to this account's messages since Home Assistant started."""

    sent: int = 0
    failed: int = 0
    queued: int = 0
    dropped: int = 0
    #: Messages this account could not send that its backup sent.
    failovers: int = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a submitted message."""

    status: Literal["sent", "queued"]
    #: The mailbox that sent it (this one or its backup), when sent.
    via: str | None = None
    #: Why it waits in the outbox, when queued.
    reason: str | None = None


def outbox_delay(attempts: int) -> float:
    """Return the wait before the next delivery attempt of a queued message."""
    delay = min(OUTBOX_MAX_DELAY, OUTBOX_FIRST_DELAY * 2.0 ** max(0, attempts - 1))
    jitter: float = random.uniform(0.8, 1.2)
    return delay * jitter


def _keep(err: O365Error) -> bool:
    """Return True when a message that failed this way is worth keeping."""
    return err.transient or err.recoverable


@dataclass(eq=False)
class O365Account:
    """A sending mailbox: its settings, Graph connection (when up) and outbox."""

    hass: HomeAssistant
    entry: O365ConfigEntry
    outbox: Outbox
    connection: Connection | None = None
    stats: AccountStats = field(default_factory=AccountStats)
    #: Set when Microsoft refused the credential: sends queue until reauth.
    auth_failed: bool = False
    _mailbox_address: str | None = None
    _wake: asyncio.Event = field(default_factory=asyncio.Event)
    #: The queued message being sent right now (never dropped meanwhile).
    _in_flight: OutboxItem | None = None
    #: Try the oldest message now, whatever its backoff (a new alert came).
    _probe: bool = False

    # -- settings ---------------------------------------------------------------

    @property
    def mailbox(self) -> str:
        """Return the sending mailbox as configured (address or object ID)."""
        return str(self.entry.data[CONF_SOURCE])

    def _option(self, key: str, default: Any) -> Any:
        return self.entry.options.get(key, default)

    @property
    def save_to_sent_items(self) -> bool:
        """Return whether sent mail is kept in Sent Items by default."""
        return bool(self._option(CONF_SAVE_TO_SENT_ITEMS, DEFAULT_SAVE_TO_SENT_ITEMS))

    @property
    def queue_on_failure(self) -> bool:
        """Return whether transient failures queue the message."""
        return bool(self._option(CONF_QUEUE_ON_FAILURE, DEFAULT_QUEUE_ON_FAILURE))

    @property
    def max_message_size(self) -> int:
        """Return the message size limit in bytes."""
        megabytes = self._option(CONF_MAX_MESSAGE_SIZE_MB, DEFAULT_MAX_MESSAGE_SIZE_MB)
        return int(megabytes) * 1024 * 1024

    @property
    def outbox_max_age(self) -> float:
        """Return how long a queued message is tried, in seconds."""
        hours = self._option(CONF_OUTBOX_MAX_AGE_HOURS, DEFAULT_OUTBOX_MAX_AGE_HOURS)
        return float(hours) * 3600

    @property
    def default_recipients(self) -> tuple[EmailAddress, ...]:
        """Return the recipients configured for actions that name none."""
        return tuple(
            EmailAddress.parse(value)
            for value in self._option(CONF_DEFAULT_RECIPIENTS, None) or ()
        )

    @property
    def backup(self) -> O365Account | None:
        """Return the account that sends when this one cannot, if one is set."""
        name = self._option(CONF_BACKUP_ACCOUNT, None)
        if not name:
            return None
        return next(
            (
                account
                for account in async_get_accounts(self.hass).values()
                if account is not self and account.mailbox.casefold() == name.casefold()
            ),
            None,
        )

    async def async_default_recipients(self) -> tuple[EmailAddress, ...]:
        """Return the default recipients, else the mailbox itself.

        A mailbox given by object ID is looked up once (``GET /users/{id}``);
        without the directory permission the action must name a target.
        """
        if recipients := self.default_recipients:
            return recipients
        if is_email_address(self.mailbox):
            return (EmailAddress(self.mailbox),)
        if self._mailbox_address is None:
            self._mailbox_address = await self._async_lookup_address()
        return (EmailAddress(self._mailbox_address),)

    async def _async_lookup_address(self) -> str:
        target_required = ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="target_required",
            translation_placeholders=with_help({"mailbox": self.mailbox}),
        )
        if self.connection is None:
            raise target_required
        try:
            user = await self.connection.client.get_user(self.connection.mailbox)
        except GraphError as err:
            if err.transient:
                raise as_home_assistant_error(err, self.mailbox) from err
            raise target_required from err
        except O365Error as err:
            raise as_home_assistant_error(err, self.mailbox) from err
        if not (address := user.mail or user.user_principal_name):
            raise target_required
        return address

    # -- sending ----------------------------------------------------------------

    async def async_submit(
        self, message: Message, *, save_to_sent_items: bool
    ) -> Outcome:
        """Send a message now, through the backup, or queue it for later.

        Refusals of the message itself (recipients, size, sender) raise at
        once. When this account cannot send now (network, throttling, 5xx,
        the token endpoint, a credential awaiting reauth, a full mailbox, a
        missing permission) the backup account sends it, if one is set; if
        that fails too, or there is none, a message worth keeping is queued
        when the option allows. A non-empty outbox also sends new messages to
        the backup or the queue, to keep their order.
        """
        failure: O365Error | None = None
        reason = self._queue_first_reason()
        connection = self.connection
        # Without the outbox, an account that is up tries anyway.
        if connection is not None and (reason is None or not self.queue_on_failure):
            try:
                return await self._async_send_now(
                    connection, message, save_to_sent_items
                )
            except O365Error as err:
                self.stats.failed += 1
                self.async_note_failure(err)
                if err.about_message:
                    raise as_home_assistant_error(err, self.mailbox) from err
                failure = err
                reason = error_code(err)
        try:
            outcome = await self._async_failover(message, save_to_sent_items)
        except O365Error as err:
            mailbox = self.backup.mailbox if self.backup else self.mailbox
            raise as_home_assistant_error(err, mailbox) from err
        if outcome is not None:
            return outcome
        if self.queue_on_failure and (failure is None or _keep(failure)):
            reason = reason or "not_connected"
            await self._async_enqueue(message, save_to_sent_items, reason, failure)
            return Outcome("queued", reason=reason)
        if failure is not None:
            raise as_home_assistant_error(failure, self.mailbox) from failure
        raise self._not_connected()

    def _not_connected(self) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="not_connected",
            translation_placeholders=with_help({"mailbox": self.mailbox}),
        )

    def _queue_first_reason(self) -> str | None:
        """Return why a new message cannot be sent by this account now, if so."""
        if self.connection is None:
            return "not_connected"
        if self.auth_failed:
            return "awaiting_reauthentication"
        if len(self.outbox):
            return "earlier_messages_queued"
        return None

    async def _async_failover(
        self, message: Message, save_to_sent_items: bool
    ) -> Outcome | None:
        """Send through the backup account; None if there is none or it failed.

        Raises the backup's error when it refuses the message itself.

        One hop only: the backup sends itself or not at all, it never hands
        the message on to its own backup or queue.
        """
        backup = self.backup
        if backup is None or backup.connection is None or backup.auth_failed:
            return None
        try:
            outcome = await backup._async_send_now(  # noqa: SLF001 - same class
                backup.connection, message, save_to_sent_items, on_behalf_of=self
            )
        except O365Error as err:
            backup.stats.failed += 1
            backup.async_note_failure(err)
            if err.about_message:
                raise  # the backup refused the message itself: no one can send it
            LOGGER.warning(
                "The backup account %s could not send '%s' either: %s",
                backup.mailbox,
                message.subject,
                error_code(err),
            )
            return None
        self.stats.failovers += 1
        LOGGER.warning(
            "%s could not send '%s'; its backup account %s sent it",
            self.mailbox,
            message.subject,
            backup.mailbox,
        )
        return outcome

    async def _async_send_now(
        self,
        connection: Connection,
        message: Message,
        save_to_sent_items: bool,
        item: OutboxItem | None = None,
        *,
        on_behalf_of: O365Account | None = None,
    ) -> Outcome:
        receipt = await connection.client.send_mail(
            connection.mailbox,
            message,
            save_to_sent_items=save_to_sent_items,
            max_message_size=self.max_message_size,
        )
        self.stats.sent += 1
        async_clear_send_issues(self.hass, self.entry)
        self.hass.bus.async_fire(
            EVENT_MESSAGE_SENT,
            {
                "account": (on_behalf_of or self).mailbox,
                "via": self.mailbox,
                "subject": message.subject,
                "recipients": message.recipient_count,
                "method": receipt.method,
                "queued": item is not None,
                "attempts": item.attempts + 1 if item else 1,
            },
        )
        return Outcome("sent", via=self.mailbox)

    def async_note_failure(self, err: O365Error) -> None:
        """Raise the repair issue (and reauth) a failure calls for."""
        if isinstance(err, CredentialRefusedError):
            self.auth_failed = True
            async_raise_account_issue(self.hass, self.entry, err)
            self.entry.async_start_reauth(self.hass)
        elif isinstance(err, MailboxFullError) or (
            isinstance(err, AccessDeniedError)
            and not isinstance(err, MailReadWriteRequiredError)
        ):
            async_raise_account_issue(self.hass, self.entry, err)

    # -- the outbox ----------------------------------------------------------------

    async def _async_enqueue(
        self,
        message: Message,
        save_to_sent_items: bool,
        reason: str,
        error: O365Error | None,
    ) -> None:
        """Store a message durably; the action then returns normally."""
        if message.attachments_size > OUTBOX_MAX_BYTES:
            if error is not None:
                raise as_home_assistant_error(error, self.mailbox) from error
            raise self._not_connected()
        while (
            len(self.outbox) >= OUTBOX_MAX_MESSAGES
            or self.outbox.size + message.attachments_size > OUTBOX_MAX_BYTES
        ) and (victim := self._oldest_droppable()):
            await self._async_drop(victim, "outbox_full")
        now = time.time()
        # A message that just failed waits before its next try; one queued
        # behind others wakes the worker to try the oldest again now.
        failed = error is not None
        item = self.outbox.new_item(
            message,
            reason=reason,
            now=now,
            attempts=1 if failed else 0,
            next_attempt=now + outbox_delay(1) if failed else now,
        )
        if error is not None and error.retry_after:
            item.not_before = now + min(error.retry_after, OUTBOX_MAX_RETRY_AFTER)
        try:
            await self.hass.async_add_executor_job(
                lambda: self.outbox.write(
                    item, message, save_to_sent_items=save_to_sent_items
                )
            )
        except OSError as err:
            LOGGER.error("Could not store '%s' in the outbox: %s", message.subject, err)
            if error is not None:
                raise as_home_assistant_error(error, self.mailbox) from error
            raise self._not_connected() from err
        self.outbox.add(item)
        self.stats.queued += 1
        LOGGER.warning(
            "Could not send '%s' from %s now (%s); it is queued and will be retried",
            message.subject,
            self.mailbox,
            reason,
        )
        self.hass.bus.async_fire(
            EVENT_MESSAGE_QUEUED,
            {
                "account": self.mailbox,
                "subject": message.subject,
                "reason": reason,
                "outbox": len(self.outbox),
            },
        )
        self._async_outbox_changed()
        self._probe = self._probe or not failed
        self._wake.set()

    def _oldest_droppable(self) -> OutboxItem | None:
        return next(
            (item for item in self.outbox.items if item is not self._in_flight), None
        )

    async def _async_drop(self, item: OutboxItem, reason: str) -> None:
        """Give a queued message up (once, whoever asks)."""
        if not self.outbox.take(item):
            return
        await self.hass.async_add_executor_job(self.outbox.delete, item)
        self.stats.dropped += 1
        LOGGER.error(
            "Gave up sending '%s' from %s after %d attempts: %s",
            item.subject,
            self.mailbox,
            item.attempts,
            reason,
        )
        self.hass.bus.async_fire(
            EVENT_MESSAGE_DROPPED,
            {
                "account": self.mailbox,
                "subject": item.subject,
                "reason": reason,
                "attempts": item.attempts,
            },
        )
        async_raise_dropped_issue(
            self.hass,
            self.entry,
            dropped=self.stats.dropped,
            subject=item.subject,
            reason=reason,
        )
        self._async_outbox_changed()

    def _async_outbox_changed(self) -> None:
        async_dispatcher_send(
            self.hass, SIGNAL_OUTBOX_CHANGED.format(self.entry.entry_id)
        )

    async def async_run_outbox(self) -> None:
        """Deliver queued messages in order, with backoff, while connected.

        The oldest message is tried at once when the account connects (after
        a restart or a reauth) and whenever one was just delivered.
        """
        self._probe = True
        while (connection := self.connection) is not None and not self.auth_failed:
            if not self.outbox.items:
                self._probe = False
                self._wake.clear()
                await self._wake.wait()
                continue
            item = self.outbox.items[0]
            now = time.time()
            if now - item.queued_at > self.outbox_max_age:
                await self._async_drop(item, "max_age")
                continue
            wait_until = max(
                item.not_before, item.next_attempt if not self._probe else 0.0
            )
            if wait_until > now:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait_until - now):
                        await self._wake.wait()
                continue
            self._probe = False
            self._in_flight = item
            try:
                await self._async_deliver(connection, item)
            except Exception:  # noqa: BLE001
                # Never let one message (or a full disk) stop the deliveries.
                LOGGER.exception("Delivering the outbox of %s failed", self.mailbox)
                await asyncio.sleep(OUTBOX_MAX_DELAY)
            finally:
                self._in_flight = None

    async def _async_deliver(self, connection: Connection, item: OutboxItem) -> None:
        try:
            message, save = await self.hass.async_add_executor_job(
                self.outbox.read, item
            )
        except (OSError, ValueError, KeyError) as err:
            # The message's own files are gone or damaged: it can never go.
            await self._async_drop(item, f"unreadable: {err}")
            return
        try:
            await self._async_send_now(connection, message, save, item)
        except OSError as err:
            # The message's own files are gone or damaged: it can never go.
            await self._async_drop(item, f"unreadable: {err}")
            return
        except O365Error as err:
            self.stats.failed += 1
            self.async_note_failure(err)
            if err.about_message:
                await self._async_drop(item, error_code(err))
                return
            try:
                outcome = await self._async_failover(message, save)
            except O365Error as refusal:
                await self._async_drop(item, error_code(refusal))
                return
            if outcome is None:
                await self._async_keep(item, err)
                return
        if self.outbox.take(item):
            await self.hass.async_add_executor_job(self.outbox.delete, item)
        LOGGER.info(
            "Delivered queued '%s' from %s (%d waiting)",
            item.subject,
            self.mailbox,
            len(self.outbox),
        )
        self._async_outbox_changed()
        self._probe = True

    async def _async_keep(self, item: OutboxItem, err: O365Error) -> None:
        """Schedule the next try of a queued message, or give it up."""
        if not _keep(err):
            await self._async_drop(item, error_code(err))
            return
        now = time.time()
        item.attempts += 1
        item.last_error = f"{error_code(err)}: {err}"
        item.next_attempt = now + outbox_delay(item.attempts)
        if err.retry_after:
            # Honour Retry-After (an upload budget's five minutes, say).
            item.not_before = now + min(err.retry_after, OUTBOX_MAX_RETRY_AFTER)
        await self.hass.async_add_executor_job(self.outbox.update, item)
        LOGGER.info(
            "Queued '%s' still cannot be sent (%s); next try in %.0f s",
            item.subject,
            error_code(err),
            max(item.next_attempt, item.not_before) - now,
        )


def async_get_accounts(hass: HomeAssistant) -> dict[str, O365Account]:
    """Return the accounts by entry ID."""
    return hass.data.setdefault(DATA_ACCOUNTS, {})


def async_get_account(hass: HomeAssistant, name: str | None) -> O365Account:
    """Return the account named ``name`` (mailbox or title), or the first.

    Accounts still setting up, retrying or awaiting reauth count: their
    messages are queued until they connect.
    """
    accounts = async_get_accounts(hass)
    usable = [
        account
        for entry in hass.config_entries.async_entries(DOMAIN)
        if (account := accounts.get(entry.entry_id)) is not None
        and entry.disabled_by is None
        and (
            entry.state in ACCEPTING_STATES
            or (entry.state is ConfigEntryState.SETUP_ERROR and account.auth_failed)
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
    wanted = name.strip().lower()
    for account in usable:
        if wanted in (account.mailbox.lower(), account.entry.title.lower()):
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
