"""Shared pieces: operation names, route table entries, errors and small helpers."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any
import uuid

from aiohttp import web

#: Request keys set by the middleware (see ``server.py``).
REQUEST_ID = "o365_emulator_request_id"
CLAIMS = "o365_emulator_claims"
#: Who a request is for (a `faults.Target`), set by the middleware.
TARGET = "o365_emulator_target"
#: The parsed form of a token or device code request.
FORM = "o365_emulator_form"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class Operation(StrEnum):
    """The operations the emulator tells apart (for faults and statistics)."""

    OPENID = "openid"
    TOKEN = "token"  # noqa: S105 - an operation name
    DEVICE_CODE = "deviceCode"
    SEND_MAIL = "sendMail"
    CREATE_DRAFT = "createDraft"
    ADD_ATTACHMENT = "addAttachment"
    CREATE_UPLOAD_SESSION = "createUploadSession"
    SEND_DRAFT = "sendDraft"
    DELETE_DRAFT = "deleteDraft"
    GET_USER = "getUser"
    GET_APPLICATION = "getApplication"
    UNSUPPORTED = "unsupported"
    UPLOAD_CHUNK = "uploadChunk"
    UPLOAD_STATUS = "uploadStatus"
    CANCEL_UPLOAD = "cancelUpload"


IDENTITY_OPERATIONS = frozenset(
    {Operation.OPENID, Operation.TOKEN, Operation.DEVICE_CODE}
)
UPLOAD_OPERATIONS = frozenset(
    {Operation.UPLOAD_CHUNK, Operation.UPLOAD_STATUS, Operation.CANCEL_UPLOAD}
)
#: Calls under ``/v1.0``: they all need a bearer token.
GRAPH_OPERATIONS = frozenset(Operation) - IDENTITY_OPERATIONS - UPLOAD_OPERATIONS


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One route; ``operation`` is None for the emulator's own pages and controls."""

    method: str
    path: str
    handler: Handler
    operation: Operation | None


def utc_now() -> datetime:
    """Return the current time in UTC."""
    return datetime.now(UTC)


class Clock:
    """The emulator's day-scale clock: real time plus an offset tests may move.

    It drives what is counted over days: the rolling 24 hours of recipient
    limits, message timestamps and refresh-token inactivity. Access tokens,
    device codes, client secrets and upload sessions keep the real clock,
    because clients cache them by their own clock (moving only the emulator
    must not expire a token a client rightly holds as valid).
    """

    def __init__(self) -> None:
        """Start at the real time."""
        self.offset = timedelta()

    def now(self) -> datetime:
        """Return the emulator's current time (UTC)."""
        return utc_now() + self.offset

    def timestamp(self) -> float:
        """Return the emulator's current time as seconds since the epoch."""
        return self.now().timestamp()

    def advance(self, seconds: float) -> None:
        """Move the clock forward (a negative value moves it back)."""
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        """Go back to the real time."""
        self.offset = timedelta()


def iso(moment: datetime) -> str:
    """Format a UTC time the way Graph does (``2024-05-01T10:00:00Z``)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def base_url(request: web.Request) -> str:
    """Return the scheme and authority the client used to reach us."""
    return f"{request.scheme}://{request.host}"


def client_request_id(request: web.Request) -> str:
    """Return the caller's ``client-request-id``, or our request id."""
    return request.headers.get("client-request-id") or str(request[REQUEST_ID])


async def read_limited(request: web.Request, limit: int) -> bytes | None:
    """Return the request body, or None when it is larger than ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        total += len(chunk)
        if total > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


class ApiError(Exception):
    """An error that is answered to the client; subclasses choose the body shape."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the HTTP status, the error code and the message."""
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.headers = dict(headers or {})

    def response(self, request: web.Request) -> web.Response:
        """Build the response for this error."""
        raise NotImplementedError


class GraphError(ApiError):
    """A Microsoft Graph error: ``{"error": {"code", "message", "innerError"}}``."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> None:
        """Keep the error; ``extra`` adds top-level members (``nextExpectedRanges``)."""
        super().__init__(status, code, message, headers=headers)
        self.extra = dict(extra or {})

    def response(self, request: web.Request) -> web.Response:
        """Build Graph's error body."""
        body = {
            "error": {
                "code": self.code,
                "message": self.message,
                "innerError": {
                    "date": utc_now().strftime("%Y-%m-%dT%H:%M:%S"),
                    "request-id": request[REQUEST_ID],
                    "client-request-id": client_request_id(request),
                },
            },
            **self.extra,
        }
        return web.json_response(body, status=self.status, headers=self.headers)


class OAuthError(ApiError):
    """A Microsoft Entra token endpoint error with its ``AADSTS`` number.

    The body follows ``docs/identity-platform/reference-error-codes.md``
    (``error``, ``error_description``, ``error_codes``, ``timestamp``,
    ``trace_id``, ``correlation_id``, ``error_uri``). ``aadsts`` None is for
    errors Entra documents no number for (RFC 8628 ``slow_down``).
    """

    def __init__(
        self,
        status: int,
        error: str,
        aadsts: int | None,
        description: str,
        *,
        headers: Mapping[str, str] | None = None,
        extra: Mapping[str, str] | None = None,
    ) -> None:
        """Keep the OAuth ``error``, the AADSTS number and its description.

        ``extra`` adds members to the body (Entra's ``suberror``).
        """
        super().__init__(status, error, description, headers=headers)
        self.aadsts = aadsts
        self.extra = dict(extra or {})

    def response(self, request: web.Request) -> web.Response:
        """Build Entra's error body (description ends with trace data, like Entra)."""
        trace_id = str(request[REQUEST_ID])
        correlation_id = request.headers.get("client-request-id") or str(uuid.uuid4())
        timestamp = utc_now().strftime("%Y-%m-%d %H:%M:%SZ")
        prefix = f"AADSTS{self.aadsts}: " if self.aadsts is not None else ""
        body: dict[str, Any] = {
            "error": self.code,
            "error_description": (
                f"{prefix}{self.message}\r\nTrace ID: {trace_id}\r\n"
                f"Correlation ID: {correlation_id}\r\nTimestamp: {timestamp}"
            ),
            "error_codes": [self.aadsts] if self.aadsts is not None else [],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
        }
        if self.aadsts is not None:
            body["error_uri"] = f"{base_url(request)}/error?code={self.aadsts}"
        body.update(self.extra)
        return web.json_response(body, status=self.status, headers=self.headers)
