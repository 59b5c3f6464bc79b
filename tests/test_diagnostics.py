"""Tests of diagnostics and of what reaches the logs: no secret, no token."""

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

from custom_components.o365 import account as account_module

from .conftest import CLIENT_SECRET, MAILBOX, TENANT_ID, GraphMock


async def test_diagnostics_tell_the_story_without_secrets(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Counters, errors with request IDs and the outbox; the secret and token nowhere."""
    caplog.set_level(logging.DEBUG)

    monkeypatch.setattr(account_module, "OUTBOX_FIRST_DELAY", 3600)
    graph_mock.sign_in()
    graph_mock.send_mail(repeat=False)
    graph_mock.send_mail(status=503, code="ServiceUnavailable")
    assert await async_setup_component(hass, "diagnostics", {})
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    for subject in ("delivered", "queued"):
        await hass.services.async_call(
            "notify", "o365", {"message": "m", "title": subject}, blocking=True
        )
    token = config_entry.runtime_data.account.connection.tokens.token
    assert token is not None

    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    text = json.dumps(diagnostics)
    assert CLIENT_SECRET not in text
    assert token.value not in text
    assert diagnostics["entry"]["data"]["client_secret"] == "**REDACTED**"
    assert diagnostics["entry"]["data"]["source"] == MAILBOX
    assert diagnostics["token"]["tenant_id"] == TENANT_ID
    assert diagnostics["token"]["permissions"] == ["Mail.Send"]
    assert diagnostics["counters"]["sent"] == 1
    assert diagnostics["counters"]["queued"] == 1
    assert diagnostics["counters"]["retried"] == 3
    last = diagnostics["last_errors"][-1]
    assert last["code"] == "ServiceUnavailable"
    assert last["request_id"] == "req-1234"
    assert diagnostics["outbox"]["messages"] == 1
    assert diagnostics["outbox"]["items"][0]["subject"] == "queued"
    assert diagnostics["outbox"]["items"][0]["reason"] == "ServiceUnavailable"

    assert "queued and will be retried" in caplog.text
    assert CLIENT_SECRET not in caplog.text
    assert token.value not in caplog.text
    # MSAL logs at debug level too: nothing of the secret, encoded or not.
    assert aiohttp.helpers.quote(CLIENT_SECRET, safe="") not in caplog.text  # type: ignore[attr-defined]


async def test_outbox_sensor(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(account_module, "OUTBOX_FIRST_DELAY", 3600)
    graph_mock.sign_in()
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError("down"))
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    entity_id = "sensor.alerts_contoso_com_outbox"
    assert hass.states.get(entity_id).state == "0"
    await hass.services.async_call(
        "notify", "o365", {"message": "m", "title": "x"}, blocking=True
    )
    await hass.async_block_till_done()
    state = hass.states.get(entity_id)
    assert state.state == "1"
    assert state.attributes["friendly_name"] == "alerts@contoso.com Outbox"


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
        "notify", "o365", {"message": "m", "title": "waiting"}, blocking=True
    )
    diagnostics = await get_diagnostics_for_config_entry(
        hass, hass_client, config_entry
    )
    assert diagnostics["entry"]["state"] == "setup_error"
    assert diagnostics["connected"] is False
    assert diagnostics["awaiting_reauthentication"] is True
    assert diagnostics["outbox"]["items"][0]["subject"] == "waiting"
    assert CLIENT_SECRET not in json.dumps(diagnostics)
