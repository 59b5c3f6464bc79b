"""Digests: what one says, and how held alerts reach one whatever happens."""

from __future__ import annotations

from pathlib import Path

import aiohttp
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.o365.const import (
    CONF_DAILY_RECIPIENT_LIMIT,
    EVENT_DIGEST_SENT,
    EVENT_MESSAGE_DROPPED,
)
from custom_components.o365.digest import (
    DIGEST_MAX_INTERVAL,
    DIGEST_MIN_INTERVAL,
    MAX_SUBJECT,
    body_text,
    compose_digest,
)
from custom_components.o365.graph import (
    Attachment,
    BodyType,
    EmailAddress,
    Importance,
    Message,
    MessageLimits,
)
from custom_components.o365.models import OutgoingMail
from custom_components.o365.outbox import OutboxItem

from .conftest import MAILBOX, Clock, GraphMock

TO = (EmailAddress("desk@example.com", "Night Desk"),)


def held(
    subject: str,
    body: str = "b",
    *,
    at: float = 0.0,
    html: bool = False,
    importance: Importance | None = None,
    attachments: tuple[Attachment, ...] = (),
) -> tuple[OutboxItem, OutgoingMail]:
    mail = OutgoingMail(
        Message(
            subject=subject,
            body=body,
            body_type=BodyType.HTML if html else BodyType.TEXT,
            to=TO,
            importance=importance,
            attachments=attachments,
        ),
        save_to_sent_items=False,
    )
    item = OutboxItem(
        id=subject, sequence=1, subject=subject, size=0, queued_at=at, reason="x"
    )
    return item, mail


def test_html_bodies_are_listed_as_text() -> None:
    message = Message(
        subject="s",
        body="<style>p{}</style><p>Door <b>open</b></p><script>x()</script><br>now",
        body_type=BodyType.HTML,
    )
    assert body_text(message) == "Door open now"
    assert body_text(Message("s", "  two\n lines ")) == "two lines"


def test_identical_alerts_are_listed_once_with_a_count() -> None:
    start = dt_util.utcnow().timestamp()
    entries = [
        held("Front door", "Opened.", at=start),
        held("Motion", "<p>Hall</p>", at=start + 1, html=True),
        held("Front door", "Opened.", at=start + 65),
        held("Smoke", "Kitchen", at=start + 70, importance=Importance.HIGH),
    ]
    digest = compose_digest(entries, MessageLimits(), 300)
    message = digest.message
    assert message.subject == "4 alerts: Front door, Motion, Smoke"
    assert message.to == TO
    assert message.importance is Importance.HIGH
    assert message.body_type is BodyType.HTML
    assert message.body.count("Front door") == 1
    assert "(2 times)" in message.body
    assert "Hall" in message.body
    assert "<b>Smoke</b>" in message.body
    assert " to " in message.body  # the identical alerts' first and last time
    assert "budget of 300 recipients a day" in message.body
    assert (
        "(PST)" in message.body
    )  # the zone of the times (the test instance is in US/Pacific)


def test_long_subjects_are_cut() -> None:
    entries = [held(f"Alert with a long title number {n}") for n in range(30)]
    subject = compose_digest(entries, MessageLimits(), 300).message.subject
    assert len(subject) <= MAX_SUBJECT
    assert subject.endswith("…")


def test_latest_picture_per_camera_and_what_fits(tmp_path: Path) -> None:
    """Each camera's latest snapshot, inline; files while the size allows."""
    old = Attachment.from_bytes("old.jpg", b"1" * 10, "image/jpeg", "camera.door")
    new = Attachment("new.jpg", "image/jpeg", b"2" * 10, 10, "camera.door", False)
    yard = Attachment.from_bytes("yard.jpg", b"3" * 10, "image/jpeg", "camera.yard")
    big = Attachment("big.bin", "application/pdf", tmp_path, 3_000_000)
    entries = [
        held("a", attachments=(old, yard)),
        held("b", attachments=(new, big)),
    ]
    digest = compose_digest(entries, MessageLimits(max_message_size=1_000_000), 300)
    pictures = digest.message.attachments
    assert [(p.name, p.is_inline) for p in pictures] == [
        ("new.jpg", True),
        ("yard.jpg", True),
    ]
    body = digest.message.body
    assert 'src="cid:camera.door"' in body
    assert "camera.door, latest picture (" in body
    assert "camera.yard, latest picture (" in body
    # The older snapshot of camera.door is replaced, not missing: only the
    # file that is over the size limit is said to be left out.
    assert "1 attached file of these alerts is not included" in body


def test_files_that_do_not_fit_are_counted(tmp_path: Path) -> None:
    big = [Attachment(f"{n}.bin", "application/pdf", tmp_path, 3_000_000) for n in "ab"]
    entries = [held("a", attachments=(big[0],)), held("b", attachments=(big[1],))]
    digest = compose_digest(entries, MessageLimits(max_message_size=1_000_000), 300)
    assert digest.message.attachments == ()
    assert "2 attached files of these alerts are not included" in digest.message.body


def test_no_note_when_everything_fits() -> None:
    door = Attachment.from_bytes("d.jpg", b"1" * 10, "image/jpeg", "camera.door")
    entries = [held("a", attachments=(door,)), held("b", attachments=(door,))]
    body = compose_digest(entries, MessageLimits(), 300).message.body
    assert "not included" not in body
    assert body.count("<img ") == 1


# -- the scheduler, against a mocked Graph ----------------------------------------------


@pytest.fixture
async def small_budget(
    hass: HomeAssistant, graph_mock: GraphMock, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """A work account allowed 10 recipients a day (1 an hour on their own)."""
    graph_mock.sign_in()
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_DAILY_RECIPIENT_LIMIT: 10}
    )
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


async def storm(clock: Clock, hass: HomeAssistant, count: int) -> None:
    for number in range(count):
        await clock.run(
            hass.services.async_call(
                "notify",
                "o365",
                {"message": f"body {number}", "title": f"alert {number}"},
                blocking=True,
            )
        )


def sent_subjects(graph_mock: GraphMock) -> list[str]:
    return [body["message"]["subject"] for body in graph_mock.sent()]


async def test_the_digest_waits_for_its_time(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    small_budget: MockConfigEntry,
) -> None:
    """Held alerts go out when Home Assistant's clock reaches the digest, not before."""
    graph_mock.send_mail()
    digests = async_capture_events(hass, EVENT_DIGEST_SENT)
    await storm(clock, hass, 5)
    assert sent_subjects(graph_mock) == ["alert 0"]
    scheduler = small_budget.runtime_data.digests
    assert scheduler.active
    due = scheduler.next_digest
    assert due is not None
    wait = due - dt_util.utcnow().timestamp()
    # 8 recipients left today for 1 a digest: a day spread over 8, capped.
    assert DIGEST_MIN_INTERVAL <= wait <= DIGEST_MAX_INTERVAL
    await clock.tick(wait - 1)
    assert len(graph_mock.sent()) == 1
    await clock.tick(2)
    assert sent_subjects(graph_mock) == [
        "alert 0",
        "4 alerts: alert 1, alert 2, alert 3, alert 4",
    ]
    (event,) = digests
    assert event.data == {
        "account": MAILBOX,
        "alerts": 4,
        "recipients": 1,
        "queued": False,
    }
    # Nothing held any more: the storm is over.
    await clock.run_until(lambda: scheduler.next_digest is None)
    assert not scheduler.active


async def test_a_digest_graph_cannot_take_now_is_queued(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    small_budget: MockConfigEntry,
) -> None:
    graph_mock.send_mail(repeat=False)
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError(), repeat=False)
    for _ in range(3):
        graph_mock.send_mail(status=503, repeat=False)
    graph_mock.send_mail()
    digests = async_capture_events(hass, EVENT_DIGEST_SENT)
    await storm(clock, hass, 3)
    await clock.run_until(lambda: bool(digests), limit=86400)
    assert digests[0].data["queued"] is True
    outbox = small_budget.runtime_data.outbox
    assert [item.subject for item in outbox.queued] == ["2 alerts: alert 1, alert 2"]
    assert outbox.held == []
    await clock.run_until(lambda: not outbox.items, limit=86400)
    assert sent_subjects(graph_mock)[-1] == "2 alerts: alert 1, alert 2"


async def test_a_refused_digest_drops_its_alerts_and_says_so(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    small_budget: MockConfigEntry,
) -> None:
    graph_mock.send_mail(repeat=False)
    graph_mock.send_mail(status=400, code="ErrorInvalidRecipients")
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    await storm(clock, hass, 3)
    await clock.run_until(lambda: len(dropped) == 2, limit=86400)
    assert {event.data["subject"] for event in dropped} == {"alert 1", "alert 2"}
    assert all("digest refused" in event.data["reason"] for event in dropped)
    assert not small_budget.runtime_data.outbox.items


async def test_a_spent_budget_holds_the_digest_until_room_frees_up(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    small_budget: MockConfigEntry,
) -> None:
    """Ten recipients sent already: the digest waits for the oldest to age out."""
    graph_mock.send_mail()
    account = small_budget.runtime_data
    account.budget.record(10)
    await storm(clock, hass, 2)
    assert graph_mock.sent() == []
    due = account.digests.next_digest
    assert due is not None
    await clock.tick(due - dt_util.utcnow().timestamp() + 1)
    # No room when it was due: it waits for the sends to turn a day old.
    assert graph_mock.sent() == []
    due = account.digests.next_digest
    assert due is not None
    assert due - dt_util.utcnow().timestamp() > 12 * 3600
    await clock.run_until(lambda: bool(graph_mock.sent()), limit=2 * 86400)
    assert sent_subjects(graph_mock) == ["2 alerts: alert 0, alert 1"]


async def test_unreadable_held_alert_is_dropped_the_rest_goes(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    small_budget: MockConfigEntry,
) -> None:
    graph_mock.send_mail()
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    await storm(clock, hass, 3)
    outbox = small_budget.runtime_data.outbox
    first = outbox.held[0]
    (outbox.root / first.folder_name / "message.json").unlink()
    await clock.run_until(lambda: len(graph_mock.sent()) == 2, limit=86400)
    assert dropped[0].data["subject"] == first.subject
    assert dropped[0].data["reason"].startswith("unreadable")
    assert sent_subjects(graph_mock)[-1] == "1 alerts: alert 2"


async def test_held_alerts_of_different_recipients_get_a_digest_each(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    small_budget: MockConfigEntry,
) -> None:
    graph_mock.send_mail()
    await storm(clock, hass, 1)
    for target in ("a@example.com", "b@example.com", "a@example.com"):
        await hass.services.async_call(
            "notify",
            "o365",
            {"message": "m", "title": f"to {target}", "target": [target]},
            blocking=True,
        )
    await clock.run_until(lambda: len(graph_mock.sent()) == 3, limit=86400)
    digests = {
        body["message"]["toRecipients"][0]["emailAddress"]["address"]: body["message"][
            "subject"
        ]
        for body in graph_mock.sent()[1:]
    }
    assert digests == {
        "a@example.com": "2 alerts: to a@example.com",
        "b@example.com": "1 alerts: to b@example.com",
    }
