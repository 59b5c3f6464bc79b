"""Measure event-loop stalls: how long each callback holds the loop.

asyncio runs every callback, task step and I/O handler through
``asyncio.events.Handle._run`` (``TimerHandle`` inherits it). While a block is
measured (:meth:`LoopWatch.begin` to :meth:`LoopWatch.end`) that method is
wrapped, so every callback on Home Assistant's loop is timed with
``time.perf_counter``; nothing else runs an event loop in the driver process.
Outside a block the method is asyncio's own: the bursts whose CPU is reported
run unwatched, and a burst of their own is watched for stalls.

A stall is one callback's duration: the time nothing else could run. For a
task step the description names the task's coroutine and where the coroutine
chain is suspended *after* the step (the await that followed the slow code).
Garbage-collector pauses are recorded too: they happen inside callbacks.

A wall-clock stall also counts time the OS gave the CPU to another process,
so each callback's thread CPU time (``time.thread_time``) is recorded too: the
longest *busy* callback is the one the code itself is responsible for. The
cost is about 1 microsecond per callback.
"""

from __future__ import annotations

import asyncio
from asyncio import format_helpers
from collections.abc import Callable
from dataclasses import dataclass, field
import gc
import heapq
import itertools
import time
from typing import Any

_LONG = 0.020


@dataclass
class StallReport:
    """The callbacks that ran during one measured block."""

    callbacks: int = 0
    over_20ms: int = 0
    total_s: float = 0.0
    top: list[tuple[float, int, str, float]] = field(default_factory=list)
    busy_max_s: float = 0.0
    busy_callback: str = ""
    gc_pauses: int = 0
    gc_max_s: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """Describe the longest stalls, longest first (milliseconds)."""
        ordered = sorted(self.top, reverse=True)
        return {
            "callbacks": self.callbacks,
            "callbacks_over_20ms": self.over_20ms,
            "loop_busy_s": round(self.total_s, 4),
            "max_ms": round(ordered[0][0] * 1000, 3) if ordered else 0.0,
            "max_callback": ordered[0][2] if ordered else "",
            "max_cpu_ms": round(ordered[0][3] * 1000, 3) if ordered else 0.0,
            "max_busy_ms": round(self.busy_max_s * 1000, 3),
            "max_busy_callback": self.busy_callback,
            "top": [
                {
                    "ms": round(seconds * 1000, 3),
                    "cpu_ms": round(cpu * 1000, 3),
                    "callback": text,
                }
                for seconds, _, text, cpu in ordered
            ],
            "gc_pauses": self.gc_pauses,
            "gc_max_ms": round(self.gc_max_s * 1000, 3),
        }


class LoopWatch:
    """Times every asyncio callback of the process while a block is measured."""

    def __init__(self, keep: int = 8) -> None:
        """Keep the ``keep`` longest callbacks of each block."""
        self._keep = keep
        self._report: StallReport | None = None
        self._counter = itertools.count()
        self._gc_started = 0.0
        self._installed = False
        self._original: Callable[[asyncio.Handle], None] | None = None
        self._timed: Callable[[asyncio.Handle], None] | None = None

    def install(self) -> None:
        """Prepare the wrapper of ``Handle._run`` (put in place by :meth:`begin`)."""
        if self._installed:
            return
        self._installed = True
        original: Callable[[asyncio.Handle], None] = asyncio.Handle._run  # noqa: SLF001
        watch = self

        def timed_run(handle: asyncio.Handle) -> None:
            report = watch._report
            if report is None:
                original(handle)
                return
            cpu_start = time.thread_time()
            start = time.perf_counter()
            try:
                original(handle)
            finally:
                elapsed = time.perf_counter() - start
                cpu = time.thread_time() - cpu_start
                report.callbacks += 1
                report.total_s += elapsed
                if elapsed > _LONG:
                    report.over_20ms += 1
                if cpu > report.busy_max_s:
                    report.busy_max_s = cpu
                    report.busy_callback = describe(handle)
                if len(report.top) < watch._keep or elapsed > report.top[0][0]:
                    entry = (elapsed, next(watch._counter), describe(handle), cpu)
                    if len(report.top) < watch._keep:
                        heapq.heappush(report.top, entry)
                    else:
                        heapq.heapreplace(report.top, entry)

        self._original = original
        self._timed = timed_run

    def _on_gc(self, phase: str, info: dict[str, Any]) -> None:
        report = self._report
        if report is None:
            return
        if phase == "start":
            self._gc_started = time.perf_counter()
        elif self._gc_started:
            pause = time.perf_counter() - self._gc_started
            report.gc_pauses += 1
            report.gc_max_s = max(report.gc_max_s, pause)

    def begin(self) -> None:
        """Start measuring a block: wrap every callback, listen to the collector."""
        self._report = StallReport()
        if self._installed:
            asyncio.Handle._run = self._timed  # type: ignore[method-assign,assignment]  # noqa: SLF001
            gc.callbacks.append(self._on_gc)

    def end(self) -> StallReport:
        """Stop measuring, put asyncio's own method back, return what was seen."""
        report, self._report = self._report, None
        assert report is not None
        if self._installed:
            asyncio.Handle._run = self._original  # type: ignore[method-assign]  # noqa: SLF001
            gc.callbacks.remove(self._on_gc)
        return report


def _coroutine_chain(coro: Any) -> str:
    """Return ``outer > inner (file:line)`` for a suspended coroutine chain."""
    names: list[str] = []
    where = ""
    depth = 0
    while coro is not None and depth < 40:
        depth += 1
        names.append(getattr(coro, "__qualname__", type(coro).__name__))
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            where = f"{frame.f_code.co_filename.rsplit('/', 2)[-1]}:{frame.f_lineno}"
        awaited = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        if not hasattr(awaited, "cr_frame") and not hasattr(awaited, "gi_frame"):
            break
        coro = awaited
    return " > ".join(names) + (f" (suspended at {where})" if where else "")


def describe(handle: asyncio.Handle) -> str:
    """Return a short description of what a handle ran."""
    callback = getattr(handle, "_callback", None)
    owner = getattr(callback, "__self__", None)
    if isinstance(owner, asyncio.Task):
        return f"Task {owner.get_name()}: {_coroutine_chain(owner.get_coro())}"
    if isinstance(owner, asyncio.Future):
        return f"Future callback {format_helpers._format_callback_source(callback, ())}"  # noqa: SLF001
    args = getattr(handle, "_args", None) or ()
    return format_helpers._format_callback_source(callback, args)  # noqa: SLF001
