"""The one place where Graph client errors become Home Assistant errors.

Each error has a key used both as the config-flow form error and as the
translation key of the exception raised from actions (see strings.json).
"""

from __future__ import annotations

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .const import DOMAIN, with_help
from .graph import (
    AccessDeniedError,
    AccountTypeNotAllowedError,
    AdminConsentRequiredError,
    ApplicationDisabledError,
    AttachmentTooLargeError,
    AuthenticationError,
    CertificateExpiredError,
    CertificateFileError,
    CertificateKeyMismatchError,
    CertificateKeyTooWeakError,
    CertificateUnreadableError,
    ClientSecretExpiredError,
    ConditionalAccessError,
    ConsentRequiredError,
    GraphError,
    InvalidCertificateError,
    InvalidClientIdError,
    InvalidClientSecretError,
    InvalidRecipientsError,
    InvalidTenantError,
    MailboxFullError,
    MailboxNotEnabledError,
    MailboxNotFoundError,
    MailReadWriteRequiredError,
    MessageSizeExceededError,
    MessageTooLargeError,
    MissingRoleError,
    O365Error,
    PermissionNotConfiguredError,
    PersonalAttachmentsTooLargeError,
    PublicClientFlowsDisabledError,
    SendAsDeniedError,
    SignInCodeExpiredError,
    SignInDeclinedError,
    SignInExpiredError,
    SubmissionQuotaError,
    UserNotFoundError,
    UserNotInTenantError,
    WrongCloudError,
)

# Order matters: subclasses before their bases.
_ERROR_KEYS: tuple[tuple[type[O365Error], str], ...] = (
    (ClientSecretExpiredError, "secret_expired"),
    (InvalidClientSecretError, "invalid_client_secret"),
    (InvalidCertificateError, "certificate_invalid"),
    (SignInExpiredError, "sign_in_expired"),
    (CertificateUnreadableError, "certificate_unreadable"),
    (CertificateKeyMismatchError, "certificate_key_mismatch"),
    (CertificateKeyTooWeakError, "certificate_key_too_weak"),
    (CertificateExpiredError, "certificate_expired"),
    (InvalidClientIdError, "invalid_client_id"),
    (ApplicationDisabledError, "app_disabled"),
    (InvalidTenantError, "invalid_tenant"),
    (WrongCloudError, "wrong_cloud"),
    (ConditionalAccessError, "conditional_access"),
    (PublicClientFlowsDisabledError, "public_client_flows_disabled"),
    (AccountTypeNotAllowedError, "account_type_not_allowed"),
    (UserNotInTenantError, "user_not_in_tenant"),
    (AdminConsentRequiredError, "admin_consent_required"),
    (ConsentRequiredError, "consent_required"),
    (PermissionNotConfiguredError, "permission_not_configured"),
    (UserNotFoundError, "user_not_found"),
    (SignInDeclinedError, "sign_in_declined"),
    (SignInCodeExpiredError, "sign_in_code_expired"),
    (MissingRoleError, "missing_mail_send"),
    (MailReadWriteRequiredError, "missing_mail_readwrite"),
    (AccessDeniedError, "missing_mail_send"),
    (SendAsDeniedError, "send_as_denied"),
    (MailboxNotEnabledError, "mailbox_not_rest_enabled"),
    (MailboxNotFoundError, "mailbox_not_found"),
    (MailboxFullError, "mailbox_full"),
    (InvalidRecipientsError, "invalid_recipients"),
    (MessageSizeExceededError, "message_size_exceeded"),
    (AttachmentTooLargeError, "attachment_too_large"),
    (MessageTooLargeError, "message_too_large"),
    (PersonalAttachmentsTooLargeError, "personal_attachments_too_large"),
    (SubmissionQuotaError, "submission_quota"),
)

#: Errors caused by what the caller asked for, not by the account.
_VALIDATION_KEYS = frozenset(
    {
        "invalid_recipients",
        "attachment_too_large",
        "message_too_large",
        "personal_attachments_too_large",
    }
)


def error_key(err: O365Error) -> str:
    """Return the error key (form error and translation key) for an error."""
    if isinstance(err, CertificateFileError):
        return (
            "certificate_file_unreadable"
            if err.allowed
            else "certificate_path_not_allowed"
        )
    for error_type, key in _ERROR_KEYS:
        if isinstance(err, error_type):
            return key
    if err.transient:
        return "cannot_connect"
    if isinstance(err, GraphError):
        return "graph_error"
    if isinstance(err, AuthenticationError):
        return "sign_in_refused"
    return "unknown"


def error_code(err: O365Error) -> str:
    """Return Microsoft's code for an error: a Graph code or ``AADSTSnnnn``."""
    if isinstance(err, GraphError) and err.code:
        return err.code
    if isinstance(err, AuthenticationError) and err.codes:
        return f"AADSTS{err.codes[0]}"
    if isinstance(err, AuthenticationError) and err.error:
        return err.error
    if isinstance(err, GraphError):
        return f"HTTP {err.status}"
    return type(err).__name__


def error_placeholders(err: O365Error, mailbox: str) -> dict[str, str]:
    """Return the placeholders every error translation may use."""
    request_id = err.request_id if isinstance(err, GraphError) else None
    details = str(err)
    if isinstance(err, CertificateFileError):
        details = err.path
    return with_help(
        {
            "mailbox": mailbox,
            "code": error_code(err),
            "request_id": request_id or "-",
            "details": details,
        }
    )


def as_home_assistant_error(err: O365Error, mailbox: str) -> HomeAssistantError:
    """Return the translated Home Assistant error for a Graph client error."""
    key = error_key(err)
    error_type = (
        ServiceValidationError if key in _VALIDATION_KEYS else HomeAssistantError
    )
    return error_type(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=error_placeholders(err, mailbox),
    )
