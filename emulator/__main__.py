"""Command line: ``python -m emulator [--host H] [--port P] [--state-dir DIR] ...``.

Options: ``--directory FILE``, ``--token-lifetime S``, ``--max-concurrency N``,
``--concurrency-key app|app_mailbox``, ``--min-upload-size BYTES``,
``--upload-budget-bytes BYTES``, ``--upload-window-seconds S``,
``--allow-upload-status``, ``--device-code-lifetime S``,
``--device-code-interval S``, ``--refresh-token-lifetime S``,
``--no-dynamic-consent``, ``--unlisted-scope-error E``,
``--device-decline-error E``, ``--daily-recipient-limit-work N``,
``--daily-recipient-limit-personal N``, ``--max-recipients-per-message N`` and
``--fault SPEC`` (repeatable; e.g.
``503:count=-1,match=sendMail,mailbox=alerts@contoso.com``).

On start it prints, one per line, ``O365_EMULATOR_URL=...``,
``O365_EMULATOR_CA=...`` and ``INBOX=...``; it stops on SIGINT or SIGTERM.
People finish device code sign-ins at ``{O365_EMULATOR_URL}/devicelogin``.

``python -m emulator refresh-token casey@outlook.com [--url URL] [--ca FILE]
[--client-id ID] [--scope S] [--apprise]`` asks a running emulator for a
refresh token of that account (for the emulator's public client and the
scopes Apprise's personal mode asks for) and prints it, or with ``--apprise``
the ``o365://`` URL that carries it. ``--url`` and ``--ca`` default to
``O365_EMULATOR_URL`` and ``O365_EMULATOR_CA``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path
import signal
import sys
import urllib.error
import urllib.request

from .certs import client_ssl_context
from .directory import DEFAULT_PUBLIC_CLIENT_ID, Directory
from .faults import Fault
from .server import Emulator
from .settings import (
    DECLINE_ERRORS,
    DEFAULT_DAILY_RECIPIENT_LIMIT_PERSONAL,
    DEFAULT_DAILY_RECIPIENT_LIMIT_WORK,
    DEFAULT_DEVICE_CODE_INTERVAL,
    DEFAULT_DEVICE_CODE_LIFETIME,
    DEFAULT_MAX_CONCURRENCY,
    DEFAULT_MAX_RECIPIENTS_PER_MESSAGE,
    DEFAULT_MIN_UPLOAD_SIZE,
    DEFAULT_REFRESH_TOKEN_LIFETIME,
    DEFAULT_TOKEN_LIFETIME,
    DEFAULT_UPLOAD_BUDGET_BYTES,
    DEFAULT_UPLOAD_WINDOW_SECONDS,
    UNLISTED_SCOPE_ERRORS,
    ConcurrencyKey,
)

REFRESH_TOKEN_COMMAND = "refresh-token"  # noqa: S105 - a command name


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
        "--unlisted-scope-error",
        choices=UNLISTED_SCOPE_ERRORS,
        default=UNLISTED_SCOPE_ERRORS[0],
        help="the OAuth error sent with AADSTS650057",
    )
    parser.add_argument(
        "--device-decline-error",
        choices=DECLINE_ERRORS,
        default=DECLINE_ERRORS[0],
        help="what a device code poll answers after a refused consent",
    )
    parser.add_argument(
        "--daily-recipient-limit-work",
        type=_not_negative,
        default=DEFAULT_DAILY_RECIPIENT_LIMIT_WORK,
        help="recipients a work mailbox may send to in 24 hours (0: no limit)",
    )
    parser.add_argument(
        "--daily-recipient-limit-personal",
        type=_not_negative,
        default=DEFAULT_DAILY_RECIPIENT_LIMIT_PERSONAL,
        help="recipients a personal account may send to in 24 hours (0: no limit)",
    )
    parser.add_argument(
        "--max-recipients-per-message",
        type=_not_negative,
        default=DEFAULT_MAX_RECIPIENTS_PER_MESSAGE,
        help="To + Cc + Bcc of one message (0: no limit)",
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


def _refresh_token_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=f"python -m emulator {REFRESH_TOKEN_COMMAND}",
        description=(
            "Print a refresh token of an emulator account (e.g. for an Apprise "
            "personal URL: o365://casey@outlook.com/<client_id>/<refresh_token>)."
        ),
    )
    parser.add_argument("user", help="the account, e.g. casey@outlook.com")
    parser.add_argument(
        "--url",
        default=os.environ.get("O365_EMULATOR_URL"),
        help="the running emulator (default: $O365_EMULATOR_URL)",
    )
    parser.add_argument(
        "--ca",
        type=Path,
        default=os.environ.get("O365_EMULATOR_CA"),
        help="its CA certificate (default: $O365_EMULATOR_CA, else "
        ".emulator/tls/ca.pem)",
    )
    parser.add_argument(
        "--client-id",
        default=DEFAULT_PUBLIC_CLIENT_ID,
        help="the app the token is for (default: the emulator's public client)",
    )
    parser.add_argument(
        "--scope",
        help="the scopes (default: Apprise's 'https://graph.microsoft.com/Mail.Send "
        "offline_access')",
    )
    parser.add_argument(
        "--apprise",
        action="store_true",
        help="print the Apprise o365:// URL instead of the bare token",
    )
    return parser


def refresh_token_main(argv: list[str]) -> int:
    """Ask a running emulator for a refresh token and print it."""
    parser = _refresh_token_parser()
    args = parser.parse_args(argv)
    if not args.url:
        parser.error("--url is required (or set O365_EMULATOR_URL)")
    ca = Path(args.ca) if args.ca else Path(".emulator") / "tls" / "ca.pem"
    payload: dict[str, str] = {"user": args.user, "client_id": args.client_id}
    if args.scope:
        payload["scope"] = args.scope
    request = urllib.request.Request(  # noqa: S310 - the URL is the user's emulator
        f"{args.url.rstrip('/')}/_emulator/refresh_tokens",
        data=json.dumps(payload).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        context = client_ssl_context(ca)
        with urllib.request.urlopen(request, context=context, timeout=30) as answer:  # noqa: S310
            body = json.loads(answer.read())
    except urllib.error.HTTPError as err:
        sys.stderr.write(f"{err.code}: {err.read().decode(errors='replace')}\n")
        return 1
    except (OSError, ValueError) as err:
        sys.stderr.write(f"cannot reach the emulator at {args.url}: {err}\n")
        return 1
    if args.apprise:
        if "apprise_url" not in body:
            sys.stderr.write("Apprise's personal mode is for personal accounts only.\n")
            return 1
        sys.stdout.write(f"{body['apprise_url']}\n")
    else:
        sys.stdout.write(f"{body['refresh_token']}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the emulator until interrupted (or run the refresh-token command)."""
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == REFRESH_TOKEN_COMMAND:
        return refresh_token_main(argv[1:])
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
        unlisted_scope_error=args.unlisted_scope_error,
        device_decline_error=args.device_decline_error,
        daily_recipient_limit_work=args.daily_recipient_limit_work,
        daily_recipient_limit_personal=args.daily_recipient_limit_personal,
        max_recipients_per_message=args.max_recipients_per_message,
    )
    for fault in args.fault:
        emulator.add_fault(fault)
    asyncio.run(_serve(emulator, args.host, args.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
