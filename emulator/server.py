"""The emulator: one HTTPS server for sign-in, Graph, uploads and the inbox.

The middleware gives every counted request an id, logs it in the statistics,
checks the bearer token of Graph calls, limits their concurrency per app and
mailbox, and applies the switched-on faults before the handler runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
from datetime import datetime
from pathlib import Path
import ssl
from types import TracebackType
from typing import Any, Self
import uuid

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from .certs import (
    TlsFiles,
    client_ssl_context,
    ensure_certificates,
    server_names,
    server_ssl_context,
)
from .common import (
    CLAIMS,
    GRAPH_OPERATIONS,
    IDENTITY_OPERATIONS,
    REQUEST_ID,
    ApiError,
    GraphError,
    Handler,
    OAuthError,
    Operation,
    base_url,
    client_request_id,
    utc_now,
)
from .control import ControlApi
from .directory import ClientSecret, Directory
from .faults import RESPONSE_KINDS, Fault, FaultKind
from .graph import GraphApi
from .identity import IdentityApi
from .schemas import GraphSchemas
from .state import EmulatorState, MailStore, ReceivedMessage, RequestRecord
from .tokens import TokenError, bearer_token, normalise_audience
from .uploads import UploadApi

DEFAULT_TOKEN_LIFETIME = 3599
DEFAULT_MAX_CONCURRENCY = 4
#: Graph's own application id, named in its ``WWW-Authenticate`` challenge.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_FAULT_STATUS = {
    FaultKind.THROTTLED: 429,
    FaultKind.UNAVAILABLE: 503,
    FaultKind.TOKEN_DOWN: 503,
    FaultKind.GATEWAY_TIMEOUT: 504,
}
_GRAPH_FAULTS = {
    429: ("ApplicationThrottled", "Application is over its request limit."),
    503: ("ServiceUnavailable", "The service is temporarily unavailable."),
    504: ("GatewayTimeout", "The gateway did not receive a timely response."),
}


def _url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


class Emulator:
    """A local emulator of Microsoft Entra sign-in and Graph mail, over HTTPS.

    ``state_dir`` holds the CA and server certificate (reused while valid) and
    attachment files. Use ``await start()`` / ``await stop()`` or ``async with``.
    """

    def __init__(
        self,
        state_dir: Path,
        directory: Directory | None = None,
        *,
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
    ) -> None:
        """Prepare an emulator; ``max_concurrency`` 0 removes the limit."""
        self.state_dir = Path(state_dir).resolve()
        self._tls = TlsFiles.in_directory(self.state_dir / "tls")
        self._state = EmulatorState(
            directory or Directory.default(),
            GraphSchemas.load(),
            MailStore(self.state_dir),
            token_lifetime,
            max_concurrency,
        )
        self._operations: dict[AbstractRoute, Operation] = {}
        self._runner: web.AppRunner | None = None
        self._url: str | None = None

    # Life cycle -------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on ``host:port`` (port 0 picks a free one; see `url`)."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        await asyncio.to_thread(self._prepare_files, host)
        runner = web.AppRunner(self._build_app(), shutdown_timeout=2.0)
        await runner.setup()
        site = web.TCPSite(
            runner, host, port, ssl_context=server_ssl_context(self._tls)
        )
        try:
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        bound = int(runner.addresses[0][1])
        public = {"": "127.0.0.1", "0.0.0.0": "127.0.0.1", "::": "::1"}.get(host, host)  # noqa: S104
        self._url = _url(public, bound)
        self._state.audiences = frozenset(
            normalise_audience(_url(name, bound)) for name in server_names(host)
        )
        self._runner = runner

    async def stop(self) -> None:
        """Stop listening and close every connection.

        In-flight requests get ``shutdown_timeout`` to finish. Connections whose
        TLS shutdown is not answered (idle keep-alive clients) are then aborted
        rather than left to time out.
        """
        if self._runner is None:
            return
        server = self._runner.server
        transports = [
            connection.transport
            for connection in (server.connections if server is not None else [])
            if connection.transport is not None
        ]
        await self._runner.cleanup()
        self._runner = None
        for transport in transports:
            transport.abort()
        await asyncio.sleep(0)  # let the aborted connections finish closing

    async def __aenter__(self) -> Self:
        """Start on 127.0.0.1 with a free port."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop."""
        await self.stop()

    # Properties -------------------------------------------------------------

    @property
    def url(self) -> str:
        """Return the base URL (``https://127.0.0.1:PORT``): ``O365_EMULATOR_URL``."""
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    @property
    def inbox_url(self) -> str:
        """Return the address of the inbox page."""
        return f"{self.url}/inbox"

    @property
    def ca_path(self) -> Path:
        """Return the CA certificate file: ``O365_EMULATOR_CA``."""
        return self._tls.ca_cert

    @property
    def directory(self) -> Directory:
        """Return the directory (it may be changed while running)."""
        return self._state.directory

    @property
    def token_lifetime(self) -> int:
        """Return the lifetime of new tokens in seconds."""
        return self._state.token_lifetime

    @token_lifetime.setter
    def token_lifetime(self, seconds: int) -> None:
        """Set the lifetime of new tokens (0 issues already expired tokens)."""
        self._state.token_lifetime = seconds

    @property
    def faults(self) -> list[Fault]:
        """Return the active faults."""
        return self._state.faults.active

    @property
    def messages(self) -> list[ReceivedMessage]:
        """Return the received messages, newest first."""
        return self._state.store.newest_first()

    @property
    def stats(self) -> dict[str, Any]:
        """Return the statistics (as ``GET /_emulator/stats`` does)."""
        return self._state.stats.to_json()

    # Helpers for tests ------------------------------------------------------

    def ssl_context(self) -> ssl.SSLContext:
        """Return a client TLS context that trusts the emulator's CA."""
        return client_ssl_context(self.ca_path)

    def add_fault(self, fault: Fault | str, **options: object) -> Fault:
        """Switch a fault on: a `Fault`, a spec (``"429:count=2"``) or a kind + options."""
        if isinstance(fault, str):
            fault = (
                Fault.from_mapping({"kind": fault, **options})
                if options
                else Fault.parse(fault)
            )
        return self._state.faults.add(fault)

    def clear_faults(self) -> None:
        """Switch every fault off."""
        self._state.faults.clear()

    def attachment_bytes(self, message_id: str, index: int) -> bytes:
        """Return the bytes of a received attachment."""
        message = self._state.store.find_message(message_id)
        if message is None:
            raise KeyError(message_id)
        return message.attachments[index].path.read_bytes()

    def reset(self) -> None:
        """Forget messages, drafts, uploads, faults and statistics."""
        self._state.reset()

    def set_roles(self, roles: Iterable[str], client_id: str | None = None) -> None:
        """Set an app's application permissions (for tokens issued from now on)."""
        self.directory.app(client_id).roles = list(roles)

    def expire_secret(self, client_id: str | None = None) -> None:
        """Make every secret of an app expired (AADSTS7000222 from now on)."""
        now = utc_now()
        for secret in self.directory.app(client_id).secrets:
            secret.expires_at = now

    def set_secret(
        self,
        value: str,
        *,
        expires_at: datetime | None = None,
        client_id: str | None = None,
    ) -> None:
        """Replace an app's secrets with one secret."""
        self.directory.app(client_id).secrets = [ClientSecret(value, expires_at)]

    # Server -----------------------------------------------------------------

    def _prepare_files(self, host: str) -> None:
        ensure_certificates(self._tls.ca_cert.parent, host)
        self._state.store.prepare()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        apis = (IdentityApi, GraphApi, UploadApi, ControlApi)
        for api in apis:
            for endpoint in api(self._state).endpoints():
                route = app.router.add_route(
                    endpoint.method, endpoint.path, endpoint.handler
                )
                if endpoint.operation is not None:
                    self._operations[route] = endpoint.operation
        return app

    @web.middleware
    async def _middleware(
        self, request: web.Request, handler: Handler
    ) -> web.StreamResponse:
        operation = self._operations.get(request.match_info.route)
        if operation is None:
            return await handler(request)
        request[REQUEST_ID] = str(uuid.uuid4())
        record = self._state.stats.begin(request, operation)
        try:
            response = await self._dispatch(request, handler, operation, record)
        except ApiError as err:
            response = err.response(request)
        except Exception:
            record.status = 500  # aiohttp answers it and logs the traceback
            raise
        transport = request.transport
        record.status = (
            0 if transport is None or transport.is_closing() else response.status
        )
        if operation in IDENTITY_OPERATIONS:
            response.headers["x-ms-request-id"] = request[REQUEST_ID]
            if "client-request-id" in request.headers:
                response.headers["client-request-id"] = request.headers[
                    "client-request-id"
                ]
        else:
            response.headers["request-id"] = request[REQUEST_ID]
            response.headers["client-request-id"] = client_request_id(request)
        return response

    async def _dispatch(
        self,
        request: web.Request,
        handler: Handler,
        operation: Operation,
        record: RequestRecord,
    ) -> web.StreamResponse:
        """Authenticate, hold a concurrency slot, apply faults, run the handler."""
        key: tuple[str, str] | None = None
        if operation in GRAPH_OPERATIONS:
            claims = self._authenticate(request)
            request[CLAIMS] = claims
            key = (str(claims.get("appid")), self._mailbox_key(request))
        faults = self._state.faults
        with self._state.in_flight.slot(key) as admitted:
            if not admitted:
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    headers={"Retry-After": "1"},
                )
            for delay in faults.take_all(operation, {FaultKind.LATENCY}):
                record.faults.append(delay.kind.value)
                await asyncio.sleep(delay.delay_ms / 1000)
            fault = faults.take(operation, RESPONSE_KINDS)
            if fault is None:
                return await handler(request)
            record.faults.append(fault.kind.value)
            if fault.after_accept:
                with contextlib.suppress(ApiError):
                    await handler(request)
            return self._fault_response(request, operation, fault)

    def _authenticate(self, request: web.Request) -> dict[str, Any]:
        """Return the claims of the request's bearer token."""
        challenge = {
            "WWW-Authenticate": (
                f'Bearer realm="", authorization_uri="{base_url(request)}/common/'
                f'oauth2/authorize", client_id="{GRAPH_APP_ID}"'
            )
        }
        try:
            return self._state.tokens.verify(
                bearer_token(request.headers.get("Authorization", "")),
                audiences=self._state.audiences,
                tenant_id=self._state.directory.tenant.tenant_id,
            )
        except TokenError as err:
            raise GraphError(
                401, "InvalidAuthenticationToken", str(err), headers=challenge
            ) from err

    def _mailbox_key(self, request: web.Request) -> str:
        """Return what identifies the mailbox of a request (for concurrency)."""
        user = request.match_info.get("user", "")
        mailbox = self._state.directory.find_mailbox(user)
        return mailbox.object_id if mailbox is not None else user.casefold()

    def _fault_response(
        self, request: web.Request, operation: Operation, fault: Fault
    ) -> web.Response:
        """Answer a fault in place of the real response (or drop the connection)."""
        if fault.kind is FaultKind.DROP:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never written: the connection is gone
        status = _FAULT_STATUS[fault.kind]
        headers = fault.retry_after_header(utc_now())
        error: ApiError
        if operation in IDENTITY_OPERATIONS:
            error = OAuthError(
                status,
                "temporarily_unavailable",
                90033,
                "A transient error has occurred. Please try again. (emulated fault)",
                headers=headers,
            )
        else:
            code, message = _GRAPH_FAULTS[status]
            error = GraphError(
                status, code, f"{message} (emulated fault)", headers=headers
            )
        return error.response(request)
