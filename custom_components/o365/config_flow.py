"""Config flow: sign in, app credentials or an Apprise URL, proven before an entry exists.

Two kinds of account, one entry format:

- a signed-in account (``sign_in``): a person signs in once with the device
  code shown in a progress step; the entry keeps MSAL's token cache;
- an app-only account (``credentials``, ``apprise``): an app registration's
  client secret or certificate.

The steps only ask and show; :mod:`.credentials` proves what was entered.
Every error lands on the field it is about, with a translated text that
says what to change in the Azure portal (and, for an answer we do not know,
Microsoft's own code and description).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    DateSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .account import O365ConfigEntry
from .apprise import parse_apprise_url
from .const import (
    AUTH_APP,
    CONF_AUTH_TYPE,
    CONF_BACKUP_ACCOUNT,
    CONF_CERTIFICATE,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_DAILY_RECIPIENT_LIMIT,
    CONF_DEFAULT_RECIPIENTS,
    CONF_FROM_MAILBOX,
    CONF_LARGE_ATTACHMENTS,
    CONF_MAX_MESSAGE_SIZE_MB,
    CONF_OUTBOX_MAX_AGE_HOURS,
    CONF_QUEUE_ON_FAILURE,
    CONF_SAVE_TO_SENT_ITEMS,
    CONF_SECRET_EXPIRES,
    CONF_SEND_TEST_EMAIL,
    CONF_SOURCE,
    CONF_TENANT_ID,
    CONF_TOKEN_CACHE,
    CONF_URL,
    CONSUMERS,
    DEFAULT_MAX_MESSAGE_SIZE_MB,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_QUEUE_ON_FAILURE,
    DEFAULT_SAVE_TO_SENT_ITEMS,
    DOMAIN,
    LOGGER,
    MAX_DAILY_RECIPIENTS,
    MAX_MESSAGE_SIZE_MB,
    MAX_OUTBOX_MAX_AGE_HOURS,
    with_help,
)
from .credentials import (
    FormError,
    async_prove_app,
    async_redeem_apprise,
    async_signed_in_address,
    async_start_sign_in,
    check_app_formats,
    check_credential,
    check_sign_in_formats,
    clean_app,
    clean_sign_in,
    text,
)
from .errors import error_code
from .graph import (
    Cloud,
    DeviceCode,
    EmailAddress,
    O365Error,
    SignInResult,
)
from .graph.message import is_email_address, is_object_id
from .options import AccountOptions, is_personal, is_signed_in

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
_PEM = TextSelector(TextSelectorConfig(multiline=True))
_CLOUD = SelectSelector(
    SelectSelectorConfig(
        options=[cloud.value for cloud in Cloud],
        translation_key=CONF_CLOUD,
        mode=SelectSelectorMode.DROPDOWN,
    )
)

CREDENTIALS_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SOURCE): TextSelector(),
        vol.Required(CONF_TENANT_ID): TextSelector(),
        vol.Required(CONF_CLIENT_ID): TextSelector(),
        vol.Optional(CONF_CLIENT_SECRET): _PASSWORD,
        vol.Optional(CONF_CERTIFICATE): _PEM,
        vol.Required(CONF_CLOUD, default=Cloud.GLOBAL.value): _CLOUD,
        vol.Optional(CONF_SEND_TEST_EMAIL, default=False): BooleanSelector(),
    }
)
SIGN_IN_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_CLIENT_ID): TextSelector(),
        vol.Required(CONF_TENANT_ID, default=CONSUMERS): TextSelector(),
        vol.Required(CONF_CLOUD, default=Cloud.GLOBAL.value): _CLOUD,
        vol.Optional(CONF_LARGE_ATTACHMENTS, default=False): BooleanSelector(),
    }
)
APPRISE_SCHEMA = vol.Schema({vol.Required(CONF_URL): TextSelector()})
REAUTH_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_CLIENT_SECRET): _PASSWORD,
        vol.Optional(CONF_CERTIFICATE): _PEM,
    }
)
RECONFIGURE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SOURCE): TextSelector(),
        vol.Required(CONF_TENANT_ID): TextSelector(),
        vol.Required(CONF_CLIENT_ID): TextSelector(),
        vol.Optional(CONF_CLIENT_SECRET): _PASSWORD,
        vol.Optional(CONF_CERTIFICATE): _PEM,
        vol.Required(CONF_CLOUD): _CLOUD,
        vol.Optional(CONF_SEND_TEST_EMAIL, default=False): BooleanSelector(),
    }
)


class O365ConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a sending mailbox."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._imported: dict[str, Any] = {}
        #: Default recipients an Apprise URL named.
        self._targets: list[str] = []
        #: The signed-in account's settings while its sign-in runs.
        self._sign_in_data: dict[str, Any] = {}
        self._device_code: DeviceCode | None = None
        self._sign_in_task: asyncio.Task[SignInResult] | None = None
        #: What the form a failed sign-in returns to shows.
        self._failure: FormError | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: O365ConfigEntry) -> O365OptionsFlow:
        """Return the options flow."""
        return O365OptionsFlow()

    @callback
    def async_show_form(
        self,
        *,
        description_placeholders: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> ConfigFlowResult:
        """Show a form whose error texts can link to the README.

        hassfest refuses URLs in strings, so each error's "Help:" link is a
        placeholder, and the frontend fills a form's errors from its
        description placeholders (Microsoft's code and description too).
        """
        return super().async_show_form(
            description_placeholders=with_help(
                {"code": "-", "details": "-", **(description_placeholders or {})}
            ),
            **kwargs,
        )

    @callback
    def _show(
        self,
        step_id: str,
        schema: vol.Schema,
        values: Mapping[str, Any] | None,
        failure: FormError | dict[str, str] | None,
        placeholders: Mapping[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Show a step's form with its values and what went wrong."""
        errors = failure.errors if isinstance(failure, FormError) else failure
        said = failure.placeholders if isinstance(failure, FormError) else {}
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(schema, values or {}),
            errors=errors or {},
            description_placeholders={**(placeholders or {}), **said},
        )

    async def _async_save(
        self,
        unique_id: str,
        data: dict[str, Any],
        *,
        title: str | None = None,
        description: str | None = None,
    ) -> ConfigFlowResult:
        """Create the entry, or update the one being re-authenticated or reconfigured."""
        await self.async_set_unique_id(unique_id)
        if self.source in (SOURCE_REAUTH, SOURCE_RECONFIGURE):
            self._abort_if_unique_id_mismatch(reason="account_mismatch")
            entry = (
                self._get_reauth_entry()
                if self.source == SOURCE_REAUTH
                else self._get_reconfigure_entry()
            )
            if title is None:
                return self.async_update_reload_and_abort(entry, data=data)
            return self.async_update_reload_and_abort(entry, title=title, data=data)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=title or data[CONF_SOURCE],
            data=data,
            options={CONF_DEFAULT_RECIPIENTS: self._targets} if self._targets else {},
            description=description,
        )

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the ways in: sign in (most people), app credentials, Apprise."""
        return self.async_show_menu(
            step_id="user", menu_options=["sign_in", "credentials", "apprise"]
        )

    # -- signed-in accounts ----------------------------------------------------

    async def async_step_sign_in(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the app registration, then show a code to sign in with."""
        return await self._async_sign_in_form("sign_in", user_input, {})

    async def _async_sign_in_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None,
        suggested: Mapping[str, Any],
        placeholders: dict[str, str] | None = None,
    ) -> ConfigFlowResult:
        """Show a signed-in account's settings; on submit, start the sign-in."""
        failure: FormError | dict[str, str] | None = self._failure
        self._failure = None
        if user_input is not None:
            failure = check_sign_in_formats(user_input)
            if not failure:
                self._sign_in_data = clean_sign_in(user_input)
                try:
                    return await self._async_start_sign_in()
                except FormError as err:
                    failure = err
        return self._show(
            step_id,
            SIGN_IN_SCHEMA,
            user_input or self._sign_in_data or suggested,
            failure,
            placeholders,
        )

    async def _async_start_sign_in(self) -> ConfigFlowResult:
        """Get a device code and wait, in a task, for the person to sign in."""
        shared = False
        if self.source in (SOURCE_REAUTH, SOURCE_RECONFIGURE):
            entry = (
                self._get_reauth_entry()
                if self.source == SOURCE_REAUTH
                else self._get_reconfigure_entry()
            )
            shared = bool(entry.options.get(CONF_FROM_MAILBOX))
        sign_in, self._device_code = await async_start_sign_in(
            self.hass, self._sign_in_data, shared_mailbox=shared
        )
        self._sign_in_task = self.hass.async_create_task(
            sign_in.async_wait(), f"{DOMAIN} sign-in"
        )
        return await self.async_step_sign_in_code()

    async def async_step_sign_in_code(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the code and the sign-in address until the person has signed in."""
        task = self._sign_in_task
        code = self._device_code
        assert task is not None
        assert code is not None
        if not task.done():
            return self.async_show_progress(
                step_id="sign_in_code",
                progress_action="sign_in",
                description_placeholders={
                    "url": code.verification_uri,
                    "code": code.user_code,
                    # Entra's default is 15 minutes, not always: say what it sent.
                    "minutes": str(max(1, round(code.expires_in / 60))),
                },
                progress_task=task,
            )
        try:
            task.result()
        except O365Error as err:
            LOGGER.debug("The sign-in failed: %s", error_code(err))
            self._failure = FormError.from_error(
                err, tenant=self._sign_in_data[CONF_TENANT_ID]
            )
            return self.async_show_progress_done(next_step_id=self._sign_in_form())
        return self.async_show_progress_done(next_step_id="sign_in_finish")

    def _sign_in_form(self) -> str:
        """Return the step a failed sign-in goes back to."""
        if self.source == SOURCE_REAUTH:
            return "reauth_sign_in"
        if self.source == SOURCE_RECONFIGURE:
            return "reconfigure_sign_in"
        return "sign_in"

    async def async_step_sign_in_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Read the signed-in mailbox and create (or update) the entry."""
        assert self._sign_in_task is not None
        result = self._sign_in_task.result()
        try:
            address = await async_signed_in_address(
                self.hass, result, self._sign_in_data
            )
        except O365Error as err:
            self._failure = FormError.from_error(err)
            if self.source == SOURCE_REAUTH:
                return await self.async_step_reauth_sign_in()
            if self.source == SOURCE_RECONFIGURE:
                return await self.async_step_reconfigure_sign_in()
            return await self.async_step_sign_in()
        return await self._async_save_sign_in(result, address)

    async def _async_save_sign_in(
        self, result: SignInResult, address: str
    ) -> ConfigFlowResult:
        data = {
            **self._sign_in_data,
            CONF_SOURCE: address,
            CONF_TOKEN_CACHE: result.cache,
        }
        tenant = result.token.tenant_id or data[CONF_TENANT_ID]
        return await self._async_save(
            f"{tenant}:{address}".lower(), data, title=address
        )

    @callback
    def async_remove(self) -> None:
        """Stop polling for a sign-in nobody will finish."""
        if self._sign_in_task is not None and not self._sign_in_task.done():
            self._sign_in_task.cancel()

    # -- app-only accounts ------------------------------------------------------

    async def async_step_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the mailbox and the app registration, then prove them."""
        failure: FormError | dict[str, str] | None = None
        if user_input is not None:
            failure = check_app_formats(user_input)
            if not failure:
                data = clean_app(user_input)
                try:
                    proof = await async_prove_app(
                        self.hass,
                        data,
                        test_email=bool(user_input.get(CONF_SEND_TEST_EMAIL)),
                    )
                except FormError as err:
                    failure = err
                else:
                    return await self._async_save(
                        proof.unique_id,
                        {CONF_AUTH_TYPE: AUTH_APP, **data},
                        description=None if proof.verified else "permission_unverified",
                    )
        return self._show(
            "credentials", CREDENTIALS_SCHEMA, user_input or self._imported, failure
        )

    async def async_step_apprise(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Import an Apprise URL: app credentials, or a personal account's sign-in."""
        failure: FormError | dict[str, str] | None = None
        if user_input is not None:
            try:
                apprise = parse_apprise_url(text(user_input.get(CONF_URL)))
                targets = [str(EmailAddress.parse(t)) for t in apprise.targets]
                if apprise.mode == "personal" and not (
                    is_object_id(apprise.client_id) and is_email_address(apprise.source)
                ):
                    raise ValueError("Not a personal-mode URL")  # noqa: TRY301
            except ValueError:
                failure = {CONF_URL: "invalid_apprise_url"}
            else:
                self._targets = targets
                if apprise.mode == "org":
                    self._imported = {
                        CONF_SOURCE: apprise.source,
                        CONF_TENANT_ID: apprise.tenant_id,
                        CONF_CLIENT_ID: apprise.client_id,
                        CONF_CLIENT_SECRET: apprise.secret,
                        CONF_CLOUD: Cloud.GLOBAL.value,
                    }
                    return await self.async_step_credentials(dict(self._imported))
                try:
                    result, address = await async_redeem_apprise(self.hass, apprise)
                except FormError as err:
                    failure = FormError(err.key, CONF_URL, err.placeholders)
                else:
                    self._sign_in_data = clean_sign_in(
                        {CONF_CLIENT_ID: apprise.client_id, CONF_TENANT_ID: CONSUMERS}
                    )
                    return await self._async_save_sign_in(result, address)
        return self._show("apprise", APPRISE_SCHEMA, user_input, failure)

    # -- reauth and reconfigure ---------------------------------------------------

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Microsoft refused the stored credential: ask for a new one, or sign in again."""
        if is_signed_in(entry_data):
            return await self.async_step_reauth_sign_in()
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_sign_in(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Repeat the sign-in of a signed-in account (the same account)."""
        entry = self._get_reauth_entry()
        failure = self._failure
        self._failure = None
        if user_input is not None:
            self._sign_in_data = {
                k: v
                for k, v in entry.data.items()
                if k not in (CONF_SOURCE, CONF_TOKEN_CACHE)
            }
            try:
                return await self._async_start_sign_in()
            except FormError as err:
                failure = err
        return self._show(
            "reauth_sign_in",
            vol.Schema({}),
            None,
            failure,
            {"mailbox": entry.data[CONF_SOURCE]},
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take a new secret or certificate of an app-only account and prove it."""
        entry = self._get_reauth_entry()
        failure: FormError | dict[str, str] | None = None
        if user_input is not None:
            merged = {
                **entry.data,
                CONF_CLIENT_SECRET: user_input.get(CONF_CLIENT_SECRET),
                CONF_CERTIFICATE: user_input.get(CONF_CERTIFICATE),
            }
            failure = check_credential(merged)
            if not failure:
                data = clean_app(merged)
                try:
                    # Only the credential changes: the permission was proven
                    # at setup (and with RBAC for Applications it is not in
                    # the token).
                    proof = await async_prove_app(
                        self.hass, data, test_email=False, require_role=False
                    )
                except FormError as err:
                    failure = err
                else:
                    return await self._async_save(
                        proof.unique_id, {CONF_AUTH_TYPE: AUTH_APP, **data}
                    )
        return self._show(
            "reauth_confirm",
            REAUTH_SCHEMA,
            None,
            failure,
            {
                "mailbox": entry.data[CONF_SOURCE],
                "client_id": entry.data[CONF_CLIENT_ID],
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the app registration or cloud of the same tenant and mailbox."""
        entry = self._get_reconfigure_entry()
        if is_signed_in(entry.data):
            return await self.async_step_reconfigure_sign_in(user_input)
        failure: FormError | dict[str, str] | None = None
        if user_input is not None:
            merged = dict(user_input)
            if not merged.get(CONF_CLIENT_SECRET) and not merged.get(CONF_CERTIFICATE):
                # Blank keeps the current credential.
                for key in (CONF_CLIENT_SECRET, CONF_CERTIFICATE):
                    if entry.data.get(key):
                        merged[key] = entry.data[key]
            failure = check_app_formats(merged)
            if not failure:
                data = clean_app(merged)
                try:
                    proof = await async_prove_app(
                        self.hass,
                        data,
                        test_email=bool(user_input.get(CONF_SEND_TEST_EMAIL)),
                    )
                except FormError as err:
                    failure = err
                else:
                    return await self._async_save(
                        proof.unique_id,
                        {CONF_AUTH_TYPE: AUTH_APP, **data},
                        title=data[CONF_SOURCE],
                    )
        suggested = {
            k: v
            for k, v in entry.data.items()
            if k not in (CONF_CLIENT_SECRET, CONF_CERTIFICATE)
        }
        return self._show(
            "reconfigure",
            RECONFIGURE_SCHEMA,
            {**suggested, **(user_input or {})},
            failure,
        )

    async def async_step_reconfigure_sign_in(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change a signed-in account's app or cloud: it signs in again."""
        entry = self._get_reconfigure_entry()
        return await self._async_sign_in_form(
            "reconfigure_sign_in",
            user_input,
            entry.data,
            {"mailbox": entry.data[CONF_SOURCE]},
        )


def _whole_number(maximum: int, unit: str) -> NumberSelector:
    """Return a box for a whole number from 1 to ``maximum``."""
    return NumberSelector(
        NumberSelectorConfig(
            min=1,
            max=maximum,
            step=1,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement=unit,
        )
    )


NO_BACKUP = "none"


class O365OptionsFlow(OptionsFlow):
    """Default recipients, the backup account, the budget and how sends behave."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and store the options."""
        errors: dict[str, str] = {}
        backups = self._backup_choices()
        if user_input is not None:
            options, errors = self._validate(user_input, backups)
            if not errors:
                return self.async_create_entry(data=options)
        current = AccountOptions.from_entry(self.config_entry)
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                self._schema(backups),
                user_input
                or {
                    CONF_DAILY_RECIPIENT_LIMIT: current.daily_recipient_limit,
                    **self.config_entry.options,
                },
            ),
            errors=errors,
        )

    def _backup_choices(self) -> list[str]:
        """Return the mailboxes that may back this one up (no loops)."""
        me = self.config_entry
        mine = str(me.data[CONF_SOURCE]).casefold()
        choices = []
        for entry in self.hass.config_entries.async_entries(DOMAIN):
            if entry.entry_id == me.entry_id:
                continue
            mailbox = str(entry.data.get(CONF_SOURCE) or "")
            backup_of_it = str(entry.options.get(CONF_BACKUP_ACCOUNT) or "").casefold()
            if mailbox and backup_of_it != mine and mailbox.casefold() != mine:
                choices.append(mailbox)
        return sorted(set(choices), key=str.casefold)

    def _schema(self, backups: list[str]) -> vol.Schema:
        entry = self.config_entry
        fields: dict[Any, Any] = {
            # Plain text, not an email field: "Night Desk <desk@example.com>"
            # is a valid recipient too.
            vol.Optional(CONF_DEFAULT_RECIPIENTS): TextSelector(
                TextSelectorConfig(multiple=True)
            ),
            vol.Optional(CONF_BACKUP_ACCOUNT, default=NO_BACKUP): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=NO_BACKUP, label="No backup account"),
                        *(SelectOptionDict(value=b, label=b) for b in backups),
                    ],
                    mode=SelectSelectorMode.DROPDOWN,
                    # Translates "none"; a mailbox shows as itself.
                    translation_key=CONF_BACKUP_ACCOUNT,
                )
            ),
            vol.Optional(
                CONF_SAVE_TO_SENT_ITEMS, default=DEFAULT_SAVE_TO_SENT_ITEMS
            ): BooleanSelector(),
            vol.Optional(
                CONF_QUEUE_ON_FAILURE, default=DEFAULT_QUEUE_ON_FAILURE
            ): BooleanSelector(),
            vol.Optional(CONF_DAILY_RECIPIENT_LIMIT): _whole_number(
                MAX_DAILY_RECIPIENTS, "recipients"
            ),
            vol.Optional(
                CONF_OUTBOX_MAX_AGE_HOURS, default=DEFAULT_OUTBOX_MAX_AGE_HOURS
            ): _whole_number(MAX_OUTBOX_MAX_AGE_HOURS, "h"),
            vol.Optional(
                CONF_MAX_MESSAGE_SIZE_MB, default=DEFAULT_MAX_MESSAGE_SIZE_MB
            ): _whole_number(MAX_MESSAGE_SIZE_MB, "MB"),
        }
        data = entry.data
        if is_signed_in(data) and not is_personal(entry):
            # Personal accounts have no shared mailboxes.
            fields[vol.Optional(CONF_FROM_MAILBOX)] = TextSelector()
        if not is_signed_in(data) and not data.get(CONF_CERTIFICATE):
            fields[vol.Optional(CONF_SECRET_EXPIRES)] = DateSelector()
        return vol.Schema(fields)

    def _validate(
        self, user_input: Mapping[str, Any], backups: list[str]
    ) -> tuple[dict[str, Any], dict[str, str]]:
        errors: dict[str, str] = {}
        options = dict(user_input)
        recipients: list[str] = []
        for value in user_input.get(CONF_DEFAULT_RECIPIENTS) or []:
            try:
                recipients.append(str(EmailAddress.parse(value)))
            except ValueError:
                errors[CONF_DEFAULT_RECIPIENTS] = "invalid_recipient"
        options[CONF_DEFAULT_RECIPIENTS] = recipients
        backup = options.pop(CONF_BACKUP_ACCOUNT, NO_BACKUP) or NO_BACKUP
        if backup != NO_BACKUP:
            if backup not in backups:
                errors[CONF_BACKUP_ACCOUNT] = "backup_loop"
            else:
                options[CONF_BACKUP_ACCOUNT] = backup
        for key, default in (
            (CONF_MAX_MESSAGE_SIZE_MB, DEFAULT_MAX_MESSAGE_SIZE_MB),
            (CONF_OUTBOX_MAX_AGE_HOURS, DEFAULT_OUTBOX_MAX_AGE_HOURS),
        ):
            options[key] = int(options.get(key, default))
        if limit := options.get(CONF_DAILY_RECIPIENT_LIMIT):
            options[CONF_DAILY_RECIPIENT_LIMIT] = int(limit)
        else:
            options.pop(CONF_DAILY_RECIPIENT_LIMIT, None)
        if shared := text(options.get(CONF_FROM_MAILBOX)):
            if is_email_address(shared):
                options[CONF_FROM_MAILBOX] = shared
            else:
                errors[CONF_FROM_MAILBOX] = "invalid_from_mailbox"
        else:
            options.pop(CONF_FROM_MAILBOX, None)
        if not options.get(CONF_SECRET_EXPIRES):
            options.pop(CONF_SECRET_EXPIRES, None)
        return options, errors
