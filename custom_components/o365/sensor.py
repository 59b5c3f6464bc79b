"""Diagnostic sensors: the outbox length and when the credential expires."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account import SIGNAL_OUTBOX_CHANGED, O365Account
from .entity import O365Entity
from .expiry import SIGNAL_EXPIRY_CHANGED, CredentialExpiry

if TYPE_CHECKING:
    from .models import O365ConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: O365ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the outbox sensor, and the expiry sensor where a credential expires."""
    data = entry.runtime_data
    entities: list[SensorEntity] = [OutboxSensor(data.account, "outbox")]
    if data.expiry.applies:
        entities.append(CredentialExpirySensor(data.account, data.expiry))
    async_add_entities(entities)


class _PushedSensor(O365Entity, SensorEntity):
    """A diagnostic sensor written when a dispatcher signal says it changed."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_should_poll = False
    _signal: str

    async def async_added_to_hass(self) -> None:
        """Update whenever the signal fires."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                self._signal.format(self.account.entry.entry_id),
                self._async_changed,
            )
        )

    @callback
    def _async_changed(self) -> None:
        self.async_write_ha_state()


class OutboxSensor(_PushedSensor):
    """The number of messages waiting to be sent."""

    _attr_translation_key = "outbox"
    _attr_state_class = SensorStateClass.MEASUREMENT
    _signal = SIGNAL_OUTBOX_CHANGED

    @property
    def native_value(self) -> int:
        """Return the outbox length."""
        return len(self.account.outbox)


class CredentialExpirySensor(_PushedSensor):
    """When the client secret or certificate expires (unknown until found)."""

    _attr_translation_key = "credential_expires"
    _attr_device_class = SensorDeviceClass.TIMESTAMP
    _signal = SIGNAL_EXPIRY_CHANGED

    def __init__(self, account: O365Account, expiry: CredentialExpiry) -> None:
        """Show the account's credential expiry."""
        super().__init__(account, "credential_expires")
        self._expiry = expiry

    @property
    def native_value(self) -> datetime | None:
        """Return the expiry time."""
        return self._expiry.expires

    @property
    def extra_state_attributes(self) -> dict[str, str | None]:
        """Say where the date comes from (certificate, app registration, option)."""
        return {"source": self._expiry.source}
