"""The o365.send_message entity action: the full email on a notify entity.

Home Assistant 2025.10 added ``async_register_platform_entity_service`` to
register entity actions once in ``async_setup``; older versions register them
from the platform. Both paths lead to ``O365NotifyEntity.async_send_email``.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.notify.const import DOMAIN as NOTIFY_DOMAIN
from homeassistant.core import HomeAssistant
from homeassistant.helpers import config_validation as cv, service
from homeassistant.helpers.entity_platform import async_get_current_platform
import voluptuous as vol

from .const import DOMAIN
from .request import ATTR_TO, MAIL_FIELDS, RECIPIENTS

SERVICE_SEND_MESSAGE = "send_message"
ATTR_MESSAGE = "message"
ATTR_TITLE = "title"
ENTITY_METHOD = "async_send_email"

SEND_MESSAGE_SCHEMA = cv.make_entity_service_schema(
    {
        vol.Required(ATTR_MESSAGE): cv.string,
        vol.Optional(ATTR_TITLE): cv.string,
        vol.Optional(ATTR_TO): RECIPIENTS,
        **MAIL_FIELDS,
    }
)

_register_in_setup: Any = getattr(
    service, "async_register_platform_entity_service", None
)


def async_setup_services(hass: HomeAssistant) -> None:
    """Register the action once (Home Assistant 2025.10 and newer)."""
    if _register_in_setup is not None:
        _register_in_setup(
            hass,
            DOMAIN,
            SERVICE_SEND_MESSAGE,
            entity_domain=NOTIFY_DOMAIN,
            schema=SEND_MESSAGE_SCHEMA,
            func=ENTITY_METHOD,
        )


def async_setup_platform_services() -> None:
    """Register the action from the notify platform (older Home Assistant)."""
    if _register_in_setup is None:
        async_get_current_platform().async_register_entity_service(
            SERVICE_SEND_MESSAGE, SEND_MESSAGE_SCHEMA, ENTITY_METHOD
        )
