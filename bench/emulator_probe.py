"""Run the emulator with the arrival of each request body's last byte logged.

``python -m bench.emulator_probe --bodies-log FILE [emulator options]`` runs
``python -m emulator`` unchanged, in the same process, after one addition:
aiohttp's ``StreamReader.feed_eof``, which its HTTP parser calls the moment a
request body is complete (while handling the socket read that brought the
last byte), first appends ``<CLOCK_MONOTONIC ns> <body bytes>`` to FILE.

The drivers read FILE to time single alerts from the action call to the
emulator's receipt of the request's last byte; ``CLOCK_MONOTONIC`` is one clock
for all processes on the machine. Requests without a body (GET) and empty
bodies are not logged. The cost is one clock read and one line written per
request with a body.
"""

from __future__ import annotations

import sys
from typing import IO, Any

from .common import monotonic_ns


def install(log: IO[str]) -> None:
    """Wrap ``StreamReader.feed_eof`` so that each finished body is logged."""
    from aiohttp import streams  # noqa: PLC0415 - the emulator's venv

    original = streams.StreamReader.feed_eof

    def feed_eof(self: Any) -> None:
        size = self.total_bytes
        if size:
            log.write(f"{monotonic_ns()} {size}\n")
        original(self)

    streams.StreamReader.feed_eof = feed_eof  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    """Open the log, install the wrapper, run the emulator's command line."""
    args = list(sys.argv[1:] if argv is None else argv)
    if len(args) < 2 or args[0] != "--bodies-log":
        sys.stderr.write(
            "usage: python -m bench.emulator_probe --bodies-log FILE ...\n"
        )
        return 2
    path, rest = args[1], args[2:]
    # Line-buffered: each line reaches the file as it is written.
    with open(path, "w", buffering=1, encoding="ascii") as log:  # noqa: PTH123
        install(log)
        from emulator.__main__ import main as emulator_main  # noqa: PLC0415

        return emulator_main(rest)


if __name__ == "__main__":
    sys.exit(main())
