"""Tests of the outbox storage: durable, ordered, crash-safe."""

from __future__ import annotations

from pathlib import Path

import pytest

from custom_components.o365.graph import (
    Attachment,
    BodyType,
    EmailAddress,
    Importance,
    Message,
)
from custom_components.o365.models import OutgoingMail
from custom_components.o365.outbox import META_FILE, Outbox, OutboxItem


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The storage needs no Home Assistant."""


def put(
    outbox: Outbox,
    message: Message,
    *,
    save_to_sent_items: bool = True,
    reason: str = "x",
    now: float = 1.0,
    held: bool = False,
    sender: str | None = None,
) -> OutboxItem:
    """Store a message the way the sender does: number, write, add."""
    mail = OutgoingMail(message, save_to_sent_items, sender)
    item = outbox.new_item(mail, reason=reason, now=now, held=held)
    outbox.write(item, mail)
    outbox.add(item)
    return item


def message(tmp_path: Path, subject: str = "Motion") -> Message:
    clip = tmp_path / "clip.bin"
    clip.write_bytes(b"c" * 5000)
    return Message(
        subject=subject,
        body="<p>hi</p>",
        body_type=BodyType.HTML,
        to=(EmailAddress("a@contoso.com", "A"),),
        cc=(EmailAddress("c@contoso.com"),),
        bcc=(EmailAddress("b@contoso.com"),),
        reply_to=(EmailAddress("r@contoso.com", "R"),),
        importance=Importance.HIGH,
        attachments=(
            Attachment.from_bytes(
                "snap.jpg", b"\xff\xd8jpeg", "image/jpeg", "camera.x"
            ),
            Attachment("clip.bin", "application/octet-stream", clip, 5000),
        ),
    )


def test_round_trip_survives_a_restart(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    original = message(tmp_path)
    item = put(
        outbox,
        original,
        save_to_sent_items=False,
        reason="503",
        now=100.0,
        sender="shared@contoso.com",
    )
    (tmp_path / "clip.bin").unlink()  # the queued copy does not need the source

    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    assert [i.id for i in reloaded.items] == [item.id]
    assert reloaded.items[0].recipients == 3
    mail = reloaded.read(reloaded.items[0])
    assert mail.save_to_sent_items is False
    assert mail.sender == "shared@contoso.com"
    copy = mail.message
    assert copy.subject == original.subject
    assert copy.body_type is BodyType.HTML
    assert copy.to == original.to
    assert copy.cc == original.cc
    assert copy.bcc == original.bcc
    assert copy.reply_to == original.reply_to
    assert copy.importance is Importance.HIGH
    snap, clip = copy.attachments
    assert isinstance(snap.content, Path)
    assert snap.content.read_bytes() == b"\xff\xd8jpeg"
    assert snap.content_id == "camera.x"
    assert isinstance(clip.content, Path)
    assert clip.content.read_bytes() == b"c" * 5000
    assert reloaded.size == 5000 + 6


def test_order_and_removal(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    items = [put(outbox, message(tmp_path, f"m{n}"), now=n) for n in range(12)]
    assert outbox.take(items[3])
    outbox.delete(items[3])
    assert not outbox.take(items[3])  # a second drop does nothing
    outbox.delete(items[3])
    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    assert [i.subject for i in reloaded.items] == [f"m{n}" for n in range(12) if n != 3]
    assert len(reloaded) == 11


def test_update_persists_delivery_state(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    item = put(outbox, message(tmp_path))
    item.attempts = 3
    item.next_attempt = 99.0
    item.last_error = "GraphTransientError: 503"
    outbox.update(item)
    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    assert reloaded.items[0] == item


def test_interrupted_write_is_cleaned_and_loses_nothing(tmp_path: Path) -> None:
    """A crash mid-write leaves a .tmp folder: ignored and removed on load."""
    outbox = Outbox(tmp_path / "outbox")
    kept = put(outbox, message(tmp_path))
    half = tmp_path / "outbox" / ".tmp-deadbeef"
    half.mkdir()
    (half / "0.bin").write_bytes(b"partial")
    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    assert [i.id for i in reloaded.items] == [kept.id]
    assert not half.exists()


def test_failed_write_leaves_no_trace(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    broken = Attachment("gone.bin", "x", tmp_path / "missing.bin", 10)
    with pytest.raises(FileNotFoundError):
        put(outbox, Message("s", "b", attachments=(broken,)))
    assert len(outbox) == 0
    assert list((tmp_path / "outbox").iterdir()) == []


def test_file_changed_while_queued(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    source = tmp_path / "grows.bin"
    source.write_bytes(b"12345")
    with pytest.raises(OSError, match="changed"):
        put(outbox, Message("s", "b", attachments=(Attachment("g", "x", source, 3),)))


def test_unreadable_message_is_set_aside(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    outbox = Outbox(tmp_path / "outbox")
    good = put(outbox, message(tmp_path))
    bad = put(outbox, message(tmp_path, "bad"), now=2)
    (tmp_path / "outbox" / bad.folder_name / META_FILE).write_text("{not json")
    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    assert [i.id for i in reloaded.items] == [good.id]
    assert (tmp_path / "outbox" / f".unreadable-{bad.folder_name}").is_dir()
    assert "unreadable" in caplog.text


def test_missing_folder_is_an_empty_outbox(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "nothing")
    outbox.load()
    assert outbox.loaded
    assert len(outbox) == 0
    outbox.destroy()
    assert not (tmp_path / "nothing").exists()


def test_sequence_numbers_are_unique_and_survive_a_restart(tmp_path: Path) -> None:
    """Numbers are handed out in call order, before any file is written."""
    outbox = Outbox(tmp_path / "outbox")
    a, c = OutgoingMail(Message("a", "b"), True), OutgoingMail(Message("c", "d"), True)
    first = outbox.new_item(a, reason="x", now=1)
    second = outbox.new_item(c, reason="x", now=1)
    # Written (and added) in the opposite order: the queue keeps the numbers.
    outbox.write(second, c)
    outbox.add(second)
    outbox.write(first, a)
    outbox.add(first)
    assert [i.subject for i in outbox.items] == ["a", "c"]
    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    assert [i.subject for i in reloaded.items] == ["a", "c"]
    e = OutgoingMail(Message("e", "f"), True)
    assert reloaded.new_item(e, reason="x", now=1).sequence == 3


def test_update_of_a_delivered_message_is_ignored(tmp_path: Path) -> None:
    outbox = Outbox(tmp_path / "outbox")
    item = put(outbox, message(tmp_path))
    outbox.take(item)
    outbox.delete(item)
    item.attempts = 9
    outbox.update(item)
    assert not (tmp_path / "outbox" / item.folder_name).exists()


def test_held_and_queued_alerts_are_told_apart(tmp_path: Path) -> None:
    """Alerts held for a digest stay held across a restart, grouped by recipients."""
    outbox = Outbox(tmp_path / "outbox")
    to_a = Message("a", "b", to=(EmailAddress("a@contoso.com"),))
    to_b = Message("c", "d", to=(EmailAddress("b@contoso.com"),))
    failed = put(outbox, to_a)
    held = put(outbox, to_a, held=True, now=2)
    other = put(outbox, to_b, held=True, now=3)
    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    assert [i.id for i in reloaded.queued] == [failed.id]
    assert [i.id for i in reloaded.held] == [held.id, other.id]
    assert reloaded.held[0].group == failed.group != reloaded.held[1].group


def test_items_of_the_first_format_still_load(tmp_path: Path) -> None:
    """Alerts queued before an upgrade (format 1) are delivered after it."""
    import json

    outbox = Outbox(tmp_path / "outbox")
    item = put(outbox, message(tmp_path))
    meta_file = tmp_path / "outbox" / item.folder_name / META_FILE
    meta = json.loads(meta_file.read_text())
    for key in ("recipients", "held", "group"):
        del meta["item"][key]
    meta["version"] = 1
    del meta["sender"]
    meta_file.write_text(json.dumps(meta))
    reloaded = Outbox(tmp_path / "outbox")
    reloaded.load()
    (old,) = reloaded.items
    assert old.held is False
    mail = reloaded.read(old)
    assert mail.sender is None
    assert mail.message.subject == "Motion"
