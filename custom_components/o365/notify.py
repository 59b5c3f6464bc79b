"""Notifications: the notify.o365 action and a notify entity per account.

``notify.o365`` is the legacy notify service: one for all accounts, loaded
through discovery when the first account is set up and unregistered when the
last one unloads; ``data.account`` picks the mailbox. Each account also has a
notify entity for ``notify.send_message`` and the ``o365.send_message``
entity action.
"""

from __future__ import annotations

from typing import Any

# NotifyEntityFeature: Home Assistant 2026.10 defines it in notify.const (2025.4
# does not) and notify imports it from there, which mypy calls not exported.
from homeassistant.components.notify import (  # type: ignore[attr-defined, unused-ignore]
    NotifyEntity,
    NotifyEntityFeature,
)
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
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.service import async_set_service_schema
from homeassistant.helpers.typing import ConfigType, DiscoveryInfoType
from homeassistant.util.hass_dict import HassKey

from .account import O365Account, O365ConfigEntry, async_get_account
from .const import DOMAIN, NOTIFY_SERVICE_NAME
from .entity import O365Entity
from .request import ATTR_TO, build_request, request_from_notify
from .send import async_send
from .services import async_setup_platform_services

PARALLEL_UPDATES = 0

DATA_NOTIFY_SERVICE: HassKey[O365NotificationService] = HassKey(f"{DOMAIN}_notify")
DATA_HASS_CONFIG: HassKey[ConfigType] = HassKey(f"{DOMAIN}_hass_config")

SERVICE_DESCRIPTION = {
    "name": "Send an email with Office 365",
    "description": (
        "Sends an email from a Microsoft 365 or Outlook.com mailbox through "
        "Microsoft Graph. "
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
            "description": (
                "Recipients: email addresses, or a name followed by the address "
                "in angle brackets."
            ),
            "example": "alerts@example.com",
            "selector": {"text": {"multiple": True}},
        },
        "data": {
            "name": "Data",
            "description": (
                "Optional: html (true or an HTML body), cc, bcc, reply_to, "
                "importance (low/normal/high), cameras (entity IDs, snapshot "
                "inline as cid: followed by the entity ID), attachments / images "
                "(paths, URLs or mappings with path or url, name, content_type, "
                "content_id), "
                "save_to_sent_items, account, from (a shared mailbox to send from)."
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
    return O365NotificationService()


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

    async def async_setup(
        self,
        hass: HomeAssistant,
        service_name: str,
        target_service_name_prefix: str,
    ) -> None:
        """Set up, then let further accounts re-register the service.

        Published only now: an account setting up while the notify platform
        is still loading must not call async_register_services on a service
        that has not read its descriptions yet.
        """
        await super().async_setup(hass, service_name, target_service_name_prefix)
        hass.data[DATA_NOTIFY_SERVICE] = self

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
        await async_send(self.hass, account, request)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: O365ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the notify entity of an account."""
    async_setup_platform_services()
    async_add_entities([O365NotifyEntity(entry.runtime_data)])


class O365NotifyEntity(O365Entity, NotifyEntity):
    """Sends email from one mailbox: notify.send_message and o365.send_message."""

    _attr_translation_key = "email"
    _attr_supported_features = NotifyEntityFeature.TITLE

    def __init__(self, account: O365Account) -> None:
        """Attach the entity to the account's device."""
        super().__init__(account, "email")

    async def async_send_message(self, message: str, title: str | None = None) -> None:
        """Send title and message to the default recipients (notify.send_message)."""
        request = build_request(message=message, title=title, to=None, fields={})
        await async_send(self.hass, self.account, request)

    async def async_send_email(self, **data: Any) -> None:
        """Send a full email (the o365.send_message action)."""
        request = build_request(
            message=data.pop("message"),
            title=data.pop("title", None),
            to=data.pop(ATTR_TO, None),
            fields=data,
        )
        await async_send(self.hass, self.account, request)
        # Home Assistant versions that can record a send made by an
        # integration's own action show it in the entity state too.
        if (record := getattr(self, "_async_record_notification", None)) is not None:
            record()
