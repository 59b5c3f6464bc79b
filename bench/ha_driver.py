"""Benchmark driver for this integration: a real Home Assistant instance.

Runs in the project's venv (``python -m bench.ha_driver ...``), as its own
process so that its CPU time and memory are Home Assistant's alone. It builds a
``HomeAssistant`` core object with Home Assistant's own event loop policy and
executor, loads the registries and the core integration the way bootstrap
does, sets ``allowlist_external_dirs``, adds a config entry for ``o365``
against the emulator (``O365_EMULATOR_URL``/``O365_EMULATOR_CA``), and sends
through the ``notify.o365`` action exactly as automations do.

The same Home Assistant also has Home Assistant's own ``smtp`` notify platform
(the peer users would pick instead), configured in ``configuration.yaml`` form
before ``o365`` is set up: the benchmark's SMTP server on ``127.0.0.1``
(``bench.smtp_server``), ``encryption: starttls``, ``verify_ssl`` left on (the
run's CA is trusted through ``REQUESTS_CA_BUNDLE``, see ``bench.tls``). Its
alerts go through its legacy action, ``notify.<name>``, with the same title,
message, three ``target`` addresses and the same JPEG (``data.images``): one
message with three To, as ours.

Phases (the receiver's statistics are reset before each):

* ``warmup``: one burst-like alert from every account of ours and one
  through smtp (not measured);
* ``latency``: single alerts, one at a time, ``LATENCY_ALERTS`` per sender, from
  the action call to the receiver's receipt of the message's last byte (no
  camera: the "snapshot" is the JPEG file, read at each alert);
* ``big``: one alert with the 100 MB file (ours);
* ``burst``: 200 alerts with the JPEG and three To recipients, all fired at
  once; ``--rounds`` rounds, ours and smtp alternating;
* ``signed_in``: after the app-only rounds, a signed-in (delegated) account is
  added the way a person adds one (the config flow's ``sign_in`` step, the
  device code entered on the emulator's behalf), its *Recipients per 24
  hours* set to 10,000 through its options flow, then the same burst is sent
  through it (``data.account``), which sends through ``/me/sendMail``;
* ``profile`` (unless ``--no-profile``): three more bursts of ours, never
  measured ones: one under a CPU sampler, one under cProfile (call counts),
  one under tracemalloc (``bench.profiling``).

Every phase of ours sends from a mailbox of its own (``bench_mailboxes``: one
app-only config entry each, all set up first), so each starts with a fresh
sending budget: the integration holds alerts for a digest once a mailbox's
last hour passes twice the even pace of its daily budget (834 recipients for
10,000 a day), so a second 600-recipient burst within the hour from one
mailbox is an alert storm, held on purpose. Each phase checks that none was
(``held_check``: one ``o365_message_sent`` per alert, no digest, and the
emulator's per-mailbox recipient count equal to what was sent).

It writes one JSON document (``--out``) with everything it measured.
"""

from __future__ import annotations

import argparse
import asyncio
from dataclasses import dataclass
from functools import partial
import json
import logging
import os
from pathlib import Path
import socket
import subprocess
import sys
import time
from typing import Any, Self

from .common import (
    LATENCY_PAUSE_S,
    RECIPIENTS,
    ROOT,
    EmulatorClient,
    MemoryWatch,
    SmtpSinkClient,
    bench_mailboxes,
    body_arrivals,
    check_delivery,
    check_smtp_delivery,
    describe_requests,
    driver_arguments,
    latency_summary,
    monotonic_ns,
    process_cpu,
    read_body_log,
    settle_memory,
    summarise_stats,
    write_json,
)
from .loopwatch import LoopWatch
from .profiling import json_costs, profile_calls, profile_cpu, profile_memory

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

#: The smtp notify platform's name: its action is ``notify.<name>``.
SMTP_NAME = "smtp_bench"
#: How long the smtp platform may take to register its action.
SMTP_SETUP_TIMEOUT = 30.0

_LOGGER = logging.getLogger("bench.ha_driver")
WATCH = LoopWatch()
#: The integration's events the phases count.
EVENTS = (
    "o365_message_sent",
    "o365_message_queued",
    "o365_message_dropped",
    "o365_digest_sent",
)
#: The option *Recipients per 24 hours*, and what the signed-in account gets.
DAILY_RECIPIENT_LIMIT = "daily_recipient_limit"
SIGNED_IN_DAILY_LIMIT = 10_000
#: Recipients of every alert of ours (the three To of ``RECIPIENTS``).
RECIPIENTS_PER_ALERT = len(RECIPIENTS)


def smtp_platform_config(port: int) -> dict[str, Any]:
    """Return the smtp notify platform's configuration, as in configuration.yaml.

    ``verify_ssl`` is left at its default (on); ``recipient`` holds the bare
    addresses (the schema wants plain e-mail addresses) and each alert's
    ``target`` names the same three as ours, display name included.
    """
    return {
        "platform": "smtp",
        "name": SMTP_NAME,
        "server": "127.0.0.1",
        "port": port,
        "encryption": "starttls",
        "sender": MAILBOX,
        "sender_name": "Home Assistant",
        "recipient": [r.rpartition("<")[2].rstrip(">") for r in RECIPIENTS],
        "timeout": 30,
    }


async def start_home_assistant(
    config_dir: Path, allowed_dir: Path, smtp_port: int | None
) -> Any:
    """Return a running Home Assistant with core config and registries loaded.

    With ``smtp_port``, ``notify`` is set up first with the smtp platform (a
    component's configuration is read once, when it is set up).
    """
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
    # Home Assistant's HTTP server (repairs and notify need it) on a free
    # loopback port: never 8123, which a running scripts/develop may hold.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        http_port = probe.getsockname()[1]
    config: dict[str, Any] = {
        "homeassistant": {},
        "http": {"server_host": ["127.0.0.1"], "server_port": http_port},
        DOMAIN: None,
    }
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
    if smtp_port is not None:
        config["notify"] = [smtp_platform_config(smtp_port)]
        if not await async_setup_component(hass, "notify", config):
            raise RuntimeError("Home Assistant could not set up notify (smtp)")
    if not await async_setup_component(hass, DOMAIN, config):
        raise RuntimeError("Home Assistant could not set up o365")
    await hass.async_start()
    return hass


async def smtp_service(hass: Any) -> str:
    """Wait for the smtp platform's action; return its name (``smtp_bench``).

    Up to Home Assistant 2026.x's config entries for smtp, the platform
    registers ``notify.smtp_bench`` itself; where the YAML is imported into a
    config entry first, the action comes when that entry is set up. Either way
    it is the legacy action with ``target`` and ``data.images``.
    """
    deadline = time.monotonic() + SMTP_SETUP_TIMEOUT
    while time.monotonic() < deadline:
        await hass.async_block_till_done()
        if hass.services.has_service("notify", SMTP_NAME):
            return SMTP_NAME
        names = hass.services.async_services_for_domain("notify")
        smtp = sorted(name for name in names if "smtp" in name)
        if smtp:
            return smtp[0]
        await asyncio.sleep(0.1)
    raise RuntimeError(
        "the smtp notify action did not appear; see the log (certificate "
        "trust, the SMTP server, or the platform's requirements)"
    )


async def add_account(hass: Any, mailbox: str = MAILBOX) -> Any:
    """Add an app-only o365 config entry for ``mailbox`` (as the config flow would).

    Every measured phase of ours has its own (``bench_mailboxes``): each
    account has its own sending budget, so each phase starts with a fresh one.
    """
    from homeassistant.config_entries import (  # noqa: PLC0415
        SOURCE_USER,
        ConfigEntry,
        ConfigEntryState,
    )

    entry = ConfigEntry(
        domain=DOMAIN,
        title=mailbox,
        data={
            "auth_type": "app",
            "source": mailbox,
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
        unique_id=f"{TENANT_ID}:{mailbox}",
        version=1,
        minor_version=1,
        discovery_keys={},  # type: ignore[arg-type]
        subentries_data=None,
    )
    await hass.config_entries.async_add(entry)
    await hass.async_block_till_done()
    if entry.state is not ConfigEntryState.LOADED:
        raise RuntimeError(f"the o365 entry for {mailbox} did not load: {entry.state}")
    if not hass.services.has_service("notify", DOMAIN):
        raise RuntimeError("notify.o365 is not registered")
    return entry


async def set_daily_recipient_limit(hass: Any, entry: Any, limit: int) -> None:
    """Set an account's *Recipients per 24 hours* through its options flow.

    As a person does: the options form, with only that field changed (the
    others keep their defaults). The integration applies new options at once.
    """
    from homeassistant.data_entry_flow import FlowResultType  # noqa: PLC0415

    options = hass.config_entries.options
    result = await options.async_init(entry.entry_id)
    if result["type"] is not FlowResultType.FORM:
        raise RuntimeError(f"the options flow did not show its form: {result}")
    result = await options.async_configure(
        result["flow_id"], {DAILY_RECIPIENT_LIMIT: limit}
    )
    if result["type"] is not FlowResultType.CREATE_ENTRY:
        raise RuntimeError(f"the options flow refused {limit}: {result}")
    await hass.async_block_till_done()
    if entry.options.get(DAILY_RECIPIENT_LIMIT) != limit:
        raise RuntimeError(f"the option did not stick: {dict(entry.options)}")


class EventCount:
    """Counts the integration's events while a block runs (per event type).

    ``o365_message_sent`` for each message that left (an alert on its own, or
    a digest), ``o365_digest_sent`` for each digest, ``o365_message_queued``
    and ``o365_message_dropped``; a held alert fires none until its digest.
    """

    def __init__(self, hass: Any) -> None:
        """Count on ``hass``'s bus (``with``)."""
        self.hass = hass
        self.counts: dict[str, int] = {}
        self.accounts: dict[str, int] = {}
        self._unsubscribe: list[Any] = []

    def _count(self, event: Any) -> None:
        name = str(event.event_type)
        self.counts[name] = self.counts.get(name, 0) + 1
        if name == "o365_message_sent":
            account = str(event.data.get("account", "?")).casefold()
            self.accounts[account] = self.accounts.get(account, 0) + 1

    def __enter__(self) -> Self:
        """Start counting."""
        from homeassistant.core import callback  # noqa: PLC0415

        # A callback, run on the event loop: Home Assistant runs any other
        # listener in its executor, a thread hop per alert that would be
        # charged to ours.
        @callback
        def count(event: Any) -> None:
            self._count(event)

        self._unsubscribe = [self.hass.bus.async_listen(name, count) for name in EVENTS]
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop counting."""
        for stop in self._unsubscribe:
            stop()
        self._unsubscribe = []


def held_check(
    phase: dict[str, Any], mailbox: str, alerts: int, recipients: int
) -> dict[str, Any]:
    """Check that no alert of a phase was held for a digest (or queued).

    ``phase`` carries ``events`` (:class:`EventCount`) and the emulator's
    ``recipients_counted`` per mailbox since its reset. Every alert must have
    gone on its own: one ``o365_message_sent`` each from ``mailbox``, no digest,
    nothing queued or dropped, and the emulator counted exactly
    ``alerts x recipients`` for the mailbox.
    """
    events = phase.get("events") or {}
    by_account = phase.get("sent_by_account") or {}
    counted = (phase.get("recipients_counted") or {}).get(mailbox.casefold(), 0)
    sent = by_account.get(mailbox.casefold(), 0)
    expected = alerts * recipients
    problems = []
    if sent != alerts:
        problems.append(f"{sent} of {alerts} alerts sent on their own")
    if counted != expected:
        problems.append(f"the emulator counted {counted} recipients, not {expected}")
    problems.extend(
        f"{events[name]} {name}"
        for name in ("o365_digest_sent", "o365_message_queued", "o365_message_dropped")
        if events.get(name)
    )
    if phase.get("limit_crossings"):
        problems.append(f"{phase['limit_crossings']} limit crossing(s)")
    return {
        "mailbox": mailbox,
        "alerts": alerts,
        "sent": sent,
        "recipients_counted": counted,
        "recipients_expected": expected,
        "ok": not problems,
        "problems": problems,
    }


class Phase:
    """Measures one block: wall and CPU time, memory, loop stalls, receiver work.

    ``receiver`` is the emulator (ours) or the SMTP server (smtp): it is reset
    before the block and its CPU time and statistics are read after it.
    Blocking work of the measurement itself (control requests, ``/proc`` reads)
    runs in the executor, outside the measured window where possible, so Home
    Assistant's blocking-I/O detector stays quiet. Memory is settled the same
    way for every sender (``gc.collect()``, ``malloc_trim(0)``). Stalls are
    watched unless ``watch`` is false (the bursts whose CPU is reported: the
    watch's clock reads are the benchmark's cost, not a sender's).
    """

    def __init__(
        self, hass: Any, name: str, receiver: Any, *, sample: bool, watch: bool = True
    ) -> None:
        """Prepare to measure phase ``name``."""
        self.hass = hass
        self.name = name
        self.watch = watch
        self.receiver = receiver
        self.memory = MemoryWatch(interval=0.005 if sample else 0.05)
        self.result: dict[str, Any] = {"phase": name}

    def _prepare(self) -> float:
        self.receiver.reset()
        settle_memory()
        self.memory.start()
        cpu: float = self.receiver.cpu()
        return cpu

    async def __aenter__(self) -> Self:
        """Reset the receiver, settle memory, start every measurement."""
        self._receiver_cpu = await self.hass.async_add_executor_job(self._prepare)
        self._loop_thread_cpu = time.thread_time()
        self._cpu = process_cpu()
        if self.watch:
            WATCH.begin()
        self._wall = time.perf_counter()
        return self

    def _finish(self) -> tuple[float, dict[str, Any]]:
        receiver_cpu = self.receiver.cpu() - self._receiver_cpu
        self.memory.stop()
        return receiver_cpu, self.receiver.collect()

    async def __aexit__(self, *exc_info: object) -> None:
        """Stop measuring and collect the figures."""
        wall = time.perf_counter() - self._wall
        stalls = WATCH.end().to_json() if self.watch else None
        cpu = process_cpu() - self._cpu
        loop_thread_cpu = time.thread_time() - self._loop_thread_cpu
        receiver_cpu, collected = await self.hass.async_add_executor_job(self._finish)
        self.result.update(
            {
                "wall_s": wall,
                "cpu_s": cpu - self.memory.sampler_cpu,
                "cpu_raw_s": cpu,
                "loop_thread_cpu_s": loop_thread_cpu,
                "receiver_cpu_s": receiver_cpu,
                "memory": self.memory.to_json(),
                "stalls": stalls,
                **collected,
            }
        )


@dataclass
class Sender:
    """One way to send the alert from Home Assistant: ours, or smtp."""

    name: str
    service: str
    receiver: Any
    attachment_key: str

    def alert(
        self, index: int, jpeg: str, recipients: list[str], account: str | None = None
    ) -> dict[str, Any]:
        """Return the action data of alert ``index`` (same text for both)."""
        data: dict[str, Any] = {self.attachment_key: [jpeg]}
        if account is not None:
            data["account"] = account
        return {
            "title": f"Motion at the front door #{index}",
            "message": f"Motion detected at the front door (alert {index}).",
            "target": recipients,
            "data": data,
        }

    async def call(self, hass: Any, data: dict[str, Any]) -> float:
        """Call the action (blocking) and return how long the call took."""
        start = time.perf_counter()
        await hass.services.async_call("notify", self.service, data, blocking=True)
        return time.perf_counter() - start

    def delivery(self, jpeg: dict[str, Any]) -> dict[str, Any]:
        """Count what the receiver got since its reset (blocking)."""
        if isinstance(self.receiver, SmtpSinkClient):
            stats = self.receiver.stats()
            return check_smtp_delivery(stats, jpeg["sha256"], jpeg["size"])
        return check_delivery(self.receiver.messages(), jpeg["sha256"], jpeg["size"])


async def _notify(hass: Any, data: dict[str, Any]) -> float:
    """Call notify.o365 and return how long the call took."""
    start = time.perf_counter()
    await hass.services.async_call("notify", DOMAIN, data, blocking=True)
    return time.perf_counter() - start


async def _fire(
    hass: Any,
    sender: Sender,
    numbers: range,
    jpeg: dict[str, Any],
    account: str | None = None,
) -> list[float | BaseException]:
    """Fire one action call per number, all at once, as automations would."""
    recipients = list(RECIPIENTS)
    return await asyncio.gather(
        *(
            sender.call(hass, sender.alert(i, jpeg["path"], recipients, account))
            for i in numbers
        ),
        return_exceptions=True,
    )


async def _burst(
    hass: Any,
    sender: Sender,
    numbers: range,
    jpeg: dict[str, Any],
    *,
    account: str | None = None,
    name: str = "burst",
    watch: bool = False,
) -> dict[str, Any]:
    """Fire one action call per number at once; return the measured round.

    ``account`` is ``data.account``, the mailbox that sends (ours; None for
    smtp). For ours the round records whether any alert was held
    (:func:`held_check`).
    """
    with EventCount(hass) as events:
        async with Phase(
            hass, name, sender.receiver, sample=False, watch=watch
        ) as phase:
            outcomes = await _fire(hass, sender, numbers, jpeg, account)
    latencies = sorted(o for o in outcomes if isinstance(o, float))
    errors = [
        f"{type(o).__name__}: {o}" for o in outcomes if isinstance(o, BaseException)
    ]
    phase.result["sender"] = sender.name
    phase.result["errors"] = errors[:5]
    phase.result["failed_calls"] = len(errors)
    phase.result["latency_s"] = {
        "p50": latencies[len(latencies) // 2] if latencies else None,
        "p95": latencies[int(len(latencies) * 0.95)] if latencies else None,
        "max": latencies[-1] if latencies else None,
    }
    phase.result["events"] = events.counts
    phase.result["sent_by_account"] = events.accounts
    phase.result["delivery"] = await hass.async_add_executor_job(sender.delivery, jpeg)
    if account is not None:
        phase.result["mailbox"] = account
        phase.result["held_check"] = held_check(
            phase.result, account, len(numbers), RECIPIENTS_PER_ALERT
        )
    return phase.result


async def single_alerts(
    hass: Any,
    sender: Sender,
    numbers: range,
    jpeg: dict[str, Any],
    bodies_log: str,
    account: str | None = None,
) -> dict[str, Any]:
    """Send alerts one at a time; time each to its last byte at the receiver.

    Before each alert the driver sleeps ``LATENCY_PAUSE_S`` (an idle system);
    the clock starts just before the action is called (its data built) and
    stops when the receiver got the message's last byte: the emulator
    probe's log (ours), the SMTP server's stamp at the end of ``DATA`` (smtp).
    """
    blocking = hass.async_add_executor_job
    await blocking(sender.receiver.reset)
    recipients = list(RECIPIENTS)
    windows: list[tuple[int, int]] = []
    subjects: list[str] = []
    errors: list[str] = []
    with EventCount(hass) as events:
        for index in numbers:
            data = sender.alert(index, jpeg["path"], recipients, account)
            await asyncio.sleep(LATENCY_PAUSE_S)
            started = monotonic_ns()
            try:
                await hass.services.async_call(
                    "notify", sender.service, data, blocking=True
                )
            except Exception as err:  # noqa: BLE001 - counted, not fatal
                errors.append(f"{type(err).__name__}: {err}")
            windows.append((started, monotonic_ns()))
            subjects.append(data["title"])
    if isinstance(sender.receiver, SmtpSinkClient):
        stats = await blocking(sender.receiver.stats)
        arrived = {m["subject"]: m["arrived_ns"] for m in stats["messages"]}
        arrivals: list[int | None] = [arrived.get(s) for s in subjects]
    else:
        log = await blocking(read_body_log, bodies_log, windows[0][0])
        arrivals = body_arrivals(windows, log, min_bytes=jpeg["size"])
    to_last_byte = [
        (arrival - start) / 1e9
        for (start, _), arrival in zip(windows, arrivals, strict=True)
        if arrival is not None
    ]
    result: dict[str, Any] = {
        "sender": sender.name,
        "alerts": len(numbers),
        "pause_s": LATENCY_PAUSE_S,
        "to_last_byte": latency_summary(to_last_byte),
        "action_call": latency_summary([(e - s) / 1e9 for s, e in windows]),
        "unmatched": sum(1 for a in arrivals if a is None),
        "failed_calls": len(errors),
        "errors": errors[:3],
    }
    if account is not None and isinstance(sender.receiver, EmulatorClient):
        limits = await blocking(sender.receiver.limits)
        result.update(
            {
                "mailbox": account,
                "events": events.counts,
                "sent_by_account": events.accounts,
                "recipients_counted": limits.get("recipients") or {},
                "limit_crossings": len(limits.get("crossings") or []),
            }
        )
        result["held_check"] = held_check(
            result, account, len(numbers), RECIPIENTS_PER_ALERT
        )
    return result


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


async def account_report(hass: Any, entry: Any) -> dict[str, Any]:
    """Return an account's own counters and budget, as its diagnostics show them.

    Read through the integration's diagnostics (what a user downloads), after
    the measured phases; the benchmark's figures come from the emulator, so
    when the diagnostics change shape the counters are reported unavailable.
    """
    try:
        from custom_components.o365.diagnostics import (  # noqa: PLC0415
            async_get_config_entry_diagnostics,
        )

        diagnostics = await async_get_config_entry_diagnostics(hass, entry)
        counters = dict(diagnostics["counters"])
        budget = dict(diagnostics["budget"])
        token = diagnostics.get("token") or {}
        outbox = diagnostics.get("outbox") or {}
    except (ImportError, KeyError, AttributeError, TypeError) as err:
        return {"unavailable": f"{type(err).__name__}: {err}"}
    report: dict[str, Any] = {
        "mailbox": entry.title,
        "counters": counters,
        "tokens_fetched": token.get("fetched"),
        "budget": budget,
        "outbox_messages": outbox.get("messages"),
        "outbox_held": outbox.get("held_for_digest"),
    }
    # The pace alerts may keep on their own (recipients an hour): read, not
    # recomputed, so that a change in the product shows here.
    allowance = getattr(
        getattr(entry.runtime_data, "budget", None), "hourly_allowance", None
    )
    if isinstance(allowance, int):
        report["budget"]["hourly_allowance"] = allowance
    return report


async def run_signed_in(
    hass: Any, ours: Sender, jpeg: dict[str, Any], alerts: int, numbers: Any
) -> dict[str, Any]:
    """Add the signed-in account, give it a budget of 10,000, send the burst through it.

    An Outlook.com account's budget is 300 recipients a day by default; the
    burst (600 recipients) would be a storm, held for a digest on purpose
    (the storm row measures that). Here the account's *Recipients per 24
    hours* is set to 10,000 through its options flow, and the emulator's
    limit for personal accounts is raised to match, so that the burst
    measures the ``/me/sendMail`` pipeline.
    """
    emulator: EmulatorClient = ours.receiver
    blocking = hass.async_add_executor_job
    # Device codes are polled every 5 s by default; the sign-in is not measured.
    await blocking(
        partial(
            emulator.update_settings,
            device_code_interval=1,
            daily_recipient_limit_personal=SIGNED_IN_DAILY_LIMIT,
        )
    )
    await blocking(emulator.reset)
    started = time.perf_counter()
    entry = await add_signed_in_account(hass, emulator)
    seconds = time.perf_counter() - started
    stats = await blocking(emulator.stats)
    await set_daily_recipient_limit(hass, entry, SIGNED_IN_DAILY_LIMIT)
    result: dict[str, Any] = {
        "account": entry.title,
        "auth_type": entry.data.get("auth_type"),
        "daily_recipient_limit": entry.options.get(DAILY_RECIPIENT_LIMIT),
        "emulator_personal_limit": SIGNED_IN_DAILY_LIMIT,
        "setup": {
            "seconds": seconds,
            "emulator": summarise_stats(stats),
            "requests_log": describe_requests(stats),
        },
    }
    # One unmeasured warm-up alert, as every account of ours sends.
    await blocking(emulator.reset)
    await ours.call(hass, ours.alert(0, jpeg["path"], list(RECIPIENTS), SIGNED_IN_USER))
    result["warmup"] = summarise_stats(await blocking(emulator.stats))
    # The same burst as the app-only rounds, through the signed-in account.
    # Phase resets the emulator's statistics first (and its sign-ins: the
    # account's access token, fetched at setup, stays valid).
    result["burst"] = await _burst(
        hass,
        ours,
        numbers(alerts),
        jpeg,
        account=SIGNED_IN_USER,
        name="signed_in_burst",
    )
    result["integration"] = await account_report(hass, entry)
    return result


async def _big(
    hass: Any, ours: Sender, big: dict[str, Any], account: str
) -> dict[str, Any]:
    """One alert with the 100 MB file, one To (ours), from a settled heap."""
    with EventCount(hass) as events:
        async with Phase(hass, "big", ours.receiver, sample=True) as phase:
            error = None
            try:
                await _notify(
                    hass,
                    {
                        "title": "Front door recording",
                        "message": "The recording is attached.",
                        "target": [RECIPIENTS[0]],
                        "data": {"attachments": [big["path"]], "account": account},
                    },
                )
            except Exception as err:  # noqa: BLE001 - recorded, not fatal
                error = f"{type(err).__name__}: {err}"
    phase.result["error"] = error
    phase.result["events"] = events.counts
    phase.result["sent_by_account"] = events.accounts
    phase.result["mailbox"] = account
    phase.result["delivery"] = await hass.async_add_executor_job(ours.delivery, big)
    phase.result["held_check"] = held_check(phase.result, account, 1, 1)
    return phase.result


async def run_profile(
    hass: Any,
    ours: Sender,
    jpeg: dict[str, Any],
    alerts: int,
    numbers: Any,
    mailboxes: dict[str, str],
) -> dict[str, Any]:
    """Profile three more bursts of ours: CPU (sampler), calls (cProfile), memory.

    Each from its own mailbox (a fresh budget), each checked like a measured
    round: no alert held.
    """
    blocking = hass.async_add_executor_job
    checks: dict[str, Any] = {}

    async def prepare() -> None:
        await blocking(ours.receiver.reset)
        await blocking(settle_memory)

    def burst(kind: str) -> Any:
        account = mailboxes[f"profile_{kind}"]
        span = numbers(alerts)

        async def go() -> None:
            with EventCount(hass) as events:
                outcomes = await _fire(hass, ours, span, jpeg, account)
            failed = [o for o in outcomes if isinstance(o, BaseException)]
            if failed:
                _LOGGER.warning("profiled burst: %d failed calls", len(failed))
            checks[kind] = {
                "events": events.counts,
                "sent_by_account": events.accounts,
                "failed_calls": len(failed),
            }

        return go

    kinds = ("cpu", "calls", "memory")
    await prepare()
    cpu = await profile_cpu(burst("cpu"), alerts)
    await finish_check(hass, ours, checks["cpu"], mailboxes["profile_cpu"], alerts)
    await prepare()
    calls = await profile_calls(burst("calls"), alerts)
    await finish_check(hass, ours, checks["calls"], mailboxes["profile_calls"], alerts)
    await prepare()
    memory = await profile_memory(burst("memory"))
    await finish_check(
        hass, ours, checks["memory"], mailboxes["profile_memory"], alerts
    )
    encoding = await blocking(json_costs, Path(jpeg["path"]), list(RECIPIENTS))
    return {
        "alerts": alerts,
        "mailboxes": {k: mailboxes[f"profile_{k}"] for k in kinds},
        "cpu": cpu,
        "calls": calls,
        "memory": memory,
        "json": encoding,
        "held_checks": {k: v["held_check"] for k, v in checks.items()},
    }


async def finish_check(
    hass: Any, ours: Sender, record: dict[str, Any], mailbox: str, alerts: int
) -> None:
    """Add the emulator's counts to a profiled burst's record and check it."""
    limits = await hass.async_add_executor_job(ours.receiver.limits)
    record["recipients_counted"] = limits.get("recipients") or {}
    record["limit_crossings"] = len(limits.get("crossings") or [])
    record["held_check"] = held_check(record, mailbox, alerts, RECIPIENTS_PER_ALERT)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    """Set up Home Assistant and run the phases."""
    manifest = args.manifest_data
    jpeg, big = manifest["jpeg"], manifest["big"]
    emulator = EmulatorClient(args.emulator_url, args.ca, args.emulator_pid)
    sink = SmtpSinkClient(args.smtp_control_url, args.smtp_pid)
    config_dir: Path = args.config_dir
    alerts, rounds_wanted = args.alerts, args.rounds
    mailboxes = bench_mailboxes(rounds_wanted)
    result: dict[str, Any] = {
        "sender": "ours",
        "alerts": alerts,
        "rounds": rounds_wanted,
        "mailboxes": mailboxes,
    }

    started = time.perf_counter()
    hass = await start_home_assistant(
        config_dir, Path(jpeg["path"]).parent, args.smtp_port
    )
    blocking = hass.async_add_executor_job
    # One app-only account per phase of ours, all set up before any phase.
    entries: dict[str, Any] = {}
    per_account: dict[str, Any] = {}
    for phase_name, mailbox in mailboxes.items():
        await blocking(emulator.reset)
        entries[phase_name] = await add_account(hass, mailbox)
        per_account[phase_name] = summarise_stats(await blocking(emulator.stats))
    result["setup"] = {
        "seconds": time.perf_counter() - started,
        "accounts": len(entries),
        "token_requests": sum(s["token_requests"] for s in per_account.values()),
        "per_account": per_account,
    }
    ours = Sender("ours", DOMAIN, emulator, "attachments")
    smtp = Sender("smtp", await smtp_service(hass), sink, "images")
    config = smtp_platform_config(args.smtp_port)
    smtp_result: dict[str, Any] = {
        "sender": "smtp",
        "alerts": alerts,
        "rounds": rounds_wanted,
        "service": f"notify.{smtp.service}",
        "config": {
            **config,
            "verify_ssl": "default (on)",
            "trusted_ca": "REQUESTS_CA_BUNDLE (Home Assistant's CA file) = "
            "its usual CAs + this run's CA",
        },
    }
    recipients = list(RECIPIENTS)
    counter = iter(range(1, 1_000_000))

    def take(count: int) -> range:
        first = next(counter)
        for _ in range(count - 1):
            next(counter)
        return range(first, first + count)

    # Warm-up: one alert like the burst's from every account of ours (lazy
    # imports, connections, each account's first send), then one through smtp.
    await blocking(emulator.reset)
    for mailbox in mailboxes.values():
        await ours.call(hass, ours.alert(0, jpeg["path"], recipients, mailbox))
    result["warmup"] = summarise_stats(await blocking(emulator.stats))
    await blocking(sink.reset)
    await smtp.call(hass, smtp.alert(0, jpeg["path"], recipients))
    smtp_result["warmup"] = await blocking(smtp.delivery, jpeg)

    # Single alerts on an otherwise idle system, one sender after the other.
    result["latency"] = await single_alerts(
        hass,
        ours,
        take(args.latency_alerts),
        jpeg,
        args.bodies_log,
        mailboxes["latency"],
    )
    smtp_result["latency"] = await single_alerts(
        hass, smtp, take(args.latency_alerts), jpeg, args.bodies_log
    )

    # From a settled heap: one 100 MB attachment (ours).
    result["big"] = await _big(hass, ours, big, mailboxes["big"])

    # The burst, every call fired at once as automations would; ``--rounds``
    # rounds per sender, alternating, so that other load on the machine falls
    # on both alike. The median round by wall time is reported. Each round of
    # ours sends from its own mailbox: a second burst of 600 recipients within
    # the hour from one mailbox is an alert storm, held for a digest on purpose.
    rounds: list[dict[str, Any]] = []
    smtp_rounds: list[dict[str, Any]] = []
    apprise_rounds: list[dict[str, Any]] = []
    apprise = await blocking(AppriseRounds, args) if args.apprise_python else None
    for number in range(1, rounds_wanted + 1):
        rounds.append(
            await _burst(
                hass, ours, take(alerts), jpeg, account=mailboxes[f"burst_{number}"]
            )
        )
        smtp_rounds.append(await _burst(hass, smtp, take(alerts), jpeg))
        if apprise is not None:
            # Apprise's round (unpaced, then as shipped) while Home Assistant
            # idles: every sender's rounds interleave.
            apprise_rounds.append(await blocking(apprise.round))
    if apprise is not None:
        await blocking(apprise.close)
    result["apprise_rounds"] = apprise_rounds
    # One more burst per sender, watched for event-loop stalls (the rounds
    # above run unwatched: their CPU is the figure reported).
    result["stall_burst"] = await _burst(
        hass, ours, take(alerts), jpeg, account=mailboxes["stalls"], watch=True
    )
    smtp_result["stall_burst"] = await _burst(
        hass, smtp, take(alerts), jpeg, watch=True
    )
    result["burst_rounds"] = rounds
    result["burst"] = sorted(rounds, key=lambda r: r["wall_s"])[len(rounds) // 2]
    smtp_result["burst_rounds"] = smtp_rounds
    smtp_result["burst"] = sorted(smtp_rounds, key=lambda r: r["wall_s"])[
        len(smtp_rounds) // 2
    ]

    result["phase_token_requests"] = (
        result["warmup"]["token_requests"]
        + result["big"]["emulator"]["token_requests"]
        + sum(r["emulator"]["token_requests"] for r in rounds)
    )
    result["tokens_total"] = (
        result["setup"]["token_requests"] + (result["phase_token_requests"])
    )

    # Then a signed-in account (after every app-only figure is taken).
    result["signed_in"] = await run_signed_in(hass, ours, jpeg, alerts, take)
    if args.profile:
        result["profile"] = await run_profile(hass, ours, jpeg, alerts, take, mailboxes)
    # Every account's own counters, read after the last phase (held alerts,
    # digests, tokens): the integration's view of the same run.
    result["accounts"] = {
        phase_name: await account_report(hass, entry)
        for phase_name, entry in entries.items()
    }
    result["integration"] = (
        result["accounts"].get("burst_1") or (result["accounts"]["latency"])
    )
    result["smtp"] = smtp_result
    await hass.async_stop()
    return result


class AppriseRounds:
    """Apprise's rounds, asked for between ours (``apprise_driver --part rounds``).

    One process in the bench venv for every round, started (and warmed up)
    before the first; it idles on its stdin while Home Assistant sends, and
    Home Assistant idles while it sends. All methods block (the executor).
    """

    def __init__(self, args: argparse.Namespace) -> None:
        """Start the process and wait for its warm-up."""
        out = Path(args.out).with_name("apprise-rounds.json")
        command = [
            args.apprise_python,
            "-m",
            "bench.apprise_driver",
            "--part",
            "rounds",
            "--first-alert",
            "500000",
            "--emulator-url",
            args.emulator_url,
            "--ca",
            args.ca,
            "--manifest",
            args.manifest,
            "--alerts",
            str(args.alerts),
            "--bodies-log",
            args.bodies_log,
            "--out",
            str(out),
        ]
        if args.emulator_pid:
            command += ["--emulator-pid", str(args.emulator_pid)]
        self.log = Path(args.out).with_name("apprise-rounds.log")
        self._stderr = self.log.open("w")
        # Not this process's PYTHONPATH (smtp's extras for Home Assistant's venv).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self.process = subprocess.Popen(  # noqa: S603 - the bench venv's Python
            command,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self._stderr,
            env=env,
            text=True,
        )
        if self._line() != "READY":
            raise RuntimeError(f"Apprise's rounds did not start; see {self.log}")

    def _line(self) -> str:
        assert self.process.stdout is not None
        return self.process.stdout.readline().strip()

    def round(self) -> dict[str, Any]:
        """Run one burst per mode; return them by mode."""
        assert self.process.stdin is not None
        self.process.stdin.write("round\n")
        self.process.stdin.flush()
        line = self._line()
        if not line:
            raise RuntimeError(f"Apprise's round failed; see {self.log}")
        bursts: dict[str, Any] = json.loads(line)
        return bursts

    def close(self) -> None:
        """Let the process finish."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        self.process.wait(timeout=120)
        self._stderr.close()


def home_assistant_loop() -> asyncio.AbstractEventLoop:
    """Return an event loop made as Home Assistant makes its own.

    Home Assistant 2026.x has ``runner.create_event_loop``; older versions an
    event loop policy (``HassEventLoopPolicy``). Either way: its exception
    handler and its executor (``InterruptibleThreadPoolExecutor``).
    """
    from homeassistant import runner  # noqa: PLC0415

    if hasattr(runner, "create_event_loop"):
        loop: asyncio.AbstractEventLoop = runner.create_event_loop(debug=False)
        return loop
    policy = runner.HassEventLoopPolicy(debug=False)
    asyncio.set_event_loop_policy(policy)
    return policy.new_event_loop()


def main(argv: list[str] | None = None) -> int:
    """Run the driver and write its JSON."""
    parser = driver_arguments(__doc__)
    parser.add_argument("--config-dir", required=True)
    parser.add_argument("--smtp-port", type=int, required=True)
    parser.add_argument("--smtp-control-url", required=True)
    parser.add_argument("--smtp-pid", type=int)
    parser.add_argument(
        "--apprise-python",
        help="the bench venv's Python: run Apprise's rounds between ours",
    )
    parser.add_argument(
        "--no-profile",
        dest="profile",
        action="store_false",
        help="skip the profiled bursts (cProfile, tracemalloc)",
    )
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

    WATCH.install()
    loop = home_assistant_loop()
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
