"""The SMTP server Home Assistant's ``smtp`` notify sends to: aiosmtpd on loopback.

``python -m bench.smtp_server --cert FILE --key FILE`` (bench venv, where
aiosmtpd is installed). It listens on ``127.0.0.1`` on a free port, offers
STARTTLS with the certificate given (generated for the run by ``bench.tls``,
signed by a CA made for the run) and refuses mail before STARTTLS, as a
submission server (port 587) does. No authentication (none is configured on
Home Assistant's side either). Every message is kept in memory until reset,
stamped with ``CLOCK_MONOTONIC`` when its ``DATA`` ended (the last byte).

A second port takes control requests (plain HTTP, loopback):

* ``POST /reset``: forget messages and counters;
* ``GET /stats``: counters, and per message its arrival time, envelope, the
  number of addresses in ``To``, and each attachment's size and SHA-256.

On start it prints ``SMTP_PORT=...`` and ``SMTP_CONTROL_URL=...``; it stops on
SIGTERM or SIGINT. It is a process of its own, so its CPU time is not charged
to Home Assistant (as the emulator's is not).
"""

from __future__ import annotations

import argparse
import asyncio
from email import policy
from email.parser import BytesParser
from email.utils import getaddresses
import hashlib
import json
import logging
import signal
import ssl
import sys
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session

from .common import monotonic_ns


class Sink:
    """Keeps what arrives; counts connections and TLS sessions."""

    def __init__(self) -> None:
        """Start empty."""
        self.messages: list[tuple[int, bool, list[str], bytes]] = []
        self.connections = 0
        self.max_connections = 0
        self.open_connections = 0

    def reset(self) -> None:
        """Forget messages and counters (open connections stay counted)."""
        self.messages.clear()
        self.connections = 0
        self.max_connections = self.open_connections

    async def handle_DATA(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope
    ) -> str:
        """Keep the message with its arrival time; answer 250."""
        arrived = monotonic_ns()
        content = envelope.original_content or b""
        self.messages.append(
            (arrived, session.ssl is not None, list(envelope.rcpt_tos), content)
        )
        return "250 2.0.0 OK"

    def stats(self) -> dict[str, Any]:
        """Describe the messages (parsed here, after the phase, not on arrival)."""
        parser = BytesParser(policy=policy.default)
        described = []
        for arrived, tls, rcpt_tos, content in self.messages:
            message = parser.parsebytes(content)
            attachments = []
            for part in message.iter_attachments():
                payload = part.get_payload(decode=True) or b""
                attachments.append(
                    {
                        "content_type": part.get_content_type(),
                        "filename": part.get_filename(),
                        "size": len(payload),
                        "sha256": hashlib.sha256(payload).hexdigest(),
                    }
                )
            described.append(
                {
                    "arrived_ns": arrived,
                    "subject": str(message.get("Subject", "")),
                    "tls": tls,
                    "rcpt_tos": rcpt_tos,
                    "to_count": len(getaddresses(message.get_all("To", []))),
                    "bytes": len(content),
                    "attachments": attachments,
                }
            )
        return {
            "messages_received": len(self.messages),
            "connections": self.connections,
            "max_open_connections": self.max_connections,
            "bytes": sum(len(m[3]) for m in self.messages),
            "messages": described,
        }


class CountingSMTP(SMTP):
    """aiosmtpd's SMTP session, counting connections for the sink."""

    def __init__(self, sink: Sink, **kwargs: Any) -> None:
        """Serve one connection for ``sink``."""
        super().__init__(sink, **kwargs)
        self._sink = sink

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Count the connection (STARTTLS calls this again on the same one)."""
        if not getattr(self, "_counted", False):
            self._counted = True
            self._sink.connections += 1
            self._sink.open_connections += 1
            self._sink.max_connections = max(
                self._sink.max_connections, self._sink.open_connections
            )
        super().connection_made(transport)  # type: ignore[arg-type]

    def connection_lost(self, exc: Exception | None) -> None:
        """Uncount the connection when it closes (once)."""
        if getattr(self, "_counted", False) and not getattr(self, "_uncounted", False):
            self._uncounted = True
            self._sink.open_connections -= 1
        super().connection_lost(exc)


async def _control(
    sink: Sink, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    """Answer one control request (HTTP/1.1, Connection: close)."""
    try:
        request_line = (await reader.readline()).decode("latin-1").split()
        while (await reader.readline()) not in {b"\r\n", b"\n", b""}:
            pass
        method, path = [*request_line, "", ""][:2]
        if method == "POST" and path == "/reset":
            sink.reset()
            status, body = "200 OK", {"ok": True}
        elif method == "GET" and path == "/stats":
            status, body = "200 OK", sink.stats()
        else:
            status, body = "404 Not Found", {"error": f"{method} {path}"}
        data = json.dumps(body).encode()
        writer.write(
            f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n".encode()
            + data
        )
        await writer.drain()
    finally:
        writer.close()


async def serve(cert: str, key: str) -> None:
    """Serve SMTP (STARTTLS required) and the control port until signalled."""
    loop = asyncio.get_running_loop()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    sink = Sink()

    def factory() -> SMTP:
        return CountingSMTP(
            sink,
            hostname="smtp.bench.invalid",
            tls_context=context,
            require_starttls=True,
            data_size_limit=64 * 1024 * 1024,
            loop=loop,
        )

    smtp = await loop.create_server(factory, "127.0.0.1", 0)
    control = await asyncio.start_server(
        lambda r, w: _control(sink, r, w), "127.0.0.1", 0
    )
    smtp_port = smtp.sockets[0].getsockname()[1]
    control_port = control.sockets[0].getsockname()[1]
    sys.stdout.write(
        f"SMTP_PORT={smtp_port}\nSMTP_CONTROL_URL=http://127.0.0.1:{control_port}\n"
    )
    sys.stdout.flush()
    stop = asyncio.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()
    smtp.close()
    control.close()


def main(argv: list[str] | None = None) -> int:
    """Run the server."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    asyncio.run(serve(args.cert, args.key))
    return 0


if __name__ == "__main__":
    sys.exit(main())
