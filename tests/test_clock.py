"""Home Assistant's clock: timers and sleeps move only when the test moves time."""

from __future__ import annotations

import asyncio

from homeassistant.core import HomeAssistant

from custom_components.o365.clock import Timer, async_sleep, now

from .conftest import Clock


async def test_timer_fires_once_at_its_time(clock: Clock, hass: HomeAssistant) -> None:
    fired: list[float] = []
    timer = Timer(hass, lambda: fired.append(now()))
    start = now()
    timer.schedule(start + 60)
    # The same time again (the budget asks after every send): still one call.
    timer.schedule(start + 60)
    await clock.tick(59)
    assert fired == []
    assert timer.due == start + 60
    await clock.tick(2)
    assert fired == [start + 61]
    assert timer.due is None
    await clock.tick(3600)
    assert len(fired) == 1


async def test_timer_moves_and_cancels(clock: Clock, hass: HomeAssistant) -> None:
    fired: list[float] = []
    timer = Timer(hass, lambda: fired.append(now()))
    start = now()
    timer.schedule(start + 600)
    timer.schedule_earlier(start + 900)  # later: the plan stays
    assert timer.due == start + 600
    timer.schedule_earlier(start + 30)
    timer.schedule(start + 120)  # scheduling replaces, later too
    await clock.tick(60)
    assert fired == []
    await clock.tick(61)
    assert fired == [start + 121]
    timer.schedule(now() + 10)
    timer.cancel()
    await clock.tick(3600)
    assert len(fired) == 1
    assert timer.due is None


async def test_sleep_waits_for_the_clock(clock: Clock, hass: HomeAssistant) -> None:
    slept = asyncio.ensure_future(async_sleep(hass, 30))
    await clock.idle()  # the sleep starts at this time
    await clock.tick(29)
    assert not slept.done()
    await clock.tick(2)
    assert slept.done()
    await async_sleep(hass, 0)  # no wait at all
