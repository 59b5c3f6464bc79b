"""Tests of message composition: media-source items, images, HTML, clean-up."""

from __future__ import annotations

import base64
from pathlib import Path

from homeassistant.components.image import ImageEntity
from homeassistant.components.media_source import PlayMedia
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    setup_test_component_platform,
)

from custom_components.o365.compose import _with_inline_images
from custom_components.o365.graph import Attachment

from .conftest import JPEG, GraphMock


async def notify(hass: HomeAssistant, **data: object) -> None:
    await hass.services.async_call("notify", "o365", data, blocking=True)


class FloorPlan(ImageEntity):
    """An image entity with fixed content."""

    _attr_name = "Floor plan"
    _attr_content_type = "image/png"

    def __init__(self, hass: HomeAssistant, content: bytes | None) -> None:
        super().__init__(hass)
        self._content = content

    async def async_image(self) -> bytes | None:
        return self._content


@pytest.fixture
async def media(hass: HomeAssistant, tmp_path: Path) -> Path:
    folder = tmp_path / "media"
    folder.mkdir()
    (folder / "clips").mkdir()
    (folder / "clips" / "door bell.mp4").write_bytes(b"\x00\x00\x00 ftypmp42")
    hass.config.media_dirs = {"local": str(folder)}
    hass.config.allowlist_external_dirs = {str(folder)}
    assert await async_setup_component(hass, "media_source", {})
    return folder


async def test_camera_as_media_source_is_inline(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
) -> None:
    await notify(
        hass,
        message='<img src="cid:camera.front_door">',
        data={
            "html": True,
            "attachments": [
                {"media_content_id": "media-source://camera/camera.front_door"}
            ],
        },
    )
    (body,) = graph_mock.sent()
    (snapshot,) = body["message"]["attachments"]
    assert snapshot["contentId"] == "camera.front_door"
    assert snapshot["isInline"] is True
    assert base64.b64decode(snapshot["contentBytes"]) == JPEG


async def test_image_entity_as_media_source(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    setup_test_component_platform(
        hass, "image", [FloorPlan(hass, b"\x89PNG plan"), FloorPlan(hass, None)]
    )
    assert await async_setup_component(hass, "image", {"image": {"platform": "test"}})
    await hass.async_block_till_done()
    await notify(
        hass,
        message="plan",
        data={"html": True, "attachments": ["media-source://image/image.floor_plan"]},
    )
    await notify(
        hass,
        message="plan as a file",
        data={"attachments": ["media-source://image/image.floor_plan"]},
    )
    html_body, text_body = graph_mock.sent()
    (plan,) = html_body["message"]["attachments"]
    assert plan["contentType"] == "image/png"
    assert plan["contentId"] == "image.floor_plan"
    assert plan["isInline"] is True
    assert 'src="cid:image.floor_plan"' in html_body["message"]["body"]["content"]
    assert base64.b64decode(plan["contentBytes"]) == b"\x89PNG plan"
    # A text email cannot show an inline image: it becomes an ordinary file.
    (as_file,) = text_body["message"]["attachments"]
    assert as_file["isInline"] is False
    assert "contentId" not in as_file
    for missing in ("image.floor_plan_2", "image.nothing"):
        with pytest.raises(ServiceValidationError) as info:
            await notify(
                hass,
                message="x",
                data={"attachments": [f"media-source://image/{missing}"]},
            )
        assert info.value.translation_key == "camera_failed"


async def test_local_media_file(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    media: Path,
) -> None:
    await notify(
        hass,
        message="clip",
        data={
            "attachments": [
                {
                    "media_content_id": "media-source://media_source/local/clips/door bell.mp4",
                    "media_content_type": "video/mp4",
                }
            ]
        },
    )
    (body,) = graph_mock.sent()
    (clip,) = body["message"]["attachments"]
    assert clip["name"] == "door bell.mp4"
    assert clip["contentType"] == "video/mp4"
    assert base64.b64decode(clip["contentBytes"]) == b"\x00\x00\x00 ftypmp42"


@pytest.mark.parametrize(
    "media_id",
    [
        "media-source://media_source/local/clips/missing.mp4",
        "media-source://media_source/local/../secrets.yaml",
        "media-source://nowhere/x",
    ],
)
async def test_invalid_media_is_refused(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    media: Path,
    media_id: str,
) -> None:
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"attachments": [media_id]})
    assert info.value.translation_key in ("invalid_media", "file_not_found")
    assert graph_mock.sent() == []


async def test_media_resolved_to_an_url_is_downloaded(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    media: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A media source that resolves to an http(s) URL (e.g. a cloud source)."""

    async def resolve(hass: HomeAssistant, media_id: str, target: object) -> PlayMedia:
        if media_id.endswith("relative"):
            return PlayMedia("/api/tts_proxy/abc.mp3", "audio/mpeg")
        return PlayMedia("https://cdn.example.com/sound.mp3?sig=1", "audio/mpeg")

    monkeypatch.setattr(
        "custom_components.o365.compose.media_source.async_resolve_media", resolve
    )
    graph_mock.mocked.get("https://cdn.example.com/sound.mp3?sig=1", body=b"ID3")
    await notify(
        hass, message="x", data={"attachments": ["media-source://cloud/sound"]}
    )
    (body,) = graph_mock.sent()
    (sound,) = body["message"]["attachments"]
    assert sound["name"] == "sound.mp3"
    assert base64.b64decode(sound["contentBytes"]) == b"ID3"
    with pytest.raises(ServiceValidationError) as info:
        await notify(
            hass, message="x", data={"attachments": ["media-source://tts/relative"]}
        )
    assert info.value.translation_key == "invalid_media"


def test_snapshots_go_before_the_closing_body_tag() -> None:
    snapshot = Attachment.from_bytes("s.jpg", b"x", "image/jpeg", "camera.a")
    html = "<html><body><p>Hi</p></BODY></html>"
    assert _with_inline_images(html, [snapshot]) == (
        '<html><body><p>Hi</p><p><img src="cid:camera.a" alt="camera.a"></p></BODY></html>'
    )
    assert _with_inline_images(html, []) == html
    # Inline parts that are not images are left alone.
    pdf = Attachment.from_bytes("a.pdf", b"%PDF", "application/pdf", "doc")
    assert _with_inline_images(html, [pdf]) == html


async def test_small_files_are_read_when_the_action_runs(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    tmp_path: Path,
) -> None:
    """Like a snapshot: a file rewritten a moment later does not change the alert."""
    from custom_components.o365.compose import READ_AT_CALL_UP_TO, async_compose
    from custom_components.o365.request import AttachmentSpec, MailRequest
    from custom_components.o365.send import async_recipients

    hass.config.allowlist_external_dirs = {str(tmp_path)}
    small = tmp_path / "door.jpg"
    small.write_bytes(JPEG)
    big = tmp_path / "clip.mp4"
    big.write_bytes(b"v" * (READ_AT_CALL_UP_TO + 1))
    request = MailRequest(
        message="m",
        attachments=(AttachmentSpec(path=str(small)), AttachmentSpec(path=str(big))),
    )
    account = init_integration.runtime_data
    composition = await async_compose(
        hass,
        request,
        to=await async_recipients(account),
        save_to_sent_items=account.options.save_to_sent_items,
    )
    small.write_bytes(b"a newer picture")
    door, clip = composition.mail.message.attachments
    assert door.content == JPEG
    assert clip.content == big  # streamed from the file when sent
    await composition.async_cleanup(hass)
