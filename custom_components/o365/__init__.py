"""Send email notifications from a Microsoft 365 mailbox through Microsoft Graph."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import Platform
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

from .account import (
    ACCEPTING_STATES,
    OUTBOX_FOLDER,
    O365Account,
    async_get_accounts,
)
from .connection import async_connect
from .const import CONF_SOURCE, DOMAIN, LOGGER, MAIL_SEND_ROLE, docs_url
from .errors import error_key, error_placeholders
from .graph import ClientSecretExpiredError, InvalidClientSecretError, O365Error
from .issues import async_clear_all_issues, async_raise_secret_issue
from .notify import (
    DATA_HASS_CONFIG,
    async_register_notify_service,
    async_unregister_notify_service,
)
from .outbox import Outbox
from .services import async_setup_services

type O365ConfigEntry = ConfigEntry[O365Account]

PLATFORMS = [Platform.NOTIFY, Platform.SENSOR]

# YAML is not supported. The schema accepts an old `o365:` block (an older,
# unrelated integration used the same domain) so that async_setup can explain.
CONFIG_SCHEMA = vol.Schema({vol.Optional(DOMAIN): cv.match_all}, extra=vol.ALLOW_EXTRA)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Prepare notify.o365; explain that `o365:` in configuration.yaml is not used."""
    hass.data[DATA_HASS_CONFIG] = config
    async_setup_services(hass)
    # mimetypes reads the system's type files on first use: do it off the loop.
    await hass.async_add_executor_job(mimetypes.init)
    if DOMAIN in config:
        ir.async_create_issue(
            hass,
            DOMAIN,
            "yaml_not_supported",
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key="yaml_not_supported",
            learn_more_url=docs_url("yaml_not_supported"),
        )
    return True


def _account(hass: HomeAssistant, entry: ConfigEntry) -> O365Account:
    """Return the entry's account, created (with its outbox) on first setup."""
    accounts = async_get_accounts(hass)
    if (account := accounts.get(entry.entry_id)) is None:
        root = Path(hass.config.path(".storage", OUTBOX_FOLDER, entry.entry_id))
        account = O365Account(hass, entry, Outbox(root))
        accounts[entry.entry_id] = account
    account.entry = entry
    return account


async def async_setup_entry(hass: HomeAssistant, entry: O365ConfigEntry) -> bool:
    """Sign in as the app and make the mailbox ready to send.

    The account accepts messages from the start: until it is connected they
    wait in its outbox (setup retrying, or a refused secret awaiting reauth).
    """
    account = _account(hass, entry)
    account.connection = None
    account.auth_failed = False
    if not account.outbox.loaded:
        await hass.async_add_executor_job(account.outbox.load)
    await async_register_notify_service(hass)

    connection = await async_connect(hass, entry.data)
    try:
        token = await connection.tokens.async_get_token()
    except O365Error as err:
        if isinstance(err, InvalidClientSecretError):
            account.auth_failed = True
            async_raise_secret_issue(
                hass, entry, expired=isinstance(err, ClientSecretExpiredError)
            )
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
    ir.async_delete_issue(hass, DOMAIN, f"secret_{entry.entry_id}")
    if MAIL_SEND_ROLE not in token.roles:
        # Fine with Exchange RBAC for Applications; if nothing grants it,
        # the first send gets ErrorAccessDenied and raises a repair issue.
        LOGGER.info(
            "The token for %s has no Mail.Send role: sending relies on "
            "Exchange RBAC for Applications",
            entry.data[CONF_SOURCE],
        )

    account.connection = connection
    entry.runtime_data = account
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_create_background_task(
        hass, account.async_run_outbox(), f"{DOMAIN} outbox {entry.data[CONF_SOURCE]}"
    )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: O365ConfigEntry) -> bool:
    """Disconnect the account; notify.o365 goes with the last one."""
    if not await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        return False
    entry.runtime_data.connection = None
    if not any(
        other.state in ACCEPTING_STATES
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id and other.disabled_by is None
    ):
        await async_unregister_notify_service(hass)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Forget a removed account, its outbox and its repair issues."""
    account = async_get_accounts(hass).pop(entry.entry_id, None)
    async_clear_all_issues(hass, entry)
    if account is not None and len(account.outbox):
        LOGGER.warning(
            "Discarding %d queued messages of removed account %s",
            len(account.outbox),
            entry.data[CONF_SOURCE],
        )
    root = Path(hass.config.path(".storage", OUTBOX_FOLDER, entry.entry_id))
    await hass.async_add_executor_job(Outbox(root).destroy)
    if not async_get_accounts(hass):
        await async_unregister_notify_service(hass)
