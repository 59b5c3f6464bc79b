"""A signed-in personal account end to end: device code, /me, renewal, reauth.

Real MSAL against the emulator over TLS; the person's part (enter the code,
pick the account, accept) is done with the emulator's control API, as the
browser test does it on the device-login page.
"""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest

from custom_components.o365.const import CONF_FROM_MAILBOX, CONF_TOKEN_CACHE, DOMAIN
from emulator import Emulator
from emulator.directory import (
    CONSUMER_TENANT_ID,
    DEFAULT_WORK_USER,
    NON_OUTLOOK_PERSONAL_ALIAS,
    NON_OUTLOOK_PERSONAL_UPN,
    SHARED_MAILBOX,
)

from .conftest import (
    FRONT_DOOR,
    PERSONAL,
    Clock,
    add_personal_account,
    alert,
    received,
    sign_in,
)


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


async def test_account_made_with_another_providers_address(
    clock: Clock, hass: HomeAssistant, emulator: Emulator
) -> None:
    """A Microsoft account made with a Gmail address: /me has no mail and its
    sign-in name is that address. The entry is named by it and alerts go to
    it; mail leaves from the account's Outlook.com mailbox."""
    entry = await add_personal_account(clock, emulator, NON_OUTLOOK_PERSONAL_UPN)
    assert entry.title == NON_OUTLOOK_PERSONAL_UPN
    await clock.run(alert(hass, "From a Gmail-made account"))
    (message,) = received(emulator, "From a Gmail-made account")
    assert message.mailbox.address == NON_OUTLOOK_PERSONAL_ALIAS
    assert message.message["toRecipients"] == [
        {"emailAddress": {"address": NON_OUTLOOK_PERSONAL_UPN}}
    ]


async def test_work_account_sends_from_a_shared_mailbox(
    clock: Clock, hass: HomeAssistant, emulator: Emulator
) -> None:
    """Option from_mailbox: the person consents to Mail.Send.Shared in one more
    sign-in, then alerts leave from the shared mailbox; `from` naming one the
    person may not send as is refused with ErrorSendAsDenied."""
    entry = await add_personal_account(
        clock, emulator, DEFAULT_WORK_USER, tenant="organizations"
    )
    result = await hass.config_entries.options.async_init(entry.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_FROM_MAILBOX: SHARED_MAILBOX}
    )
    # The stored sign-in has no consent to Mail.Send.Shared: sign in again.
    await clock.run_until(
        lambda: bool(hass.config_entries.flow.async_progress_by_handler(DOMAIN))
    )
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"
    result = await sign_in(clock, emulator, flow["flow_id"], {}, DEFAULT_WORK_USER)
    assert result["reason"] == "reauth_successful"
    await clock.idle()

    await clock.run(alert(hass, "From the shared mailbox"))
    (message,) = received(emulator, "From the shared mailbox")
    assert message.mailbox.address == SHARED_MAILBOX
    assert message.delegate is not None
    assert message.delegate.address == DEFAULT_WORK_USER

    with pytest.raises(HomeAssistantError) as info:
        await clock.run(
            alert(hass, "Not ours to send", **{"from": "alerts@contoso.com"})
        )
    assert info.value.translation_key == "send_as_denied"
