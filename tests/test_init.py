"""Tests of setting up and unloading a config entry."""

from __future__ import annotations

import aiohttp
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.const import DOMAIN
from custom_components.o365.graph import EmailAddress, Message

from .conftest import MAILBOX, GraphMock


async def test_setup_and_unload(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    assert init_integration.state is ConfigEntryState.LOADED
    account = init_integration.runtime_data
    assert account.mailbox == MAILBOX
    assert account.can_send
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    assert init_integration.state is ConfigEntryState.NOT_LOADED


async def test_fifty_sends_one_token(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """The token is cached: 50 sends cost one token request."""
    connection = init_integration.runtime_data.connection
    assert connection is not None
    client = connection.client
    message = Message("s", "b", to=(EmailAddress("ops@contoso.com"),))
    for _ in range(50):
        await client.send_mail(connection.mailbox, message)
    assert len(graph_mock.sent()) == 50
    assert len(graph_mock.token_requests()) == 1


@pytest.mark.parametrize(
    ("token", "state", "reauth"),
    [
        (
            {"error": "invalid_client", "codes": [7000215], "status": 401},
            ConfigEntryState.SETUP_ERROR,
            True,
        ),
        (
            {"error": "invalid_client", "codes": [7000222], "status": 401},
            ConfigEntryState.SETUP_ERROR,
            True,
        ),
        (
            {"error": "unauthorized_client", "codes": [700016]},
            ConfigEntryState.SETUP_ERROR,
            False,
        ),
        (
            {"exception": aiohttp.ClientConnectionError()},
            ConfigEntryState.SETUP_RETRY,
            False,
        ),
        (
            {"status": 503, "error": "temporarily_unavailable"},
            ConfigEntryState.SETUP_RETRY,
            False,
        ),
    ],
)
async def test_setup_failures(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    token: dict,
    state: ConfigEntryState,
    reauth: bool,
) -> None:
    """A refused secret starts reauth; network trouble retries later."""
    graph_mock.openid()
    graph_mock.token(**token)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is state
    flows = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert bool(flows) is reauth
    if reauth:
        assert flows[0]["context"]["source"] == "reauth"


async def test_yaml_raises_repair_issue(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    assert await async_setup_component(
        hass, DOMAIN, {DOMAIN: {"client_id": "old", "client_secret": "x"}}
    )
    issue = issue_registry.async_get_issue(DOMAIN, "yaml_not_supported")
    assert issue is not None
    assert issue.translation_key == "yaml_not_supported"


async def test_no_yaml_no_issue(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    assert await async_setup_component(hass, DOMAIN, {})
    assert issue_registry.async_get_issue(DOMAIN, "yaml_not_supported") is None
