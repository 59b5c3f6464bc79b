"""Write the results as Markdown: ``results.md`` and the README's Benchmarks section.

Every sentence that states a result is built from the numbers of the run
(``results.json``); nothing here claims a figure or a comparison of its own.
Text that explains *how* something was measured is fixed, and so is the note
on Apprise's large-attachment code, which is shown only when the run saw the
failure it explains.
"""

from __future__ import annotations

from pathlib import Path
import re
import textwrap
from typing import Any

from .common import LATENCY_PAUSE_S

MIB = 1024 * 1024
#: Apprise's office365 plugin: seconds between requests, as shipped.
APPRISE_PACE_S = 0.2
SENDERS = ("ours", "smtp", "apprise_unpaced", "apprise_paced")


def _names(results: dict[str, Any]) -> dict[str, str]:
    env = results["environment"]
    return {
        "ours": "ours: `notify.o365`",
        "smtp": f"Home Assistant `smtp` ({env['homeassistant']})",
        "apprise_unpaced": f"Apprise {env['apprise']}, pacing off",
        "apprise_paced": f"Apprise {env['apprise']} as shipped (paced)",
    }


def _ms(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f} ms"


def _mib(value: float) -> str:
    return f"{value / MIB:.1f} MiB"


def _x(value: float | None, digits: int = 2) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}x"


def _times(ratio: float) -> str:
    """Say how ``ratio`` (ours / theirs, higher is better for ours) reads."""
    if ratio >= 1:
        return f"{ratio:.1f}x as many" if ratio < 10 else f"{ratio:.0f}x as many"
    return f"{1 / ratio:.1f}x fewer"


def _cheaper(ratio: float) -> str:
    """Say how a CPU ratio (ours / theirs) reads: lower is better for ours."""
    if ratio <= 1:
        return f"{ratio:.2f}x (ours uses {(1 - ratio):.0%} less)"
    return f"{ratio:.2f}x (ours uses {(ratio - 1):.0%} more)"


def _wrap(text: str, bullet: bool = False) -> str:
    """Wrap a paragraph (or a ``- `` bullet) at the README's width."""
    return textwrap.fill(
        text,
        width=79,
        subsequent_indent="  " if bullet else "",
        break_long_words=False,
        break_on_hyphens=False,
    )


def _times_word(n: int) -> str:
    return {1: "once", 2: "twice"}.get(n, f"{n} times")


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" + ("" if n == 1 else "s")


def _trim(text: str, length: int = 110) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


def _tail(text: str, length: int = 220) -> str:
    """Keep the end of a coroutine chain: the innermost frames say the most."""
    return text if len(text) <= length else "…" + text[-(length - 1) :]


# -- prose from the numbers ------------------------------------------------------


def findings(
    results: dict[str, Any], *, skip: frozenset[str] = frozenset()
) -> list[str]:
    """Return the run's results as sentences, each built from its figures.

    Each paragraph has a key (``throughput``, ``cpu``, ``per_message``,
    ``single_alert``, ``memory``, ``smtp_sending``, ``fairness``, ``budget``,
    ``storm``); those in ``skip`` are left out.
    """
    s = results["summary"]
    env = results["environment"]
    ours, smtp = s["ours"], s["smtp"]
    unpaced, paced = s["apprise_unpaced"], s["apprise_paced"]
    r = s["ratios"]
    alerts = results["ours"]["alerts"]
    keyed: list[tuple[str, str]] = []

    waiting = paced["wall_s"] - unpaced["wall_s"]
    keyed.append(
        (
            "throughput",
            (
                f"**Throughput.** A burst of {alerts} alerts took ours "
                f"{ours['wall_s']:.2f} s ({ours['throughput']:.0f} alerts/s), Home "
                f"Assistant's smtp {smtp['wall_s']:.2f} s "
                f"({smtp['throughput']:.0f}/s), Apprise with its pacing off "
                f"{unpaced['wall_s']:.1f} s ({unpaced['throughput']:.1f}/s) and "
                f"Apprise as shipped {paced['wall_s']:.1f} s "
                f"({paced['throughput']:.2f}/s). Against unpaced Apprise ours "
                f"delivers {_times(r['apprise_unpaced']['throughput'])} alerts per "
                f"second; against Apprise as shipped "
                f"{r['apprise_paced']['throughput']:.0f}x, but {max(waiting, 0):.0f} s "
                f"of its {paced['wall_s']:.0f} s are its own pacing "
                f"({APPRISE_PACE_S} s between requests), which is why the headline "
                "ratios use the unpaced mode."
            ),
        )
    )
    keyed.append(
        (
            "cpu",
            (
                f"**CPU per alert** (the sending process, all threads): ours "
                f"{ours['cpu_ms']:.2f} ms, smtp {smtp['cpu_ms']:.2f} ms, unpaced "
                f"Apprise {unpaced['cpu_ms']:.2f} ms, paced Apprise "
                f"{paced['cpu_ms']:.2f} ms. Ours against unpaced Apprise: "
                f"{_cheaper(r['apprise_unpaced']['cpu_per_alert'])}; against smtp: "
                f"{_cheaper(r['smtp']['cpu_per_alert'])}."
            ),
        )
    )
    keyed.append(
        (
            "per_message",
            (
                f"**CPU per delivered message.** Ours sends "
                f"{ours['messages_per_alert']:.0f} message per alert (three To), "
                f"smtp {smtp['messages_per_alert']:.0f}, Apprise "
                f"{unpaced['messages_per_alert']:.0f} (one per recipient); per "
                f"message ours {ours['cpu_ms_per_message']:.2f} ms, smtp "
                f"{smtp['cpu_ms_per_message']:.2f} ms, unpaced Apprise "
                f"{unpaced['cpu_ms_per_message']:.2f} ms: ours is "
                f"{_x(r['apprise_unpaced']['cpu_per_message'])} unpaced Apprise's "
                f"per message and {_x(r['apprise_unpaced']['cpu_per_alert'])} per "
                "alert."
            ),
        )
    )
    latencies = []
    for key, label in (
        ("ours", "ours"),
        ("smtp", "smtp"),
        ("apprise_unpaced", "unpaced Apprise"),
        ("apprise_paced", "Apprise as shipped"),
    ):
        single = s[key]["single_alert"]["to_last_byte"]
        latencies.append(f"{label} {_ms(single['p50_ms'])} / {_ms(single['p95_ms'])}")
    n = ours["single_alert"]["to_last_byte"]["n"]
    keyed.append(
        (
            "single_alert",
            f"**A single alert** on an idle system, from the action call to the "
            f"last byte at the receiver (p50 / p95 over {n} alerts each; no "
            "camera: the snapshot is a JPEG file): "
            + "; ".join(latencies)
            + ". For Apprise the clock stops at its third message's last byte.",
        )
    )
    keyed.append(
        (
            "memory",
            (
                f"**Memory during the burst** (peak RSS growth, worst of "
                f"{len(ours['rounds'])} round(s)): ours "
                f"{_mib(ours['rss_growth_worst'])}, smtp "
                f"{_mib(smtp['rss_growth_worst'])}, unpaced Apprise "
                f"{_mib(unpaced['rss_growth_worst'])}, paced Apprise "
                f"{_mib(paced['rss_growth_worst'])}. Ours and smtp take all {alerts} "
                "calls at once; Apprise sends one alert after the other."
            ),
        )
    )
    connections = smtp.get("connections_per_alert")
    if connections is not None:
        keyed.append(
            (
                "smtp_sending",
                (
                    f"**How smtp sends.** Home Assistant's smtp opened "
                    f"{connections:.2f} SMTP connection(s) per alert (STARTTLS on "
                    f"{smtp.get('starttls', 0)} of {smtp['messages']} messages; at "
                    f"most {smtp.get('max_open_connections', 0)} open at once), each "
                    "a new TLS session, in Home Assistant's executor threads. Ours "
                    f"kept at most {ours.get('max_in_flight', 0)} Graph requests in "
                    f"flight, {ours['http']:.2f} HTTP requests per alert; Apprise "
                    f"made {unpaced['http']:.2f} per alert, one at a time."
                ),
            )
        )
    trust = env.get("smtp_trust") or {}
    keyed.append(
        (
            "fairness",
            "**Fairness.** Burst rounds per sender: "
            + ", ".join(f"{k} {v}" for k, v in s["rounds_per_sender"].items())
            + " (CPU per alert is the median round by CPU, the other figures "
            "the median round by wall time). The rounds interleave in time: "
            "ours, smtp (both in one Home Assistant process), Apprise unpaced, "
            "Apprise as shipped (one Apprise process for all its rounds, "
            "warmed up by one alert per mode and idle while Home Assistant "
            "sends), then the next round, so that other "
            "load on the machine falls on every sender alike. Before every "
            "measured phase each sender's "
            "process ran `gc.collect()` and `malloc_trim(0)`. The receivers "
            "(emulator, SMTP server) are processes of their own; their CPU is "
            "not charged to a sender. smtp verifies the server's certificate "
            "(`verify_ssl` on"
            + (
                f"; the run's CA is added to `{trust.get('ca_file_variable')}`, "
                "the CA file Home Assistant's SSL contexts read)."
                if trust
                else ")."
            ),
        )
    )
    if (budget := _budget_sentence(results)) is not None:
        keyed.append(("budget", budget))
    if "storm" in results:
        keyed.append(("storm", _storm_sentence(results)))
    return [text for key, text in keyed if key not in skip]


def _budget(results: dict[str, Any]) -> dict[str, Any]:
    """Return a burst account's sending budget, as its diagnostics showed it."""
    accounts = results["ours"].get("accounts") or {}
    report = accounts.get("burst_1") or next(iter(accounts.values()), {})
    return dict(report.get("budget") or {})


def _budget_sentence(results: dict[str, Any]) -> str | None:
    """Say why each phase of ours sends from its own mailbox, and that none held."""
    ours = results["ours"]
    if "mailboxes" not in ours:
        return None
    alerts = ours["alerts"]
    recipients = alerts * 3
    budget = _budget(results)
    limit, allowance = (
        budget.get("daily_recipient_limit"),
        budget.get("hourly_allowance"),
    )
    pace = (
        f" (a budget of {limit:,} recipients a day lets alerts go on their own up "
        f"to {allowance:,} recipients an hour)"
        if limit and allowance
        else ""
    )
    held = results["summary"]["targets"].get("no_alert_held")
    signed_in = ours.get("signed_in") or {}
    outlook = (
        f" The signed-in Outlook.com account (`{signed_in['account']}`, 300 "
        f"recipients a day by default) has its *Recipients per 24 hours* set to "
        f"{signed_in['daily_recipient_limit']:,} through its options flow, and the "
        "emulator's limit for personal accounts is raised to match, so its burst "
        "measures the `/me/sendMail` pipeline; what 300 a day does to a storm is "
        "the storm below."
        if signed_in.get("daily_recipient_limit")
        else ""
    )
    return (
        "**Sending budget.** Each round of ours sends from its own mailbox (a "
        "config entry of its own, the same app registration), and so do the "
        "single alerts, the 100 MB alert and the profiled bursts: the "
        "integration counts recipients per mailbox over a rolling 24 hours, and "
        f"a second {recipients}-recipient burst within an hour from one mailbox "
        f"is an alert storm{pace}, which the integration holds for a digest on "
        "purpose. Every alert was checked to go on its own"
        + (f": {held['detail']}." if held else ".")
        + outlook
    )


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    if seconds < 120:
        return f"{seconds:.1f} s"
    return f"{seconds / 60:.1f} min"


def _storm_sentence(results: dict[str, Any]) -> str:
    storm = results["storm"]
    wait = storm["wait_s"]
    real = storm["real"]
    budget = storm["budget"]["daily_recipient_limit"]
    return (
        f"**An alert storm** (Home Assistant time, on a simulated clock): "
        f"{storm['alerts']} alerts within {storm['storm_seconds']:.0f} s through a "
        f"signed-in Outlook.com account (sending budget {budget} recipients a "
        f"day), {storm['recipients_per_alert']} To each, then "
        f"{storm['day_seconds'] / 3600:.0f} hours: {storm['mails']} mails "
        f"({storm['mails_on_their_own']} alerts on their own, "
        f"{_count(storm['digests'], 'digest')} listing the other "
        f"{storm['alerts_in_digests']}), {storm['recipients_used']} recipients "
        f"used (the emulator's count; at most {storm['most_recipients_in_24h']} in "
        f"any 24 hours), {storm['limit_crossings']} limit crossings; "
        + (
            "every alert reached a mail"
            if not storm["alerts_without_mail"]
            else f"{storm['alerts_without_mail']} alerts reached NO mail"
        )
        + f", the longest after {_minutes(wait['max'])} (median "
        f"{_minutes(wait['p50'])}); the `importance: high` alert went after "
        f"{_minutes(wait['urgent'])}. In real time the Home Assistant process "
        f"used {real['total']['cpu_s']:.2f} s of CPU for the storm and the day, "
        f"{real['baseline']['cpu_s']:.2f} s of which is what the same steps of "
        "the simulated clock cost with no alert "
        f"({real['total']['wall_s']:.1f} s of wall time)."
    )


def all_targets(summary: dict[str, Any]) -> dict[str, Any]:
    """Return every target of the run: the bursts', the signed-in's, the storm's."""
    targets = dict(summary["targets"])
    for part in ("signed_in", "storm"):
        if part in summary:
            targets.update(summary[part]["targets"])
    return targets


def _targets_line(summary: dict[str, Any]) -> str:
    targets = all_targets(summary)
    missed = [name for name, v in targets.items() if not v["met"]]
    text = f"{len(targets) - len(missed)} of {len(targets)} targets met"
    if missed:
        text += "; missed: " + ", ".join(f"`{m}`" for m in missed)
    return text + "."


# -- results.md -------------------------------------------------------------------


def _sender_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    s = results["summary"]
    alerts = results["ours"]["alerts"]
    cells = {k: s[k] for k in SENDERS}
    r = s["ratios"]

    def row(label: str, fn: Any) -> tuple[str, ...]:
        return (label, *(fn(k, cells[k]) for k in SENDERS))

    def ratio_note(key: str, field: str) -> str:
        if key == "ours":
            return ""
        value = r[key][field]
        return f" (ours {_x(value)})" if value is not None else ""

    def requests(key: str, c: dict[str, Any]) -> str:
        if "http" in c:
            return f"{c['http']:.2f} HTTP"
        return f"{c.get('connections_per_alert', 0):.2f} SMTP connections (TLS)"

    def concurrency(key: str, c: dict[str, Any]) -> str:
        if "max_in_flight" in c:
            return _count(c["max_in_flight"], "request")
        return _count(c.get("max_open_connections", 0), "connection")

    def burst_latency(key: str, c: dict[str, Any]) -> str:
        phase = _phase(results, key)
        latency = phase.get("latency_s")
        if latency and latency.get("p50") is not None:
            return f"{latency['p50']:.2f} / {latency['p95']:.2f} s"
        return f"{phase['wall_s'] / alerts:.3f} s each, in turn"

    def single(key: str, c: dict[str, Any], part: str = "to_last_byte") -> str:
        figures = c["single_alert"][part]
        return f"{_ms(figures['p50_ms'])} / {_ms(figures['p95_ms'])}"

    return [
        row(
            "**Burst**: alerts (150 KB JPEG, 3 To each), rounds",
            lambda k, c: f"{alerts} x {len(c['rounds'])}",
        ),
        row(
            "messages delivered / To recipients (median round)",
            lambda k, c: f"{c['messages']} / {c['to_recipients']}",
        ),
        row("wall time (median round)", lambda k, c: f"{c['wall_s']:.2f} s"),
        row(
            "throughput",
            lambda k, c: (
                f"{c['throughput']:.1f} alerts/s"
                + (f" (ours {r[k]['throughput']:.1f}x)" if k != "ours" else "")
            ),
        ),
        row(
            "CPU time per alert (sender process)",
            lambda k, c: f"{c['cpu_ms']:.2f} ms" + ratio_note(k, "cpu_per_alert"),
        ),
        row(
            "CPU time per delivered message",
            lambda k, c: (
                _ms(c["cpu_ms_per_message"]) + ratio_note(k, "cpu_per_message")
            ),
        ),
        row("requests per alert (receiver's count)", requests),
        row("most at once", concurrency),
        row("single alert: call to last byte, p50 / p95", single),
        row(
            "single alert: call to return, p50 / p95",
            lambda k, c: single(k, c, "action_call"),
        ),
        row("burst: latency per alert p50 / p95", burst_latency),
        row(
            "burst: peak RSS growth (worst round)",
            lambda k, c: _mib(c["rss_growth_worst"]),
        ),
        row(
            "receiver CPU during the burst",
            lambda k, c: (
                f"{c['receiver_cpu_s']:.2f} s ({c['receiver_busy']:.0%} of wall)"
            ),
        ),
        row(
            "every round: alerts/s, CPU ms per alert",
            lambda k, c: ", ".join(
                f"{x['throughput']:.1f}/s {x['cpu_ms']:.2f}" for x in c["rounds"]
            ),
        ),
    ]


def _storm_rows(results: dict[str, Any]) -> list[tuple[str, str]]:
    """Return the storm's table: Home Assistant time and real time apart."""
    storm = results["storm"]
    wait, real = storm["wait_s"], storm["real"]
    budget = storm["budget"]
    timeline = storm.get("timeline") or []
    digests = [m for m in timeline if m["digest"]]
    return [
        (
            "alerts (Home Assistant time)",
            (
                f"{storm['alerts']} within {storm['storm_seconds']:.0f} s, "
                f"{storm['recipients_per_alert']} To each, every tenth with a camera "
                "snapshot, a third the same door, one `importance: high`; then "
                f"{storm['day_seconds'] / 3600:.0f} h"
            ),
        ),
        (
            "account",
            (
                f"`{storm['account']}` (signed in), budget "
                f"{budget['daily_recipient_limit']} recipients a day, alerts on their "
                f"own up to {budget['hourly_allowance']} an hour; the emulator refuses "
                f"past {storm['emulator_personal_limit']} in 24 h"
            ),
        ),
        (
            "mails sent",
            (
                f"{storm['mails']}: {storm['mails_on_their_own']} alerts on their own, "
                f"{_count(storm['digests'], 'digest')} listing "
                f"{storm['alerts_in_digests']} alerts"
            ),
        ),
        (
            "recipients used (the emulator's count)",
            (
                f"{storm['recipients_used']}; at most {storm['most_recipients_in_24h']} "
                "in any 24 hours"
            ),
        ),
        (
            "limit crossings (refused messages)",
            f"{storm['limit_crossings']} ({storm['ndrs']} non-delivery reports)",
        ),
        (
            "alerts held after the storm minute",
            str(storm["held_after_storm"]),
        ),
        (
            "longest wait, call to the mail that carried it (Home Assistant time)",
            (
                f"{_minutes(wait['max'])}; median {_minutes(wait['p50'])}, p95 "
                f"{_minutes(wait['p95'])}; `importance: high` {_minutes(wait['urgent'])}; "
                f"{storm['alerts_without_mail']} alerts in no mail"
            ),
        ),
        (
            "mails at (Home Assistant time since the first alert)",
            ", ".join(
                f"{_minutes(m['after_s'])}{' (digest)' if m['digest'] else ''}"
                for m in timeline[:12]
            )
            + (" …" if len(timeline) > 12 else "")
            + (f"; digests: {len(digests)}" if digests else ""),
        ),
        (
            "real CPU time, storm minute / day / total",
            (
                f"{real['storm']['cpu_s']:.2f} / {real['day']['cpu_s']:.2f} / "
                f"{real['total']['cpu_s']:.2f} s (Home Assistant process, all threads, "
                f"the emulator's {real['total']['emulator_cpu_s']:.2f} s taken out)"
            ),
        ),
        (
            "real CPU time of the same clock steps with no alert",
            (
                f"{real['baseline_storm']['cpu_s']:.2f} / "
                f"{real['baseline_day']['cpu_s']:.2f} / {real['baseline']['cpu_s']:.2f} s "
                f"(so the alerts cost {real['alerts_cost_cpu_s']:.2f} s, the digests' "
                f"day {real['digests_cost_cpu_s']:.2f} s)"
            ),
        ),
        (
            "real wall time, storm minute / day",
            f"{real['storm']['wall_s']:.1f} / {real['day']['wall_s']:.1f} s",
        ),
    ]


def _held_rows(results: dict[str, Any]) -> list[tuple[str, ...]]:
    """Return, per phase of ours, what shows that no alert was held."""
    checks = results["summary"].get("held_checks") or {}
    rows: list[tuple[str, ...]] = []
    for phase, check in checks.items():
        if check is None:
            rows.append((phase, "", "", "", "**not checked**"))
            continue
        rows.append(
            (
                phase,
                f"`{check['mailbox']}`",
                f"{check['sent']} of {check['alerts']}",
                f"{check['recipients_counted']} of {check['recipients_expected']}",
                "ok" if check["ok"] else "**" + "; ".join(check["problems"]) + "**",
            )
        )
    return rows


def _phase(results: dict[str, Any], key: str) -> dict[str, Any]:
    """Return the median burst round of a sender."""
    if key == "ours":
        return results["ours"]["burst"]
    if key == "smtp":
        return results["smtp"]["burst"]
    mode = key.removeprefix("apprise_")
    return results["apprise"]["modes"][mode]["burst"]


def _big_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    og, ag = results["ours"]["big"], results["apprise"]["big"]
    return [
        ("**100 MB attachment** (1 To)", "ours", "Apprise as shipped"),
        (
            "result",
            "delivered intact"
            if og["delivery"]["intact_attachments"]
            else f"FAILED: {og['error']}",
            "delivered intact"
            if ag["delivery"]["intact_attachments"]
            else f"FAILED: {ag['error']}",
        ),
        ("wall time", f"{og['wall_s']:.2f} s", f"{ag['wall_s']:.2f} s"),
        (
            "peak RSS growth",
            _mib(og["memory"]["peak_growth"]),
            _mib(ag["memory"]["peak_growth"]),
        ),
        (
            "requests seen by the emulator",
            ", ".join(f"{k} {v}" for k, v in og["emulator"]["recent_statuses"].items()),
            ", ".join(f"{k} {v}" for k, v in ag["emulator"]["recent_statuses"].items()),
        ),
    ]


def _loop_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    ours, summary = results["ours"], results["summary"]
    og = ours["big"]
    watched = ours["stall_burst"]["stalls"]
    return [
        (
            "longest stall, watched burst",
            f"{watched['max_ms']:.1f} ms (CPU {watched['max_cpu_ms']:.1f} ms)",
            (
                f"{watched['callbacks']} callbacks, "
                f"{watched['callbacks_over_20ms']} over 20 ms"
            ),
        ),
        (
            "longest callback by loop-thread CPU (burst / 100 MB)",
            (f"{watched['max_busy_ms']:.1f} / {og['stalls']['max_busy_ms']:.1f} ms"),
            "a stall without the time the OS ran other processes",
        ),
        (
            "longest stall, 100 MB",
            f"{og['stalls']['max_ms']:.1f} ms (CPU {og['stalls']['max_cpu_ms']:.1f} ms)",
            (
                f"{og['stalls']['callbacks']} callbacks, "
                f"{og['stalls']['callbacks_over_20ms']} over 20 ms"
            ),
        ),
        (
            "smtp's longest stall, watched burst",
            f"{results['smtp']['stall_burst']['stalls']['max_ms']:.1f} ms",
            "the same Home Assistant loop",
        ),
        (
            "CPU per alert on the event-loop thread (ours)",
            f"{summary['ours']['loop_thread_cpu_ms']:.2f} ms",
            f"of {summary['ours']['cpu_ms']:.2f} ms in all threads",
        ),
    ]


def _signed_in_rows(results: dict[str, Any]) -> list[tuple[str, str, str]]:
    signed_in = results["ours"]["signed_in"]
    mine = results["summary"]["signed_in"]
    app_only = results["summary"]["ours"]
    burst, setup = signed_in["burst"], signed_in["setup"]
    return [
        (
            (
                f"**Burst through a signed-in account** (`{signed_in['account']}`, "
                "`/me/sendMail`)"
            ),
            "ours",
            "",
        ),
        (
            "messages delivered / To recipients",
            f"{mine['messages']} / {mine['to_recipients']}",
            (
                f"{mine['intact_attachments']} attachments intact, "
                f"{mine['failed_calls']} failed calls"
            ),
        ),
        (
            "sending budget",
            f"{signed_in.get('daily_recipient_limit') or 'default'} recipients a day",
            "set through the options flow (Outlook.com's default is 300)",
        ),
        ("wall time", f"{mine['wall_s']:.2f} s", "one round"),
        (
            "throughput",
            f"{mine['throughput']:.0f} alerts/s",
            f"app-only (median round): {app_only['throughput']:.0f} alerts/s",
        ),
        (
            "CPU time per alert",
            f"{mine['cpu_ms']:.2f} ms",
            f"app-only: {app_only['cpu_ms']:.2f} ms",
        ),
        ("HTTP requests per alert", f"{mine['http']:.2f}", ""),
        (
            "token requests during the burst",
            str(mine["token_requests"]),
            "the token was fetched at setup" if not mine["token_requests"] else "",
        ),
        (
            "latency per alert p50 / p95",
            f"{burst['latency_s']['p50']:.2f} / {burst['latency_s']['p95']:.2f} s",
            "",
        ),
        (
            "sign-in and setup (config flow to loaded entry)",
            f"{setup['seconds']:.1f} s",
            "not a speed figure: the flow polls every 1 s (an emulator setting)",
        ),
        (
            "  requests seen by the emulator",
            ", ".join(
                f"{k} {v}" for k, v in setup["emulator"]["recent_statuses"].items()
            ),
            "operation status count",
        ),
    ]


def _profile_lines(profile: dict[str, Any], cpu_ms: float | None = None) -> list[str]:
    """Return the profile section: where a burst of ours spends CPU and memory.

    ``cpu_ms`` is the measured CPU per alert of the median round (ours), shown
    beside the sampled figure.
    """
    memory, encoding = profile["memory"], profile["json"]
    alerts = profile["alerts"]
    lines = ["## Where ours spends CPU and memory in a burst", ""]
    cpu = profile["cpu"]
    if "top_lines" in cpu:
        lines += _sampled_cpu_lines(cpu, alerts, cpu_ms)
    else:  # an older results.json: cProfile's times
        lines += _cprofile_lines(cpu, alerts)
    if "calls" in profile:
        lines += _call_lines(profile["calls"], alerts)
    lines += [
        "",
        (
            f"Memory: traced allocations grew by at most "
            f"{memory['traced_peak_growth_mib']:.1f} MiB during the burst "
            f"(tracemalloc's peak); the snapshot nearest that peak "
            f"(+{memory['snapshot_growth_mib']:.1f} MiB, {memory['snapshot_at_s']:.2f} s "
            "in) charges what is alive to the innermost frame in the integration:"
        ),
        "",
        "| integration function holding it | MiB | blocks |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{f['function']}` | {f['mib']:.2f} | {f['blocks']} |"
        for f in memory.get("by_integration_function", [])[:10]
    ]
    lines += [
        (
            f"| (allocated outside any integration frame) | "
            f"{memory.get('outside_integration_mib', 0):.2f} | |"
        ),
        "",
        "By allocation line:",
        "",
        "| line | function | MiB | blocks |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| `{f['line']}` | `{f['function']}` | {f['mib']:.2f} | {f['blocks']} |"
        for f in memory.get("by_line", [])[:10]
    ]
    lines += [
        "",
        (
            f"JSON encoding of one sendMail body with this JPEG "
            f"({encoding['body_bytes'] / 1024:.0f} KiB): `json.dumps` "
            f"{encoding['json_dumps_ms']:.2f} ms, Home Assistant's `json_bytes` "
            f"(orjson) {encoding['orjson_json_bytes_ms']:.2f} ms (best of 5 x 30, "
            "in the benchmark's Home Assistant process)."
        ),
    ]
    return lines


def _sampled_cpu_lines(
    cpu: dict[str, Any], alerts: int, cpu_ms: float | None
) -> list[str]:
    measured = (
        f"; the measured rounds used {cpu_ms:.2f} ms per alert, without the sampler"
        if cpu_ms is not None
        else ""
    )
    threads = ", ".join(
        f"{name} {v['share']:.0%}" for name, v in cpu["by_thread"].items()
    )
    lines = [
        (
            f"Three more bursts of {alerts} alerts after every measured phase, each "
            "from its own mailbox (no alert held in any): one under a CPU sampler, "
            "one under cProfile (call counts), one under tracemalloc. The sampler: "
            f"every {cpu['interval_s'] * 1000:.1f} ms a timer signal interrupts the "
            "event loop's thread, whose handler charges the CPU time each thread "
            "used since the previous look to the Python line it is on (C work such "
            "as orjson, base64 and TLS is charged to the line calling it): "
            f"{cpu['samples']} samples, {cpu['cpu_s'] * 1000:.0f} ms of CPU, "
            f"{cpu['cpu_ms_per_alert']:.2f} ms per alert under the sampler"
            f"{measured}. By thread: {threads}. A look that finds a thread "
            "waiting (the selector, an idle executor worker) cannot tell what used "
            f"its CPU since the previous look ({cpu.get('idle_share', 0):.0%} of the "
            "CPU): that is spread over the busy looks in proportion. Shares are of "
            "the busy looks; ms per alert scale them to all sampled CPU."
        ),
        "",
        "| area | ms per alert | share |",
        "|---|---|---|",
    ]
    lines += [
        f"| {area} | {v['ms'] / alerts:.3f} | {v['share']:.1%} |"
        for area, v in cpu["areas_grouped"].items()
    ]
    lines += ["", "The integration's own time, by file:", ""]
    own = [(a, v) for a, v in cpu["areas"].items() if a.startswith("o365: ")]
    lines += ["| file | ms per alert | share |", "|---|---|---|"]
    lines += [
        f"| `{a.removeprefix('o365: ')}` | {v['ms'] / alerts:.3f} | {v['share']:.1%} |"
        for a, v in own
    ]
    lines += [
        "",
        "Functions by their own CPU time (the innermost Python frame):",
        "",
        "| function | area | ms per alert | share | called from (other module) | through the integration's |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{_trim(f['function'], 80)}` | {f['area']} | "
        f"{f['self_ms_per_alert']:.3f} | {f['self_share']:.1%} | "
        + "; ".join(f"`{_trim(c, 70)}`" for c in f["called_from"])
        + " | "
        + "; ".join(f"`{_trim(c, 70)}`" for c in f["via_integration"])
        + " |"
        for f in cpu["top_self"][:15]
    ]
    lines += [
        "",
        "Lines by their own CPU time:",
        "",
        "| line | function | source | area | ms per alert | share |",
        "|---|---|---|---|---|---|",
    ]
    lines += [
        f"| `{f['line']}` | `{f['function']}` | `{_trim(f['source'], 70)}` | "
        f"{f['area']} | {f['self_ms_per_alert']:.3f} | {f['self_share']:.1%} |"
        for f in cpu["top_lines"][:15]
    ]
    lines += [
        "",
        "The integration's functions by CPU time with their callees:",
        "",
        "| function | ms per alert | share |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{_trim(f['function'], 90)}` | {f['ms_per_alert']:.3f} | {f['share']:.1%} |"
        for f in cpu["integration_inclusive"][:12]
    ]
    return lines


def _call_lines(calls: dict[str, Any], alerts: int) -> list[str]:
    lines = [
        "",
        (
            f"Calls (cProfile, another burst of {alerts}): "
            f"{calls['calls_per_alert']:.0f} Python and built-in calls per alert. "
            "The most called built-ins and the integration's most called "
            "functions:"
        ),
        "",
        "| function | per alert | mostly called from |",
        "|---|---|---|",
    ]
    lines += [
        f"| `{_trim(f['function'], 80)}` | {f['per_alert']:.1f} | "
        + "; ".join(f"`{_trim(c, 80)}`" for c in f["called_from"])
        + " |"
        for f in [*calls["builtins"][:8], *calls["integration"][:8]]
    ]
    return lines


def _cprofile_lines(cpu: dict[str, Any], alerts: int) -> list[str]:
    lines = [
        f"cProfile over one burst of {alerts} (times mix threads up).",
        "",
        "| area | ms | share |",
        "|---|---|---|",
    ]
    lines += [
        f"| {area} | {v['ms']:.0f} | {v['share']:.0%} |"
        for area, v in list(cpu["areas"].items())[:10]
    ]
    lines += ["", "| function | calls | self ms | share |", "|---|---|---|---|"]
    lines += [
        f"| `{_trim(f['function'], 90)}` | {f['calls']} | {f['self_ms']:.1f} | "
        f"{f['self_share']:.1%} |"
        for f in cpu["top_self"][:15]
    ]
    return lines


def _apprise_upload_note(results: dict[str, Any]) -> list[str]:
    """Explain Apprise's 100 MB failure, only when the run saw that failure."""
    apprise = results["apprise"]
    big = apprise["big"]
    statuses = big["emulator"]["recent_statuses"]
    if (
        apprise["apprise_version"] != "2.2.0"
        or big["delivery"]["intact_attachments"]
        or statuses.get("createDraft 400", 0) == 0
    ):
        return []
    return [
        "",
        (
            "Why Apprise's 100 MB alert failed in this run (its requests above: "
            f"{', '.join(f'{k} {v}' for k, v in statuses.items())}), as read in Apprise "
            "2.2.0's `plugins/office365.py`: it creates the draft by POSTing its "
            '*sendMail* body (`{"message": ..., "saveToSentItems": ...}`) to '
            "`/users/{source}/messages`, which Graph (like the emulator) refuses with "
            "400 `RequestBodyRead`, so nothing is uploaded. The code after that point "
            "has further faults this run cannot reach: `createUploadSession` goes to "
            "`/users/{source}/message/{id}/...` (singular `message`), every PUT says "
            "`Content-Range: bytes 0-5242879/104857600` (the start offset is never "
            "advanced) and carries the `Authorization` header, and the final `send` "
            "goes to a hard-coded `https://graph.microsoft.com/v1.0` URL."
        ),
    ]


def _method(results: dict[str, Any]) -> str:
    env = results["environment"]
    single = results["summary"]["ours"]["single_alert"]
    return f"""\
- Receivers: one emulator process (`python -m emulator` under
  `bench.emulator_probe`, which logs when each request body's last byte was
  parsed), and one SMTP server process (aiosmtpd {env.get("aiosmtpd", "?")},
  127.0.0.1, STARTTLS required, a CA and certificate generated for the run).
  Their statistics are reset before each phase and read after it; request
  counts are the emulator's, token requests included. Their CPU time is read
  from `/proc/PID/stat`.
- Ours and smtp: one real `HomeAssistant` core (Home Assistant
  {env["homeassistant"]} on Python {env["python"]}, venv `{env["lane"]}`; its
  event loop policy and executor, registries, core config with
  `allowlist_external_dirs`, blocking-I/O detection on). Ours: one app-only
  `o365` config entry per phase, each for its own mailbox of the emulator's
  tenant (the run's directory file adds them; all set up before the first
  phase, each fetching its token then), so that every phase starts with a
  fresh sending budget; each alert is `notify.o365` with `data.attachments`
  and `data.account` naming the phase's mailbox. Every account sends one
  unmeasured warm-up alert first. smtp: the `smtp` notify platform set up from
  configuration (`encryption: starttls`, `verify_ssl` at its default, on);
  each alert is its action with the same title, message, three `target`
  addresses and the JPEG as `data.images`. Both: `hass.services.async_call(...,
  blocking=True)`, all alerts of a burst fired at once; after each round of
  ours and smtp, a round of Apprise runs (unpaced, then as shipped) in one
  long-lived process in the bench venv while Home Assistant idles.
- Then (ours only) a signed-in account is added through the config flow, as a
  person adds one (the `sign_in` step, the code entered through the emulator's
  `POST /_emulator/devicelogin`); its *Recipients per 24 hours* is set to
  10,000 through its options flow and the emulator's limit for personal
  accounts raised to match (Outlook.com's 300 a day would make the burst a
  storm); after one warm-up alert the same burst goes through it to
  `/me/sendMail`: one round.
- No alert held: each phase counts the integration's events
  (`o365_message_sent` per mailbox, `o365_digest_sent`, queued, dropped) and
  reads the emulator's per-mailbox recipient count (`GET /_emulator/limits`,
  reset with the phase); after the last phase every account's diagnostics
  counters (held for a digest, digests) are read too.
- The storm: `bench/storm.py` under pytest in the Home Assistant venv, the way
  the repository's storm tests run: `pytest_homeassistant_custom_component`'s
  `hass`, freezegun's clock, moved by the benchmark from one scheduled timer to
  the next (so nothing waits on the wall clock and every digest goes at the
  Home Assistant time it is due); the emulator in the same process, reading the
  same frozen clock, on a thread and event loop of its own. Casey's
  Outlook.com account signs in through the config flow (budget 300 a day, the
  default); a `local_file` camera shows the benchmark's JPEG. Home Assistant
  time: each alert's action call, and the emulator's receipt of the first mail
  whose text holds the alert's message. Real time: `getrusage` of the process
  minus the CPU clocks of the emulator's threads; the same clock steps with no
  alert, after the storm, are the baseline of the stepping itself.
- Apprise {env["apprise"]} in its own venv: `Apprise.notify()` per alert, in
  turn; one message per recipient. As shipped its plugin waits until 0.2 s
  have passed since its previous request before each request; unpaced, the
  plugin object's `request_rate_per_sec` is 0. Only its `graph_url`/`auth_url`
  class attributes are pointed at the emulator.
- Each sender sends one unmeasured warm-up alert first. Single alerts:
  {single["to_last_byte"]["n"]} per sender, one at a time, each after a
  {LATENCY_PAUSE_S} s pause; the clock starts just before the action (or
  `notify()`) is called and stops at the receiver's receipt of the message's
  last byte (`CLOCK_MONOTONIC`, one clock for all processes). No camera: the
  snapshot is the JPEG file on disk, read at each alert.
- Memory, the same for every sender: `gc.collect()` and `malloc_trim(0)` before
  each measured phase; growth is peak RSS minus RSS at the start of the phase:
  `VmRSS` sampled by a thread, and the kernel's exact peak `VmHWM` after
  resetting it (`/proc/self/clear_refs`); the larger is reported.
- CPU time: `getrusage(RUSAGE_SELF)` user+system of the sender's process (all
  threads), minus the RSS sampler thread's own CPU time. Ours and smtp share a
  process, but never a phase. The loop thread's share is `thread_time()`.
- Event-loop stalls: after the rounds, one more burst per sender (ours from a
  mailbox of its own) in which every callback on Home Assistant's loop is
  timed by wrapping `asyncio.Handle._run`; its loop-thread CPU time is shown
  beside it (the difference is time the OS ran other processes). The measured
  rounds run without the wrapper: its clock reads (about 2 us per callback)
  are the benchmark's cost, and Apprise's process has none.
- Profiles: three more bursts after every measured phase, each from its own
  mailbox: a CPU sampler (a timer signal interrupts the event loop's thread
  every millisecond; its handler charges the CPU time each thread used since
  the previous look, from the threads' own CPU clocks, to the Python line it
  is on; the sampler roughly doubles the CPU, so read shares), cProfile (call
  counts only: it keeps one call stack for all threads) and tracemalloc.
"""


def render(results: dict[str, Any]) -> str:
    """Return ``results.md``."""
    env = results["environment"]
    summary = results["summary"]
    names = _names(results)
    ours = results["ours"]
    lines = [
        "# Benchmark: notify.o365 vs Home Assistant's smtp and Apprise's Office 365 plugin",
        "",
        (
            f"Run {env['date']} on {env['cpu']} ({env['cores']} cores), commit "
            f"`{env['commit']}`. Home Assistant {env['homeassistant']} on Python "
            f"{env['python']} (venv `{env['lane']}`), aiohttp {env['aiohttp']}, "
            f"msal {env['msal']}, orjson {env['orjson']}; Apprise {env['apprise']} "
            f"and aiosmtpd {env['aiosmtpd']} in the bench venv (Python "
            f"{env['bench_python']}). Load average (1 min) when each driver "
            f"started: Home Assistant {results['load'].get('ha')}, Apprise "
            f"{results['load'].get('apprise')}. Produced by `scripts/bench`."
        ),
        "",
        "## Results",
        "",
    ]
    lines += [f"- {line}" for line in findings(results)]
    lines += [
        "",
        "| | " + " | ".join(names[k] for k in SENDERS) + " |",
        "|---|" + "---|" * len(SENDERS),
    ]
    lines += ["| " + " | ".join(row) + " |" for row in _sender_rows(results)]
    targets = all_targets(summary)
    lines += [
        "",
        "## Targets",
        "",
        _targets_line(summary),
        "",
        "| target | result | |",
        "|---|---|---|",
    ]
    for name, verdict in targets.items():
        mark = "met" if verdict["met"] else "**missed**"
        lines.append(f"| {name} | {mark} | {verdict['detail']} |")
    lines += ["", "## Ours alone", "", "| | | note |", "|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _loop_rows(results)]
    if "signed_in" in ours:
        lines += ["| " + " | ".join(row) + " |" for row in _signed_in_rows(results)]
    lines += ["", "| | | |", "|---|---|---|"]
    lines += ["| " + " | ".join(row) + " |" for row in _big_rows(results)]
    lines += _apprise_upload_note(results)
    if summary.get("held_checks"):
        lines += [
            "",
            "## No alert held: every phase from its own mailbox",
            "",
            _wrap(
                "The integration holds alerts for a digest when a mailbox's last "
                "hour of recipients passes the pace its daily budget allows, so "
                "each phase of ours sends from a mailbox of its own. Per phase: "
                "`o365_message_sent` events from that mailbox, and the recipients "
                "the emulator counted for it (`GET /_emulator/limits`), against "
                "what the phase sent; no `o365_digest_sent`, nothing queued."
            ),
            "",
            "| phase | mailbox | alerts sent on their own | recipients counted | |",
            "|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(row) + " |" for row in _held_rows(results)]
    if "storm" in results:
        lines += [
            "",
            "## The storm: 400 alerts through an Outlook.com account, then a day",
            "",
            _wrap(
                "On Home Assistant's simulated clock (pytest, "
                "`pytest_homeassistant_custom_component` and freezegun, as the "
                "repository's storm tests): Home Assistant time is what the "
                "integration and the emulator saw; real time is what the machine "
                "spent. See How it is measured."
            ),
            "",
            "| | |",
            "|---|---|",
        ]
        lines += [f"| {a} | {b} |" for a, b in _storm_rows(results)]
    if "profile" in ours:
        lines += ["", *_profile_lines(ours["profile"], summary["ours"]["cpu_ms"])]
    lines += ["", "## Details", "", *_details(results)]
    lines += ["", "## How it is measured", "", _method(results)]
    return "\n".join(lines).rstrip("\n") + "\n"


def _details(results: dict[str, Any]) -> list[str]:
    ours, smtp, apprise = results["ours"], results["smtp"], results["apprise"]
    rounds = ours["burst_rounds"]
    watched = ours["stall_burst"]["stalls"]
    og, ag = ours["big"], apprise["big"]
    lines = [
        f"- Longest stall in the watched burst: `{_tail(watched['max_callback'])}`",
        (
            "- Longest callback by loop-thread CPU in the watched burst: "
            f"`{_tail(watched['max_busy_callback'])}`"
        ),
        f"- Longest stall with 100 MB: `{_tail(og['stalls']['max_callback'])}`",
        (
            f"- smtp: action `{smtp['service']}`; configuration "
            f"`{ {k: v for k, v in smtp['config'].items() if k != 'platform'} }`."
        ),
        "- smtp's failed calls per round: "
        + ", ".join(str(r["failed_calls"]) for r in smtp["burst_rounds"])
        + (
            f" (e.g. `{_trim(smtp['burst']['errors'][0], 200)}`)"
            if smtp["burst"]["errors"]
            else ""
        )
        + "; ours': "
        + ", ".join(str(r["failed_calls"]) for r in rounds)
        + ".",
        "- Apprise's failed notify() calls per round: "
        + "; ".join(
            f"{mode} " + ", ".join(str(r["failed_calls"]) for r in m["burst_rounds"])
            for mode, m in apprise["modes"].items()
        )
        + ".",
    ]
    if ag.get("log"):
        lines.append(
            f"- Apprise's 100 MB alert: {ag['error']}. Its log: "
            + "; ".join(
                f"`{_trim(' '.join(line.split()), 330)}`" for line in ag["log"][:3]
            )
        )
    lines.append(
        "- Apprise's requests for it: "
        + "; ".join(f"`{line}`" for line in ag["requests_log"])
    )
    if og["requests_log"]:
        lines.append(
            f"- Our requests for it: {len(og['requests_log'])} "
            f"(`{og['requests_log'][0]}` … `{og['requests_log'][-1]}`)"
        )
    if accounts := ours.get("accounts"):
        lines.append(
            "- Our accounts' own counters (diagnostics, after the last phase): "
            + "; ".join(f"{phase} {_counters(r)}" for phase, r in accounts.items())
            + "."
        )
    if "signed_in" in ours:
        signed_in = ours["signed_in"]
        lines.append(
            f"- Signed-in account `{signed_in['account']}` (entry `auth_type` "
            f"{signed_in['auth_type']!r}); its counters after its burst: "
            f"{_counters(signed_in['integration'])}; its sign-in, as the emulator "
            "logged it: "
            + "; ".join(f"`{line}`" for line in signed_in["setup"]["requests_log"])
        )
    return lines


def _counters(report: dict[str, Any]) -> str:
    """Return an account's diagnostics counters in one short line."""
    counters = report.get("counters")
    if counters is None:
        return f"unavailable ({report.get('unavailable', '?')})"
    shown = ", ".join(f"{k} {v}" for k, v in counters.items() if v)
    return f"`{shown or 'all 0'}`, tokens {report.get('tokens_fetched')}"


# -- README -----------------------------------------------------------------------


def readme_section(results: dict[str, Any], out_dir: Path, readme: Path) -> str:
    """Return the README's Benchmarks section (its heading included)."""
    env = results["environment"]
    s = results["summary"]
    names = _names(results)
    rel = Path(out_dir).resolve().relative_to(readme.resolve().parent).as_posix()
    alerts = results["ours"]["alerts"]
    rounds = s["rounds_per_sender"]["ours"]

    def single(key: str) -> str:
        f = s[key]["single_alert"]["to_last_byte"]
        return f"{_ms(f['p50_ms'], 1)} / {_ms(f['p95_ms'], 1)}"

    rows = [
        ("burst throughput", lambda k: f"{s[k]['throughput']:.1f} alerts/s"),
        ("CPU per alert", lambda k: f"{s[k]['cpu_ms']:.2f} ms"),
        (
            "CPU per delivered message",
            lambda k: (
                f"{_ms(s[k]['cpu_ms_per_message'])} "
                f"({s[k]['messages_per_alert']:.0f} per alert)"
            ),
        ),
        ("single alert, call to last byte p50 / p95", single),
        (
            "burst peak RSS growth (worst round)",
            lambda k: _mib(s[k]["rss_growth_worst"]),
        ),
    ]
    big_ours = results["ours"]["big"]
    big_apprise = results["apprise"]["big"]
    lines = [
        "## Benchmarks",
        "",
        f"![Benchmark: notify.o365 against Home Assistant's smtp and Apprise]({rel}/bench.png)",
        "",
        _wrap(
            f"Made with `scripts/bench` (after `scripts/setup`). In one run, "
            f"{alerts} alerts, each with a 150 KB JPEG and three To recipients, "
            f"are sent {_times_word(rounds)} by each sender: this integration and "
            "Home Assistant's own `smtp` notify (to a local SMTP server with "
            f"STARTTLS), both in one Home Assistant {env['homeassistant']} "
            f"(Python {env['python']}, venv `{env['lane']}`), and Apprise "
            f"{env['apprise']}'s Office 365 plugin as shipped and with its pacing "
            "off, against the same local Graph emulator. Run "
            f"{env['date']}, {env['cores']} cores, commit `{env['commit']}`; "
            "every figure below is that run's."
        ),
        "",
        "| | " + " | ".join(names[k] for k in SENDERS) + " |",
        "|---|" + "---|" * len(SENDERS),
    ]
    lines += [
        f"| {label} | " + " | ".join(fn(k) for k in SENDERS) + " |"
        for label, fn in rows
    ]
    if "storm" in results:
        lines += ["", *_readme_storm_table(results)]
    lines += [
        "",
        *[
            _wrap(f"- {line}", bullet=True)
            for line in findings(results, skip=frozenset({"smtp_sending"}))
        ],
        _wrap(
            "- **100 MB attachment**: ours "
            + (
                f"delivered it in {big_ours['wall_s']:.2f} s, "
                f"+{_mib(big_ours['memory']['peak_growth'])} memory"
                if big_ours["delivery"]["intact_attachments"]
                else f"failed ({big_ours['error']})"
            )
            + "; Apprise as shipped "
            + (
                "delivered it"
                if big_apprise["delivery"]["intact_attachments"]
                else f"failed ({big_apprise['error']})"
            )
            + "; smtp was not sent one.",
            bullet=True,
        ),
        _wrap(f"- {_targets_line(s)}", bullet=True),
        "",
        _wrap(
            "Every figure, the method, where ours spends CPU and memory, and "
            f"the fairness notes: [{rel}/results.md]({rel}/results.md)."
        ),
        "",
    ]
    return "\n".join(lines)


def _readme_storm_table(results: dict[str, Any]) -> list[str]:
    """Return the storm's rows for the README (ours only)."""
    storm = results["storm"]
    real = storm["real"]
    rows = [
        (
            "alerts",
            (
                f"{storm['alerts']} within {storm['storm_seconds']:.0f} s through "
                f"`{storm['account']}` (budget "
                f"{storm['budget']['daily_recipient_limit']} recipients a day), then "
                f"{storm['day_seconds'] / 3600:.0f} h"
            ),
        ),
        (
            "mails sent",
            (
                f"{storm['mails']} ({storm['mails_on_their_own']} alerts on their own, "
                f"{_count(storm['digests'], 'digest')})"
            ),
        ),
        (
            "recipients used (the emulator's count)",
            (
                f"{storm['recipients_used']} (at most {storm['most_recipients_in_24h']} "
                "in any 24 h)"
            ),
        ),
        ("limit crossings", str(storm["limit_crossings"])),
        (
            "longest an alert waited, call to its mail",
            f"{_minutes(storm['wait_s']['max'])} (Home Assistant time)",
        ),
        (
            "CPU time (real)",
            (
                f"{real['total']['cpu_s']:.2f} s, {real['baseline']['cpu_s']:.2f} s of it "
                "the simulated clock's own steps"
            ),
        ),
    ]
    return [
        "| the storm: ours, a signed-in Outlook.com account, simulated clock | |",
        "|---|---|",
        *(f"| {a} | {b} |" for a, b in rows),
    ]


def update_readme(readme: Path, results: dict[str, Any], out_dir: Path) -> None:
    """Replace the README's Benchmarks section (up to the next ``## `` heading)."""
    text = readme.read_text(encoding="utf-8")
    match = re.search(r"^## Benchmarks\n.*?(?=^## )", text, flags=re.M | re.S)
    if match is None:
        raise SystemExit(f"{readme} has no '## Benchmarks' section followed by another")
    section = readme_section(results, out_dir, readme)
    readme.write_text(
        text[: match.start()] + section + "\n" + text[match.end() :], encoding="utf-8"
    )


def main(argv: list[str] | None = None) -> int:
    """Render ``results.md`` (and a README section) again from ``results.json``."""
    import argparse  # noqa: PLC0415
    import json  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("--readme", type=Path)
    args = parser.parse_args(argv)
    results = json.loads(args.results.read_text(encoding="utf-8"))
    out_dir = args.results.parent
    (out_dir / "results.md").write_text(render(results), encoding="utf-8")
    if args.readme:
        update_readme(args.readme, results, out_dir)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
