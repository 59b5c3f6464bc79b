"""Microsoft Graph endpoints under ``/v1.0``: mail, users and applications.

The bearer token is checked by the server middleware before these handlers run.
Mail routes exist under ``/users/{id or UPN}`` (app-only tokens: ``roles``) and
under ``/me`` (delegated tokens: ``scp``), with the permissions Graph's API
pages name (``api-reference/v1.0/api/user-sendmail.md``: Mail.Send;
``user-post-messages.md``, ``attachment-createuploadsession.md``,
``message-delete.md``: Mail.ReadWrite; ``message-send.md``: Mail.Send;
``user-get.md``: User.Read). ``/me`` with an app-only token is a 400; a
delegated token may use ``/users/{its own id or UPN}`` like ``/me`` and gets 403
``ErrorAccessDenied`` for anyone else. ``GET /applications(appId='...')`` and
``/applications/{id}`` answer the app registration's credentials
(``api-reference/v1.0/api/application-get.md``: Application.Read.All).

Sending from another mailbox (a shared one) with a delegated token follows
``concepts/outlook-send-mail-from-other-user.md``: the token needs
``Mail.Send.Shared`` and the signed-in user Send As or Send on Behalf on the
mailbox in ``from`` (else 403 ``ErrorSendAsDenied``, the page's example 2),
either through ``/me`` with ``from`` set, or through ``/users/{shared}``, which
also needs Full Access (else 403 ``ErrorAccessDenied``; drafts there need
``Mail.ReadWrite.Shared``). Send As leaves no trace of the delegate; Send on
Behalf makes the delegate the ``sender``.

Every accepted message is counted against Exchange's sending limits (see
`state.RecipientLedger`): over one, sendMail still answers 202 and the
sender gets an NDR instead of the message being delivered. A message over
the mailbox's size limit (the tenant's, 25 MB for Outlook.com) is refused
with ``ErrorMessageSizeExceeded`` at sendMail, at a draft's send, and already
when an attachment or an upload session would take the draft over it.
"""

from __future__ import annotations

import base64
import binascii
from datetime import datetime, timedelta
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
from .directory import App, Mailbox
from .schemas import BodySchemaError
from .state import (
    Draft,
    EmulatorState,
    Limit,
    LimitCrossing,
    ReceivedMessage,
    StoredAttachment,
    non_delivery_report,
)

#: Graph's request limit. It also caps inline attachments below 3 MiB: their
#: base64 alone would take the whole 4 MiB.
MAX_REQUEST_SIZE = 4 * 1024 * 1024
MAX_UPLOAD_SIZE = 150 * 1024 * 1024
UPLOAD_SESSION_LIFETIME = timedelta(hours=1)
MAIL_SEND = "Mail.Send"
MAIL_READ_WRITE = "Mail.ReadWrite"
#: The delegated permissions that reach other people's (shared) mailboxes.
SHARED_SUFFIX = ".Shared"
MAIL_SEND_SHARED = MAIL_SEND + SHARED_SUFFIX
#: The signed-in user acting on another mailbox (request key).
DELEGATE = "o365_emulator_delegate"
DIRECTORY_READ_ROLES = frozenset(
    {
        "User.Read.All",
        "User.ReadBasic.All",
        "User.ReadWrite.All",
        "Directory.Read.All",
        "Directory.ReadWrite.All",
    }
)
#: Delegated permissions that let a user read their own profile.
OWN_PROFILE_SCOPES = frozenset({"user.read", "user.readwrite"}) | {
    role.casefold() for role in DIRECTORY_READ_ROLES
}
#: api-reference/v1.0/includes/permissions/application-get-permissions.md
APPLICATION_READ_ROLES = frozenset(
    {"Application.Read.All", "Application.ReadWrite.All"}
)
APPLICATION_READ_SCOPES = frozenset(
    {"application.read.all", "application.readwrite.all", "directory.read.all"}
)
#: Default properties of ``GET /users/{id}`` and ``/me`` (user-get.md).
USER_FIELDS = (
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
)
#: Other user properties a ``$select`` may name (answered as the emulator knows
#: them); names outside both lists are refused, as Graph refuses unknown ones.
USER_EXTRA_FIELDS = (
    "accountEnabled",
    "mailNickname",
    "otherMails",
    "proxyAddresses",
    "userType",
)
#: Application properties the emulator knows (others are refused in $select).
APPLICATION_FIELDS = (
    "id",
    "appId",
    "displayName",
    "description",
    "signInAudience",
    "isFallbackPublicClient",
    "publisherDomain",
    "identifierUris",
    "tags",
    "passwordCredentials",
    "keyCredentials",
)
ME_ONLY_DELEGATED = "/me request is only valid with delegated authentication flow."
RECIPIENT_FIELDS = ("toRecipients", "ccRecipients", "bccRecipients")
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?"
_ADDRESS = re.compile(rf"[^@\s<>()\[\],;:\"]+@{_LABEL}(?:\.{_LABEL})+")


def _invalid_body(err: BodySchemaError) -> GraphError:
    return GraphError(400, "RequestBodyRead", str(err))


def _encoded_size(size: int) -> int:
    """Return the size of ``size`` bytes once base64-encoded in MIME."""
    return 4 * math.ceil(size / 3)


def _delegated(claims: dict[str, Any]) -> bool:
    """Return True for a token issued to a signed-in user."""
    return claims.get("idtyp") == "user"


def _scopes(claims: dict[str, Any]) -> set[str]:
    """Return the delegated scopes of a token (lower case)."""
    return {scope.casefold() for scope in str(claims.get("scp") or "").split()}


def _select(
    request: web.Request, known: tuple[str, ...], type_name: str
) -> set[str] | None:
    """Return the ``$select``ed properties (lower case), refusing unknown ones."""
    select = request.query.get("$select")
    if not select:
        return None
    wanted = {s.strip().casefold() for s in select.split(",") if s.strip()}
    names = {name.casefold() for name in known}
    for name in sorted(wanted - names):
        raise GraphError(
            400,
            "BadRequest",
            f"Could not find a property named '{name}' on type '{type_name}'.",
        )
    return wanted


def _iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment is not None else None


def _send_as_denied() -> GraphError:
    """Return 403 ErrorSendAsDenied (outlook-send-mail-from-other-user.md)."""
    return GraphError(
        403,
        "ErrorSendAsDenied",
        "The user account which was used to submit this request does not have the "
        "right to send mail on behalf of the specified sending account., Cannot "
        "submit message.",
    )


def _address(message: dict[str, Any], field: str) -> str | None:
    value = ((message.get(field) or {}).get("emailAddress") or {}).get("address")
    return None if value is None else str(value)


class GraphApi:
    """Handlers for sendMail, drafts, attachments, upload sessions and users."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve the mailboxes of ``state.directory``."""
        self._state = state
        self._store = state.store

    def endpoints(self) -> list[Endpoint]:
        """Return the routes (action names also in their qualified form)."""
        routes = [
            ("GET", "/v1.0/me", self.get_user, Operation.GET_USER),
            ("GET", "/v1.0/users/{user}", self.get_user, Operation.GET_USER),
        ]
        for root in ("/v1.0/me", "/v1.0/users/{user}"):
            message = f"{root}/messages/{{message}}"
            routes += [
                ("POST", f"{root}/sendMail", self.send_mail, Operation.SEND_MAIL),
                ("POST", f"{root}/messages", self.create_draft, Operation.CREATE_DRAFT),
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
        routes += [
            (
                "GET",
                "/v1.0/applications/{application}",
                self.get_application,
                Operation.GET_APPLICATION,
            ),
            (
                "GET",
                r"/v1.0/{application:applications\(.*\)}",
                self.get_application,
                Operation.GET_APPLICATION,
            ),
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
        author, delegate, on_behalf = self._check_sender(request, message, mailbox)
        decoded = [
            self._decode(item, f"Message.attachments[{index}]")
            for index, item in enumerate(items)
        ]
        self._check_size(message, [len(data) for data in decoded], author)
        attachments = [
            await self._save(item, data)
            for item, data in zip(items, decoded, strict=True)
        ]
        save = params.get("SaveToSentItems")
        claims = request[CLAIMS]
        self._submit(
            ReceivedMessage(
                author,
                message,
                save is not False,
                "sendMail",
                attachments,
                client_id=str(claims.get("appid")),
                signed_in=_delegated(claims),
                delegate=delegate,
                on_behalf=on_behalf,
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
        draft = Draft(
            mailbox, message, attachments, client_id=str(request[CLAIMS].get("appid"))
        )
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
        self._check_draft_size(draft, len(data))
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
        minimum = self._state.settings.min_upload_size
        if size < minimum:
            # concepts/outlook-large-attachments.md, Errors
            raise GraphError(
                400,
                "ErrorAttachmentSizeShouldNotBeLessThanMinimumSize",
                "Attachment size must be greater than the minimum size "
                f"({minimum} bytes); send smaller attachments inline.",
            )
        if size > MAX_UPLOAD_SIZE:
            raise GraphError(
                400,
                "ErrorMessageSizeExceeded",
                f"The attachment size {size} exceeds the maximum of {MAX_UPLOAD_SIZE} "
                "bytes for an upload session.",
            )
        self._check_draft_size(draft, int(size))
        session = self._store.open_session(
            draft,
            name=str(name),
            size=int(size),
            content_type=item.get("contentType"),
            is_inline=bool(item.get("isInline")),
            content_id=item.get("contentId"),
            expires_at=utc_now() + UPLOAD_SESSION_LIFETIME,
            client_id=str(request[CLAIMS].get("appid")),
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
        author, delegate, on_behalf = self._check_sender(
            request, draft.message, mailbox
        )
        self._check_size(draft.message, [a.size for a in draft.attachments], author)
        del self._store.drafts[draft.id]
        claims = request[CLAIMS]
        self._submit(
            ReceivedMessage(
                author,
                draft.message,
                True,
                "draft",
                draft.attachments,
                client_id=str(claims.get("appid")),
                signed_in=_delegated(claims),
                delegate=delegate,
                on_behalf=on_behalf,
            )
        )
        return web.Response(status=202)

    async def delete_draft(self, request: web.Request) -> web.Response:
        """Delete a draft: 204."""
        mailbox = self._mailbox(request, MAIL_READ_WRITE)
        self._store.delete_draft(self._draft(request, mailbox))
        return web.Response(status=204)

    async def get_user(self, request: web.Request) -> web.Response:
        """Answer a user's properties (``/me``, or ``/users/{id}`` with a read role).

        Personal accounts have no ``mail`` (null) and ignore ``$select``, as Graph
        has been seen to answer them (their ``userPrincipalName`` is the address).
        """
        claims = request[CLAIMS]
        user = request.match_info.get("user")
        mailbox = self._profile_owner(request, claims, user)
        values: dict[str, Any] = {
            "businessPhones": [],
            "displayName": mailbox.display_name,
            "givenName": None,
            "jobTitle": None,
            "mail": mailbox.mail,
            "mobilePhone": None,
            "officeLocation": None,
            "preferredLanguage": None,
            "surname": None,
            "userPrincipalName": mailbox.user_principal_name,
            "id": mailbox.object_id,
        }
        wanted = (
            None
            if mailbox.personal
            else _select(
                request, (*USER_FIELDS, *USER_EXTRA_FIELDS), "microsoft.graph.user"
            )
        )
        if wanted is not None:
            values |= {
                "accountEnabled": mailbox.account_enabled,
                "mailNickname": mailbox.address.split("@")[0],
                "otherMails": [],
                "proxyAddresses": [f"SMTP:{mailbox.address}"] if mailbox.mail else [],
                "userType": "Member",
            }
        body: dict[str, Any] = {
            "@odata.context": f"{base_url(request)}/v1.0/$metadata#users/$entity"
        }
        body.update(
            (key, value)
            for key, value in values.items()
            if wanted is None or key.casefold() in wanted
        )
        return web.json_response(body)

    def _profile_owner(
        self, request: web.Request, claims: dict[str, Any], user: str | None
    ) -> Mailbox:
        """Return the user whose profile is asked for, checking the permissions."""
        denied = GraphError(
            403,
            "Authorization_RequestDenied",
            "Insufficient privileges to complete the operation.",
        )
        if _delegated(claims):
            me = self._signed_in_user(claims)
            scopes = _scopes(claims)
            if user is None or me.matches(user):
                if not OWN_PROFILE_SCOPES & scopes:
                    raise denied
                return me
            if me.personal or not {r.casefold() for r in DIRECTORY_READ_ROLES} & scopes:
                raise denied
        elif user is None:
            raise GraphError(400, "BadRequest", ME_ONLY_DELEGATED)
        elif not DIRECTORY_READ_ROLES & set(claims.get("roles") or []):
            raise denied
        assert user is not None
        mailbox = self._state.directory.find_mailbox(user, str(claims.get("tid")))
        if mailbox is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{user}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        return mailbox

    async def get_application(self, request: web.Request) -> web.Response:
        """Answer an app registration (``applications(appId='...')`` or by id)."""
        claims = request[CLAIMS]
        allowed = (
            bool(APPLICATION_READ_SCOPES & _scopes(claims))
            if _delegated(claims)
            else bool(APPLICATION_READ_ROLES & set(claims.get("roles") or []))
        )
        if not allowed:
            raise GraphError(
                403,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation.",
            )
        key = request.match_info["application"]
        app = self._find_application(key)
        if app is None:
            raise GraphError(
                404,
                "Request_ResourceNotFound",
                f"Resource '{key}' does not exist or one of its queried "
                "reference-property objects are not present.",
            )
        wanted = _select(request, APPLICATION_FIELDS, "microsoft.graph.application")
        values = self._application_json(app, with_keys=wanted is not None)
        selection = (
            f"({','.join(n for n in APPLICATION_FIELDS if n.casefold() in wanted)})"
            if wanted is not None
            else ""
        )
        body: dict[str, Any] = {
            "@odata.context": (
                f"{base_url(request)}/v1.0/$metadata#applications{selection}/$entity"
            )
        }
        body.update(
            (name, value)
            for name, value in values.items()
            if wanted is None or name.casefold() in wanted
        )
        return web.json_response(body)

    def _find_application(self, key: str) -> App | None:
        directory = self._state.directory
        found = re.fullmatch(r"applications\(appId='([^']*)'\)", key, re.IGNORECASE)
        if found is not None:
            return directory.find_app(found.group(1))
        if key.startswith("applications("):
            return None
        return directory.find_app_by_object_id(key)

    def _application_json(self, app: App, *, with_keys: bool) -> dict[str, Any]:
        """Describe an app registration as Graph's application resource."""
        tenant = self._state.directory.tenant
        return {
            "id": app.application_object_id,
            "appId": app.client_id,
            "displayName": app.display_name,
            "description": None,
            "signInAudience": app.sign_in_audience.value,
            "isFallbackPublicClient": app.public_client,
            "publisherDomain": tenant.domains[0] if tenant.domains else None,
            "identifierUris": [],
            "tags": [],
            # api-reference/v1.0/resources/passwordcredential.md
            "passwordCredentials": [
                {
                    "customKeyIdentifier": None,
                    "displayName": secret.display_name or None,
                    "endDateTime": _iso_or_none(secret.expires_at),
                    "hint": secret.hint,
                    "keyId": secret.key_id,
                    "secretText": None,
                    "startDateTime": _iso_or_none(secret.starts_at),
                }
                for secret in app.secrets
            ],
            # api-reference/v1.0/resources/keycredential.md: customKeyIdentifier
            # defaults to the certificate's (SHA-1) thumbprint; Edm.Binary is
            # base64 in JSON, as the manifest's "$base64Thumbprint"
            # (docs/identity-platform/certificate-credentials.md). "key" only
            # with $select on a single application.
            "keyCredentials": [
                {
                    "customKeyIdentifier": base64.b64encode(cert.sha1).decode(),
                    "displayName": cert.display_name,
                    "endDateTime": iso(cert.expires_at),
                    "key": base64.b64encode(cert.der).decode() if with_keys else None,
                    "keyId": cert.key_id,
                    "startDateTime": iso(cert.starts_at),
                    "type": "AsymmetricX509Cert",
                    "usage": "Verify",
                }
                for cert in app.certificates
            ],
        }

    async def unsupported(self, request: web.Request) -> web.Response:
        """Answer any other ``/v1.0`` request like Graph answers unknown segments."""
        segments = [s for s in request.match_info["tail"].split("/") if s]
        app_only = not _delegated(request[CLAIMS])
        if segments and segments[0].casefold() == "me" and app_only:
            message = ME_ONLY_DELEGATED
        else:
            last = segments[-1] if segments else ""
            message = (
                f"Resource not found for the segment '{last}'. (The emulator does "
                f"not support {request.method} {request.path}.)"
            )
        raise GraphError(400, "BadRequest", message)

    # Helpers ----------------------------------------------------------------

    def _mailbox(self, request: web.Request, permission: str) -> Mailbox:
        """Return the mailbox of the path after checking the token's permission.

        App-only tokens need the application permission in ``roles`` and name the
        mailbox in the path; delegated tokens need it in ``scp`` and act for the
        signed-in user only (``/me``, or ``/users/`` with the user's own id).
        """
        claims = request[CLAIMS]
        user = request.match_info.get("user")
        denied = GraphError(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
        if _delegated(claims):
            mailbox = self._signed_in_user(claims)
            if user is not None and not mailbox.matches(user):
                mailbox = self._shared_mailbox(request, claims, mailbox, permission)
            elif permission.casefold() not in _scopes(claims):
                raise denied
        else:
            if user is None:
                raise GraphError(400, "BadRequest", ME_ONLY_DELEGATED)
            if permission not in (claims.get("roles") or []):
                raise denied
            found = self._state.directory.find_mailbox(user, str(claims.get("tid")))
            if found is None:
                raise GraphError(
                    404, "ErrorInvalidUser", f"The requested user '{user}' is invalid."
                )
            mailbox = found
        if not mailbox.rest_enabled:
            raise GraphError(
                404,
                "MailboxNotEnabledForRESTAPI",
                "The mailbox is either inactive, soft-deleted, or is hosted on-premise.",
            )
        return mailbox

    def _shared_mailbox(
        self,
        request: web.Request,
        claims: dict[str, Any],
        me: Mailbox,
        permission: str,
    ) -> Mailbox:
        """Return another mailbox the signed-in user may open, or refuse (403).

        outlook-send-mail-from-other-user.md: ``{permission}.Shared`` in the
        token, and Full Access to the mailbox for ``/users/{that mailbox}``.
        """
        denied = GraphError(
            403,
            "ErrorAccessDenied",
            "Access is denied. Check credentials and try again.",
        )
        user = request.match_info["user"]
        other = self._state.directory.find_mailbox(user, str(claims.get("tid")))
        if other is None or me.personal or other.personal:
            raise denied
        if (permission + SHARED_SUFFIX).casefold() not in _scopes(claims):
            raise denied
        if not other.granted(other.full_access, me):
            raise denied
        request[DELEGATE] = me
        return other

    def _signed_in_user(self, claims: dict[str, Any]) -> Mailbox:
        """Return the user a delegated token was issued to."""
        oid = str(claims.get("oid"))
        user = self._state.directory.find_mailbox(oid, str(claims.get("tid")))
        if user is None:
            raise GraphError(
                404, "ErrorInvalidUser", f"The requested user '{oid}' is invalid."
            )
        return user

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

    def _check_sender(
        self, request: web.Request, message: dict[str, Any], mailbox: Mailbox
    ) -> tuple[Mailbox, Mailbox | None, bool]:
        """Return who the message is from, the delegate, and whether on behalf.

        ``from`` (or ``sender``) may name the mailbox itself; with a delegated
        token it may also name a mailbox the signed-in user has Send As or
        Send on Behalf on, when the token has ``Mail.Send.Shared``
        (outlook-send-mail-from-other-user.md). Anything else, and any
        ``from`` with an app-only token that is not the mailbox's own, is 403
        ``ErrorSendAsDenied`` (what Graph does with an app-only token and
        another mailbox in ``from`` is not documented).
        """
        claims = request[CLAIMS]
        delegate: Mailbox | None = request.get(DELEGATE)
        wanted = _address(message, "from") or _address(message, "sender")
        author = mailbox
        if wanted is not None and wanted.casefold() not in mailbox.own_addresses:
            if not _delegated(claims) or delegate is not None:
                raise _send_as_denied()
            found = self._state.directory.find_mailbox(wanted, str(claims.get("tid")))
            if found is None or found.personal or mailbox.personal:
                raise _send_as_denied()
            author, delegate = found, mailbox
        sender = _address(message, "sender")
        allowed = author.own_addresses | (
            delegate.own_addresses if delegate is not None else frozenset()
        )
        if sender is not None and sender.casefold() not in allowed:
            raise _send_as_denied()
        if delegate is None:
            return author, None, False
        if MAIL_SEND_SHARED.casefold() not in _scopes(claims):
            raise _send_as_denied()
        if author.granted(author.send_as, delegate):
            return author, delegate, False
        if author.granted(author.send_on_behalf, delegate):
            return author, delegate, True
        raise _send_as_denied()

    def _submit(self, received: ReceivedMessage) -> None:
        """Deliver an accepted message, or an NDR when it crosses a sending limit.

        Recipients count against the submitter, with the limit of the mailbox
        in From (see `state.RecipientLedger`). The message that would cross a
        limit is refused whole (the strict reading of "messages are rejected").
        """
        settings = self._state.settings
        ledger = self._state.recipients
        count = received.recipient_count
        submitter = received.submitter.address
        counted = ledger.counted(submitter)
        per_message = settings.max_recipients_per_message
        daily = (
            settings.daily_recipient_limit_personal
            if received.mailbox.personal
            else settings.daily_recipient_limit_work
        )
        if per_message and count > per_message:
            # What Graph answers to a message over the per-message limit is not
            # documented (a 400 would be as plausible): Exchange's NDR, as for
            # the daily limit, keeps the one documented signal.
            limit, allowed = Limit.RECIPIENTS_PER_MESSAGE, per_message
            status, diagnostic = (
                "550 5.5.3",
                "RESOLVER.ADR.RecipLimit; too many recipients",
            )
            reason = (
                "This message has too many recipients. Please try to resend with "
                f"fewer recipients (at most {per_message})."
            )
        elif daily and counted + count > daily:
            limit, allowed = Limit.RECIPIENTS_PER_DAY, daily
            status = "554 5.2.0"
            diagnostic = (
                "STOREDRV.Submission.Exception:SubmissionQuotaExceededException"
            )
            reason = (
                f"The sender has sent to {counted} recipients in the last 24 hours; "
                f"this message's {count} would take it over the limit of {daily}. "
                "Sending resumes as the 24-hour window moves on."
            )
        else:
            ledger.add(submitter, count)
            self._store.deliver(received)
            return
        self._store.discard_attachments(received.attachments)
        report = non_delivery_report(
            received, status=status, diagnostic=diagnostic, reason=reason
        )
        self._store.deliver(report)
        ledger.crossings.append(
            LimitCrossing(
                limit=limit,
                mailbox=received.mailbox.address,
                submitter=submitter,
                allowed=allowed,
                counted=counted,
                recipients=count,
                subject=received.subject,
                at=report.received_at,
                ndr_id=report.id,
            )
        )

    def _check_draft_size(self, draft: Draft, adding: int) -> None:
        """Refuse an attachment (or upload) that takes a draft over the limit."""
        sizes = [a.size for a in draft.attachments]
        sizes += [s.size for s in self._store.sessions_of(draft)]
        self._check_size(draft.message, [*sizes, adding], draft.mailbox)

    def _check_size(
        self, message: dict[str, Any], sizes: list[int], mailbox: Mailbox
    ) -> None:
        """Refuse a message over the tenant's limit (attachments count encoded)."""
        body = str((message.get("body") or {}).get("content") or "")
        total = len(body.encode()) + sum(_encoded_size(size) for size in sizes)
        limit = self._state.directory.tenant_of(mailbox).max_message_size
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
