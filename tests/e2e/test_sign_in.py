"""A signed-in personal account end to end: device code, /me, renewal, reauth.

Real MSAL against the emulator over TLS; the person's part (enter the code,
pick the account, accept) is done with the emulator's control API, as the
browser test does it on the device-login page.
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.o365 import account as account_module
from custom_components.o365.const import CONF_TOKEN_CACHE, DOMAIN
from emulator import Emulator
from emulator.directory import CONSUMER_TENANT_ID, DEFAULT_PUBLIC_CLIENT_ID

from .conftest import FRONT_DOOR, alert, received, wait_until

PERSONAL = "casey@outlook.com"

pytestmark = pytest.mark.usefixtures("fast_outbox")


@pytest.fixture(autouse=True)
def quick_polls(emulator: Emulator) -> None:
    """Poll every second (Entra says five)."""
    emulator.settings.device_code_interval = 1


async def sign_in(
    hass: HomeAssistant, emulator: Emulator, flow_id: str, step_input: dict[str, Any]
) -> Any:
    """Submit the form, do the person's part, and return what follows the wait."""
    result = await hass.config_entries.flow.async_configure(flow_id, step_input)
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    code = result["description_placeholders"]["code"]
    assert result["description_placeholders"]["url"] == f"{emulator.url}/devicelogin"
    emulator.complete_device_login(code, PERSONAL)
    for _ in range(100):
        await asyncio.sleep(0.1)
        if hass.config_entries.flow.async_get(flow_id)["step_id"] != "sign_in_code":
            break
    return await hass.config_entries.flow.async_configure(flow_id)


async def add_personal_account(hass: HomeAssistant, emulator: Emulator) -> Any:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sign_in"}
    )
    result = await sign_in(
        hass,
        emulator,
        result["flow_id"],
        {
            "client_id": DEFAULT_PUBLIC_CLIENT_ID,
            "tenant_id": "consumers",
            "cloud": "global",
            "large_attachments": True,
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    return result["result"]


async def test_personal_account_signs_in_and_sends_a_snapshot(
    hass: HomeAssistant, emulator: Emulator, front_door: str
) -> None:
    entry = await add_personal_account(hass, emulator)
    assert entry.title == PERSONAL
    assert entry.unique_id == f"{CONSUMER_TENANT_ID}:{PERSONAL}"
    assert entry.state is ConfigEntryState.LOADED

    await alert(
        hass,
        "Motion at the front door",
        "<p>Someone is there.</p>",
        html=True,
        cameras=[FRONT_DOOR],
    )
    (message,) = received(emulator, "Motion at the front door")
    assert message.mailbox.address == PERSONAL
    assert message.signed_in is True
    assert message.via == "sendMail"
    (snapshot,) = message.attachments
    assert snapshot.content_id == FRONT_DOOR
    assert snapshot.is_inline
    # The delegated token: a device-code grant, then refreshes, no secret.
    grants = emulator.stats["token_grants"]
    assert grants["urn:ietf:params:oauth:grant-type:device_code"] == 1
    assert grants.get("client_credentials", 0) == 0


async def test_renewal_refused_queues_until_the_same_account_signs_in_again(
    hass: HomeAssistant, emulator: Emulator, issue_registry: ir.IssueRegistry
) -> None:
    """Password changed: alerts are kept, reauth signs in again, they go out."""
    entry = await add_personal_account(hass, emulator)
    cache = entry.data[CONF_TOKEN_CACHE]
    emulator.revoke_refresh_tokens(PERSONAL, "password_changed")
    account = account_module.async_get_accounts(hass)[entry.entry_id]
    assert account.connection is not None
    # What the weekly keep-alive does.
    from custom_components.o365.graph import SignInExpiredError

    with pytest.raises(SignInExpiredError) as info:
        await account.connection.tokens.async_get_token(renew=True)
    assert info.value.codes == (50173,)
    account.async_note_failure(info.value)
    await hass.async_block_till_done()
    issue = issue_registry.async_get_issue(DOMAIN, f"credential_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "sign_in_expired"

    for n in range(3):
        await alert(hass, f"while signed out {n}")
    assert [item.subject for item in account.outbox.items] == [
        f"while signed out {n}" for n in range(3)
    ]

    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    result = await sign_in(hass, emulator, flow["flow_id"], {})
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TOKEN_CACHE] != cache
    await wait_until(lambda: not account.outbox.items)
    for n in range(3):
        (message,) = received(emulator, f"while signed out {n}")
        assert message.mailbox.address == PERSONAL
    assert (
        issue_registry.async_get_issue(DOMAIN, f"credential_{entry.entry_id}") is None
    )
