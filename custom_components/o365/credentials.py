"""Proving an account before it is saved: each check written once, for every flow step.

- :func:`check_app_formats` / :func:`check_sign_in_formats`: what can be
  checked before any network call;
- :func:`async_prove_app`: an app-only account gets a token, shows (or
  cannot show) ``Mail.Send``, optionally sends a test email;
- :func:`async_start_sign_in`: a device code for a person to sign in with;
- :func:`async_signed_in_address`: the mailbox of a signed-in account;
- :func:`async_redeem_apprise`: an Apprise personal URL's refresh token.

Failures raise :class:`FormError`: the form field, the error key and what
Microsoft said (its code and one-line description), so the form can show it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
import re
from typing import Any

from homeassistant.core import HomeAssistant

from .apprise import AppriseSettings
from .connection import async_connect, async_settings, sign_in_permissions
from .const import (
    AUTH_SIGN_IN,
    CONF_AUTH_TYPE,
    CONF_CERTIFICATE,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_LARGE_ATTACHMENTS,
    CONF_SOURCE,
    CONF_TENANT_ID,
    CONSUMERS,
    LOGGER,
    MAIL_SEND_ROLE,
    TEST_EMAIL_SUBJECT,
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

_DOMAIN_RE = re.compile(
    r"^(?=.{4,253}$)([A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"
)
#: The authorities a signed-in account may use besides a tenant GUID or domain.
SIGN_IN_AUTHORITIES = (CONSUMERS, "organizations", "common")

#: The form field each error belongs to; the rest show at the top of the form.
_ERROR_FIELDS = {
    "invalid_tenant": CONF_TENANT_ID,
    "invalid_client_id": CONF_CLIENT_ID,
    "invalid_client_id_personal": CONF_CLIENT_ID,
    "app_disabled": CONF_CLIENT_ID,
    "account_type_not_allowed": CONF_CLIENT_ID,
    "public_client_flows_disabled": CONF_CLIENT_ID,
    "permission_not_configured": CONF_CLIENT_ID,
    "wrong_cloud": CONF_CLOUD,
    "personal_needs_global_cloud": CONF_CLOUD,
    "user_not_in_tenant": CONF_TENANT_ID,
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
FORM_ERRORS = {
    *_ERROR_FIELDS,
    "missing_mail_send",
    "cannot_connect",
    "conditional_access",
    "consent_required",
    "admin_consent_required",
    "user_not_found",
    "sign_in_declined",
    "sign_in_code_expired",
    "sign_in_expired",
    "sign_in_refused",
    "secret_or_certificate",
    "test_email_needs_address",
}


class FormError(Exception):
    """A check failed: what to show, where, with Microsoft's own words."""

    def __init__(
        self,
        key: str,
        field: str = "base",
        placeholders: dict[str, str] | None = None,
    ) -> None:
        """Show ``key`` on ``field``; ``placeholders`` fill its text."""
        super().__init__(key)
        self.key = key
        self.field = field
        #: Microsoft's code and one-line description, when it said something.
        self.placeholders = placeholders or {}

    @classmethod
    def from_error(cls, err: O365Error, *, tenant: str | None = None) -> FormError:
        """Return the form error for a failure of the client."""
        key = error_key(err)
        if isinstance(err, InvalidClientIdError) and tenant == CONSUMERS:
            # At the consumers authority this also means "not open to personal
            # accounts" ("The client does not exist or is not enabled for
            # consumers").
            key = "invalid_client_id_personal"
        if key not in FORM_ERRORS:
            key = "unknown"
        return cls(
            key,
            _ERROR_FIELDS.get(key, "base"),
            {"code": error_code(err), "details": str(err) or error_code(err)},
        )

    @property
    def errors(self) -> dict[str, str]:
        """Return the form's ``errors``."""
        return {self.field: self.key}


@dataclass(frozen=True, slots=True)
class Proof:
    """What proving an account established."""

    unique_id: str
    #: False when nothing showed the permission to send (an unreadable token).
    verified: bool = True


def text(value: Any) -> str:
    """Return a form value as text ("" for nothing); never raise."""
    return value.strip() if isinstance(value, str) else ""


def _is_tenant(value: str) -> bool:
    return is_object_id(value) or bool(_DOMAIN_RE.match(value))


def check_app_formats(data: Mapping[str, Any]) -> dict[str, str]:
    """Check an app-only account's fields before any network call; return form errors."""
    errors: dict[str, str] = {}
    source = text(data.get(CONF_SOURCE))
    if not (is_email_address(source) or is_object_id(source)):
        errors[CONF_SOURCE] = "mailbox_not_found"
    if not _is_tenant(text(data.get(CONF_TENANT_ID))):
        errors[CONF_TENANT_ID] = "invalid_tenant"
    if not is_object_id(text(data.get(CONF_CLIENT_ID))):
        errors[CONF_CLIENT_ID] = "invalid_client_id"
    if data.get(CONF_CLOUD, Cloud.GLOBAL.value) not in {c.value for c in Cloud}:
        errors[CONF_CLOUD] = "wrong_cloud"
    errors.update(check_credential(data))
    return errors


def check_credential(data: Mapping[str, Any]) -> dict[str, str]:
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
    if not is_object_id(text(data.get(CONF_CLIENT_ID))):
        errors[CONF_CLIENT_ID] = "invalid_client_id"
    tenant = text(data.get(CONF_TENANT_ID))
    if tenant.lower() not in SIGN_IN_AUTHORITIES and not _is_tenant(tenant):
        errors[CONF_TENANT_ID] = "invalid_tenant"
    cloud = data.get(CONF_CLOUD, Cloud.GLOBAL.value)
    if cloud not in {c.value for c in Cloud}:
        errors[CONF_CLOUD] = "wrong_cloud"
    elif cloud != Cloud.GLOBAL and tenant.lower() == CONSUMERS:
        # National clouds serve no personal accounts (entra-docs
        # supported-accounts-validation.md).
        errors[CONF_CLOUD] = "personal_needs_global_cloud"
    return errors


def clean_app(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return an app-only entry's data: identifiers trimmed, credentials exact."""
    data: dict[str, Any] = {
        CONF_SOURCE: text(user_input.get(CONF_SOURCE)),
        CONF_TENANT_ID: text(user_input.get(CONF_TENANT_ID)),
        CONF_CLIENT_ID: text(user_input.get(CONF_CLIENT_ID)),
        CONF_CLOUD: user_input.get(CONF_CLOUD, Cloud.GLOBAL.value),
    }
    if certificate := text(user_input.get(CONF_CERTIFICATE)):
        data[CONF_CERTIFICATE] = certificate
    else:
        data[CONF_CLIENT_SECRET] = str(user_input.get(CONF_CLIENT_SECRET) or "")
    return data


def clean_sign_in(user_input: Mapping[str, Any]) -> dict[str, Any]:
    """Return a signed-in account's settings (the entry's data before sign-in)."""
    tenant = text(user_input.get(CONF_TENANT_ID)) or CONSUMERS
    return {
        CONF_AUTH_TYPE: AUTH_SIGN_IN,
        CONF_CLIENT_ID: text(user_input.get(CONF_CLIENT_ID)),
        CONF_TENANT_ID: tenant.lower()
        if tenant.lower() in SIGN_IN_AUTHORITIES
        else tenant,
        CONF_CLOUD: user_input.get(CONF_CLOUD, Cloud.GLOBAL.value),
        CONF_LARGE_ATTACHMENTS: bool(user_input.get(CONF_LARGE_ATTACHMENTS)),
    }


# -- app-only accounts -----------------------------------------------------------


def _test_message(address: str) -> Message:
    return Message(
        subject=TEST_EMAIL_SUBJECT,
        body=(
            "This test email was sent by the o365 integration of Home Assistant "
            "while it was being set up. The mailbox can send alerts."
        ),
        to=(EmailAddress(address),),
    )


async def async_prove_app(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    *,
    test_email: bool,
    require_role: bool = True,
) -> Proof:
    """Get a token, check its Mail.Send role, optionally send a test email.

    Microsoft says clients must not depend on reading access tokens: when
    the token cannot be read, the role is not known, and only the test email
    (or the first alert) can prove the permission. Exchange RBAC for
    Applications grants Mail.Send outside the token too.
    """
    source = data[CONF_SOURCE]
    try:
        # Checks a certificate (readable, matching, strong, valid) first.
        connection = await async_connect(hass, data)
        token = await connection.tokens.async_get_token()
        address = (
            await _async_lookup_address(connection.client, source)
            if is_object_id(source)
            else source
        )
        if test_email:
            if address is None:
                raise FormError("test_email_needs_address")  # noqa: TRY301
            await connection.client.send_mail(
                connection.mailbox, _test_message(address)
            )
    except O365Error as err:
        LOGGER.debug("Checking the credentials failed: %s", error_code(err))
        raise FormError.from_error(err) from err
    except FormError:
        raise
    except Exception as err:
        LOGGER.exception("Unexpected error while checking the credentials")
        raise FormError("unknown") from err
    verified = True
    if require_role and not test_email:
        if token.permissions is None:
            verified = False
        elif MAIL_SEND_ROLE not in token.permissions:
            raise FormError.from_error(MissingRoleError(MAIL_SEND_ROLE))
    tenant = token.tenant_id or data[CONF_TENANT_ID]
    return Proof(unique_id=f"{tenant}:{source}".lower(), verified=verified)


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


# -- signed-in accounts ------------------------------------------------------------


async def async_start_sign_in(
    hass: HomeAssistant, data: Mapping[str, Any], *, shared_mailbox: bool = False
) -> tuple[DeviceCodeSignIn, DeviceCode]:
    """Ask Entra for a device code for a signed-in account's settings.

    ``shared_mailbox``: the account sends from a shared mailbox, which needs
    the person's consent to ``Mail.Send.Shared`` too.
    """
    settings = await async_settings(
        hass,
        tenant=data[CONF_TENANT_ID],
        client_id=data[CONF_CLIENT_ID],
        cloud=data[CONF_CLOUD],
    )
    sign_in = DeviceCodeSignIn(
        settings,
        sign_in_permissions(
            bool(data[CONF_LARGE_ATTACHMENTS]), shared_mailbox=shared_mailbox
        ),
    )
    try:
        code = await sign_in.async_start()
    except O365Error as err:
        LOGGER.debug("Starting the sign-in failed: %s", error_code(err))
        raise FormError.from_error(err, tenant=data[CONF_TENANT_ID]) from err
    return sign_in, code


class _FixedToken:
    """The token a sign-in just returned, for the calls that prove it."""

    def __init__(self, token: AccessToken) -> None:
        self._token = token

    async def async_get_access_token(self, *, rejected: str | None = None) -> str:
        return self._token.value


async def async_signed_in_address(
    hass: HomeAssistant, result: SignInResult, data: Mapping[str, Any]
) -> str:
    """Return the mailbox of a signed-in account (``GET /me``).

    ``mail`` is empty for many personal accounts; ``userPrincipalName`` is
    then the sign-in address (which may be another provider's address for a
    Microsoft account made with one: it names the account, not the mailbox).
    """
    settings = await async_settings(
        hass,
        tenant=data[CONF_TENANT_ID],
        client_id=data[CONF_CLIENT_ID],
        cloud=data[CONF_CLOUD],
    )
    user = await GraphClient(settings, _FixedToken(result.token)).get_user(
        Mailbox.signed_in()
    )
    address = user.mail or user.user_principal_name or result.username
    if not address:
        raise SignInExpiredError("The account has no mail address")
    return address


async def async_redeem_apprise(
    hass: HomeAssistant, apprise: AppriseSettings
) -> tuple[SignInResult, str]:
    """Redeem an Apprise personal URL's refresh token; return it and the mailbox.

    Apprise's sign-in asked for ``Mail.Send offline_access`` only; when the
    person never consented to ``User.Read`` the refresh is repeated without
    it and the URL's own source is taken as the mailbox.
    """
    data = clean_sign_in({CONF_CLIENT_ID: apprise.client_id, CONF_TENANT_ID: CONSUMERS})
    settings = await async_settings(
        hass, tenant=CONSUMERS, client_id=apprise.client_id, cloud=Cloud.GLOBAL
    )
    try:
        try:
            result = await async_redeem_refresh_token(
                settings, sign_in_permissions(False), apprise.secret
            )
        except AuthenticationError as err:
            if not (isinstance(err, ConsentRequiredError) or 65001 in err.codes):
                raise
            result = await async_redeem_refresh_token(
                settings, ("Mail.Send",), apprise.secret
            )
            return result, apprise.source
        try:
            return result, await async_signed_in_address(hass, result, data)
        except GraphError as err:
            if err.status != 403:
                raise
            return result, apprise.source
    except O365Error as err:
        LOGGER.debug("Importing the Apprise refresh token failed: %s", error_code(err))
        raise FormError.from_error(err, tenant=CONSUMERS) from err
