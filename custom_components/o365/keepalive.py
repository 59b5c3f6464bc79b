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
from typing import TYPE_CHECKING

from homeassistant.core import HomeAssistant, callback

from .clock import Timer, now
from .connection import Connection
from .const import DOMAIN, LOGGER
from .errors import error_code
from .graph import O365Error

if TYPE_CHECKING:
    from .account import O365Account

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

    async def renew() -> None:
        delay = next_renewal(interval)
        try:
            await connection.tokens.async_get_token(renew=True)
        except O365Error as err:
            account.sender.note_failure(err)
            if not err.transient:
                LOGGER.error(
                    "%s can no longer renew its sign-in (%s); sign in again",
                    account.mailbox,
                    error_code(err),
                )
                return
            LOGGER.warning(
                "Renewing the sign-in of %s failed (%s); trying again in an hour",
                account.mailbox,
                error_code(err),
            )
            delay = RETRY_AFTER_FAILURE
        else:
            LOGGER.debug("Renewed the sign-in of %s", account.mailbox)
        timer.schedule(now() + delay)

    @callback
    def due() -> None:
        account.entry.async_create_background_task(
            hass, renew(), f"{DOMAIN} keep-alive {account.mailbox}"
        )

    timer = Timer(hass, due)
    timer.schedule(now() + next_renewal(interval))
    return timer.cancel
