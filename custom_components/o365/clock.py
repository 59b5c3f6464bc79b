"""Home Assistant's clock: every wait and timestamp of the integration goes here.

Waits are scheduled with Home Assistant's event helpers, so tests move the
clock (``freezer.tick`` and ``async_fire_time_changed``) instead of waiting,
and nothing depends on how busy the machine is.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime

from homeassistant.core import HassJob, HomeAssistant, callback
from homeassistant.helpers.event import async_track_point_in_utc_time
from homeassistant.util import dt as dt_util


def now() -> float:
    """Return Home Assistant's time as POSIX seconds."""
    return dt_util.utcnow().timestamp()


def as_datetime(timestamp: float) -> datetime:
    """Return POSIX seconds as an aware UTC datetime."""
    return dt_util.utc_from_timestamp(timestamp)


async def async_sleep(hass: HomeAssistant, seconds: float) -> None:
    """Wait ``seconds`` on Home Assistant's clock (cancellable)."""
    if seconds <= 0:
        await asyncio.sleep(0)
        return
    done = hass.loop.create_future()

    @callback
    def wake(_: datetime) -> None:
        if not done.done():
            done.set_result(None)

    cancel = async_track_point_in_utc_time(
        hass, HassJob(wake, cancel_on_shutdown=True), as_datetime(now() + seconds)
    )
    try:
        await done
    finally:
        cancel()


class Timer:
    """One pending call at a point in time; scheduling again replaces it."""

    def __init__(self, hass: HomeAssistant, action: Callable[[], None]) -> None:
        """Call ``action`` (a callback, on the event loop) when due."""
        self._hass = hass
        self._action = action
        self._cancel: Callable[[], None] | None = None
        #: When the call is due (POSIX seconds), if one is scheduled.
        self.due: float | None = None

    @callback
    def schedule(self, at: float) -> None:
        """Call the action at ``at`` (POSIX seconds), replacing any earlier plan."""
        if self._cancel is not None and self.due == at:
            return  # already planned for then (the budget asks after every send)
        self.cancel()
        self.due = at

        @callback
        def fire(_: datetime) -> None:
            self._cancel = None
            self.due = None
            self._action()

        # Home Assistant cancels it when it shuts down.
        self._cancel = async_track_point_in_utc_time(
            self._hass, HassJob(fire, cancel_on_shutdown=True), as_datetime(at)
        )

    @callback
    def schedule_earlier(self, at: float) -> None:
        """Call the action at ``at`` unless it is due sooner already."""
        if self.due is None or at < self.due:
            self.schedule(at)

    @callback
    def cancel(self) -> None:
        """Forget the pending call, if any."""
        if self._cancel is not None:
            self._cancel()
            self._cancel = None
        self.due = None
