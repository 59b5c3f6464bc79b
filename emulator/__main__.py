"""Command line: ``python -m emulator [--host H] [--port P] [--state-dir DIR] ...``.

Options: ``--directory FILE``, ``--token-lifetime S``, ``--max-concurrency N``,
``--concurrency-key app|app_mailbox``, ``--min-upload-size BYTES``,
``--upload-budget-bytes BYTES``, ``--upload-window-seconds S``,
``--allow-upload-status``, ``--device-code-lifetime S``,
``--device-code-interval S``, ``--refresh-token-lifetime S``,
``--no-dynamic-consent`` and ``--fault SPEC`` (repeatable; e.g.
``503:count=-1,match=sendMail,mailbox=alerts@contoso.com``).

On start it prints, one per line, ``O365_EMULATOR_URL=...``,
``O365_EMULATOR_CA=...`` and ``INBOX=...``; it stops on SIGINT or SIGTERM.
People finish device code sign-ins at ``{O365_EMULATOR_URL}/devicelogin``.
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
from .server import Emulator
from .settings import (
    DEFAULT_DEVICE_CODE_INTERVAL,
    DEFAULT_DEVICE_CODE_LIFETIME,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MIN_UPLOAD_SIZE,
    DEFAULT_REFRESH_TOKEN_LIFETIME,
    DEFAULT_TOKEN_LIFETIME,
    DEFAULT_UPLOAD_BUDGET_BYTES,
    DEFAULT_UPLOAD_WINDOW_SECONDS,
    ConcurrencyKey,
)


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


def _not_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("cannot be negative")
    return value


def _seconds(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("cannot be negative")
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
        type=_not_negative,
        default=DEFAULT_MAX_CONCURRENCY,
        help="concurrent Graph requests per key before 429 (0: no limit)",
    )
    parser.add_argument(
        "--concurrency-key",
        choices=[key.value for key in ConcurrencyKey],
        default=ConcurrencyKey.APP.value,
        help="count concurrency and upload bytes per app (default) or app + mailbox",
    )
    parser.add_argument(
        "--min-upload-size",
        type=_not_negative,
        default=DEFAULT_MIN_UPLOAD_SIZE,
        help="smallest attachment an upload session accepts, in bytes",
    )
    parser.add_argument(
        "--upload-budget-bytes",
        type=_not_negative,
        default=DEFAULT_UPLOAD_BUDGET_BYTES,
        help="bytes PUT to upload URLs per key per window before 429 (0: no limit)",
    )
    parser.add_argument(
        "--upload-window-seconds",
        type=_seconds,
        default=DEFAULT_UPLOAD_WINDOW_SECONDS,
        help="the sliding window of the upload budget, in seconds",
    )
    parser.add_argument(
        "--allow-upload-status",
        action="store_true",
        help="answer GET on upload URLs (Outlook documents only PUT and DELETE)",
    )
    parser.add_argument(
        "--device-code-lifetime",
        type=_not_negative,
        default=DEFAULT_DEVICE_CODE_LIFETIME,
        help="seconds a device code stays valid",
    )
    parser.add_argument(
        "--device-code-interval",
        type=_positive,
        default=DEFAULT_DEVICE_CODE_INTERVAL,
        help="seconds a client must wait between device code polls",
    )
    parser.add_argument(
        "--refresh-token-lifetime",
        type=_seconds,
        default=DEFAULT_REFRESH_TOKEN_LIFETIME,
        help="seconds a refresh token may go unused",
    )
    parser.add_argument(
        "--no-dynamic-consent",
        action="store_true",
        help="refuse delegated scopes the app registration does not list (650057)",
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
        concurrency_key=args.concurrency_key,
        min_upload_size=args.min_upload_size,
        upload_budget_bytes=args.upload_budget_bytes,
        upload_window_seconds=args.upload_window_seconds,
        allow_upload_status=args.allow_upload_status,
        device_code_lifetime=args.device_code_lifetime,
        device_code_interval=args.device_code_interval,
        refresh_token_lifetime=args.refresh_token_lifetime,
        dynamic_consent=not args.no_dynamic_consent,
    )
    for fault in args.fault:
        emulator.add_fault(fault)
    asyncio.run(_serve(emulator, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
