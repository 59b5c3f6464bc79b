"""Alert storms: hold alerts and send them together as digests, on Home Assistant's clock.

When alerts come faster than the sending budget sustains (:mod:`.budget`),
new ones are held in the outbox (durable: a restart loses none) instead of
sent. A timer then sends one digest per recipient set: each held alert's
time, title and message (identical ones once, with a count) and the latest
snapshot of each camera, inline, within the mailbox's size limits. The
interval between digests spreads what is left of the budget over the day
(at least 15 minutes, at most 6 hours apart), so every alert reaches a mail
without the mailbox going over its limit. When a digest finds nothing new
held, the storm is over and alerts go on their own again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from html import escape
from html.parser import HTMLParser
from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.exceptions import HomeAssistantError
from homeassistant.util import dt as dt_util

from .budget import WINDOW
from .clock import Timer, as_datetime, now
from .const import DOMAIN, EVENT_DIGEST_SENT, LOGGER, with_help
from .graph import (
    Attachment,
    BodyType,
    Importance,
    Message,
    MessageLimitError,
    MessageLimits,
    check_message_limits,
)
from .models import Outcome, OutgoingMail
from .outbox import OutboxItem

if TYPE_CHECKING:
    from .account import O365Account

#: Digests go at least this far apart, and at most this far.
DIGEST_MIN_INTERVAL = 15 * 60.0
DIGEST_MAX_INTERVAL = 6 * 3600.0
#: The longest subject line a digest gets.
MAX_SUBJECT = 200
#: Why a held alert waits (an outbox reason, not a translation key).
HELD = "sending_budget"


class _TextOf(HTMLParser):
    """The text an HTML body shows (for the digest's list)."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag in ("script", "style"):
            self._skip += 1
        elif tag in ("br", "p", "div", "li", "tr"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style"):
            self._skip = max(0, self._skip - 1)

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def body_text(message: Message) -> str:
    """Return a message's body as one line of text."""
    text = message.body
    if message.body_type is BodyType.HTML:
        parser = _TextOf()
        parser.feed(text)
        parser.close()
        text = "".join(parser.parts)
    return " ".join(text.split())


@dataclass(slots=True)
class _Line:
    """Identical alerts of a digest: when, what, how many."""

    first: datetime
    last: datetime
    title: str
    text: str
    important: bool
    count: int = 1


def _lines(entries: Sequence[tuple[OutboxItem, OutgoingMail]]) -> list[_Line]:
    lines: dict[tuple[str, str], _Line] = {}
    for item, mail in entries:
        at = dt_util.as_local(as_datetime(item.queued_at))
        title = mail.message.subject
        text = body_text(mail.message)
        important = mail.message.importance is Importance.HIGH
        if (line := lines.get((title, text))) is None:
            lines[title, text] = _Line(at, at, title, text, important)
        else:
            line.last = at
            line.count += 1
            line.important = line.important or important
    return list(lines.values())


@dataclass(slots=True)
class _Pictures:
    """What a digest attaches, and what it had to leave out."""

    chosen: list[Attachment]
    #: Each inline camera picture's time (the alert it came with).
    taken: dict[str, datetime]
    #: Attachments that did not fit (older snapshots of a camera never count:
    #: the latest replaces them on purpose).
    left_out: int


def _pictures(
    entries: Sequence[tuple[OutboxItem, OutgoingMail]], limits: MessageLimits
) -> _Pictures:
    """Choose the attachments that fit: the latest snapshot per camera first."""
    latest: dict[str, Attachment] = {}
    taken: dict[str, datetime] = {}
    others: list[Attachment] = []
    for item, mail in entries:
        for attachment in mail.message.attachments:
            if attachment.content_id and attachment.content_type.startswith("image/"):
                # Re-inserted: the dict's order is the cameras' latest pictures'.
                latest.pop(attachment.content_id, None)
                latest[attachment.content_id] = attachment
                taken[attachment.content_id] = as_datetime(item.queued_at)
            else:
                others.append(attachment)
    chosen: list[Attachment] = []
    # Each camera's latest picture is shown in the digest, whatever the alert
    # did with it; other files stay files.
    pictures = [replace(a, inline=True) for a in reversed(latest.values())]
    candidates = [*pictures, *reversed(others)]
    for attachment in candidates:
        candidate = Message(subject="", body="", attachments=(*chosen, attachment))
        try:
            check_message_limits(candidate, limits)
        except MessageLimitError:
            continue
        chosen.append(attachment)
    return _Pictures(chosen, taken, len(candidates) - len(chosen))


#: Inline styles (mail clients drop style sheets): a plain, readable table.
_TABLE = (
    'style="border-collapse:collapse;font-family:Segoe UI,Helvetica,Arial,'
    'sans-serif;font-size:14px"'
)
_CELL = 'style="border:1px solid #d0d0d0;padding:4px 8px;vertical-align:top;{}"'


def compose_digest(
    entries: Sequence[tuple[OutboxItem, OutgoingMail]],
    limits: MessageLimits,
    daily_limit: int,
) -> OutgoingMail:
    """Return one message listing held alerts (same recipients), oldest first."""
    first = entries[0][1]
    lines = _lines(entries)
    pictures = _pictures(entries, limits)
    count = len(entries)
    titles = list(dict.fromkeys(line.title for line in lines))
    subject = f"{count} alerts: {', '.join(titles)}"
    if len(subject) > MAX_SUBJECT:
        subject = subject[: MAX_SUBJECT - 1].rstrip(", ") + "…"
    start = lines[0].first if lines else dt_util.now()
    end = max(line.last for line in lines) if lines else start
    head = "".join(
        f"<th {_CELL.format('text-align:left;background:#f3f3f3')}>{name}</th>"
        for name in ("Time", "Alert", "Message")
    )
    rows = "".join(
        "<tr>"
        f"<td {_CELL.format('white-space:nowrap')}>{_when(line)}</td>"
        f"<td {_CELL.format('')}>{'<b>' if line.important else ''}"
        f"{escape(line.title)}{'</b>' if line.important else ''}"
        f"{f' ({line.count} times)' if line.count > 1 else ''}</td>"
        f"<td {_CELL.format('')}>{escape(line.text)}</td>"
        "</tr>"
        for line in lines
    )
    images = "".join(
        f'<p style="margin:16px 0 4px">{escape(p.content_id)}, latest picture '
        f"({dt_util.as_local(pictures.taken[p.content_id]):%H:%M:%S}):</p>"
        f'<p style="margin:0"><img src="cid:{escape(p.content_id)}" '
        f'alt="{escape(p.content_id)}" style="max-width:100%;height:auto"></p>'
        for p in pictures.chosen
        if p.content_id and p.is_inline and p.content_id in pictures.taken
    )
    note = (
        "<p>1 attached file of these alerts is not included: it did not fit "
        "in one message.</p>"
        if pictures.left_out == 1
        else f"<p>{pictures.left_out} attached files of these alerts are not "
        "included: they did not fit in one message.</p>"
        if pictures.left_out
        else ""
    )
    day = f"{start:%Y-%m-%d}"
    until = f"{end:%H:%M}" if f"{end:%Y-%m-%d}" == day else f"{end:%Y-%m-%d %H:%M}"
    body = (
        f"<p>{count} alerts from Home Assistant, {start:%H:%M} to {until} on "
        f"{day} ({start:%Z}), sent together: they came faster than this "
        f"mailbox's sending budget of {daily_limit} recipients a day allows "
        "for alerts on their own.</p>"
        f"<table {_TABLE}><tr>{head}</tr>{rows}</table>{images}{note}"
    )
    mails = [mail for _, mail in entries]
    important = any(mail.urgent for mail in mails)
    return OutgoingMail(
        Message(
            subject=subject,
            body=body,
            body_type=BodyType.HTML,
            to=first.message.to,
            cc=first.message.cc,
            bcc=first.message.bcc,
            reply_to=first.message.reply_to,
            importance=Importance.HIGH if important else None,
            attachments=tuple(pictures.chosen),
        ),
        save_to_sent_items=any(mail.save_to_sent_items for mail in mails),
        sender=first.sender,
    )


def _when(line: _Line) -> str:
    if line.count == 1 or line.first == line.last:
        return f"{line.first:%H:%M:%S}"
    return f"{line.first:%H:%M:%S} to {line.last:%H:%M:%S}"


class DigestScheduler:
    """Holds one account's alerts in a storm and sends them as digests."""

    def __init__(self, account: O365Account) -> None:
        """Hold and send for ``account``."""
        self._account = account
        self._hass = account.hass
        self._timer = Timer(account.hass, self._async_due)
        self._task: asyncio.Task[None] | None = None

    @property
    def active(self) -> bool:
        """Return True while alerts are held (a storm)."""
        return bool(self._account.outbox.held)

    @property
    def next_digest(self) -> float | None:
        """Return when the next digest is due (POSIX seconds), if one is."""
        return self._timer.due

    @property
    def keep(self) -> int:
        """Return the recipients one digest per held group needs."""
        groups: dict[str, int] = {}
        for item in self._account.outbox.held:
            groups.setdefault(item.group, item.recipients)
        return sum(groups.values())

    def interval(self) -> float:
        """Return the wait to the next digest: what is left, spread over a day."""
        budget = self._account.budget
        room = max(1, budget.limit - budget.used())
        spread = WINDOW * max(1, self.keep) / room
        return min(DIGEST_MAX_INTERVAL, max(DIGEST_MIN_INTERVAL, spread))

    @callback
    def async_start(self) -> None:
        """Send what was held before a restart when it is due."""
        if self.active:
            due = self._account.budget.digest_due
            self._schedule(now() if due is None else due)

    @callback
    def async_stop(self) -> None:
        """Stop the timer (the entry unloads)."""
        self._timer.cancel()

    async def async_hold(self, mail: OutgoingMail) -> Outcome:
        """Keep an alert for the next digest (the budget did not count it)."""
        account = self._account
        try:
            await account.sender.async_store(mail, reason=HELD, held=True)
        except OSError as err:
            # It cannot wait: better one mail over the pace than a lost alert.
            LOGGER.warning(
                "Could not hold '%s' for a digest (%s); sending it now",
                mail.message.subject,
                err,
            )
            if account.budget.take(mail.recipients):
                return await account.sender.async_submit(mail)
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="cannot_hold",
                translation_placeholders=with_help(
                    {"mailbox": account.mailbox, "details": str(err)}
                ),
            ) from err
        account.stats.held += 1
        LOGGER.debug(
            "Holding '%s' of %s for a digest (%d held)",
            mail.message.subject,
            account.mailbox,
            len(account.outbox.held),
        )
        if self._timer.due is None:
            self._schedule(now() + self.interval())
        return Outcome("held", reason=HELD)

    @callback
    def _schedule(self, at: float) -> None:
        self._timer.schedule(at)
        budget = self._account.budget
        budget.digest_due = at
        budget.async_save()

    @callback
    def _async_due(self) -> None:
        # Tasks start eagerly: one that finished at once is already done.
        if self._task is None or self._task.done():
            self._task = self._account.entry.async_create_background_task(
                self._hass, self._async_flush(), f"{DOMAIN} digest"
            )

    async def _async_flush(self) -> None:
        """Send a digest per recipient set, as far as the budget allows."""
        account = self._account
        groups: dict[str, list[OutboxItem]] = {}
        for item in account.outbox.held:
            groups.setdefault(item.group, []).append(item)
        for items in groups.values():
            if not await self._async_send_group(items):
                # Not even a digest fits: wait for room in the budget.
                self._schedule(account.budget.available_at(items[0].recipients))
                return
        if self.active:
            self._schedule(now() + self.interval())
        else:
            self._timer.cancel()
            account.budget.digest_due = None
            account.budget.async_save()

    async def _async_send_group(self, items: list[OutboxItem]) -> bool:
        """Send the digest of one recipient set; False if the budget has no room."""
        account = self._account
        sender = account.sender
        if not account.budget.take(items[0].recipients):
            return False
        entries: list[tuple[OutboxItem, OutgoingMail]] = []
        for item in items:
            try:
                entries.append(
                    (
                        item,
                        await self._hass.async_add_executor_job(
                            account.outbox.read, item
                        ),
                    )
                )
            except (OSError, ValueError, KeyError) as err:
                await sender.async_drop(item, f"unreadable: {err}")
        if not entries:
            account.budget.release(items[0].recipients)
            return True
        digest = compose_digest(entries, account.options.limits, account.budget.limit)
        try:
            outcome = await sender.async_submit(digest)
        except HomeAssistantError as err:
            # Refused for good (a recipient, the sender): no digest can go.
            for item, _ in entries:
                await sender.async_drop(item, f"digest refused: {err}")
            return True
        for item, _ in entries:
            if account.outbox.take(item):
                await self._hass.async_add_executor_job(account.outbox.delete, item)
        account.stats.digests += 1
        LOGGER.info(
            "Sent a digest of %d alerts from %s (%s)",
            len(entries),
            account.mailbox,
            outcome.status,
        )
        self._hass.bus.async_fire(
            EVENT_DIGEST_SENT,
            {
                "account": account.mailbox,
                "alerts": len(entries),
                "recipients": digest.recipients,
                "queued": outcome.status != "sent",
            },
        )
        account.worker.async_outbox_changed()
        return True
