"""Microsoft Graph mail endpoints under ``/v1.0``.

The bearer token is checked by the server middleware before these handlers run.
"""

from __future__ import annotations

import base64
import binascii
from datetime import timedelta
import json
import math
import re
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .common import (
    CLAIMS,
    Endpoint,
    GraphError,
    Operation,
    base_url,
    iso,
    read_limited,
    utc_now,
)
from .directory import Mailbox
from .schemas import BodySchemaError
from .state import (
    Draft,
    EmulatorState,
    ReceivedMessage,
    StoredAttachment,
)

#: Graph's request limit. It also caps inline attachments below 3 MiB: their
#: base64 alone would take the whole 4 MiB.
MAX_REQUEST_SIZE = 4 * 1024 * 1024
MIN_UPLOAD_SIZE = 2 * 1024 * 1024
MAX_UPLOAD_SIZE = 150 * 1024 * 1024
UPLOAD_SESSION_LIFETIME = timedelta(hours=1)
MAIL_SEND = "Mail.Send"
MAIL_READ_WRITE = "Mail.ReadWrite"
DIRECTORY_READ_ROLES = frozenset(
    {
        "User.Read.All",
        "User.ReadBasic.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
USER_FIELDS = ("id", "displayName", "mail", "userPrincipalName")
RECIPIENT_FIELDS = ("toRecipients", "ccRecipients", "bccRecipients")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})+")


def _invalid_body(err: BodySchemaError) -> GraphError:
    return GraphError(400, "RequestBodyRead", str(err))


def _encoded_size(size: int) -> int:
    """Return the size of ``size`` bytes once base64-encoded in MIME."""
    return 4 * math.ceil(size / 3)


class GraphApi:
    """Handlers for sendMail, drafts, attachments, upload sessions and users."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve the mailboxes of ``state.directory``."""
        self._state = state
        self._store = state.store

    def endpoints(self) -> list[Endpoint]:
        """Return the routes (action names also in their qualified form)."""
        user = "/v1.0/users/{user}"
        message = f"{user}/messages/{{message}}"
        routes = [
            ("POST", f"{user}/sendMail", self.send_mail, Operation.SEND_MAIL),
            ("GET", user, self.get_user, Operation.GET_USER),
            ("POST", f"{user}/messages", self.create_draft, Operation.CREATE_DRAFT),
            ("DELETE", message, self.delete_draft, Operation.DELETE_DRAFT),
            (
                "POST",
                f"{message}/attachments",
                self.add_attachment,
                Operation.ADD_ATTACHMENT,
            ),
            (
                "POST",
                f"{message}/attachments/createUploadSession",
                self.create_upload_session,
                Operation.CREATE_UPLOAD_SESSION,
            ),
            ("POST", f"{message}/send", self.send_draft, Operation.SEND_DRAFT),
        ]
        endpoints = [Endpoint(*route) for route in routes]
        for method, path, handler, operation in routes:
            action, _, name = path.rpartition("/")
            if name in {"sendMail", "createUploadSession", "send"}:
                qualified = f"{action}/microsoft.graph.{name}"
                endpoints.append(Endpoint(method, qualified, handler, operation))
        endpoints.append(
            Endpoint("*", "/v1.0/{tail:.*}", self.unsupported, Operation.UNSUPPORTED)
        )
        return endpoints

    # Handlers ---------------------------------------------------------------

    async def send_mail(self, request: web.Request) -> web.Response:
        """Accept a message for delivery: 202 with an empty body."""
        mailbox = self._mailbox(request, MAIL_SEND)
        try:
            params = self._state.schemas.action("sendMail", await self._json(request))
        except BodySchemaError as err:
            raise _invalid_body(err) from err
        message: dict[str, Any] = params["Message"]
        items = message.pop("attachments", None) or []
        self._check_recipients(message)
        self._check_sender(message, mailbox)
        decoded = [
            self._decode(item, f"Message.attachments[{index}]")
            for index, item in enumerate(items)
        ]
        self._check_size(message, [len(data) for data in decoded])
        attachments = [
            await self._save(item, data)
            for item, data in zip(items, decoded, strict=True)
        ]
        save = params.get("SaveToSentItems")
        self._store.deliver(
            ReceivedMessage(
                mailbox, message, save is not False, "sendMail", attachments
            )
        )
        return web.Response(status=202)

    async def create_draft(self, request: web.Request) -> web.Response:
        """Save a draft: 201 with the message."""
        mailbox = self._mailbox(request, MAIL_READ_WRITE)
        try:
            message = self._state.schemas.entity(
                "microsoft.graph.message", await self._json(request)
            )
        except BodySchemaError as err:
            raise _invalid_body(err) from err
        items = message.pop("attachments", None) or []
        decoded = [
            self._decode(item, f"attachments[{index}]")
            for index, item in enumerate(items)
        ]
        attachments = [
            await self._save(item, data)
            for item, data in zip(items, decoded, strict=True)
        ]
        draft = Draft(mailbox, message, attachments)
        self._store.drafts[draft.id] = draft
        return web.json_response(self._draft_json(request, draft), status=201)

    async def add_attachment(self, request: web.Request) -> web.Response:
        """Add a file attachment (under 3 MB) to a draft: 201."""
        mailbox = self._mailbox(request, MAIL_READ_WRITE)
        draft = self._draft(request, mailbox)
        try:
            item = self._state.schemas.entity(
                "microsoft.graph.attachment", await self._json(request)
            )
        except BodySchemaError as err:
            raise _invalid_body(err) from err
        data = self._decode(item, "")
        attachment = await self._save(item, data)
        draft.attachments.append(attachment)
        context = (
            f"{base_url(request)}/v1.0/$metadata#users('{quote(mailbox.object_id)}')"
        )
        return web.json_response(
            {
                "@odata.context": f"{context}/messages('{draft.id}')/attachments/$entity",
                "@odata.type": "#microsoft.graph.fileAttachment",
                "id": attachment.id,
                "lastModifiedDateTime": iso(utc_now()),
                "name": attachment.name,
                "contentType": attachment.content_type,
                "size": attachment.size,
                "isInline": attachment.is_inline,
                "contentId": attachment.content_id,
                "contentLocation": None,
            },
            status=201,
        )

    async def create_upload_session(self, request: web.Request) -> web.Response:
        """Open an upload session for one large attachment of a draft: 201."""
        mailbox = self._mailbox(request, MAIL_READ_WRITE)
        draft = self._draft(request, mailbox)
        try:
            params = self._state.schemas.action(
                "createUploadSession", await self._json(request)
            )
        except BodySchemaError as err:
            raise _invalid_body(err) from err
        item: dict[str, Any] = params["AttachmentItem"]
        if item.get("attachmentType") != "file":
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "AttachmentItem.attachmentType must be 'file' for an upload session.",
            )
        name, size = item.get("name"), item.get("size")
        if not name or size is None:
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                "AttachmentItem.name and AttachmentItem.size are required.",
            )
        if size < MIN_UPLOAD_SIZE:
            raise GraphError(
                400,
                "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                "Attachment size must be greater than the minimum size "
                f"({MIN_UPLOAD_SIZE} bytes); send smaller attachments inline.",
            )
        if size > MAX_UPLOAD_SIZE:
            raise GraphError(
                400,
                "ErrorMessageSizeExceeded",
                f"The attachment size {size} exceeds the maximum of {MAX_UPLOAD_SIZE} "
                "bytes for an upload session.",
            )
        session = self._store.open_session(
            draft,
            name=str(name),
            size=int(size),
            content_type=item.get("contentType"),
            is_inline=bool(item.get("isInline")),
            content_id=item.get("contentId"),
            expires_at=utc_now() + UPLOAD_SESSION_LIFETIME,
        )
        base = base_url(request)
        return web.json_response(
            {
                "@odata.context": f"{base}/v1.0/$metadata#microsoft.graph.uploadSession",
                "uploadUrl": f"{base}/upload/{session.id}?authtoken={session.authtoken}",
                "expirationDateTime": iso(session.expires_at),
                # As Microsoft documents it; later answers give the offset.
                "nextExpectedRanges": ["0-"],
            },
            status=201,
        )

    async def send_draft(self, request: web.Request) -> web.Response:
        """Send a draft: 202; it becomes a received message."""
        mailbox = self._mailbox(request, MAIL_SEND)
        draft = self._draft(request, mailbox)
        if pending := self._store.sessions_of(draft):
            session = pending[0]
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                f"The upload of attachment '{session.name}' is not complete "
                f"({session.received} of {session.size} bytes); finish or cancel its "
                "upload session before sending.",
            )
        self._check_recipients(draft.message)
        self._check_sender(draft.message, mailbox)
        self._check_size(draft.message, [a.size for a in draft.attachments])
        del self._store.drafts[draft.id]
        self._store.deliver(
            ReceivedMessage(mailbox, draft.message, True, "draft", draft.attachments)
        )
        return web.Response(status=202)

    async def delete_draft(self, request: web.Request) -> web.Response:
        """Delete a draft: 204."""
        mailbox = self._mailbox(request, MAIL_READ_WRITE)
        self._store.delete_draft(self._draft(request, mailbox))
        return web.Response(status=204)

    async def get_user(self, request: web.Request) -> web.Response:
        """Answer a user's basic properties (needs a directory read role)."""
        if not DIRECTORY_READ_ROLES & set(request[CLAIMS].get("roles") or []):
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        user = request.match_info["user"]
        mailbox = self._state.directory.find_mailbox(user)
        if mailbox is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{user}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        values = {
            "id": mailbox.object_id,
            "displayName": mailbox.display_name,
            "mail": mailbox.address,
            "userPrincipalName": mailbox.user_principal_name,
        }
        select = request.query.get("$select")
        wanted = {s.strip().casefold() for s in select.split(",")} if select else None
        body: dict[str, Any] = {
            "@odata.context": f"{base_url(request)}/v1.0/$metadata#users/$entity"
        }
        body.update(
            (key, value)
            for key, value in values.items()
            if wanted is None or key.casefold() in wanted
        )
        return web.json_response(body)

    async def unsupported(self, request: web.Request) -> web.Response:
        """Answer any other ``/v1.0`` request like Graph answers unknown segments."""
        segments = [s for s in request.match_info["tail"].split("/") if s]
        if segments and segments[0].casefold() == "me":
            message = "/me request is only valid with delegated authentication flow."
        else:
            last = segments[-1] if segments else ""
            message = (
                f"Resource not found for the segment '{last}'. (The emulator does "
                f"not support {request.method} {request.path}.)"
            )
        raise GraphError(400, "BadRequest", message)

    # Helpers ----------------------------------------------------------------

    def _mailbox(self, request: web.Request, role: str) -> Mailbox:
        """Return the mailbox in the path after checking the token's roles."""
        if role not in (request[CLAIMS].get("roles") or []):
            raise GraphError(
                403,
                "ErrorAccessDenied",
                "Access is denied. Check credentials and try again.",
            )
        user = request.match_info["user"]
        mailbox = self._state.directory.find_mailbox(user)
        if mailbox is None:
            raise GraphError(
                404, "ErrorInvalidUser", f"The requested user '{user}' is invalid."
            )
        if not mailbox.rest_enabled:
            raise GraphError(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        return mailbox

    def _draft(self, request: web.Request, mailbox: Mailbox) -> Draft:
        """Return the draft in the path."""
        draft = self._store.find_draft(mailbox, request.match_info["message"])
        if draft is None:
            raise GraphError(
                404,
                "ErrorItemNotFound",
                "The specified object was not found in the store.",
            )
        return draft

    async def _json(self, request: web.Request) -> object:
        """Return the JSON body (at most 4 MB, like Graph)."""
        raw = await read_limited(request, MAX_REQUEST_SIZE)
        if raw is None:
            raise GraphError(
                413,
                "RequestEntityTooLarge",
                "The maximum request length supported is 4MB.",
            )
        try:
            return json.loads(raw)
        except ValueError as err:
            raise GraphError(
                400,
                "BadRequest",
                "Unable to read JSON request payload. Please ensure Content-Type "
                "header is set and payload is of valid JSON format.",
            ) from err

    def _check_recipients(self, message: dict[str, Any]) -> None:
        """Refuse a message without recipients or with a malformed address."""
        recipients = [r for f in RECIPIENT_FIELDS for r in message.get(f) or []]
        if not recipients:
            raise GraphError(
                400,
                "ErrorInvalidRecipients",
                "At least one recipient is not valid., A message can't be sent "
                "because it contains no recipients.",
            )
        for recipient in recipients:
            address = ((recipient or {}).get("emailAddress") or {}).get("address")
            if not isinstance(address, str) or not _ADDRESS.fullmatch(address):
                raise GraphError(
                    400,
                    "ErrorInvalidRecipients",
                    f"At least one recipient is not valid., Recipient '{address}' is "
                    "not resolved. All recipients must be resolved before a message "
                    "can be submitted.",
                )

    def _check_sender(self, message: dict[str, Any], mailbox: Mailbox) -> None:
        """Refuse ``from``/``sender`` addresses other than the mailbox's own."""
        for field in ("from", "sender"):
            address = ((message.get(field) or {}).get("emailAddress") or {}).get(
                "address"
            )
            own = {mailbox.address.casefold(), mailbox.user_principal_name.casefold()}
            if address is not None and str(address).casefold() not in own:
                raise GraphError(
                    403,
                    "ErrorSendAsDenied",
                    "The user account which was used to submit this request does not "
                    "have the right to send mail on behalf of the specified sending "
                    "account., Cannot submit message.",
                )

    def _check_size(self, message: dict[str, Any], sizes: list[int]) -> None:
        """Refuse a message over the tenant's limit (attachments count encoded)."""
        body = str((message.get("body") or {}).get("content") or "")
        total = len(body.encode()) + sum(_encoded_size(size) for size in sizes)
        limit = self._state.directory.tenant.max_message_size
        if total > limit:
            raise GraphError(
                400,
                "ErrorMessageSizeExceeded",
                f"The message exceeds the maximum supported size ({total} > {limit} "
                "bytes)., Cannot submit message.",
            )

    def _decode(self, item: dict[str, Any], path: str) -> bytes:
        """Return the bytes of a file attachment (strict standard base64)."""
        where = f"{path}.contentBytes" if path else "contentBytes"
        content = item.get("contentBytes")
        if not isinstance(content, str):
            raise GraphError(
                400,
                "ErrorInvalidRequest",
                f"'{where}' is required for a file attachment.",
            )
        try:
            data = base64.b64decode(content, validate=True)
        except binascii.Error as err:
            raise GraphError(
                400,
                "RequestBodyRead",
                f"Cannot convert the literal '{content[:24]}...' to the expected type "
                f"'Edm.Binary' (at '{where}'): it is not standard base64.",
            ) from err
        return data

    async def _save(self, item: dict[str, Any], data: bytes) -> StoredAttachment:
        """Store decoded attachment bytes."""
        path, digest = await self._store.save_blob(data)
        return StoredAttachment(
            name=str(item.get("name") or ""),
            content_type=item.get("contentType"),
            size=len(data),
            is_inline=bool(item.get("isInline")),
            content_id=item.get("contentId"),
            sha256=digest,
            path=path,
        )

    def _draft_json(self, request: web.Request, draft: Draft) -> dict[str, Any]:
        """Describe a draft as Graph's message resource."""
        message = draft.message
        context = (
            f"{base_url(request)}/v1.0/$metadata#users('{quote(draft.mailbox.object_id)}')"
            "/messages/$entity"
        )
        return {
            "@odata.context": context,
            "id": draft.id,
            "createdDateTime": iso(draft.created_at),
            "lastModifiedDateTime": iso(draft.created_at),
            "isDraft": True,
            "hasAttachments": any(not a.is_inline for a in draft.attachments),
            "subject": message.get("subject"),
            "importance": message.get("importance") or "normal",
            "body": message.get("body") or {"contentType": "text", "content": ""},
            "from": message.get("from"),
            "sender": message.get("sender") or message.get("from"),
            **{
                field: message.get(field) or []
                for field in (*RECIPIENT_FIELDS, "replyTo")
            },
        }
