"""A signed-in personal account end to end: device code, /me, renewal, reauth.

Real MSAL against the emulator over TLS; the person's part (enter the code,
pick the account, accept) is done with the emulator's control API, as the
browser test does it on the device-login page.
"""

from __future__ import annotations

from typing import Any

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.o365.const import CONF_TOKEN_CACHE, DOMAIN
from emulator import Emulator
from emulator.directory import CONSUMER_TENANT_ID, DEFAULT_PUBLIC_CLIENT_ID

from .conftest import FRONT_DOOR, Clock, alert, received

PERSONAL = "casey@outlook.com"


async def sign_in(
    clock: Clock, emulator: Emulator, flow_id: str, step_input: dict[str, Any]
) -> Any:
    """Submit the form, do the person's part, and return what follows the wait.

    The integration polls every five seconds, as Entra asks, on Home
    Assistant's clock.
    """
    flows = clock.hass.config_entries.flow
    result = await flows.async_configure(flow_id, step_input)
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    code = result["description_placeholders"]["code"]
    assert result["description_placeholders"]["url"] == f"{emulator.url}/devicelogin"
    emulator.complete_device_login(code, PERSONAL)
    await clock.run_until(
        lambda: flows.async_get(flow_id)["step_id"] != "sign_in_code", limit=60
    )
    return await flows.async_configure(flow_id)


async def add_personal_account(clock: Clock, emulator: Emulator) -> Any:
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
            "tenant_id": "consumers",
            "cloud": "global",
            "large_attachments": True,
        },
    )
    await clock.idle()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    return result["result"]


async def test_personal_account_signs_in_and_sends_a_snapshot(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, front_door: str
) -> None:
    entry = await add_personal_account(clock, emulator)
    assert entry.title == PERSONAL
    assert entry.unique_id == f"{CONSUMER_TENANT_ID}:{PERSONAL}"
    assert entry.state is ConfigEntryState.LOADED

    await clock.run(
        alert(
            hass,
            "Motion at the front door",
            "<p>Someone is there.</p>",
            html=True,
            cameras=[FRONT_DOOR],
        )
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
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Password changed: alerts are kept, reauth signs in again, they go out."""
    entry = await add_personal_account(clock, emulator)
    cache = entry.data[CONF_TOKEN_CACHE]
    emulator.revoke_refresh_tokens(PERSONAL, "password_changed")
    account = entry.runtime_data
    assert account.connection is not None
    # What the weekly keep-alive does.
    from custom_components.o365.graph import SignInExpiredError

    with pytest.raises(SignInExpiredError) as info:
        await account.connection.tokens.async_get_token(renew=True)
    assert info.value.codes == (50173,)
    account.sender.note_failure(info.value)
    await clock.idle()
    issue = issue_registry.async_get_issue(DOMAIN, f"credential_{entry.entry_id}")
    assert issue is not None
    assert issue.translation_key == "sign_in_expired"

    for n in range(3):
        await clock.run(alert(hass, f"while signed out {n}"))
    assert [item.subject for item in account.outbox.items] == [
        f"while signed out {n}" for n in range(3)
    ]

    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    result = await sign_in(clock, emulator, flow["flow_id"], {})
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TOKEN_CACHE] != cache
    # The entry reloaded with its new sign-in: a new account object.
    await clock.run_until(lambda: not entry.runtime_data.outbox.items)
    for n in range(3):
        (message,) = received(emulator, f"while signed out {n}")
        assert message.mailbox.address == PERSONAL
    assert (
        issue_registry.async_get_issue(DOMAIN, f"credential_{entry.entry_id}") is None
    )
