"""Keep a signed-in account signed in while it sends nothing.

Microsoft expires a refresh token that goes unused for 90 days ("Refresh
tokens in the Microsoft identity platform", entra-docs
docs/identity-platform/refresh-tokens.md), and an alert account may send
nothing for months. So a signed-in account renews its token at least every
few days (jittered, so that many accounts do not renew at once), which uses
and rotates the refresh token. App-only accounts have no refresh token and
nothing to do here.
"""

from __future__ import annotations

from collections.abc import Callable
import random

from homeassistant.const import EVENT_HOMEASSISTANT_STOP
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.helpers.event import async_call_later

from .account import O365Account
from .connection import Connection
from .const import LOGGER
from .errors import error_code
from .graph import O365Error

#: After a passing failure, try again this soon.
RETRY_AFTER_FAILURE = 3600.0
#: The spread of the renewal time (a fraction of the interval, earlier only).
JITTER = 0.15


def next_renewal(interval: float) -> float:
    """Return the delay to the next renewal: the interval, up to 15 % sooner."""
    spread: float = random.uniform(0, JITTER)
    return interval * (1 - spread)


@callback
def async_keep_signed_in(
    hass: HomeAssistant, account: O365Account, connection: Connection
) -> Callable[[], None]:
    """Renew the account's token periodically; return the cancel function."""
    interval = connection.tokens.keep_alive_interval
    if interval is None:
        return lambda: None
    cancel: Callable[[], None] | None = None

    async def renew(_: object) -> None:
        nonlocal cancel
        delay = next_renewal(interval)
        try:
            await connection.tokens.async_get_token(renew=True)
        except O365Error as err:
            account.async_note_failure(err)
            if not err.transient:
                LOGGER.error(
                    "%s can no longer renew its sign-in (%s); sign in again",
                    account.mailbox,
                    error_code(err),
                )
                cancel = None
                return
            LOGGER.warning(
                "Renewing the sign-in of %s failed (%s); trying again in an hour",
                account.mailbox,
                error_code(err),
            )
            delay = RETRY_AFTER_FAILURE
        else:
            LOGGER.debug("Renewed the sign-in of %s", account.mailbox)
        cancel = async_call_later(hass, delay, renew)

    cancel = async_call_later(hass, next_renewal(interval), renew)

    @callback
    def stop() -> None:
        nonlocal cancel
        if cancel is not None:
            cancel()
            cancel = None

    unsubscribe: Callable[[], None] | None = None

    @callback
    def on_stop(_: Event) -> None:
        nonlocal unsubscribe
        unsubscribe = None  # a fired listen_once is gone already
        stop()

    unsubscribe = hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, on_stop)

    @callback
    def unload() -> None:
        stop()
        if unsubscribe is not None:
            unsubscribe()

    return unload
