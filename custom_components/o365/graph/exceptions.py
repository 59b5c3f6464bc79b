"""Typed errors of the Graph client.

A short tree, so callers decide with ``isinstance`` or two flags rather than
by reading text:

    O365Error
    ├── O365ConnectionError            network, TLS, timeouts (transient)
    ├── AuthenticationError            Entra refused the sign-in
    │   ├── InvalidTenantError
    │   ├── InvalidClientIdError
    │   ├── ApplicationDisabledError
    │   ├── WrongCloudError
    │   ├── ConditionalAccessError
    │   ├── CredentialRefusedError     the stored credential no longer works
    │   │   ├── InvalidClientSecretError
    │   │   │   └── ClientSecretExpiredError
    │   │   ├── InvalidCertificateError
    │   │   └── SignInExpiredError     a signed-in account must sign in again
    │   ├── SignInError                the device-code sign-in failed
    │   │   ├── PublicClientFlowsDisabledError
    │   │   ├── AccountTypeNotAllowedError
    │   │   ├── ConsentRequiredError
    │   │   ├── PermissionNotConfiguredError
    │   │   ├── UserNotFoundError
    │   │   ├── SignInDeclinedError
    │   │   └── SignInCodeExpiredError
    │   └── TokenEndpointError         5xx or unreadable answer (transient)
    ├── MissingRoleError
    └── GraphError                     Graph answered with an error body
        ├── GraphTransientError        429 / 5xx after the in-call retries
        ├── AccessDeniedError          Mail.Send (or Mail.ReadWrite) not granted
        ├── SendAsDeniedError
        ├── MailboxNotFoundError
        ├── MailboxNotEnabledError
        ├── MailboxFullError           the sender's mailbox is over its quota
        ├── InvalidRecipientsError
        ├── AttachmentTooSmallError    an upload session refused a small file
        └── MessageSizeExceededError

Two flags tell callers what an error means for an alert: ``transient`` (it
may go through later by itself: retry, queue) and ``recoverable`` (it may go
through once the user repairs the account: queue meanwhile). ``about_message``
marks refusals of the message itself (recipients, size, sender), which no
other account and no later attempt would change.

Texts carry Microsoft's codes and request IDs, never secrets or tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class O365Error(Exception):
    """Base of every error raised by the Graph client."""

    #: True when trying again later may succeed (network, throttling, 5xx).
    transient: bool = False
    #: True when it may succeed once the user repairs the account (a new
    #: secret, a new sign-in, space in the mailbox): worth keeping the alert.
    recoverable: bool = False
    #: True when the message itself is refused: no retry, no other account.
    about_message: bool = False
    #: Seconds the service asked us to wait before trying again, if it said.
    retry_after: float | None = None


class O365ConnectionError(O365Error):
    """Microsoft could not be reached (DNS, TLS, reset, timeout)."""

    transient = True

    def __init__(self, message: str = "", *, unsent: bool = False) -> None:
        """``unsent``: the request never left (no connection was made)."""
        super().__init__(message)
        self.unsent = unsent


class AuthenticationError(O365Error):
    """Microsoft Entra refused to issue a token."""

    def __init__(
        self, message: str, *, error: str | None = None, codes: tuple[int, ...] = ()
    ) -> None:
        """Keep the OAuth ``error`` and the AADSTS codes for the caller."""
        super().__init__(message)
        self.error = error
        self.codes = codes


class InvalidTenantError(AuthenticationError):
    """No such tenant (directory) in this cloud (AADSTS90002, AADSTS900023)."""


class InvalidClientIdError(AuthenticationError):
    """No such application in this tenant (AADSTS700016)."""


class ApplicationDisabledError(AuthenticationError):
    """The application is disabled in the tenant (AADSTS7000112)."""

    recoverable = True


class WrongCloudError(AuthenticationError):
    """Graph's service principal is not in the tenant: usually the wrong cloud.

    AADSTS500011, ``invalid_resource``.
    """


class ConditionalAccessError(AuthenticationError):
    """A Conditional Access policy blocks the sign-in (AADSTS53003)."""

    recoverable = True


class CredentialRefusedError(AuthenticationError):
    """The stored credential no longer works: the account needs reauthentication."""

    recoverable = True


class InvalidClientSecretError(CredentialRefusedError):
    """The client secret is wrong, often the Secret ID pasted (AADSTS7000215)."""


class ClientSecretExpiredError(InvalidClientSecretError):
    """The client secret has expired (AADSTS7000222)."""


class InvalidCertificateError(CredentialRefusedError):
    """The client assertion was refused (AADSTS700027).

    The certificate is not uploaded to the app registration, the key does not
    match it, or it expired.
    """


class SignInExpiredError(CredentialRefusedError):
    """A signed-in account's refresh token was refused (``invalid_grant``).

    It expired (AADSTS70008), the password changed or tokens were revoked
    (AADSTS50173), consent was withdrawn (AADSTS65001), or Entra now wants
    an interactive sign-in (``interaction_required``, e.g. new MFA rules).
    """


class SignInError(AuthenticationError):
    """The device-code sign-in could not complete."""


class PublicClientFlowsDisabledError(SignInError):
    """The app does not allow public client flows (AADSTS7000218)."""


class AccountTypeNotAllowedError(SignInError):
    """The app does not accept this kind of account or authority.

    AADSTS50020, AADSTS500208, AADSTS9002331, AADSTS50194; and AADSTS700016
    at the ``consumers`` authority, where it means the app is not enabled for
    personal accounts.
    """


class ConsentRequiredError(SignInError):
    """Consent to the app's permissions was not given (AADSTS65001)."""


class PermissionNotConfiguredError(SignInError):
    """A requested permission is not configured on the app (AADSTS650057)."""


class UserNotFoundError(SignInError):
    """The signed-in account is not in the authority's directory (AADSTS50034)."""


class SignInDeclinedError(SignInError):
    """The person declined the sign-in (``authorization_declined``)."""


class SignInCodeExpiredError(SignInError):
    """The device code expired before anyone signed in (``expired_token``)."""


class TokenEndpointError(AuthenticationError):
    """The token endpoint failed (5xx, throttled or unreadable); try later."""

    transient = True
    #: MSAL answers identical token requests from its cache for 5 s after a
    #: 429/5xx: retrying sooner only meets that cached failure.
    retry_after: float | None = 5.0


class MissingRoleError(O365Error):
    """The token lacks an application role, e.g. ``Mail.Send`` (no admin consent)."""

    def __init__(self, role: str) -> None:
        """Name the missing role."""
        super().__init__(f"The access token does not carry the {role} role")
        self.role = role


class GraphError(O365Error):
    """Microsoft Graph answered with an error."""

    def __init__(
        self,
        status: int,
        code: str | None,
        message: str,
        *,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        """Keep the HTTP status, the Graph error code and the request ID."""
        detail = f"{code}: {message}" if code else message
        super().__init__(f"Graph error {status} {detail}".rstrip())
        self.status = status
        self.code = code
        self.graph_message = message
        self.request_id = request_id
        self.retry_after = retry_after


class GraphTransientError(GraphError):
    """Throttled (429) or a server error (5xx) that outlived the retries."""

    transient = True


class AccessDeniedError(GraphError):
    """``ErrorAccessDenied``: a permission is missing or an RBAC scope excludes the mailbox."""


class SendAsDeniedError(GraphError):
    """``ErrorSendAsDenied``: the app may not send as this address."""

    about_message = True


class MailboxNotFoundError(GraphError):
    """``ErrorInvalidUser``/``ResourceNotFound``: no such mailbox."""


class MailboxNotEnabledError(GraphError):
    """``MailboxNotEnabledForRESTAPI``: no Exchange Online mailbox or licence."""


class MailboxFullError(GraphError):
    """``ErrorQuotaExceeded``: the sender's mailbox is full.

    Sending saves the message (Sent Items, Drafts) first, so a full mailbox
    cannot send until space is freed.
    """

    recoverable = True


class InvalidRecipientsError(GraphError):
    """``ErrorInvalidRecipients``: a recipient address was refused."""

    about_message = True


class MessageSizeExceededError(GraphError):
    """``ErrorMessageSizeExceeded``: over the tenant's message size limit."""

    about_message = True


class AttachmentTooSmallError(GraphError):
    """``ErrorAttachmentSizeShouldNotBeLessThanMinimumSize`` (upload sessions)."""


GRAPH_ERROR_CODES: Mapping[str, type[GraphError]] = {
    "ErrorAccessDenied": AccessDeniedError,
    "ErrorSendAsDenied": SendAsDeniedError,
    "ErrorInvalidUser": MailboxNotFoundError,
    "ResourceNotFound": MailboxNotFoundError,
    "Request_ResourceNotFound": MailboxNotFoundError,
    "MailboxNotEnabledForRESTAPI": MailboxNotEnabledError,
    "MailboxNotSupportedForRESTAPI": MailboxNotEnabledError,
    "ErrorQuotaExceeded": MailboxFullError,
    "ErrorInvalidRecipients": InvalidRecipientsError,
    "ErrorMessageSizeExceeded": MessageSizeExceededError,
    "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize": AttachmentTooSmallError,
}

#: Statuses that mean "not now" (whether retrying at once is safe is the
#: caller's decision, per operation).
TRANSIENT_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def graph_error_from_response(
    status: int,
    body: Any,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> GraphError:
    """Build the typed error for a Graph error response (match on the code)."""
    code: str | None = None
    message = ""
    if isinstance(body, Mapping) and isinstance(error := body.get("error"), Mapping):
        code = error.get("code") if isinstance(error.get("code"), str) else None
        message = str(error.get("message") or "")
        inner = error.get("innerError") or error.get("innererror")
        if request_id is None and isinstance(inner, Mapping):
            inner_id = inner.get("request-id") or inner.get("requestId")
            request_id = str(inner_id) if inner_id else None
    cls: type[GraphError] = GraphError
    if code is not None and code in GRAPH_ERROR_CODES:
        cls = GRAPH_ERROR_CODES[code]
    elif status in TRANSIENT_STATUSES:
        cls = GraphTransientError
    return cls(
        status,
        code,
        message or f"HTTP {status}",
        request_id=request_id,
        retry_after=retry_after,
    )


# Microsoft: react to the OAuth ``error`` field; the AADSTS codes are for
# diagnostics and may change ("Handling error codes in your application",
# entra-docs docs/identity-platform/reference-error-codes.md). So the error
# field picks the family, and a known code only refines the message within it.
_OAUTH_FAMILIES: Mapping[
    str, tuple[type[AuthenticationError], Mapping[int, type[AuthenticationError]]]
] = {
    "invalid_client": (
        InvalidClientSecretError,
        {
            7000215: InvalidClientSecretError,
            7000222: ClientSecretExpiredError,
            700027: InvalidCertificateError,
            7000218: PublicClientFlowsDisabledError,
        },
    ),
    "unauthorized_client": (
        InvalidClientIdError,
        {
            700016: InvalidClientIdError,
            7000112: ApplicationDisabledError,
            50020: AccountTypeNotAllowedError,
            9002331: AccountTypeNotAllowedError,
            50194: AccountTypeNotAllowedError,
        },
    ),
    "invalid_grant": (
        SignInExpiredError,
        {
            53003: ConditionalAccessError,
            50034: UserNotFoundError,
            7000112: ApplicationDisabledError,
        },
    ),
    "interaction_required": (SignInExpiredError, {53003: ConditionalAccessError}),
    "invalid_request": (
        AuthenticationError,
        {
            90002: InvalidTenantError,
            900023: InvalidTenantError,
            50020: AccountTypeNotAllowedError,
            500208: AccountTypeNotAllowedError,
            9002331: AccountTypeNotAllowedError,
            50194: AccountTypeNotAllowedError,
            650057: PermissionNotConfiguredError,
            7000218: PublicClientFlowsDisabledError,
        },
    ),
    "invalid_tenant": (InvalidTenantError, {}),
    "invalid_resource": (WrongCloudError, {500011: WrongCloudError}),
    "invalid_scope": (AuthenticationError, {650057: PermissionNotConfiguredError}),
    "consent_required": (ConsentRequiredError, {}),
    "access_denied": (ConsentRequiredError, {}),
    "authorization_declined": (SignInDeclinedError, {}),
    "expired_token": (SignInCodeExpiredError, {}),
    "temporarily_unavailable": (TokenEndpointError, {}),
    "server_error": (TokenEndpointError, {}),
}
#: For an ``error`` we do not know: what its codes say, if we know them.
_CODES = {
    code: cls for _, codes in _OAUTH_FAMILIES.values() for code, cls in codes.items()
}


def authentication_error_from_result(
    result: Mapping[str, Any],
    *,
    invalid_client: type[AuthenticationError] | None = None,
) -> AuthenticationError:
    """Build the typed error for an MSAL error result.

    ``invalid_client`` replaces the family default for ``invalid_client``
    answers without a known code (a certificate credential, say).
    """
    error = str(result.get("error") or "unknown_error")
    raw_codes = result.get("error_codes") or ()
    codes = tuple(
        int(c) for c in raw_codes if isinstance(c, int | str) and str(c).isdigit()
    )
    family = _OAUTH_FAMILIES.get(error)
    cls: type[AuthenticationError]
    if family is None:
        cls = next((_CODES[c] for c in codes if c in _CODES), AuthenticationError)
    else:
        default, refinements = family
        if error == "invalid_client" and invalid_client is not None:
            default = invalid_client
        cls = next((refinements[c] for c in codes if c in refinements), default)
    # error_description starts with "AADSTSnnnn: text"; keep its first line, it
    # names the problem and never contains the secret.
    description = str(result.get("error_description") or "").split("\r\n")[0]
    text = description.split("\n")[0] or error
    return cls(text, error=error, codes=codes)
