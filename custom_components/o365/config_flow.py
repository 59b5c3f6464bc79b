"""Config flow: credentials or an Apprise URL, proven before an entry exists."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Any

from homeassistant.config_entries import (
    ConfigEntry,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers.selector import (
    BooleanSelector,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
    TextSelectorType,
)
import voluptuous as vol

from .connection import async_connect
from .const import (
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_DEFAULT_RECIPIENTS,
    CONF_MAX_MESSAGE_SIZE_MB,
    CONF_OUTBOX_MAX_AGE_HOURS,
    CONF_QUEUE_ON_FAILURE,
    CONF_SAVE_TO_SENT_ITEMS,
    CONF_SEND_TEST_EMAIL,
    CONF_SOURCE,
    CONF_TENANT_ID,
    CONF_URL,
    DEFAULT_MAX_MESSAGE_SIZE_MB,
    DEFAULT_OUTBOX_MAX_AGE_HOURS,
    DEFAULT_QUEUE_ON_FAILURE,
    DEFAULT_SAVE_TO_SENT_ITEMS,
    DOMAIN,
    LOGGER,
    MAIL_SEND_ROLE,
    MAX_MESSAGE_SIZE_MB,
    MAX_OUTBOX_MAX_AGE_HOURS,
)
from .errors import error_key
from .graph import (
    Cloud,
    EmailAddress,
    GraphClient,
    GraphError,
    Message,
    MissingRoleError,
    O365Error,
)
from .graph.message import is_email_address, is_object_id

_DOMAIN_RE = re.compile(
    r"^(?=.{4,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)

#: The form field each error belongs to; the rest show at the top of the form.
_ERROR_FIELDS = {
    "invalid_tenant": CONF_TENANT_ID,
    "invalid_client_id": CONF_CLIENT_ID,
    "invalid_client_secret": CONF_CLIENT_SECRET,
    "secret_expired": CONF_CLIENT_SECRET,
    "secret_is_id": CONF_CLIENT_SECRET,
    "mailbox_not_found": CONF_SOURCE,
    "send_as_denied": CONF_SOURCE,
    "mailbox_not_rest_enabled": CONF_SOURCE,
}
#: Keys the form knows; any other error shows as ``unknown``.
_FORM_ERRORS = {*_ERROR_FIELDS, "missing_mail_send", "cannot_connect"}

_PASSWORD = TextSelector(TextSelectorConfig(type=TextSelectorType.PASSWORD))
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
        vol.Required(CONF_CLIENT_SECRET): _PASSWORD,
        vol.Required(CONF_CLOUD, default=Cloud.GLOBAL.value): _CLOUD,
        vol.Optional(CONF_SEND_TEST_EMAIL, default=False): BooleanSelector(),
    }
)
APPRISE_SCHEMA = vol.Schema({vol.Required(CONF_URL): TextSelector()})
REAUTH_SCHEMA = vol.Schema({vol.Required(CONF_CLIENT_SECRET): _PASSWORD})
RECONFIGURE_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SOURCE): TextSelector(),
        vol.Required(CONF_TENANT_ID): TextSelector(),
        vol.Required(CONF_CLIENT_ID): TextSelector(),
        vol.Optional(CONF_CLIENT_SECRET): _PASSWORD,
        vol.Required(CONF_CLOUD): _CLOUD,
        vol.Optional(CONF_SEND_TEST_EMAIL, default=False): BooleanSelector(),
    }
)


def check_formats(data: Mapping[str, Any]) -> dict[str, str]:
    """Check the fields' shapes before any network call; return form errors."""
    errors: dict[str, str] = {}
    source = data[CONF_SOURCE]
    if not (is_email_address(source) or is_object_id(source)):
        errors[CONF_SOURCE] = "mailbox_not_found"
    tenant = data[CONF_TENANT_ID]
    if not (is_object_id(tenant) or _DOMAIN_RE.match(tenant)):
        errors[CONF_TENANT_ID] = "invalid_tenant"
    if not is_object_id(data[CONF_CLIENT_ID]):
        errors[CONF_CLIENT_ID] = "invalid_client_id"
    secret = data[CONF_CLIENT_SECRET]
    if not secret:
        errors[CONF_CLIENT_SECRET] = "invalid_client_secret"
    elif is_object_id(secret.strip()):
        errors[CONF_CLIENT_SECRET] = "secret_is_id"
    return errors


def _clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return the entry data: identifiers trimmed, the secret exactly as typed."""
    return {
        CONF_SOURCE: str(user_input[CONF_SOURCE]).strip(),
        CONF_TENANT_ID: str(user_input[CONF_TENANT_ID]).strip(),
        CONF_CLIENT_ID: str(user_input[CONF_CLIENT_ID]).strip(),
        CONF_CLIENT_SECRET: str(user_input[CONF_CLIENT_SECRET]),
        CONF_CLOUD: user_input.get(CONF_CLOUD, Cloud.GLOBAL.value),
    }


def _form_errors(key: str) -> dict[str, str]:
    if key not in _FORM_ERRORS:
        key = "unknown"
    return {_ERROR_FIELDS.get(key, "base"): key}


@dataclass(frozen=True, slots=True)
class _Proof:
    """What proving the credentials established."""

    unique_id: str


class O365ConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a sending mailbox."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing imported."""
        self._imported: dict[str, Any] = {}
        self._targets: list[str] = []

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> O365OptionsFlow:
        """Return the options flow."""
        return O365OptionsFlow()

    async def async_step_user(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Offer the two ways in: credentials or an Apprise URL."""
        return self.async_show_menu(
            step_id="user", menu_options=["credentials", "apprise"]
        )

    async def async_step_credentials(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask for the mailbox and the app registration, then prove them."""
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean(user_input)
            errors = check_formats(data)
            if not errors:
                proof, errors = await self._async_prove(
                    data, test_email=bool(user_input.get(CONF_SEND_TEST_EMAIL))
                )
                if proof is not None:
                    await self.async_set_unique_id(proof.unique_id)
                    self._abort_if_unique_id_configured()
                    options = (
                        {CONF_DEFAULT_RECIPIENTS: self._targets}
                        if self._targets
                        else {}
                    )
                    return self.async_create_entry(
                        title=data[CONF_SOURCE], data=data, options=options
                    )
        return self.async_show_form(
            step_id="credentials",
            data_schema=self.add_suggested_values_to_schema(
                CREDENTIALS_SCHEMA, user_input or self._imported
            ),
            errors=errors,
        )

    async def async_step_apprise(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Import an Apprise URL, then prove it like the credentials form."""
        errors: dict[str, str] = {}
        if user_input is not None:
            # Imported lazily: only this step needs the parser.
            from .apprise import parse_apprise_url  # noqa: PLC0415

            try:
                settings = parse_apprise_url(user_input[CONF_URL])
                targets = [str(EmailAddress.parse(t)) for t in settings.targets]
            except ValueError:
                errors[CONF_URL] = "invalid_apprise_url"
            else:
                self._targets = targets
                self._imported = {
                    CONF_SOURCE: settings.source,
                    CONF_TENANT_ID: settings.tenant_id,
                    CONF_CLIENT_ID: settings.client_id,
                    CONF_CLIENT_SECRET: settings.client_secret,
                    CONF_CLOUD: Cloud.GLOBAL.value,
                }
                return await self.async_step_credentials(dict(self._imported))
        return self.async_show_form(
            step_id="apprise", data_schema=APPRISE_SCHEMA, errors=errors
        )

    async def async_step_reauth(
        self, entry_data: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Microsoft refused the stored secret: ask for a new one."""
        return await self.async_step_reauth_confirm()

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take the new client secret and prove it."""
        entry = self._get_reauth_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = {**entry.data, CONF_CLIENT_SECRET: user_input[CONF_CLIENT_SECRET]}
            errors = {
                k: v for k, v in check_formats(data).items() if k == CONF_CLIENT_SECRET
            }
            if not errors:
                # Only the secret changes: the permission was proven at setup
                # (and with RBAC for Applications it is not in the token).
                proof, errors = await self._async_prove(
                    data, test_email=False, require_role=False
                )
                if proof is not None:
                    await self.async_set_unique_id(proof.unique_id)
                    self._abort_if_unique_id_mismatch(reason="account_mismatch")
                    return self.async_update_reload_and_abort(
                        entry,
                        data_updates={CONF_CLIENT_SECRET: data[CONF_CLIENT_SECRET]},
                    )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            errors=errors,
            description_placeholders={
                "mailbox": entry.data[CONF_SOURCE],
                "client_id": entry.data[CONF_CLIENT_ID],
            },
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the app registration or cloud of the same tenant and mailbox."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            data = _clean(
                {
                    **user_input,
                    CONF_CLIENT_SECRET: user_input.get(CONF_CLIENT_SECRET)
                    or entry.data[CONF_CLIENT_SECRET],
                }
            )
            errors = check_formats(data)
            if not errors:
                proof, errors = await self._async_prove(
                    data, test_email=bool(user_input.get(CONF_SEND_TEST_EMAIL))
                )
                if proof is not None:
                    await self.async_set_unique_id(proof.unique_id)
                    self._abort_if_unique_id_mismatch(reason="account_mismatch")
                    return self.async_update_reload_and_abort(
                        entry, title=data[CONF_SOURCE], data=data
                    )
        suggested = {k: v for k, v in entry.data.items() if k != CONF_CLIENT_SECRET}
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, {**suggested, **(user_input or {})}
            ),
            errors=errors,
        )

    async def _async_prove(
        self, data: Mapping[str, Any], *, test_email: bool, require_role: bool = True
    ) -> tuple[_Proof | None, dict[str, str]]:
        """Get a token, check its Mail.Send role, optionally send a test email."""
        source = data[CONF_SOURCE]
        try:
            connection = await async_connect(self.hass, data)
            token = await connection.tokens.async_get_token()
            # Exchange RBAC for Applications grants Mail.Send outside the
            # token: then only a test email can prove the permission.
            if require_role and MAIL_SEND_ROLE not in token.roles and not test_email:
                return None, _form_errors(error_key(MissingRoleError(MAIL_SEND_ROLE)))
            address: str | None = source
            if is_object_id(source):
                address = await self._async_lookup_address(connection.client, source)
            if test_email:
                if address is None:
                    return None, {"base": "test_email_needs_address"}
                await connection.client.send_mail(source, _test_message(address))
        except O365Error as err:
            LOGGER.debug("Checking the credentials failed: %s", err)
            return None, _form_errors(error_key(err))
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while checking the credentials")
            return None, {"base": "unknown"}
        tenant = token.tenant_id or data[CONF_TENANT_ID]
        return _Proof(unique_id=f"{tenant}:{source}".lower()), {}

    @staticmethod
    async def _async_lookup_address(client: GraphClient, object_id: str) -> str | None:
        """Return the address of a mailbox given by object ID, if readable.

        Reading the directory needs ``User.Read.All``; without it the mailbox
        still works, only its address stays unknown.
        """
        try:
            user = await client.get_user(object_id)
        except GraphError as err:
            if err.code in ("Authorization_RequestDenied", "ErrorAccessDenied"):
                return None
            raise
        address: str | None = user.mail or user.user_principal_name
        return address


def _test_message(address: str) -> Message:
    return Message(
        subject="Home Assistant: o365 test email",
        body=(
            "This test email was sent by the o365 integration of Home Assistant "
            "while it was being set up. The mailbox can send alerts."
        ),
        to=(EmailAddress(address),),
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


class O365OptionsFlow(OptionsFlow):
    """Default recipients and how sends behave."""

    async def async_step_init(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show and store the options."""
        errors: dict[str, str] = {}
        if user_input is not None:
            recipients: list[str] = []
            for value in user_input.get(CONF_DEFAULT_RECIPIENTS) or []:
                try:
                    recipients.append(str(EmailAddress.parse(value)))
                except ValueError:
                    errors[CONF_DEFAULT_RECIPIENTS] = "invalid_recipient"
            if not errors:
                return self.async_create_entry(
                    data={
                        **user_input,
                        CONF_DEFAULT_RECIPIENTS: recipients,
                        CONF_MAX_MESSAGE_SIZE_MB: int(
                            user_input.get(
                                CONF_MAX_MESSAGE_SIZE_MB, DEFAULT_MAX_MESSAGE_SIZE_MB
                            )
                        ),
                        CONF_OUTBOX_MAX_AGE_HOURS: int(
                            user_input.get(
                                CONF_OUTBOX_MAX_AGE_HOURS, DEFAULT_OUTBOX_MAX_AGE_HOURS
                            )
                        ),
                    }
                )
        schema = vol.Schema(
            {
                vol.Optional(CONF_DEFAULT_RECIPIENTS): TextSelector(
                    TextSelectorConfig(type=TextSelectorType.EMAIL, multiple=True)
                ),
                vol.Optional(
                    CONF_SAVE_TO_SENT_ITEMS, default=DEFAULT_SAVE_TO_SENT_ITEMS
                ): BooleanSelector(),
                vol.Optional(
                    CONF_QUEUE_ON_FAILURE, default=DEFAULT_QUEUE_ON_FAILURE
                ): BooleanSelector(),
                vol.Optional(
                    CONF_OUTBOX_MAX_AGE_HOURS, default=DEFAULT_OUTBOX_MAX_AGE_HOURS
                ): _whole_number(MAX_OUTBOX_MAX_AGE_HOURS, "h"),
                vol.Optional(
                    CONF_MAX_MESSAGE_SIZE_MB, default=DEFAULT_MAX_MESSAGE_SIZE_MB
                ): _whole_number(MAX_MESSAGE_SIZE_MB, "MB"),
            }
        )
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                schema, user_input or self.config_entry.options
            ),
            errors=errors,
        )
