"""Constants of the o365 integration."""

from __future__ import annotations

from collections.abc import Mapping
import logging
from typing import Final

DOMAIN: Final = "o365"
LOGGER = logging.getLogger(__package__)

# Config entry data (the keys of the `credentials` and `sign_in` steps).
CONF_AUTH_TYPE: Final = "auth_type"
CONF_SOURCE: Final = "source"
CONF_TENANT_ID: Final = "tenant_id"
CONF_CLIENT_ID: Final = "client_id"
CONF_CLIENT_SECRET: Final = "client_secret"  # noqa: S105
CONF_CERTIFICATE: Final = "certificate"
CONF_CLOUD: Final = "cloud"
CONF_SEND_TEST_EMAIL: Final = "send_test_email"
CONF_URL: Final = "url"
CONF_LARGE_ATTACHMENTS: Final = "large_attachments"
#: MSAL's serialised token cache of a signed-in account (a secret).
CONF_TOKEN_CACHE: Final = "token_cache"  # noqa: S105

# How an account obtains its tokens (entry data `auth_type`).
AUTH_APP: Final = "app"
AUTH_SIGN_IN: Final = "sign_in"
#: The authority for personal Microsoft accounts (Outlook.com, Hotmail, Live).
CONSUMERS: Final = "consumers"
#: Delegated permissions a signed-in account asks for (offline_access,
#: openid and profile are added by MSAL itself).
SIGN_IN_PERMISSIONS: Final = ("Mail.Send", "User.Read")
#: Added for messages over 4 MB (drafts and upload sessions).
LARGE_ATTACHMENTS_PERMISSION: Final = "Mail.ReadWrite"
#: Added when a signed-in work account sends from a shared mailbox.
SHARED_MAILBOX_PERMISSION: Final = "Mail.Send.Shared"
#: The tenant ID (``tid``) of every personal Microsoft account.
CONSUMER_TENANT_ID: Final = "9188040d-6c67-4c5b-b112-36a304b66dad"

# Options.
CONF_DEFAULT_RECIPIENTS: Final = "default_recipients"
CONF_SAVE_TO_SENT_ITEMS: Final = "save_to_sent_items"
CONF_QUEUE_ON_FAILURE: Final = "queue_on_failure"
CONF_MAX_MESSAGE_SIZE_MB: Final = "max_message_size_mb"
CONF_OUTBOX_MAX_AGE_HOURS: Final = "outbox_max_age_hours"
CONF_BACKUP_ACCOUNT: Final = "backup_account"
CONF_SECRET_EXPIRES: Final = "secret_expires"  # noqa: S105
CONF_DAILY_RECIPIENT_LIMIT: Final = "daily_recipient_limit"
CONF_FROM_MAILBOX: Final = "from_mailbox"

DEFAULT_SAVE_TO_SENT_ITEMS: Final = True
DEFAULT_QUEUE_ON_FAILURE: Final = True
DEFAULT_MAX_MESSAGE_SIZE_MB: Final = 35
MAX_MESSAGE_SIZE_MB: Final = 150
DEFAULT_OUTBOX_MAX_AGE_HOURS: Final = 24
MAX_OUTBOX_MAX_AGE_HOURS: Final = 168
#: Recipients per rolling 24 hours: Outlook.com's limit is not published
#: (about 300 observed, with suspension past it); Exchange Online's is 10,000
#: (defender-docs outbound-spam-sending-limits-troubleshoot.md).
PERSONAL_DAILY_RECIPIENTS: Final = 300
WORK_DAILY_RECIPIENTS: Final = 10_000
MAX_DAILY_RECIPIENTS: Final = 10_000

# The legacy notify service is notify.o365.
NOTIFY_SERVICE_NAME: Final = "o365"

# Events.
EVENT_MESSAGE_QUEUED: Final = "o365_message_queued"
EVENT_MESSAGE_SENT: Final = "o365_message_sent"
EVENT_MESSAGE_DROPPED: Final = "o365_message_dropped"
EVENT_DIGEST_SENT: Final = "o365_digest_sent"

# The local Graph emulator (see emulator/ in the repository): read in one
# place, connection.async_endpoints.
ENV_EMULATOR_URL: Final = "O365_EMULATOR_URL"
ENV_EMULATOR_CA: Final = "O365_EMULATOR_CA"

MAIL_SEND_ROLE: Final = "Mail.Send"

#: The subject of the test email (config flow and the Send test email button).
TEST_EMAIL_SUBJECT: Final = "Home Assistant: o365 test email"

REPO_URL: Final = "https://github.com/o365-home-assistant/o365"


def docs_url(anchor: str) -> str:
    """Return the README section (troubleshooting entry) with this anchor."""
    return f"{REPO_URL}#{anchor}"


def with_help(placeholders: Mapping[str, str] | None = None) -> dict[str, str]:
    """Return translation placeholders plus the README's address.

    Error texts end in "Help: {docs_url}#<key>": hassfest refuses URLs in
    strings, so the address travels as a placeholder. Every error raised or
    shown with a help link must pass it, or Home Assistant leaves the whole
    text unformatted.
    """
    return {"docs_url": REPO_URL, **(placeholders or {})}
