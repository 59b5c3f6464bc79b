"""The pre-authenticated upload URLs of attachment upload sessions.

As ``concepts/outlook-large-attachments.md`` documents them: ``PUT`` sends one
chunk (``Content-Range: bytes S-E/TOTAL``, inclusive; 200 with
``nextExpectedRanges: ["N"]`` and the expiration, 201 for the last one) and
``DELETE`` cancels (204). The URL's ``authtoken`` authorises the request; a
request that also carries an ``Authorization`` header is refused.

Outlook documents nothing else, so by default the emulator refuses the rest:
``GET`` (OneDrive's status request) answers 405 unless ``allow_upload_status``
is set, and chunk error bodies carry no ``nextExpectedRanges`` unless the
``chunk_ranges`` fault asks for it. Upload requests count against the
concurrency limit and upload byte budget of the app that created the session
(``concepts/throttling-limits.md``, Outlook service limits). Chunks are written
to a file as they arrive; a refused chunk stores nothing.
"""

from __future__ import annotations

import asyncio
import hmac
from pathlib import Path
import re
from urllib.parse import quote

from aiohttp import web

from .common import (
    TARGET,
    Endpoint,
    GraphError,
    Operation,
    base_url,
    iso,
    read_limited,
    utc_now,
)
from .faults import FaultKind
from .state import EmulatorState, StoredAttachment, UploadSession

MAX_CHUNK_SIZE = 4 * 1024 * 1024
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+)")


def _append(path: Path, data: bytes) -> None:
    with path.open("ab") as file:
        file.write(data)


class UploadApi:
    """Handlers for ``/upload/{session}``."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve the upload sessions of ``state.store``."""
        self._state = state
        self._store = state.store

    def endpoints(self) -> list[Endpoint]:
        """Return the routes."""
        path = "/upload/{session}"
        return [
            Endpoint("PUT", path, self.put_chunk, Operation.UPLOAD_CHUNK),
            Endpoint("GET", path, self.status, Operation.UPLOAD_STATUS),
            Endpoint("DELETE", path, self.cancel, Operation.CANCEL_UPLOAD),
        ]

    async def put_chunk(self, request: web.Request) -> web.Response:
        """Store one chunk: 200 with the next range, or 201 for the last one."""
        session = self._session(request)
        async with session.lock:
            self._session(request)  # still open after waiting for the lock?
            data = await self._chunk(request, session)
            await asyncio.to_thread(_append, session.path, data)
            session.digest.update(data)
            session.received += len(data)
            if session.received < session.size:
                expires = iso(session.expires_at)
                return web.json_response(
                    {
                        "@odata.context": f"{base_url(request)}/v1.0/$metadata"
                        "#microsoft.graph.uploadSession",
                        # The docs show Outlook's PascalCase member; the
                        # uploadSession resource spells it camelCase.
                        "ExpirationDateTime": expires,
                        "expirationDateTime": expires,
                        "nextExpectedRanges": session.next_expected_ranges,
                    }
                )
            attachment = self._complete(session)
        mailbox = session.draft.mailbox
        location = (
            f"{base_url(request)}/v1.0/users('{quote(mailbox.object_id)}')"
            f"/messages('{session.draft.id}')/attachments('{attachment.id}')"
        )
        return web.Response(status=201, headers={"Location": location})

    async def status(self, request: web.Request) -> web.Response:
        """Refuse ``GET`` (Outlook documents none), or tell where the upload resumes."""
        if not self._state.settings.allow_upload_status:
            raise GraphError(
                405,
                "ErrorInvalidRequest",
                "The upload URL of an Outlook attachment session supports only PUT "
                "(upload a byte range) and DELETE (cancel): Outlook documents no GET "
                "status request. Resume from the nextExpectedRanges of the last "
                "successful PUT.",
                headers={"Allow": "PUT, DELETE"},
            )
        session = self._session(request)
        return web.json_response(
            {
                "expirationDateTime": iso(session.expires_at),
                "nextExpectedRanges": session.next_expected_ranges,
            }
        )

    async def cancel(self, request: web.Request) -> web.Response:
        """Cancel the upload session: 204."""
        self._store.close_session(self._session(request))
        return web.Response(status=204)

    def _session(self, request: web.Request) -> UploadSession:
        """Return the session the URL names, checking how it is authorised."""
        if "Authorization" in request.headers:
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "Upload URLs are pre-authenticated by their authtoken: send the "
                "request without an Authorization header.",
            )
        session = self._store.uploads.get(request.match_info["session"])
        if session is not None and session.expires_at <= utc_now():
            self._store.close_session(session)
            session = None
        if session is None:
            raise GraphError(
                404,
                "ErrorItemNotFound",
                "The upload session does not exist: it was completed, cancelled or "
                "has expired.",
            )
        given = request.query.get("authtoken", "").encode()
        if not hmac.compare_digest(given, session.authtoken.encode()):
            raise GraphError(
                401,
                "InvalidAuthenticationToken",
                "The authtoken of the upload URL is not valid for this session.",
            )
        return session

    async def _chunk(self, request: web.Request, session: UploadSession) -> bytes:
        """Check the chunk's headers and the upload budget; return its body."""
        target = request.get(TARGET)

        def refuse(status: int, code: str, message: str) -> GraphError:
            ranges = self._state.faults.take(
                Operation.UPLOAD_CHUNK, {FaultKind.CHUNK_RANGES}, target
            )
            extra = {"nextExpectedRanges": session.next_expected_ranges}
            return GraphError(status, code, message, extra=extra if ranges else None)

        header = request.headers.get("Content-Range", "")
        found = _CONTENT_RANGE.fullmatch(header.strip())
        if found is None:
            raise refuse(
                400,
                "ErrorInvalidContentRange",
                f"Content-Range must read 'bytes START-END/TOTAL', got {header!r}.",
            )
        start, end, total = (int(group) for group in found.groups())
        if total != session.size:
            raise refuse(
                400,
                "ErrorInvalidContentRange",
                f"The total {total} differs from the attachment size {session.size} "
                "given to createUploadSession.",
            )
        if start != session.received:
            raise refuse(
                416,
                "ErrorInvalidContentRange",
                f"The chunk starts at byte {start}; the next expected byte is "
                f"{session.received}.",
            )
        if end < start or end >= total:
            raise refuse(
                400,
                "ErrorInvalidContentRange",
                f"The range {start}-{end} is not inside 0-{total - 1}.",
            )
        length = request.content_length
        if length is None:
            raise refuse(411, "LengthRequired", "A Content-Length header is required.")
        if length > MAX_CHUNK_SIZE:
            raise refuse(
                413,
                "RequestEntityTooLarge",
                f"A chunk may hold at most {MAX_CHUNK_SIZE} bytes; this one holds "
                f"{length}.",
            )
        if length != end - start + 1:
            raise refuse(
                400,
                "ErrorInvalidContentRange",
                f"Content-Length {length} does not match the {end - start + 1} bytes "
                f"of Content-Range {start}-{end}.",
            )
        budget = self._state.upload_budget
        key = self._state.settings.throttle_key(
            session.client_id, session.draft.mailbox.object_id
        )
        reservation = budget.reserve(key, length)
        if isinstance(reservation, int):
            settings = self._state.settings
            raise GraphError(
                429,
                "ApplicationThrottled",
                "Application is over its upload limit: "
                f"{budget.used(key)} bytes were uploaded in the last "
                f"{settings.upload_window_seconds:g} s and the limit is "
                f"{settings.upload_budget_bytes} bytes.",
                headers={"Retry-After": str(reservation)},
            )
        try:
            data = await read_limited(request, MAX_CHUNK_SIZE)
        except BaseException:
            budget.release(key, reservation)
            raise
        if data is None or len(data) != length:
            budget.release(key, reservation)
            raise refuse(400, "ErrorInvalidRequest", "The chunk body is incomplete.")
        return data

    def _complete(self, session: UploadSession) -> StoredAttachment:
        """Turn a completely uploaded file into an attachment of the draft."""
        path = self._store.blobs / session.path.name
        session.path.rename(path)
        self._store.uploads.pop(session.id, None)
        attachment = StoredAttachment(
            name=session.name,
            content_type=session.content_type,
            size=session.size,
            is_inline=session.is_inline,
            content_id=session.content_id,
            sha256=session.digest.hexdigest(),
            path=path,
        )
        session.draft.attachments.append(attachment)
        return attachment
