"""A signed-in account at run time: /me sending, keep-alive, reauth, no leaks."""

from __future__ import annotations

from datetime import timedelta
import json
import logging

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    async_capture_events,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.o365.const import (
    CONF_TOKEN_CACHE,
    DOMAIN,
    EVENT_MESSAGE_QUEUED,
    EVENT_MESSAGE_SENT,
)
from custom_components.o365.diagnostics import async_get_config_entry_diagnostics
from custom_components.o365.keepalive import JITTER, next_renewal

from .conftest import (
    PERSONAL,
    Clock,
    DelegatedEntra,
    GraphMock,
    alert,
    refreshes,
    set_up,
    signed_in_entry,
)

pytestmark = pytest.mark.filterwarnings("ignore:Attempted too soon")

WEEK = timedelta(days=7)


def test_renewal_is_at_most_a_week_and_jittered() -> None:
    delays = {next_renewal(6 * 86400) for _ in range(50)}
    assert max(delays) <= 6 * 86400
    assert min(delays) >= 6 * 86400 * (1 - JITTER)
    assert len(delays) > 1


async def test_keep_alive_renews_without_any_alert(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    """A quiet account still uses its refresh token every week: never 90 days idle."""
    entry = signed_in_entry(delegated)
    await set_up(hass, entry)
    assert len(refreshes(delegated)) == 1
    for week in range(1, 4):
        await clock.tick(WEEK.total_seconds())
        assert len(refreshes(delegated)) == 1 + week
        # The rotated refresh token is stored each time.
        assert delegated.issued_refresh_tokens[-1] in entry.data[CONF_TOKEN_CACHE]
    assert delegated.sent() == []


@pytest.mark.parametrize(
    ("error", "code"),
    [
        ("interaction_required", 50076),  # multifactor authentication required
        ("interaction_required", 50079),  # MFA registration required
        ("invalid_grant", 70043),  # sign-in frequency (Conditional Access)
        ("invalid_grant", 700082),  # 90 days unused
        ("invalid_grant", 50057),  # the user was disabled
        ("invalid_grant", 90094),  # admin consent now required
    ],
)
async def test_every_refused_renewal_asks_to_sign_in_again(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    issue_registry: ir.IssueRegistry,
    error: str,
    code: int,
) -> None:
    """Whatever Entra refuses a renewal with, alerts are kept, a repair names
    Microsoft's code and the same account is asked to sign in again."""
    entry = signed_in_entry(delegated)
    await set_up(hass, entry)
    delegated.refused_error = error
    delegated.refused = code
    await clock.tick(WEEK.total_seconds())
    issue = issue_registry.async_get_issue(DOMAIN, f"credential_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "sign_in_expired"
    assert issue.translation_placeholders["code"] == f"AADSTS{code}"
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    await clock.run(alert(hass, "kept"))
    assert [item.subject for item in entry.runtime_data.outbox.items] == ["kept"]


async def test_refused_renewal_queues_and_reauth_delivers_in_order(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    issue_registry: ir.IssueRegistry,
) -> None:
    """invalid_grant (password changed): alerts queue, a repair says why, the
    same account signs in again, the queue goes out in order."""
    delegated.send_mail()
    entry = signed_in_entry(delegated)
    await set_up(hass, entry)
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)

    delegated.refused = 50173
    await clock.tick(WEEK.total_seconds())
    issue = issue_registry.async_get_issue(DOMAIN, f"credential_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "sign_in_expired"
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"

    subjects = [f"while signed out {n}" for n in range(3)]
    for subject in subjects:
        await clock.run(alert(hass, subject))
    assert [e.data["reason"] for e in queued] == ["awaiting_reauthentication"] * 3
    assert delegated.sent() == []

    delegated.refused = None
    delegated.me(mail=PERSONAL)
    result = await hass.config_entries.flow.async_configure(flow["flow_id"], {})
    await hass.async_block_till_done()
    result = await hass.config_entries.flow.async_configure(flow["flow_id"])
    assert result["reason"] == "reauth_successful"
    await hass.async_block_till_done()
    account = entry.runtime_data
    await clock.run_until(lambda: len(sent) == len(subjects))
    assert [b["message"]["subject"] for b in delegated.sent()] == subjects
    assert [e.data["subject"] for e in sent] == subjects
    assert account.outbox.items == []
    assert (
        issue_registry.async_get_issue(DOMAIN, f"credential_{entry.entry_id}") is None
    )


async def test_no_token_of_a_signed_in_account_leaks(
    clock: Clock,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Refresh and access tokens stay out of logs (MSAL's too), diagnostics, errors."""
    caplog.set_level(logging.DEBUG)
    delegated.send_mail()
    assert await async_setup_component(hass, "diagnostics", {})
    entry = signed_in_entry(delegated)
    await set_up(hass, entry)
    await clock.run(alert(hass, "hello"))
    delegated.refused = 70008
    await clock.tick(WEEK.total_seconds())
    # A week on, the test client's own access token has expired: ask the
    # integration directly.
    diagnostics = json.dumps(await async_get_config_entry_diagnostics(hass, entry))
    assert "**REDACTED**" in diagnostics
    secrets = [*delegated.issued_refresh_tokens, *delegated.access_tokens]
    assert secrets
    for secret in secrets:
        assert secret not in caplog.text
        assert secret not in diagnostics


async def test_stop_then_unload_leaves_no_timer_and_logs_nothing(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Home Assistant stops (the renewal is cancelled), then the entry unloads."""
    entry = signed_in_entry(delegated)
    await set_up(hass, entry)
    at_setup = len(refreshes(delegated))
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert await hass.config_entries.async_unload(entry.entry_id)
    await clock.tick(WEEK.total_seconds())
    assert len(refreshes(delegated)) == at_setup
    assert "Unable to remove" not in caplog.text
