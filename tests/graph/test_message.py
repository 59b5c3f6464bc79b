"""Tests of the pure message builder."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from custom_components.o365.graph import (
    Attachment,
    BodyType,
    EmailAddress,
    Importance,
    Message,
)
from custom_components.o365.graph.message import (
    base64_size,
    is_email_address,
    is_object_id,
)


@pytest.mark.parametrize(
    ("text", "address", "name"),
    [
        ("alerts@contoso.com", "alerts@contoso.com", None),
        ("  o'brien+alerts@contoso.com ", "o'brien+alerts@contoso.com", None),
        ("Night Desk <desk@contoso.com>", "desk@contoso.com", "Night Desk"),
        ('"Doe, Jane" <jane@contoso.com>', "jane@contoso.com", "Doe, Jane"),
        ("<x@contoso.com>", "x@contoso.com", None),
    ],
)
def test_parse_address(text: str, address: str, name: str | None) -> None:
    parsed = EmailAddress.parse(text)
    assert parsed == EmailAddress(address, name)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "alerts",
        "alerts@",
        "@contoso.com",
        "a@b",
        "Name <alerts>",
        "a..b@c.com",
        "Name <a@b.com",
        "a b@c.com",
    ],
)
def test_parse_address_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="not an email address"):
        EmailAddress.parse(text)


def test_address_text_round_trip() -> None:
    assert str(EmailAddress("a@b.com", "A")) == "A <a@b.com>"
    assert str(EmailAddress("a@b.com")) == "a@b.com"
    assert is_email_address("a@b.com")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60", True),
        ("3F2D3A9E-6C1B-4F7E-8D2A-1B2C3D4E5F60", True),
        ("3f2d3a9e6c1b4f7e8d2a1b2c3d4e5f60", False),
        ("contoso.onmicrosoft.com", False),
    ],
)
def test_is_object_id(value: str, expected: bool) -> None:
    assert is_object_id(value) is expected


def test_message_to_graph_every_field() -> None:
    snapshot = b"\xff\xd8jpeg bytes\x00"
    message = Message(
        subject="Motion at the door",
        body='<p>Look: <img src="cid:camera.front_door"></p>',
        body_type=BodyType.HTML,
        to=(EmailAddress("a@contoso.com", "A"), EmailAddress("b@contoso.com")),
        cc=(EmailAddress("c@contoso.com"),),
        bcc=(EmailAddress("d@contoso.com"),),
        reply_to=(EmailAddress("ops@contoso.com", "Ops"),),
        importance=Importance.HIGH,
        attachments=(
            Attachment.from_bytes(
                "front.jpg", snapshot, "image/jpeg", "camera.front_door"
            ),
            Attachment.from_bytes("report.pdf", b"%PDF", "application/pdf"),
        ),
    )
    graph = orjson.loads(orjson.dumps(message.to_graph()))  # as Graph reads it
    assert graph["subject"] == "Motion at the door"
    assert graph["body"] == {"contentType": "html", "content": message.body}
    assert graph["toRecipients"] == [
        {"emailAddress": {"address": "a@contoso.com", "name": "A"}},
        {"emailAddress": {"address": "b@contoso.com"}},
    ]
    assert graph["ccRecipients"] == [{"emailAddress": {"address": "c@contoso.com"}}]
    assert graph["bccRecipients"] == [{"emailAddress": {"address": "d@contoso.com"}}]
    assert graph["replyTo"] == [
        {"emailAddress": {"address": "ops@contoso.com", "name": "Ops"}}
    ]
    assert graph["importance"] == "high"
    inline, pdf = graph["attachments"]
    assert inline == {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "front.jpg",
        "contentType": "image/jpeg",
        "contentBytes": base64.b64encode(snapshot).decode(),
        "isInline": True,
        "contentId": "camera.front_door",
    }
    assert pdf["isInline"] is False
    assert "contentId" not in pdf
    assert message.recipient_count == 4
    assert message.attachments_size == len(snapshot) + 4


def test_minimal_text_message() -> None:
    graph = Message(subject="s", body="b", to=(EmailAddress("a@b.com"),)).to_graph()
    assert graph == {
        "subject": "s",
        "body": {"contentType": "text", "content": "b"},
        "toRecipients": [{"emailAddress": {"address": "a@b.com"}}],
    }


def test_file_attachment_must_be_read_before_embedding(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x" * 10)
    attachment = Attachment("clip.mp4", "video/mp4", path, 10, "clip")
    with pytest.raises(TypeError):
        attachment.to_graph()
    assert attachment.to_upload_item() == {
        "attachmentType": "file",
        "name": "clip.mp4",
        "size": 10,
        "contentType": "video/mp4",
        "isInline": True,
        "contentId": "clip",
    }
    assert "contentId" not in Attachment("a", "b", path, 10).to_upload_item()


@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 100, 150_000])
def test_base64_size(size: int) -> None:
    assert base64_size(size) == len(base64.b64encode(b"x" * size))
