"""Run the whole benchmark: one emulator, one SMTP server, three senders.

``python -m bench.run`` (``scripts/bench`` picks the Home Assistant venv,
prepares the bench venv and calls it). Everything runs in one process tree:

* the emulator, started once as its own process under ``bench.emulator_probe``
  (``python -m emulator --port 0`` plus a log of when each request body's last
  byte arrived), so its CPU time is not charged to any sender; its tenant
  message limit is raised to 150 MB (what an Exchange admin can set) so a
  100 MB attachment is allowed;
* ``bench.smtp_server`` in the bench venv: aiosmtpd on 127.0.0.1 with STARTTLS
  and a certificate made for this run (``bench.tls``);
* ``bench.ha_driver`` in the Home Assistant venv: one Home Assistant with
  ``notify.o365`` (an app-only account, then a signed-in one) and Home
  Assistant's own ``smtp`` notify platform, the peer users would pick instead;
* ``bench.apprise_driver`` in the bench venv: Apprise 2.2.0, as shipped
  (paced) and with its pacing off (unpaced);
* ``bench.storm`` under pytest in the Home Assistant venv: the storm row, 400
  alerts within a minute through a signed-in Outlook.com account, then 24 hours
  of Home Assistant time on a simulated clock (its own emulator, in-process);
* ``bench.chart`` in the bench venv: the PNG.

Each measured phase of ours sends from its own mailbox (``bench_mailboxes``;
the emulator's directory file lists them), so that each starts with a fresh
sending budget: a second 600-recipient burst within the hour from one mailbox
is an alert storm, which the integration holds for a digest on purpose. The
target ``no_alert_held`` fails when any alert of a measured phase was held.

Every sender gets the same number of rounds, the same alerts and the same
memory treatment, and the rounds interleave in time: ours, smtp, Apprise
unpaced, Apprise as shipped, then the next round (``ha_driver`` asks one
Apprise process in the bench venv, started and warmed up before the first
round, for a round between its own), so that other load on the machine falls
on all alike. CPU per alert is the median of a sender's rounds. The results go to stdout, ``docs/bench/results.md``,
``docs/bench/results.json`` and ``docs/bench/bench.png`` (``--out-dir``), and
the README's Benchmarks section is rewritten from them (``--readme``); logs go
to ``.bench/logs``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import datetime as dt
import hashlib
import json
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
from typing import Any
import uuid

from .apprise_driver import finish_modes
from .common import LATENCY_ALERTS, ROOT, bench_mailboxes, write_json
from .report import render, update_readme

WORK = ROOT / ".bench"
MIB = 1024 * 1024
#: What issue 8 asks for.
TARGET_REQUESTS_PER_ALERT = 1.0
TARGET_TOKENS = 1
TARGET_CPU_RATIO = 1 / 3
TARGET_SPEEDUP = 50.0
TARGET_THROUGHPUT = 100.0
TARGET_STALL_MS = 20.0
TARGET_GROWTH = 16 * MIB
#: What issue 12 asks of the burst through a signed-in account.
TARGET_SIGNED_IN_REQUESTS_PER_ALERT = "1.00"
TARGET_SIGNED_IN_TOKENS = 1
#: What the fairness issue asks, in one run.
TARGET_CPU_RATIO_UNPACED = 0.10
TARGET_SINGLE_ALERT_P50_MS = 5.0
TARGET_BURST_GROWTH = 8 * MIB
TARGET_LATENCY_ALERTS = 50
#: The emulator tenant's message size limit for this run (Exchange's maximum).
TENANT_LIMIT = 150 * MIB
#: How long the storm (a simulated day) may take in real time.
STORM_TIMEOUT = 1800


@dataclass
class Service:
    """A server process started for the run and the lines it printed."""

    process: subprocess.Popen[str]
    values: dict[str, str]

    def stop(self) -> None:
        """Stop it (SIGTERM, then wait)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _start(
    command: list[str], log: Path, last_key: str, env: dict[str, str]
) -> Service:
    """Start a server that prints ``KEY=value`` lines, ending with ``last_key``."""
    stderr = log.open("w")
    process = subprocess.Popen(  # noqa: S603 - our own interpreters and modules
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={**os.environ, **env},
    )
    assert process.stdout is not None
    values: dict[str, str] = {}
    for line in process.stdout:
        key, _, value = line.strip().partition("=")
        values[key] = value
        if key == last_key:
            break
    if last_key not in values:
        process.kill()
        raise SystemExit(f"{command[2]} did not start; see {log}")
    return Service(process, values)


def emulator_directory(rounds: int) -> dict[str, Any]:
    """Return the emulator's directory for the run (``emulator/directory.py``'s JSON).

    The default tenant with its message size limit raised (``TENANT_LIMIT``)
    and these mailboxes: the default work mailbox, the personal account the
    signed-in burst uses, and one work mailbox per measured phase of ours
    (``bench_mailboxes``), so that every phase starts with a fresh sending
    budget. ``mailboxes`` replaces the default list as a whole.
    """
    mailboxes: list[dict[str, Any]] = [
        {
            "address": "alerts@contoso.com",
            "id": "3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60",
            "display_name": "Home Alerts",
        },
        {
            "address": "casey@outlook.com",
            "id": "1d0fddbd1dab94fe",
            "display_name": "Casey",
            "personal": True,
        },
    ]
    known = {m["address"] for m in mailboxes}
    for phase, address in bench_mailboxes(rounds).items():
        if address not in known:
            known.add(address)
            mailboxes.append(
                {
                    "address": address,
                    "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, address)),
                    "display_name": f"Home Alerts ({phase.replace('_', ' ')})",
                }
            )
    return {
        "tenant": {
            "id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
            "domains": ["contoso.onmicrosoft.com", "contoso.com"],
            "max_message_size": TENANT_LIMIT,
        },
        "mailboxes": mailboxes,
    }


def start_emulator(python: Path, logs: Path, bodies_log: Path, rounds: int) -> Service:
    """Start the emulator (under the probe) on a free port."""
    state = WORK / "emulator"
    state.mkdir(parents=True, exist_ok=True)
    directory = state / "directory.json"
    write_json(directory, emulator_directory(rounds))
    return _start(
        [
            str(python),
            "-m",
            "bench.emulator_probe",
            "--bodies-log",
            str(bodies_log),
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--directory",
            str(directory),
        ],
        logs / "emulator.log",
        "INBOX",
        {},
    )


def start_smtp_server(bench_python: Path, logs: Path, tls: Any) -> Service:
    """Start the SMTP server (bench venv) with this run's certificate."""
    return _start(
        [
            str(bench_python),
            "-m",
            "bench.smtp_server",
            "--cert",
            str(tls.cert),
            "--key",
            str(tls.key),
        ],
        logs / "smtp_server.log",
        "SMTP_CONTROL_URL",
        {},
    )


def run_driver(
    python: Path, module: str, args: list[str], log: Path, env: dict[str, str]
) -> None:
    """Run a driver to completion; its stderr goes to ``log``."""
    with log.open("w") as stderr:
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [str(python), "-m", module, *args],
            cwd=ROOT,
            stderr=stderr,
            env={**os.environ, **env},
            check=False,
        )
    if done.returncode:
        raise SystemExit(f"{module} failed ({done.returncode}); see {log}")


def run_storm(
    python: Path, logs: Path, jpeg: str, config_dir: Path
) -> dict[str, Any] | None:
    """Run the storm row (``bench.storm`` under pytest); return its figures.

    It runs on Home Assistant's simulated clock in its own process, with its
    own in-process emulator; ``None`` (and the log says why) when it failed.
    """
    out = WORK / "storm.json"
    out.unlink(missing_ok=True)
    with (logs / "storm.log").open("w") as log:
        done = subprocess.run(  # noqa: S603 - our own interpreter and module
            [
                str(python),
                "-m",
                "pytest",
                "bench/storm.py",
                "-q",
                "-p",
                "no:cacheprovider",
                "-p",
                "no:sugar",
                "-o",
                "addopts=",
                "-o",
                f"timeout={STORM_TIMEOUT}",
            ],
            cwd=ROOT,
            stdout=log,
            stderr=log,
            env={
                **os.environ,
                "BENCH_STORM_OUT": str(out),
                "BENCH_STORM_JPEG": jpeg,
                "BENCH_CONFIG_DIR": str(config_dir),
            },
            check=False,
        )
    if done.returncode or not out.is_file():
        sys.stderr.write(
            f"the storm failed ({done.returncode}); see {logs / 'storm.log'}\n"
        )
        return None
    result: dict[str, Any] = json.loads(out.read_text())
    return result


def _python_says(python: Path, code: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [str(python), "-c", code], capture_output=True, text=True, check=False
    )
    return done.stdout.strip()


def _version(python: Path, package: str) -> str:
    return (
        _python_says(
            python,
            "import importlib.metadata as m\n"
            f"try: print(m.version({package!r}))\n"
            "except m.PackageNotFoundError: print('')",
        )
        or "?"
    )


def smtp_requirements(python: Path, logs: Path) -> str:
    """Make the smtp integration's requirements importable; return a PYTHONPATH.

    Home Assistant installs an integration's requirements (its manifest's) when
    it is first set up; the benchmark runs it with ``skip_pip``, as the tests
    do, so any that the venv lacks (``aiosmtplib`` for 2026.x's smtp; those of
    camera, image and tts, which it imports) are installed into
    ``.bench/extras`` (never into the venv) with the venv's pip, at the
    manifests' versions.
    """
    done = subprocess.run(  # noqa: S603 - our own interpreter and module
        [str(python), "-m", "bench.smtp_requirements"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    wanted = json.loads(done.stdout)
    missing = [
        r for r in wanted if _version(python, r.split("==")[0]) != r.partition("==")[2]
    ]
    if not missing:
        return ""
    tag = hashlib.sha256(f"{python.resolve()} {missing}".encode()).hexdigest()[:12]
    target = WORK / "extras" / tag
    if not (target / ".complete").is_file():
        shutil.rmtree(target, ignore_errors=True)
        sys.stderr.write(f"installing the smtp integration's {missing} into {target}\n")
        with (logs / "extras.log").open("w") as log:
            subprocess.run(  # noqa: S603 - pip of our own venv
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--target",
                    str(target),
                    *missing,
                ],
                check=True,
                stdout=log,
                stderr=log,
            )
        (target / ".complete").write_text(" ".join(missing))
    return str(target)


def _loadavg() -> str:
    """Return the 1-minute load average (other work on the machine)."""
    return Path("/proc/loadavg").read_text().split()[0]


def environment(python: Path, bench_python: Path, lane: str) -> dict[str, Any]:
    """Describe the machine and the versions measured."""
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    commit = "?"
    if git := shutil.which("git"):
        done = subprocess.run(  # noqa: S603
            [git, "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=False,
        )
        commit = done.stdout.strip() or "?"
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": commit,
        "cpu": cpu,
        "cores": os.cpu_count(),
        "lane": lane,
        "python": platform.python_version(),
        "homeassistant": _version(python, "homeassistant"),
        "aiohttp": _version(python, "aiohttp"),
        "msal": _version(python, "msal"),
        "orjson": _version(python, "orjson"),
        "apprise": _version(bench_python, "apprise"),
        "aiosmtpd": _version(bench_python, "aiosmtpd"),
        "bench_python": _python_says(
            bench_python, "import platform; print(platform.python_version())"
        ),
    }


# -- the summary ---------------------------------------------------------------


def merge_apprise_rounds(
    apprise: dict[str, Any], rounds: list[dict[str, dict[str, Any]]]
) -> None:
    """Add Apprise's rounds, run between ours (``--part rounds``), to its modes."""
    modes = apprise["modes"]
    for name, mode in modes.items():
        mode["burst_rounds"] = [r[name] for r in rounds]
    finish_modes(modes)


def _median(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    return sorted(rounds, key=lambda r: r["wall_s"])[len(rounds) // 2]


def _per_alert(phase: dict[str, Any], alerts: int) -> dict[str, Any]:
    """Throughput, CPU per alert and per delivered message, requests per alert."""
    delivered = phase["delivery"]["messages"]
    figures: dict[str, Any] = {
        "wall_s": phase["wall_s"],
        "throughput": alerts / phase["wall_s"],
        "cpu_ms": phase["cpu_s"] / alerts * 1000,
        "messages": delivered,
        "messages_per_alert": delivered / alerts,
        "cpu_ms_per_message": phase["cpu_s"] / delivered * 1000 if delivered else None,
        "to_recipients": phase["delivery"]["to_recipients"],
        "failed_calls": phase.get("failed_calls", 0),
        "receiver_cpu_s": phase["receiver_cpu_s"],
        "receiver_busy": phase["receiver_cpu_s"] / phase["wall_s"],
        "rss_growth": phase["memory"]["peak_growth"],
    }
    if "emulator" in phase:
        emulator = phase["emulator"]
        figures["http"] = emulator["http_requests"] / alerts
        figures["graph"] = emulator["graph_requests"] / alerts
        figures["max_in_flight"] = emulator["max_in_flight"]
    if "smtp_server" in phase:
        server = phase["smtp_server"]
        figures["connections_per_alert"] = server["connections"] / alerts
        figures["max_open_connections"] = server["max_open_connections"]
        figures["starttls"] = phase["delivery"].get("starttls", 0)
    return figures


def _sender_summary(
    rounds: list[dict[str, Any]], alerts: int, latency: dict[str, Any]
) -> dict[str, Any]:
    """Return the median round's figures, every round's, the worst memory, latency."""
    summary = _per_alert(_median(rounds), alerts)
    # CPU: the median round by CPU (the figures above are the median round by
    # wall time); the same for every sender.
    by_cpu = sorted(rounds, key=lambda r: r["cpu_s"])[len(rounds) // 2]
    summary["cpu_ms"] = by_cpu["cpu_s"] / alerts * 1000
    delivered = by_cpu["delivery"]["messages"]
    summary["cpu_ms_per_message"] = (
        by_cpu["cpu_s"] / delivered * 1000 if delivered else None
    )
    summary["rounds"] = [
        {
            "wall_s": r["wall_s"],
            "throughput": alerts / r["wall_s"],
            "cpu_ms": r["cpu_s"] / alerts * 1000,
            "rss_growth": r["memory"]["peak_growth"],
            **({"stall_ms": r["stalls"]["max_ms"]} if r.get("stalls") else {}),
        }
        for r in rounds
    ]
    summary["rss_growth_worst"] = max(r["memory"]["peak_growth"] for r in rounds)
    summary["single_alert"] = latency
    return summary


def _verdict(met: bool, detail: str) -> dict[str, Any]:
    return {"met": met, "detail": detail}


def held_checks(ours: dict[str, Any]) -> dict[str, Any]:
    """Gather every phase's check that no alert was held; return the verdict.

    Each measured phase (and each profiled burst) sends from its own mailbox
    with a fresh sending budget; it passes when each alert fired one
    ``o365_message_sent`` from that mailbox, no digest went, nothing was
    queued, and the emulator counted exactly the recipients sent. The
    accounts' own counters (their diagnostics) must show nothing held and no
    digest either.
    """
    phases: dict[str, Any] = {
        "latency": ours["latency"].get("held_check"),
        "big": ours["big"].get("held_check"),
    }
    for number, burst in enumerate(ours["burst_rounds"], 1):
        phases[f"burst_{number}"] = burst.get("held_check")
    phases["stalls"] = ours["stall_burst"].get("held_check")
    if "signed_in" in ours:
        phases["signed_in_burst"] = ours["signed_in"]["burst"].get("held_check")
    for kind, check in (ours.get("profile") or {}).get("held_checks", {}).items():
        phases[f"profile_{kind}"] = check
    problems = [
        f"{name}: " + ("not checked" if c is None else "; ".join(c["problems"]))
        for name, c in phases.items()
        if c is None or not c["ok"]
    ]
    reports = dict(ours.get("accounts") or {})
    if "signed_in" in ours:
        reports["signed_in"] = ours["signed_in"].get("integration") or {}
    held = digests = 0
    for name, report in reports.items():
        counters = report.get("counters")
        if counters is None:
            problems.append(f"{name}: counters {report.get('unavailable', 'missing')}")
            continue
        held += int(counters.get("held_for_digest", 0))
        digests += int(counters.get("digests", 0))
    if held or digests:
        problems.append(
            f"the accounts' own counters: {held} held for a digest, {digests} digests"
        )
    alerts = sum(c["alerts"] for c in phases.values() if c)
    recipients = sum(c["recipients_counted"] for c in phases.values() if c)
    detail = (
        f"{len(phases)} phases, each from its own mailbox: {alerts} alerts, each "
        f"sent on its own ({recipients} recipients counted by the emulator, as "
        f"sent); the {len(reports)} accounts' own counters: {held} held, "
        f"{digests} digests"
        if not problems
        else "HELD OR MISSING: " + " | ".join(problems)
    )
    return {"phases": phases, "verdict": _verdict(not problems, detail)}


def evaluate_signed_in(signed_in: dict[str, Any], alerts: int) -> dict[str, Any]:
    """Summarise the burst through the signed-in account; check issue 12's targets."""
    burst = signed_in["burst"]
    per_alert = _per_alert(burst, alerts)
    emulator = burst["emulator"]
    tokens = emulator["token_requests"]
    shown = f"{per_alert['http']:.2f}"
    targets = {
        "signed_in_requests_per_alert": _verdict(
            shown == TARGET_SIGNED_IN_REQUESTS_PER_ALERT,
            f"{shown} HTTP requests per alert through the signed-in account "
            f"({emulator['http_requests']} for {alerts} alerts; target 1.00)",
        ),
        "signed_in_tokens": _verdict(
            tokens <= TARGET_SIGNED_IN_TOKENS,
            f"{tokens} token request(s) during the signed-in burst (target <= 1)",
        ),
    }
    return {
        **per_alert,
        "account": signed_in["account"],
        "to_recipients": burst["delivery"]["to_recipients"],
        "intact_attachments": burst["delivery"]["intact_attachments"],
        "token_requests": tokens,
        "setup_s": signed_in["setup"]["seconds"],
        "targets": targets,
    }


def evaluate_storm(storm: dict[str, Any]) -> dict[str, Any]:
    """Summarise the storm row; check that no limit was crossed and nothing lost."""
    limit = storm["budget"]["daily_recipient_limit"]
    most = storm["most_recipients_in_24h"]
    crossings = storm["limit_crossings"]
    missing = storm["alerts_without_mail"]
    failed = storm["failed_calls"]
    wait = storm["wait_s"]
    real = storm["real"]
    targets = {
        "storm_no_limit_crossed": _verdict(
            crossings == 0 and limit is not None and most <= limit,
            f"{crossings} limit crossings at the emulator; at most {most} recipients "
            f"in any 24 hours of Home Assistant time (budget {limit}; the "
            f"emulator refuses past {storm['emulator_personal_limit']})",
        ),
        "storm_every_alert_in_a_mail": _verdict(
            missing == 0 and failed == 0,
            f"{storm['alerts'] - missing} of {storm['alerts']} alerts reached a mail "
            f"({failed} failed calls); the longest waited "
            f"{_minutes(wait['max'])} of Home Assistant time",
        ),
    }
    return {
        "alerts": storm["alerts"],
        "mails": storm["mails"],
        "mails_on_their_own": storm["mails_on_their_own"],
        "digests": storm["digests"],
        "recipients_used": storm["recipients_used"],
        "most_recipients_in_24h": most,
        "limit": limit,
        "limit_crossings": crossings,
        "longest_wait_s": wait["max"],
        "median_wait_s": wait["p50"],
        "cpu_s": real["total"]["cpu_s"],
        "stepping_cpu_s": real["baseline"]["cpu_s"],
        "wall_s": real["total"]["wall_s"],
        "targets": targets,
    }


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds:.1f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def evaluate(
    ours: dict[str, Any], smtp: dict[str, Any], apprise: dict[str, Any]
) -> dict[str, Any]:
    """Compute every sender's figures and ratios; check each target."""
    alerts = ours["alerts"]
    rounds = ours["burst_rounds"]
    modes = apprise["modes"]
    mine = _sender_summary(rounds, alerts, ours["latency"])
    mine["loop_thread_cpu_ms"] = _median(rounds)["loop_thread_cpu_s"] / alerts * 1000
    peers = {
        "smtp": _sender_summary(smtp["burst_rounds"], alerts, smtp["latency"]),
        "apprise_unpaced": _sender_summary(
            modes["unpaced"]["burst_rounds"], alerts, modes["unpaced"]["latency"]
        ),
        "apprise_paced": _sender_summary(
            modes["paced"]["burst_rounds"], alerts, modes["paced"]["latency"]
        ),
    }
    unpaced, peer_smtp = (
        peers["apprise_unpaced"],
        peers["smtp"],
    )
    ratios = {
        name: {
            "throughput": mine["throughput"] / peer["throughput"],
            "cpu_per_alert": mine["cpu_ms"] / peer["cpu_ms"],
            "cpu_per_message": (
                mine["cpu_ms_per_message"] / peer["cpu_ms_per_message"]
                if peer["cpu_ms_per_message"]
                else None
            ),
        }
        for name, peer in peers.items()
    }
    # Tokens: one per app-only account (each fetched at its setup), none
    # from the warm-up to the end of the last burst.
    ours_tokens = ours["tokens_total"]
    accounts = ours["setup"]["accounts"]
    setup_tokens = ours["setup"]["token_requests"]
    phase_tokens = ours["phase_token_requests"]
    holds = held_checks(ours)
    worst_http = max(r["emulator"]["http_requests"] for r in rounds) / alerts
    stall = max(
        ours["big"]["stalls"]["max_ms"], ours["stall_burst"]["stalls"]["max_ms"]
    )
    big_growth = ours["big"]["memory"]["peak_growth"]
    delivered = ours["big"]["delivery"]["intact_attachments"] == 1
    burst_growth = mine["rss_growth_worst"]
    single = ours["latency"]["to_last_byte"]
    p50 = single["p50_ms"]
    rounds_each = {
        "ours": len(rounds),
        "smtp": len(smtp["burst_rounds"]),
        "apprise_unpaced": len(modes["unpaced"]["burst_rounds"]),
        "apprise_paced": len(modes["paced"]["burst_rounds"]),
    }
    cpu_unpaced = ratios["apprise_unpaced"]["cpu_per_alert"]
    targets = {
        "requests_per_alert": _verdict(
            worst_http <= TARGET_REQUESTS_PER_ALERT,
            f"{worst_http:.2f} HTTP requests per alert, worst of {len(rounds)} "
            "rounds (target 1.00)",
        ),
        "one_token": _verdict(
            setup_tokens <= TARGET_TOKENS * accounts and phase_tokens == 0,
            f"{setup_tokens} token request(s) for {accounts} app-only accounts "
            f"(each at its setup), {phase_tokens} from the warm-up to the end of "
            "the last burst (target: 1 per account, 0 after setup)",
        ),
        "no_alert_held": holds["verdict"],
        "cpu_third_of_apprise": _verdict(
            cpu_unpaced <= TARGET_CPU_RATIO,
            f"CPU per alert {mine['cpu_ms']:.2f} ms vs unpaced Apprise's "
            f"{unpaced['cpu_ms']:.2f} ms = {cpu_unpaced:.3f}x (target <= 0.333x)",
        ),
        "cpu_tenth_of_unpaced_apprise": _verdict(
            cpu_unpaced <= TARGET_CPU_RATIO_UNPACED,
            f"{cpu_unpaced:.3f}x unpaced Apprise's CPU per alert (target <= 0.10x)",
        ),
        "cpu_not_above_smtp": _verdict(
            mine["cpu_ms"] <= peer_smtp["cpu_ms"],
            f"CPU per alert {mine['cpu_ms']:.2f} ms vs Home Assistant smtp's "
            f"{peer_smtp['cpu_ms']:.2f} ms = {ratios['smtp']['cpu_per_alert']:.2f}x "
            "(target <= 1x)",
        ),
        "throughput_50x": _verdict(
            ratios["apprise_paced"]["throughput"] >= TARGET_SPEEDUP,
            f"{ratios['apprise_paced']['throughput']:.0f}x Apprise as shipped "
            f"(paced; target >= 50x); against unpaced Apprise "
            f"{ratios['apprise_unpaced']['throughput']:.1f}x",
        ),
        "throughput_100_per_s": _verdict(
            mine["throughput"] >= TARGET_THROUGHPUT,
            f"{mine['throughput']:.0f} alerts/s with {mine['max_in_flight']} "
            f"requests in flight (target >= 100; emulator CPU busy "
            f"{mine['receiver_busy']:.0%} of the burst)",
        ),
        "stall_under_20ms": _verdict(
            stall < TARGET_STALL_MS,
            f"longest event-loop stall {stall:.1f} ms over all phases (target < 20 ms)",
        ),
        "big_attachment_16mb": _verdict(
            delivered and big_growth <= TARGET_GROWTH,
            f"100 MB {'delivered intact' if delivered else 'NOT delivered'}, peak "
            f"RSS growth {big_growth / MIB:.1f} MiB (target <= 16 MiB)",
        ),
        "single_alert_p50_5ms": _verdict(
            p50 is not None
            and p50 <= TARGET_SINGLE_ALERT_P50_MS
            and single["n"] >= TARGET_LATENCY_ALERTS,
            f"single alert, action call to the last byte at the emulator: p50 "
            f"{_ms(p50)}, p95 {_ms(single['p95_ms'])} over {single['n']} alerts "
            "(target p50 <= 5 ms over >= 50)",
        ),
        "burst_rss_8mib": _verdict(
            burst_growth <= TARGET_BURST_GROWTH,
            f"burst peak RSS growth {burst_growth / MIB:.1f} MiB, worst of "
            f"{len(rounds)} rounds (target <= 8 MiB)",
        ),
        "equal_rounds": _verdict(
            len(set(rounds_each.values())) == 1,
            "burst rounds per sender: "
            + ", ".join(f"{k} {v}" for k, v in rounds_each.items()),
        ),
    }
    summary: dict[str, Any] = {
        "ours": mine,
        **peers,
        "ratios": ratios,
        # The headline ratios: against Apprise with its pacing off.
        "speedup": ratios["apprise_unpaced"]["throughput"],
        "cpu_ratio": cpu_unpaced,
        "single_alert_ms_p50": p50,
        "single_alert_ms_p95": single["p95_ms"],
        "burst_rss_growth_mib": burst_growth / MIB,
        "tokens": {
            "ours": ours_tokens,
            "apprise_unpaced": modes["unpaced"]["tokens_total"],
            "apprise_paced": modes["paced"]["tokens_total"],
        },
        "stall_ms": stall,
        "rounds_per_sender": rounds_each,
        "held_checks": holds["phases"],
        "targets": targets,
    }
    # Issue 12's targets are kept apart (the chart draws the others).
    if "signed_in" in ours:
        summary["signed_in"] = evaluate_signed_in(ours["signed_in"], alerts)
    return summary


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f} ms"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--alerts",
        type=int,
        default=200,
        help="alerts per burst (over 277, 3 recipients each, a burst passes the "
        "834 recipients an hour a fresh work mailbox may send alerts on their "
        "own: the integration holds the rest and no_alert_held fails)",
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="bursts per sender (median reported)"
    )
    parser.add_argument(
        "--latency-alerts",
        type=int,
        default=LATENCY_ALERTS,
        help="single alerts per sender for the latency figures",
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "bench")
    parser.add_argument(
        "--readme",
        type=Path,
        default=ROOT / "README.md",
        help="README whose Benchmarks section is rewritten ('-' for none)",
    )
    parser.add_argument("--lane", default="", help="the Home Assistant venv's name")
    parser.add_argument(
        "--custom-components",
        type=Path,
        default=ROOT / "custom_components",
        help="the custom_components folder to measure (default: the work tree's)",
    )
    parser.add_argument(
        "--no-profile", action="store_true", help="skip the profiled bursts"
    )
    parser.add_argument(
        "--no-storm",
        action="store_true",
        help="skip the storm row (400 alerts through Outlook.com, then a day)",
    )
    parser.add_argument(
        "--bench-python",
        type=Path,
        default=WORK / "apprise-venv" / "bin" / "python",
        help="Python of the venv with Apprise, aiosmtpd and matplotlib",
    )
    args = parser.parse_args(argv)
    python = Path(sys.executable)
    bench_python: Path = args.bench_python
    logs = WORK / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out_dir: Path = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)

    subprocess.run(  # noqa: S603 - our own interpreter and module
        [str(bench_python), "-m", "bench.make_data", str(WORK / "data")],
        cwd=ROOT,
        check=True,
        stdout=subprocess.DEVNULL,
    )
    manifest = WORK / "data" / "manifest.json"
    config_dir = WORK / "ha-config"
    shutil.rmtree(config_dir, ignore_errors=True)
    config_dir.mkdir(parents=True)
    (config_dir / "custom_components").symlink_to(args.custom_components.resolve())
    extras = smtp_requirements(python, logs)

    from .tls import generate  # noqa: PLC0415 - needs cryptography (HA's venv)

    tls = generate(WORK / "smtp-tls")
    bodies_log = WORK / "bodies.log"
    load: dict[str, str] = {}
    emulator = start_emulator(python, logs, bodies_log, args.rounds)
    url, ca = emulator.values["O365_EMULATOR_URL"], emulator.values["O365_EMULATOR_CA"]
    sys.stderr.write(f"emulator at {url}\n")
    smtp_server = None
    try:
        smtp_server = start_smtp_server(bench_python, logs, tls)
        sys.stderr.write(f"SMTP server on port {smtp_server.values['SMTP_PORT']}\n")
        common = [
            "--emulator-url",
            url,
            "--ca",
            ca,
            "--emulator-pid",
            str(emulator.process.pid),
            "--manifest",
            str(manifest),
            "--alerts",
            str(args.alerts),
            "--rounds",
            str(args.rounds),
            "--latency-alerts",
            str(args.latency_alerts),
            "--bodies-log",
            str(bodies_log),
        ]
        load["ha"] = _loadavg()
        paced_s = args.rounds * args.alerts * 3 * 0.2
        sys.stderr.write(
            "measuring notify.o365 and smtp in Home Assistant, with Apprise's "
            f"rounds between theirs (its pacing alone takes {paced_s / 60:.0f}+ "
            "minutes)...\n"
        )
        ha_env = {
            "O365_EMULATOR_URL": url,
            "O365_EMULATOR_CA": ca,
            # Home Assistant's SSL contexts read their CA file from here.
            "REQUESTS_CA_BUNDLE": str(tls.bundle),
        }
        if extras:
            ha_env["PYTHONPATH"] = os.pathsep.join(
                p for p in (extras, os.environ.get("PYTHONPATH", "")) if p
            )
        run_driver(
            python,
            "bench.ha_driver",
            [
                *common,
                "--config-dir",
                str(config_dir),
                "--smtp-port",
                smtp_server.values["SMTP_PORT"],
                "--smtp-control-url",
                smtp_server.values["SMTP_CONTROL_URL"],
                "--smtp-pid",
                str(smtp_server.process.pid),
                *(["--no-profile"] if args.no_profile else []),
                "--apprise-python",
                str(bench_python),
                "--out",
                str(WORK / "ours.json"),
            ],
            logs / "ha.log",
            ha_env,
        )
        load["apprise"] = _loadavg()
        sys.stderr.write("measuring Apprise's single alerts and its 100 MB...\n")
        run_driver(
            bench_python,
            "bench.apprise_driver",
            [*common, "--part", "setup", "--out", str(WORK / "apprise.json")],
            logs / "apprise.log",
            {"REQUESTS_CA_BUNDLE": ca, "CURL_CA_BUNDLE": ca},
        )
    finally:
        if smtp_server is not None:
            smtp_server.stop()
        emulator.stop()

    storm = None
    if not args.no_storm:
        load["storm"] = _loadavg()
        sys.stderr.write(
            "the storm: 400 alerts through an Outlook.com account, then a day "
            "on Home Assistant's clock...\n"
        )
        jpeg_path = json.loads(manifest.read_text())["jpeg"]["path"]
        storm = run_storm(python, logs, jpeg_path, config_dir)

    ours = json.loads((WORK / "ours.json").read_text())
    smtp = ours.pop("smtp")
    apprise = json.loads((WORK / "apprise.json").read_text())
    merge_apprise_rounds(apprise, ours.pop("apprise_rounds"))
    env = environment(python, bench_python, args.lane or str(python.parent.parent))
    env["smtp_trust"] = {
        "verify_ssl": True,
        "ca_file_variable": "REQUESTS_CA_BUNDLE",
        "base_bundle": tls.base_bundle,
    }
    summary = evaluate(ours, smtp, apprise)
    if storm is not None:
        summary["storm"] = evaluate_storm(storm)
    results = {
        "environment": env,
        "load": load,
        "summary": summary,
        "ours": ours,
        "smtp": smtp,
        "apprise": apprise,
    }
    if storm is not None:
        results["storm"] = storm
    write_json(out_dir / "results.json", results)
    text = render(results)
    (out_dir / "results.md").write_text(text, encoding="utf-8")
    subprocess.run(  # noqa: S603 - our own interpreter and module
        [
            str(bench_python),
            "-m",
            "bench.chart",
            str(out_dir / "results.json"),
            str(out_dir / "bench.png"),
        ],
        cwd=ROOT,
        check=True,
    )
    if str(args.readme) != "-":
        update_readme(args.readme, results, out_dir)
    sys.stdout.write(text)
    sys.stdout.write(f"\nWrote {out_dir / 'results.md'}, results.json, bench.png\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
