"""The storm row: 400 alerts within a minute through an Outlook.com account, then a day.

An automation gone wild sends 400 alerts within one minute of Home Assistant
time through a signed-in Outlook.com account (sending budget 300 recipients a
day, the integration's default for a personal account); then 24 hours of Home
Assistant time pass. Real time cannot pass a day, so this runs on a simulated
clock, as the repository's tests do (``tests/e2e/test_storms.py``): under
pytest with ``pytest_homeassistant_custom_component``'s ``hass`` and
freezegun's ``freezer``; :class:`Clock` moves Home Assistant's clock and runs
what became due, and nothing of the integration waits on the wall clock. The
day passes from one scheduled timer to the next (at most 15 minutes a step),
so a digest goes at the Home Assistant time it is due, and the clock never
moves while the loop still has work ready (an executor job that finished
between two looks), which would otherwise stretch Home Assistant's time.
asyncio's debug mode, which the test plugin turns on, is off, as in Home
Assistant.

The emulator runs in this process (it reads the same frozen clock, so its
rolling 24-hour recipient count and its message dates are in Home Assistant
time) but on a thread and event loop of its own (:class:`ThreadedEmulator`),
so that its CPU time can be taken out of Home Assistant's: the threads'
CPU clocks (``pthread_getcpuclockid``) are read before and after.

The storm is the one the README describes: every alert to the benchmark's
three To recipients, one in three the same flapping door, every tenth with a
camera snapshot (``local_file`` showing the benchmark's JPEG), alert 200 with
``importance: high``. Measured:

* Home Assistant time: when each alert's action was called, and when the
  emulator received the mail that carried it (its own, or a digest listing
  it): the longest wait, its median, how many went on their own;
* the emulator's count: mails, recipients, the most recipients in any rolling
  24 hours, limit crossings (refused messages; must be none);
* real time: the Home Assistant process's CPU time for the storm and the day
  (all its threads, the emulator's threads taken out), with the same clock
  steps on an idle account measured after it as the baseline of the stepping
  itself; and the wall time.

``python -m pytest bench/storm.py -p no:cacheprovider`` with
``BENCH_STORM_OUT`` (the JSON written) and ``BENCH_STORM_JPEG`` (the
snapshot) set; ``bench.run`` does it. Not part of the test suite.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from html import unescape
import json
import os
from pathlib import Path
import resource
import sys
import threading
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import Event, HomeAssistant, callback
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
)

from emulator import Emulator
from emulator.directory import DEFAULT_PUBLIC_CLIENT_ID
from tests import conftest as test_harness

from .common import RECIPIENTS, percentile
from .profiling import CpuSampler

# The integration measured: the runner's Home Assistant config folder (whose
# ``custom_components`` links to the folder ``--custom-components`` names)
# comes first; else the work tree's. Imported before the ``hass`` fixture
# mounts its own testing folder's ``custom_components``.
if folder := os.environ.get("BENCH_CONFIG_DIR"):
    sys.path.insert(0, folder)
from custom_components.o365.const import (
    DOMAIN,
    ENV_EMULATOR_CA,
    ENV_EMULATOR_URL,
)

PERSONAL = "casey@outlook.com"
FRONT_DOOR = "camera.front_door"
#: The storm: this many alerts, spread evenly over this many seconds.
STORM = 400
STORM_SECONDS = 60.0
#: Then this much Home Assistant time, from timer to timer (at most this much
#: at a time).
DAY = 24 * 3600.0
STEP = 15 * 60.0
#: The alert that is ``importance: high``.
URGENT_AT = 200
URGENT = ("Smoke in the kitchen", "The kitchen smoke detector went off.")
EVENTS = (
    "o365_message_sent",
    "o365_digest_sent",
    "o365_message_queued",
    "o365_message_dropped",
)


def storm_alert(number: int) -> tuple[str, str]:
    """Return alert ``number``'s title and message: a third are the same door.

    Each message is unique but the door's, and none is part of another
    ("sensor 1." is not in "sensor 10."), so the mail carrying an alert is
    found by its message.
    """
    if number == URGENT_AT:
        return URGENT
    if number % 3 == 0:
        return "Front door", "The front door opened."
    return f"Motion {number}", f"Movement seen by sensor {number}."


def _real_monotonic() -> float:
    """Return the machine's monotonic clock (freezegun leaves it alone)."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


def _process_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _thread_cpu(thread: threading.Thread) -> float:
    """Return a live thread's CPU time (its own CPU clock)."""
    if thread.ident is None or not thread.is_alive():
        return 0.0
    try:
        return time.clock_gettime(time.pthread_getcpuclockid(thread.ident))
    except (OSError, ProcessLookupError):
        return 0.0


class ThreadedEmulator:
    """The emulator on a thread and event loop of its own, in this process.

    Its executor's threads are named ``bench-emulator``, so the CPU time of
    all of its threads can be read (:meth:`cpu`).
    """

    PREFIX = "bench-emulator"

    def __init__(self, state_dir: Path) -> None:
        """Prepare an emulator keeping its files in ``state_dir``."""
        self.emulator = Emulator(state_dir)
        # A plain loop: Home Assistant's event loop policy (set for the test)
        # makes loops that refuse another default executor.
        self.loop = asyncio.SelectorEventLoop()
        self.loop.set_default_executor(
            ThreadPoolExecutor(max_workers=2, thread_name_prefix=self.PREFIX)
        )
        self.thread = threading.Thread(
            target=self._serve, name=self.PREFIX, daemon=True
        )

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def start(self) -> None:
        """Start the thread and the emulator on it."""
        self.thread.start()
        self.run(self.emulator.start)

    def run[T](self, function: Callable[[], Awaitable[T]]) -> T:
        """Await ``function()`` on the emulator's loop and return its result."""

        async def call() -> T:
            return await function()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(timeout=60)

    def call[T](self, function: Callable[[], T]) -> T:
        """Call ``function()`` on the emulator's thread (its state is not locked)."""

        async def call() -> T:
            return function()

        return self.run(call)

    def cpu(self) -> float:
        """Return the CPU time of the emulator's threads so far (live ones)."""
        return sum(
            _thread_cpu(thread)
            for thread in threading.enumerate()
            if thread.name.startswith(self.PREFIX)
        )

    def stop(self) -> None:
        """Stop the emulator, its loop, its executor and its thread."""
        if self.thread.is_alive():
            self.run(self.emulator.stop)
            self.run(self.loop.shutdown_default_executor)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(timeout=30)
        self.loop.close()


class Clock(test_harness.Clock):
    """The tests' clock (``tests/conftest.py``), for an emulator on a thread.

    The emulator answers on its own thread, in real time: a request on the
    wire is waited for longer, and after every move of the clock too.
    """

    WIRE_TIMEOUT = 30.0

    async def tick(self, seconds: float) -> None:
        """Move the clock on by ``seconds``, run what became due, let it finish."""
        await super().tick(seconds)
        await self.settle()


class Meter:
    """Real CPU time (all threads, the emulator's out), loop-thread CPU, wall time."""

    def __init__(self, emulator: ThreadedEmulator) -> None:
        """Measure this process without ``emulator``'s threads."""
        self.emulator = emulator
        self.marks: dict[str, dict[str, float]] = {}

    def mark(self, name: str) -> None:
        """Note the clocks now."""
        self.marks[name] = {
            "process": _process_cpu(),
            "emulator": self.emulator.cpu(),
            "loop_thread": time.thread_time(),
            "wall": _real_monotonic(),
        }

    def between(self, first: str, last: str) -> dict[str, float]:
        """Return the real figures from mark ``first`` to mark ``last``."""
        a, b = self.marks[first], self.marks[last]
        emulator = b["emulator"] - a["emulator"]
        return {
            "cpu_s": round(b["process"] - a["process"] - emulator, 3),
            "loop_thread_cpu_s": round(b["loop_thread"] - a["loop_thread"], 3),
            "emulator_cpu_s": round(emulator, 3),
            "wall_s": round(b["wall"] - a["wall"], 3),
        }


@pytest.fixture(autouse=True)
async def enable_event_loop_debug() -> None:
    """Run the loop without asyncio's debug mode, as Home Assistant does.

    Overrides the Home Assistant test plugin's fixture of this name, which
    turns debug mode on: it records a traceback at every callback and future,
    which would be charged to the storm.
    """
    asyncio.get_running_loop().set_debug(False)


@pytest.fixture(autouse=True)
def _custom_integrations(enable_custom_integrations: None) -> None:
    """Load ``custom_components/o365`` (the work tree's)."""


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Allow real sockets to 127.0.0.1 (the emulator)."""


@pytest.fixture
def emulator(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[ThreadedEmulator]:
    """Run the emulator on its own thread and point the integration at it."""
    running = ThreadedEmulator(tmp_path / "emulator")
    running.start()
    try:
        monkeypatch.setenv(ENV_EMULATOR_URL, running.emulator.url)
        monkeypatch.setenv(ENV_EMULATOR_CA, str(running.emulator.ca_path))
        yield running
    finally:
        running.stop()


async def add_camera(hass: HomeAssistant, jpeg: str) -> None:
    """Add the front door camera: core ``local_file`` showing the benchmark's JPEG."""
    entry = MockConfigEntry(
        domain="local_file",
        title="Front door",
        options={"name": "Front door", "file_path": jpeg},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get(FRONT_DOOR) is not None


async def add_personal_account(clock: Clock, emulator: ThreadedEmulator) -> Any:
    """Sign Casey's Outlook.com account in through the config flow, as a person does."""
    hass = clock.hass
    flows = hass.config_entries.flow
    result = await flows.async_init(DOMAIN, context={"source": SOURCE_USER})
    flow_id = result["flow_id"]
    result = await flows.async_configure(flow_id, {"next_step_id": "sign_in"})
    result = await flows.async_configure(
        flow_id,
        {
            "client_id": DEFAULT_PUBLIC_CLIENT_ID,
            "tenant_id": "consumers",
            "cloud": "global",
            "large_attachments": False,
        },
    )
    assert result["type"] is FlowResultType.SHOW_PROGRESS, result
    code = result["description_placeholders"]["code"]
    emulator.call(lambda: emulator.emulator.complete_device_login(code, PERSONAL))
    await clock.run_until(
        lambda: flows.async_get(flow_id)["step_id"] != "sign_in_code", limit=120
    )
    result = await flows.async_configure(flow_id)
    await clock.settle()
    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    return result["result"]


async def send(hass: HomeAssistant, number: int) -> None:
    """Call ``notify.o365`` with alert ``number`` of the storm."""
    title, message = storm_alert(number)
    data: dict[str, Any] = {"account": PERSONAL}
    if number % 10 == 0:
        data["cameras"] = [FRONT_DOOR]
    if number == URGENT_AT:
        data["importance"] = "high"
    await hass.services.async_call(
        "notify",
        DOMAIN,
        {"title": title, "message": message, "target": list(RECIPIENTS), "data": data},
        blocking=True,
    )


async def noop() -> None:
    """Do nothing (the baseline's stand-in for an alert)."""


def _mail(message: Any, start: float) -> dict[str, Any]:
    """Describe a received mail (Home Assistant time since the storm began)."""
    body = unescape(str((message.message.get("body") or {}).get("content") or ""))
    return {
        "at": message.received_at.timestamp(),
        "after_s": round(message.received_at.timestamp() - start, 3),
        "subject": message.subject,
        "text": f"{unescape(message.subject)}\n{body}",
        "recipients": message.recipient_count,
        "via": message.via,
        "digest": " alerts: " in message.subject,
        "attachments": len(message.attachments),
        "importance": str(message.message.get("importance") or "normal"),
    }


def most_in_a_day(mails: list[dict[str, Any]]) -> int:
    """Return the most recipients the mails had in any rolling 24 hours."""
    best = 0
    times = sorted((m["at"], m["recipients"]) for m in mails)
    for index, (start, _) in enumerate(times):
        total = sum(n for at, n in times[index:] if at < start + DAY)
        best = max(best, total)
    return best


def waits(
    calls: list[tuple[int, float]], mails: list[dict[str, Any]]
) -> list[float | None]:
    """Return, per alert, the Home Assistant seconds from its call to its mail.

    The mail that carried an alert is the first one received at or after its
    call whose text holds its message (its own mail, or a digest's line).
    """
    ordered = sorted(mails, key=lambda m: m["at"])
    found: list[float | None] = []
    for number, called in calls:
        _, message = storm_alert(number)
        carrier = next(
            (m for m in ordered if m["at"] >= called and message in m["text"]), None
        )
        found.append(None if carrier is None else carrier["at"] - called)
    return found


async def storm_steps(clock: Clock, alert: Callable[[int], Awaitable[None]]) -> None:
    """Call ``alert`` ``STORM`` times, spread evenly over ``STORM_SECONDS``."""
    pause = STORM_SECONDS / STORM
    for number in range(STORM):
        await clock.run(alert(number))
        await clock.tick(pause)


async def day_steps(clock: Clock) -> None:
    """Let ``DAY`` of Home Assistant time pass, from timer to timer.

    The clock moves to the next scheduled timer (a digest, a retry, a token
    renewal), at most ``STEP`` at a time, so that everything happens at the
    Home Assistant time it is due, not at the end of a step.
    """
    end = clock.moved + DAY
    while (left := end - clock.moved) > 0:
        delay = clock.next_timer()
        step = STEP if delay is None else min(STEP, max(delay, 0.0) + 0.001)
        await clock.tick(min(step, left))
    await clock.settle()


async def test_storm(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    emulator: ThreadedEmulator,
    tmp_path: Path,
) -> None:
    """Run the storm and a day after it; write what was measured."""
    out = Path(os.environ["BENCH_STORM_OUT"])
    jpeg = os.environ["BENCH_STORM_JPEG"]
    config_dir = tmp_path / "config"
    config_dir.mkdir()
    hass.config.config_dir = str(config_dir)
    clock = Clock(hass, freezer)
    meter = Meter(emulator)

    await add_camera(hass, jpeg)
    entry = await add_personal_account(clock, emulator)
    budget = getattr(entry.runtime_data, "budget", None)
    limit = getattr(budget, "limit", None)
    allowance = getattr(budget, "hourly_allowance", None)

    captured: list[tuple[str, float, dict[str, Any]]] = []

    @callback
    def capture(event: Event) -> None:
        captured.append(
            (str(event.event_type), event.time_fired.timestamp(), dict(event.data))
        )

    unsubscribe = [hass.bus.async_listen(name, capture) for name in EVENTS]
    calls: list[tuple[int, float]] = []
    failures: list[str] = []

    async def alert(number: int) -> None:
        calls.append((number, dt_util.utcnow().timestamp()))
        try:
            await send(hass, number)
        except Exception as err:  # noqa: BLE001 - counted, reported
            failures.append(f"{number}: {type(err).__name__}: {err}")

    # BENCH_STORM_PROFILE=1: where the storm's CPU goes (the CPU sampler of
    # bench.profiling over the storm minute and over the day); it slows the
    # process, so such a run's real-time figures are not the storm row's.
    sampler = CpuSampler() if os.environ.get("BENCH_STORM_PROFILE") else None
    profiles: dict[str, Any] = {}

    await clock.settle()
    start = dt_util.utcnow().timestamp()
    meter.mark("start")
    if sampler is not None:
        sampler.start()
    await storm_steps(clock, alert)
    meter.mark("storm")
    if sampler is not None:
        sampler.stop()
        profiles["storm"] = await hass.async_add_executor_job(sampler.summary, STORM)
        sampler = CpuSampler()
        sampler.start()
    held_after_storm = len(
        getattr(getattr(entry.runtime_data, "outbox", None), "held", None) or ()
    )
    await day_steps(clock)
    meter.mark("day")
    if sampler is not None:
        sampler.stop()
        profiles["day"] = await hass.async_add_executor_job(sampler.summary, STORM)
    for stop in unsubscribe:
        stop()
    ended = dt_util.utcnow().timestamp()

    # The baseline: the same clock steps on the same account, no alert sent.
    meter.mark("baseline_start")
    await storm_steps(clock, lambda number: noop())
    meter.mark("baseline_storm")
    await day_steps(clock)
    meter.mark("baseline_end")

    def collect() -> dict[str, Any]:
        running = emulator.emulator
        return {
            "mails": [
                _mail(m, start)
                for m in running.messages
                if m.via != "ndr"
                and m.submitter.address.casefold() == PERSONAL.casefold()
                and m.received_at.timestamp() <= ended
            ],
            "ndrs": sum(1 for m in running.messages if m.via == "ndr"),
            "crossings": [c.to_json() for c in running.limit_crossings],
            "personal_limit": running.settings.daily_recipient_limit_personal,
        }

    seen = emulator.call(collect)
    mails = seen["mails"]
    found = waits(calls, mails)
    waited = [w for w in found if w is not None]
    on_their_own = [m for m in mails if not m["digest"]]
    digests = [m for m in mails if m["digest"]]
    digest_events = [d for name, _, d in captured if name == "o365_digest_sent"]
    urgent = next(
        (w for (n, _), w in zip(calls, found, strict=True) if n == URGENT_AT), None
    )
    sensor = next(
        (
            state.attributes
            for state in hass.states.async_all("sensor")
            if state.entity_id.endswith("recipients_in_24_hours")
        ),
        {},
    )
    result = {
        "account": PERSONAL,
        "budget": {"daily_recipient_limit": limit, "hourly_allowance": allowance},
        "emulator_personal_limit": seen["personal_limit"],
        "alerts": len(calls),
        "storm_seconds": STORM_SECONDS,
        "day_seconds": DAY,
        "recipients_per_alert": len(RECIPIENTS),
        "failed_calls": len(failures),
        "failures": failures[:5],
        "held_after_storm": held_after_storm,
        "mails": len(mails),
        "mails_on_their_own": len(on_their_own),
        "digests": len(digests),
        "digest_events": len(digest_events),
        "alerts_in_digests": sum(int(d.get("alerts", 0)) for d in digest_events),
        "recipients_used": sum(m["recipients"] for m in mails),
        "most_recipients_in_24h": most_in_a_day(mails),
        "limit_crossings": len(seen["crossings"]),
        "crossings": seen["crossings"][:5],
        "ndrs": seen["ndrs"],
        "alerts_without_mail": sum(1 for w in found if w is None),
        "wait_s": {
            "max": max(waited) if waited else None,
            "p50": percentile(waited, 0.5),
            "p95": percentile(waited, 0.95),
            "sent_at_once": sum(1 for w in waited if w == 0),
            "urgent": urgent,
        },
        "digest_mode_at_end": sensor.get("digest_mode"),
        "ha_time_s": round(ended - start, 3),
        "real": {
            "storm": meter.between("start", "storm"),
            "day": meter.between("storm", "day"),
            "total": meter.between("start", "day"),
            "baseline": meter.between("baseline_start", "baseline_end"),
            "baseline_storm": meter.between("baseline_start", "baseline_storm"),
            "baseline_day": meter.between("baseline_storm", "baseline_end"),
        },
        "timeline": [
            {k: m[k] for k in ("after_s", "recipients", "digest", "attachments")}
            | {"subject": m["subject"][:80]}
            for m in sorted(mails, key=lambda m: m["at"])
        ],
    }
    real = result["real"]
    real["storm_cost_cpu_s"] = round(
        real["total"]["cpu_s"] - real["baseline"]["cpu_s"], 3
    )
    real["alerts_cost_cpu_s"] = round(
        real["storm"]["cpu_s"] - real["baseline_storm"]["cpu_s"], 3
    )
    real["digests_cost_cpu_s"] = round(
        real["day"]["cpu_s"] - real["baseline_day"]["cpu_s"], 3
    )
    if profiles:
        result["profile"] = profiles
    await hass.async_add_executor_job(
        out.write_text, json.dumps(result, indent=2) + "\n", "utf-8"
    )
    assert calls, "no alert was sent"
