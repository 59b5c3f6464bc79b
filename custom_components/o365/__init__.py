"""Send email alerts from Microsoft 365 or Outlook.com mailboxes through Microsoft Graph."""

from __future__ import annotations

from functools import partial
import mimetypes
from pathlib import Path

from homeassistant.const import Platform
from homeassistant.core import HomeAssistant, callback
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
from .const import (
    CONF_SOURCE,
    CONF_TOKEN_CACHE,
    DOMAIN,
    LOGGER,
    MAIL_SEND_ROLE,
    docs_url,
)
from .errors import error_key, error_placeholders
from .expiry import CredentialExpiry
from .graph import CredentialRefusedError, O365Error
from .issues import (
    async_clear_all_issues,
    async_clear_credential_issue,
    async_raise_account_issue,
)
from .keepalive import async_keep_signed_in
from .models import O365ConfigEntry, O365RuntimeData
from .notify import (
    DATA_HASS_CONFIG,
    async_register_notify_service,
    async_unregister_notify_service,
)
from .outbox import Outbox
from .services import async_setup_services

PLATFORMS = [Platform.BUTTON, Platform.NOTIFY, Platform.SENSOR]

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


def _outbox_root(hass: HomeAssistant, entry: O365ConfigEntry) -> Path:
    return Path(hass.config.path(".storage", OUTBOX_FOLDER, entry.entry_id))


def _account(hass: HomeAssistant, entry: O365ConfigEntry) -> O365Account:
    """Return the entry's account, created (with its outbox) on first setup."""
    accounts = async_get_accounts(hass)
    if (account := accounts.get(entry.entry_id)) is None:
        account = O365Account(hass, entry, Outbox(_outbox_root(hass, entry)))
        accounts[entry.entry_id] = account
    account.entry = entry
    return account


@callback
def _save_token_cache(hass: HomeAssistant, entry: O365ConfigEntry, cache: str) -> None:
    """Persist a signed-in account's token cache after MSAL rotated it."""
    if entry.data.get(CONF_TOKEN_CACHE) != cache:
        hass.config_entries.async_update_entry(
            entry, data={**entry.data, CONF_TOKEN_CACHE: cache}
        )


async def async_setup_entry(hass: HomeAssistant, entry: O365ConfigEntry) -> bool:
    """Get a token and make the mailbox ready to send.

    The account accepts messages from the start: until it is connected they
    wait in its outbox (setup retrying, or a refused credential awaiting
    reauth), unless its backup account sends them.
    """
    account = _account(hass, entry)
    account.connection = None
    account.auth_failed = False
    if not account.outbox.loaded:
        await hass.async_add_executor_job(account.outbox.load)
    await async_register_notify_service(hass)

    tenant_key = (entry.unique_id or "").partition(":")[0] or None
    try:
        connection = await async_connect(
            hass,
            entry.data,
            tenant_key=tenant_key,
            on_cache_changed=partial(_save_token_cache, hass, entry),
        )
        token = await connection.tokens.async_get_token()
    except O365Error as err:
        error_type: type[HomeAssistantError] = ConfigEntryError
        if isinstance(err, CredentialRefusedError):
            account.auth_failed = True
            async_raise_account_issue(hass, entry, err)
            error_type = ConfigEntryAuthFailed
        elif err.transient:
            error_type = ConfigEntryNotReady
        raise error_type(
            translation_domain=DOMAIN,
            translation_key=error_key(err),
            translation_placeholders=error_placeholders(err, entry.data[CONF_SOURCE]),
        ) from err
    async_clear_credential_issue(hass, entry)
    if token.permissions is None:
        LOGGER.info(
            "The token for %s cannot be read (it may be encrypted); the first "
            "message sent proves the permission to send",
            entry.data[CONF_SOURCE],
        )
    elif MAIL_SEND_ROLE not in token.permissions:
        # Fine with Exchange RBAC for Applications; if nothing grants it,
        # the first send gets ErrorAccessDenied and raises a repair issue.
        LOGGER.info(
            "The token for %s does not show Mail.Send: sending relies on "
            "Exchange RBAC for Applications",
            entry.data[CONF_SOURCE],
        )

    account.connection = connection
    expiry = CredentialExpiry(hass, entry, connection)
    entry.runtime_data = O365RuntimeData(account, expiry)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(expiry.async_start())
    entry.async_on_unload(async_keep_signed_in(hass, account, connection))
    entry.async_create_background_task(
        hass, account.async_run_outbox(), f"{DOMAIN} outbox {entry.data[CONF_SOURCE]}"
    )
    return True


async def async_unload_entry(hass: HomeAssistant, entry: O365ConfigEntry) -> bool:
    """Disconnect the account; notify.o365 goes with the last one."""
    if not await hass.config_entries.async_unload_platforms(entry, PLATFORMS):
        return False
    entry.runtime_data.account.connection = None
    if not any(
        other.state in ACCEPTING_STATES
        for other in hass.config_entries.async_entries(DOMAIN)
        if other.entry_id != entry.entry_id and other.disabled_by is None
    ):
        await async_unregister_notify_service(hass)
    return True


async def async_remove_entry(hass: HomeAssistant, entry: O365ConfigEntry) -> None:
    """Forget a removed account, its outbox and its repair issues."""
    account = async_get_accounts(hass).pop(entry.entry_id, None)
    async_clear_all_issues(hass, entry)
    if account is not None and len(account.outbox):
        LOGGER.warning(
            "Discarding %d queued messages of removed account %s",
            len(account.outbox),
            entry.data[CONF_SOURCE],
        )
    await hass.async_add_executor_job(Outbox(_outbox_root(hass, entry)).destroy)
    if not async_get_accounts(hass):
        await async_unregister_notify_service(hass)
