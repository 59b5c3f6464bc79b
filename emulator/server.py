"""The emulator: one HTTPS server for sign-in, Graph, uploads and the inbox.

The middleware gives every counted request an id, logs it in the statistics,
checks the bearer token of Graph calls, works out whom the request is for (the
app and the mailbox: for targeted faults), limits concurrency per key (the app
by default, or the app and mailbox; upload URL requests count against the app
that created the session), and applies the switched-on faults before the
handler runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
from datetime import datetime, timedelta
from pathlib import Path
import ssl
from types import TracebackType
from typing import Any, Self, overload
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
from .client_certs import AppCertificate
from .common import (
    CLAIMS,
    GRAPH_OPERATIONS,
    IDENTITY_OPERATIONS,
    REQUEST_ID,
    TARGET,
    UPLOAD_OPERATIONS,
    ApiError,
    GraphError,
    Handler,
    OAuthError,
    Operation,
    base_url,
    client_request_id,
    utc_now,
)
from .control import APPRISE_PERSONAL_SCOPE, ControlApi
from .devicelogin import DeviceLoginApi, LoginResult, complete_device_login
from .directory import DEFAULT_PUBLIC_CLIENT_ID, ClientSecret, Directory, Mailbox
from .faults import RESPONSE_KINDS, Fault, FaultKind, Target
from .graph import GraphApi
from .identity import (
    DEVICE_CODE_GRANT,
    REFRESH_TOKEN_GRANT,
    IdentityApi,
    issue_refresh_token,
    read_form,
)
from .schemas import GraphSchemas
from .settings import (
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
    ConcurrencyKey,
    Settings,
)
from .signin import RevokeReason
from .state import (
    EmulatorState,
    LimitCrossing,
    MailStore,
    ReceivedMessage,
    RequestRecord,
)
from .tokens import (
    GRAPH_RESOURCE_ALIASES,
    TokenError,
    bearer_token,
    normalise_audience,
)
from .uploads import UploadApi

__all__ = [
    "DEFAULT_MAX_CONCURRENCY",
    "DEFAULT_TOKEN_LIFETIME",
    "Emulator",
]

#: Graph's own application id, named in its ``WWW-Authenticate`` challenge.
GRAPH_APP_ID = "00000003-0000-0000-c000-000000000000"
_FAULT_STATUS = {
    FaultKind.THROTTLED: 429,
    FaultKind.UNAVAILABLE: 503,
    FaultKind.TOKEN_DOWN: 503,
    FaultKind.GATEWAY_TIMEOUT: 504,
    FaultKind.SIZE_EXCEEDED: 400,
}
_GRAPH_FAULTS = {
    FaultKind.THROTTLED: (
        "ApplicationThrottled",
        "Application is over its request limit.",
    ),
    FaultKind.UNAVAILABLE: (
        "ServiceUnavailable",
        "The service is temporarily unavailable.",
    ),
    FaultKind.TOKEN_DOWN: (
        "ServiceUnavailable",
        "The service is temporarily unavailable.",
    ),
    FaultKind.GATEWAY_TIMEOUT: (
        "GatewayTimeout",
        "The gateway did not receive a timely response.",
    ),
    FaultKind.SIZE_EXCEEDED: (
        "ErrorMessageSizeExceeded",
        "The message exceeds the maximum supported size.",
    ),
    # office-developer-exchange-docs web-service-reference/responsecode.md; the
    # text is the EWS Managed API's (OfficeDev/ews-managed-api ServiceError.cs).
    FaultKind.SUBMISSION_QUOTA: (
        "ErrorSubmissionQuotaExceeded",
        (
            "The message couldn't be sent because the sender's submission quota "
            "was exceeded. Please try again later."
        ),
    ),
}


def _url(host: str, port: int) -> str:
    return f"https://[{host}]:{port}" if ":" in host else f"https://{host}:{port}"


class _Setting[T]:
    """An `Emulator` attribute that reads and writes one of its `Settings`."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> Self: ...

    @overload
    def __get__(self, obj: Emulator, objtype: type | None = None) -> T: ...

    def __get__(self, obj: Emulator | None, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(obj.settings, self._name)

    def __set__(self, obj: Emulator, value: T) -> None:
        obj.settings.update(**{self._name: value})


class Emulator:
    """A local emulator of Microsoft Entra sign-in and Graph mail, over HTTPS.

    ``state_dir`` holds the CA and server certificate (reused while valid) and
    attachment files. Use ``await start()`` / ``await stop()`` or ``async with``.
    """

    #: Lifetime of new access tokens in seconds (0 issues expired ones).
    token_lifetime = _Setting[int]()
    #: Concurrent requests per key before 429 (0: no limit).
    max_concurrency = _Setting[int]()
    #: ``"app"`` (default) or ``"app_mailbox"``.
    concurrency_key = _Setting[ConcurrencyKey | str]()
    #: Smallest attachment createUploadSession accepts (2 MiB observed; 3 MB documented).
    min_upload_size = _Setting[int]()
    #: Bytes PUT to upload URLs per key in the window before 429 (0: no limit).
    upload_budget_bytes = _Setting[int]()
    upload_window_seconds = _Setting[float]()
    #: Answer ``GET`` on upload URLs (undocumented for Outlook) instead of 405.
    allow_upload_status = _Setting[bool]()
    device_code_lifetime = _Setting[int]()
    device_code_interval = _Setting[int]()
    #: Seconds a refresh token may go unused (90 days).
    refresh_token_lifetime = _Setting[float]()
    #: Consent to scopes the app does not list (documented); False: AADSTS650057.
    dynamic_consent = _Setting[bool]()
    #: The ``error`` of AADSTS650057: invalid_client (seen), invalid_request, invalid_scope.
    unlisted_scope_error = _Setting[str]()
    #: A refused consent: ``authorization_declined`` (Entra) or ``access_denied``.
    device_decline_error = _Setting[str]()
    #: Recipients per 24 hours: work mailboxes (10,000), personal (300, observed).
    daily_recipient_limit_work = _Setting[int]()
    daily_recipient_limit_personal = _Setting[int]()
    #: To + Cc + Bcc of one message (500).
    max_recipients_per_message = _Setting[int]()

    def __init__(
        self,
        state_dir: Path,
        directory: Directory | None = None,
        *,
        token_lifetime: int = DEFAULT_TOKEN_LIFETIME,
        max_concurrency: int = DEFAULT_MAX_CONCURRENCY,
        concurrency_key: ConcurrencyKey | str = ConcurrencyKey.APP,
        min_upload_size: int = DEFAULT_MIN_UPLOAD_SIZE,
        upload_budget_bytes: int = DEFAULT_UPLOAD_BUDGET_BYTES,
        upload_window_seconds: float = DEFAULT_UPLOAD_WINDOW_SECONDS,
        allow_upload_status: bool = False,
        device_code_lifetime: int = DEFAULT_DEVICE_CODE_LIFETIME,
        device_code_interval: int = DEFAULT_DEVICE_CODE_INTERVAL,
        refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME,
        dynamic_consent: bool = True,
        unlisted_scope_error: str = "invalid_client",
        device_decline_error: str = "authorization_declined",
        daily_recipient_limit_work: int = DEFAULT_DAILY_RECIPIENT_LIMIT_WORK,
        daily_recipient_limit_personal: int = DEFAULT_DAILY_RECIPIENT_LIMIT_PERSONAL,
        max_recipients_per_message: int = DEFAULT_MAX_RECIPIENTS_PER_MESSAGE,
    ) -> None:
        """Prepare an emulator (see `Settings` for what each setting does)."""
        self.state_dir = Path(state_dir).resolve()
        self._tls = TlsFiles.in_directory(self.state_dir / "tls")
        settings = Settings(
            token_lifetime=token_lifetime,
            max_concurrency=max_concurrency,
            concurrency_key=ConcurrencyKey(concurrency_key),
            min_upload_size=min_upload_size,
            upload_budget_bytes=upload_budget_bytes,
            upload_window_seconds=upload_window_seconds,
            allow_upload_status=allow_upload_status,
            device_code_lifetime=device_code_lifetime,
            device_code_interval=device_code_interval,
            refresh_token_lifetime=refresh_token_lifetime,
            dynamic_consent=dynamic_consent,
            unlisted_scope_error=unlisted_scope_error,
            device_decline_error=device_decline_error,
            daily_recipient_limit_work=daily_recipient_limit_work,
            daily_recipient_limit_personal=daily_recipient_limit_personal,
            max_recipients_per_message=max_recipients_per_message,
        )
        self._state = EmulatorState(
            directory or Directory.default(),
            GraphSchemas.load(),
            MailStore(self.state_dir),
            settings,
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
        # A handler that answered before reading a body (a fault on an upload
        # chunk) would linger to drain it; end it when the client goes.
        runner = web.AppRunner(
            self._build_app(), shutdown_timeout=2.0, handler_cancellation=True
        )
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
        ) | {normalise_audience(alias) for alias in GRAPH_RESOURCE_ALIASES}
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
    def settings(self) -> Settings:
        """Return the settings (also readable as attributes of the emulator)."""
        return self._state.settings

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
        """Forget mail, uploads, faults, sign-ins, statistics and counted recipients.

        The clock goes back to real time too.
        """
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

    def add_certificate(
        self,
        pem_certificate: str | bytes,
        client_id: str | None = None,
        *,
        display_name: str | None = None,
        expires_at: datetime | None = None,
    ) -> AppCertificate:
        """Upload a PEM certificate to an app registration, as the portal does.

        ``expires_at`` overrides the end date read from the certificate.
        """
        certificate = AppCertificate.from_pem(
            pem_certificate, display_name=display_name
        )
        if expires_at is not None:
            certificate.expires_at = expires_at
        self.directory.app(client_id).certificates.append(certificate)
        return certificate

    def set_credential_expiry(
        self,
        expires_at: datetime | None,
        *,
        client_id: str | None = None,
        key_id: str | None = None,
    ) -> None:
        """Set when an app's secrets and certificates expire ("expires soon").

        With ``key_id`` only that secret or certificate changes. A certificate
        needs a date (``None`` is for secrets without an end).
        """
        app = self.directory.app(client_id)
        secrets = [s for s in app.secrets if key_id in {None, s.key_id}]
        certificates = [c for c in app.certificates if key_id in {None, c.key_id}]
        if key_id is not None and not secrets and not certificates:
            raise KeyError(f"no credential {key_id!r} on app {app.client_id!r}")
        if certificates and expires_at is None:
            raise ValueError("a certificate's end date cannot be removed")
        for secret in secrets:
            secret.expires_at = expires_at
        for certificate in certificates:
            assert expires_at is not None
            certificate.expires_at = expires_at

    def complete_device_login(
        self, user_code: str, user: str | Mailbox, accept: bool = True
    ) -> LoginResult:
        """Do what a person does on the device login page (no browser needed).

        Raises `DeviceLoginError` for an unknown, expired or used code and
        KeyError for an unknown user. A user the authority or app does not
        admit ends the flow (see `LoginResult.error`).
        """
        return complete_device_login(self._state, user_code, user, accept=accept)

    def revoke_refresh_tokens(
        self,
        user: str | Mailbox,
        reason: RevokeReason | str = RevokeReason.PASSWORD_CHANGED,
    ) -> int:
        """Revoke a user's refresh tokens; return how many were active.

        Later use answers AADSTS50173 (``password_changed``) or AADSTS65001
        (``consent_revoked``, which also forgets the user's consents).
        """
        return self._state.signins.revoke(
            self.directory.user(user), RevokeReason(reason)
        )

    def expire_refresh_tokens(self, user: str | Mailbox) -> int:
        """Make a user's refresh tokens expired (AADSTS70008); return how many."""
        return self._state.signins.expire(self.directory.user(user))

    def issue_refresh_token(
        self,
        user: str | Mailbox,
        *,
        client_id: str | None = None,
        scope: str = APPRISE_PERSONAL_SCOPE,
    ) -> str:
        """Return a refresh token for ``user``, as if they had signed in and consented.

        The default app is the public sign-in client, the default scope what
        Apprise's personal mode asks for. Raises `OAuthError` when the app or
        the account cannot sign in (e.g. AADSTS9002332), KeyError for an
        unknown user or app.
        """
        app = self.directory.app(client_id or DEFAULT_PUBLIC_CLIENT_ID)
        grant = issue_refresh_token(
            self._state,
            user=self.directory.user(user),
            app=app,
            scope=scope,
            graph_resource=self.url,
        )
        return grant.token

    # Clock and sending limits -------------------------------------------------

    @property
    def clock_offset(self) -> timedelta:
        """Return how far the emulator's day-scale clock is ahead of real time."""
        return self._state.clock.offset

    @clock_offset.setter
    def clock_offset(self, offset: timedelta) -> None:
        self._state.clock.offset = offset

    def now(self) -> datetime:
        """Return the emulator's time (real time plus `clock_offset`)."""
        return self._state.clock.now()

    def advance_clock(self, seconds: float | timedelta) -> datetime:
        """Move the emulator's clock ahead; return its new time.

        It moves the 24-hour recipient window, message dates and refresh-token
        inactivity, not access tokens (see `common.Clock`).
        """
        if isinstance(seconds, timedelta):
            seconds = seconds.total_seconds()
        self._state.clock.advance(seconds)
        return self.now()

    def recipients_sent(self, user: str | Mailbox) -> int:
        """Return the recipients counted for ``user`` in the last 24 hours.

        Recipients count against who submits (a mailbox for app-only sends,
        the signed-in user also when sending from a shared mailbox).
        """
        return self._state.recipients.counted(self.directory.user(user).address)

    def recipient_counts(self) -> dict[str, int]:
        """Return ``{submitter address (lower case): recipients in 24 hours}``."""
        return self._state.recipients.counts()

    @property
    def limit_crossings(self) -> list[LimitCrossing]:
        """Return the messages refused for a sending limit (oldest first)."""
        return list(self._state.recipients.crossings)

    # Server -----------------------------------------------------------------

    def _prepare_files(self, host: str) -> None:
        ensure_certificates(self._tls.ca_cert.parent, host)
        self._state.store.prepare()

    def _build_app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        apis = (IdentityApi, GraphApi, UploadApi, ControlApi, DeviceLoginApi)
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
        target, key = await self._target(request, operation)
        request[TARGET] = target
        faults = self._state.faults
        with self._state.in_flight.slot(key) as admitted:
            if not admitted:
                raise GraphError(
                    429,
                    "ApplicationThrottled",
                    "Application is over its MailboxConcurrency limit.",
                    headers={"Retry-After": "1"},
                )
            for delay in faults.take_all(operation, {FaultKind.LATENCY}, target):
                record.faults.append(delay.kind.value)
                await asyncio.sleep(delay.delay_ms / 1000)
            fault = faults.take(operation, RESPONSE_KINDS, target)
            if fault is None:
                return await handler(request)
            record.faults.append(fault.kind.value)
            if fault.after_accept:
                with contextlib.suppress(ApiError):
                    await handler(request)
            return self._fault_response(request, operation, fault)

    async def _target(
        self, request: web.Request, operation: Operation
    ) -> tuple[Target, str | None]:
        """Return whom the request is for, and its concurrency key (None: no limit)."""
        settings = self._state.settings
        if operation in GRAPH_OPERATIONS:
            claims = self._authenticate(request)
            request[CLAIMS] = claims
            app_id = str(claims.get("appid"))
            mailbox, name = self._request_mailbox(request, claims)
            mailbox_id = mailbox.object_id if mailbox is not None else name
            target = Target(app_id, mailbox, name)
            return target, settings.throttle_key(app_id, mailbox_id)
        if operation in UPLOAD_OPERATIONS:
            session = self._state.store.uploads.get(request.match_info["session"])
            if session is None:
                return Target(), None
            mailbox = session.draft.mailbox
            target = Target(session.client_id, mailbox)
            return target, settings.throttle_key(session.client_id, mailbox.object_id)
        if operation in IDENTITY_OPERATIONS and request.method == "POST":
            form = await read_form(request)
            return Target(form.get("client_id") or None, self._token_user(form)), None
        return Target(), None

    def _token_user(self, form: dict[str, str]) -> Mailbox | None:
        """Return the user a refresh or device code grant is for, if known."""
        signins = self._state.signins
        grant_type = form.get("grant_type")
        if grant_type == REFRESH_TOKEN_GRANT:
            grant = signins.grants.get(form.get("refresh_token") or "")
            return grant.user if grant is not None else None
        if grant_type == DEVICE_CODE_GRANT:
            flow = signins.flows.get(form.get("device_code") or "")
            return flow.user if flow is not None else None
        return None

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
                tenant_ids=self._state.directory.tenant_ids,
            )
        except TokenError as err:
            raise GraphError(
                401, "InvalidAuthenticationToken", str(err), headers=challenge
            ) from err

    def _request_mailbox(
        self, request: web.Request, claims: dict[str, Any]
    ) -> tuple[Mailbox | None, str]:
        """Return the mailbox a Graph request is for (and how the path names it)."""
        directory = self._state.directory
        user = request.match_info.get("user")
        if user is None:
            segments = request.path.split("/")
            if len(segments) > 2 and segments[2].casefold() == "me":
                if claims.get("idtyp") == "user":
                    oid = str(claims.get("oid"))
                    return directory.find_mailbox(oid, str(claims.get("tid"))), oid
                return None, "me"
            return None, ""
        tenant = None if claims.get("idtyp") == "user" else str(claims.get("tid"))
        return directory.find_mailbox(user, tenant), user.casefold()

    def _fault_response(
        self, request: web.Request, operation: Operation, fault: Fault
    ) -> web.Response:
        """Answer a fault in place of the real response (or drop the connection)."""
        if fault.kind is FaultKind.DROP:
            if request.transport is not None:
                request.transport.abort()
            return web.Response(status=500)  # never written: the connection is gone
        status = (
            fault.status
            if fault.kind is FaultKind.SUBMISSION_QUOTA
            else _FAULT_STATUS[fault.kind]
        )
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
            code, message = _GRAPH_FAULTS[fault.kind]
            error = GraphError(
                status, code, f"{message} (emulated fault)", headers=headers
            )
        return error.response(request)
