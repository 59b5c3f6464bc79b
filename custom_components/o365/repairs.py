"""Repairs the user can fix in place: the secret's expiry date nobody could read."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from homeassistant.components.repairs import RepairsFlow
from homeassistant.core import HomeAssistant
from homeassistant.helpers.selector import DateSelector
from homeassistant.util import dt as dt_util
import voluptuous as vol

from .const import CONF_SECRET_EXPIRES, CONF_SOURCE
from .issues import EXPIRY_UNKNOWN

if TYPE_CHECKING:
    # Newer Home Assistant types a repair flow's steps with their own result
    # type; 2025.4 uses the plain flow result. Each lane knows only one name.
    try:
        from homeassistant.components.repairs.models import (  # type: ignore[attr-defined, unused-ignore]
            RepairsFlowResult as StepResult,
        )
    except ImportError:
        from homeassistant.data_entry_flow import (  # type: ignore[assignment, unused-ignore]
            FlowResult as StepResult,
        )


class _ExpiryDate(DateSelector):
    """The date picker, also taking the date and time some frontends send.

    Home Assistant 2025.4's frontend submits an untouched date field as
    ``2026-12-03T00:00:00``, which the plain picker refuses with an empty
    error: keep the date part, so the step can say what is wrong.
    """

    def __call__(self, data: Any) -> str:
        """Validate the date part (YYYY-MM-DD) and return it."""
        date = str(data).split("T", 1)[0]
        super().__call__(date)
        return date


class SecretExpiryFlow(RepairsFlow):
    """Ask for the date the client secret expires, as the portal shows it."""

    def __init__(self, entry_id: str) -> None:
        """Fix the expiry date of this entry's secret."""
        self._entry_id = entry_id

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> StepResult:
        """Start with the form (the flow is started with the issue's data)."""
        return await self.async_step_secret_expires()

    async def async_step_secret_expires(
        self, user_input: dict[str, Any] | None = None
    ) -> StepResult:
        """Show the date field; store it in the entry's options."""
        entry = self.hass.config_entries.async_get_entry(self._entry_id)
        if entry is None:
            return self.async_abort(reason="entry_removed")
        errors: dict[str, str] = {}
        if user_input is not None:
            expires = dt_util.parse_date(user_input[CONF_SECRET_EXPIRES])
            # The form starts on today's date: a secret that expires today
            # or earlier cannot be the one still signing in for long.
            if expires is None or expires <= dt_util.now().date():
                errors[CONF_SECRET_EXPIRES] = "not_after_today"
            else:
                self.hass.config_entries.async_update_entry(
                    entry,
                    options={**entry.options, CONF_SECRET_EXPIRES: expires.isoformat()},
                )
                return self.async_create_entry(data={})
        schema = vol.Schema({vol.Required(CONF_SECRET_EXPIRES): _ExpiryDate()})
        return self.async_show_form(
            step_id="secret_expires",
            data_schema=self.add_suggested_values_to_schema(schema, user_input),
            errors=errors,
            description_placeholders={"mailbox": str(entry.data[CONF_SOURCE])},
        )


async def async_create_fix_flow(
    hass: HomeAssistant, issue_id: str, data: dict[str, Any] | None
) -> RepairsFlow:
    """Return the flow that fixes a repair issue of this integration."""
    if issue_id.startswith(EXPIRY_UNKNOWN) and data and "entry_id" in data:
        return SecretExpiryFlow(str(data["entry_id"]))
    raise ValueError(f"No fix for {issue_id}")
