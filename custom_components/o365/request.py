"""What an action asks for: the validated, typed form of its data.

``notify.o365`` and ``o365.send_message`` both become a :class:`MailRequest`
here, at the boundary, so everything after works on checked values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
import re
from typing import Any

from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import VolDictType
import voluptuous as vol
from yarl import URL

from .const import DOMAIN, with_help
from .graph import Attachment, EmailAddress, Importance
from .graph.message import is_email_address

ATTR_HTML = "html"
ATTR_TO = "to"
ATTR_CC = "cc"
ATTR_BCC = "bcc"
ATTR_REPLY_TO = "reply_to"
ATTR_IMPORTANCE = "importance"
ATTR_CAMERAS = "cameras"
ATTR_ATTACHMENTS = "attachments"
ATTR_IMAGES = "images"
ATTR_SAVE_TO_SENT_ITEMS = "save_to_sent_items"
ATTR_ACCOUNT = "account"
ATTR_FROM = "from"

MEDIA_SOURCE_PREFIX = "media-source://"


@dataclass(frozen=True, slots=True)
class AttachmentSpec:
    """One attachment as asked for: a local path, a URL or a media-source item."""

    path: str | None = None
    url: str | None = None
    media_content_id: str | None = None
    name: str | None = None
    content_type: str | None = None
    content_id: str | None = None

    @property
    def label(self) -> str:
        """Return what the user wrote, to name it in errors."""
        return self.path or self.url or self.media_content_id or "?"


@dataclass(frozen=True, slots=True)
class MailRequest:
    """A validated request to send one email."""

    message: str
    title: str | None = None
    to: tuple[EmailAddress, ...] = ()
    cc: tuple[EmailAddress, ...] = ()
    bcc: tuple[EmailAddress, ...] = ()
    reply_to: tuple[EmailAddress, ...] = ()
    html: bool | str = False
    importance: Importance | None = None
    cameras: tuple[str, ...] = ()
    attachments: tuple[AttachmentSpec, ...] = field(default=())
    save_to_sent_items: bool | None = None
    account: str | None = None
    #: A mailbox to send from instead of the account's own (``from``).
    sender: str | None = None
    #: Attachments already in memory (the test email's picture).
    files: tuple[Attachment, ...] = ()


def email_address(value: Any) -> EmailAddress:
    """Validate ``addr`` or ``Name <addr>``."""
    if isinstance(value, EmailAddress):
        return value
    text = cv.string(value)
    try:
        return EmailAddress.parse(text)
    except ValueError as err:
        raise vol.Invalid(
            f"{text!r} is not an email address (use addr or Name <addr>)"
        ) from err


#: The longest path or URL an attachment may name.
MAX_REFERENCE_LENGTH = 4096
_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]")


def _reference(value: Any) -> str:
    """Validate the text of a path, URL or media item: one line, bounded."""
    text = cv.string(value).strip()
    if not text:
        raise vol.Invalid("is empty")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise vol.Invalid(f"is longer than {MAX_REFERENCE_LENGTH} characters")
    if _CONTROL_CHARACTER.search(text):
        raise vol.Invalid("contains control characters")
    return text


def _path(value: Any) -> str:
    text = _reference(value)
    if "://" in text:
        raise vol.Invalid(f"{text!r}: only local paths and http(s) URLs are attached")
    return text


def _url(value: Any) -> str:
    text = _reference(value)
    try:
        url = URL(text)
    except (ValueError, TypeError) as err:
        raise vol.Invalid(f"{text!r} is not a URL") from err
    if url.scheme.lower() not in ("http", "https") or not url.host:
        raise vol.Invalid(f"{text!r} is not an http(s) URL")
    return text


def _media_id(value: Any) -> str:
    text = _reference(value)
    if not text.startswith(MEDIA_SOURCE_PREFIX):
        raise vol.Invalid(f"{text!r} is not a media-source:// item")
    return text


def _string_attachment(value: Any) -> AttachmentSpec:
    text = _reference(value)
    if text.startswith(MEDIA_SOURCE_PREFIX):
        return AttachmentSpec(media_content_id=text)
    if text.lower().startswith(("http://", "https://")):
        return AttachmentSpec(url=_url(text))
    return AttachmentSpec(path=_path(text))


_ATTACHMENT_KEYS = vol.Schema(
    {
        vol.Exclusive("path", "source"): _path,
        vol.Exclusive("url", "source"): _url,
        vol.Exclusive("media_content_id", "source"): _media_id,
        vol.Optional("name"): cv.string,
        # Core smtp's send_message (2026.8) calls it filename.
        vol.Optional("filename"): cv.string,
        vol.Optional("content_type"): cv.string,
        vol.Optional("content_id"): cv.string,
        # What the UI's media selector adds around media_content_id.
        vol.Optional("media_content_type"): cv.string,
        vol.Optional("entity_id"): vol.Any(None, cv.string),
        vol.Optional("metadata"): dict,
    }
)


def attachment(value: Any) -> AttachmentSpec:
    """Validate an attachment: a path, URL or media item, or a mapping with one."""
    if isinstance(value, AttachmentSpec):
        return value
    if isinstance(value, str):
        return _string_attachment(value)
    if not isinstance(value, Mapping):
        raise vol.Invalid("an attachment is a path, a URL or a mapping with path/url")
    data = _ATTACHMENT_KEYS(dict(value))
    if not any(data.get(key) for key in ("path", "url", "media_content_id")):
        raise vol.Invalid("an attachment needs one of path, url or media_content_id")
    return AttachmentSpec(
        path=data.get("path"),
        url=data.get("url"),
        media_content_id=data.get("media_content_id"),
        name=data.get("name") or data.get("filename"),
        content_type=data.get("content_type"),
        content_id=data.get("content_id"),
    )


def _entity_list(value: Any) -> list[Any]:
    """Accept an entity ID, a comma-separated string or a list; nothing else."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    if isinstance(value, list):
        return value
    raise vol.Invalid("expected a camera entity ID or a list of them")


def _mailbox(value: str) -> str:
    """Validate the mailbox to send from: a plain address."""
    text = value.strip()
    if not is_email_address(text):
        raise vol.Invalid(f"{text!r} is not a mailbox address")
    return text


def _as_list(value: Any) -> list[Any]:
    """Accept one value or a list: addresses are checked by build_request."""
    return value if isinstance(value, list) else [value]


#: Recipients pass the schema as given: build_request checks each address
#: and names the bad one in the integration's own words.
RECIPIENTS = vol.All(_as_list)
ATTACHMENTS = vol.All(cv.ensure_list, [attachment])
CAMERAS = vol.All(_entity_list, [vol.All(cv.string, cv.entity_domain("camera"))])

#: The fields shared by ``notify.o365``'s ``data`` and ``o365.send_message``.
MAIL_FIELDS: VolDictType = {
    vol.Optional(ATTR_HTML): vol.Any(
        bool, str, msg="expected true, false or an HTML string"
    ),
    vol.Optional(ATTR_CC): RECIPIENTS,
    vol.Optional(ATTR_BCC): RECIPIENTS,
    vol.Optional(ATTR_REPLY_TO): RECIPIENTS,
    vol.Optional(ATTR_IMPORTANCE): vol.All(vol.Lower, vol.Coerce(Importance)),
    vol.Optional(ATTR_CAMERAS): CAMERAS,
    vol.Optional(ATTR_ATTACHMENTS): ATTACHMENTS,
    vol.Optional(ATTR_IMAGES): ATTACHMENTS,
    vol.Optional(ATTR_SAVE_TO_SENT_ITEMS): cv.boolean,
    vol.Optional(ATTR_FROM): vol.All(cv.string, _mailbox),
}

NOTIFY_DATA_SCHEMA = vol.Schema(
    {**MAIL_FIELDS, vol.Optional(ATTR_ACCOUNT): cv.string}, extra=vol.PREVENT_EXTRA
)
#: The keys ``data`` may have, as the error for an unknown one lists them.
DATA_KEYS = tuple(str(key) for key in NOTIFY_DATA_SCHEMA.schema)


def _invalid(err: vol.Invalid, what: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="invalid_data",
        translation_placeholders=with_help({"what": what, "details": _details(err)}),
    )


def _details(err: vol.Invalid) -> str:
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    return "; ".join(_describe(error) for error in errors)


def _describe(err: vol.Invalid) -> str:
    """Say what is wrong in our words (voluptuous's wording changes by version)."""
    path = [str(part) for part in err.path]
    if len(path) == 1 and path[0] not in DATA_KEYS:
        return f"unknown key '{path[0]}' (the keys are {', '.join(DATA_KEYS)})"
    where = ".".join(path)
    return f"{err.error_message} ({where})" if where else err.error_message


def _addresses(field: str, values: Any) -> tuple[EmailAddress, ...]:
    """Parse recipients; a bad one raises the integration's own error."""
    parsed = []
    for value in _as_list(values) if values is not None else []:
        try:
            parsed.append(email_address(value))
        except vol.Invalid as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_address",
                translation_placeholders=with_help(
                    {"field": field, "value": str(value)[:200]}
                ),
            ) from err
    return tuple(parsed)


def build_request(
    *,
    message: str,
    title: str | None,
    to: Any,
    fields: Mapping[str, Any],
    to_field: str = ATTR_TO,
) -> MailRequest:
    """Return the request for schema-checked fields; check every address.

    ``to_field`` names the recipients in errors (``target`` for notify.o365).
    """
    return MailRequest(
        message=message,
        title=title,
        to=_addresses(to_field, to),
        cc=_addresses(ATTR_CC, fields.get(ATTR_CC)),
        bcc=_addresses(ATTR_BCC, fields.get(ATTR_BCC)),
        reply_to=_addresses(ATTR_REPLY_TO, fields.get(ATTR_REPLY_TO)),
        html=fields.get(ATTR_HTML, False),
        importance=fields.get(ATTR_IMPORTANCE),
        cameras=tuple(fields.get(ATTR_CAMERAS, ())),
        attachments=(
            *fields.get(ATTR_ATTACHMENTS, ()),
            *fields.get(ATTR_IMAGES, ()),
        ),
        save_to_sent_items=fields.get(ATTR_SAVE_TO_SENT_ITEMS),
        account=fields.get(ATTR_ACCOUNT),
        sender=fields.get(ATTR_FROM),
    )


def request_from_notify(
    message: str, title: str | None, target: Any, data: Mapping[str, Any] | None
) -> MailRequest:
    """Validate a ``notify.o365`` call; unknown ``data`` keys are refused."""
    try:
        fields = NOTIFY_DATA_SCHEMA(dict(data or {}))
    except vol.Invalid as err:
        raise _invalid(err, "data") from err
    return build_request(
        message=message, title=title, to=target, fields=fields, to_field="target"
    )
