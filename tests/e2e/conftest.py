"""End-to-end fixtures: Home Assistant in-process, the emulator over real HTTPS.

Nothing is mocked between the integration and the emulator: MSAL signs in
through the integration's aiohttp bridge, Graph calls cross a real TLS socket
on 127.0.0.1, and the assertions read what the emulator received.

Home Assistant's clock is frozen here too, and the emulator in the same
process reads the same clock: a Retry-After or the outbox's backoff passes
when the test moves the clock (``Clock``), never in real time.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.const import (
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_SOURCE,
    CONF_TENANT_ID,
    DOMAIN,
    ENV_EMULATOR_CA,
    ENV_EMULATOR_URL,
)
from emulator import Emulator, ReceivedMessage
from tests.conftest import Clock

__all__ = ["Clock"]
from emulator.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_TENANT_ID,
)

MAILBOX = "alerts@contoso.com"
#: A personal Microsoft account of the emulator (Outlook.com).
PERSONAL = "casey@outlook.com"
FRONT_DOOR = "camera.front_door"
#: The demo camera picture that scripts/develop uses too.
FRONT_DOOR_JPEG = (
    Path(__file__).resolve().parents[2]
    / "scripts"
    / "develop_assets"
    / "front_door.jpg"
)
ENTRY_DATA = {
    CONF_SOURCE: MAILBOX,
    CONF_TENANT_ID: DEFAULT_TENANT_ID,
    CONF_CLIENT_ID: DEFAULT_CLIENT_ID,
    CONF_CLIENT_SECRET: DEFAULT_CLIENT_SECRET,
    CONF_CLOUD: "global",
}


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Allow real sockets (the Home Assistant test plugin blocks them)."""


@pytest.fixture
async def emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Emulator]:
    """Run the emulator on 127.0.0.1 and point the integration at it."""
    async with Emulator(tmp_path / "emulator") as running:
        monkeypatch.setenv(ENV_EMULATOR_URL, running.url)
        monkeypatch.setenv(ENV_EMULATOR_CA, str(running.ca_path))
        yield running


@pytest.fixture
def config_entry() -> MockConfigEntry:
    """Return a config entry for the emulator's mailbox and app."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=MAILBOX,
        unique_id=f"{DEFAULT_TENANT_ID}:{MAILBOX}",
        data=dict(ENTRY_DATA),
    )


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add the entry and set it up (it signs in against the emulator)."""
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


@pytest.fixture
async def account(
    hass: HomeAssistant, emulator: Emulator, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set up the integration against the emulator."""
    await set_up(hass, config_entry)
    assert config_entry.state is ConfigEntryState.LOADED
    return config_entry


@pytest.fixture
async def front_door(hass: HomeAssistant) -> str:
    """Add the demo camera: core local_file showing the committed JPEG."""
    entry = MockConfigEntry(
        domain="local_file",
        title="Front door",
        options={"name": "Front door", "file_path": str(FRONT_DOOR_JPEG)},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(FRONT_DOOR) is not None
    return FRONT_DOOR


async def alert(
    hass: HomeAssistant, subject: str, message: str = "Alert body.", **data: Any
) -> None:
    """Call notify.o365 and wait for it to return."""
    service_data: dict[str, Any] = {"title": subject, "message": message}
    if data:
        service_data["data"] = data
    await hass.services.async_call("notify", "o365", service_data, blocking=True)


def received(emulator: Emulator, subject: str) -> list[ReceivedMessage]:
    """Return the messages with this subject the emulator accepted, oldest first."""
    return [m for m in reversed(emulator.messages) if m.subject == subject]


def requests(emulator: Emulator, operation: str) -> list[dict[str, Any]]:
    """Return the emulator's log of requests for one operation, oldest first."""
    return [r for r in emulator.stats["requests"] if r["operation"] == operation]


def statuses(emulator: Emulator, operation: str) -> list[int]:
    """Return the statuses answered to one operation (0: connection dropped)."""
    return [r["status"] for r in requests(emulator, operation)]


async def sign_in(
    clock: Clock,
    emulator: Emulator,
    flow_id: str,
    step_input: dict[str, Any],
    user: str = PERSONAL,
) -> Any:
    """Submit the form, do the person's part as ``user``, return what follows.

    The integration polls every five seconds, as Entra asks, on Home
    Assistant's clock.
    """
    flows = clock.hass.config_entries.flow
    result = await flows.async_configure(flow_id, step_input)
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    code = result["description_placeholders"]["code"]
    assert result["description_placeholders"]["url"] == f"{emulator.url}/devicelogin"
    emulator.complete_device_login(code, user)
    await clock.run_until(
        lambda: flows.async_get(flow_id)["step_id"] != "sign_in_code", limit=60
    )
    return await flows.async_configure(flow_id)


async def add_personal_account(
    clock: Clock,
    emulator: Emulator,
    user: str = PERSONAL,
    tenant: str = "consumers",
) -> Any:
    """Add a signed-in account through the config flow, as a person does."""
    hass = clock.hass
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sign_in"}
    )
    result = await sign_in(
        clock,
        emulator,
        result["flow_id"],
        {
            "client_id": DEFAULT_PUBLIC_CLIENT_ID,
            "tenant_id": tenant,
            "cloud": "global",
            "large_attachments": True,
        },
        user,
    )
    await clock.idle()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    return result["result"]
