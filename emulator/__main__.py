"""Command line: ``python -m emulator [--host H] [--port P] [--state-dir DIR] ...``.

On start it prints, one per line, ``O365_EMULATOR_URL=...``,
``O365_EMULATOR_CA=...`` and ``INBOX=...``; it stops on SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
from pathlib import Path
import signal
import sys

from .directory import Directory
from .faults import Fault
from .server import DEFAULT_MAX_CONCURRENCY, DEFAULT_TOKEN_LIFETIME, Emulator


def _fault(spec: str) -> Fault:
    try:
        return Fault.parse(spec)
    except ValueError as err:
        raise argparse.ArgumentTypeError(str(err)) from err


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m emulator",
        description="Local emulator of Microsoft Entra sign-in and Graph mail.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on")
    parser.add_argument(
        "--port", type=int, default=8443, help="port to listen on (0: any free port)"
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path(".emulator"),
        help="folder for the CA, the server certificate and attachments",
    )
    parser.add_argument(
        "--directory", type=Path, help="JSON file replacing the default directory"
    )
    parser.add_argument(
        "--token-lifetime",
        type=_positive,
        default=DEFAULT_TOKEN_LIFETIME,
        help="lifetime of access tokens in seconds",
    )
    parser.add_argument(
        "--max-concurrency",
        type=int,
        default=DEFAULT_MAX_CONCURRENCY,
        help="concurrent Graph requests per app and mailbox before 429 (0: no limit)",
    )
    parser.add_argument(
        "--fault",
        type=_fault,
        action="append",
        default=[],
        metavar="SPEC",
        help="switch a fault on, e.g. 429:count=3,retry_after=2,match=sendMail",
    )
    return parser


async def _serve(emulator: Emulator, host: str, port: int) -> None:
    await emulator.start(host, port)
    sys.stdout.write(
        f"O365_EMULATOR_URL={emulator.url}\n"
        f"O365_EMULATOR_CA={emulator.ca_path}\n"
        f"INBOX={emulator.inbox_url}\n"
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await stop.wait()
    finally:
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted."""
    parser = _parser()
    args = parser.parse_args(argv)
    try:
        directory = Directory.load(args.directory) if args.directory else None
    except (OSError, ValueError) as err:
        parser.error(f"--directory: {err}")
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    emulator = Emulator(
        args.state_dir,
        directory,
        token_lifetime=args.token_lifetime,
        max_concurrency=args.max_concurrency,
    )
    for fault in args.fault:
        emulator.add_fault(fault)
    asyncio.run(_serve(emulator, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
