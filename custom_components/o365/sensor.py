"""Diagnostic sensor: how many messages wait in an account's outbox."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.components.sensor import SensorEntity, SensorStateClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account import SIGNAL_OUTBOX_CHANGED
from .entity import O365Entity

if TYPE_CHECKING:
    from . import O365ConfigEntry

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: O365ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the outbox sensor of an account."""
    async_add_entities([OutboxSensor(entry.runtime_data, "outbox")])


class OutboxSensor(O365Entity, SensorEntity):
    """The number of messages waiting to be sent."""

    _attr_translation_key = "outbox"
    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_should_poll = False

    @property
    def native_value(self) -> int:
        """Return the outbox length."""
        return len(self.account.outbox)

    async def async_added_to_hass(self) -> None:
        """Update whenever the outbox changes."""
        self.async_on_remove(
            async_dispatcher_connect(
                self.hass,
                SIGNAL_OUTBOX_CHANGED.format(self.account.entry.entry_id),
                self._async_outbox_changed,
            )
        )

    @callback
    def _async_outbox_changed(self) -> None:
        self.async_write_ha_state()
