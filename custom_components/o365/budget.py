"""The sending budget: recipients per rolling 24 hours, and when alerts must wait.

Microsoft limits what one mailbox may send. Exchange Online allows 10,000
recipients per rolling 24 hours and restricts a mailbox that goes over
(defender-docs outbound-spam-sending-limits-troubleshoot.md); Outlook.com
allows far less (not published; about 300 a day is observed) and suspends
accounts that go over. Every To, Cc and Bcc recipient of every message
counts, test emails and digests included. An automation gone wild must never
cost the user their mailbox, so each account counts what it sends, durably
(Home Assistant's ``Store``), and decides for each new alert:

- it goes on its own while alerts come at a pace the budget sustains (up to
  twice the even pace, :attr:`RecipientBudget.hourly_allowance`) and a
  reserve stays free for digests and retries;
- otherwise (a storm) it is held for the next digest (:mod:`.digest`);
- ``importance: high`` alerts go on their own while the budget has room
  beyond what the pending digests need.

Digests and retried alerts only need the budget not to be exceeded
(:meth:`RecipientBudget.take`). The count is kept per minute; a minute's
recipients stop counting 24 hours after the minute ends. When not even a
digest fits, a repair issue says so and what to do.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.storage import Store

from .clock import Timer, as_datetime, now
from .const import DOMAIN
from .issues import async_update_budget_issue

#: The rolling window Microsoft counts recipients over.
WINDOW = 24 * 3600.0
#: Sends are counted per minute (a minute expires as a whole, conservatively).
BUCKET = 60.0
#: The share of the budget kept for digests and retries.
RESERVE_SHARE = 0.2
#: Alerts may go on their own at up to this many times the even pace.
BURST = 2.0
#: How long after the first unsaved change the count is written to disk.
SAVE_DELAY = 5.0
#: In a burst the sensor follows the count at most once a second (an alert's
#: own state write costs more than the rest of its bookkeeping).
REFRESH_INTERVAL = 1.0
STORAGE_VERSION = 1
#: Dispatcher signal (with the entry ID) when the count or the mode changes.
SIGNAL_BUDGET_CHANGED = f"{DOMAIN}_budget_changed_{{}}"


class RecipientBudget:
    """How many recipients one account sent in the last 24 hours, and what it may send."""

    def __init__(self, hass: HomeAssistant, entry: ConfigEntry, limit: int) -> None:
        """Count for ``entry``'s account against ``limit`` recipients per 24 hours."""
        self._hass = hass
        self._entry = entry
        self.limit = limit
        self._store: Store[dict[str, Any]] = Store(
            hass, STORAGE_VERSION, f"{DOMAIN}.budget.{entry.entry_id}"
        )
        #: Recipients sent per minute (the minute's start, POSIX seconds).
        self._sent: dict[int, int] = {}
        #: Recipients of messages on their way (taken, not yet sent).
        self._pending = 0
        #: When the next digest is due (kept across restarts), if one is.
        self.digest_due: float | None = None
        #: Wakes when the oldest counted minute stops counting.
        self._expiry = Timer(hass, self._async_changed)
        #: Shows the sends of a burst that came after the last refresh.
        self._refresh = Timer(hass, self._async_changed)
        #: When the sensor and the repair last followed the count.
        self._changed_at = -math.inf
        self._save_planned = False
        #: Called (on the event loop) when the budget has room again.
        self.listeners: list[Callable[[], None]] = []

    # -- persistence ------------------------------------------------------------

    async def async_load(self) -> None:
        """Read the count of the last 24 hours."""
        data = await self._store.async_load() or {}
        self._sent = {
            int(minute): int(count)
            for minute, count in (data.get("sent") or {}).items()
        }
        due = data.get("digest_due")
        self.digest_due = float(due) if isinstance(due, int | float) else None
        self._prune(now())
        self._schedule_expiry()

    def _data(self) -> dict[str, Any]:
        self._save_planned = False
        return {
            "sent": {str(minute): count for minute, count in self._sent.items()},
            "digest_due": self.digest_due,
        }

    @callback
    def async_save(self) -> None:
        """Write the count within a few seconds (and at shutdown at the latest).

        Only the first change plans the write (the data is read when it is
        written): planning again would put it off for as long as alerts keep
        coming.
        """
        if not self._save_planned:
            self._save_planned = True
            self._store.async_delay_save(self._data, SAVE_DELAY)

    async def async_remove(self) -> None:
        """Forget the count (the account was removed)."""
        await self._store.async_remove()

    @callback
    def async_stop(self) -> None:
        """Stop the timers (the entry unloads)."""
        self._expiry.cancel()
        self._refresh.cancel()

    # -- the count --------------------------------------------------------------

    def sent_recently(self) -> int:
        """Return the recipients sent in the last 24 hours (what the sensor shows)."""
        return self.used() - self._pending

    def used(self, at: float | None = None) -> int:
        """Return the recipients sent in the 24 hours before ``at``, plus those on their way."""
        start = (now() if at is None else at) - WINDOW - BUCKET
        return self._pending + sum(
            count for minute, count in self._sent.items() if minute > start
        )

    def used_last_hour(self, at: float) -> int:
        """Return the recipients sent in the hour before ``at``, plus those on their way."""
        start = at - 3600.0 - BUCKET
        return self._pending + sum(
            count for minute, count in self._sent.items() if minute > start
        )

    @property
    def reserve(self) -> int:
        """Return the recipients kept free for digests and retries."""
        return max(1, math.ceil(self.limit * RESERVE_SHARE))

    @property
    def hourly_allowance(self) -> int:
        """Return the recipients per hour alerts may use on their own."""
        return max(1, math.ceil(self.limit * BURST / 24))

    def admit(self, recipients: int, *, urgent: bool, keep: int, storm: bool) -> bool:
        """Decide whether a new alert goes now; if so, count it as on its way.

        ``keep`` is what the pending digests need; ``storm`` is True while
        alerts are held (a new one joins them, to keep their order).
        """
        at = now()
        used = self.used(at)
        if urgent:
            allowed = used + recipients + keep <= self.limit
        else:
            allowed = (
                not storm
                and used + recipients <= self.limit - self.reserve
                and (
                    self.used_last_hour(at) + recipients <= self.hourly_allowance
                    # One message is never a storm, however many recipients.
                    or self.used_last_hour(at) == 0
                )
            )
        if allowed:
            self._pending += recipients
        return allowed

    def take(self, recipients: int) -> bool:
        """Count a digest or a retried alert as on its way if the budget allows it."""
        if self.used() + recipients > self.limit:
            return False
        self._pending += recipients
        return True

    @callback
    def sent(self, recipients: int) -> None:
        """Record a message that went out (after :meth:`admit` or :meth:`take`)."""
        self._pending = max(0, self._pending - recipients)
        self.record(recipients)

    @callback
    def record(self, recipients: int) -> None:
        """Count recipients sent without asking first (a backup's failover)."""
        at = now()
        minute = int(at // BUCKET * BUCKET)
        self._sent[minute] = self._sent.get(minute, 0) + recipients
        self.async_save()
        if at - self._changed_at >= REFRESH_INTERVAL or self.used(at) >= self.limit:
            self._refresh.cancel()
            self._async_changed()
        elif self._refresh.due is None:
            self._refresh.schedule(self._changed_at + REFRESH_INTERVAL)

    @callback
    def release(self, recipients: int) -> None:
        """Give back what :meth:`admit` or :meth:`take` counted for a message not sent."""
        self._pending = max(0, self._pending - recipients)

    def available_at(self, recipients: int) -> float:
        """Return when ``recipients`` more fit in the budget (now, if they do)."""
        at = now()
        excess = self.used(at) + recipients - self.limit
        if excess <= 0:
            return at
        for minute in sorted(self._sent):
            excess -= self._sent[minute]
            if excess <= 0:
                return minute + BUCKET + WINDOW + 1.0
        # More is on its way than the whole budget: try again in a while.
        return at + WINDOW

    def _prune(self, at: float) -> None:
        start = at - WINDOW - BUCKET
        for minute in [m for m in self._sent if m <= start]:
            del self._sent[minute]

    @callback
    def _schedule_expiry(self) -> None:
        """Wake when the oldest minute stops counting (the sensor goes down)."""
        if self._sent:
            self._expiry.schedule(min(self._sent) + BUCKET + WINDOW + 1.0)
        else:
            self._expiry.cancel()

    @callback
    def _async_changed(self) -> None:
        at = self._changed_at = now()
        self._prune(at)
        self._schedule_expiry()
        spent = self.used(at) >= self.limit
        async_update_budget_issue(
            self._hass,
            self._entry,
            limit=self.limit,
            resumes=as_datetime(self.available_at(1)) if spent else None,
        )
        async_dispatcher_send(
            self._hass, SIGNAL_BUDGET_CHANGED.format(self._entry.entry_id)
        )
        if not spent:
            for listener in self.listeners:
                listener()
