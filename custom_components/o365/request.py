"""What an action asks for: the validated, typed form of its data.

``notify.o365`` and ``o365.send_message`` both become a :class:`MailRequest`
here, at the boundary, so everything after works on checked values only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import config_validation as cv
from homeassistant.helpers.typing import VolDictType
import voluptuous as vol
from yarl import URL

from .const import DOMAIN, with_help
from .graph import EmailAddress, Importance

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


def _reference(value: Any) -> str:
    """Validate the text of a path, URL or media item: one line, bounded."""
    text = cv.string(value).strip()
    if not text:
        raise vol.Invalid("is empty")
    if len(text) > MAX_REFERENCE_LENGTH:
        raise vol.Invalid(f"is longer than {MAX_REFERENCE_LENGTH} characters")
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
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


ADDRESSES = vol.All(cv.ensure_list, [email_address])
ATTACHMENTS = vol.All(cv.ensure_list, [attachment])
CAMERAS = vol.All(_entity_list, [vol.All(cv.string, cv.entity_domain("camera"))])

#: The fields shared by ``notify.o365``'s ``data`` and ``o365.send_message``.
MAIL_FIELDS: VolDictType = {
    vol.Optional(ATTR_HTML): vol.Any(
        bool, str, msg="expected true, false or an HTML string"
    ),
    vol.Optional(ATTR_CC): ADDRESSES,
    vol.Optional(ATTR_BCC): ADDRESSES,
    vol.Optional(ATTR_REPLY_TO): ADDRESSES,
    vol.Optional(ATTR_IMPORTANCE): vol.All(vol.Lower, vol.Coerce(Importance)),
    vol.Optional(ATTR_CAMERAS): CAMERAS,
    vol.Optional(ATTR_ATTACHMENTS): ATTACHMENTS,
    vol.Optional(ATTR_IMAGES): ATTACHMENTS,
    vol.Optional(ATTR_SAVE_TO_SENT_ITEMS): cv.boolean,
}

NOTIFY_DATA_SCHEMA = vol.Schema(
    {**MAIL_FIELDS, vol.Optional(ATTR_ACCOUNT): cv.string}, extra=vol.PREVENT_EXTRA
)


def _invalid(err: vol.Invalid, what: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="invalid_data",
        translation_placeholders=with_help({"what": what, "details": _details(err)}),
    )


def _details(err: vol.Invalid) -> str:
    errors = err.errors if isinstance(err, vol.MultipleInvalid) else [err]
    return "; ".join(_describe(error) for error in errors)


def _is_unknown_key(err: vol.Invalid) -> bool:
    """Return True for a key the schema does not know.

    voluptuous says "extra keys not allowed"; probatio, which Home Assistant
    2026.10 validates with in its place, says "not a valid option" and codes
    the error ``extra_keys_not_allowed``.
    """
    return (
        getattr(err, "code", None) == "extra_keys_not_allowed"
        or err.error_message == "extra keys not allowed"
    )


def _describe(err: vol.Invalid) -> str:
    path = ".".join(str(p) for p in err.path)
    if _is_unknown_key(err):
        return f"unknown key '{path}'"
    return f"{err.error_message} ({path})" if path else err.error_message


def build_request(
    *,
    message: str,
    title: str | None,
    to: list[str] | None,
    fields: Mapping[str, Any],
) -> MailRequest:
    """Return the request for validated fields plus recipients to check."""
    try:
        recipients = tuple(ADDRESSES(to)) if to else ()
    except vol.Invalid as err:
        raise _invalid(err, "target") from err
    return MailRequest(
        message=message,
        title=title,
        to=recipients,
        cc=tuple(fields.get(ATTR_CC, ())),
        bcc=tuple(fields.get(ATTR_BCC, ())),
        reply_to=tuple(fields.get(ATTR_REPLY_TO, ())),
        html=fields.get(ATTR_HTML, False),
        importance=fields.get(ATTR_IMPORTANCE),
        cameras=tuple(fields.get(ATTR_CAMERAS, ())),
        attachments=(
            *fields.get(ATTR_ATTACHMENTS, ()),
            *fields.get(ATTR_IMAGES, ()),
        ),
        save_to_sent_items=fields.get(ATTR_SAVE_TO_SENT_ITEMS),
        account=fields.get(ATTR_ACCOUNT),
    )


def request_from_notify(
    message: str,
    title: str | None,
    target: list[str] | None,
    data: Mapping[str, Any] | None,
) -> MailRequest:
    """Validate a ``notify.o365`` call; unknown ``data`` keys are refused."""
    try:
        fields = NOTIFY_DATA_SCHEMA(dict(data or {}))
    except vol.Invalid as err:
        raise _invalid(err, "data") from err
    return build_request(message=message, title=title, to=target, fields=fields)
