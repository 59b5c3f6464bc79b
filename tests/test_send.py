"""The one send path: from which mailbox, what a mailbox accepts, what waits."""

from __future__ import annotations

from pathlib import Path

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)

from custom_components.o365.const import (
    CONF_FROM_MAILBOX,
    CONF_QUEUE_ON_FAILURE,
    EVENT_MESSAGE_QUEUED,
    EVENT_MESSAGE_SENT,
)

from .conftest import (
    MAILBOX,
    TENANT_ID,
    Clock,
    DelegatedEntra,
    GraphMock,
    scope_names_of,
    set_up,
    signed_in_entry,
)

SHARED = "alerts-shared@contoso.com"
WORK_USER = "ops@contoso.com"


async def notify(hass: HomeAssistant, **data: object) -> None:
    await hass.services.async_call(
        "notify",
        "o365",
        {"message": "m", "title": "t", "data": data} if data else {"message": "m"},
        blocking=True,
    )


async def test_from_sends_as_another_mailbox(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """``from`` names the mailbox in the path: /users/{from}/sendMail."""
    graph_mock.send_mail(SHARED)
    await notify(hass, **{"from": SHARED})
    assert len(graph_mock.sent(SHARED)) == 1
    assert graph_mock.sent(MAILBOX) == []


async def test_from_without_send_as_rights_says_so(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    graph_mock.send_mail(SHARED, status=403, code="ErrorSendAsDenied")
    with pytest.raises(HomeAssistantError) as info:
        await notify(hass, **{"from": SHARED})
    assert info.value.translation_key == "send_as_denied"
    assert "ErrorSendAsDenied" in str(info.value)


async def test_from_must_be_an_address(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, **{"from": "the shared one"})
    assert info.value.translation_key == "invalid_data"
    assert "is not a mailbox address (from)" in str(info.value)


@pytest.fixture
def work_user(graph_mock: GraphMock) -> DelegatedEntra:
    """A work account of the tenant, signed in (delegated)."""
    return DelegatedEntra(graph_mock, tenant=TENANT_ID, user=WORK_USER, tid=TENANT_ID)


async def test_signed_in_account_sends_from_its_shared_mailbox(
    hass: HomeAssistant, graph_mock: GraphMock, work_user: DelegatedEntra
) -> None:
    """Option from_mailbox: Mail.Send.Shared is asked for, the shared path used
    (microsoft-graph-docs-contrib concepts/outlook-send-mail-from-other-user.md)."""
    graph_mock.send_mail(SHARED)
    entry = signed_in_entry(work_user)
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options={CONF_FROM_MAILBOX: SHARED})
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    await notify(hass)
    (body,) = graph_mock.sent(SHARED)
    # To the signed-in account's own address by default.
    assert body["message"]["toRecipients"] == [{"emailAddress": {"address": WORK_USER}}]
    (grant,) = [g for g in work_user.grants if g["grant_type"] == ["refresh_token"]]
    assert "Mail.Send.Shared" in scope_names_of(grant["scope"][0])


async def test_outlook_com_takes_25_mb_of_attachments(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    tmp_path: Path,
) -> None:
    """Refused before anything is uploaded, with Outlook.com's own limit."""
    await set_up(hass, signed_in_entry(delegated))
    share = tmp_path / "share"
    share.mkdir()
    hass.config.allowlist_external_dirs = {str(share)}
    clips = []
    for name in ("a.mp4", "b.mp4"):
        clip = share / name
        with clip.open("wb") as file:
            file.truncate(13_000_000)
        clips.append(str(clip))
    requests_before = len(graph_mock.mocked.requests)
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, attachments=clips)
    assert info.value.translation_key == "personal_attachments_too_large"
    assert "25 MB" in str(info.value)
    assert len(graph_mock.mocked.requests) == requests_before


async def test_submission_quota_keeps_the_alert(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
) -> None:
    """ErrorSubmissionQuotaExceeded is temporary (its HTTP status is not
    documented): the alert waits in the outbox and goes later."""
    graph_mock.mocked.clear()
    graph_mock.sign_in()
    graph_mock.send_mail(status=403, code="ErrorSubmissionQuotaExceeded", repeat=False)
    graph_mock.send_mail()
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    await clock.run(notify(hass))
    assert [event.data["reason"] for event in queued] == [
        "ErrorSubmissionQuotaExceeded"
    ]
    await clock.run_until(lambda: bool(sent))
    assert sent[0].data["queued"] is True


async def test_submission_quota_without_the_outbox_is_explained(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(status=429, code="ErrorSubmissionQuotaExceeded")
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_QUEUE_ON_FAILURE: False}
    )
    await set_up(hass, config_entry)
    with pytest.raises(HomeAssistantError) as info:
        await clock.run(notify(hass))
    assert info.value.translation_key == "submission_quota"
    assert "submission quota" in str(info.value)
