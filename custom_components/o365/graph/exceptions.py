"""Typed errors of the Graph client.

A short tree, so callers decide with ``isinstance`` rather than by reading text:

    O365Error
    ├── O365ConnectionError          network, TLS, timeouts (transient)
    ├── AuthenticationError          the token endpoint refused us
    │   ├── InvalidTenantError
    │   ├── InvalidClientIdError
    │   ├── InvalidClientSecretError
    │   │   └── ClientSecretExpiredError
    │   └── TokenEndpointError        5xx or unreadable answer (transient)
    └── GraphError                   Graph answered with an error body
        ├── GraphTransientError      429 / 5xx after the in-call retries
        ├── AccessDeniedError        Mail.Send (or Mail.ReadWrite) not consented
        ├── SendAsDeniedError
        ├── MailboxNotFoundError
        ├── MailboxNotEnabledError
        ├── InvalidRecipientsError
        └── MessageSizeExceededError

Texts carry Microsoft's codes and request IDs, never secrets or tokens.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class O365Error(Exception):
    """Base of every error raised by the Graph client."""

    #: True when trying again later may succeed (network, throttling, 5xx).
    transient: bool = False
    #: Seconds the service asked us to wait before trying again, if it said.
    retry_after: float | None = None


class O365ConnectionError(O365Error):
    """Microsoft could not be reached (DNS, TLS, reset, timeout)."""

    transient = True


class AuthenticationError(O365Error):
    """The token endpoint refused the app's credentials."""

    def __init__(
        self, message: str, *, error: str | None = None, codes: tuple[int, ...] = ()
    ) -> None:
        """Keep the OAuth ``error`` and the AADSTS codes for the caller."""
        super().__init__(message)
        self.error = error
        self.codes = codes


class InvalidTenantError(AuthenticationError):
    """No such tenant (directory) in this cloud (AADSTS90002)."""


class InvalidClientIdError(AuthenticationError):
    """No such application in this tenant (AADSTS700016)."""


class InvalidClientSecretError(AuthenticationError):
    """The client secret is wrong, often the Secret ID pasted (AADSTS7000215)."""


class ClientSecretExpiredError(InvalidClientSecretError):
    """The client secret has expired (AADSTS7000222)."""


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


class MailboxNotFoundError(GraphError):
    """``ErrorInvalidUser``/``ResourceNotFound``: no such mailbox."""


class MailboxNotEnabledError(GraphError):
    """``MailboxNotEnabledForRESTAPI``: no Exchange Online mailbox or licence."""


class InvalidRecipientsError(GraphError):
    """``ErrorInvalidRecipients``: a recipient address was refused."""


class MessageSizeExceededError(GraphError):
    """``ErrorMessageSizeExceeded``: over the tenant's message size limit."""


GRAPH_ERROR_CODES: Mapping[str, type[GraphError]] = {
    "ErrorAccessDenied": AccessDeniedError,
    "ErrorSendAsDenied": SendAsDeniedError,
    "ErrorInvalidUser": MailboxNotFoundError,
    "ResourceNotFound": MailboxNotFoundError,
    "Request_ResourceNotFound": MailboxNotFoundError,
    "MailboxNotEnabledForRESTAPI": MailboxNotEnabledError,
    "MailboxNotSupportedForRESTAPI": MailboxNotEnabledError,
    "ErrorInvalidRecipients": InvalidRecipientsError,
    "ErrorMessageSizeExceeded": MessageSizeExceededError,
}

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


AADSTS_ERRORS: Mapping[int, type[AuthenticationError]] = {
    7000215: InvalidClientSecretError,
    7000222: ClientSecretExpiredError,
    700016: InvalidClientIdError,
    90002: InvalidTenantError,
    900023: InvalidTenantError,
    90013: InvalidTenantError,
}

OAUTH_ERRORS: Mapping[str, type[AuthenticationError]] = {
    "invalid_tenant": InvalidTenantError,
    "unauthorized_client": InvalidClientIdError,
    "invalid_client": InvalidClientSecretError,
    "temporarily_unavailable": TokenEndpointError,
    "server_error": TokenEndpointError,
}


def authentication_error_from_result(result: Mapping[str, Any]) -> AuthenticationError:
    """Build the typed error for an MSAL error result (react to AADSTS codes)."""
    error = str(result.get("error") or "unknown_error")
    raw_codes = result.get("error_codes") or ()
    codes = tuple(
        int(c) for c in raw_codes if isinstance(c, int | str) and str(c).isdigit()
    )
    cls: type[AuthenticationError] | None = next(
        (AADSTS_ERRORS[c] for c in codes if c in AADSTS_ERRORS), None
    )
    if cls is None:
        cls = OAUTH_ERRORS.get(error, AuthenticationError)
    # error_description starts with "AADSTSnnnn: text"; keep its first line, it
    # names the problem and never contains the secret.
    description = str(result.get("error_description") or "").split("\r\n")[0]
    text = description.split("\n")[0] or error
    return cls(text, error=error, codes=codes)
