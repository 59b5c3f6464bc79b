"""Each emulator fault, over real HTTPS: recovered from, or reported as specified.

Every wait (Retry-After, backoff, the outbox's next try) passes on Home
Assistant's clock, which the test moves: what the tests measure is the time
the integration waited, not how long the machine took.
"""

from __future__ import annotations

import time

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.o365.const import (
    CONF_CLIENT_SECRET,
    DOMAIN,
    EVENT_MESSAGE_DROPPED,
    EVENT_MESSAGE_QUEUED,
    EVENT_MESSAGE_SENT,
)
from emulator import Emulator
from emulator.directory import DEFAULT_CLIENT_SECRET
from tests.conftest import FAULT_REPORT

from .conftest import (
    ENTRY_DATA,
    MAILBOX,
    Clock,
    alert,
    received,
    requests,
    set_up,
    statuses,
)


def report(name: str, subject: str, emulator: Emulator) -> None:
    """Add a line for one delivered alert to the fault summary of the run."""
    copies = len(received(emulator, subject))
    assert copies >= 1
    FAULT_REPORT.append(
        f"{'e2e ' + name:<22} alerts   1  delivered   1  dropped  0"
        f"  duplicates {copies - 1:>3}"
        f"  Graph attempts {len(requests(emulator, 'sendMail')):>4}"
        f"  tokens {emulator.stats['tokens_issued']}"
    )


async def timed_alert(clock: Clock, subject: str) -> float:
    """Send an alert; return how long it waited on Home Assistant's clock."""
    started = clock.moved
    await clock.run(alert(clock.hass, subject))
    return clock.moved - started


async def token_due(clock: Clock, entry: MockConfigEntry) -> None:
    """Move the clock until the account must fetch a new token."""
    token = entry.runtime_data.connection.tokens.token
    await clock.tick(max(0.0, token.refresh_at - time.time()) + 0.001)


@pytest.mark.parametrize(
    ("name", "spec", "least_wait"),
    [
        # The server's wait is honoured where backoff would be shorter (the
        # first backoff is 1 s +-25 %); an HTTP date has a 1 s resolution.
        ("429 Retry-After: 2", "429:retry_after=2,match=sendMail", 2.0),
        (
            "429 Retry-After: date",
            "429:retry_after=2,retry_after_date,match=sendMail",
            1.0,
        ),
        # Without Retry-After: exponential backoff with jitter.
        ("429", "429:match=sendMail", 0.75),
        ("503 Retry-After: 1", "503:retry_after=1,match=sendMail", 1.0),
        ("503", "503:match=sendMail", 0.75),
        ("504", "504:match=sendMail", 0.75),
    ],
)
async def test_rejected_request_is_retried_in_the_call(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    account: MockConfigEntry,
    name: str,
    spec: str,
    least_wait: float,
) -> None:
    """Throttling and 5xx: the action waits, retries once and delivers once."""
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    emulator.add_fault(spec)
    subject = f"Fault {name}"

    elapsed = await timed_alert(clock, subject)

    assert statuses(emulator, "sendMail") == [int(spec[:3]), 202]
    assert len(received(emulator, subject)) == 1
    assert elapsed >= least_wait
    assert queued == []
    report(name, subject, emulator)


@pytest.mark.parametrize("kind", ["504", "drop"])
async def test_failure_after_accept_may_duplicate(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    account: MockConfigEntry,
    kind: str,
) -> None:
    """Graph took the mail but the answer was lost: the retry duplicates it.

    A duplicate is preferred to a lost alert: it is counted, not failed.
    """
    emulator.add_fault(kind, after_accept=True, match="sendMail")
    subject = f"Fault {kind} after accept"

    await clock.run(alert(hass, subject))

    first = 504 if kind == "504" else 0
    assert statuses(emulator, "sendMail") == [first, 202]
    assert len(received(emulator, subject)) == 2
    report(f"{kind} after accept", subject, emulator)


async def test_dropped_connection_is_retried(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, account: MockConfigEntry
) -> None:
    """The connection drops before Graph took the mail: one retry, one mail."""
    emulator.add_fault("drop", match="sendMail")
    subject = "Fault drop"

    await clock.run(alert(hass, subject))

    assert statuses(emulator, "sendMail") == [0, 202]
    assert len(received(emulator, subject)) == 1
    report("drop", subject, emulator)


async def test_latency_is_waited_out(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, account: MockConfigEntry
) -> None:
    """A slow answer is awaited, not timed out and retried."""
    emulator.add_fault("latency", delay_ms=1500, match="sendMail")
    subject = "Fault latency"

    elapsed = await timed_alert(clock, subject)

    assert elapsed >= 1.5
    (request,) = requests(emulator, "sendMail")
    assert request["status"] == 202
    assert request["faults"] == ["latency"]
    assert len(received(emulator, subject)) == 1
    report("latency", subject, emulator)


async def test_exhausted_retries_go_to_the_outbox(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, account: MockConfigEntry
) -> None:
    """Still failing after the in-call retries: queued, then delivered by the outbox."""
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    emulator.add_fault("503:count=4,retry_after=0,match=sendMail")
    subject = "Fault 503 x4"

    await clock.run(alert(hass, subject))  # returns normally: the alert is queued
    assert [event.data["subject"] for event in queued] == [subject]
    assert received(emulator, subject) == []

    await clock.run_until(lambda: bool(sent))
    assert sent[0].data["queued"] is True
    assert statuses(emulator, "sendMail") == [503, 503, 503, 503, 202]
    assert len(received(emulator, subject)) == 1
    assert len(account.runtime_data.outbox) == 0
    report("503 x4 (outbox)", subject, emulator)


async def test_token_endpoint_down_while_renewing(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, config_entry: MockConfigEntry
) -> None:
    """The token must be renewed while sign-in fails once: the call retries."""
    emulator.token_lifetime = 2  # renewed after one second
    await set_up(hass, config_entry)
    await token_due(clock, config_entry)
    emulator.add_fault("token_down", retry_after=1)
    subject = "Fault token endpoint down"

    await clock.run(alert(hass, subject))

    token_statuses = statuses(emulator, "token")
    assert token_statuses[0] == 200  # set-up
    assert token_statuses[1] == 503
    assert token_statuses[-1] == 200
    assert len(received(emulator, subject)) == 1
    report("token_down", subject, emulator)


async def test_token_endpoint_down_at_start(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, config_entry: MockConfigEntry
) -> None:
    """Sign-in fails at set-up: alerts are kept, set-up retries, they go out."""
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    emulator.add_fault("token_down", count=-1)
    await set_up(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    subject = "Fault token endpoint down at start"

    await clock.run(alert(hass, subject))  # accepted and queued
    assert len(config_entry.runtime_data.outbox) == 1

    emulator.clear_faults()
    await clock.run_until(lambda: bool(sent))  # set-up retries on the clock
    assert config_entry.state is ConfigEntryState.LOADED
    assert sent[0].data["queued"] is True
    assert len(received(emulator, subject)) == 1


async def test_expired_secret_queues_until_reauth(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The secret expires: alerts queue, reauth asks for a new one, they go out."""
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    emulator.token_lifetime = 2
    await set_up(hass, config_entry)
    await token_due(clock, config_entry)
    emulator.expire_secret()
    subjects = ["While expired 1", "While expired 2"]

    for subject in subjects:
        await clock.run(alert(hass, subject))  # returns normally: queued

    account = config_entry.runtime_data
    assert [item.subject for item in account.outbox.items] == subjects
    assert received(emulator, subjects[0]) == []
    assert requests(emulator, "token")[-1]["status"] == 401
    issue = issue_registry.async_get_issue(
        DOMAIN, f"credential_{config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "secret_expired"
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == config_entries.SOURCE_REAUTH

    # The admin adds a new secret in the portal and pastes it into the form.
    emulator.set_secret("rotated secret ~ value")
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_CLIENT_SECRET: "rotated secret ~ value"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    await clock.run_until(lambda: len(sent) == len(subjects))
    assert [event.data["subject"] for event in sent] == subjects
    assert all(event.data["queued"] for event in sent)
    for subject in subjects:
        assert len(received(emulator, subject)) == 1
    assert config_entry.data[CONF_CLIENT_SECRET] == "rotated secret ~ value"
    assert dropped == []
    assert (
        issue_registry.async_get_issue(DOMAIN, f"credential_{config_entry.entry_id}")
        is None
    )


@pytest.mark.parametrize(
    ("kind", "issue_key"),
    [("wrong_secret", "secret_invalid"), ("expired_secret", "secret_expired")],
)
async def test_refused_secret_at_start_waits_for_reauth(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
    kind: str,
    issue_key: str,
) -> None:
    """Sign-in refused at set-up: alerts are kept until reauth, then delivered."""
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    emulator.add_fault(kind)
    await set_up(hass, config_entry)
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    issue = issue_registry.async_get_issue(
        DOMAIN, f"credential_{config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == issue_key
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == config_entries.SOURCE_REAUTH
    subject = f"Fault {kind} at start"

    await clock.run(alert(hass, subject))  # accepted and queued
    assert len(config_entry.runtime_data.outbox) == 1

    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_CLIENT_SECRET: DEFAULT_CLIENT_SECRET}
    )
    assert result["reason"] == "reauth_successful"
    await clock.run_until(lambda: bool(sent))
    assert config_entry.state is ConfigEntryState.LOADED
    assert len(received(emulator, subject)) == 1


async def test_missing_mail_send_in_the_config_flow(
    hass: HomeAssistant, emulator: Emulator
) -> None:
    """No admin consent for Mail.Send: the form says so; granted, it goes through."""
    emulator.add_fault("missing_role")
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "credentials"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], dict(ENTRY_DATA)
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "missing_mail_send"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], dict(ENTRY_DATA)
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()


async def test_missing_mail_send_when_sending(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """No Mail.Send: sending fails at once naming the code, and a repair issue says why."""
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    emulator.set_roles(["Mail.ReadWrite"])
    await set_up(hass, config_entry)
    # Exchange RBAC for Applications could still allow it: set-up goes on.
    assert config_entry.state is ConfigEntryState.LOADED

    with pytest.raises(HomeAssistantError, match="ErrorAccessDenied") as info:
        await clock.run(alert(hass, "Not allowed"))

    assert info.value.translation_key == "missing_mail_send"
    assert MAILBOX in str(info.value)
    assert statuses(emulator, "sendMail") == [403]
    assert emulator.messages == []
    assert queued == []
    issue = issue_registry.async_get_issue(DOMAIN, f"consent_{config_entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "missing_consent"
