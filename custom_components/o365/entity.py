"""The device every entity of an account belongs to."""

from __future__ import annotations

from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity import Entity

from .account import O365Account
from .const import DOMAIN


class O365Entity(Entity):
    """An entity of one sending mailbox (a service-type device)."""

    _attr_has_entity_name = True

    def __init__(self, account: O365Account, key: str) -> None:
        """Attach the entity to the account's device."""
        self.account = account
        entry = account.entry
        self._attr_unique_id = f"{entry.unique_id or entry.entry_id}_{key}"
        self._attr_device_info = DeviceInfo(
            identifiers={(DOMAIN, entry.entry_id)},
            name=account.mailbox,
            manufacturer="Microsoft",
            model="Mailbox, sent through Microsoft Graph",
            entry_type=DeviceEntryType.SERVICE,
        )
