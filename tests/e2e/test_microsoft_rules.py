"""What Microsoft documents, end to end against an emulator as strict as it.

Upload sessions without a status GET, Outlook's per-app throttling (four
requests in flight, an upload budget), the 3 MB boundary read both ways, and a
size refusal in the middle of an upload.
"""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path
import time

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.const import CONF_MAX_MESSAGE_SIZE_MB, CONF_SOURCE
from emulator import Emulator
from emulator.directory import DEFAULT_TENANT_ID

from .conftest import MAILBOX, Clock, alert, received, requests, set_up

MIB = 1024 * 1024
OTHER = "ops@contoso.com"


def make_file(folder: Path, name: str, size: int) -> Path:
    """A file whose chunks all differ (a repeated or missed chunk changes its hash)."""
    path = folder / name
    seed = hashlib.sha256(name.encode()).digest()
    with path.open("wb") as file:
        written = 0
        counter = 0
        while written < size:
            block = hashlib.sha256(seed + counter.to_bytes(8, "big")).digest() * 2048
            file.write(block[: size - written])
            written += len(block[: size - written])
            counter += 1
    return path


@pytest.fixture
def share(hass: HomeAssistant, tmp_path: Path) -> Path:
    folder = tmp_path / "share"
    folder.mkdir()
    hass.config.allowlist_external_dirs = {str(folder)}
    return folder


def delivered_intact(emulator: Emulator, subject: str, source: Path) -> None:
    (message,) = received(emulator, subject)
    (attachment,) = message.attachments
    assert attachment.sha256 == hashlib.sha256(source.read_bytes()).hexdigest()


async def test_failed_chunk_is_resent_without_asking_the_session(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    account: MockConfigEntry,
    share: Path,
) -> None:
    """503 on a chunk: resent from the last successful answer; no GET at all."""
    video = make_file(share, "clip.mp4", 12 * MIB)
    emulator.add_fault("503", match="uploadChunk", count=1)
    await clock.run(alert(hass, "Clip", attachments=[str(video)]))
    delivered_intact(emulator, "Clip", video)
    assert requests(emulator, "uploadStatus") == []
    assert emulator.stats["operations"]["createUploadSession"] == 1
    statuses = [r["status"] for r in requests(emulator, "uploadChunk")]
    assert statuses.count(503) == 1


async def test_lost_chunk_answer_starts_a_fresh_session(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    account: MockConfigEntry,
    share: Path,
) -> None:
    """The chunk was stored but its answer lost: the position is unknown, so a
    new session uploads the file again (the first one is cancelled)."""
    video = make_file(share, "clip.mp4", 12 * MIB)
    emulator.add_fault("drop", match="uploadChunk", count=1, after_accept=True)
    await clock.run(alert(hass, "Clip", attachments=[str(video)]))
    delivered_intact(emulator, "Clip", video)
    assert requests(emulator, "uploadStatus") == []
    assert emulator.stats["operations"]["createUploadSession"] == 2
    assert emulator.stats["operations"]["cancelUpload"] >= 1


async def test_two_mailboxes_of_one_app_stay_within_four_requests(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, account: MockConfigEntry
) -> None:
    """The emulator counts per app, as Outlook's stricter page says: the
    accounts' shared limiter keeps both under four together, so none is
    throttled."""
    other = MockConfigEntry(
        domain="o365",
        title=OTHER,
        unique_id=f"{DEFAULT_TENANT_ID}:{OTHER}",
        data={**account.data, CONF_SOURCE: OTHER},
    )
    await set_up(hass, other)
    emulator.add_fault("latency", match="sendMail", count=-1, delay_ms=50)
    await clock.run(
        asyncio.gather(
            *(
                alert(hass, f"burst {mailbox} {n}", account=mailbox)
                for n in range(12)
                for mailbox in (MAILBOX, OTHER)
            )
        )
    )
    assert len([m for m in emulator.messages if m.subject.startswith("burst")]) == 24
    peaks = emulator.stats["max_in_flight_by_key"]
    assert peaks
    assert max(peaks.values()) == 4
    assert 429 not in [r["status"] for r in requests(emulator, "sendMail")]


async def test_upload_budget_wait_goes_to_the_outbox(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    account: MockConfigEntry,
    share: Path,
) -> None:
    """Outlook's 150 MB per 5 minutes: after a 110 MB attachment (the largest a
    150 MB message carries once encoded) a second large message is throttled
    with a wait longer than an action may take. It is not lost: the outbox
    honours Retry-After and delivers it once Home Assistant's clock has moved
    on by the whole window (five minutes, as Outlook's), with no real wait."""
    hass.config_entries.async_update_entry(
        account, options={CONF_MAX_MESSAGE_SIZE_MB: 150}
    )
    emulator.directory.tenant.max_message_size = 150 * MIB
    big = make_file(share, "big.bin", 110_000_000)
    second = make_file(share, "second.bin", 45_000_000)
    await clock.run(alert(hass, "first large", attachments=[str(big)]))
    delivered_intact(emulator, "first large", big)
    started = clock.moved
    # Queued, not raised: the wait is longer than an action may take.
    await clock.run(alert(hass, "second large", attachments=[str(second)]))
    queued = account.runtime_data.outbox.items
    assert [item.subject for item in queued] == ["second large"]
    assert queued[0].not_before > time.time() + 60
    throttled = [r for r in requests(emulator, "uploadChunk") if r["status"] == 429]
    assert throttled
    await clock.run_until(lambda: bool(received(emulator, "second large")))
    assert clock.moved - started > 200
    delivered_intact(emulator, "second large", second)
    assert emulator._state.store.drafts == {}


@pytest.mark.parametrize(("minimum", "uploaded"), [(2 * MIB, True), (3 * MIB, False)])
async def test_file_between_the_two_minimum_readings_is_delivered(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    account: MockConfigEntry,
    share: Path,
    minimum: int,
    uploaded: bool,
) -> None:
    """3.1 MB: an upload session where 2 MiB is the minimum; a POST of the
    attachment where the documented "3 MB" is."""
    emulator.settings.min_upload_size = minimum
    clip = make_file(share, "clip.mp4", 3_100_000)
    await clock.run(alert(hass, "Clip", attachments=[str(clip)]))
    delivered_intact(emulator, "Clip", clip)
    operations = emulator.stats["operations"]
    assert operations.get("addAttachment", 0) == (0 if uploaded else 1)
    assert bool(requests(emulator, "uploadChunk")) is uploaded


async def test_size_refused_in_the_middle_of_an_upload(
    clock: Clock,
    hass: HomeAssistant,
    emulator: Emulator,
    account: MockConfigEntry,
    share: Path,
) -> None:
    video = make_file(share, "clip.mp4", 12 * MIB)
    emulator.add_fault("size_exceeded", match="uploadChunk", count=1)
    with pytest.raises(HomeAssistantError) as info:
        await clock.run(alert(hass, "Too big after all", attachments=[str(video)]))
    assert info.value.translation_key == "message_size_exceeded"
    assert "ErrorMessageSizeExceeded" in str(info.value)
    assert received(emulator, "Too big after all") == []
    assert emulator._state.store.drafts == {}
    assert emulator._state.store.uploads == {}
