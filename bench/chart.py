"""Draw the benchmark chart: ``python -m bench.chart results.json bench.png``.

Runs in the bench venv (matplotlib). Six panels: burst throughput, CPU per
alert and per delivered message, single-alert latency, burst memory (every
sender), memory during the 100 MB alert, and the targets.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
from typing import Any

import matplotlib as mpl

mpl.use("Agg")
import matplotlib.pyplot as plt

SENDERS = ("ours", "smtp", "apprise_unpaced", "apprise_paced")
COLORS = {
    "ours": "#1565c0",
    "smtp": "#6a1b9a",
    "apprise_unpaced": "#ef6c00",
    "apprise_paced": "#ffb74d",
}
TARGET = "#2e7d32"
MIB = 1024 * 1024


def _labels(results: dict[str, Any]) -> list[str]:
    env = results["environment"]
    return [
        "notify.o365",
        f"HA smtp\n{env['homeassistant']}",
        f"Apprise {env['apprise']}\nunpaced",
        f"Apprise {env['apprise']}\nas shipped",
    ]


def _target(axis: Any, value: float, label: str) -> None:
    """Draw a dashed target line with its label at the right end."""
    axis.axhline(value, color=TARGET, linestyle="--", linewidth=1)
    axis.text(
        0.99,
        value,
        label,
        color=TARGET,
        va="bottom",
        ha="right",
        fontsize=8,
        transform=axis.get_yaxis_transform(),
    )


def _annotate(axis: Any, bars: Any, values: list[float], fmt: str) -> None:
    for bar, value in zip(bars, values, strict=True):
        axis.annotate(
            format(value, fmt),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=8,
            xytext=(0, 2),
            textcoords="offset points",
        )


def _bars(
    axis: Any, values: list[float], labels: list[str], fmt: str, title: str
) -> None:
    """Draw one labelled bar per sender."""
    bars = axis.bar(labels, values, color=[COLORS[k] for k in SENDERS], width=0.6)
    _annotate(axis, bars, values, fmt)
    axis.set_title(title, fontsize=10)
    axis.tick_params(axis="x", labelsize=8)
    axis.spines[["top", "right"]].set_visible(False)


def draw(results: dict[str, Any], path: Path) -> None:
    """Draw the six panels into ``path``."""
    summary = results["summary"]
    ours, apprise = results["ours"], results["apprise"]
    labels = _labels(results)
    figure, axes = plt.subplots(2, 3, figsize=(15, 8.8))
    env = results["environment"]
    figure.suptitle(
        f"{ours['alerts']} alerts with a 150 KB JPEG and 3 To recipients, "
        f"{summary['rounds_per_sender']['ours']} round(s) per sender (median shown), "
        f"and one 100 MB attachment; Home Assistant {env['homeassistant']}, Python "
        f"{env['python']}\n{env['date']}, commit {env['commit']}, {env['cores']} "
        "cores; receivers: the local Graph emulator and a local SMTP server",
        fontsize=11,
    )

    axis = axes[0][0]
    _bars(
        axis,
        [summary[k]["throughput"] for k in SENDERS],
        labels,
        ".1f",
        "Burst throughput, alerts/s (log)\n"
        f"ours {summary['speedup']:.1f}x unpaced Apprise, "
        f"{summary['ratios']['smtp']['throughput']:.1f}x smtp",
    )
    axis.set_yscale("log")
    _target(axis, 100, "target 100/s")

    axis = axes[0][1]
    per_alert = [summary[k]["cpu_ms"] for k in SENDERS]
    per_message = [summary[k]["cpu_ms_per_message"] or 0.0 for k in SENDERS]
    x = list(range(len(SENDERS)))
    bars = axis.bar(
        [i - 0.2 for i in x],
        per_alert,
        width=0.4,
        color=[COLORS[k] for k in SENDERS],
        label="per alert",
    )
    _annotate(axis, bars, per_alert, ".2f")
    bars = axis.bar(
        [i + 0.2 for i in x],
        per_message,
        width=0.4,
        color=[COLORS[k] for k in SENDERS],
        alpha=0.45,
        hatch="//",
        label="per delivered message",
    )
    _annotate(axis, bars, per_message, ".2f")
    axis.set_xticks(x, labels, fontsize=8)
    axis.set_title(
        "CPU ms per alert / per delivered message (hatched)\n"
        f"ours {summary['cpu_ratio']:.2f}x unpaced Apprise, "
        f"{summary['ratios']['smtp']['cpu_per_alert']:.2f}x smtp (per alert)",
        fontsize=10,
    )
    axis.set_ylim(0, max(per_alert + per_message) * 1.4)
    axis.legend(fontsize=8, loc="upper left")
    axis.spines[["top", "right"]].set_visible(False)
    _target(axis, summary["apprise_unpaced"]["cpu_ms"] * 0.10, "target 0.10x unpaced")

    axis = axes[0][2]
    p50 = [summary[k]["single_alert"]["to_last_byte"]["p50_ms"] or 0 for k in SENDERS]
    p95 = [summary[k]["single_alert"]["to_last_byte"]["p95_ms"] or 0 for k in SENDERS]
    bars = axis.bar(
        [i - 0.2 for i in x],
        p50,
        width=0.4,
        color=[COLORS[k] for k in SENDERS],
        label="p50",
    )
    _annotate(axis, bars, p50, ".1f")
    bars = axis.bar(
        [i + 0.2 for i in x],
        p95,
        width=0.4,
        color=[COLORS[k] for k in SENDERS],
        alpha=0.45,
        hatch="//",
        label="p95",
    )
    _annotate(axis, bars, p95, ".1f")
    axis.legend(fontsize=8, loc="upper left")
    axis.set_xticks(x, labels, fontsize=8)
    axis.set_yscale("log")
    axis.set_ylim(top=max([*p95, *p50, 10.0]) * 2.5)
    n = summary["ours"]["single_alert"]["to_last_byte"]["n"]
    axis.set_title(
        "Single alert: action call to last byte at the receiver\n"
        f"ms (log), p50 / p95 of {n} alerts each, no camera",
        fontsize=10,
    )
    axis.spines[["top", "right"]].set_visible(False)
    _target(axis, 5, "target p50 5 ms")

    axis = axes[1][0]
    _bars(
        axis,
        [summary[k]["rss_growth_worst"] / MIB for k in SENDERS],
        labels,
        ".1f",
        "Burst: peak RSS growth, MiB (worst round)",
    )
    _target(axis, 8, "target 8 MiB")

    axis = axes[1][1]
    for result, key, name in (
        (ours, "ours", "notify.o365"),
        (apprise, "apprise_paced", labels[3].replace("\n", " ")),
    ):
        memory = result["big"]["memory"]
        samples = memory["samples"]
        base = memory["baseline_rss"]
        outcome = (
            "delivered" if result["big"]["delivery"]["intact_attachments"] else "failed"
        )
        axis.plot(
            [t for t, _ in samples],
            [(rss - base) / MIB for _, rss in samples],
            color=COLORS[key],
            label=f"{name}: {outcome}, {result['big']['wall_s']:.2f} s",
        )
    _target(axis, 16, "target 16 MiB")
    axis.set_xlabel("seconds")
    axis.set_title("100 MB attachment: RSS growth, MiB", fontsize=10)
    axis.legend(fontsize=8, loc="center right")
    axis.spines[["top", "right"]].set_visible(False)

    axis = axes[1][2]
    axis.axis("off")
    targets = dict(summary["targets"])
    for part in ("signed_in", "storm"):
        if part in summary:
            targets.update(summary[part]["targets"])
    met = sum(1 for v in targets.values() if v["met"])
    axis.set_title(f"Targets: {met} of {len(targets)} met", fontsize=10, pad=14)
    step = min(0.13, 1.0 / max(len(targets), 1))
    for row, (name, verdict) in enumerate(targets.items()):
        mark, color = ("met", TARGET) if verdict["met"] else ("MISSED", "#c62828")
        y = 1.0 - row * step
        axis.text(0, y, mark, color=color, fontsize=8, weight="bold")
        axis.text(0.17, y, name.replace("_", " "), fontsize=8)
        detail = verdict["detail"]
        axis.text(
            0.17,
            y - step * 0.42,
            detail if len(detail) < 84 else detail[:82] + "…",
            fontsize=6,
            color="#555555",
        )

    figure.tight_layout(rect=(0, 0, 1, 0.93))
    figure.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    """Read the results and write the PNG."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("results", type=Path)
    parser.add_argument("png", type=Path)
    args = parser.parse_args(argv)
    draw(json.loads(args.results.read_text()), args.png)
    return 0


if __name__ == "__main__":
    sys.exit(main())
