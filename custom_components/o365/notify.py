"""notify.o365: the legacy notify action, one service for all accounts.

It is loaded through discovery when the first account is set up and
unregistered when the last one unloads; ``data.account`` picks the mailbox.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.notify.const import (
    ATTR_DATA,
    ATTR_TARGET,
    ATTR_TITLE,
    DOMAIN as NOTIFY_DOMAIN,
)
from homeassistant.components.notify.legacy import BaseNotificationService
from homeassistant.const import CONF_NAME, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import discovery
from homeassistant.helpers.service import async_set_service_schema
from homeassistant.helpers.typing import ConfigType, DiscoveryInfoType
from homeassistant.util.hass_dict import HassKey

from .account import async_get_account
from .const import DOMAIN, NOTIFY_SERVICE_NAME
from .request import request_from_notify

DATA_NOTIFY_SERVICE: HassKey[O365NotificationService] = HassKey(f"{DOMAIN}_notify")
DATA_HASS_CONFIG: HassKey[ConfigType] = HassKey(f"{DOMAIN}_hass_config")

SERVICE_DESCRIPTION = {
    "name": "Send an email with Office 365",
    "description": (
        "Sends an email from a Microsoft 365 mailbox through Microsoft Graph. "
        "Recipients default to the account's default recipients, else the mailbox."
    ),
    "fields": {
        "message": {
            "name": "Message",
            "description": "The body of the email (text, or HTML with data.html).",
            "required": True,
            "example": "Motion at the front door",
            "selector": {"text": {"multiline": True}},
        },
        "title": {
            "name": "Title",
            "description": "The subject.",
            "example": "Front door",
            "selector": {"text": None},
        },
        "target": {
            "name": "Target",
            "description": "Recipients: addresses or 'Name <address>'.",
            "example": "alerts@example.com",
            "selector": {"text": {"type": "email", "multiple": True}},
        },
        "data": {
            "name": "Data",
            "description": (
                "Optional: html (true or an HTML body), cc, bcc, reply_to, "
                "importance (low/normal/high), cameras (entity IDs, snapshot "
                "inline as cid:<entity_id>), attachments / images (paths, URLs "
                "or {path|url, name, content_type, content_id}), "
                "save_to_sent_items, account."
            ),
            "example": '{"html": true, "cameras": ["camera.front_door"]}',
            "selector": {"object": None},
        },
    },
}


async def async_get_service(
    hass: HomeAssistant,
    config: ConfigType,
    discovery_info: DiscoveryInfoType | None = None,
) -> O365NotificationService | None:
    """Return the notify service (only through discovery: YAML is not used)."""
    if discovery_info is None:
        return None
    service = O365NotificationService()
    hass.data[DATA_NOTIFY_SERVICE] = service
    return service


async def async_register_notify_service(hass: HomeAssistant) -> None:
    """Make notify.o365 available (called when an account is set up)."""
    if (service := hass.data.get(DATA_NOTIFY_SERVICE)) is not None:
        await service.async_register_services()
        return
    if DATA_HASS_CONFIG in hass.data:
        # The first account: load the notify platform once.
        hass_config = hass.data.pop(DATA_HASS_CONFIG)
        hass.async_create_task(
            discovery.async_load_platform(
                hass,
                Platform.NOTIFY,
                DOMAIN,
                {CONF_NAME: NOTIFY_SERVICE_NAME},
                hass_config,
            ),
            eager_start=True,
        )


async def async_unregister_notify_service(hass: HomeAssistant) -> None:
    """Remove notify.o365 (called when the last account unloads)."""
    if (service := hass.data.get(DATA_NOTIFY_SERVICE)) is not None:
        await service.async_unregister_services()


class O365NotificationService(BaseNotificationService):
    """Sends ``notify.o365`` calls through the chosen account."""

    async def async_register_services(self) -> None:
        """Register the service and describe its fields for the UI."""
        await super().async_register_services()
        async_set_service_schema(
            self.hass, NOTIFY_DOMAIN, NOTIFY_SERVICE_NAME, SERVICE_DESCRIPTION
        )

    async def async_send_message(self, message: str = "", **kwargs: Any) -> None:
        """Validate the call, build the email and send it."""
        data = kwargs.get(ATTR_DATA) or {}
        request = request_from_notify(
            message, kwargs.get(ATTR_TITLE), kwargs.get(ATTR_TARGET), data
        )
        account = async_get_account(self.hass, request.account)
        await account.async_send_request(request)
