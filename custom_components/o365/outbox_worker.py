"""Deliver an account's queued alerts later, in order, on Home Assistant's clock.

The worker runs when there is something to do: when the account connects
(after a restart or a reauth), when a message is queued, when a timer it set
fires (the next try of the oldest message, after its backoff or the
service's ``Retry-After``), and when the sending budget has room again. It
never sleeps itself: each run delivers what is due and schedules the next
one with Home Assistant's event helpers (:class:`.clock.Timer`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers.dispatcher import async_dispatcher_send

from .clock import Timer, now
from .const import DOMAIN, LOGGER
from .errors import error_code
from .graph import O365Error
from .outbox import OutboxItem
from .sender import OUTBOX_MAX_RETRY_AFTER, OUTBOX_RETRY, keep

if TYPE_CHECKING:
    from .account import O365Account

#: Dispatcher signal (with the entry ID) when the outbox length changes.
SIGNAL_OUTBOX_CHANGED = f"{DOMAIN}_outbox_changed_{{}}"


class OutboxWorker:
    """Delivers one account's queued messages, oldest first."""

    def __init__(self, account: O365Account) -> None:
        """Deliver for ``account``."""
        self._account = account
        self._hass = account.hass
        self._timer = Timer(account.hass, self.wake)
        #: A run is under way (a wake meanwhile asks it to go round again).
        self._running = False
        self._again = False
        #: Try the oldest message now, whatever its backoff (a new alert came,
        #: or the previous one just went out).
        self._probe = False
        #: The queued message being sent right now (never dropped meanwhile).
        self._in_flight: OutboxItem | None = None

    @property
    def next_run(self) -> float | None:
        """Return when the worker runs next (POSIX seconds), if scheduled."""
        return self._timer.due

    @callback
    def async_start(self) -> None:
        """Try the oldest message at once (the account just connected)."""
        self.wake(probe=True)

    @callback
    def async_stop(self) -> None:
        """Stop scheduling (the entry unloads; its background task is cancelled)."""
        self._timer.cancel()

    @callback
    def wake(self, *, probe: bool = False) -> None:
        """Deliver what is due now (``probe``: the oldest too, whatever its backoff)."""
        self._probe = self._probe or probe
        # A flag, not the task: tasks start eagerly, so a run may wake the
        # worker again (the budget changed) before its own task is returned.
        if self._running:
            self._again = True
            return
        self._running = True
        self._account.entry.async_create_background_task(
            self._hass, self._async_run(), f"{DOMAIN} outbox {self._account.mailbox}"
        )

    @callback
    def budget_changed(self) -> None:
        """Deliver what waited for the budget, if anything waits at all."""
        if self._account.outbox.items:
            self.wake()

    @callback
    def async_outbox_changed(self) -> None:
        """Tell the sensors the outbox changed."""
        async_dispatcher_send(
            self._hass, SIGNAL_OUTBOX_CHANGED.format(self._account.entry.entry_id)
        )

    def oldest_droppable(self) -> OutboxItem | None:
        """Return the oldest stored message that is not being sent right now."""
        return next(
            (
                item
                for item in self._account.outbox.items
                if item is not self._in_flight
            ),
            None,
        )

    async def _async_run(self) -> None:
        try:
            while True:
                self._again = False
                await self._async_deliver_due()
                if not self._again:
                    return
        finally:
            self._running = False

    async def _async_deliver_due(self) -> None:
        """Send due messages in order; schedule the next run for the rest."""
        account = self._account
        while account.can_send:
            if not (queued := account.outbox.queued):
                self._probe = False
                self._timer.cancel()
                return
            item = queued[0]
            at = now()
            if at - item.queued_at > account.options.outbox_max_age:
                await account.sender.async_drop(item, "max_age")
                continue
            due = max(item.not_before, at if self._probe else item.next_attempt)
            if due > at:
                self._timer.schedule(due)
                return
            if not account.budget.take(item.recipients):
                # The budget's listener wakes the worker when room frees up.
                self._timer.schedule(account.budget.available_at(item.recipients))
                return
            self._probe = False
            self._in_flight = item
            try:
                await self._async_deliver(item)
            except Exception:  # noqa: BLE001
                # Never let one message (or a full disk) stop the deliveries.
                LOGGER.exception("Delivering the outbox of %s failed", account.mailbox)
                self._timer.schedule(at + OUTBOX_RETRY.max_delay)
                return
            finally:
                self._in_flight = None

    async def _async_deliver(self, item: OutboxItem) -> None:
        """Send one queued message (the budget counted it); keep or drop it on failure."""
        account = self._account
        sender = account.sender
        try:
            mail = await self._hass.async_add_executor_job(account.outbox.read, item)
        except (OSError, ValueError, KeyError) as err:
            # The message's own files are gone or damaged: it can never go.
            account.budget.release(item.recipients)
            await sender.async_drop(item, f"unreadable: {err}")
            return
        try:
            await sender.async_send_now(mail, item=item)
        except OSError as err:
            await sender.async_drop(item, f"unreadable: {err}")
            return
        except O365Error as err:
            account.stats.failed += 1
            sender.note_failure(err)
            if err.about_message:
                await sender.async_drop(item, error_code(err))
                return
            try:
                outcome = await sender.async_failover(mail)
            except O365Error as refusal:
                await sender.async_drop(item, error_code(refusal))
                return
            if outcome is None:
                await self._async_keep(item, err)
                return
        if account.outbox.take(item):
            await self._hass.async_add_executor_job(account.outbox.delete, item)
        LOGGER.info(
            "Delivered queued '%s' from %s (%d waiting)",
            item.subject,
            account.mailbox,
            len(account.outbox.queued),
        )
        self.async_outbox_changed()
        self._probe = True

    async def _async_keep(self, item: OutboxItem, err: O365Error) -> None:
        """Schedule the next try of a queued message, or give it up."""
        sender = self._account.sender
        if not keep(err):
            await sender.async_drop(item, error_code(err))
            return
        at = now()
        item.attempts += 1
        item.last_error = f"{error_code(err)}: {err}"
        item.next_attempt = at + OUTBOX_RETRY.backoff(item.attempts)
        if err.retry_after:
            # Honour Retry-After (an upload budget's five minutes, say).
            item.not_before = at + min(err.retry_after, OUTBOX_MAX_RETRY_AFTER)
        await self._hass.async_add_executor_job(self._account.outbox.update, item)
        LOGGER.info(
            "Queued '%s' still cannot be sent (%s); next try in %.0f s",
            item.subject,
            error_code(err),
            max(item.next_attempt, item.not_before) - at,
        )
