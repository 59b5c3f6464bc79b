"""Every error the Graph client raises, in one short tree.

Callers decide with ``isinstance`` or three flags rather than by reading text:

    O365Error
    ├── O365ConnectionError            network, TLS, timeouts (transient)
    ├── AuthenticationError            Entra refused to issue a token
    │   ├── InvalidTenantError
    │   ├── InvalidClientIdError
    │   ├── ApplicationDisabledError
    │   ├── WrongCloudError
    │   ├── ConditionalAccessError
    │   ├── CredentialRefusedError     the stored credential no longer works
    │   │   ├── InvalidClientSecretError
    │   │   │   └── ClientSecretExpiredError
    │   │   ├── InvalidCertificateError
    │   │   ├── CertificateError       a certificate we could not use at all
    │   │   │   ├── CertificateUnreadableError
    │   │   │   ├── CertificateKeyMismatchError
    │   │   │   ├── CertificateKeyTooWeakError
    │   │   │   ├── CertificateExpiredError
    │   │   │   └── CertificateFileError
    │   │   └── SignInExpiredError     a signed-in account must sign in again
    │   ├── SignInError                a person's sign-in failed
    │   │   ├── PublicClientFlowsDisabledError
    │   │   ├── AccountTypeNotAllowedError
    │   │   ├── UserNotInTenantError
    │   │   ├── ConsentRequiredError
    │   │   │   └── AdminConsentRequiredError
    │   │   ├── PermissionNotConfiguredError
    │   │   ├── UserNotFoundError
    │   │   ├── SignInDeclinedError
    │   │   └── SignInCodeExpiredError
    │   └── TokenEndpointError         5xx or unreadable answer (transient)
    ├── MissingRoleError
    ├── MessageLimitError              refused before anything was sent
    │   ├── AttachmentTooLargeError
    │   ├── MessageTooLargeError
    │   └── PersonalAttachmentsTooLargeError
    └── GraphError                     Graph answered with an error body
        ├── GraphTransientError        429 / 5xx after the in-call retries
        ├── SubmissionQuotaError       a temporary submission quota (transient)
        ├── AccessDeniedError          Mail.Send (or Mail.ReadWrite) not granted
        │   └── MailReadWriteRequiredError
        ├── SendAsDeniedError
        ├── MailboxNotFoundError
        ├── MailboxNotEnabledError
        ├── MailboxFullError           the sender's mailbox is over its quota
        ├── InvalidRecipientsError
        ├── AttachmentTooSmallError    an upload session refused a small file
        └── MessageSizeExceededError

Three flags tell callers what an error means for an alert: ``transient`` (it
may go through later by itself: retry, queue), ``recoverable`` (it may go
through once the user repairs the account: queue meanwhile) and
``about_message`` (the message itself is refused: recipients, size, sender;
no other account and no later attempt would change that).

Texts carry Microsoft's codes, descriptions and request IDs, never secrets or
tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
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


# -- Entra ID ------------------------------------------------------------------


class AuthenticationError(O365Error):
    """Microsoft Entra refused to issue a token.

    ``str()`` is the first line of Entra's ``error_description``
    ("AADSTSnnnn: ..."), which names the problem and never holds a secret.
    """

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


class CertificateError(CredentialRefusedError):
    """The certificate credential cannot be used; nothing was sent."""

    def __init__(self, message: str) -> None:
        """Describe the problem; never include the key."""
        super().__init__(message)


class CertificateUnreadableError(CertificateError):
    """No PEM private key and certificate could be read."""


class CertificateKeyMismatchError(CertificateError):
    """The private key does not belong to the certificate."""


class CertificateKeyTooWeakError(CertificateError):
    """The key is not RSA or is shorter than 2048 bits."""


class CertificateExpiredError(CertificateError):
    """The certificate has expired (or is not valid yet)."""


class CertificateFileError(CertificateError):
    """The certificate file may not be read (allowlist) or cannot be read."""

    def __init__(self, message: str, *, path: str, allowed: bool) -> None:
        """Name the path as the user wrote it."""
        super().__init__(message)
        self.path = path
        self.allowed = allowed


class SignInExpiredError(CredentialRefusedError):
    """A signed-in account's refresh token was refused: sign in again.

    It expired (AADSTS70008, AADSTS700082 after 90 days unused), the password
    changed or tokens were revoked (AADSTS50173), consent was withdrawn
    (AADSTS65001), the user was disabled (AADSTS50057), or Entra now wants
    an interactive sign-in (``interaction_required``: AADSTS50076/50079 for
    multifactor authentication, AADSTS70043 for sign-in frequency).
    """


class SignInError(AuthenticationError):
    """A person's sign-in could not complete (Entra's description says why)."""


class PublicClientFlowsDisabledError(SignInError):
    """The app does not allow public client flows (AADSTS7000218)."""


class AccountTypeNotAllowedError(SignInError):
    """The app does not accept this kind of account at this authority.

    AADSTS9002332 (an app for work accounts used at ``consumers``),
    AADSTS500208, AADSTS50194; and AADSTS700016 at ``consumers``, where it
    means the app is not enabled for personal accounts.
    """


class UserNotInTenantError(SignInError):
    """The account belongs to another tenant than the authority's (AADSTS50020)."""


class ConsentRequiredError(SignInError):
    """Consent to the app's permissions was not given (AADSTS65001)."""


class AdminConsentRequiredError(ConsentRequiredError):
    """Only an administrator may consent to these permissions (AADSTS90094)."""


class PermissionNotConfiguredError(SignInError):
    """A requested permission is not configured on the app (AADSTS650057)."""


class UserNotFoundError(SignInError):
    """The signed-in account is not in the authority's directory (AADSTS50034)."""


class SignInDeclinedError(SignInError):
    """The person declined the sign-in or the consent (``authorization_declined``)."""


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


# -- the message ---------------------------------------------------------------


class MessageLimitError(O365Error):
    """The message breaks a size limit; nothing was sent."""

    about_message = True

    def __init__(self, message: str, *, name: str | None, limit: int) -> None:
        """Name the attachment (if one) and the limit in bytes."""
        super().__init__(message)
        self.name = name
        self.limit = limit


class AttachmentTooLargeError(MessageLimitError):
    """One attachment is over Graph's 150 MB limit."""


class MessageTooLargeError(MessageLimitError):
    """All attachments together are over the message size limit."""


class PersonalAttachmentsTooLargeError(MessageLimitError):
    """Over the 25 MB of attachments Outlook.com accepts per message."""


# -- Graph ---------------------------------------------------------------------


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


class SubmissionQuotaError(GraphError):
    """``ErrorSubmissionQuotaExceeded``: a temporary submission quota; try later.

    Exchange's EWS reference: "the submission quota has been reached"; its
    HTTP status in Graph is not documented, so the code alone decides.
    """

    transient = True


class AccessDeniedError(GraphError):
    """``ErrorAccessDenied``: a permission is missing or an RBAC scope excludes the mailbox."""


class MailReadWriteRequiredError(AccessDeniedError):
    """A draft was refused: large attachments need ``Mail.ReadWrite``."""


class SendAsDeniedError(GraphError):
    """``ErrorSendAsDenied``: the account may not send as this address."""

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
    "ErrorSubmissionQuotaExceeded": SubmissionQuotaError,
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


# -- reading Entra's answers -----------------------------------------------------


class TokenGrant(StrEnum):
    """What the token endpoint was asked for: the same answer means different things."""

    #: An app signs in as itself with a secret or a certificate.
    CLIENT_CREDENTIALS = "client_credentials"
    #: A person signs in (device code), or a refresh token from elsewhere is
    #: redeemed: nothing was stored yet, so nothing "expired".
    SIGN_IN = "sign_in"
    #: A signed-in account renews its tokens with its stored refresh token.
    REFRESH = "refresh"


type _Family = tuple[type[AuthenticationError], Mapping[int, type[AuthenticationError]]]

#: Answers whose meaning does not depend on the grant.
_COMMON: Mapping[str, _Family] = {
    "invalid_tenant": (InvalidTenantError, {}),
    "invalid_resource": (WrongCloudError, {500011: WrongCloudError}),
    "temporarily_unavailable": (TokenEndpointError, {}),
    "server_error": (TokenEndpointError, {}),
}

# Microsoft: react to the OAuth ``error`` field; the AADSTS codes are for
# diagnostics and may change ("Handling error codes in your application",
# entra-docs docs/identity-platform/reference-error-codes.md). So the error
# field picks the family, and a known code only refines it within the family.
_FAMILIES: Mapping[TokenGrant, Mapping[str, _Family]] = {
    TokenGrant.CLIENT_CREDENTIALS: {
        **_COMMON,
        "invalid_client": (
            InvalidClientSecretError,
            {
                7000215: InvalidClientSecretError,
                7000222: ClientSecretExpiredError,
                700027: InvalidCertificateError,
            },
        ),
        "unauthorized_client": (
            InvalidClientIdError,
            {700016: InvalidClientIdError, 7000112: ApplicationDisabledError},
        ),
        "invalid_request": (
            AuthenticationError,
            {90002: InvalidTenantError, 900023: InvalidTenantError},
        ),
        "invalid_grant": (AuthenticationError, {53003: ConditionalAccessError}),
    },
    TokenGrant.SIGN_IN: {
        **_COMMON,
        # A public client has no secret: invalid_client is never about one.
        "invalid_client": (
            SignInError,
            {
                7000218: PublicClientFlowsDisabledError,
                650057: PermissionNotConfiguredError,
                700016: InvalidClientIdError,
            },
        ),
        "unauthorized_client": (
            InvalidClientIdError,
            {
                700016: InvalidClientIdError,
                7000112: ApplicationDisabledError,
                50020: UserNotInTenantError,
                9002332: AccountTypeNotAllowedError,
                50194: AccountTypeNotAllowedError,
            },
        ),
        "invalid_request": (
            SignInError,
            {
                90002: InvalidTenantError,
                900023: InvalidTenantError,
                50020: UserNotInTenantError,
                9002332: AccountTypeNotAllowedError,
                500208: AccountTypeNotAllowedError,
                50194: AccountTypeNotAllowedError,
                650057: PermissionNotConfiguredError,
                7000218: PublicClientFlowsDisabledError,
            },
        ),
        # Nothing was stored yet: a refused first sign-in never "expired".
        "invalid_grant": (
            SignInError,
            {
                50020: UserNotInTenantError,
                50034: UserNotFoundError,
                53003: ConditionalAccessError,
                7000112: ApplicationDisabledError,
                65001: ConsentRequiredError,
                90094: AdminConsentRequiredError,
                9002332: AccountTypeNotAllowedError,
            },
        ),
        "interaction_required": (
            SignInError,
            {53003: ConditionalAccessError, 65001: ConsentRequiredError},
        ),
        "invalid_scope": (SignInError, {650057: PermissionNotConfiguredError}),
        "consent_required": (
            ConsentRequiredError,
            {90094: AdminConsentRequiredError},
        ),
        "access_denied": (
            ConsentRequiredError,
            {90094: AdminConsentRequiredError},
        ),
        "authorization_declined": (SignInDeclinedError, {}),
        "expired_token": (SignInCodeExpiredError, {}),
    },
    TokenGrant.REFRESH: {
        **_COMMON,
        # Whatever Entra refuses now, the person must sign in again (the new
        # sign-in then says precisely what is wrong).
        "invalid_grant": (
            SignInExpiredError,
            {53003: ConditionalAccessError, 7000112: ApplicationDisabledError},
        ),
        "interaction_required": (
            SignInExpiredError,
            {53003: ConditionalAccessError},
        ),
        "invalid_client": (SignInExpiredError, {}),
        "unauthorized_client": (
            SignInExpiredError,
            {7000112: ApplicationDisabledError},
        ),
        "consent_required": (SignInExpiredError, {}),
    },
}


def authentication_error_from_result(
    result: Mapping[str, Any],
    *,
    grant: TokenGrant,
    invalid_client: type[AuthenticationError] | None = None,
) -> AuthenticationError:
    """Build the typed error for an MSAL error result.

    ``grant`` says what was asked; ``invalid_client`` replaces the family's
    default for ``invalid_client`` answers without a known code (a
    certificate credential, say).
    """
    error = str(result.get("error") or "unknown_error")
    raw_codes = result.get("error_codes") or ()
    codes = tuple(
        int(c) for c in raw_codes if isinstance(c, int | str) and str(c).isdigit()
    )
    families = _FAMILIES[grant]
    cls: type[AuthenticationError]
    if (family := families.get(error)) is None:
        # An error we do not know: what its codes say, if we know them.
        known = {
            code: c for _, refined in families.values() for code, c in refined.items()
        }
        fallback = SignInError if grant is TokenGrant.SIGN_IN else AuthenticationError
        cls = next((known[c] for c in codes if c in known), fallback)
    else:
        default, refinements = family
        if error == "invalid_client" and invalid_client is not None:
            default = invalid_client
        cls = next((refinements[c] for c in codes if c in refinements), default)
    # error_description starts with "AADSTSnnnn: text"; keep its first line:
    # it names the problem and never contains the secret.
    description = str(result.get("error_description") or "").splitlines()
    return cls(description[0] if description else error, error=error, codes=codes)
