"""Send a message now, through the backup account, or into the outbox.

Everything that goes out passes here, whoever composed it (an alert, a
digest, the test email, a retry from the outbox). The budget has already
counted what is handed in (:mod:`.budget`); the sender gives it back when
the message does not leave now.

When the account cannot send (Microsoft unreachable, throttled, a refused
credential awaiting reauth, a full mailbox, a missing permission) the backup
account sends at once, if one is set and its budget allows; otherwise a
message worth keeping is stored in the outbox and the action returns. A
non-empty outbox also sends new messages to the backup or the queue, to keep
their order. Refusals of the message itself (recipients, size, sender) raise
at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from homeassistant.exceptions import HomeAssistantError

from .clock import now
from .const import (
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
    MailboxFullError,
    MailReadWriteRequiredError,
    O365ConnectionError,
    O365Error,
    RetryPolicy,
    SendAsDeniedError,
)
from .issues import (
    async_clear_send_issues,
    async_raise_account_issue,
    async_raise_dropped_issue,
)
from .models import Outcome, OutgoingMail
from .outbox import OutboxItem

if TYPE_CHECKING:
    from .account import O365Account

#: The outbox keeps at most this many messages / bytes; the oldest give way.
OUTBOX_MAX_MESSAGES = 1000
OUTBOX_MAX_BYTES = 200 * 1024 * 1024
#: Waits between delivery attempts of a queued message: 15 s doubling to
#: 5 min, on the same backoff as the client's requests.
OUTBOX_RETRY = RetryPolicy(base_delay=15.0, max_delay=300.0, jitter=0.2)
#: The longest Retry-After the outbox honours (Outlook's upload budget is
#: counted over 5 minutes; anything longer is capped here).
OUTBOX_MAX_RETRY_AFTER = 3600.0


def keep(err: O365Error) -> bool:
    """Return True when a message that failed this way is worth keeping."""
    return err.transient or err.recoverable


class Sender:
    """Sends one account's mail: now, through its backup, or later."""

    def __init__(self, account: O365Account) -> None:
        """Send for ``account``."""
        self._account = account
        self._hass = account.hass
        #: Messages (and their bytes) being written to the outbox right now:
        #: they count against its limits before they are in it.
        self._writing = 0
        self._writing_bytes = 0

    async def async_submit(self, mail: OutgoingMail) -> Outcome:
        """Send a message the budget counted: now, through the backup, or later."""
        account = self._account
        failure: O365Error | None = None
        reason = self._queue_first_reason()
        # Without the outbox, an account that is up tries anyway.
        if account.connection is not None and (
            reason is None or not account.options.queue_on_failure
        ):
            try:
                return await self.async_send_now(mail)
            except O365Error as err:
                account.stats.failed += 1
                self.note_failure(err)
                if err.about_message:
                    raise as_home_assistant_error(
                        err, mail.sender or account.mailbox
                    ) from err
                failure = err
                reason = error_code(err)
        else:
            account.budget.release(mail.recipients)
        try:
            outcome = await self.async_failover(mail)
        except O365Error as err:
            backup = account.backup
            raise as_home_assistant_error(
                err, backup.mailbox if backup else account.mailbox
            ) from err
        if outcome is not None:
            return outcome
        if account.options.queue_on_failure and (failure is None or keep(failure)):
            return await self.async_enqueue(mail, reason or "not_connected", failure)
        if failure is not None:
            raise as_home_assistant_error(failure, account.mailbox) from failure
        raise self._not_connected()

    async def async_send_now(
        self,
        mail: OutgoingMail,
        *,
        item: OutboxItem | None = None,
        on_behalf_of: O365Account | None = None,
    ) -> Outcome:
        """Send through this account's connection (the budget counted it)."""
        account = self._account
        connection = account.connection
        if connection is None:
            account.budget.release(mail.recipients)
            raise O365ConnectionError("Not connected", unsent=True)
        sender = None if on_behalf_of else mail.sender
        try:
            receipt = await connection.client.send_mail(
                connection.mailbox_for(sender),
                mail.message,
                save_to_sent_items=mail.save_to_sent_items,
            )
        except AccessDeniedError as err:
            account.budget.release(mail.recipients)
            if sender is None or isinstance(err, MailReadWriteRequiredError):
                raise
            # Another mailbox's path: what is missing is the right to send
            # from it (Send As or Send on Behalf, and Full Access for
            # /users/{mailbox}; microsoft-graph-docs-contrib
            # concepts/outlook-send-mail-from-other-user.md), not Mail.Send.
            raise SendAsDeniedError(
                err.status, err.code, err.graph_message, request_id=err.request_id
            ) from err
        except BaseException:
            account.budget.release(mail.recipients)
            raise
        account.budget.sent(mail.recipients)
        account.stats.sent += 1
        async_clear_send_issues(self._hass, account.entry)
        self._hass.bus.async_fire(
            EVENT_MESSAGE_SENT,
            {
                "account": (on_behalf_of or account).mailbox,
                "via": account.mailbox,
                "subject": mail.message.subject,
                "recipients": mail.recipients,
                "method": receipt.method,
                "queued": item is not None,
                "attempts": item.attempts + 1 if item else 1,
            },
        )
        return Outcome("sent", via=account.mailbox)

    async def async_failover(self, mail: OutgoingMail) -> Outcome | None:
        """Send through the backup account; None if there is none or it failed.

        Raises the backup's O365Error when it refuses the message itself. One hop
        only: the backup sends itself or not at all, it never hands the
        message on to its own backup or queue.
        """
        account = self._account
        backup = account.backup
        if backup is None or not backup.can_send:
            return None
        if not backup.budget.take(mail.recipients):
            LOGGER.warning(
                "The backup account %s has no sending budget left for '%s'",
                backup.mailbox,
                mail.message.subject,
            )
            return None
        try:
            outcome = await backup.sender.async_send_now(mail, on_behalf_of=account)
        except O365Error as err:
            backup.stats.failed += 1
            backup.sender.note_failure(err)
            if err.about_message:
                raise  # the backup refused the message itself: no one can send it
            LOGGER.warning(
                "The backup account %s could not send '%s' either: %s",
                backup.mailbox,
                mail.message.subject,
                error_code(err),
            )
            return None
        account.stats.failovers += 1
        LOGGER.warning(
            "%s could not send '%s'; its backup account %s sent it",
            account.mailbox,
            mail.message.subject,
            backup.mailbox,
        )
        return outcome

    def _queue_first_reason(self) -> str | None:
        """Return why a new message cannot be sent by this account now, if so."""
        account = self._account
        if account.auth_failed:
            return "awaiting_reauthentication"
        if account.connection is None:
            return "not_connected"
        if account.outbox.queued:
            return "earlier_messages_queued"
        return None

    def _not_connected(self) -> HomeAssistantError:
        return HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key="not_connected",
            translation_placeholders=with_help({"mailbox": self._account.mailbox}),
        )

    def note_failure(self, err: O365Error) -> None:
        """Raise the repair issue (and reauth) a failure calls for."""
        account = self._account
        if isinstance(err, CredentialRefusedError):
            account.auth_failed = True
            async_raise_account_issue(self._hass, account.entry, err)
            account.entry.async_start_reauth(self._hass)
        elif isinstance(err, MailboxFullError) or (
            isinstance(err, AccessDeniedError)
            and not isinstance(err, MailReadWriteRequiredError)
        ):
            async_raise_account_issue(self._hass, account.entry, err)

    # -- the outbox ----------------------------------------------------------------

    async def async_enqueue(
        self, mail: OutgoingMail, reason: str, error: O365Error | None
    ) -> Outcome:
        """Store a message durably for the outbox worker; the action then returns."""
        account = self._account
        message = mail.message
        at = now()
        # A message that just failed waits before its next try; one queued
        # behind others wakes the worker to try the oldest again now.
        failed = error is not None

        def describe(item: OutboxItem) -> None:
            if error is None:
                return
            item.attempts = 1
            item.next_attempt = at + OUTBOX_RETRY.backoff(1)
            item.last_error = f"{error_code(error)}: {error}"
            if error.retry_after:
                item.not_before = at + min(error.retry_after, OUTBOX_MAX_RETRY_AFTER)

        try:
            await self.async_store(mail, reason=reason, describe=describe)
        except OSError as err:
            if error is not None:
                raise as_home_assistant_error(error, account.mailbox) from error
            raise self._not_connected() from err
        account.stats.queued += 1
        LOGGER.warning(
            "Could not send '%s' from %s now (%s); it is queued and will be retried",
            message.subject,
            account.mailbox,
            reason,
        )
        self._hass.bus.async_fire(
            EVENT_MESSAGE_QUEUED,
            {
                "account": account.mailbox,
                "subject": message.subject,
                "reason": reason,
                "outbox": len(account.outbox),
            },
        )
        account.worker.wake(probe=not failed)
        return Outcome("queued", reason=reason)

    async def async_store(
        self,
        mail: OutgoingMail,
        *,
        reason: str,
        held: bool = False,
        describe: Callable[[OutboxItem], None] | None = None,
    ) -> OutboxItem:
        """Write a message to the outbox, the oldest giving way when it is full.

        Raises OSError when it cannot be stored (too big for the outbox, a
        full disk); nothing was stored then.
        """
        account = self._account
        outbox = account.outbox
        size = mail.message.attachments_size
        if size > OUTBOX_MAX_BYTES:
            raise OSError(f"{size} bytes do not fit in the outbox")
        while (
            len(outbox) + self._writing >= OUTBOX_MAX_MESSAGES
            or outbox.size + self._writing_bytes + size > OUTBOX_MAX_BYTES
        ) and (victim := account.worker.oldest_droppable()):
            await self.async_drop(victim, "outbox_full")
        # Its place is taken now, before any other alert looks (no await
        # between the check and here).
        self._writing += 1
        self._writing_bytes += size
        item = outbox.new_item(mail, reason=reason, now=now(), held=held)
        if describe is not None:
            describe(item)
        try:
            await self._hass.async_add_executor_job(outbox.write, item, mail)
        except OSError as err:
            LOGGER.error(
                "Could not store '%s' in the outbox: %s", mail.message.subject, err
            )
            raise
        finally:
            self._writing -= 1
            self._writing_bytes -= size
        outbox.add(item)
        account.worker.async_outbox_changed()
        return item

    async def async_drop(self, item: OutboxItem, reason: str) -> None:
        """Give a stored message up (once, whoever asks)."""
        account = self._account
        if not account.outbox.take(item):
            return
        await self._hass.async_add_executor_job(account.outbox.delete, item)
        account.stats.dropped += 1
        LOGGER.error(
            "Gave up sending '%s' from %s after %d attempts: %s",
            item.subject,
            account.mailbox,
            item.attempts,
            reason,
        )
        self._hass.bus.async_fire(
            EVENT_MESSAGE_DROPPED,
            {
                "account": account.mailbox,
                "subject": item.subject,
                "reason": reason,
                "attempts": item.attempts,
            },
        )
        async_raise_dropped_issue(
            self._hass,
            account.entry,
            dropped=account.stats.dropped,
            subject=item.subject,
            reason=reason,
        )
        account.worker.async_outbox_changed()
