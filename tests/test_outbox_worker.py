"""The outbox worker: queued alerts delivered in order, on Home Assistant's clock."""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from datetime import timedelta
from pathlib import Path
import time

import aiohttp
from aioresponses import aioresponses
from freezegun.api import FrozenDateTimeFactory
from homeassistant import loader
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    async_test_home_assistant,
)

from custom_components.o365 import sender as sender_module
from custom_components.o365.const import (
    CONF_OUTBOX_MAX_AGE_HOURS,
    DOMAIN,
    EVENT_MESSAGE_DROPPED,
    EVENT_MESSAGE_QUEUED,
    EVENT_MESSAGE_SENT,
)
from custom_components.o365.outbox import Outbox

from .conftest import ENTRY_DATA, MAILBOX, UNIQUE_ID, Clock, GraphMock


async def alert(hass: HomeAssistant, subject: str) -> None:
    await hass.services.async_call(
        "notify", "o365", {"message": "m", "title": subject}, blocking=True
    )


def outbox_of(entry: MockConfigEntry) -> list[str]:
    return [item.subject for item in entry.runtime_data.outbox.items]


async def setup_offline(
    hass: HomeAssistant, graph_mock: GraphMock, entry: MockConfigEntry
) -> None:
    """Set the account up while Microsoft is unreachable: nothing is delivered."""
    graph_mock.openid()
    graph_mock.token(exception=aiohttp.ClientConnectionError("offline"))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_new_alerts_wait_behind_queued_ones(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    """Order is kept: once something is queued, later alerts queue behind it."""
    graph_mock.sign_in()
    graph_mock.send_mail(status=503, repeat=False)
    graph_mock.send_mail(status=503, repeat=False)
    graph_mock.send_mail(status=503, repeat=False)
    graph_mock.send_mail(status=503, repeat=False)
    graph_mock.send_mail()
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await clock.run(alert(hass, "first"))
    await clock.run(alert(hass, "second"))
    assert [e.data["reason"] for e in queued] == ["HTTP 503", "earlier_messages_queued"]
    await clock.run_until(lambda: len(sent) == 2)
    assert [e.data["subject"] for e in sent] == ["first", "second"]
    assert [b["message"]["subject"] for b in graph_mock.sent()][-2:] == [
        "first",
        "second",
    ]


async def test_too_old_messages_are_dropped(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError("offline"))
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_OUTBOX_MAX_AGE_HOURS: 1}
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await clock.run(alert(hass, "stale"))
    assert outbox_of(config_entry) == ["stale"]
    await clock.tick(3601)
    await clock.run_until(lambda: bool(dropped))
    assert dropped[0].data == {
        "account": MAILBOX,
        "subject": "stale",
        "reason": "max_age",
        "attempts": dropped[0].data["attempts"],
    }
    assert outbox_of(config_entry) == []
    issue = issue_registry.async_get_issue(DOMAIN, f"dropped_{config_entry.entry_id}")
    assert issue is not None
    assert issue.translation_placeholders["subject"] == "stale"


async def test_full_outbox_gives_way_to_new_alerts(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sender_module, "OUTBOX_MAX_MESSAGES", 3)
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    await setup_offline(hass, graph_mock, config_entry)
    for number in range(4):
        await clock.run(alert(hass, f"alert {number}"))
    assert outbox_of(config_entry) == ["alert 1", "alert 2", "alert 3"]
    assert [(e.data["subject"], e.data["reason"]) for e in dropped] == [
        ("alert 0", "outbox_full")
    ]
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_permanent_refusal_while_queued_drops(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    graph_mock.send_mail(status=400, code="ErrorInvalidRecipients")
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await clock.run(alert(hass, "bad recipient"))
    await clock.run_until(lambda: bool(dropped))
    assert dropped[0].data["reason"] == "ErrorInvalidRecipients"


async def test_message_too_big_for_the_outbox_raises(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sender_module, "OUTBOX_MAX_BYTES", 10)
    graph_mock.sign_in()
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError("offline"))
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    hass.config.allowlist_external_dirs = {hass.config.config_dir}
    big = Path(hass.config.config_dir) / "big.bin"
    big.write_bytes(b"x" * 100)
    with pytest.raises(HomeAssistantError) as info:
        await clock.run(
            hass.services.async_call(
                "notify",
                "o365",
                {"message": "m", "data": {"attachments": [str(big)]}},
                blocking=True,
            )
        )
    assert info.value.translation_key == "cannot_connect"


async def test_access_denied_raises_consent_issue_until_a_send_works(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(status=403, code="ErrorAccessDenied", repeat=False)
    graph_mock.send_mail()
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(HomeAssistantError, match="ErrorAccessDenied"):
        await clock.run(alert(hass, "denied"))
    issue_id = f"consent_{config_entry.entry_id}"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is not None
    await clock.run(alert(hass, "works again"))
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_token_without_mail_send_role_still_sends(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Exchange RBAC for Applications grants Mail.Send outside the token."""
    graph_mock.sign_in(roles=())
    graph_mock.send_mail()
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert (
        issue_registry.async_get_issue(DOMAIN, f"consent_{config_entry.entry_id}")
        is None
    )
    await clock.run(alert(hass, "scoped by RBAC"))
    assert len(graph_mock.sent()) == 1


async def test_removing_the_entry_discards_its_outbox(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError("offline"))
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await clock.run(alert(hass, "queued"))
    folder = Path(hass.config.path(".storage", "o365_outbox", config_entry.entry_id))
    assert folder.is_dir()
    await hass.config_entries.async_remove(config_entry.entry_id)
    await hass.async_block_till_done()
    assert not folder.exists()
    assert getattr(config_entry, "runtime_data", None) is None
    assert not hass.services.has_service("notify", "o365")


# -- a real restart --------------------------------------------------------------------


@pytest.fixture
def mocked() -> Generator[aioresponses]:
    with aioresponses() as mock:
        yield mock


async def test_queued_alerts_survive_a_restart(
    tmp_path: Path, mocked: aioresponses, freezer: FrozenDateTimeFactory
) -> None:
    """Graph down, alerts queued, Home Assistant restarted, Graph back: all sent, in order."""
    config_dir = tmp_path / "restart-config"
    config_dir.mkdir()
    graph = GraphMock(mocked)
    graph.sign_in()
    graph.send_mail(exception=aiohttp.ClientConnectionError("Graph is down"))
    subjects = [f"before restart {n}" for n in range(5)]

    async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
        hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
        entry = MockConfigEntry(
            domain=DOMAIN, entry_id="restart", unique_id=UNIQUE_ID, data=ENTRY_DATA
        )
        try:
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            clock = Clock(hass, freezer)
            for subject in subjects:
                await clock.run(alert(hass, subject))
            assert outbox_of(entry) == subjects
        finally:
            await hass.async_stop(force=True)

    mocked.clear()
    mocked.requests.clear()
    graph.sign_in()
    graph.send_mail()
    async with async_test_home_assistant(config_dir=str(config_dir)) as hass:
        try:
            hass.data.pop(loader.DATA_CUSTOM_COMPONENTS)
            clock = Clock(hass, freezer)
            sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
            entry = MockConfigEntry(
                domain=DOMAIN, entry_id="restart", unique_id=UNIQUE_ID, data=ENTRY_DATA
            )
            entry.add_to_hass(hass)
            assert await hass.config_entries.async_setup(entry.entry_id)
            await hass.async_block_till_done()
            await clock.run_until(
                lambda: len(sent) == len(subjects) and not outbox_of(entry)
            )
            assert [e.data["subject"] for e in sent] == subjects
            assert [b["message"]["subject"] for b in graph.sent()] == subjects
        finally:
            await hass.async_stop(force=True)


async def test_concurrent_alerts_on_a_full_outbox(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Alerts arriving together on a full outbox each drop one, none fails."""
    monkeypatch.setattr(sender_module, "OUTBOX_MAX_MESSAGES", 3)
    original_delete = Outbox.delete

    def slow_delete(self: Outbox, item: object) -> None:
        time.sleep(0.05)  # widen the window in which a second drop could race
        original_delete(self, item)  # type: ignore[arg-type]

    monkeypatch.setattr(Outbox, "delete", slow_delete)
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    await setup_offline(hass, graph_mock, config_entry)
    for number in range(3):
        await clock.run(alert(hass, f"old {number}"))
    await asyncio.gather(*(alert(hass, f"new {number}") for number in range(6)))
    queue = outbox_of(config_entry)
    assert len(queue) == 3
    assert {e.data["subject"] for e in dropped} | set(queue) == {
        *(f"old {n}" for n in range(3)),
        *(f"new {n}" for n in range(6)),
    }
    assert len(dropped) == 6
    account = config_entry.runtime_data
    sequences = [item.sequence for item in account.outbox.items]
    assert sequences == sorted(set(sequences))
    on_disk = Outbox(account.outbox.root)
    await hass.async_add_executor_job(on_disk.load)
    assert [item.subject for item in on_disk.items] == queue
    await hass.config_entries.async_unload(config_entry.entry_id)


async def test_worker_survives_an_unexpected_error(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    graph_mock.send_mail()
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    account = config_entry.runtime_data
    original_read = account.outbox.read
    calls = 0

    def flaky_read(item: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise RuntimeError("something nobody expected")
        return original_read(item)  # type: ignore[arg-type]

    monkeypatch.setattr(account.outbox, "read", flaky_read)
    await clock.run(alert(hass, "still delivered"))
    await clock.run_until(lambda: len(sent) == 1)
    assert sent[0].data["queued"] is True


async def test_message_whose_files_vanished_is_dropped(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    await setup_offline(hass, graph_mock, config_entry)
    hass.config.allowlist_external_dirs = {hass.config.config_dir}
    clip = Path(hass.config.config_dir) / "clip.bin"
    clip.write_bytes(b"x" * 10)
    await hass.services.async_call(
        "notify",
        "o365",
        {"message": "m", "title": "clip", "data": {"attachments": [str(clip)]}},
        blocking=True,
    )
    account = config_entry.runtime_data
    (item,) = account.outbox.items
    (account.outbox.root / item.folder_name / "0.bin").unlink()
    graph_mock.mocked.clear()
    graph_mock.sign_in()
    graph_mock.send_mail()
    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    await clock.run_until(lambda: bool(dropped))
    assert dropped[0].data["reason"].startswith("unreadable")


async def test_full_mailbox_keeps_alerts_and_says_so(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """ErrorQuotaExceeded: the mailbox must be emptied; alerts wait meanwhile."""
    graph_mock.sign_in()
    graph_mock.send_mail(status=403, code="ErrorQuotaExceeded", repeat=False)
    graph_mock.send_mail(status=403, code="ErrorQuotaExceeded", repeat=False)
    graph_mock.send_mail()
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await clock.run(alert(hass, "mailbox full"))
    assert [e.data["reason"] for e in queued] == ["ErrorQuotaExceeded"]
    issue = issue_registry.async_get_issue(
        DOMAIN, f"mailbox_full_{config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "mailbox_full"
    await clock.run_until(lambda: len(sent) == 1)
    assert (
        issue_registry.async_get_issue(DOMAIN, f"mailbox_full_{config_entry.entry_id}")
        is None
    )


async def test_full_mailbox_without_the_outbox_raises_the_translated_error(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(status=403, code="ErrorQuotaExceeded")
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={"queue_on_failure": False}
    )
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(HomeAssistantError) as info:
        await clock.run(alert(hass, "mailbox full"))
    assert info.value.translation_key == "mailbox_full"
    assert "Free space in the mailbox" in str(info.value)


@pytest.mark.parametrize(
    ("error", "code", "key"),
    [
        ("unauthorized_client", 7000112, "app_disabled"),
        ("invalid_grant", 53003, "conditional_access"),
        ("invalid_resource", 500011, "wrong_cloud"),
    ],
)
async def test_setup_refusals_name_the_problem(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    error: str,
    code: int,
    key: str,
) -> None:
    graph_mock.openid()
    graph_mock.token(error=error, codes=[code])
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    assert config_entry.error_reason_translation_key == key


# -- Home Assistant's clock, not the wall clock ------------------------------------


async def test_alert_queued_in_an_outage_goes_when_the_clock_moves_on(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Graph is down: the alert waits in the outbox for its next try, which
    comes when Home Assistant's clock reaches it (``async_fire_time_changed``),
    not after any real time."""
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    await setup_offline(hass, graph_mock, config_entry)
    await hass.services.async_call(
        "notify", "o365", {"message": "m", "title": "outage"}, blocking=True
    )
    assert outbox_of(config_entry) == ["outage"]
    # Microsoft is back and the account connects (set-up retries later on).
    graph_mock.mocked.clear()
    graph_mock.sign_in()
    graph_mock.send_mail()
    real_start = time.clock_gettime(time.CLOCK_MONOTONIC)
    for _ in range(3):
        # Set-up retries after 5 s and more; the outbox then delivers at once.
        freezer.tick(timedelta(seconds=30))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert [event.data["subject"] for event in sent] == ["outage"]
    assert sent[0].data["queued"] is True
    assert outbox_of(config_entry) == []
    # A few seconds of real time at most: nothing waited on the wall clock.
    assert time.clock_gettime(time.CLOCK_MONOTONIC) - real_start < 20


async def test_backoff_between_tries_runs_on_the_clock(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    """A 503: the next try of the call waits its backoff (1 s, +-25 %) on Home
    Assistant's clock; until the clock moves, nothing is tried again."""
    graph_mock.sign_in()
    graph_mock.send_mail(status=503, repeat=False)
    graph_mock.send_mail()
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    call = hass.async_create_background_task(
        alert(hass, "backoff"), "alert", eager_start=True
    )
    await clock.idle()
    assert len(graph_mock.calls("POST", "/sendMail")) == 1
    await clock.tick(0.7)
    assert len(graph_mock.calls("POST", "/sendMail")) == 1
    await clock.tick(0.6)
    assert len(graph_mock.calls("POST", "/sendMail")) == 2
    await call
    assert outbox_of(config_entry) == []


async def test_queued_alert_waits_its_backoff_on_the_clock(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    """Still failing after the call's tries: the outbox tries again after 15 s
    (+-20 %), when the clock gets there."""
    graph_mock.sign_in()
    for _ in range(5):
        graph_mock.send_mail(status=503, repeat=False)
    graph_mock.send_mail()
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await clock.run(alert(hass, "backing off"))
    (item,) = config_entry.runtime_data.outbox.items
    assert 12 <= item.next_attempt - time.time() <= 18
    await clock.tick(11.9)
    assert len(graph_mock.calls("POST", "/sendMail")) == 4
    await clock.tick(6.2)
    assert len(graph_mock.calls("POST", "/sendMail")) == 5
    await clock.run_until(lambda: bool(sent))
    assert sent[0].data["queued"] is True
    assert outbox_of(config_entry) == []
