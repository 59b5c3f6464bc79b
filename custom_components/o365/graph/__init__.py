"""A small Microsoft Graph mail client with no Home Assistant imports.

It signs in as an app (client credentials, MSAL), builds messages, sends them
with ``sendMail`` or through a draft with upload sessions, and raises the
typed errors of :mod:`.exceptions`. Give it an aiohttp session.
"""

from .auth import AccessToken, AccessTokenProvider, TokenProvider, decode_jwt_claims
from .client import (
    DEFAULT_MAX_MESSAGE_SIZE,
    MAX_ATTACHMENT_SIZE,
    AttachmentTooLargeError,
    GraphClient,
    GraphStats,
    GraphUser,
    MailReadWriteRequiredError,
    MessageLimitError,
    MessageTooLargeError,
    SendReceipt,
    check_message_limits,
)
from .clouds import CLOUDS, Cloud, CloudEndpoints, emulator_endpoints
from .exceptions import (
    AccessDeniedError,
    AuthenticationError,
    ClientSecretExpiredError,
    GraphError,
    GraphTransientError,
    InvalidClientIdError,
    InvalidClientSecretError,
    InvalidRecipientsError,
    InvalidTenantError,
    MailboxNotEnabledError,
    MailboxNotFoundError,
    MessageSizeExceededError,
    MissingRoleError,
    O365ConnectionError,
    O365Error,
    SendAsDeniedError,
    TokenEndpointError,
)
from .message import Attachment, BodyType, EmailAddress, Importance, Message
from .retry import RetryPolicy

__all__ = [
    "CLOUDS",
    "DEFAULT_MAX_MESSAGE_SIZE",
    "MAX_ATTACHMENT_SIZE",
    "AccessDeniedError",
    "AccessToken",
    "AccessTokenProvider",
    "Attachment",
    "AttachmentTooLargeError",
    "AuthenticationError",
    "BodyType",
    "ClientSecretExpiredError",
    "Cloud",
    "CloudEndpoints",
    "EmailAddress",
    "GraphClient",
    "GraphError",
    "GraphStats",
    "GraphTransientError",
    "GraphUser",
    "Importance",
    "InvalidClientIdError",
    "InvalidClientSecretError",
    "InvalidRecipientsError",
    "InvalidTenantError",
    "MailReadWriteRequiredError",
    "MailboxNotEnabledError",
    "MailboxNotFoundError",
    "Message",
    "MessageLimitError",
    "MessageSizeExceededError",
    "MessageTooLargeError",
    "MissingRoleError",
    "O365ConnectionError",
    "O365Error",
    "RetryPolicy",
    "SendAsDeniedError",
    "SendReceipt",
    "TokenEndpointError",
    "TokenProvider",
    "check_message_limits",
    "decode_jwt_claims",
    "emulator_endpoints",
]
