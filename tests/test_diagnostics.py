"""Diagnostics and logs: no secret, no token, no mailbox, recipient or subject."""

from __future__ import annotations

import json
import logging

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.o365.const import (
    CONF_BACKUP_ACCOUNT,
    CONF_DEFAULT_RECIPIENTS,
)

from .conftest import CLIENT_SECRET, MAILBOX, TENANT_ID, Clock, GraphMock

RECIPIENTS = ["Night Desk <desk@example.com>", "oncall@example.org"]
SUBJECT = "Smoke in the server room"


async def test_diagnostics_tell_the_story_without_personal_data(
    clock: Clock,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Counters, error codes with request IDs, the outbox and the budget.

    Users paste diagnostics into public issues: an entry with default
    recipients, a backup account and a queued alert shows none of the
    mailbox, the recipients, the backup or the subject, and no secret or
    token.
    """
    caplog.set_level(logging.DEBUG)
    graph_mock.sign_in()
    graph_mock.send_mail(repeat=False)
    graph_mock.send_mail(status=503, code="ServiceUnavailable")
    assert await async_setup_component(hass, "diagnostics", {})
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry,
        options={
            CONF_DEFAULT_RECIPIENTS: RECIPIENTS,
            CONF_BACKUP_ACCOUNT: "ops@contoso.com",
        },
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    for subject in ("Delivered fine", SUBJECT):
        await clock.run(
            hass.services.async_call(
                "notify", "o365", {"message": "m", "title": subject}, blocking=True
            )
        )
    token = config_entry.runtime_data.connection.tokens.token
    assert token is not None

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    text = json.dumps(diagnostics)
    for private in (
        CLIENT_SECRET,
        token.value,
        MAILBOX,
        "desk@example.com",
        "Night Desk",
        "oncall@example.org",
        "ops@contoso.com",
        SUBJECT,
        "Delivered fine",
    ):
        assert private not in text, private
    assert diagnostics["entry"]["data"]["client_secret"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["source"] == "**REDACTED**"
    assert diagnostics["entry"]["options"][CONF_DEFAULT_RECIPIENTS] == 2
    assert diagnostics["token"]["tenant_id"] == TENANT_ID
    assert diagnostics["token"]["permissions"] == ["Mail.Send"]
    assert diagnostics["counters"]["sent"] == 1
    assert diagnostics["counters"]["queued"] == 1
    assert diagnostics["counters"]["retried"] == 3
    last = diagnostics["last_errors"][-1]
    assert last["code"] == "ServiceUnavailable"
    assert last["request_id"] == "req-1234"
    assert diagnostics["outbox"]["messages"] == 1
    (item,) = diagnostics["outbox"]["items"]
    assert item["reason"] == "ServiceUnavailable"
    assert item["recipients"] == 2
    assert item["last_error"] == "ServiceUnavailable"
    assert diagnostics["budget"]["daily_recipient_limit"] == 10_000
    assert diagnostics["budget"]["recipients_last_24h"] == 2

    assert "queued and will be retried" in caplog.text
    assert CLIENT_SECRET not in caplog.text
    assert token.value not in caplog.text
    # MSAL logs at debug level too: nothing of the secret, encoded or not.
    assert aiohttp.helpers.quote(CLIENT_SECRET, safe="") not in caplog.text  # type: ignore[attr-defined]


async def test_outbox_sensor(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError("down"))
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    entity_id = "sensor.alerts_contoso_com_outbox"
    assert hass.states.get(entity_id).state == "0"
    await clock.run(
        hass.services.async_call(
            "notify", "o365", {"message": "m", "title": "x"}, blocking=True
        )
    )
    state = hass.states.get(entity_id)
    assert state.state == "1"
    assert state.attributes["friendly_name"] == "alerts@contoso.com Outbox"
    assert state.attributes["queued"] == 1
    assert state.attributes["held"] == 0


async def test_diagnostics_of_an_entry_awaiting_reauth(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    """Support needs diagnostics most when setup failed: they still work."""
    graph_mock.openid()
    graph_mock.token(error="invalid_client", codes=[7000222], status=401)
    assert await async_setup_component(hass, "diagnostics", {})
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    await hass.services.async_call(
        "notify",
        "o365",
        {"message": "m", "title": "Garage door left open"},
        blocking=True,
    )
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    assert diagnostics["entry"]["state"] == "setup_error"
    assert diagnostics["connected"] is False
    assert diagnostics["awaiting_reauthentication"] is True
    assert diagnostics["outbox"]["items"][0]["reason"] == "awaiting_reauthentication"
    text = json.dumps(diagnostics)
    assert CLIENT_SECRET not in text
    assert "Garage door" not in text
