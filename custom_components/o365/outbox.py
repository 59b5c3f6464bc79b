"""The durable outbox: alerts that wait on disk, in order.

Two kinds of alert wait here: *queued* ones, which could not be sent (the
outbox worker tries them again), and *held* ones, which the sending budget
keeps for the next digest. Each is a folder ``<sequence>-<id>/`` holding
``message.json`` and one file per attachment (the bytes captured when the
action ran). A message is written to ``.tmp-<id>/`` first, flushed to disk,
then renamed into place, so a crash mid-write never damages what was already
stored; leftovers of an interrupted write are removed on load.

The in-memory queue (``items``, sequence numbers) changes only on the event
loop: :meth:`Outbox.new_item`, :meth:`Outbox.add` and :meth:`Outbox.take`
are quick and safe there. The methods that touch the disk (``load``,
``write``, ``read``, ``update``, ``delete``, ``destroy``) block: run them in
an executor.
"""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass
import json
import logging
import os
from pathlib import Path
import shutil
from typing import Any
import uuid

from .graph import Attachment, BodyType, EmailAddress, Importance, Message
from .models import OutgoingMail

_LOGGER = logging.getLogger(__name__)

META_FILE = "message.json"
#: 2 added held alerts, the recipient count and the sending mailbox.
FORMAT_VERSION = 2
COPY_CHUNK = 1024 * 1024


@dataclass(slots=True)
class OutboxItem:
    """One waiting message: what it is and how its delivery is going."""

    id: str
    sequence: int
    subject: str
    size: int
    queued_at: float
    reason: str
    #: What sending it costs of the budget (To, Cc and Bcc).
    recipients: int = 1
    #: Held for a digest by the sending budget (not a failed send).
    held: bool = False
    #: Who it goes to and from (:attr:`OutgoingMail.group`): one digest each.
    group: str = ""
    attempts: int = 0
    next_attempt: float = 0.0
    #: Not before this time, even when a new alert wakes the outbox: what the
    #: service's Retry-After asked for.
    not_before: float = 0.0
    last_error: str | None = None

    @property
    def folder_name(self) -> str:
        """Return the name of the item's folder (sorts in queue order)."""
        return f"{self.sequence:012d}-{self.id}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, data: bytes) -> None:
    with path.open("wb") as file:
        file.write(data)
        file.flush()
        os.fsync(file.fileno())


def _copy_file(source: Path, target: Path, size: int) -> None:
    copied = 0
    with source.open("rb") as reader, target.open("wb") as writer:
        while chunk := reader.read(COPY_CHUNK):
            writer.write(chunk)
            copied += len(chunk)
        writer.flush()
        os.fsync(writer.fileno())
    if copied != size:
        raise OSError(f"{source.name} changed while it was queued")


def _addresses(values: tuple[EmailAddress, ...]) -> list[list[str | None]]:
    return [[a.address, a.name] for a in values]


def _parse_addresses(values: list[list[str | None]]) -> tuple[EmailAddress, ...]:
    return tuple(EmailAddress(str(address), name) for address, name in values)


class Outbox:
    """The queued messages of one account, oldest first."""

    def __init__(self, root: Path) -> None:
        """Use ``root`` (created when needed) for this account's messages."""
        self.root = root
        self.items: list[OutboxItem] = []
        self.loaded = False
        self._sequence = 0

    def __len__(self) -> int:
        """Return the number of waiting messages (queued and held)."""
        return len(self.items)

    @property
    def size(self) -> int:
        """Return the bytes of attachments stored."""
        return sum(item.size for item in self.items)

    @property
    def queued(self) -> list[OutboxItem]:
        """Return the messages to send again, oldest first."""
        return [item for item in self.items if not item.held]

    @property
    def held(self) -> list[OutboxItem]:
        """Return the alerts held for a digest, oldest first."""
        return [item for item in self.items if item.held]

    def load(self) -> None:
        """Read the queue from disk, dropping leftovers of interrupted writes."""
        self.items = []
        self.loaded = True
        if not self.root.is_dir():
            return
        for folder in sorted(self.root.iterdir()):
            if folder.name.startswith(".tmp-"):
                shutil.rmtree(folder, ignore_errors=True)
                continue
            if not folder.is_dir() or folder.name.startswith("."):
                continue
            try:
                meta = json.loads((folder / META_FILE).read_text())
                # Version 1 items lack the newer fields: their defaults apply.
                item = OutboxItem(**meta["item"])
            except (OSError, ValueError, KeyError, TypeError) as err:
                _LOGGER.error(
                    "Outbox message %s is unreadable (%s); it is kept aside in %s",
                    folder.name,
                    err,
                    self.root,
                )
                folder.rename(folder.with_name(f".unreadable-{folder.name}"))
                continue
            self.items.append(item)
        self._sequence = max((item.sequence for item in self.items), default=0)

    def new_item(
        self,
        mail: OutgoingMail,
        *,
        reason: str,
        now: float,
        held: bool = False,
        attempts: int = 0,
        next_attempt: float | None = None,
    ) -> OutboxItem:
        """Return the item for a message, numbered after every earlier one."""
        self._sequence += 1
        return OutboxItem(
            id=uuid.uuid4().hex,
            sequence=self._sequence,
            subject=mail.message.subject,
            size=mail.message.attachments_size,
            queued_at=now,
            reason=reason,
            recipients=mail.recipients,
            held=held,
            group=mail.group,
            attempts=attempts,
            next_attempt=now if next_attempt is None else next_attempt,
        )

    def add(self, item: OutboxItem) -> None:
        """Put a written item in the queue, in sequence order."""
        bisect.insort(self.items, item, key=lambda queued: queued.sequence)

    def take(self, item: OutboxItem) -> bool:
        """Take an item out of the queue; False if it already was."""
        if item not in self.items:
            return False
        self.items.remove(item)
        return True

    def write(self, item: OutboxItem, mail: OutgoingMail) -> None:
        """Store a message durably in its item's folder (atomically)."""
        message = mail.message
        self.root.mkdir(parents=True, exist_ok=True)
        staging = self.root / f".tmp-{item.id}"
        staging.mkdir()
        try:
            files = []
            for index, attachment in enumerate(message.attachments):
                name = f"{index}.bin"
                if isinstance(attachment.content, bytes):
                    _write_file(staging / name, attachment.content)
                else:
                    _copy_file(attachment.content, staging / name, attachment.size)
                files.append(
                    {
                        "file": name,
                        "name": attachment.name,
                        "content_type": attachment.content_type,
                        "size": attachment.size,
                        "content_id": attachment.content_id,
                        "inline": attachment.is_inline,
                    }
                )
            meta = {
                "version": FORMAT_VERSION,
                "item": asdict(item),
                "save_to_sent_items": mail.save_to_sent_items,
                "sender": mail.sender,
                "message": {
                    "subject": message.subject,
                    "body": message.body,
                    "body_type": message.body_type.value,
                    "to": _addresses(message.to),
                    "cc": _addresses(message.cc),
                    "bcc": _addresses(message.bcc),
                    "reply_to": _addresses(message.reply_to),
                    "importance": message.importance.value
                    if message.importance
                    else None,
                    "attachments": files,
                },
            }
            _write_file(staging / META_FILE, json.dumps(meta).encode())
            _fsync_dir(staging)
            staging.rename(self.root / item.folder_name)
            _fsync_dir(self.root)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    def read(self, item: OutboxItem) -> OutgoingMail:
        """Return a stored message (its attachments stay on disk)."""
        folder = self.root / item.folder_name
        meta: dict[str, Any] = json.loads((folder / META_FILE).read_text())
        data = meta["message"]
        attachments = tuple(
            Attachment(
                a["name"],
                a["content_type"],
                folder / a["file"],
                a["size"],
                a["content_id"],
                a.get("inline"),
            )
            for a in data["attachments"]
        )
        message = Message(
            subject=data["subject"],
            body=data["body"],
            body_type=BodyType(data["body_type"]),
            to=_parse_addresses(data["to"]),
            cc=_parse_addresses(data["cc"]),
            bcc=_parse_addresses(data["bcc"]),
            reply_to=_parse_addresses(data["reply_to"]),
            importance=Importance(data["importance"]) if data["importance"] else None,
            attachments=attachments,
        )
        return OutgoingMail(
            message, bool(meta["save_to_sent_items"]), meta.get("sender")
        )

    def update(self, item: OutboxItem) -> None:
        """Persist an item's delivery state (attempts, next try, last error)."""
        folder = self.root / item.folder_name
        if not folder.is_dir():
            return  # delivered or given up meanwhile
        meta = json.loads((folder / META_FILE).read_text())
        meta["item"] = asdict(item)
        staging = folder / f"{META_FILE}.tmp"
        _write_file(staging, json.dumps(meta).encode())
        staging.replace(folder / META_FILE)

    def delete(self, item: OutboxItem) -> None:
        """Delete the files of a message taken out of the queue."""
        folder = self.root / item.folder_name
        # Rename first: a crash during rmtree must not leave a half message
        # that would be sent again.
        trash = self.root / f".tmp-{item.id}"
        try:
            folder.rename(trash)
        except FileNotFoundError:
            return
        shutil.rmtree(trash, ignore_errors=True)

    def destroy(self) -> None:
        """Delete the whole outbox (the account was removed)."""
        self.items = []
        shutil.rmtree(self.root, ignore_errors=True)
