"""Turn a request into a message: body, snapshots and attachments.

Everything is gathered before anything is sent, so a missing camera, a path
outside the allowlist or an unreachable URL fails the action with nothing sent.
Files are inspected and read off the event loop; URL downloads over 3 MB are
spooled to a temporary folder instead of memory, which is removed afterwards.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from dataclasses import dataclass, field, replace
from functools import lru_cache
from html import escape
import mimetypes
import os
from pathlib import Path, PurePosixPath
import shutil
import stat
import tempfile
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import aiohttp
from homeassistant.components import camera, media_source
from homeassistant.components.camera.const import DOMAIN as CAMERA_DOMAIN
from homeassistant.components.image.const import (
    DATA_COMPONENT as IMAGE_COMPONENT,
    DOMAIN as IMAGE_DOMAIN,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util, slugify

from .const import DOMAIN, with_help
from .graph import MAX_ATTACHMENT_SIZE, Attachment, BodyType, EmailAddress, Message
from .models import OutgoingMail
from .request import MEDIA_SOURCE_PREFIX, AttachmentSpec, MailRequest

#: Home Assistant's default notification title.
DEFAULT_TITLE = "Home Assistant"
#: URL downloads up to this size stay in memory; bigger ones go to disk.
IN_MEMORY_DOWNLOAD = 3_000_000
#: Local files up to this size are read when the action runs, like snapshots
#: (a camera.snapshot rewriting the file a moment later changes nothing);
#: bigger ones are streamed from the file when sent.
READ_AT_CALL_UP_TO = 3_000_000
DOWNLOAD_CHUNK = 256 * 1024
MAX_REDIRECTS = 5
FETCH_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=15, sock_read=30)
OCTET_STREAM = "application/octet-stream"


def _validation_error(key: str, **placeholders: str) -> ServiceValidationError:
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders=with_help(placeholders),
    )


@lru_cache(maxsize=256)
def _guess_type(name: str) -> str:
    """Return a file name's content type (names repeat: a camera's snapshot file)."""
    return mimetypes.guess_type(name)[0] or OCTET_STREAM


@dataclass
class Composition:
    """A message ready to send, and the temporary files it may point to."""

    mail: OutgoingMail
    workdir: Path | None = None

    async def async_cleanup(self, hass: HomeAssistant) -> None:
        """Remove temporary files (spooled downloads)."""
        workdir, self.workdir = self.workdir, None
        await _async_remove(hass, workdir)


async def _async_remove(hass: HomeAssistant, folder: Path | None) -> None:
    """Delete a temporary folder, if there is one."""
    if folder is not None:
        await hass.async_add_executor_job(shutil.rmtree, folder, True)


@dataclass
class _Spool:
    """A lazily created temporary folder for large downloads."""

    hass: HomeAssistant
    path: Path | None = None
    files: int = 0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def async_new_file(self, name: str) -> Path:
        async with self._lock:
            if self.path is None:
                self.path = Path(
                    await self.hass.async_add_executor_job(
                        lambda: tempfile.mkdtemp(prefix="o365-")
                    )
                )
            self.files += 1
            return self.path / f"{self.files}-{slugify(name) or 'download'}"


async def async_compose(
    hass: HomeAssistant,
    request: MailRequest,
    *,
    to: tuple[EmailAddress, ...],
    save_to_sent_items: bool,
    sender: str | None = None,
) -> Composition:
    """Build the message a request asks for; raise a translated error if it cannot.

    ``to`` are the recipients (the request's, else the account's defaults),
    ``save_to_sent_items`` the account's default, ``sender`` the mailbox to
    send from instead of the account's own.
    """
    is_html = request.html is True or (
        isinstance(request.html, str) and bool(request.html)
    )
    spool = _Spool(hass)
    try:
        fetched = await _async_all(
            [
                *(_snapshot(hass, entity_id) for entity_id in request.cameras),
                *(_attachment(hass, spec, spool) for spec in request.attachments),
            ]
        )
    except Exception:
        await _async_remove(hass, spool.path)
        raise
    snapshots = fetched[: len(request.cameras)]
    files = fetched[len(request.cameras) :]

    body = request.message
    if isinstance(request.html, str) and request.html:
        body = request.html
    attachments = [*snapshots, *files, *request.files]
    if is_html:
        body = _with_inline_images(body, attachments)
    else:
        # A text body cannot show inline parts: attach them as files.
        attachments = [_as_file(attachment) for attachment in attachments]
    message = Message(
        subject=request.title or DEFAULT_TITLE,
        body=body,
        body_type=BodyType.HTML if is_html else BodyType.TEXT,
        to=to,
        cc=request.cc,
        bcc=request.bcc,
        reply_to=request.reply_to,
        importance=request.importance,
        attachments=tuple(attachments),
    )
    save = (
        save_to_sent_items
        if request.save_to_sent_items is None
        else request.save_to_sent_items
    )
    return Composition(OutgoingMail(message, save, sender), spool.path)


async def _async_all(
    fetches: list[Coroutine[Any, Any, Attachment]],
) -> list[Attachment]:
    """Take the snapshots and fetch the files at once; the first failure stops all.

    The usual alert has one picture: it is awaited without a task of its own.
    """
    if len(fetches) <= 1:
        return [await fetch for fetch in fetches]
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(fetch) for fetch in fetches]
    except ExceptionGroup as group_error:
        raise group_error.exceptions[0] from None
    return [task.result() for task in tasks]


def _as_file(attachment: Attachment) -> Attachment:
    """Return an attachment shown as a file (its content ID still names it)."""
    return replace(attachment, inline=False)


def _with_inline_images(body: str, attachments: list[Attachment]) -> str:
    """Append each inline image the HTML does not reference at the end of the body.

    Outlook hides inline parts nobody references: a snapshot would be lost.
    """
    missing = "".join(
        f'<p><img src="cid:{escape(a.content_id)}" alt="{escape(a.content_id)}"></p>'
        for a in attachments
        if a.content_id
        and a.content_type.startswith("image/")
        and f"cid:{a.content_id}" not in body
    )
    if not missing:
        return body
    close = body.lower().rfind("</body>")
    if close == -1:
        return body + missing
    return body[:close] + missing + body[close:]


# -- cameras and images -----------------------------------------------------------


async def _snapshot(hass: HomeAssistant, entity_id: str) -> Attachment:
    """Take a snapshot now; its content ID is the entity ID."""
    try:
        picture = await camera.async_get_image(hass, entity_id)
    except HomeAssistantError as err:
        raise _validation_error(
            "camera_failed", entity_id=entity_id, details=str(err)
        ) from err
    return _picture_attachment(entity_id, picture.content, picture.content_type)


def _picture_attachment(
    entity_id: str, content: bytes, content_type: str
) -> Attachment:
    extension = mimetypes.guess_extension(content_type) or ".jpg"
    if extension == ".jpe":
        extension = ".jpg"
    stamp = dt_util.now().strftime("%Y%m%d_%H%M%S")
    name = f"{entity_id.split('.', 1)[-1]}_{stamp}{extension}"
    return Attachment.from_bytes(name, content, content_type, entity_id)


# -- files, URLs and media sources -------------------------------------------------


async def _attachment(
    hass: HomeAssistant, spec: AttachmentSpec, spool: _Spool
) -> Attachment:
    if spec.media_content_id is not None:
        return await _from_media_source(hass, spec, spool)
    if spec.url is not None:
        return await _from_url(hass, spec, spec.url, spool, check_allowlist=True)
    assert spec.path is not None
    return await _from_path(hass, spec, spec.path)


def _open_path(hass: HomeAssistant, raw: str) -> tuple[Path, bytes | Path, int]:
    """Check a local path against the allowlist; read it now if it is small."""
    path = Path(raw)
    if not path.is_absolute():
        path = Path(hass.config.path(raw))
    try:
        # Newer Home Assistant checks the path on disk here, so a name the
        # system refuses (too long, say) raises OSError already.
        if not hass.config.is_allowed_path(str(path)):
            raise _validation_error("path_not_allowed", path=raw)
        # One open and one fstat: what is read is what was checked. Not
        # blocking: a named pipe must not hang the executor.
        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NONBLOCK), "rb") as file:
            status = os.fstat(file.fileno())
            if not stat.S_ISREG(status.st_mode):
                raise _validation_error("file_not_found", path=raw)
            if status.st_size > READ_AT_CALL_UP_TO:
                return path, path, status.st_size
            data = file.read()
    except (OSError, ValueError) as err:
        # Unreadable, or no path the system accepts (too long, say).
        raise _validation_error("file_not_found", path=raw) from err
    return path, data, len(data)


async def _from_path(hass: HomeAssistant, spec: AttachmentSpec, raw: str) -> Attachment:
    path, content, size = await hass.async_add_executor_job(_open_path, hass, raw)
    name = spec.name or path.name
    return Attachment(
        name, spec.content_type or _guess_type(name), content, size, spec.content_id
    )


async def _from_url(
    hass: HomeAssistant,
    spec: AttachmentSpec,
    url: str,
    spool: _Spool,
    *,
    check_allowlist: bool,
) -> Attachment:
    """Download a URL allowed by ``allowlist_external_urls`` (redirects too)."""
    session = async_get_clientsession(hass)
    try:
        for _ in range(MAX_REDIRECTS + 1):
            if check_allowlist and not hass.config.is_allowed_external_url(url):
                raise _validation_error("url_not_allowed", url=_shown(url))
            async with session.get(
                url, timeout=FETCH_TIMEOUT, allow_redirects=False
            ) as resp:
                if resp.status in (301, 302, 303, 307, 308) and resp.headers.get(
                    "Location"
                ):
                    url = urljoin(url, resp.headers["Location"])
                    continue
                if resp.status != 200:
                    raise _url_failed(url, f"HTTP {resp.status}")
                return await _download(spec, url, resp, spool)
        raise _url_failed(url, "too many redirects")
    except (aiohttp.ClientError, TimeoutError) as err:
        raise _url_failed(url, type(err).__name__) from err


def _url_failed(url: str, details: str) -> HomeAssistantError:
    return HomeAssistantError(
        translation_domain=DOMAIN,
        translation_key="url_failed",
        translation_placeholders=with_help({"url": _shown(url), "details": details}),
    )


def _shown(url: str) -> str:
    """Return a URL fit for an error message: no credentials, no query."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


async def _download(
    spec: AttachmentSpec, url: str, resp: aiohttp.ClientResponse, spool: _Spool
) -> Attachment:
    name = spec.name or unquote(PurePosixPath(urlsplit(url).path).name) or "attachment"
    content_type = spec.content_type or (
        resp.content_type
        if resp.content_type and resp.content_type != OCTET_STREAM
        else _guess_type(name)
    )
    if (resp.content_length or 0) > MAX_ATTACHMENT_SIZE:
        raise _too_large(name)
    buffer = bytearray()
    target: Path | None = None
    writer: Any = None
    size = 0
    hass = spool.hass
    try:
        async for chunk in resp.content.iter_chunked(DOWNLOAD_CHUNK):
            size += len(chunk)
            if size > MAX_ATTACHMENT_SIZE:
                raise _too_large(name)
            if writer is None and size <= IN_MEMORY_DOWNLOAD:
                buffer += chunk
                continue
            if writer is None:
                target = await spool.async_new_file(name)
                writer = await hass.async_add_executor_job(target.open, "wb")
                await hass.async_add_executor_job(writer.write, bytes(buffer))
                buffer.clear()
            await hass.async_add_executor_job(writer.write, chunk)
    finally:
        if writer is not None:
            await hass.async_add_executor_job(writer.close)
    if target is not None:
        return Attachment(name, content_type, target, size, spec.content_id)
    return Attachment(name, content_type, bytes(buffer), size, spec.content_id)


def _too_large(name: str) -> ServiceValidationError:
    return _validation_error(
        "attachment_too_large",
        details=f"{name} is over {MAX_ATTACHMENT_SIZE // (1024 * 1024)} MB",
    )


async def _from_media_source(
    hass: HomeAssistant, spec: AttachmentSpec, spool: _Spool
) -> Attachment:
    """Attach a media-source item: a camera or image snapshot, or a media file."""
    media_id = spec.media_content_id or ""
    for domain in (CAMERA_DOMAIN, IMAGE_DOMAIN):
        prefix = f"{MEDIA_SOURCE_PREFIX}{domain}/"
        if media_id.startswith(prefix):
            entity_id = media_id.removeprefix(prefix)
            try:
                content, content_type = await _picture(hass, domain, entity_id)
            except HomeAssistantError as err:
                raise _validation_error(
                    "camera_failed", entity_id=entity_id, details=str(err)
                ) from err
            snapshot = _picture_attachment(entity_id, content, content_type)
            return Attachment(
                spec.name or snapshot.name,
                snapshot.content_type,
                snapshot.content,
                snapshot.size,
                spec.content_id or entity_id,
            )
    try:
        media = await media_source.async_resolve_media(hass, media_id, None)
    except (HomeAssistantError, ValueError) as err:
        raise _validation_error("invalid_media", media=media_id) from err
    path: Path | None = getattr(media, "path", None) or _local_media_path(
        hass, media_id
    )
    if path is not None:
        return await _from_path(
            hass,
            AttachmentSpec(
                name=spec.name,
                content_type=spec.content_type or media.mime_type,
                content_id=spec.content_id,
            ),
            str(path),
        )
    if urlsplit(media.url).scheme in ("http", "https"):
        return await _from_url(hass, spec, media.url, spool, check_allowlist=False)
    raise _validation_error("invalid_media", media=media_id)


async def _picture(
    hass: HomeAssistant, domain: str, entity_id: str
) -> tuple[bytes, str]:
    """Return the current picture of a camera or image entity."""
    if domain == CAMERA_DOMAIN:
        picture = await camera.async_get_image(hass, entity_id)
        return picture.content, picture.content_type
    component = hass.data.get(IMAGE_COMPONENT)
    entity = component.get_entity(entity_id) if component is not None else None
    if entity is None:
        raise HomeAssistantError("Image not found")
    if (content := await entity.async_image()) is None:
        raise HomeAssistantError("Image has no content")
    return content, entity.content_type


def _local_media_path(hass: HomeAssistant, media_id: str) -> Path | None:
    """Map ``media-source://media_source/<dir>/<file>`` into a media folder."""
    prefix = f"{MEDIA_SOURCE_PREFIX}media_source/"
    if not media_id.startswith(prefix):
        return None
    source_dir, _, location = media_id.removeprefix(prefix).partition("/")
    if source_dir not in hass.config.media_dirs:
        return None
    root = Path(hass.config.media_dirs[source_dir])
    return root / unquote(location)
