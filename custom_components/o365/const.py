"""Constants of the o365 integration."""

from __future__ import annotations

import logging
from typing import Final

DOMAIN: Final = "o365"
LOGGER = logging.getLogger(__package__)

# Config entry data (the keys of the `credentials` step).
CONF_SOURCE: Final = "source"
CONF_TENANT_ID: Final = "tenant_id"
CONF_CLIENT_ID: Final = "client_id"
CONF_CLIENT_SECRET: Final = "client_secret"  # noqa: S105
CONF_CLOUD: Final = "cloud"
CONF_SEND_TEST_EMAIL: Final = "send_test_email"
CONF_URL: Final = "url"

# Options.
CONF_DEFAULT_RECIPIENTS: Final = "default_recipients"
CONF_SAVE_TO_SENT_ITEMS: Final = "save_to_sent_items"
CONF_QUEUE_ON_FAILURE: Final = "queue_on_failure"
CONF_MAX_MESSAGE_SIZE_MB: Final = "max_message_size_mb"
CONF_OUTBOX_MAX_AGE_HOURS: Final = "outbox_max_age_hours"

DEFAULT_SAVE_TO_SENT_ITEMS: Final = True
DEFAULT_QUEUE_ON_FAILURE: Final = True
DEFAULT_MAX_MESSAGE_SIZE_MB: Final = 35
MAX_MESSAGE_SIZE_MB: Final = 150
DEFAULT_OUTBOX_MAX_AGE_HOURS: Final = 24
MAX_OUTBOX_MAX_AGE_HOURS: Final = 168

# The legacy notify service is notify.o365.
NOTIFY_SERVICE_NAME: Final = "o365"

# Events.
EVENT_MESSAGE_QUEUED: Final = "o365_message_queued"
EVENT_MESSAGE_SENT: Final = "o365_message_sent"
EVENT_MESSAGE_DROPPED: Final = "o365_message_dropped"

# The local Graph emulator (see emulator/ in the repository).
ENV_EMULATOR_URL: Final = "O365_EMULATOR_URL"
ENV_EMULATOR_CA: Final = "O365_EMULATOR_CA"

MAIL_SEND_ROLE: Final = "Mail.Send"

REPO_URL: Final = "https://github.com/o365-home-assistant/o365"


def docs_url(anchor: str) -> str:
    """Return the README section (troubleshooting entry) with this anchor."""
    return f"{REPO_URL}#{anchor}"
