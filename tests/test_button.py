"""Tests of the "Send test email" button: the normal path, and what the user is told."""

from __future__ import annotations

import base64

from homeassistant.components import persistent_notification
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.const import CONF_DEFAULT_RECIPIENTS, DOMAIN

from .conftest import MAILBOX, Clock, GraphMock

BUTTON = "button.alerts_contoso_com_send_test_email"


def notification(
    hass: HomeAssistant, entry: MockConfigEntry
) -> persistent_notification.Notification:
    notifications = persistent_notification._async_get_or_create_notifications(hass)
    return notifications[f"{DOMAIN}_test_email_{entry.entry_id}"]


async def press(hass: HomeAssistant) -> None:
    await hass.services.async_call(
        "button", "press", {"entity_id": BUTTON}, blocking=True
    )


async def test_button_is_a_config_entity(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    entity_registry: er.EntityRegistry,
) -> None:
    entity = entity_registry.async_get(BUTTON)
    assert entity is not None
    assert entity.entity_category is er.EntityCategory.CONFIG
    assert hass.states.get(BUTTON).attributes["friendly_name"] == (
        f"{MAILBOX} Send test email"
    )


async def test_test_email_goes_out_with_an_inline_picture(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(
        init_integration, options={CONF_DEFAULT_RECIPIENTS: ["Me <me@example.com>"]}
    )
    await press(hass)
    (body,) = graph_mock.sent()
    message = body["message"]
    assert message["toRecipients"] == [
        {"emailAddress": {"address": "me@example.com", "name": "Me"}}
    ]
    assert message["body"]["contentType"] == "html"
    assert 'src="cid:o365-test-image"' in message["body"]["content"]
    (picture,) = message["attachments"]
    assert picture["isInline"] is True
    assert picture["contentId"] == "o365-test-image"
    assert base64.b64decode(picture["contentBytes"]).startswith(b"\x89PNG")
    told = notification(hass, init_integration)
    assert told["title"] == f"Test email from {MAILBOX}"
    assert told["message"] == (
        f"The test email went out from {MAILBOX} to Me <me@example.com>. "
        "Check the inbox (and the junk folder) of the recipients"
    )


async def test_failed_test_email_says_why(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    graph_mock.mocked.clear()
    graph_mock.sign_in()
    graph_mock.send_mail(status=403, code="ErrorAccessDenied")
    with pytest.raises(HomeAssistantError) as info:
        await press(hass)
    assert info.value.translation_key == "test_email_failed"
    told = notification(hass, init_integration)
    assert told["message"].startswith(f"The test email from {MAILBOX} failed: ")
    assert "ErrorAccessDenied" in told["message"]
    assert "Mail.Send" in told["message"]  # the translated error, with what to do


async def test_queued_test_email_says_so(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
) -> None:
    graph_mock.mocked.clear()
    graph_mock.sign_in()
    graph_mock.send_mail(status=503)
    await clock.run(press(hass))
    told = notification(hass, init_integration)
    assert "waits in the outbox" in told["message"]
    assert "HTTP 503" in told["message"]
    await hass.config_entries.async_unload(init_integration.entry_id)
