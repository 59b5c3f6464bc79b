"""Benchmark driver for Apprise's Office 365 plugin (runs in Apprise's own venv).

``python -m bench.apprise_driver ...`` with the bench venv's Python. Apprise is
used as its users use it: one ``Apprise`` object holding an ``o365://`` URL,
``notify(body, title, attach=path)`` per alert, its defaults untouched (one
message per recipient, its 0.2 s pause before each request, a new HTTPS
connection per request, certificate checks on).

The only change is where Microsoft is: the plugin's class attributes
``graph_url`` and ``auth_url`` point at the local emulator, and
``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` (which override ``requests``' own
``verify=True``) name the emulator's CA. URLs the plugin hard-codes elsewhere
(``https://graph.microsoft.com/v1.0/.../send`` for drafts) are left as they are.

It runs in two modes, in the same process and run:

* ``paced``: as shipped. The plugin's ``request_rate_per_sec = 0.20`` makes
  ``throttle()`` sleep until 0.2 s have passed since its previous request,
  before every request (600 requests in a burst of 200: at least 120 s).
* ``unpaced``: the same, with that rate set to 0 on the plugin object (its own
  "no throttle" value: ``throttle()`` returns at once). This is the mode the
  headline ratios use: what Apprise costs, not how long it waits.

Phases as in ``ha_driver``: ``warmup`` (not measured, per mode), ``latency``
(single alerts, per mode), ``big`` (as shipped), then ``--rounds`` bursts per
mode, alternating unpaced and paced. ``--part setup`` stops before the bursts;
``--part rounds`` warms up, then runs one burst per mode whenever a line
``round`` arrives on stdin (one process for every round): ``bench.ha_driver``
asks for a round between its own rounds, so that every sender's rounds are
interleaved in time and load on the machine falls on all alike. Before each measured phase memory is settled as for every sender
(``gc.collect()``, ``malloc_trim(0)``). CPU time is this whole process's
(Apprise is single-threaded here).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path
import sys
import time
from typing import Any, Self
from urllib.parse import quote

from .common import (
    LATENCY_PAUSE_S,
    RECIPIENTS,
    EmulatorClient,
    MemoryWatch,
    body_arrivals,
    check_delivery,
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

MAILBOX = "alerts@contoso.com"
TENANT_ID = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
CLIENT_ID = "0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11"
CLIENT_SECRET = "emulator-secret?@/%+#&= value"  # noqa: S105 - the emulator's published test secret


class _Collect(logging.Handler):
    """Keeps Apprise's warnings and errors, and the error bodies it logs at DEBUG."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if record.levelno >= logging.WARNING or text.startswith("Response Details"):
            self.lines.append(f"{record.levelname}: {text[:600]}")


def apprise_url(recipients: list[str]) -> str:
    """Return the ``o365://`` URL, every part percent-encoded as Apprise expects."""
    targets = "/".join(quote(r, safe="@") for r in recipients)
    return (
        f"o365://{MAILBOX}/{TENANT_ID}/{CLIENT_ID}/"
        f"{quote(CLIENT_SECRET, safe='')}/{targets}"
    )


def point_at_emulator(emulator_url: str) -> None:
    """Send the plugin's sign-in and Graph calls to the emulator."""
    from apprise.plugins.office365 import NotifyOffice365  # noqa: PLC0415

    NotifyOffice365.graph_url = emulator_url
    NotifyOffice365.auth_url = emulator_url + "/{tenant}/oauth2/v2.0/token"


def new_apprise(recipients: list[str], *, paced: bool = True) -> Any:
    """Return an ``Apprise`` object with the o365 URL for ``recipients``.

    ``paced=False`` sets the plugin object's ``request_rate_per_sec`` to 0.
    """
    import apprise  # noqa: PLC0415

    notifier = apprise.Apprise()
    if not notifier.add(apprise_url(recipients)):
        raise RuntimeError("Apprise refused the o365:// URL")
    if not paced:
        for plugin in notifier:
            plugin.request_rate_per_sec = 0
    return notifier


def pacing(notifier: Any) -> float:
    """Return the request rate setting of the notifier's (one) plugin."""
    return float(next(iter(notifier)).request_rate_per_sec)


class Phase:
    """Measures one block of this process: wall, CPU, memory, emulator work."""

    def __init__(self, name: str, emulator: EmulatorClient, *, sample: bool) -> None:
        """Prepare to measure phase ``name``."""
        self.name = name
        self.emulator = emulator
        self.memory = MemoryWatch(interval=0.005 if sample else 0.05)
        self.result: dict[str, Any] = {"phase": name}

    def __enter__(self) -> Self:
        """Reset the emulator, settle memory and start measuring."""
        self.emulator.reset()
        settle_memory()
        self.memory.start()
        self._emulator_cpu = self.emulator.cpu()
        self._cpu = process_cpu()
        self._wall = time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop measuring and collect the figures."""
        wall = time.perf_counter() - self._wall
        cpu = process_cpu() - self._cpu
        emulator_cpu = self.emulator.cpu() - self._emulator_cpu
        self.memory.stop()
        stats = self.emulator.stats()
        self.result.update(
            {
                "wall_s": wall,
                "cpu_s": cpu - self.memory.sampler_cpu,
                "cpu_raw_s": cpu,
                "receiver_cpu_s": emulator_cpu,
                "memory": self.memory.to_json(),
                "emulator": summarise_stats(stats),
                "requests_log": describe_requests(stats),
            }
        )


def _notify(notifier: Any, index: int, jpeg: dict[str, Any]) -> bool:
    return bool(
        notifier.notify(
            body=f"Motion detected at the front door (alert {index}).",
            title=f"Motion at the front door #{index}",
            attach=jpeg["path"],
        )
    )


def burst(
    notifier: Any,
    mode: str,
    numbers: range,
    jpeg: dict[str, Any],
    emulator: EmulatorClient,
    log: _Collect,
) -> dict[str, Any]:
    """Send the burst's alerts in turn, as Apprise sends; return the round."""
    log.lines.clear()
    failures = 0
    with Phase("burst", emulator, sample=False) as phase:
        for index in numbers:
            if not _notify(notifier, index, jpeg):
                failures += 1
    phase.result["mode"] = mode
    phase.result["failed_calls"] = failures
    phase.result["log"] = log.lines[:20]
    phase.result["delivery"] = check_delivery(
        emulator.messages(), jpeg["sha256"], jpeg["size"]
    )
    return phase.result


def single_alerts(
    notifier: Any,
    mode: str,
    numbers: range,
    jpeg: dict[str, Any],
    emulator: EmulatorClient,
    bodies_log: str,
) -> dict[str, Any]:
    """Alerts one at a time; each timed to the last byte of its last message.

    As for the other senders: a pause before each alert, the clock started
    just before ``notify()``, stopped at the emulator's receipt of the last
    byte of the alert's last request body (Apprise sends three messages).
    """
    emulator.reset()
    windows: list[tuple[int, int]] = []
    failures = 0
    for index in numbers:
        time.sleep(LATENCY_PAUSE_S)
        started = monotonic_ns()
        if not _notify(notifier, index, jpeg):
            failures += 1
        windows.append((started, monotonic_ns()))
    events = read_body_log(bodies_log, windows[0][0])
    arrivals = body_arrivals(windows, events, min_bytes=jpeg["size"])
    return {
        "sender": f"apprise_{mode}",
        "alerts": len(numbers),
        "pause_s": LATENCY_PAUSE_S,
        "to_last_byte": latency_summary(
            [
                (arrival - start) / 1e9
                for (start, _), arrival in zip(windows, arrivals, strict=True)
                if arrival is not None
            ]
        ),
        "action_call": latency_summary([(e - s) / 1e9 for s, e in windows]),
        "unmatched": sum(1 for a in arrivals if a is None),
        "failed_calls": failures,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the phases of ``args.part`` and return what was measured."""
    import apprise  # noqa: PLC0415

    manifest = json.loads(Path(args.manifest).read_text())
    jpeg, big = manifest["jpeg"], manifest["big"]
    emulator = EmulatorClient(args.emulator_url, args.ca, args.emulator_pid)
    log = _Collect()
    apprise_logger = logging.getLogger("apprise")
    apprise_logger.addHandler(log)
    apprise_logger.setLevel(logging.WARNING)
    point_at_emulator(args.emulator_url)
    recipients = list(RECIPIENTS)
    result: dict[str, Any] = {
        "sender": "apprise",
        "alerts": args.alerts,
        "rounds": args.rounds,
        "apprise_version": apprise.__version__,
    }
    # Unpaced first: its round then follows ours and smtp's straight away.
    notifiers = {
        "unpaced": new_apprise(recipients, paced=False),
        "paced": new_apprise(recipients, paced=True),
    }
    modes: dict[str, dict[str, Any]] = {
        mode: {"mode": mode, "request_rate_per_sec": pacing(notifier)}
        for mode, notifier in notifiers.items()
    }
    numbers = iter(range(args.first_alert, 1_000_000_000))

    def take(count: int) -> range:
        first = next(numbers)
        for _ in range(count - 1):
            next(numbers)
        return range(first, first + count)

    for mode, notifier in notifiers.items():
        emulator.reset()
        ok = _notify(notifier, 0, jpeg)
        modes[mode]["warmup"] = {"ok": ok, **summarise_stats(emulator.stats())}
    result["modes"] = modes
    if args.part == "rounds":
        serve_rounds(notifiers, take, args.alerts, jpeg, emulator, log)
        return result

    for mode, notifier in notifiers.items():
        modes[mode]["latency"] = single_alerts(
            notifier, mode, take(args.latency_alerts), jpeg, emulator, args.bodies_log
        )
    result["big"] = _big(recipients[0], big, emulator, log, apprise_logger)
    if args.part == "setup":
        return result

    # The bursts: ``--rounds`` per mode, alternating, the same as every sender.
    for mode in modes.values():
        mode["burst_rounds"] = []
    for _ in range(args.rounds):
        for mode, notifier in notifiers.items():
            modes[mode]["burst_rounds"].append(
                burst(notifier, mode, take(args.alerts), jpeg, emulator, log)
            )
    finish_modes(modes)
    return result


def serve_rounds(
    notifiers: dict[str, Any],
    take: Any,
    alerts: int,
    jpeg: dict[str, Any],
    emulator: EmulatorClient,
    log: _Collect,
) -> None:
    """Run one burst per mode for each ``round`` line on stdin, until it closes.

    ``READY`` on stdout after the warm-up; after each round one JSON line:
    each mode's burst. The process lives for every round, as the sending
    process of ours does.
    """
    sys.stdout.write("READY\n")
    sys.stdout.flush()
    for line in sys.stdin:
        if line.strip() != "round":
            break
        bursts = {
            mode: burst(notifier, mode, take(alerts), jpeg, emulator, log)
            for mode, notifier in notifiers.items()
        }
        sys.stdout.write(json.dumps(bursts) + "\n")
        sys.stdout.flush()


def _big(
    recipient: str,
    big: dict[str, Any],
    emulator: EmulatorClient,
    log: _Collect,
    apprise_logger: logging.Logger,
) -> dict[str, Any]:
    """One 100 MB attachment, one recipient, as shipped (a new Apprise object)."""
    big_notifier = new_apprise([recipient])
    log.lines.clear()
    # DEBUG shows the error bodies Graph answered (only for this one alert).
    apprise_logger.setLevel(logging.DEBUG)
    with Phase("big", emulator, sample=True) as phase:
        error = None
        try:
            ok = big_notifier.notify(
                body="The recording is attached.",
                title="Front door recording",
                attach=big["path"],
            )
        except Exception as err:  # noqa: BLE001 - recorded, not fatal
            ok, error = False, f"{type(err).__name__}: {err}"
    apprise_logger.setLevel(logging.WARNING)
    phase.result["ok"] = bool(ok)
    phase.result["error"] = error or (None if ok else "notify() returned False")
    phase.result["log"] = log.lines[:20]
    phase.result["delivery"] = check_delivery(
        emulator.messages(), big["sha256"], big["size"]
    )
    return phase.result


def finish_modes(modes: dict[str, dict[str, Any]]) -> None:
    """Pick each mode's median round and count its tokens (after every round)."""
    for mode in modes.values():
        rounds = mode["burst_rounds"]
        mode["burst"] = sorted(rounds, key=lambda r: r["wall_s"])[len(rounds) // 2]
        mode["tokens_total"] = mode["warmup"]["token_requests"] + sum(
            r["emulator"]["token_requests"] for r in rounds
        )


def main(argv: list[str] | None = None) -> int:
    """Run the driver and write its JSON."""
    parser = driver_arguments(__doc__)
    parser.add_argument(
        "--part",
        choices=("all", "setup", "rounds"),
        default="all",
        help="everything; all but the bursts; or the bursts, a round per stdin line",
    )
    parser.add_argument(
        "--first-alert", type=int, default=1, help="the first alert's number"
    )
    args = parser.parse_args(argv)
    # requests lets these override verify=True: trust the emulator's CA.
    os.environ["REQUESTS_CA_BUNDLE"] = args.ca
    os.environ["CURL_CA_BUNDLE"] = args.ca
    write_json(Path(args.out), run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
