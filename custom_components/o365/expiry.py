"""When an app-only account's credential expires, known ahead of time.

The most common way mail alerts die is an expired client secret (the portal
allows at most 24 months), learnt when an alert does not arrive. So each
app-only account knows when its credential expires:

- a certificate: from the certificate itself;
- a client secret: from the app registration, when the app may read it
  (application permission ``Application.Read.All``; ``GET
  /applications(appId='{client_id}')``, matching the secret by its ``hint``,
  its first three characters, else the soonest-expiring secret), otherwise
  from the date the user entered in the options.

A repair issue warns 30 and again 7 days before; a diagnostic sensor shows
the date. Checked at start-up and daily, never on the send path. Signed-in
accounts have no such date.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, time, timedelta
from typing import Any, Literal
from urllib.parse import quote

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.dispatcher import async_dispatcher_send
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.util import dt as dt_util

from .connection import Connection
from .const import (
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_SECRET_EXPIRES,
    DOMAIN,
    LOGGER,
)
from .errors import error_code
from .graph import GraphError, O365Error
from .issues import async_update_expiry_issue, async_update_expiry_unknown_issue
from .options import is_signed_in

#: Dispatcher signal (with the entry ID) when the expiry date changes.
SIGNAL_EXPIRY_CHANGED = f"{DOMAIN}_expiry_changed_{{}}"
CHECK_INTERVAL = timedelta(days=1)

type ExpirySource = Literal["certificate", "app_registration", "option"]


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    return dt_util.parse_datetime(value)


def secret_expiry(application: Any, secret: str) -> datetime | None:
    """Return when the app registration's matching secret expires.

    The portal's ``hint`` is the secret's first three characters; without a
    match (a hint shared by several, or none) the soonest-expiring secret
    is the one to worry about.
    """
    credentials = (
        application.get("passwordCredentials")
        if isinstance(application, dict)
        else None
    )
    ends = [
        (item.get("hint"), end)
        for item in credentials or []
        if isinstance(item, dict) and (end := _parse_time(item.get("endDateTime")))
    ]
    matching = [end for hint, end in ends if hint and secret.startswith(str(hint))]
    if len(matching) == 1:
        return matching[0]
    candidates = matching or [end for _, end in ends]
    return min(candidates, default=None)


def option_expiry(value: Any) -> datetime | None:
    """Return the end of the day the user entered, in Home Assistant's time zone."""
    if not isinstance(value, str) or not value:
        return None
    day = dt_util.parse_date(value)
    if day is None:
        return None
    return dt_util.as_utc(
        datetime.combine(
            day, time.max.replace(microsecond=0), dt_util.get_default_time_zone()
        )
    )


class CredentialExpiry:
    """The expiry date of one account's credential, and its repair issues."""

    def __init__(
        self, hass: HomeAssistant, entry: ConfigEntry, connection: Connection
    ) -> None:
        """Start unknown; :meth:`async_start` checks now and daily."""
        self._hass = hass
        self._entry = entry
        self._connection = connection
        self.expires: datetime | None = None
        self.source: ExpirySource | None = None
        #: Graph refused to show the app registration (no Application.Read.All).
        self._registration_refused = False
        #: The date entered in the options when it was last used.
        self.entered: str | None = entry.options.get(CONF_SECRET_EXPIRES)

    @property
    def applies(self) -> bool:
        """Return True for credentials that expire (secrets, certificates).

        A signed-in account has none: its refresh token is renewed instead.
        """
        return not is_signed_in(self._entry.data)

    @callback
    def async_start(self) -> Callable[[], None]:
        """Check now (in the background) and every day; return the stop function."""
        if not self.applies:
            return lambda: None
        self._entry.async_create_background_task(
            self._hass, self.async_check(), f"{DOMAIN} credential expiry"
        )
        return async_track_time_interval(
            self._hass,
            self._async_check_interval,
            CHECK_INTERVAL,
            cancel_on_shutdown=True,
        )

    async def _async_check_interval(self, _: datetime) -> None:
        await self.async_check()

    async def async_check(self) -> None:
        """Find the expiry date and raise or clear the warnings."""
        if self.applies:
            self._async_publish(*await self._async_find())

    async def async_options_changed(self) -> None:
        """Use a newly entered date, asking Graph again only if it must."""
        self.entered = self._entry.options.get(CONF_SECRET_EXPIRES)
        if not self.applies or self.source in ("certificate", "app_registration"):
            return  # the date does not come from the options
        if self._registration_refused:
            self._async_publish(*self._option_expiry())
        else:
            await self.async_check()

    @callback
    def _async_publish(
        self, expires: datetime | None, source: ExpirySource | None
    ) -> None:
        if (expires, source) != (self.expires, self.source):
            self.expires, self.source = expires, source
            async_dispatcher_send(
                self._hass, SIGNAL_EXPIRY_CHANGED.format(self._entry.entry_id)
            )
        async_update_expiry_issue(self._hass, self._entry, expires, dt_util.utcnow())
        # Nothing can tell when the secret expires: ask for the date.
        async_update_expiry_unknown_issue(
            self._hass, self._entry, unknown=self._registration_refused and not expires
        )

    async def _async_find(self) -> tuple[datetime | None, ExpirySource | None]:
        connection = self._connection
        if connection.certificate is not None:
            return connection.certificate.not_after, "certificate"
        data = self._entry.data
        try:
            application = await connection.client.get(
                f"applications(appId='{quote(str(data[CONF_CLIENT_ID]), safe='')}')",
                "getApplication",
                query={"$select": "passwordCredentials"},
            )
        except GraphError as err:
            if err.transient:
                LOGGER.debug("Reading the app registration failed: %s", error_code(err))
                return self.expires, self.source
            # No Application.Read.All: the user's date, if any, is all we have.
            self._registration_refused = True
        except O365Error as err:
            LOGGER.debug("Reading the app registration failed: %s", error_code(err))
            return self.expires, self.source
        else:
            self._registration_refused = False
            if (
                found := secret_expiry(application, str(data[CONF_CLIENT_SECRET]))
            ) is not None:
                return found, "app_registration"
        return self._option_expiry()

    def _option_expiry(self) -> tuple[datetime | None, ExpirySource | None]:
        manual = option_expiry(self._entry.options.get(CONF_SECRET_EXPIRES))
        return (manual, "option") if manual is not None else (None, None)
