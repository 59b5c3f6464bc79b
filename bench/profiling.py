"""Where a burst spends CPU time and memory: a CPU sampler, cProfile, tracemalloc.

Used by ``bench.ha_driver`` after every measured phase (profiling slows the
process, so its bursts are never the measured ones). Standard library only;
it reads the integration's source files (never imports them) to name the
function a line belongs to.

* CPU time, by function and line (:class:`CpuSampler`): every millisecond
  a timer signal interrupts the event loop's thread, whose
  handler reads every thread's stack and charges the CPU time each thread
  used since the previous look (its own CPU clock) to the Python frames it
  is in. A thread that waits uses no CPU and is charged nothing; work in C
  (orjson, base64, TLS) is charged to the Python line that called it, and
  areas (json, base64, ssl, file I/O) are told apart by that line. A look
  that finds the thread waiting (in the selector, an idle executor worker)
  cannot say what used the CPU since the previous one: that time is spread
  over the busy looks in proportion. Per-alert figures divide by the burst's
  alerts.
* Calls (``cProfile``) over another burst: exact call counts per function.
  On Python 3.12+ cProfile sees every thread through ``sys.monitoring`` but
  keeps one call stack for all of them, so its times mix threads up: only its
  call counts and its built-in functions' names are used.
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
import linecache
from pathlib import Path
import pstats
import sys
import threading
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
    "method 'get' of '_queue.SimpleQueue'",
    "built-in method time.sleep",
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


#: Areas by the file a frame is in (the first marker found wins).
_FILE_AREAS = (
    ("homeassistant/", "Home Assistant"),
    ("voluptuous/", "Home Assistant"),
    ("probatio/", "Home Assistant"),
    ("aiohttp/", "aiohttp"),
    ("yarl/", "aiohttp"),
    ("multidict/", "aiohttp"),
    ("propcache/", "aiohttp"),
    ("aiohappyeyeballs/", "aiohttp"),
    ("frozenlist/", "aiohttp"),
    ("aiosignal/", "aiohttp"),
    ("msal/", "msal"),
    ("/ssl.py", "ssl"),
    ("/asyncio/sslproto.py", "ssl"),
    ("/json/", "json"),
    ("orjson", "json"),
    ("/base64.py", "base64"),
    ("/pathlib/", "file I/O"),
    ("/posixpath.py", "file I/O"),
    ("/genericpath.py", "file I/O"),
    ("/shutil.py", "file I/O"),
    ("/tempfile.py", "file I/O"),
    ("<frozen posixpath>", "file I/O"),
    ("<frozen genericpath>", "file I/O"),
    ("<frozen os>", "file I/O"),
    ("/os.py", "file I/O"),
    ("/asyncio/", "asyncio"),
    ("/selectors.py", "asyncio"),
    ("/concurrent/", "executor (threads)"),
    ("/threading.py", "executor (threads)"),
    ("/queue.py", "executor (threads)"),
    ("/email/", "email (address parsing)"),
    ("/logging/", "logging"),
    ("/smtplib.py", "smtplib"),
    ("/mimetypes.py", "mimetypes"),
)
#: Built-in (C) functions by name, for cProfile's entries (``~``).
_BUILTIN_AREAS = (
    ("_ssl.", "ssl"),
    ("orjson", "json"),
    ("json", "json"),
    ("binascii", "base64"),
    ("b64", "base64"),
    ("_hashlib", "hashing"),
    ("_io.", "file I/O"),
    ("posix.", "file I/O"),
    ("builtins.open", "file I/O"),
    ("_socket.", "socket"),
    ("select.", "asyncio"),
    ("_asyncio.", "asyncio"),
    ("_queue.", "executor (threads)"),
    ("_thread.", "executor (threads)"),
)
#: C work seen through the Python line that calls it (the sampler): the line's
#: source names it. Checked before the file's area.
_LINE_AREAS = (
    ("_sock.send", "socket"),
    ("_sock.recv", "socket"),
    ("recv_into", "socket"),
    ("_ssock.recv", "asyncio"),
    ("orjson", "json"),
    ("json_bytes", "json"),
    ("json.dumps", "json"),
    ("json.loads", "json"),
    ("b64encode", "base64"),
    ("b64decode", "base64"),
    ("b2a_base64", "base64"),
    ("fsync", "file I/O"),
    ("os.open", "file I/O"),
    ("os.read", "file I/O"),
    ("os.write", "file I/O"),
    ("read_bytes", "file I/O"),
    ("write_bytes", "file I/O"),
    ("mkdir", "file I/O"),
    ("os.replace", "file I/O"),
    ("os.rename", "file I/O"),
    ("unlink", "file I/O"),
    ("os.stat", "file I/O"),
    (".stat(", "file I/O"),
    ("open(", "file I/O"),
)


def _area(filename: str, name: str = "", line: str = "") -> str:
    """Group a function: the integration (by file), a library, or the runtime.

    ``line`` (the sampler's innermost source line) names C work called from
    Python; ``name`` is a cProfile built-in's (``filename`` ``~``).
    """
    if filename == "~":
        for marker, area in _BUILTIN_AREAS:
            if marker in name:
                return area
        return "built-ins"
    for marker, area in _LINE_AREAS:
        if marker in line:
            return area
    if PRODUCT in filename:
        return "o365: " + filename.split(PRODUCT, 1)[1]
    if "/bench/" in filename:
        return "the benchmark's driver"
    for marker, area in _FILE_AREAS:
        if marker in filename:
            return area
    if "/lib/python3." in filename or filename.startswith("<frozen"):
        return "Python (other stdlib)"
    return "other"


def _label(key: tuple[str, int, str]) -> str:
    filename, line, name = key
    if filename == "~":
        return name
    return f"{short_path(filename)}:{line} {name}"


def _waiting(key: tuple[str, int, str]) -> bool:
    return key[0] == "~" and any(w in key[2] for w in _WAITS)


def _shares(
    values: dict[str, float], total: float, scale: float = 1.0
) -> dict[str, dict[str, float]]:
    """Return ``{name: {ms, share}}``, largest first (``ms`` times ``scale``)."""
    return {
        k: {
            "ms": round(v * scale * 1000, 2),
            "share": round(v / total, 4) if total else 0.0,
        }
        for k, v in sorted(values.items(), key=lambda kv: kv[1], reverse=True)
    }


def _group(areas: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Fold the integration's files into one area (the files stay listed too)."""
    folded: dict[str, float] = {}
    for name, figures in areas.items():
        key = "o365 (the integration)" if name.startswith("o365: ") else name
        folded[key] = folded.get(key, 0.0) + figures["ms"]
    total = sum(folded.values())
    return {
        k: {"ms": round(v, 2), "share": round(v / total, 4) if total else 0.0}
        for k, v in sorted(folded.items(), key=lambda kv: kv[1], reverse=True)
    }


def summarise_calls(
    profile: cProfile.Profile, alerts: int, top: int = 15
) -> dict[str, Any]:
    """Return cProfile's exact call counts: the most called functions, per alert.

    Times are left out (one call stack for every thread, see the module
    docstring); built-ins are named, with the Python function calling them.
    """
    stats = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    rows = [
        (key, calls)
        for key, (_, calls, _, _, _) in stats.items()
        if not _waiting(key)
        and key[2] != "<method 'disable' of '_lsprof.Profiler' objects>"
    ]

    def callers(key: tuple[str, int, str]) -> list[str]:
        ranked = sorted(stats[key][4].items(), key=lambda kv: kv[1][1], reverse=True)
        return [f"{_label(c)} ({f[1] / alerts:.1f}/alert)" for c, f in ranked[:2]]

    def row(key: tuple[str, int, str], calls: int) -> dict[str, Any]:
        return {
            "function": _label(key),
            "calls": calls,
            "per_alert": round(calls / alerts, 2),
            "called_from": callers(key),
        }

    everything = sorted(rows, key=lambda r: r[1], reverse=True)
    product = [r for r in everything if PRODUCT in r[0][0]]
    builtins = [r for r in everything if r[0][0] == "~"]
    return {
        "functions": sum(1 for _ in rows),
        "calls": sum(c for _, c in rows),
        "calls_per_alert": round(sum(c for _, c in rows) / alerts, 1),
        "top": [row(*r) for r in everything[:top]],
        "integration": [row(*r) for r in product[:top]],
        "builtins": [row(*r) for r in builtins[:top]],
    }


async def profile_calls(
    run: Callable[[], Awaitable[Any]], alerts: int
) -> dict[str, Any]:
    """Run ``run()`` under cProfile; return the call counts and the wall time."""
    profile = cProfile.Profile()
    started = time.perf_counter()
    profile.enable()
    try:
        await run()
    finally:
        profile.disable()
    wall = time.perf_counter() - started
    loop = asyncio.get_running_loop()
    summary = await loop.run_in_executor(None, summarise_calls, profile, alerts)
    return {"wall_s": round(wall, 3), **summary}


_Key = tuple[str, int, str]
#: Where a thread waits: (the end of its file name, its function).
_IDLE = (
    ("selectors.py", ".select"),
    ("concurrent/futures/thread.py", "_worker"),
    ("threading.py", ".wait"),
    ("queue.py", ".get"),
)


def _idle(filename: str, qualname: str) -> bool:
    return any(
        filename.endswith(end) and qualname.endswith(name) for end, name in _IDLE
    )


class CpuSampler:
    """Charges each thread's CPU time to the Python frames it is running.

    A wall-clock timer (``setitimer(ITIMER_REAL)``) interrupts the main
    thread (Home Assistant's event loop) every ``interval`` seconds; the
    handler, which Python runs at the loop thread's next bytecode boundary,
    reads every thread's CPU clock and charges what each used since the
    previous look to the frames it is in: the interrupted frame for the loop
    thread (so the line that was using the CPU, or that called the C code
    that was), the current frame for every other thread (``sys._current_frames``).
    A sampler thread would be biased: it gets the GIL mostly when the loop
    releases it, at system calls. The handler's own CPU time is left out.
    Start and stop it on the main thread.
    """

    def __init__(self, interval: float = 0.001, depth: int = 60) -> None:
        """Prepare a sampler (``start()`` starts it, ``stop()`` ends it)."""
        self.interval = interval
        self.depth = depth
        self.samples = 0
        self.cpu = 0.0
        #: CPU time seen at looks that found the thread waiting (see summary).
        self.idle_cpu = 0.0
        self.by_thread: dict[str, float] = {}
        #: CPU seconds by innermost frame (function, and line).
        self.self_time: dict[_Key, float] = {}
        self.line_time: dict[tuple[str, int], float] = {}
        #: CPU seconds of every function on the stack (once per sample).
        self.inclusive: dict[_Key, float] = {}
        #: Innermost function -> the nearest frame in another file -> seconds.
        self.caller: dict[_Key, dict[_Key, float]] = {}
        #: Innermost function -> the nearest frame in the integration -> seconds.
        self.via: dict[_Key, dict[_Key, float]] = {}
        self._names: dict[int, str] = {}
        self._last: dict[int, float] = {}
        self._main = threading.main_thread().ident
        self._previous: Any = None
        self._wakeup_fd = -1
        self._busy = False

    def _thread_name(self, ident: int) -> str:
        if (name := self._names.get(ident)) is None:
            thread = threading._active.get(ident)  # type: ignore[attr-defined]  # noqa: SLF001
            name = thread.name if thread is not None else str(ident)
            if ident == self._main:
                name = "event loop (main thread)"
            elif name.startswith(("SyncWorker", "ThreadPoolExecutor")):
                name = "executor"
            self._names[ident] = name
        return name

    def _handler(self, signum: int, frame: Any) -> None:
        if self._busy:  # the timer fired again while this handler ran
            return
        self._busy = True
        try:
            self._look(frame)
        finally:
            self._busy = False
            # What this handler used is not the loop's.
            self._last[self._main] = time.thread_time()

    def _look(self, frame: Any) -> None:
        last = self._last
        for ident, found in sys._current_frames().items():  # noqa: SLF001
            current = found
            if ident == self._main:
                now = time.thread_time()
                current = frame
            else:
                try:
                    now = time.clock_gettime(time.pthread_getcpuclockid(ident))
                except (OSError, ProcessLookupError):
                    continue
            before = last.get(ident)
            last[ident] = now
            if before is not None and now > before and current is not None:
                self._charge(current, now - before, self._thread_name(ident))

    def start(self) -> None:
        """Install the handler and start the timer (the main thread only)."""
        import signal  # noqa: PLC0415

        self._previous = signal.signal(signal.SIGALRM, self._handler)
        # Home Assistant's loop may have a wakeup fd for its signal handlers:
        # the timer must not wake the loop at every look.
        self._wakeup_fd = signal.set_wakeup_fd(-1)
        signal.setitimer(signal.ITIMER_REAL, self.interval, self.interval)

    def stop(self) -> None:
        """Stop the timer and put the previous handler back."""
        import signal  # noqa: PLC0415

        signal.setitimer(signal.ITIMER_REAL, 0, 0)
        signal.signal(signal.SIGALRM, self._previous)
        if self._wakeup_fd != -1:
            signal.set_wakeup_fd(self._wakeup_fd)

    def _charge(self, frame: Any, seconds: float, thread: str) -> None:
        self.samples += 1
        self.cpu += seconds
        self.by_thread[thread] = self.by_thread.get(thread, 0.0) + seconds
        code = frame.f_code
        if _idle(code.co_filename, code.co_qualname):
            # It used the CPU before it went to wait: spread over the busy looks.
            self.idle_cpu += seconds
            return
        innermost: _Key = (code.co_filename, code.co_firstlineno, code.co_qualname)
        self.self_time[innermost] = self.self_time.get(innermost, 0.0) + seconds
        line = (code.co_filename, frame.f_lineno or 0)
        self.line_time[line] = self.line_time.get(line, 0.0) + seconds
        seen: set[_Key] = set()
        caller: _Key | None = None
        via: _Key | None = None
        current = frame
        for _ in range(self.depth):
            if current is None:
                break
            code = current.f_code
            key: _Key = (code.co_filename, code.co_firstlineno, code.co_qualname)
            if key not in seen:
                seen.add(key)
                self.inclusive[key] = self.inclusive.get(key, 0.0) + seconds
            if current is not frame:
                if caller is None and code.co_filename != innermost[0]:
                    caller = key
                if via is None and PRODUCT in code.co_filename:
                    via = key
            current = current.f_back
        for table, found in ((self.caller, caller), (self.via, via)):
            if found is not None:
                entry = table.setdefault(innermost, {})
                entry[found] = entry.get(found, 0.0) + seconds

    def summary(self, alerts: int, top: int = 15) -> dict[str, Any]:
        """Return the CPU time by area, function and line (reads source files).

        A look that finds a thread waiting (the selector, an idle executor
        worker) cannot tell what used the CPU since the previous look; that
        time is spread over the busy looks in proportion, so shares are of
        the busy looks and per-alert figures scale them to all sampled CPU.
        """
        busy = self.cpu - self.idle_cpu
        scale = self.cpu / busy if busy > 0 else 0.0
        total = busy

        def per_alert(seconds: float) -> float:
            return round(seconds * scale * 1000 / alerts, 4)

        def heaviest(table: dict[_Key, float], count: int = 2) -> list[str]:
            ranked = sorted(table.items(), key=lambda kv: kv[1], reverse=True)
            return [f"{_label(k)} ({v / total:.1%})" for k, v in ranked[:count]]

        def source(filename: str, lineno: int) -> str:
            return linecache.getline(filename, lineno).strip()

        areas: dict[str, float] = {}
        for (filename, lineno), seconds in self.line_time.items():
            area = _area(filename, line=source(filename, lineno))
            areas[area] = areas.get(area, 0.0) + seconds
        functions = sorted(self.self_time.items(), key=lambda kv: kv[1], reverse=True)
        lines = sorted(self.line_time.items(), key=lambda kv: kv[1], reverse=True)
        product = sorted(
            ((k, v) for k, v in self.inclusive.items() if PRODUCT in k[0]),
            key=lambda kv: kv[1],
            reverse=True,
        )
        by_area = _shares(areas, total, scale)
        return {
            "samples": self.samples,
            "cpu_s": round(self.cpu, 4),
            "cpu_ms_per_alert": round(self.cpu * 1000 / alerts, 4),
            "idle_share": round(self.idle_cpu / self.cpu, 4) if self.cpu else 0.0,
            "by_thread": _shares(self.by_thread, self.cpu),
            "areas": by_area,
            "areas_grouped": _group(by_area),
            "top_self": [
                {
                    "function": _label(key),
                    "area": _area(key[0]),
                    "self_ms_per_alert": per_alert(seconds),
                    "self_share": round(seconds / total, 4) if total else 0.0,
                    "called_from": heaviest(self.caller.get(key, {})),
                    "via_integration": heaviest(self.via.get(key, {}), 1),
                }
                for key, seconds in functions[:top]
            ],
            "top_lines": [
                {
                    "line": f"{short_path(filename)}:{lineno}",
                    "function": function_at(filename, lineno)
                    if filename.endswith(".py")
                    else "",
                    "source": source(filename, lineno)[:120],
                    "area": _area(filename, line=source(filename, lineno)),
                    "self_ms_per_alert": per_alert(seconds),
                    "self_share": round(seconds / total, 4) if total else 0.0,
                }
                for (filename, lineno), seconds in lines[:top]
            ],
            "integration_inclusive": [
                {
                    "function": _label(key),
                    "ms_per_alert": per_alert(seconds),
                    "share": round(seconds / total, 4) if total else 0.0,
                }
                for key, seconds in product[:top]
            ],
        }


async def profile_cpu(
    run: Callable[[], Awaitable[Any]], alerts: int, interval: float = 0.001
) -> dict[str, Any]:
    """Run ``run()`` with the CPU sampler; return where the CPU time went."""
    sampler = CpuSampler(interval)
    started = time.perf_counter()
    sampler.start()
    try:
        await run()
    finally:
        sampler.stop()
    wall = time.perf_counter() - started
    loop = asyncio.get_running_loop()
    summary = await loop.run_in_executor(None, sampler.summary, alerts)
    return {"wall_s": round(wall, 3), "interval_s": interval, **summary}


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
