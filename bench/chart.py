"""Draw the benchmark chart: ``python -m bench.chart results.json bench.png``.

Runs in the bench venv (matplotlib). Six panels: burst throughput, CPU per
alert, HTTP requests per alert, memory during the 100 MB alert, longest
event-loop stalls, and the issue's targets.
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

OURS = "#1565c0"
APPRISE = "#ef6c00"
TARGET = "#2e7d32"
MIB = 1024 * 1024


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


def _bars(
    axis: Any,
    values: list[float],
    labels: list[str],
    fmt: str,
    title: str,
    colors: str | tuple[str, ...] = (OURS, APPRISE),
) -> None:
    """Draw labelled bars (ours, then Apprise's by default)."""
    bars = axis.bar(labels, values, color=colors, width=0.55)
    for bar, value in zip(bars, values, strict=True):
        axis.annotate(
            format(value, fmt),
            (bar.get_x() + bar.get_width() / 2, bar.get_height()),
            ha="center",
            va="bottom",
            fontsize=9,
            xytext=(0, 2),
            textcoords="offset points",
        )
    axis.set_title(title, fontsize=10)
    axis.spines[["top", "right"]].set_visible(False)


def draw(results: dict[str, Any], path: Path) -> None:
    """Draw the six panels into ``path``."""
    summary = results["summary"]
    ours, apprise = results["ours"], results["apprise"]
    labels = ["notify.o365\n(Home Assistant)", f"Apprise {apprise['apprise_version']}"]
    figure, axes = plt.subplots(2, 3, figsize=(14, 8.2))
    env = results["environment"]
    figure.suptitle(
        f"{ours['alerts']} alerts with a 150 KB JPEG and 3 recipients, and one 100 MB "
        f"attachment, against the local Graph emulator\n{env['date']}, commit "
        f"{env['commit']}, {env['cores']} cores",
        fontsize=11,
    )

    axis = axes[0][0]
    _bars(
        axis,
        [summary["ours"]["throughput"], summary["apprise"]["throughput"]],
        labels,
        ".1f",
        f"Burst throughput, alerts/s (log scale): {summary['speedup']:.0f}x",
    )
    axis.set_yscale("log")
    _target(axis, 100, "target 100/s")

    axis = axes[0][1]
    _bars(
        axis,
        [summary["ours"]["cpu_ms"], summary["apprise"]["cpu_ms"]],
        labels,
        ".2f",
        f"CPU time per alert, ms: {summary['cpu_ratio']:.2f}x Apprise's",
    )
    _target(axis, summary["apprise"]["cpu_ms"] / 3, "target: 1/3 of Apprise's")

    axis = axes[0][2]
    _bars(
        axis,
        [summary["ours"]["http"], summary["apprise"]["http"]],
        labels,
        ".2f",
        "HTTP requests per alert (tokens: "
        f"{summary['tokens']['ours']} vs {summary['tokens']['apprise']})",
    )
    _target(axis, 1, "target 1.00")

    axis = axes[1][0]
    for result, color, name in ((ours, OURS, labels[0]), (apprise, APPRISE, labels[1])):
        memory = result["big"]["memory"]
        samples = memory["samples"]
        base = memory["baseline_rss"]
        outcome = (
            "delivered" if result["big"]["delivery"]["intact_attachments"] else "failed"
        )
        axis.plot(
            [t for t, _ in samples],
            [(rss - base) / MIB for _, rss in samples],
            color=color,
            label=f"{name.splitlines()[0]}: {outcome}, {result['big']['wall_s']:.2f} s",
        )
    _target(axis, 16, "target 16 MiB")
    axis.set_xlabel("seconds")
    axis.set_title("100 MB attachment: RSS growth, MiB", fontsize=10)
    axis.legend(fontsize=8, loc="center right")
    axis.spines[["top", "right"]].set_visible(False)

    axis = axes[1][1]
    stalls = [
        max(r["stall_ms"] for r in summary["rounds"]),
        ours["big"]["stalls"]["max_ms"],
    ]
    _bars(
        axis,
        stalls,
        ["burst (worst round)", "100 MB"],
        ".1f",
        "Longest Home Assistant event-loop stall, ms",
        OURS,
    )
    _target(axis, 20, "target < 20 ms")
    axis.set_ylim(0, max(25.0, max(stalls) * 1.2))

    axis = axes[1][2]
    axis.axis("off")
    axis.set_title("Targets of the issue", fontsize=10)
    for row, (name, verdict) in enumerate(summary["targets"].items()):
        mark, color = ("met", TARGET) if verdict["met"] else ("MISSED", "#c62828")
        axis.text(
            0, 0.95 - row * 0.13, f"{mark}", color=color, fontsize=9, weight="bold"
        )
        axis.text(0.2, 0.95 - row * 0.13, name.replace("_", " "), fontsize=9)
        detail = verdict["detail"]
        axis.text(
            0.2,
            0.95 - row * 0.13 - 0.05,
            detail if len(detail) < 72 else detail[:70] + "…",
            fontsize=7,
            color="#555555",
        )

    figure.tight_layout(rect=(0, 0, 1, 0.95))
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
