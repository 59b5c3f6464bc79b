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

Phases as in ``ha_driver``: ``warmup`` (not measured), ``big``, ``burst``.
CPU time is this whole process's (Apprise is single-threaded here).
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
from pathlib import Path
import sys
import time
from typing import Any, Self
from urllib.parse import quote

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


def new_apprise(recipients: list[str]) -> Any:
    """Return an ``Apprise`` object with the o365 URL for ``recipients``."""
    import apprise  # noqa: PLC0415

    notifier = apprise.Apprise()
    if not notifier.add(apprise_url(recipients)):
        raise RuntimeError("Apprise refused the o365:// URL")
    return notifier


class Phase:
    """Measures one block of this process: wall, CPU, memory, emulator work."""

    def __init__(self, name: str, emulator: EmulatorClient, *, sample: bool) -> None:
        """Prepare to measure phase ``name``."""
        self.name = name
        self.emulator = emulator
        self.memory = MemoryWatch(interval=0.005 if sample else 0.05)
        self.result: dict[str, Any] = {"phase": name}

    def __enter__(self) -> Self:
        """Reset the emulator and start measuring."""
        self.emulator.reset()
        gc.collect()
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
                "emulator_cpu_s": emulator_cpu,
                "memory": self.memory.to_json(),
                "emulator": summarise_stats(stats),
                "requests_log": describe_requests(stats),
            }
        )


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the phases and return what was measured."""
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
        "apprise_version": apprise.__version__,
    }

    burst_notifier = new_apprise(recipients)
    emulator.reset()
    ok = burst_notifier.notify(
        body="Motion detected at the front door (alert 0).",
        title="Motion at the front door #0",
        attach=jpeg["path"],
    )
    result["warmup"] = {"ok": bool(ok), **summarise_stats(emulator.stats())}

    # Phase 2: one 100 MB attachment, one recipient (a new Apprise object).
    big_notifier = new_apprise([recipients[0]])
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
    result["big"] = phase.result

    # Phase 1: the burst, sequential as Apprise sends.
    log.lines.clear()
    failures = 0
    with Phase("burst", emulator, sample=False) as phase:
        for index in range(1, args.alerts + 1):
            if not burst_notifier.notify(
                body=f"Motion detected at the front door (alert {index}).",
                title=f"Motion at the front door #{index}",
                attach=jpeg["path"],
            ):
                failures += 1
    phase.result["failed_calls"] = failures
    phase.result["log"] = log.lines[:20]
    phase.result["delivery"] = check_delivery(
        emulator.messages(), jpeg["sha256"], jpeg["size"]
    )
    result["burst"] = phase.result
    result["tokens_total"] = (
        result["warmup"]["token_requests"]
        + result["big"]["emulator"]["token_requests"]
        + result["burst"]["emulator"]["token_requests"]
    )
    return result


def main(argv: list[str] | None = None) -> int:
    """Run the driver and write its JSON."""
    args = driver_arguments(__doc__).parse_args(argv)
    # requests lets these override verify=True: trust the emulator's CA.
    os.environ["REQUESTS_CA_BUNDLE"] = args.ca
    os.environ["CURL_CA_BUNDLE"] = args.ca
    write_json(Path(args.out), run(args))
    return 0


if __name__ == "__main__":
    sys.exit(main())
