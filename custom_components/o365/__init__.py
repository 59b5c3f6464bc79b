"""Send email alerts from Microsoft 365 or Outlook.com mailboxes through Microsoft Graph.

Where an alert goes, file by file: an action (:mod:`.notify`, :mod:`.button`)
validates its data (:mod:`.request`) and calls the one send path
(:mod:`.send`), which composes the message (:mod:`.compose`), asks the
sending budget (:mod:`.budget`) and either holds it for a digest
(:mod:`.digest`) or hands it to the sender (:mod:`.sender`): sent through
Microsoft Graph (:mod:`.graph`), through the backup account, or stored in
the outbox (:mod:`.outbox`) that :mod:`.outbox_worker` delivers later.
"""

from __future__ import annotations

from functools import partial
import mimetypes
from typing import Any

from homeassistant.config_entries import (
    SIGNAL_CONFIG_ENTRY_CHANGED,
    ConfigEntry,
    ConfigEntryChange,
)
from homeassistant.const import EVENT_HOMEASSISTANT_STOP, Platform
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.exceptions import (
    ConfigEntryAuthFailed,
    ConfigEntryError,
    ConfigEntryNotReady,
    HomeAssistantError,
)
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.dispatcher import async_dispatcher_connect
from homeassistant.helpers.typing import ConfigType
import voluptuous as vol

from .account import (
    ACCEPTING_STATES,
    O365Account,
    O365ConfigEntry,
    async_accounts,
    async_create_account,
    outbox_path,
)
from .budget import RecipientBudget
from .connection import async_connect
from .const import (
    CONF_SECRET_EXPIRES,
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
from .notify import (
    DATA_HASS_CONFIG,
    async_register_notify_service,
    async_unregister_notify_service,
)
from .options import AccountOptions
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
    reauth), unless its backup account sends them. Its runtime data outlives
    a failed setup (Home Assistant removes it only on unload), so what a
    retry finds is what was accepted meanwhile.
    """
    account: O365Account | None = getattr(entry, "runtime_data", None)
    if account is None:
        account = entry.runtime_data = await async_create_account(hass, entry)
    else:
        _async_apply_options(account)
    account.connection = None
    account.auth_failed = False
    entry.async_on_unload(account.async_stop)
    await async_register_notify_service(hass)

    tenant_key = (entry.unique_id or "").partition(":")[0] or None
    try:
        connection = await async_connect(
            hass,
            entry.data,
            tenant_key=tenant_key,
            from_mailbox=account.options.from_mailbox,
            on_cache_changed=lambda cache: _save_token_cache(hass, entry, cache),
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
    elif not account.options.signed_in and MAIL_SEND_ROLE not in token.permissions:
        # Fine with Exchange RBAC for Applications; if nothing grants it,
        # the first send gets ErrorAccessDenied and raises a repair issue.
        LOGGER.info(
            "The token for %s does not show Mail.Send: sending relies on "
            "Exchange RBAC for Applications",
            entry.data[CONF_SOURCE],
        )

    account.connection = connection
    account.expiry = CredentialExpiry(hass, entry, connection)
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    entry.async_on_unload(account.expiry.async_start())
    # Home Assistant's signal for entry changes, not an update listener:
    # Home Assistant 2026.10 takes an update listener for one that reloads,
    # and warns when a reauth or reconfigure flow reloads an entry with one.
    entry.async_on_unload(
        async_dispatcher_connect(
            hass, SIGNAL_CONFIG_ENTRY_CHANGED, partial(_async_entry_changed, entry)
        )
    )
    cancel_keep_alive = async_keep_signed_in(hass, account, connection)

    @callback
    def stop(_: Event | None = None) -> None:
        """Stop every timer: the entry unloads, or Home Assistant stops."""
        account.async_stop()
        cancel_keep_alive()

    entry.async_on_unload(stop)
    entry.async_on_unload(hass.bus.async_listen(EVENT_HOMEASSISTANT_STOP, stop))
    account.worker.async_start()
    account.digests.async_start()
    return True


@callback
def _async_apply_options(account: O365Account) -> None:
    """Read the entry's options again (they are read once into a frozen object)."""
    account.options = AccountOptions.from_entry(account.entry)
    account.budget.limit = account.options.daily_recipient_limit


@callback
def _async_entry_changed(
    entry: O365ConfigEntry, change: ConfigEntryChange, changed: ConfigEntry[Any]
) -> None:
    """Apply new options at once; a new shared mailbox needs new tokens: reload.

    Data changes (a rotated token cache) need nothing; a reauth or reconfigure
    reloads the entry itself.
    """
    if change is not ConfigEntryChange.UPDATED or changed is not entry:
        return
    account = entry.runtime_data
    before = account.options
    _async_apply_options(account)
    after = account.options
    if after.from_mailbox != before.from_mailbox:
        account.hass.config_entries.async_schedule_reload(entry.entry_id)
    elif account.expiry is not None and (
        entry.options.get(CONF_SECRET_EXPIRES) != account.expiry.entered
    ):
        # It may ask Graph (with retries): never hold up the entry's update.
        entry.async_create_background_task(
            account.hass,
            account.expiry.async_options_changed(),
            f"{DOMAIN} expiry date",
        )


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


async def async_remove_entry(hass: HomeAssistant, entry: O365ConfigEntry) -> None:
    """Forget a removed account: its outbox, its sending count, its repair issues."""
    if (account := getattr(entry, "runtime_data", None)) is not None:
        account.async_stop()
    async_clear_all_issues(hass, entry)
    outbox = Outbox(outbox_path(hass, entry.entry_id))
    await hass.async_add_executor_job(outbox.load)
    if len(outbox):
        LOGGER.warning(
            "Discarding %d queued messages of removed account %s",
            len(outbox),
            entry.data[CONF_SOURCE],
        )
    await hass.async_add_executor_job(outbox.destroy)
    await RecipientBudget(hass, entry, 0).async_remove()
    if not async_accounts(hass):
        await async_unregister_notify_service(hass)
