"""Send email notifications from a Microsoft 365 mailbox through Microsoft Graph."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
    HomeAssistantError,
)
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .account import O365Account
from .connection import async_connect
from .const import CONF_SOURCE, DOCS_URL, DOMAIN
from .errors import error_key, error_placeholders
from .graph import InvalidClientSecretError, O365Error

type O365ConfigEntry = ConfigEntry[O365Account]

# YAML is not supported. The schema accepts an old `o365:` block (an older,
# unrelated integration used the same domain) so that async_setup can explain.
CONFIG_SCHEMA = vol.Schema({vol.Optional(DOMAIN): cv.match_all}, extra=vol.ALLOW_EXTRA)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Explain that `o365:` in configuration.yaml is not used."""
    if DOMAIN in config:
        ir.async_create_issue(
            hass,
            DOMAIN,
            "yaml_not_supported",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="yaml_not_supported",
            learn_more_url=DOCS_URL,
        )
    return True


async def async_setup_entry(hass: HomeAssistant, entry: O365ConfigEntry) -> bool:
    """Sign in as the app and make the mailbox ready to send."""
    connection = await async_connect(hass, entry.data)
    try:
        await connection.tokens.async_get_token()
    except O365Error as err:
        if isinstance(err, InvalidClientSecretError):
            error_type: type[HomeAssistantError] = ConfigEntryAuthFailed
        elif err.transient:
            error_type = ConfigEntryNotReady
        else:
            error_type = ConfigEntryError
        raise error_type(
            translation_domain=DOMAIN,
            translation_key=error_key(err),
            translation_placeholders=error_placeholders(err, entry.data[CONF_SOURCE]),
        ) from err
    entry.runtime_data = O365Account(hass, entry, connection)
    return True


async def async_unload_entry(hass: HomeAssistant, entry: O365ConfigEntry) -> bool:
    """Release the account."""
    return True
