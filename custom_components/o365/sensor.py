"""Diagnostic sensors: the outbox, the sending budget and when the credential expires."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorStateClass,
)
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .account import O365Account, O365ConfigEntry
from .budget import SIGNAL_BUDGET_CHANGED
from .clock import as_datetime
from .entity import O365Entity
from .expiry import SIGNAL_EXPIRY_CHANGED, CredentialExpiry
from .outbox_worker import SIGNAL_OUTBOX_CHANGED

PARALLEL_UPDATES = 0


async def async_setup_entry(
    hass: HomeAssistant,
    entry: O365ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the outbox and budget sensors, and the expiry sensor where a credential expires."""
    account = entry.runtime_data
    entities: list[SensorEntity] = [
        OutboxSensor(account, "outbox"),
        RecipientsSensor(account, "recipients_24h"),
    ]
    if account.expiry is not None and account.expiry.applies:
        entities.append(CredentialExpirySensor(account, account.expiry))
    async_add_entities(entities)


class _PushedSensor(O365Entity, SensorEntity):
    """A diagnostic sensor written when dispatcher signals say it changed."""

    _attr_entity_category = EntityCategory.DIAGNOSTIC
    _attr_should_poll = False
    _signals: tuple[str, ...]

    async def async_added_to_hass(self) -> None:
        """Update whenever a signal fires."""
        for signal in self._signals:
            self.async_on_remove(
                async_dispatcher_connect(
                    self.hass,
                    signal.format(self.account.entry.entry_id),
                    self._async_changed,
                )
            )

    @callback
    def _async_changed(self) -> None:
        self.async_write_ha_state()


class OutboxSensor(_PushedSensor):
    """The number of messages waiting: queued after a failure or held for a digest."""

    _attr_translation_key = "outbox"
    _attr_state_class = SensorStateClass.MEASUREMENT
    _signals = (SIGNAL_OUTBOX_CHANGED,)

    @property
    def native_value(self) -> int:
        """Return the outbox length."""
        return len(self.account.outbox)

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Split the count: failed sends to retry, alerts held for a digest."""
        outbox = self.account.outbox
        return {"queued": len(outbox.queued), "held": len(outbox.held)}


class RecipientsSensor(_PushedSensor):
    """Recipients sent in the last 24 hours, against the account's budget."""

    _attr_translation_key = "recipients_24h"
    _attr_state_class = SensorStateClass.MEASUREMENT
    _attr_native_unit_of_measurement = "recipients"
    _signals = (SIGNAL_BUDGET_CHANGED, SIGNAL_OUTBOX_CHANGED)

    @property
    def native_value(self) -> int:
        """Return the recipients sent in the last 24 hours."""
        return self.account.budget.sent_recently()

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """Return the budget and whether alerts go out as digests now."""
        digests = self.account.digests
        due = digests.next_digest
        return {
            "budget": self.account.budget.limit,
            "digest_mode": digests.active,
            "next_digest": as_datetime(due).isoformat() if due else None,
        }


class CredentialExpirySensor(_PushedSensor):
    """When the client secret or certificate expires (unknown until found)."""

    _attr_translation_key = "credential_expires"
    _attr_device_class = SensorDeviceClass.TIMESTAMP
    _signals = (SIGNAL_EXPIRY_CHANGED,)

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
