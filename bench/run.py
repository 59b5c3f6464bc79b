"""Run the whole benchmark: one emulator, our integration, then Apprise.

``python -m bench.run`` (``scripts/bench`` prepares the venvs and calls it).
Everything runs in one process tree:

* the emulator, started once as its own process (``python -m emulator
  --port 0``), so its CPU time is not charged to either sender; its tenant message limit is raised to 150 MB
  (what an Exchange admin can set) so a 100 MB attachment is allowed;
* ``bench.ha_driver`` in the project venv: Home Assistant + ``notify.o365``
  (an app-only account, then a signed-in one);
* ``bench.apprise_driver`` in the bench venv: Apprise 2.2.0;
* ``bench.chart`` in the bench venv: the PNG.

The two senders run one after the other against the same emulator. The
results go to stdout, ``docs/bench/results.md`` and ``docs/bench/results.json``
(``--out-dir``); logs to ``.bench/logs``.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import datetime as dt
import json
import os
from pathlib import Path
import platform
import shutil
import subprocess
import sys
from typing import Any

from .common import write_json

ROOT = Path(__file__).resolve().parent.parent
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
#: The emulator tenant's message size limit for this run (Exchange's maximum).
TENANT_LIMIT = 150 * MIB


@dataclass
class Emulator:
    """The running emulator process and how to reach it."""

    process: subprocess.Popen[str]
    url: str
    ca: str

    def stop(self) -> None:
        """Stop the emulator (SIGTERM, then wait)."""
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_emulator(python: Path, logs: Path) -> Emulator:
    """Start the emulator on a free port and read its address lines."""
    state = WORK / "emulator"
    state.mkdir(parents=True, exist_ok=True)
    directory = state / "directory.json"
    write_json(
        directory,
        {
            "tenant": {
                "id": "6babcaad-604b-40ac-a9d7-9fd97c0b779f",
                "domains": ["contoso.onmicrosoft.com", "contoso.com"],
                "max_message_size": TENANT_LIMIT,
            }
        },
    )
    log = (logs / "emulator.log").open("w")
    process = subprocess.Popen(  # noqa: S603 - our own interpreter and module
        [
            str(python),
            "-m",
            "emulator",
            "--port",
            "0",
            "--state-dir",
            str(state),
            "--directory",
            str(directory),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    assert process.stdout is not None
    values: dict[str, str] = {}
    for line in process.stdout:
        key, _, value = line.strip().partition("=")
        values[key] = value
        if key == "INBOX":
            break
    if "O365_EMULATOR_URL" not in values:
        process.kill()
        raise SystemExit(f"the emulator did not start; see {logs / 'emulator.log'}")
    return Emulator(process, values["O365_EMULATOR_URL"], values["O365_EMULATOR_CA"])


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


def _version(python: Path, package: str) -> str:
    done = subprocess.run(  # noqa: S603 - our own interpreter
        [
            str(python),
            "-c",
            f"import importlib.metadata as m; print(m.version({package!r}))",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() or "?"


def _loadavg() -> str:
    """Return the 1-minute load average (other work on the machine)."""
    return Path("/proc/loadavg").read_text().split()[0]


def environment(python: Path, bench_python: Path) -> dict[str, Any]:
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
        "python": platform.python_version(),
        "homeassistant": _version(python, "homeassistant"),
        "aiohttp": _version(python, "aiohttp"),
        "msal": _version(python, "msal"),
        "apprise": _version(bench_python, "apprise"),
    }


# -- the summary ---------------------------------------------------------------


def _per_alert(phase: dict[str, Any], alerts: int) -> dict[str, float]:
    emulator = phase["emulator"]
    return {
        "throughput": alerts / phase["wall_s"],
        "cpu_ms": phase["cpu_s"] / alerts * 1000,
        "http": emulator["http_requests"] / alerts,
        "graph": emulator["graph_requests"] / alerts,
    }


def _verdict(met: bool, detail: str) -> dict[str, Any]:
    return {"met": met, "detail": detail}


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
        "wall_s": burst["wall_s"],
        "messages": burst["delivery"]["messages"],
        "to_recipients": burst["delivery"]["to_recipients"],
        "intact_attachments": burst["delivery"]["intact_attachments"],
        "failed_calls": burst["failed_calls"],
        "token_requests": tokens,
        "emulator_busy": burst["emulator_cpu_s"] / burst["wall_s"],
        "setup_s": signed_in["setup"]["seconds"],
        "targets": targets,
    }


def evaluate(ours: dict[str, Any], apprise: dict[str, Any]) -> dict[str, Any]:
    """Compute the ratios and check each target of the issue."""
    alerts = ours["alerts"]
    mine = _per_alert(ours["burst"], alerts)
    theirs = _per_alert(apprise["burst"], apprise["alerts"])
    speedup = mine["throughput"] / theirs["throughput"]
    cpu_ratio = mine["cpu_ms"] / theirs["cpu_ms"]
    # Tokens the burst's sender fetched from its start to the end of the burst.
    rounds = ours["burst_rounds"]
    ours_tokens = (
        ours["setup"]["emulator"]["token_requests"]
        + ours["warmup"]["token_requests"]
        + ours["big"]["emulator"]["token_requests"]
        + sum(r["emulator"]["token_requests"] for r in rounds)
    )
    # Every round must hold the line, not only the median one.
    worst_http = max(r["emulator"]["http_requests"] for r in rounds) / alerts
    apprise_tokens = (
        apprise["warmup"]["token_requests"]
        + apprise["burst"]["emulator"]["token_requests"]
    )
    stall = max(
        ours["big"]["stalls"]["max_ms"], *(r["stalls"]["max_ms"] for r in rounds)
    )
    growth = ours["big"]["memory"]["peak_growth"]
    delivered = ours["big"]["delivery"]["intact_attachments"] == 1
    emulator_busy = ours["burst"]["emulator_cpu_s"] / ours["burst"]["wall_s"]
    targets = {
        "requests_per_alert": _verdict(
            worst_http <= TARGET_REQUESTS_PER_ALERT,
            f"{worst_http:.2f} HTTP requests per alert, worst of {len(rounds)} "
            "rounds (target 1.00)",
        ),
        "one_token": _verdict(
            ours_tokens <= TARGET_TOKENS,
            f"{ours_tokens} token request(s) from setup to the end of the last "
            "burst (target 1)",
        ),
        "cpu_third_of_apprise": _verdict(
            cpu_ratio <= TARGET_CPU_RATIO,
            f"CPU per alert {mine['cpu_ms']:.2f} ms vs {theirs['cpu_ms']:.2f} ms "
            f"= {cpu_ratio:.3f}x Apprise's (target <= 0.333x)",
        ),
        "throughput_50x": _verdict(
            speedup >= TARGET_SPEEDUP,
            f"{speedup:.0f}x Apprise's throughput (target >= 50x)",
        ),
        "throughput_100_per_s": _verdict(
            mine["throughput"] >= TARGET_THROUGHPUT,
            f"{mine['throughput']:.0f} alerts/s with 4 requests in flight "
            f"(target >= 100; emulator CPU busy {emulator_busy:.0%} of the burst)",
        ),
        "stall_under_20ms": _verdict(
            stall < TARGET_STALL_MS,
            f"longest event-loop stall {stall:.1f} ms over all phases (target < 20 ms)",
        ),
        "big_attachment_16mb": _verdict(
            delivered and growth <= TARGET_GROWTH,
            f"100 MB {'delivered intact' if delivered else 'NOT delivered'}, peak "
            f"RSS growth {growth / MIB:.1f} MiB (target <= 16 MiB)",
        ),
    }
    summary: dict[str, Any] = {
        "ours": mine,
        "apprise": theirs,
        "speedup": speedup,
        "cpu_ratio": cpu_ratio,
        "tokens": {"ours": ours_tokens, "apprise": apprise_tokens},
        "stall_ms": stall,
        "rounds": [
            {
                "wall_s": r["wall_s"],
                "throughput": alerts / r["wall_s"],
                "cpu_ms": r["cpu_s"] / alerts * 1000,
                "stall_ms": r["stalls"]["max_ms"],
                "rss_growth": r["memory"]["peak_growth"],
            }
            for r in rounds
        ],
        "emulator_busy": emulator_busy,
        "targets": targets,
    }
    # Issue 12's targets are kept apart from issue 8's (the chart draws those).
    if "signed_in" in ours:
        summary["signed_in"] = evaluate_signed_in(ours["signed_in"], alerts)
    return summary


def _mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def _trim(text: str, length: int = 110) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _tail(text: str, length: int = 220) -> str:
    """Keep the end of a coroutine chain: the innermost frames say the most."""
    return text if len(text) <= length else "…" + text[-(length - 1) :]


def render(
    results: dict[str, Any],
) -> str:
    """Return the results as Markdown (the same text is printed)."""
    ours, apprise, summary = results["ours"], results["apprise"], results["summary"]
    env = results["environment"]
    mine, theirs = summary["ours"], summary["apprise"]
    ob, ab = ours["burst"], apprise["burst"]
    og, ag = ours["big"], apprise["big"]
    alerts = ours["alerts"]

    worst_round = max(ours["burst_rounds"], key=lambda r: r["stalls"]["max_ms"])
    busiest = max(ours["burst_rounds"], key=lambda r: r["stalls"]["max_busy_ms"])

    def ratio(a: float, b: float, fmt: str = ".0f") -> str:
        return f"{a / b:{fmt}}x" if b else "n/a"

    rows = [
        (
            "**Burst**: alerts (150 KB JPEG, 3 To each)",
            str(alerts),
            str(apprise["alerts"]),
            "",
        ),
        (
            "messages delivered / To recipients",
            f"{ob['delivery']['messages']} / {ob['delivery']['to_recipients']}",
            f"{ab['delivery']['messages']} / {ab['delivery']['to_recipients']}",
            "Apprise sends one message per recipient",
        ),
        (
            "wall time",
            f"{ob['wall_s']:.2f} s",
            f"{ab['wall_s']:.1f} s",
            ratio(ab["wall_s"], ob["wall_s"]) + " faster",
        ),
        (
            "throughput",
            f"{mine['throughput']:.0f} alerts/s",
            f"{theirs['throughput']:.2f} alerts/s",
            f"{summary['speedup']:.0f}x",
        ),
        (
            "CPU time per alert (sender process)",
            f"{mine['cpu_ms']:.2f} ms",
            f"{theirs['cpu_ms']:.2f} ms",
            f"{summary['cpu_ratio']:.3f}x",
        ),
        (
            "  of which event-loop thread",
            f"{ob['loop_thread_cpu_s'] / alerts * 1000:.2f} ms",
            "n/a (one thread)",
            "",
        ),
        (
            "HTTP requests per alert (emulator count)",
            f"{mine['http']:.2f}",
            f"{theirs['http']:.2f}",
            ratio(theirs["http"], mine["http"], ".1f") + " fewer",
        ),
        (
            "token requests (burst sender, from its start)",
            str(summary["tokens"]["ours"]),
            str(summary["tokens"]["apprise"]),
            "",
        ),
        (
            "max requests in flight / 429s",
            f"{ob['emulator']['max_in_flight']} / {ob['emulator']['recent_statuses'].get('sendMail 429', 0)}",
            f"{ab['emulator']['max_in_flight']} / {ab['emulator']['recent_statuses'].get('sendMail 429', 0)}",
            "",
        ),
        (
            "latency per alert p50 / p95",
            f"{ob['latency_s']['p50']:.2f} / {ob['latency_s']['p95']:.2f} s",
            f"{ab['wall_s'] / apprise['alerts']:.2f} s each, in turn",
            "",
        ),
        (
            "peak RSS growth during the burst (worst round)",
            _mib(max(r["rss_growth"] for r in summary["rounds"])),
            _mib(ab["memory"]["peak_growth"]),
            "",
        ),
        (
            "emulator CPU during the burst",
            f"{ob['emulator_cpu_s']:.2f} s ({summary['emulator_busy']:.0%} of wall)",
            f"{ab['emulator_cpu_s']:.2f} s",
            "not the bottleneck if well under 100%",
        ),
        ("**100 MB attachment** (1 To)", "", "", ""),
        (
            "result",
            "delivered intact"
            if og["delivery"]["intact_attachments"]
            else f"FAILED: {og['error']}",
            "delivered intact"
            if ag["delivery"]["intact_attachments"]
            else "FAILED: notify() returned False",
            "",
        ),
        (
            "wall time",
            f"{og['wall_s']:.2f} s",
            f"{ag['wall_s']:.2f} s",
            "",
        ),
        (
            "peak RSS growth",
            _mib(og["memory"]["peak_growth"]),
            _mib(ag["memory"]["peak_growth"]),
            "",
        ),
        (
            "requests seen by the emulator",
            ", ".join(f"{k} {v}" for k, v in og["emulator"]["recent_statuses"].items()),
            ", ".join(f"{k} {v}" for k, v in ag["emulator"]["recent_statuses"].items()),
            "operation status count",
        ),
        ("**Event loop** (Home Assistant)", "", "", ""),
        (
            "longest stall, burst (worst round)",
            (
                f"{max(r['stall_ms'] for r in summary['rounds']):.1f} ms "
                f"(CPU {worst_round['stalls']['max_cpu_ms']:.1f} ms)"
            ),
            "n/a",
            (
                f"{ob['stalls']['callbacks']} callbacks per round, "
                f"{sum(r['stalls']['callbacks_over_20ms'] for r in ours['burst_rounds'])} "
                "over 20 ms in all rounds"
            ),
        ),
        (
            "longest callback by loop-thread CPU (burst / 100 MB)",
            (
                f"{max(r['stalls']['max_busy_ms'] for r in ours['burst_rounds']):.1f} / "
                f"{og['stalls']['max_busy_ms']:.1f} ms"
            ),
            "n/a",
            "a stall without the time the OS ran other processes",
        ),
        (
            "longest stall, 100 MB",
            f"{og['stalls']['max_ms']:.1f} ms (CPU {og['stalls']['max_cpu_ms']:.1f} ms)",
            "n/a",
            f"{og['stalls']['callbacks']} callbacks, {og['stalls']['callbacks_over_20ms']} over 20 ms",
        ),
    ]
    if "signed_in" in ours:
        rows += _signed_in_rows(ours["signed_in"], summary, alerts)
    lines = [
        "# Benchmark: notify.o365 vs Apprise's Office 365 plugin",
        "",
        (
            f"Run {env['date']} on {env['cpu']} ({env['cores']} cores), commit "
            f"`{env['commit']}`. Python {env['python']}, Home Assistant "
            f"{env['homeassistant']}, aiohttp {env['aiohttp']}, msal {env['msal']}; "
            f"Apprise {env['apprise']}. Both against the project's emulator (one "
            "process, same run). Produced by `scripts/bench`."
        ),
        "",
        "| | ours: `notify.o365` in Home Assistant | Apprise o365 | ratio / note |",
        "|---|---|---|---|",
    ]
    lines += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    targets = dict(summary["targets"])
    heading = "## Targets (issue 8)"
    if "signed_in" in summary:
        targets.update(summary["signed_in"]["targets"])
        heading = "## Targets (issue 8; signed-in account: issue 12)"
    lines += ["", heading, "", "| target | result | |", "|---|---|---|"]
    for name, verdict in targets.items():
        mark = "met" if verdict["met"] else "**missed**"
        lines.append(f"| {name} | {mark} | {verdict['detail']} |")
    rounds_text = ", ".join(
        f"{r['throughput']:.0f}/s {r['cpu_ms']:.2f} ms {r['stall_ms']:.1f} ms"
        for r in summary["rounds"]
    )
    lines += [
        "",
        "## Details",
        "",
        (
            f"- Our burst ran {len(summary['rounds'])} times (alerts/s, CPU per "
            f"alert, longest stall): {rounds_text}. The table shows the median "
            "round by wall time; stalls and memory are the worst round's."
        ),
        (
            f"- Load average when each sender started: ours "
            f"{results['load']['ours']}, Apprise {results['load']['apprise']} "
            f"({env['cores']} cores; other processes on the machine inflate wall "
            "and CPU times)."
        ),
        (
            "- Longest stall in the bursts: "
            f"`{_tail(worst_round['stalls']['max_callback'])}`"
        ),
        (
            "- Longest callback by loop-thread CPU in the bursts: "
            f"`{_tail(busiest['stalls']['max_busy_callback'])}`"
        ),
        f"- Longest stall with 100 MB: `{_tail(og['stalls']['max_callback'])}`",
        (
            f"- Garbage collector: longest pause {ob['stalls']['gc_max_ms']:.1f} ms "
            f"(burst), {og['stalls']['gc_max_ms']:.1f} ms (100 MB)."
        ),
        f"- Apprise's 100 MB alert: {ag['error']}. Its log: "
        + "; ".join(
            f"`{_trim(' '.join(line.split()), 330)}`" for line in ag["log"][:3]
        ),
        "- Apprise's requests for it: "
        + "; ".join(f"`{line}`" for line in ag["requests_log"]),
        (
            f"- Our requests for it: {len(og['requests_log'])} "
            f"(`{og['requests_log'][0]}` … `{og['requests_log'][-1]}`)"
        ),
        f"- Our integration's client counters: {ours['integration']}.",
    ]
    if "signed_in" in ours:
        lines += _signed_in_details(ours["signed_in"])
    lines += ["", APPRISE_UPLOAD, "", "## How it is measured", "", METHOD]
    return "\n".join(lines) + "\n"


def _signed_in_rows(
    signed_in: dict[str, Any], summary: dict[str, Any], alerts: int
) -> list[tuple[str, str, str, str]]:
    """Return the table rows of the burst through the signed-in account."""
    burst, mine = signed_in["burst"], summary["signed_in"]
    app_only = summary["ours"]
    setup = signed_in["setup"]
    not_measured = "not measured (Apprise is run with app credentials only)"
    return [
        (
            (
                f"**Burst through a signed-in account** (`{signed_in['account']}`, "
                "`/me/sendMail`): alerts (150 KB JPEG, 3 To each)"
            ),
            str(alerts),
            not_measured,
            "",
        ),
        (
            "messages delivered / To recipients",
            f"{mine['messages']} / {mine['to_recipients']}",
            "",
            (
                f"{mine['intact_attachments']} attachments intact, "
                f"{mine['failed_calls']} failed calls"
            ),
        ),
        ("wall time", f"{mine['wall_s']:.2f} s", "", "one round"),
        (
            "throughput",
            f"{mine['throughput']:.0f} alerts/s",
            "",
            f"app-only (median round): {app_only['throughput']:.0f} alerts/s",
        ),
        (
            "CPU time per alert (sender process)",
            f"{mine['cpu_ms']:.2f} ms",
            "",
            f"app-only: {app_only['cpu_ms']:.2f} ms",
        ),
        (
            "HTTP requests per alert (emulator count)",
            f"{mine['http']:.2f}",
            "",
            "",
        ),
        (
            "token requests during the burst",
            str(mine["token_requests"]),
            "",
            "the token was fetched at setup",
        ),
        (
            "max requests in flight / 429s",
            (
                f"{burst['emulator']['max_in_flight']} / "
                f"{burst['emulator']['recent_statuses'].get('sendMail 429', 0)}"
            ),
            "",
            "",
        ),
        (
            "latency per alert p50 / p95",
            f"{burst['latency_s']['p50']:.2f} / {burst['latency_s']['p95']:.2f} s",
            "",
            "",
        ),
        (
            "emulator CPU during the burst",
            f"{burst['emulator_cpu_s']:.2f} s ({mine['emulator_busy']:.0%} of wall)",
            "",
            "",
        ),
        (
            "sign-in and setup (config flow to loaded entry)",
            f"{setup['seconds']:.1f} s",
            "",
            (
                "not a speed figure: it depends on when the code is entered "
                "(the flow polls every 1 s, an emulator setting)"
            ),
        ),
        (
            "  requests seen by the emulator",
            ", ".join(
                f"{k} {v}" for k, v in setup["emulator"]["recent_statuses"].items()
            ),
            "",
            "operation status count",
        ),
    ]


def _signed_in_details(signed_in: dict[str, Any]) -> list[str]:
    """Return the Details lines of the burst through the signed-in account."""
    burst = signed_in["burst"]
    lines = [
        (
            f"- Signed-in account `{signed_in['account']}` (entry `auth_type` "
            f"{signed_in['auth_type']!r}); its client counters after its burst: "
            f"{signed_in['integration']}."
        ),
        (
            "- Its sign-in, as the emulator logged it: "
            + "; ".join(f"`{line}`" for line in signed_in["setup"]["requests_log"])
        ),
        (
            "- Its burst's requests by operation and status: "
            + ", ".join(
                f"{k} {v}" for k, v in burst["emulator"]["recent_statuses"].items()
            )
            + f" (the emulator logs the last {burst['emulator']['recent_logged']})."
        ),
    ]
    if burst["errors"]:
        lines.append(
            f"- Failed calls in it: {burst['failed_calls']}, e.g. "
            + "; ".join(f"`{_trim(e, 200)}`" for e in burst["errors"])
        )
    return lines


APPRISE_UPLOAD = """\
Apprise 2.2.0's large-attachment path, as read in its `plugins/office365.py`: it
creates the draft by POSTing its *sendMail* body (`{"message": ..., "saveToSentItems":
...}`) to `/users/{source}/messages`, which Graph (like the emulator) refuses with
400 `RequestBodyRead`, so nothing is uploaded and `notify()` returns False (once per
recipient). The code after that point has further faults this run cannot reach:
`createUploadSession` goes to `/users/{source}/message/{id}/...` (singular
`message`), every PUT says `Content-Range: bytes 0-5242879/104857600` (the start
offset is never advanced) and carries the `Authorization` header, and the final
`send` goes to a hard-coded `https://graph.microsoft.com/v1.0` URL."""

METHOD = """\
- One emulator process (`python -m emulator`), started
  once; its statistics are reset before each phase and read after it. Request
  counts are the emulator's, token requests included. Its CPU time is read from
  `/proc/PID/stat` to show it is not the bottleneck.
- Ours: a real `HomeAssistant` core (Home Assistant's event loop policy and
  executor, registries, core config with `allowlist_external_dirs`, blocking-I/O
  detection on) with an `o365` config entry against the emulator; each alert is
  `hass.services.async_call("notify", "o365", ..., blocking=True)`, all 200 fired
  at once. The integration keeps at most 4 requests in flight.
- Then a signed-in account is added through the config flow, as a person adds
  one: the menu's `sign_in` step with the emulator's public client app and the
  `consumers` authority; the code the progress step shows is entered through
  the emulator's `POST /_emulator/devicelogin` (Casey's part), and the flow
  finishes on its own. The same burst (same JPEG, recipients and number of
  alerts, `data.account: casey@outlook.com`) goes through it to `/me/sendMail`:
  one round, no warm-up alert (the app-only phases ran in the same process).
- Apprise 2.2.0 in its own venv, defaults untouched: `Apprise.notify()` per alert,
  in turn; one message per recipient, a 0.2 s pause before each request. Only its
  `graph_url`/`auth_url` class attributes are pointed at the emulator.
- Each sender sends one unmeasured warm-up alert first. The 100 MB phase runs
  before the burst, from a trimmed heap (`gc.collect()`, `malloc_trim(0)`).
- CPU time: `getrusage(RUSAGE_SELF)` user+system of the sender's process (all
  threads: Home Assistant's loop and executor; Apprise's one thread), minus the
  RSS sampler thread's own CPU time. The loop thread's share is `thread_time()`.
- Memory: peak RSS minus RSS at the start of the phase: `VmRSS` sampled every
  5 ms by a thread, and the kernel's exact peak `VmHWM` after resetting it
  (`/proc/self/clear_refs`); the larger is reported.
- Event-loop stalls: every callback on Home Assistant's loop is timed by wrapping
  `asyncio.Handle._run`; a stall is one callback's wall-clock duration (the
  target's measure). Its loop-thread CPU time (`thread_time`) is shown beside
  it: the difference is time the OS ran other processes (the machine has 2
  cores and may be shared).
"""


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--alerts", type=int, default=200)
    parser.add_argument(
        "--rounds", type=int, default=3, help="bursts of ours (median reported)"
    )
    parser.add_argument("--out-dir", type=Path, default=ROOT / "docs" / "bench")
    parser.add_argument(
        "--bench-python",
        type=Path,
        default=WORK / "apprise-venv" / "bin" / "python",
        help="Python of the venv with Apprise and matplotlib",
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
    (config_dir / "custom_components").symlink_to(ROOT / "custom_components")

    load: dict[str, str] = {}
    emulator = start_emulator(python, logs)
    sys.stderr.write(f"emulator at {emulator.url}\n")
    try:
        common = [
            "--emulator-url",
            emulator.url,
            "--ca",
            emulator.ca,
            "--emulator-pid",
            str(emulator.process.pid),
            "--manifest",
            str(manifest),
            "--alerts",
            str(args.alerts),
        ]
        load["ours"] = _loadavg()
        sys.stderr.write("measuring notify.o365 in Home Assistant...\n")
        run_driver(
            python,
            "bench.ha_driver",
            [
                *common,
                "--rounds",
                str(args.rounds),
                "--config-dir",
                str(config_dir),
                "--out",
                str(WORK / "ours.json"),
            ],
            logs / "ha.log",
            {"O365_EMULATOR_URL": emulator.url, "O365_EMULATOR_CA": emulator.ca},
        )
        load["apprise"] = _loadavg()
        sys.stderr.write("measuring Apprise (about 2 minutes: it paces itself)...\n")
        run_driver(
            bench_python,
            "bench.apprise_driver",
            [*common, "--out", str(WORK / "apprise.json")],
            logs / "apprise.log",
            {"REQUESTS_CA_BUNDLE": emulator.ca, "CURL_CA_BUNDLE": emulator.ca},
        )
    finally:
        emulator.stop()

    ours = json.loads((WORK / "ours.json").read_text())
    apprise = json.loads((WORK / "apprise.json").read_text())
    results = {
        "environment": environment(python, bench_python),
        "load": load,
        "summary": evaluate(ours, apprise),
        "ours": ours,
        "apprise": apprise,
    }
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
    sys.stdout.write(text)
    sys.stdout.write(f"\nWrote {out_dir / 'results.md'}, results.json, bench.png\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
