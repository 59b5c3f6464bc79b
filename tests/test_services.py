"""Tests of the notify entity and the o365.send_message entity action."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
import voluptuous as vol
import yaml

from custom_components.o365 import services
from custom_components.o365.const import DOMAIN

from .conftest import JPEG, MAILBOX, GraphMock

ENTITY_ID = "notify.alerts_contoso_com_email"
INTEGRATION = Path(__file__).parent.parent / "custom_components" / "o365"


async def send_email(hass: HomeAssistant, **data: Any) -> None:
    await hass.services.async_call(
        DOMAIN, "send_message", {"entity_id": ENTITY_ID, **data}, blocking=True
    )


async def test_entity_under_its_device(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device_registry: dr.DeviceRegistry,
    entity_registry: er.EntityRegistry,
) -> None:
    # By the entity's device_id: device_registry.async_get_device, the lookup
    # by identifiers, is refused by Home Assistant 2026.10.
    entity = entity_registry.async_get(ENTITY_ID)
    assert entity is not None
    assert entity.device_id is not None
    device = device_registry.async_get(entity.device_id)
    assert device is not None
    assert device.identifiers == {(DOMAIN, init_integration.entry_id)}
    assert device.name == MAILBOX
    assert device.entry_type is dr.DeviceEntryType.SERVICE
    assert entity.translation_key == "email"
    assert entity.unique_id.endswith("_email")
    assert hass.states.get(ENTITY_ID).attributes["friendly_name"] == (
        f"{MAILBOX} Email"
    )


async def test_notify_send_message(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """notify.send_message mails the default recipients and updates the state."""
    assert hass.states.get(ENTITY_ID).state == "unknown"
    await hass.services.async_call(
        "notify",
        "send_message",
        {"entity_id": ENTITY_ID, "title": "Garage", "message": "The garage is open"},
        blocking=True,
    )
    (body,) = graph_mock.sent()
    assert body["message"]["subject"] == "Garage"
    assert body["message"]["body"] == {
        "contentType": "text",
        "content": "The garage is open",
    }
    assert body["message"]["toRecipients"] == [{"emailAddress": {"address": MAILBOX}}]
    assert hass.states.get(ENTITY_ID).state not in ("unknown", "unavailable")


async def test_send_message_action_with_media_camera(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
) -> None:
    """A camera picked with the media selector is attached inline."""
    await send_email(
        hass,
        message="<p>Someone at the door</p>",
        title="Doorbell",
        to=["ops@contoso.com"],
        cc=["Carol <carol@contoso.com>"],
        html=True,
        importance="high",
        attachments={
            "entity_id": "media_player.none",
            "media_content_id": f"media-source://camera/{front_door}",
            "media_content_type": "image/jpeg",
        },
        save_to_sent_items=False,
    )
    (body,) = graph_mock.sent()
    message = body["message"]
    assert body["saveToSentItems"] is False
    assert message["subject"] == "Doorbell"
    assert message["importance"] == "high"
    assert message["toRecipients"] == [{"emailAddress": {"address": "ops@contoso.com"}}]
    assert message["ccRecipients"] == [
        {"emailAddress": {"address": "carol@contoso.com", "name": "Carol"}}
    ]
    (snapshot,) = message["attachments"]
    assert snapshot["isInline"] is True
    assert snapshot["contentId"] == front_door
    assert base64.b64decode(snapshot["contentBytes"]) == JPEG
    assert f'src="cid:{front_door}"' in message["body"]["content"]


@pytest.mark.parametrize(
    ("attachments", "key"),
    [
        ({"media_content_id": "media-source://camera/camera.gone"}, "camera_failed"),
        ({"media_content_id": "media-source://nothing/here"}, "invalid_media"),
        (["/etc/shadow"], "path_not_allowed"),
    ],
)
async def test_send_message_refuses_bad_attachments(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    attachments: Any,
    key: str,
) -> None:
    with pytest.raises(ServiceValidationError) as info:
        await send_email(hass, message="x", attachments=attachments)
    assert info.value.translation_key == key
    assert graph_mock.sent() == []


async def test_send_message_validates_fields(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    # The same translated message as notify.o365's, with its help link.
    for to in (["nobody"], [None]):
        with pytest.raises(ServiceValidationError) as info:
            await send_email(hass, message="x", to=to)
        assert info.value.translation_key == "invalid_address"
        assert str(info.value).startswith(
            f'The to entry "{to[0]}" is not an email address.'
        )
        assert str(info.value).endswith("#invalid_address")
    # Home Assistant's own check of the action's schema refuses an unknown
    # key, in its validator's words: "extra keys not allowed @ data['account']"
    # (voluptuous) or "not a valid option at 'account'" (probatio, 2026.10).
    with pytest.raises(vol.Invalid) as info:
        await send_email(hass, message="x", account=MAILBOX)
    assert info.value.path == ["account"]
    assert graph_mock.sent() == []


def test_services_yaml_describes_the_action_with_selectors() -> None:
    described = yaml.safe_load((INTEGRATION / "services.yaml").read_text())
    fields = described["send_message"]["fields"]
    assert described["send_message"]["target"]["entity"] == {
        "integration": "o365",
        "domain": "notify",
    }
    assert set(fields) == {
        "message",
        "title",
        "to",
        "cc",
        "bcc",
        "reply_to",
        "html",
        "importance",
        "cameras",
        "attachments",
        "images",
        "save_to_sent_items",
        "from",
    }
    # Every described field is accepted by the action's schema.
    services.SEND_MESSAGE_SCHEMA(
        {
            "entity_id": ENTITY_ID,
            "message": "m",
            "title": "t",
            "to": ["a@b.com"],
            "cc": "c@b.com",
            "bcc": ["d@b.com"],
            "reply_to": "e@b.com",
            "html": True,
            "importance": "low",
            "cameras": ["camera.x"],
            "attachments": {"media_content_id": "media-source://camera/camera.x"},
            "images": ["/config/www/x.png"],
            "save_to_sent_items": False,
            "from": "alerts-shared@contoso.com",
        }
    )
    assert fields["message"]["required"] is True
    # Plain text: "Night Desk <desk@example.com>" is a recipient too, which
    # an email-type field would underline red.
    for name in ("to", "cc", "bcc", "reply_to"):
        assert fields[name]["selector"] == {"text": {"multiple": True}}
    # Unticked until the user turns it on; images a list like attachments.
    assert "default" not in fields["html"]
    assert fields["images"]["selector"] == {"text": {"multiple": True}}
    assert fields["importance"]["selector"]["select"]["options"] == [
        "low",
        "normal",
        "high",
    ]
    # The media selector of Home Assistant 2025.4 (the minimum) demands a
    # media player: attachments are a list of paths, URLs or media items.
    assert fields["attachments"]["selector"] == {"text": {"multiple": True}}
    assert "boolean" in fields["html"]["selector"]
    assert "boolean" in fields["save_to_sent_items"]["selector"]
    assert fields["cameras"]["selector"] == {
        "entity": {"domain": "camera", "multiple": True}
    }


async def test_newer_home_assistant_registers_in_setup(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Where async_register_platform_entity_service exists (2025.10+) it is used."""
    calls: list[dict[str, Any]] = []

    def register(hass: HomeAssistant, domain: str, name: str, **kwargs: Any) -> None:
        calls.append({"domain": domain, "name": name, **kwargs})

    monkeypatch.setattr(services, "_register_in_setup", register)
    services.async_setup_services(hass)
    assert calls == [
        {
            "domain": DOMAIN,
            "name": "send_message",
            "entity_domain": "notify",
            "schema": services.SEND_MESSAGE_SCHEMA,
            "func": "async_send_email",
        }
    ]
    # ...and the platform does not register it a second time.
    services.async_setup_platform_services()
