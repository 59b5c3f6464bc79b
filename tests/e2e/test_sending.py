"""Set up and send through the emulator over real HTTPS: sign-in, snapshots, uploads."""

from __future__ import annotations

import hashlib
from pathlib import Path

from homeassistant import config_entries
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.const import DOMAIN
from emulator import Emulator
from emulator.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_DOMAINS,
    DEFAULT_TENANT_ID,
)

from .conftest import FRONT_DOOR_JPEG, MAILBOX, Clock, alert, received, requests

MIB = 1024 * 1024


async def test_config_flow_signs_in_with_msal(
    clock: Clock, hass: HomeAssistant, emulator: Emulator
) -> None:
    """The credentials form proves the app with a real MSAL sign-in, then sends."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": config_entries.SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "credentials"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            "source": MAILBOX,
            # A verified domain: the entry's unique ID uses the token's tenant GUID.
            "tenant_id": DEFAULT_DOMAINS[0],
            "client_id": DEFAULT_CLIENT_ID,
            # "?@/%+#&= " inside: it reaches the token endpoint byte for byte.
            "client_secret": DEFAULT_CLIENT_SECRET,
            "cloud": "global",
            "send_test_email": True,
        },
    )
    await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY, result
    entry = result["result"]
    assert entry.unique_id == f"{DEFAULT_TENANT_ID}:{MAILBOX}"
    assert entry.title == MAILBOX
    assert entry.state is ConfigEntryState.LOADED
    # MSAL read the tenant's OpenID configuration and got app-only tokens.
    operations = emulator.stats["operations"]
    assert operations["openid"] >= 1
    assert all(r["status"] == 200 for r in requests(emulator, "token"))
    assert emulator.stats["tokens_issued"] >= 1
    (test_email,) = emulator.messages
    assert test_email.mailbox.address == MAILBOX
    assert test_email.recipients("toRecipients") == [
        {"emailAddress": {"address": MAILBOX}}
    ]

    tokens_before = emulator.stats["tokens_issued"]
    await clock.run(
        alert(hass, "Water leak in the kitchen", "The leak sensor turned on.")
    )
    (message,) = received(emulator, "Water leak in the kitchen")
    assert message.body == {
        "contentType": "text",
        "content": "The leak sensor turned on.",
    }
    assert message.recipients("toRecipients") == [
        {"emailAddress": {"address": MAILBOX}}
    ]
    assert message.save_to_sent_items is True
    assert emulator.stats["tokens_issued"] == tokens_before  # the token is reused


async def test_snapshot_alert(
    hass: HomeAssistant, emulator: Emulator, account: MockConfigEntry, front_door: str
) -> None:
    """An HTML alert carries the camera's JPEG inline as cid:camera.front_door."""
    await alert(
        hass,
        "Motion at the front door",
        "<h2>Motion at the front door</h2>",
        html=True,
        importance="high",
        cameras=[front_door],
    )

    (message,) = received(emulator, "Motion at the front door")
    assert message.via == "sendMail"
    assert message.message["importance"] == "high"
    assert message.body["contentType"] == "html"
    assert message.body["content"].startswith("<h2>Motion at the front door</h2>")
    assert '<img src="cid:camera.front_door"' in message.body["content"]
    (snapshot,) = message.attachments
    assert snapshot.is_inline is True
    assert snapshot.content_id == front_door
    assert snapshot.content_type == "image/jpeg"
    assert snapshot.name.endswith(".jpg")
    jpeg = FRONT_DOOR_JPEG.read_bytes()
    assert emulator.attachment_bytes(message.id, 0) == jpeg
    assert snapshot.sha256 == hashlib.sha256(jpeg).hexdigest()


async def test_20_mb_attachment_goes_through_an_upload_session(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    account: MockConfigEntry,
    tmp_path: Path,
) -> None:
    """A 20 MB file: a draft, 4 MB-bounded chunks without a token, then send."""
    share = tmp_path / "share"
    share.mkdir()
    video = share / "driveway.mp4"
    # Not all zeroes, so a chunk sent twice or out of order changes the hash.
    block = hashlib.sha256(b"driveway").digest() * (MIB // 32)
    video.write_bytes(b"".join(bytes([n]) + block[1:] for n in range(20)))
    assert video.stat().st_size == 20 * MIB
    hass.config.allowlist_external_dirs = {str(share)}

    await clock.run(
        alert(hass, "Car in the driveway", "Clip attached.", attachments=[str(video)])
    )

    (message,) = received(emulator, "Car in the driveway")
    assert message.via == "draft"
    (attachment,) = message.attachments
    assert attachment.name == "driveway.mp4"
    assert attachment.content_type == "video/mp4"
    assert attachment.size == 20 * MIB
    assert attachment.sha256 == hashlib.sha256(video.read_bytes()).hexdigest()
    assert emulator.attachment_bytes(message.id, 0) == video.read_bytes()

    operations = emulator.stats["operations"]
    assert operations["createDraft"] == 1
    assert operations["createUploadSession"] == 1
    assert operations["sendDraft"] == 1
    assert operations.get("sendMail", 0) == 0
    chunks = requests(emulator, "uploadChunk")
    assert len(chunks) == 6  # 20 MiB in chunks of 3,932,160 bytes
    assert all(chunk["status"] in (200, 201) for chunk in chunks)
    assert not any(chunk["authorization"] for chunk in chunks)
    assert chunks[0]["content_range"] == f"bytes 0-3932159/{20 * MIB}"
    assert chunks[-1]["content_range"].endswith(f"-{20 * MIB - 1}/{20 * MIB}")
