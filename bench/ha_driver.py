"""Benchmark driver for this integration: a real Home Assistant instance.

Runs in the project's venv (``python -m bench.ha_driver ...``), as its own
process so that its CPU time and memory are Home Assistant's alone. It builds a
``HomeAssistant`` core object with Home Assistant's own event loop policy and
executor, loads the registries and the core integration the way bootstrap
does, sets ``allowlist_external_dirs``, adds a config entry for ``o365``
against the emulator (``O365_EMULATOR_URL``/``O365_EMULATOR_CA``), and sends
through the ``notify.o365`` action exactly as automations do.

Phases (the emulator's statistics are reset before each):

* ``warmup``: one burst-like alert (not measured);
* ``big``: one alert with the 100 MB file;
* ``burst``: 200 alerts with the JPEG and three To recipients, all fired at once;
* ``signed_in``: after the app-only rounds, a signed-in (delegated) account is
  added the way a person adds one (the config flow's ``sign_in`` step, the
  device code entered on the emulator's behalf), then the same burst is sent
  through it (``data.account``), which sends through ``/me/sendMail``.

It writes one JSON document (``--out``) with everything it measured.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
from functools import partial
import gc
import json
import logging
import os
from pathlib import Path
import sys
import time
from typing import Any, Self

from .common import (
    RECIPIENTS,
    EmulatorClient,
    MemoryWatch,
    check_delivery,
    describe_requests,
    driver_arguments,
    process_cpu,
    summarise_stats,
    write_json,
)
from .loopwatch import LoopWatch

DOMAIN = "o365"
MAILBOX = "alerts@contoso.com"
#: The emulator's default directory (emulator/directory.py).
TENANT_ID = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
CLIENT_ID = "0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11"
CLIENT_SECRET = "emulator-secret?@/%+#&= value"  # noqa: S105 - the emulator's published test secret
#: The emulator's personal Microsoft account (a consumer user) and the public
#: client app it signs in with: ``emulator.directory.DEFAULT_PUBLIC_CLIENT_ID``,
#: copied rather than imported so that the emulator's package (jsonschema reads
#: its schema folder on import) is never loaded into the measured process or
#: on Home Assistant's event loop.
PUBLIC_CLIENT_ID = "7c3e9b52-8d14-4f6a-b0c2-5e1d9a4f3b27"
SIGNED_IN_USER = "casey@outlook.com"
SIGNED_IN_AUTHORITY = "consumers"
#: How long the sign-in may take (the emulator is told to poll every second).
SIGN_IN_TIMEOUT = 60.0

_LOGGER = logging.getLogger("bench.ha_driver")
WATCH = LoopWatch()


def _malloc_trim() -> None:
    """Give freed heap memory back to the OS (glibc), for a clean RSS baseline."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


async def start_home_assistant(config_dir: Path, allowed_dir: Path) -> Any:
    """Return a running Home Assistant with core config and registries loaded."""
    from aiohttp.resolver import ThreadedResolver  # noqa: PLC0415
    from homeassistant import block_async_io, bootstrap, loader  # noqa: PLC0415
    from homeassistant.config_entries import ConfigEntries  # noqa: PLC0415
    from homeassistant.core import HomeAssistant  # noqa: PLC0415
    from homeassistant.core_config import async_process_ha_core_config  # noqa: PLC0415
    from homeassistant.helpers import aiohttp_client  # noqa: PLC0415
    from homeassistant.setup import async_setup_component  # noqa: PLC0415

    # Home Assistant's sessions resolve names through zeroconf (mDNS), which
    # would need the network integration and send multicast on the LAN. The
    # emulator is addressed by IP, so nothing is ever resolved: use aiohttp's
    # plain resolver, as Home Assistant's own test harness does.
    aiohttp_client._async_make_resolver = lambda hass: ThreadedResolver()  # type: ignore[assignment,return-value]  # noqa: SLF001

    # Home Assistant imports custom integrations from the config folder.
    sys.path.insert(0, str(config_dir))
    config: dict[str, Any] = {"homeassistant": {}, DOMAIN: None}
    hass = HomeAssistant(str(config_dir))
    loader.async_setup(hass)
    hass.config.skip_pip = True
    # As in Home Assistant proper: blocking I/O on the event loop is reported.
    block_async_io.enable()
    hass.config_entries = ConfigEntries(hass, config)
    await loader.async_get_custom_components(hass)
    await bootstrap.async_load_base_functionality(hass)
    # The core integrations, plus ``network``, which every real instance has
    # (a default integration) and Home Assistant's aiohttp sessions rely on.
    for domain in sorted(bootstrap.CORE_INTEGRATIONS):
        if not await async_setup_component(hass, domain, config):
            raise RuntimeError(f"Home Assistant could not set up {domain}")
    await async_process_ha_core_config(
        hass,
        {
            "name": "Benchmark",
            "time_zone": "UTC",
            "unit_system": "metric",
            "allowlist_external_dirs": [str(allowed_dir)],
        },
    )
    config.pop(DOMAIN)
    if not await async_setup_component(hass, DOMAIN, config):
        raise RuntimeError("Home Assistant could not set up o365")
    await hass.async_start()
    return hass


async def add_account(hass: Any) -> Any:
    """Add the o365 config entry (as the config flow would create it)."""
    from homeassistant.config_entries import (  # noqa: PLC0415
        SOURCE_USER,
        ConfigEntry,
        ConfigEntryState,
    )

    entry = ConfigEntry(
        domain=DOMAIN,
        title=MAILBOX,
        data={
            "auth_type": "app",
            "source": MAILBOX,
            "tenant_id": TENANT_ID,
            "client_id": CLIENT_ID,
            "client_secret": CLIENT_SECRET,
            "cloud": "global",
        },
        # The 100 MB alert needs the size limit raised (Exchange allows up to
        # 150 MB when the admin raises the tenant limit; the emulator's tenant
        # limit is raised to match by the runner).
        options={"max_message_size_mb": 150},
        source=SOURCE_USER,
        unique_id=f"{TENANT_ID}:{MAILBOX}",
        version=1,
        minor_version=1,
        discovery_keys={},  # type: ignore[arg-type]
        subentries_data=None,
    )
    await hass.config_entries.async_add(entry)
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"the o365 entry did not load: {entry.state}")
    if not hass.services.has_service("notify", DOMAIN):
        raise RuntimeError("notify.o365 is not registered")
    return entry


class Phase:
    """Measures one block: wall and CPU time, memory, loop stalls, emulator work.

    Blocking work of the measurement itself (the emulator's control API,
    ``/proc`` reads) runs in the executor, outside the measured window where
    possible, so Home Assistant's blocking-I/O detector stays quiet.
    """

    def __init__(
        self, hass: Any, name: str, emulator: EmulatorClient, *, sample: bool
    ) -> None:
        """Prepare to measure phase ``name``."""
        self.hass = hass
        self.name = name
        self.emulator = emulator
        self.memory = MemoryWatch(interval=0.005 if sample else 0.05)
        self.result: dict[str, Any] = {"phase": name}

    def _prepare(self) -> float:
        self.emulator.reset()
        gc.collect()
        _malloc_trim()
        self.memory.start()
        return self.emulator.cpu()

    async def __aenter__(self) -> Self:
        """Reset the emulator, settle memory, start every measurement."""
        self._emulator_cpu = await self.hass.async_add_executor_job(self._prepare)
        self._loop_thread_cpu = time.thread_time()
        self._cpu = process_cpu()
        WATCH.begin()
        self._wall = time.perf_counter()
        return self

    def _finish(self) -> tuple[float, dict[str, Any]]:
        emulator_cpu = self.emulator.cpu() - self._emulator_cpu
        self.memory.stop()
        return emulator_cpu, self.emulator.stats()

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop measuring and collect the figures."""
        wall = time.perf_counter() - self._wall
        stalls = WATCH.end()
        cpu = process_cpu() - self._cpu
        loop_thread_cpu = time.thread_time() - self._loop_thread_cpu
        emulator_cpu, stats = await self.hass.async_add_executor_job(self._finish)
        self.result.update(
            {
                "wall_s": wall,
                "cpu_s": cpu - self.memory.sampler_cpu,
                "cpu_raw_s": cpu,
                "loop_thread_cpu_s": loop_thread_cpu,
                "emulator_cpu_s": emulator_cpu,
                "memory": self.memory.to_json(),
                "stalls": stalls.to_json(),
                "emulator": summarise_stats(stats),
                "requests_log": describe_requests(stats),
            }
        )


async def _notify(hass: Any, data: dict[str, Any]) -> float:
    """Call notify.o365 and return how long the call took."""
    start = time.perf_counter()
    await hass.services.async_call("notify", DOMAIN, data, blocking=True)
    return time.perf_counter() - start


def _alert(
    index: int, jpeg: str, recipients: list[str], account: str | None = None
) -> dict[str, Any]:
    data: dict[str, Any] = {"attachments": [jpeg]}
    if account is not None:
        data["account"] = account
    return {
        "title": f"Motion at the front door #{index}",
        "message": f"Motion detected at the front door (alert {index}).",
        "target": recipients,
        "data": data,
    }


async def _burst(
    hass: Any,
    emulator: EmulatorClient,
    numbers: range,
    jpeg: dict[str, Any],
    *,
    account: str | None = None,
    name: str = "burst",
) -> dict[str, Any]:
    """Fire one notify.o365 call per number at once; return the measured round.

    ``account`` is ``data.account`` (None: the first account, the app-only one).
    """
    events: dict[str, int] = {}

    def count(event: Any) -> None:
        name = str(event.event_type)
        events[name] = events.get(name, 0) + 1

    unsubscribe = [
        hass.bus.async_listen(name, count)
        for name in ("o365_message_sent", "o365_message_queued", "o365_message_dropped")
    ]
    recipients = list(RECIPIENTS)
    async with Phase(hass, name, emulator, sample=False) as phase:
        outcomes = await asyncio.gather(
            *(
                _notify(hass, _alert(i, jpeg["path"], recipients, account))
                for i in numbers
            ),
            return_exceptions=True,
        )
    for stop in unsubscribe:
        stop()
    latencies = sorted(o for o in outcomes if isinstance(o, float))
    errors = [
        f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)
    ]
    phase.result["errors"] = errors[:5]
    phase.result["failed_calls"] = len(errors)
    phase.result["latency_s"] = {
        "p50": latencies[len(latencies) // 2] if latencies else None,
        "p95": latencies[int(len(latencies) * 0.95)] if latencies else None,
        "max": latencies[-1] if latencies else None,
    }
    phase.result["events"] = events
    phase.result["delivery"] = check_delivery(
        await hass.async_add_executor_job(emulator.messages),
        jpeg["sha256"],
        jpeg["size"],
    )
    return phase.result


async def add_signed_in_account(hass: Any, emulator: EmulatorClient) -> Any:
    """Add a signed-in account as a person does, through the config flow.

    The flow's menu, then the ``sign_in`` form (the emulator's public client
    app, the ``consumers`` authority); the progress step shows the code, which
    the emulator's device login endpoint accepts as Casey would on the device
    login page. When the flow's sign-in task is done the flow moves on (as the
    frontend does, ``async_configure`` once more) and creates the entry.
    """
    from homeassistant.config_entries import ConfigEntryState  # noqa: PLC0415
    from homeassistant.data_entry_flow import FlowResultType  # noqa: PLC0415

    flows = hass.config_entries.flow
    result = await flows.async_init(DOMAIN, context={"source": "user"})
    if result["type"] is not FlowResultType.MENU:
        raise RuntimeError(f"the o365 flow did not start with its menu: {result}")
    flow_id = result["flow_id"]
    result = await flows.async_configure(flow_id, {"next_step_id": "sign_in"})
    if result["type"] is not FlowResultType.FORM or result["step_id"] != "sign_in":
        raise RuntimeError(f"no sign_in form: {result}")
    result = await flows.async_configure(
        flow_id,
        {
            "client_id": PUBLIC_CLIENT_ID,
            "tenant_id": SIGNED_IN_AUTHORITY,
            "cloud": "global",
            "large_attachments": False,
        },
    )
    if result["type"] is not FlowResultType.SHOW_PROGRESS:
        raise RuntimeError(f"the sign_in form did not show a code: {result}")
    placeholders = result.get("description_placeholders") or {}
    code = placeholders["code"]
    login = await hass.async_add_executor_job(
        emulator.device_login, code, SIGNED_IN_USER
    )
    if login.get("error"):
        raise RuntimeError(f"the emulator refused the sign-in: {login}")

    # The flow polls the token endpoint; when its task ends Home Assistant
    # moves it to "progress done" (its step becomes the next one).
    deadline = time.monotonic() + SIGN_IN_TIMEOUT
    while flows.async_get(flow_id)["step_id"] == "sign_in_code":
        if time.monotonic() > deadline:
            raise RuntimeError("the sign-in did not finish within a minute")
        await asyncio.sleep(0.05)
    result = await flows.async_configure(flow_id)
    if result["type"] is not FlowResultType.CREATE_ENTRY:
        raise RuntimeError(f"the sign-in did not create an entry: {result}")
    entry = result["result"]
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"the signed-in o365 entry did not load: {entry.state}")
    return entry


def _client_counters(entry: Any) -> dict[str, Any]:
    """Return the integration's own counters of an entry's Graph client."""
    connection = entry.runtime_data.account.connection
    client_stats = connection.client.stats
    return {
        "graph_requests": client_stats.requests,
        "retries": client_stats.retries,
        "throttled": client_stats.throttled,
        "token_refreshes": client_stats.token_refreshes,
        "tokens_fetched": connection.tokens.tokens_fetched,
        "last_errors": [repr(e) for e in client_stats.last_errors],
    }


async def run_signed_in(
    hass: Any, emulator: EmulatorClient, jpeg: dict[str, Any], alerts: int, first: int
) -> dict[str, Any]:
    """Add the signed-in account, then send the burst through it."""
    blocking = hass.async_add_executor_job
    # Device codes are polled every 5 s by default; the sign-in is not measured.
    await blocking(partial(emulator.update_settings, device_code_interval=1))
    await blocking(emulator.reset)
    started = time.perf_counter()
    entry = await add_signed_in_account(hass, emulator)
    seconds = time.perf_counter() - started
    stats = await blocking(emulator.stats)
    result: dict[str, Any] = {
        "account": entry.title,
        "auth_type": entry.data.get("auth_type"),
        "setup": {
            "seconds": seconds,
            "emulator": summarise_stats(stats),
            "requests_log": describe_requests(stats),
        },
    }
    # The same burst as the app-only rounds, through the signed-in account.
    # Phase resets the emulator's statistics first (and its sign-ins: the
    # account's access token, fetched at setup, stays valid).
    result["burst"] = await _burst(
        hass,
        emulator,
        range(first, first + alerts),
        jpeg,
        account=SIGNED_IN_USER,
        name="signed_in_burst",
    )
    result["integration"] = _client_counters(entry)
    return result


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up Home Assistant and run the phases."""
    manifest = args.manifest_data
    jpeg, big = manifest["jpeg"], manifest["big"]
    emulator = EmulatorClient(args.emulator_url, args.ca, args.emulator_pid)
    config_dir: Path = args.config_dir
    result: dict[str, Any] = {"sender": "ours", "alerts": args.alerts}

    started = time.perf_counter()
    hass = await start_home_assistant(config_dir, Path(jpeg["path"]).parent)
    blocking = hass.async_add_executor_job
    await blocking(emulator.reset)
    entry = await add_account(hass)
    result["setup"] = {
        "seconds": time.perf_counter() - started,
        "emulator": summarise_stats(await blocking(emulator.stats)),
    }
    from homeassistant.core import Event  # noqa: PLC0415

    events: dict[str, int] = {}

    def count(event: Event) -> None:
        name = str(event.event_type)
        events[name] = events.get(name, 0) + 1

    for name in ("o365_message_sent", "o365_message_queued", "o365_message_dropped"):
        hass.bus.async_listen(name, count)
    recipients = list(RECIPIENTS)

    # Warm-up: one alert like the burst's (connections, lazy imports).
    await blocking(emulator.reset)
    await _notify(hass, _alert(0, jpeg["path"], recipients))
    result["warmup"] = summarise_stats(await blocking(emulator.stats))

    # Phase 2 first, from a clean heap: one 100 MB attachment.
    events.clear()
    async with Phase(hass, "big", emulator, sample=True) as phase:
        error = None
        try:
            await _notify(
                hass,
                {
                    "title": "Front door recording",
                    "message": "The recording is attached.",
                    "target": [recipients[0]],
                    "data": {"attachments": [big["path"]]},
                },
            )
        except Exception as err:  # noqa: BLE001 - recorded, not fatal
            error = f"{type(err).__name__}: {err}"
    phase.result["error"] = error
    phase.result["events"] = dict(events)
    phase.result["delivery"] = check_delivery(
        await blocking(emulator.messages), big["sha256"], big["size"]
    )
    result["big"] = phase.result

    # Phase 1: the burst, every call fired at once as automations would.
    # Repeated ``--rounds`` times (the machine may be shared): the median round
    # by wall time is reported, the others are kept.
    rounds = []
    for round_number in range(args.rounds):
        first = 1 + round_number * args.alerts
        rounds.append(
            await _burst(hass, emulator, range(first, first + args.alerts), jpeg)
        )
    result["burst_rounds"] = rounds
    result["burst"] = sorted(rounds, key=lambda r: r["wall_s"])[len(rounds) // 2]

    result["integration"] = _client_counters(entry)
    result["tokens_total"] = (
        result["setup"]["emulator"]["token_requests"]
        + result["warmup"]["token_requests"]
        + result["big"]["emulator"]["token_requests"]
        + sum(r["emulator"]["token_requests"] for r in rounds)
    )

    # Then a signed-in account (after every app-only figure is taken).
    result["signed_in"] = await run_signed_in(
        hass, emulator, jpeg, args.alerts, 1 + args.rounds * args.alerts
    )
    await hass.async_stop()
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the driver and write its JSON."""
    parser = driver_arguments(__doc__)
    parser.add_argument("--config-dir", required=True)
    parser.add_argument("--rounds", type=int, default=3, help="bursts to run")
    args = parser.parse_args(argv)
    args.manifest_data = json.loads(Path(args.manifest).read_text())
    args.config_dir = Path(args.config_dir).resolve()
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    os.environ["O365_EMULATOR_URL"] = args.emulator_url
    os.environ["O365_EMULATOR_CA"] = args.ca

    from homeassistant.runner import HassEventLoopPolicy  # noqa: PLC0415

    WATCH.install()
    policy = HassEventLoopPolicy(debug=False)
    asyncio.set_event_loop_policy(policy)
    loop = policy.new_event_loop()
    asyncio.set_event_loop(loop)
    try:
        result = loop.run_until_complete(run(args))
        loop.run_until_complete(
            loop.run_in_executor(None, write_json, Path(args.out), result)
        )
    finally:
        loop.run_until_complete(loop.shutdown_default_executor())
        loop.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
