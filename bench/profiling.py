"""Where a burst spends CPU time and memory: cProfile and tracemalloc summaries.

Used by ``bench.ha_driver`` after every measured phase (profiling slows the
process, so its bursts are never the measured ones). Standard library only;
it reads the integration's source files (never imports them) to name the
function a line belongs to.

* CPU: ``cProfile`` over one burst. On Python 3.12+ it profiles every thread
  (``sys.monitoring``), so the executor's work is included; times are wall
  clock under the profiler, so read them as shares, not as the burst's cost.
  Waiting (lock acquires, the selector) is left out of the tables.
* Memory: ``tracemalloc`` (25 frames) over another burst. A task on the loop
  polls the traced total every 2 ms and takes a snapshot each time it grows
  5 % past the last one, so the last snapshot is near the peak; the peak itself
  is ``tracemalloc``'s exact figure. Allocations alive in that snapshot are
  charged to the innermost frame inside the integration (the function
  responsible), and listed by allocation line.
"""

from __future__ import annotations

import ast
import asyncio
from collections.abc import Awaitable, Callable
import cProfile
import functools
from pathlib import Path
import pstats
import time
import tracemalloc
from typing import Any

#: Part of a path that marks the integration's own code.
PRODUCT = "custom_components/o365/"
_WAITS = (
    "acquire' of '_thread.lock",
    "acquire' of '_thread.RLock",
    "method 'poll' of 'select.epoll'",
    "method 'control' of 'select.kqueue'",
    "built-in method select.select",
    "method 'select' of",
    "_thread.start_joinable_thread",
    "method 'join' of '_thread._ThreadHandle'",
)
MIB = 1024 * 1024


def short_path(filename: str) -> str:
    """Return a path from its package on (``aiohttp/client.py``)."""
    for marker in ("site-packages/", "custom_components/", "/lib/python3."):
        if marker in filename:
            tail = filename.split(marker, 1)[1]
            if marker.startswith("/lib/python3."):
                tail = "stdlib/" + tail.split("/", 1)[-1]
            elif marker == "custom_components/":
                tail = "custom_components/" + tail
            return tail
    return filename


@functools.cache
def _functions(filename: str) -> list[tuple[int, int, str]]:
    """Return ``(first line, last line, qualified name)`` of every function."""
    try:
        tree = ast.parse(Path(filename).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, ValueError):
        return []
    found: list[tuple[int, int, str]] = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                found.append((child.lineno, child.end_lineno or child.lineno, name))
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def function_at(filename: str, lineno: int) -> str:
    """Return the innermost function containing ``filename:lineno``."""
    best: tuple[int, str] | None = None
    for first, last, name in _functions(filename):
        if first <= lineno <= last and (best is None or first >= best[0]):
            best = (first, name)
    return best[1] if best else "<module>"


def _area(filename: str, name: str) -> str:
    """Group a profiled function: the integration, a library, or the runtime."""
    if PRODUCT in filename:
        return "o365 (the integration)"
    for marker, area in (
        ("homeassistant/", "Home Assistant"),
        ("aiohttp/", "aiohttp"),
        ("yarl/", "aiohttp"),
        ("multidict/", "aiohttp"),
        ("msal/", "msal"),
        ("voluptuous/", "Home Assistant"),
        ("/json/", "json"),
        ("/asyncio/", "asyncio"),
        ("/ssl.py", "ssl"),
        ("/email/", "email"),
        ("/smtplib.py", "smtplib"),
        ("/concurrent/", "executor"),
        ("/threading.py", "executor"),
    ):
        if marker in filename:
            return area
    if filename == "~":
        for marker, area in (
            ("ssl", "ssl"),
            ("json", "json"),
            ("orjson", "json"),
            ("binascii", "base64"),
            ("b64", "base64"),
            ("sha", "hashing"),
            ("read' of '_io", "file I/O"),
            ("open", "file I/O"),
            ("send", "socket"),
            ("recv", "socket"),
        ):
            if marker in name:
                return area
        return "built-ins"
    if "/base64.py" in filename:
        return "base64"
    return "other"


def _label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    return f"{short_path(filename)}:{line} {name}"


def _waiting(key: tuple[str, int, str]) -> bool:
    return key[0] == "~" and any(w in key[2] for w in _WAITS)


def summarise_profile(profile: cProfile.Profile, top: int = 15) -> dict[str, Any]:
    """Return the busiest functions, the integration's, and time per area."""
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = [
        (key, calls, tottime, cumtime)
        for key, (_, calls, tottime, cumtime, _) in stats.items()
        if not _waiting(key)
    ]

    def callers(key: tuple[str, int, str], count: int = 2) -> list[str]:
        """Return the callers that spent the most time in ``key``."""
        entries = stats[key][4]
        ranked = sorted(entries.items(), key=lambda kv: kv[1][2], reverse=True)
        return [
            f"{_label(caller)} ({figures[2] * 1000:.0f} ms)"
            for caller, figures in ranked[:count]
        ]

    busy = sum(tottime for _, _, tottime, _ in rows)
    areas: dict[str, float] = {}
    for key, _, tottime, _ in rows:
        area = _area(key[0], key[2])
        areas[area] = areas.get(area, 0.0) + tottime
    by_self = sorted(rows, key=lambda r: r[2], reverse=True)[:top]
    product = sorted(
        (r for r in rows if PRODUCT in r[0][0]), key=lambda r: r[3], reverse=True
    )[:top]

    def row(entry: tuple[tuple[str, int, str], int, float, float]) -> dict[str, Any]:
        key, calls, tottime, cumtime = entry
        return {
            "function": _label(key),
            "calls": calls,
            "self_ms": round(tottime * 1000, 2),
            "cumulative_ms": round(cumtime * 1000, 2),
            "self_share": round(tottime / busy, 4) if busy else 0.0,
            "called_from": callers(key),
        }

    return {
        "busy_s": round(busy, 4),
        "areas": {
            k: {"ms": round(v * 1000, 1), "share": round(v / busy, 4) if busy else 0}
            for k, v in sorted(areas.items(), key=lambda kv: kv[1], reverse=True)
        },
        "top_self": [row(r) for r in by_self],
        "top_integration_cumulative": [row(r) for r in product],
    }


async def profile_cpu(run: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    """Run ``run()`` under cProfile; return the summary and the wall time."""
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    try:
        await run()
    finally:
        profile.disable()
    wall = time.perf_counter() - started
    return {"wall_s": round(wall, 3), **summarise_profile(profile)}


def _charge(snapshot: tracemalloc.Snapshot, top: int = 12) -> dict[str, Any]:
    """Charge live allocations to the integration's innermost frame, and by line."""
    by_function: dict[str, list[int]] = {}
    outside = 0
    for stat in snapshot.statistics("traceback"):
        owner = None
        for frame in stat.traceback:  # most recent call first
            if PRODUCT in frame.filename:
                owner = (
                    f"{short_path(frame.filename)}:"
                    f"{function_at(frame.filename, frame.lineno)}"
                )
                break
        if owner is None:
            outside += stat.size
            continue
        entry = by_function.setdefault(owner, [0, 0])
        entry[0] += stat.size
        entry[1] += stat.count
    by_line = []
    for stat in snapshot.statistics("lineno")[:top]:
        frame = stat.traceback[0]
        by_line.append(
            {
                "line": f"{short_path(frame.filename)}:{frame.lineno}",
                "function": function_at(frame.filename, frame.lineno),
                "mib": round(stat.size / MIB, 2),
                "blocks": stat.count,
            }
        )
    functions = sorted(by_function.items(), key=lambda kv: kv[1][0], reverse=True)
    return {
        "by_integration_function": [
            {"function": name, "mib": round(size / MIB, 2), "blocks": count}
            for name, (size, count) in functions[:top]
        ],
        "outside_integration_mib": round(outside / MIB, 2),
        "by_line": by_line,
    }


async def profile_memory(run: Callable[[], Awaitable[Any]]) -> dict[str, Any]:
    """Run ``run()`` with tracemalloc; return the peak and who holds memory there."""
    tracemalloc.start(25)
    tracemalloc.reset_peak()
    start_traced = tracemalloc.get_traced_memory()[0]
    best: list[Any] = [start_traced, None, 0.0]  # traced bytes, snapshot, when
    done = asyncio.Event()
    started = time.perf_counter()

    async def watch() -> None:
        threshold = start_traced
        while not done.is_set():
            current = tracemalloc.get_traced_memory()[0]
            if current > threshold * 1.05 and current > best[0]:
                best[:] = [
                    current,
                    tracemalloc.take_snapshot(),
                    time.perf_counter() - started,
                ]
                threshold = current
            await asyncio.sleep(0.002)

    watcher = asyncio.create_task(watch())
    try:
        await run()
    finally:
        done.set()
        await watcher
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    result: dict[str, Any] = {
        "traced_at_start_mib": round(start_traced / MIB, 2),
        "traced_peak_growth_mib": round((peak - start_traced) / MIB, 2),
        "snapshot_growth_mib": round((best[0] - start_traced) / MIB, 2),
        "snapshot_at_s": round(best[2], 3),
        "wall_s": round(time.perf_counter() - started, 3),
    }
    if best[1] is not None:
        snapshot = best[1].filter_traces(
            [tracemalloc.Filter(inclusive=False, filename_pattern=tracemalloc.__file__)]
        )
        # Reading the integration's sources is file I/O: not on the loop.
        loop = asyncio.get_running_loop()
        result.update(await loop.run_in_executor(None, _charge, snapshot))
    return result


def json_costs(jpeg: Path, recipients: list[str], loops: int = 30) -> dict[str, Any]:
    """Time encoding a sendMail body with this JPEG: ``json.dumps`` vs orjson.

    The body is shaped as Graph's ``sendMail`` (the attachment as base64 in
    ``contentBytes``); orjson is what Home Assistant's ``json_bytes`` uses.
    """
    import base64  # noqa: PLC0415
    import json  # noqa: PLC0415

    from homeassistant.helpers.json import json_bytes  # noqa: PLC0415

    body = {
        "message": {
            "subject": "Motion at the front door #1",
            "body": {"contentType": "Text", "content": "Motion detected."},
            "toRecipients": [{"emailAddress": {"address": r}} for r in recipients],
            "attachments": [
                {
                    "@odata.type": "#microsoft.graph.fileAttachment",
                    "name": jpeg.name,
                    "contentType": "image/jpeg",
                    "contentBytes": base64.b64encode(jpeg.read_bytes()).decode(),
                }
            ],
        },
        "saveToSentItems": False,
    }

    def best(encode: Callable[[], bytes]) -> float:
        times = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(loops):
                encode()
            times.append((time.perf_counter() - started) / loops)
        return min(times) * 1000

    return {
        "body_bytes": len(json.dumps(body).encode()),
        "json_dumps_ms": round(best(lambda: json.dumps(body).encode()), 3),
        "orjson_json_bytes_ms": round(best(lambda: json_bytes(body)), 3),
    }
