"""The sending budget: recipients over a rolling day, the pace, the reserve."""

from __future__ import annotations

import time
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.budget import (
    BUCKET,
    SAVE_DELAY,
    WINDOW,
    RecipientBudget,
)
from custom_components.o365.const import (
    CONF_DAILY_RECIPIENT_LIMIT,
    CONSUMER_TENANT_ID,
    DOMAIN,
)
from custom_components.o365.options import AccountOptions

from .conftest import ENTRY_DATA, MAILBOX, UNIQUE_ID, Clock


@pytest.fixture
def entry(hass: HomeAssistant) -> MockConfigEntry:
    config_entry = MockConfigEntry(
        domain=DOMAIN, title=MAILBOX, unique_id=UNIQUE_ID, data=ENTRY_DATA
    )
    config_entry.add_to_hass(hass)
    return config_entry


async def budget_of(
    hass: HomeAssistant, entry: MockConfigEntry, limit: int
) -> RecipientBudget:
    budget = RecipientBudget(hass, entry, limit)
    await budget.async_load()
    return budget


@pytest.mark.parametrize(
    ("unique_id", "options", "limit"),
    [
        (f"{CONSUMER_TENANT_ID}:casey@outlook.com", {}, 300),
        (UNIQUE_ID, {}, 10_000),
        (UNIQUE_ID, {CONF_DAILY_RECIPIENT_LIMIT: 50}, 50),
        (
            f"{CONSUMER_TENANT_ID}:casey@outlook.com",
            {CONF_DAILY_RECIPIENT_LIMIT: 100},
            100,
        ),
    ],
)
def test_defaults_by_kind_of_account(
    unique_id: str, options: dict[str, Any], limit: int
) -> None:
    """Outlook.com (about 300 a day) and Exchange Online (10,000); the option wins."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id=unique_id, data=ENTRY_DATA, options=options
    )
    assert AccountOptions.from_entry(entry).daily_recipient_limit == limit


async def test_a_minute_counts_for_a_rolling_day(
    clock: Clock, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    budget = await budget_of(hass, entry, 300)
    budget.record(3)
    budget.record(2)
    assert budget.sent_recently() == 5
    await clock.tick(WINDOW - 60)
    assert budget.sent_recently() == 5
    # The minute stops counting 24 hours after it ends (and the sensor is told).
    freed: list[None] = []
    budget.listeners.append(lambda: freed.append(None))
    await clock.tick(2 * BUCKET + 2)
    assert budget.sent_recently() == 0
    assert freed


async def test_alerts_on_their_own_keep_the_pace_and_a_reserve(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """300 a day: 25 an hour on their own, 60 kept for digests and retries."""
    budget = await budget_of(hass, entry, 300)
    assert budget.hourly_allowance == 25
    assert budget.reserve == 60
    admitted = [budget.admit(1, urgent=False, keep=0, storm=False) for _ in range(30)]
    assert admitted == [True] * 25 + [False] * 5
    # A held storm: new alerts join it, important ones still go on their own.
    assert not budget.admit(1, urgent=False, keep=1, storm=True)
    assert budget.admit(1, urgent=True, keep=1, storm=True)
    # What is on its way counts before it is sent.
    assert budget.used() == 26
    for _ in range(26):
        budget.sent(1)
    assert budget.sent_recently() == 26
    budget.async_stop()


async def test_one_message_is_never_a_storm(
    hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    """A first message to more people than an hour's allowance still goes."""
    budget = await budget_of(hass, entry, 50)
    assert budget.hourly_allowance == 5
    assert budget.admit(8, urgent=False, keep=0, storm=False)
    assert not budget.admit(1, urgent=False, keep=0, storm=False)


async def test_the_limit_itself_is_never_crossed(
    clock: Clock, hass: HomeAssistant, entry: MockConfigEntry
) -> None:
    budget = await budget_of(hass, entry, 10)
    budget.record(9)
    assert not budget.take(2)
    assert not budget.admit(2, urgent=True, keep=0, storm=False)
    assert budget.take(1)
    budget.release(1)
    # Room again when the first minute turns a day old.
    assert budget.available_at(1) == time.time()
    assert WINDOW < budget.available_at(2) - time.time() <= WINDOW + BUCKET + 1
    await clock.tick(WINDOW + 2 * BUCKET)
    assert budget.take(2)


async def test_spent_budget_raises_a_repair_and_clears_it(
    clock: Clock,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    budget = await budget_of(hass, entry, 10)
    budget.record(10)
    issue = issue_registry.async_get_issue(DOMAIN, f"budget_spent_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["mailbox"] == MAILBOX
    assert issue.translation_placeholders["limit"] == "10"
    await clock.tick(WINDOW + 2 * BUCKET)
    assert (
        issue_registry.async_get_issue(DOMAIN, f"budget_spent_{entry.entry_id}") is None
    )


async def test_the_count_survives_a_restart(
    clock: Clock,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    budget = await budget_of(hass, entry, 300)
    budget.record(7)
    await clock.tick(10)  # the delayed save
    assert hass_storage[f"{DOMAIN}.budget.{entry.entry_id}"]["data"]["sent"]
    budget.async_stop()
    again = await budget_of(hass, entry, 300)
    assert again.sent_recently() == 7
    await again.async_remove()
    assert f"{DOMAIN}.budget.{entry.entry_id}" not in hass_storage
    again.async_stop()


async def test_the_count_is_saved_while_alerts_keep_coming(
    clock: Clock,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """A steady stream of sends does not put the write off: it follows the first."""
    key = f"{DOMAIN}.budget.{entry.entry_id}"
    budget = await budget_of(hass, entry, 300)
    budget.record(1)
    await clock.tick(SAVE_DELAY - 1)
    budget.record(1)
    assert key not in hass_storage
    await clock.tick(1)  # SAVE_DELAY after the first send, not the last
    assert sum(hass_storage[key]["data"]["sent"].values()) == 2
    budget.async_stop()


async def test_a_spent_budget_shows_at_once_in_a_burst(
    clock: Clock,
    hass: HomeAssistant,
    entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The sensor's refreshes wait for the second; the repair does not."""
    budget = await budget_of(hass, entry, 3)
    for _ in range(3):
        budget.record(1)  # within the same second
    assert issue_registry.async_get_issue(DOMAIN, f"budget_spent_{entry.entry_id}")
    budget.async_stop()
