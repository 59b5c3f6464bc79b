"""Alert storms end to end: the budget holds, digests go out, no limit is crossed.

400 alerts within a minute, then a day of Home Assistant's time: every alert's
title and message reaches a mail, an important alert goes on its own, a
restart in the middle loses nothing, and the emulator (which counts recipients
per mailbox over a rolling 24 hours, as Exchange does) never sees its limit
crossed.
"""

from __future__ import annotations

from html import unescape

from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.o365.const import (
    CONF_DAILY_RECIPIENT_LIMIT,
    EVENT_DIGEST_SENT,
)
from emulator import Emulator, ReceivedMessage

from .conftest import (
    FRONT_DOOR,
    MAILBOX,
    PERSONAL,
    Clock,
    add_personal_account,
    alert,
    set_up,
)

#: Alerts in the storm, and how long it lasts.
STORM = 400
STORM_SECONDS = 60.0
URGENT = ("Smoke in the kitchen", "The kitchen smoke detector went off.")


def storm_alert(number: int) -> tuple[str, str]:
    """Return an alert of the storm: a third are the same flapping door."""
    if number % 3 == 0:
        return "Front door", "The front door opened."
    return f"Motion {number}", f"Movement seen by sensor {number}."


async def run_storm(clock: Clock, hass: HomeAssistant, account: str) -> None:
    """Send the storm's alerts (every tenth with a snapshot) and the urgent one."""
    pause = STORM_SECONDS / STORM
    start = clock.moved
    for number in range(STORM):
        title, message = storm_alert(number)
        data = {"account": account}
        if number % 10 == 0:
            data["cameras"] = [FRONT_DOOR]
        await clock.run(alert(hass, title, message, **data))
        if number == STORM // 2:
            await clock.run(alert(hass, *URGENT, account=account, importance="high"))
        await clock.tick(pause)
    # Within the minute: no alert had to wait for the clock to move on.
    assert clock.moved - start <= STORM_SECONDS + 1, clock.moved - start


def delivered(emulator: Emulator, mailbox: str) -> list[ReceivedMessage]:
    return [
        m
        for m in emulator.messages
        if m.via != "ndr" and m.submitter.address.casefold() == mailbox.casefold()
    ]


def text_of(message: ReceivedMessage) -> str:
    return unescape(f"{message.subject}\n{message.message['body']['content']}")


def check_storm(emulator: Emulator, mailbox: str, limit: int) -> list[ReceivedMessage]:
    """Every alert in a mail, the limit never crossed; return the mails."""
    mails = delivered(emulator, mailbox)
    texts = "\n".join(text_of(m) for m in mails)
    for number in range(STORM):
        title, message = storm_alert(number)
        assert title in texts, title
        assert message in texts, message
    assert sum(m.recipient_count for m in mails) <= limit
    assert emulator.limit_crossings == []
    # The important alert went on its own, not in a digest.
    (urgent,) = [m for m in mails if m.subject == URGENT[0]]
    assert URGENT[1] in text_of(urgent)
    return mails


async def test_storm_from_an_outlook_com_account(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, front_door: str
) -> None:
    """300 recipients a day: 400 alerts in a minute fit, with a restart midway."""
    digests = async_capture_events(hass, EVENT_DIGEST_SENT)
    entry = await add_personal_account(clock, emulator)
    await run_storm(clock, hass, PERSONAL)

    account = entry.runtime_data
    assert account.budget.limit == 300
    held = len(account.outbox.held)
    assert held > STORM // 2
    sensor = hass.states.get("sensor.casey_outlook_com_recipients_in_24_hours")
    assert sensor.attributes["digest_mode"] is True
    assert sensor.attributes["budget"] == 300

    # Home Assistant restarts with the storm's alerts still held.
    assert await hass.config_entries.async_reload(entry.entry_id)
    await clock.idle()
    assert len(entry.runtime_data.outbox.held) == held

    # A day of Home Assistant's time passes.
    for _ in range(24 * 4):
        await clock.tick(15 * 60)
    mails = check_storm(emulator, PERSONAL, 300)
    assert not entry.runtime_data.outbox.items
    assert sum(event.data["alerts"] for event in digests) == held
    assert len(mails) < 60
    sensor = hass.states.get("sensor.casey_outlook_com_recipients_in_24_hours")
    assert sensor.attributes["digest_mode"] is False
    # The latest picture of the camera rides in each digest, inline.
    for digest in (m for m in mails if " alerts: " in m.subject):
        (picture,) = digest.attachments
        assert picture.content_id == FRONT_DOOR
        assert picture.is_inline
        assert f"cid:{FRONT_DOOR}" in digest.message["body"]["content"]


@pytest.fixture
async def work_account(
    hass: HomeAssistant, emulator: Emulator, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """The emulator's work mailbox, with a budget of 50 recipients a day."""
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_DAILY_RECIPIENT_LIMIT: 50}
    )
    await set_up(hass, config_entry)
    return config_entry


async def test_storm_from_a_work_account_with_a_budget_of_50(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    work_account: MockConfigEntry,
    front_door: str,
) -> None:
    await run_storm(clock, hass, MAILBOX)
    held = len(work_account.runtime_data.outbox.held)
    assert await hass.config_entries.async_reload(work_account.entry_id)
    await clock.idle()
    assert len(work_account.runtime_data.outbox.held) == held
    for _ in range(24 * 4):
        await clock.tick(15 * 60)
    check_storm(emulator, MAILBOX, 50)
    assert not work_account.runtime_data.outbox.items
