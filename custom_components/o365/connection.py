"""How the integration reaches Microsoft: cloud endpoints and Graph clients.

With ``O365_EMULATOR_URL`` (and ``O365_EMULATOR_CA``) set, sign-in and Graph
go to the project's local emulator instead; otherwise only Microsoft's hosts
for the chosen cloud are ever contacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
import os
import ssl
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession

from .const import (
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_TENANT_ID,
    ENV_EMULATOR_CA,
    ENV_EMULATOR_URL,
    LOGGER,
)
from .graph import CLOUDS, Cloud, CloudEndpoints, GraphClient, TokenProvider
from .graph.clouds import emulator_endpoints

#: How the Graph client waits between retries (tests make it instant).
RETRY_SLEEP = asyncio.sleep


@dataclass(frozen=True, slots=True)
class Connection:
    """A token provider and a Graph client for one app registration."""

    tokens: TokenProvider
    client: GraphClient
    endpoints: CloudEndpoints


def _emulator_ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Return an SSL context trusting the emulator's CA (blocking: reads files)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


async def async_connect(hass: HomeAssistant, data: Mapping[str, Any]) -> Connection:
    """Build the token provider and Graph client for config entry data."""
    session = async_get_clientsession(hass)
    ssl_context: ssl.SSLContext | bool = True
    if emulator_url := os.environ.get(ENV_EMULATOR_URL):
        LOGGER.warning("Using the local Graph emulator at %s", emulator_url)
        endpoints = emulator_endpoints(emulator_url)
        ssl_context = await hass.async_add_executor_job(
            _emulator_ssl_context, os.environ.get(ENV_EMULATOR_CA)
        )
    else:
        endpoints = CLOUDS[Cloud(data.get(CONF_CLOUD, Cloud.GLOBAL))]
    tokens = TokenProvider(
        session,
        tenant=data[CONF_TENANT_ID],
        client_id=data[CONF_CLIENT_ID],
        client_secret=data[CONF_CLIENT_SECRET],
        endpoints=endpoints,
        run_blocking=hass.async_add_executor_job,
        ssl_context=ssl_context,
    )
    client = GraphClient(
        session,
        tokens,
        graph_url=endpoints.graph_url,
        ssl_context=ssl_context,
        run_blocking=hass.async_add_executor_job,
        sleep=RETRY_SLEEP,
    )
    return Connection(tokens, client, endpoints)
