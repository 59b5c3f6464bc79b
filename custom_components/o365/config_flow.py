"""Config flow: sign in, app credentials or an Apprise URL, proven before an entry exists.

Two kinds of account, one entry format:

- a signed-in account (``sign_in``): a person signs in once with the device
  code shown in a progress step; the entry keeps MSAL's token cache;
- an app-only account (``credentials``, ``apprise``): an app registration's
  client secret or certificate.

Every error lands on the field it is about, with a translated text that
says what to change in the Azure portal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
import re
from typing import Any

from homeassistant.config_entries import (
    SOURCE_REAUTH,
    SOURCE_RECONFIGURE,
    ConfigFlow,
    ConfigFlowResult,
    OptionsFlow,
)
from homeassistant.core import callback
from homeassistant.helpers.aiohttp_client import async_get_clientsession
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

from .apprise import AppriseSettings, parse_apprise_url
from .connection import (
    async_connect,
    async_endpoints,
    is_signed_in,
    sign_in_permissions,
)
from .const import (
    AUTH_APP,
    AUTH_SIGN_IN,
    CONF_AUTH_TYPE,
    CONF_BACKUP_ACCOUNT,
    CONF_CERTIFICATE,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_DEFAULT_RECIPIENTS,
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
    MAIL_SEND_ROLE,
    MAX_MESSAGE_SIZE_MB,
    MAX_OUTBOX_MAX_AGE_HOURS,
    TEST_EMAIL_SUBJECT,
    with_help,
)
from .errors import error_code, error_key
from .graph import (
    AccessToken,
    AuthenticationError,
    Cloud,
    ConsentRequiredError,
    DeviceCode,
    DeviceCodeSignIn,
    EmailAddress,
    GraphClient,
    GraphError,
    InvalidClientIdError,
    Mailbox,
    Message,
    MissingRoleError,
    O365Error,
    SignInExpiredError,
    SignInResult,
    async_redeem_refresh_token,
)
from .graph.message import is_email_address, is_object_id
from .models import O365ConfigEntry

_DOMAIN_RE = re.compile(
    r"^(?=.{4,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
#: How the sign-in waits between polls (tests make it instant).
SIGN_IN_SLEEP = asyncio.sleep
#: The authorities a signed-in account may use besides a tenant GUID or domain.
_SIGN_IN_AUTHORITIES = (CONSUMERS, "organizations", "common")

#: The form field each error belongs to; the rest show at the top of the form.
_ERROR_FIELDS = {
    "invalid_tenant": CONF_TENANT_ID,
    "invalid_client_id": CONF_CLIENT_ID,
    "invalid_client_id_personal": CONF_CLIENT_ID,
    "app_disabled": CONF_CLIENT_ID,
    "wrong_cloud": CONF_CLOUD,
    "invalid_client_secret": CONF_CLIENT_SECRET,
    "secret_expired": CONF_CLIENT_SECRET,
    "secret_is_id": CONF_CLIENT_SECRET,
    "certificate_invalid": CONF_CERTIFICATE,
    "certificate_unreadable": CONF_CERTIFICATE,
    "certificate_key_mismatch": CONF_CERTIFICATE,
    "certificate_key_too_weak": CONF_CERTIFICATE,
    "certificate_expired": CONF_CERTIFICATE,
    "certificate_path_not_allowed": CONF_CERTIFICATE,
    "certificate_file_unreadable": CONF_CERTIFICATE,
    "mailbox_not_found": CONF_SOURCE,
    "send_as_denied": CONF_SOURCE,
    "mailbox_not_rest_enabled": CONF_SOURCE,
    "mailbox_full": CONF_SOURCE,
}
#: Keys the forms know; any other error shows as ``unknown``.
_FORM_ERRORS = {
    *_ERROR_FIELDS,
    "missing_mail_send",
    "cannot_connect",
    "conditional_access",
    "public_client_flows_disabled",
    "account_type_not_allowed",
    "consent_required",
    "permission_not_configured",
    "user_not_found",
    "sign_in_declined",
    "sign_in_code_expired",
    "sign_in_expired",
    "sign_in_refused",
}

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


def _text(value: Any) -> str:
    """Return a form value as text ("" for nothing); never raise."""
    return value.strip() if isinstance(value, str) else ""


def _is_tenant(value: str) -> bool:
    return is_object_id(value) or bool(_DOMAIN_RE.match(value))


def check_formats(data: Mapping[str, Any]) -> dict[str, str]:
    """Check an app-only account's fields before any network call; return form errors."""
    errors: dict[str, str] = {}
    source = _text(data.get(CONF_SOURCE))
    if not (is_email_address(source) or is_object_id(source)):
        errors[CONF_SOURCE] = "mailbox_not_found"
    if not _is_tenant(_text(data.get(CONF_TENANT_ID))):
        errors[CONF_TENANT_ID] = "invalid_tenant"
    if not is_object_id(_text(data.get(CONF_CLIENT_ID))):
        errors[CONF_CLIENT_ID] = "invalid_client_id"
    if data.get(CONF_CLOUD, Cloud.GLOBAL.value) not in {c.value for c in Cloud}:
        errors[CONF_CLOUD] = "wrong_cloud"
    errors.update(_credential_errors(data))
    return errors


def _credential_errors(data: Mapping[str, Any]) -> dict[str, str]:
    """Exactly one credential: a secret's Value, or a certificate."""
    secret = data.get(CONF_CLIENT_SECRET)
    certificate = data.get(CONF_CERTIFICATE)
    has_secret = isinstance(secret, str) and bool(secret)
    has_certificate = isinstance(certificate, str) and bool(certificate.strip())
    if has_secret == has_certificate:
        return {"base": "secret_or_certificate"}
    if has_secret and is_object_id(str(secret).strip()):
        return {CONF_CLIENT_SECRET: "secret_is_id"}
    return {}


def check_sign_in_formats(data: Mapping[str, Any]) -> dict[str, str]:
    """Check a signed-in account's fields before any network call."""
    errors: dict[str, str] = {}
    if not is_object_id(_text(data.get(CONF_CLIENT_ID))):
        errors[CONF_CLIENT_ID] = "invalid_client_id"
    tenant = _text(data.get(CONF_TENANT_ID))
    if tenant.lower() not in _SIGN_IN_AUTHORITIES and not _is_tenant(tenant):
        errors[CONF_TENANT_ID] = "invalid_tenant"
    if data.get(CONF_CLOUD, Cloud.GLOBAL.value) not in {c.value for c in Cloud}:
        errors[CONF_CLOUD] = "wrong_cloud"
    return errors


def _clean(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return an app-only entry's data: identifiers trimmed, credentials exact."""
    data: dict[str, Any] = {
        CONF_SOURCE: _text(user_input.get(CONF_SOURCE)),
        CONF_TENANT_ID: _text(user_input.get(CONF_TENANT_ID)),
        CONF_CLIENT_ID: _text(user_input.get(CONF_CLIENT_ID)),
        CONF_CLOUD: user_input.get(CONF_CLOUD, Cloud.GLOBAL.value),
    }
    if certificate := _text(user_input.get(CONF_CERTIFICATE)):
        data[CONF_CERTIFICATE] = certificate
    else:
        data[CONF_CLIENT_SECRET] = str(user_input.get(CONF_CLIENT_SECRET) or "")
    return data


def _clean_sign_in(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return a signed-in account's settings (the entry's data before sign-in)."""
    tenant = _text(user_input.get(CONF_TENANT_ID)) or CONSUMERS
    return {
        CONF_AUTH_TYPE: AUTH_SIGN_IN,
        CONF_CLIENT_ID: _text(user_input.get(CONF_CLIENT_ID)),
        CONF_TENANT_ID: tenant.lower()
        if tenant.lower() in _SIGN_IN_AUTHORITIES
        else tenant,
        CONF_CLOUD: user_input.get(CONF_CLOUD, Cloud.GLOBAL.value),
        CONF_LARGE_ATTACHMENTS: bool(user_input.get(CONF_LARGE_ATTACHMENTS)),
    }


def _form_errors(key: str) -> dict[str, str]:
    if key not in _FORM_ERRORS:
        key = "unknown"
    return {_ERROR_FIELDS.get(key, "base"): key}


def _sign_in_error(err: O365Error, tenant: str) -> dict[str, str]:
    """Return the form error for a failed sign-in."""
    if isinstance(err, InvalidClientIdError) and tenant == CONSUMERS:
        # At the consumers authority this also means "not open to personal
        # accounts" ("The client does not exist or is not enabled for consumers").
        return {CONF_CLIENT_ID: "invalid_client_id_personal"}
    return _form_errors(error_key(err))


class _FixedToken:
    """The token a sign-in just returned, for the calls that prove it."""

    def __init__(self, token: AccessToken) -> None:
        self._token = token

    async def async_get_access_token(self, *, rejected: str | None = None) -> str:
        return self._token.value


@dataclass(frozen=True, slots=True)
class _Proof:
    """What proving an account established."""

    unique_id: str
    #: False when nothing showed the permission to send (an unreadable token).
    verified: bool = True


def _test_message(address: str) -> Message:
    return Message(
        subject=TEST_EMAIL_SUBJECT,
        body=(
            "This test email was sent by the o365 integration of Home Assistant "
            "while it was being set up. The mailbox can send alerts."
        ),
        to=(EmailAddress(address),),
    )


class O365ConfigFlow(ConfigFlow, domain=DOMAIN):
    """Set up a sending mailbox."""

    VERSION = 1
    MINOR_VERSION = 1

    def __init__(self) -> None:
        """Start with nothing entered."""
        self._imported: dict[str, Any] = {}
        self._targets: list[str] = []
        #: The signed-in account's settings while its sign-in runs.
        self._sign_in_data: dict[str, Any] = {}
        self._device_code: DeviceCode | None = None
        self._sign_in_task: asyncio.Task[SignInResult] | None = None
        self._sign_in_errors: dict[str, str] = {}

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
        description placeholders.
        """
        return super().async_show_form(
            description_placeholders=with_help(description_placeholders), **kwargs
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
        errors, self._sign_in_errors = self._sign_in_errors, {}
        if user_input is not None:
            errors = check_sign_in_formats(user_input)
            if not errors:
                self._sign_in_data = _clean_sign_in(user_input)
                errors = await self._async_start_sign_in()
                if not errors:
                    return await self.async_step_sign_in_code()
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(
                SIGN_IN_SCHEMA, user_input or self._sign_in_data or suggested
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def _async_start_sign_in(self) -> dict[str, str]:
        """Ask Entra for a device code; return form errors if it refuses."""
        data = self._sign_in_data
        endpoints, ssl_context = await async_endpoints(self.hass, data[CONF_CLOUD])
        sign_in = DeviceCodeSignIn(
            async_get_clientsession(self.hass),
            tenant=data[CONF_TENANT_ID],
            client_id=data[CONF_CLIENT_ID],
            endpoints=endpoints,
            scopes=sign_in_permissions(data[CONF_LARGE_ATTACHMENTS]),
            run_blocking=self.hass.async_add_executor_job,
            ssl_context=ssl_context,
            sleep=SIGN_IN_SLEEP,
        )
        try:
            self._device_code = await sign_in.async_start()
        except O365Error as err:
            LOGGER.debug("Starting the sign-in failed: %s", error_code(err))
            return _sign_in_error(err, data[CONF_TENANT_ID])
        self._sign_in_task = self.hass.async_create_task(
            sign_in.async_wait(), f"{DOMAIN} sign-in"
        )
        return {}

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
                },
                progress_task=task,
            )
        try:
            task.result()
        except O365Error as err:
            LOGGER.debug("The sign-in failed: %s", error_code(err))
            self._sign_in_errors = _sign_in_error(
                err, self._sign_in_data[CONF_TENANT_ID]
            )
            return self.async_show_progress_done(next_step_id=self._sign_in_form)
        return self.async_show_progress_done(next_step_id="sign_in_finish")

    @property
    def _sign_in_form(self) -> str:
        """The form a failed sign-in returns to."""
        if self.source == SOURCE_REAUTH:
            return "reauth_sign_in"
        if self.source == SOURCE_RECONFIGURE:
            return "reconfigure"
        return "sign_in"

    async def async_step_sign_in_finish(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Read the signed-in mailbox and create (or update) the entry."""
        assert self._sign_in_task is not None
        result = self._sign_in_task.result()
        try:
            address = await self._async_signed_in_address(result)
        except O365Error as err:
            self._sign_in_errors = _form_errors(error_key(err))
            step: Callable[[], Awaitable[ConfigFlowResult]] = getattr(
                self, f"async_step_{self._sign_in_form}"
            )
            return await step()
        return await self._async_finish_sign_in(result, address)

    async def _async_signed_in_address(self, result: SignInResult) -> str:
        """Return the mailbox of the signed-in account (``GET /me``)."""
        endpoints, ssl_context = await async_endpoints(
            self.hass, self._sign_in_data[CONF_CLOUD]
        )
        client = GraphClient(
            async_get_clientsession(self.hass),
            _FixedToken(result.token),
            graph_url=endpoints.graph_url,
            ssl_context=ssl_context,
            run_blocking=self.hass.async_add_executor_job,
        )
        user = await client.get_user(Mailbox.signed_in())
        address = user.mail or user.user_principal_name or result.username
        if not address:
            raise SignInExpiredError("The account has no mail address")
        return address

    async def _async_finish_sign_in(
        self, result: SignInResult, address: str
    ) -> ConfigFlowResult:
        data = {
            **self._sign_in_data,
            CONF_SOURCE: address,
            CONF_TOKEN_CACHE: result.cache,
        }
        tenant = result.token.tenant_id or data[CONF_TENANT_ID]
        await self.async_set_unique_id(f"{tenant}:{address}".lower())
        if self.source in (SOURCE_REAUTH, SOURCE_RECONFIGURE):
            entry = (
                self._get_reauth_entry()
                if self.source == SOURCE_REAUTH
                else self._get_reconfigure_entry()
            )
            self._abort_if_unique_id_mismatch(reason="account_mismatch")
            return self.async_update_reload_and_abort(entry, data=data)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=address,
            data=data,
            options={CONF_DEFAULT_RECIPIENTS: self._targets} if self._targets else {},
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
        errors: dict[str, str] = {}
        if user_input is not None:
            errors = check_formats(user_input)
            if not errors:
                data = _clean(user_input)
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
                        title=data[CONF_SOURCE],
                        data={CONF_AUTH_TYPE: AUTH_APP, **data},
                        options=options,
                        description=None if proof.verified else "permission_unverified",
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
        """Import an Apprise URL: app credentials, or a personal account's sign-in."""
        errors: dict[str, str] = {}
        if user_input is not None:
            try:
                settings = parse_apprise_url(_text(user_input.get(CONF_URL)))
                targets = [str(EmailAddress.parse(t)) for t in settings.targets]
                if settings.mode == "personal" and not (
                    is_object_id(settings.client_id)
                    and is_email_address(settings.source)
                ):
                    raise ValueError("Not a personal-mode URL")  # noqa: TRY301
            except ValueError:
                errors[CONF_URL] = "invalid_apprise_url"
            else:
                self._targets = targets
                if settings.mode == "personal":
                    return await self._async_import_personal(settings, user_input)
                self._imported = {
                    CONF_SOURCE: settings.source,
                    CONF_TENANT_ID: settings.tenant_id,
                    CONF_CLIENT_ID: settings.client_id,
                    CONF_CLIENT_SECRET: settings.secret,
                    CONF_CLOUD: Cloud.GLOBAL.value,
                }
                return await self.async_step_credentials(dict(self._imported))
        return self.async_show_form(
            step_id="apprise",
            data_schema=self.add_suggested_values_to_schema(
                APPRISE_SCHEMA, user_input or {}
            ),
            errors=errors,
        )

    async def _async_import_personal(
        self, settings: AppriseSettings, user_input: Mapping[str, Any]
    ) -> ConfigFlowResult:
        """Redeem the URL's refresh token and create a signed-in entry.

        Apprise's sign-in asked for ``Mail.Send offline_access`` only; when
        the person never consented to ``User.Read`` the refresh is repeated
        without it and the URL's own source is taken as the mailbox.
        """
        self._sign_in_data = _clean_sign_in(
            {CONF_CLIENT_ID: settings.client_id, CONF_TENANT_ID: CONSUMERS}
        )
        try:
            result, address = await self._async_redeem(settings)
        except O365Error as err:
            LOGGER.debug(
                "Importing the Apprise refresh token failed: %s", error_code(err)
            )
            key = error_key(err)
            return self.async_show_form(
                step_id="apprise",
                data_schema=self.add_suggested_values_to_schema(
                    APPRISE_SCHEMA, user_input
                ),
                errors={CONF_URL: key if key in _FORM_ERRORS else "unknown"},
            )
        return await self._async_finish_sign_in(result, address)

    async def _async_redeem(
        self, settings: AppriseSettings
    ) -> tuple[SignInResult, str]:
        """Redeem the refresh token and read the mailbox it belongs to."""
        endpoints, ssl_context = await async_endpoints(self.hass, Cloud.GLOBAL.value)

        async def redeem(permissions: tuple[str, ...]) -> SignInResult:
            return await async_redeem_refresh_token(
                async_get_clientsession(self.hass),
                tenant=CONSUMERS,
                client_id=settings.client_id,
                endpoints=endpoints,
                scopes=permissions,
                refresh_token=settings.secret,
                run_blocking=self.hass.async_add_executor_job,
                ssl_context=ssl_context,
            )

        try:
            result = await redeem(sign_in_permissions(False))
        except AuthenticationError as err:
            if not (isinstance(err, ConsentRequiredError) or 65001 in err.codes):
                raise
            # No consent to User.Read: the URL's source is the mailbox.
            return await redeem(("Mail.Send",)), settings.source
        try:
            return result, await self._async_signed_in_address(result)
        except GraphError as err:
            if err.status != 403:
                raise
            return result, settings.source

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
        errors, self._sign_in_errors = self._sign_in_errors, {}
        if user_input is not None:
            self._sign_in_data = {
                k: v
                for k, v in entry.data.items()
                if k not in (CONF_SOURCE, CONF_TOKEN_CACHE)
            }
            errors = await self._async_start_sign_in()
            if not errors:
                return await self.async_step_sign_in_code()
        return self.async_show_form(
            step_id="reauth_sign_in",
            data_schema=vol.Schema({}),
            errors=errors,
            description_placeholders={"mailbox": entry.data[CONF_SOURCE]},
        )

    async def async_step_reauth_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Take a new secret or certificate of an app-only account and prove it."""
        entry = self._get_reauth_entry()
        placeholders = {
            "mailbox": entry.data[CONF_SOURCE],
            "client_id": entry.data[CONF_CLIENT_ID],
        }
        errors: dict[str, str] = {}
        if user_input is not None:
            merged = {
                **entry.data,
                CONF_CLIENT_SECRET: user_input.get(CONF_CLIENT_SECRET),
                CONF_CERTIFICATE: user_input.get(CONF_CERTIFICATE),
            }
            errors = _credential_errors(merged)
            data = _clean(merged)
            if not errors:
                # Only the credential changes: the permission was proven at
                # setup (and with RBAC for Applications it is not in the token).
                proof, errors = await self._async_prove(
                    data, test_email=False, require_role=False
                )
                if proof is not None:
                    await self.async_set_unique_id(proof.unique_id)
                    self._abort_if_unique_id_mismatch(reason="account_mismatch")
                    return self.async_update_reload_and_abort(
                        entry, data={CONF_AUTH_TYPE: AUTH_APP, **data}
                    )
        return self.async_show_form(
            step_id="reauth_confirm",
            data_schema=REAUTH_SCHEMA,
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the app registration or cloud of the same tenant and mailbox."""
        entry = self._get_reconfigure_entry()
        if is_signed_in(entry.data):
            return await self._async_reconfigure_sign_in(entry, user_input)
        errors: dict[str, str] = {}
        if user_input is not None:
            merged = dict(user_input)
            if not merged.get(CONF_CLIENT_SECRET) and not merged.get(CONF_CERTIFICATE):
                # Blank keeps the current credential.
                for key in (CONF_CLIENT_SECRET, CONF_CERTIFICATE):
                    if entry.data.get(key):
                        merged[key] = entry.data[key]
            errors = check_formats(merged)
            if not errors:
                data = _clean(merged)
                proof, errors = await self._async_prove(
                    data, test_email=bool(user_input.get(CONF_SEND_TEST_EMAIL))
                )
                if proof is not None:
                    await self.async_set_unique_id(proof.unique_id)
                    self._abort_if_unique_id_mismatch(reason="account_mismatch")
                    return self.async_update_reload_and_abort(
                        entry,
                        title=data[CONF_SOURCE],
                        data={CONF_AUTH_TYPE: AUTH_APP, **data},
                    )
        suggested = {
            k: v
            for k, v in entry.data.items()
            if k not in (CONF_CLIENT_SECRET, CONF_CERTIFICATE)
        }
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                RECONFIGURE_SCHEMA, {**suggested, **(user_input or {})}
            ),
            errors=errors,
        )

    async def _async_reconfigure_sign_in(
        self, entry: O365ConfigEntry, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        """Change a signed-in account's app or cloud: it signs in again."""
        return await self._async_sign_in_form(
            "reconfigure_sign_in",
            user_input,
            entry.data,
            {"mailbox": entry.data[CONF_SOURCE]},
        )

    async def async_step_reconfigure_sign_in(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Show the reconfigure form of a signed-in account."""
        return await self._async_reconfigure_sign_in(
            self._get_reconfigure_entry(), user_input
        )

    # -- proving an app-only account --------------------------------------------------

    async def _async_prove(
        self, data: Mapping[str, Any], *, test_email: bool, require_role: bool = True
    ) -> tuple[_Proof | None, dict[str, str]]:
        """Get a token, check its Mail.Send role, optionally send a test email.

        Microsoft says clients must not depend on reading access tokens: when
        the token cannot be read, the role is not known, and only the test
        email (or the first alert) can prove the permission.
        """
        source = data[CONF_SOURCE]
        verified = True
        try:
            # Checks a certificate (readable, matching, strong, valid) first.
            connection = await async_connect(self.hass, data)
            token = await connection.tokens.async_get_token()
            permissions = token.permissions
            # Exchange RBAC for Applications grants Mail.Send outside the
            # token: then only a test email can prove the permission.
            if require_role and not test_email:
                if permissions is None:
                    verified = False
                elif MAIL_SEND_ROLE not in permissions:
                    return None, _form_errors(
                        error_key(MissingRoleError(MAIL_SEND_ROLE))
                    )
            address: str | None = source
            if is_object_id(source):
                address = await self._async_lookup_address(connection.client, source)
            if test_email:
                if address is None:
                    return None, {"base": "test_email_needs_address"}
                await connection.client.send_mail(
                    connection.mailbox, _test_message(address)
                )
        except O365Error as err:
            LOGGER.debug("Checking the credentials failed: %s", error_code(err))
            return None, _form_errors(error_key(err))
        except Exception:  # noqa: BLE001
            LOGGER.exception("Unexpected error while checking the credentials")
            return None, {"base": "unknown"}
        tenant = token.tenant_id or data[CONF_TENANT_ID]
        return _Proof(unique_id=f"{tenant}:{source}".lower(), verified=verified), {}

    @staticmethod
    async def _async_lookup_address(client: GraphClient, object_id: str) -> str | None:
        """Return the address of a mailbox given by object ID, if readable.

        Reading the directory needs ``User.Read.All``; without it the mailbox
        still works, only its address stays unknown.
        """
        try:
            user = await client.get_user(Mailbox(object_id))
        except GraphError as err:
            if err.code in ("Authorization_RequestDenied", "ErrorAccessDenied"):
                return None
            raise
        address: str | None = user.mail or user.user_principal_name
        return address


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
    """Default recipients, the backup account and how sends behave."""

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
        return self.async_show_form(
            step_id="init",
            data_schema=self.add_suggested_values_to_schema(
                self._schema(backups), user_input or self.config_entry.options
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
        fields: dict[Any, Any] = {
            vol.Optional(CONF_DEFAULT_RECIPIENTS): TextSelector(
                TextSelectorConfig(type=TextSelectorType.EMAIL, multiple=True)
            ),
            vol.Optional(CONF_BACKUP_ACCOUNT, default=NO_BACKUP): SelectSelector(
                SelectSelectorConfig(
                    options=[
                        SelectOptionDict(value=NO_BACKUP, label="-"),
                        *(SelectOptionDict(value=b, label=b) for b in backups),
                    ],
                    mode=SelectSelectorMode.DROPDOWN,
                )
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
        data = self.config_entry.data
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
        if not options.get(CONF_SECRET_EXPIRES):
            options.pop(CONF_SECRET_EXPIRES, None)
        return options, errors
