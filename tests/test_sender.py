"""The sender: now, through the backup account (failover, its limits), or later."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from aioresponses import CallbackResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.exceptions import HomeAssistantError
from homeassistant.setup import async_setup_component
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator
from yarl import URL

from custom_components.o365.const import (
    CONF_BACKUP_ACCOUNT,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_SOURCE,
    DOMAIN,
    EVENT_MESSAGE_DROPPED,
    EVENT_MESSAGE_QUEUED,
    EVENT_MESSAGE_SENT,
)

from .conftest import (
    CLIENT_SECRET,
    ENTRY_DATA,
    LOGIN,
    MAILBOX,
    TENANT_ID,
    Clock,
    GraphMock,
    entra_error,
    make_jwt,
)

BACKUP = "ops@contoso.com"
THIRD = "desk@contoso.com"
BACKUP_CLIENT = "9d1c2b3a-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
BACKUP_SECRET = "backup app secret"


class TwoApps:
    """The token endpoint of two app registrations; the primary's secret may expire."""

    def __init__(self, graph_mock: GraphMock) -> None:
        self.primary_expired = False
        graph_mock.openid()
        graph_mock.mocked.post(
            f"{LOGIN}/{TENANT_ID}/oauth2/v2.0/token", callback=self._token, repeat=True
        )
        graph_mock.application(status=403, code="Authorization_RequestDenied")
        graph_mock.application(
            status=403, code="Authorization_RequestDenied", client_id=BACKUP_CLIENT
        )

    def _token(self, url: URL, **kwargs: Any) -> CallbackResult:
        form = parse_qs(kwargs["data"].decode())
        if form["client_secret"] == [CLIENT_SECRET] and self.primary_expired:
            return entra_error("invalid_client", 7000222, status=401)
        return CallbackResult(payload={"access_token": make_jwt(), "expires_in": 3599})


def entry(mailbox: str, backup: str | None = None, **data: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=mailbox,
        unique_id=f"{TENANT_ID}:{mailbox}",
        data={**ENTRY_DATA, CONF_SOURCE: mailbox, **data},
        options={CONF_BACKUP_ACCOUNT: backup} if backup else {},
    )


async def set_up(hass: HomeAssistant, *entries: MockConfigEntry) -> None:
    for item in entries:
        item.add_to_hass(hass)
        await hass.config_entries.async_setup(item.entry_id)
    await hass.async_block_till_done()


async def alert(hass: HomeAssistant, subject: str, account: str = MAILBOX) -> None:
    await hass.services.async_call(
        "notify",
        "o365",
        {"title": subject, "message": "m", "data": {"account": account}},
        blocking=True,
    )


def sent_by(graph_mock: GraphMock, mailbox: str) -> list[str]:
    return [body["message"]["subject"] for body in graph_mock.sent(mailbox)]


@pytest.fixture
def apps(graph_mock: GraphMock) -> TwoApps:
    return TwoApps(graph_mock)


async def test_healthy_primary_costs_no_extra_request(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, apps: TwoApps
) -> None:
    graph_mock.send_mail()
    graph_mock.send_mail(BACKUP)
    await set_up(hass, entry(MAILBOX, BACKUP), entry(BACKUP))
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    await clock.run(alert(hass, "all good"))
    assert sent_by(graph_mock, MAILBOX) == ["all good"]
    assert graph_mock.calls("POST", f"/users/{BACKUP.replace('@', '%40')}") == []
    assert sent[0].data["via"] == MAILBOX


async def test_transient_failure_goes_out_through_the_backup(
    clock: Clock,
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    graph_mock: GraphMock,
    apps: TwoApps,
) -> None:
    """The primary's retries are used up: the backup sends at once, nothing queued."""
    graph_mock.send_mail(status=503)
    graph_mock.send_mail(BACKUP)
    assert await async_setup_component(hass, "diagnostics", {})
    primary = entry(MAILBOX, BACKUP)
    await set_up(hass, primary, entry(BACKUP))
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    await clock.run(alert(hass, "door open"))
    assert sent_by(graph_mock, BACKUP) == ["door open"]
    # The body is unchanged; the sender is the backup mailbox.
    (body,) = graph_mock.sent(BACKUP)
    assert body["message"]["toRecipients"] == [{"emailAddress": {"address": MAILBOX}}]
    account = primary.runtime_data
    assert account.outbox.items == []
    (event,) = sent
    assert event.data["account"] == MAILBOX
    assert event.data["via"] == BACKUP
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, primary)
    assert diagnostics["counters"]["failovers"] == 1
    # Set, but not shown: diagnostics name no mailbox.
    assert diagnostics["backup_account"] == "**REDACTED**"
    assert BACKUP not in str(diagnostics)


async def test_refused_secret_goes_out_through_the_backup(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, apps: TwoApps
) -> None:
    """The primary awaits reauth; its alerts go out through the backup meanwhile."""
    apps.primary_expired = True
    graph_mock.send_mail(BACKUP)
    primary = entry(MAILBOX, BACKUP)
    backup = entry(
        BACKUP, **{CONF_CLIENT_ID: BACKUP_CLIENT, CONF_CLIENT_SECRET: BACKUP_SECRET}
    )
    await set_up(hass, primary, backup)
    assert primary.state is ConfigEntryState.SETUP_ERROR
    await clock.run(alert(hass, "while expired"))
    assert sent_by(graph_mock, BACKUP) == ["while expired"]
    account = primary.runtime_data
    assert account.outbox.items == []
    assert graph_mock.sent(MAILBOX) == []


async def test_both_failing_queues_in_the_primary_and_delivers_later(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, apps: TwoApps
) -> None:
    graph_mock.send_mail(status=503, repeat=False)
    for _ in range(3):
        graph_mock.send_mail(status=503, repeat=False)
    graph_mock.send_mail()
    graph_mock.send_mail(BACKUP, status=503, repeat=False)
    for _ in range(3):
        graph_mock.send_mail(BACKUP, status=503, repeat=False)
    graph_mock.send_mail(BACKUP)
    primary = entry(MAILBOX, BACKUP)
    backup = entry(BACKUP)
    await set_up(hass, primary, backup)
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    await clock.run(alert(hass, "nobody can send"))
    assert [e.data["account"] for e in queued] == [MAILBOX]
    account = primary.runtime_data
    backup_account = backup.runtime_data
    assert backup_account.outbox.items == []  # never queued in the backup
    await clock.run_until(lambda: bool(sent))
    assert [e.data["subject"] for e in sent] == ["nobody can send"]
    assert sent[0].data["queued"] is True
    assert account.outbox.items == []


async def test_queued_message_the_backup_refuses_is_dropped(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, apps: TwoApps
) -> None:
    """From the outbox: the primary still fails, the backup refuses the message
    itself: it is given up (not retried at the head of the queue forever)."""
    for _ in range(8):
        graph_mock.send_mail(status=503, repeat=False)
    for _ in range(4):
        graph_mock.send_mail(BACKUP, status=503, repeat=False)
    graph_mock.send_mail(BACKUP, status=400, code="ErrorInvalidRecipients")
    primary = entry(MAILBOX, BACKUP)
    await set_up(hass, primary, entry(BACKUP))
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    await clock.run(alert(hass, "nobody will take it"))
    account = primary.runtime_data
    assert [item.subject for item in account.outbox.items] == ["nobody will take it"]
    await clock.run_until(lambda: bool(dropped))
    assert dropped[0].data["reason"] == "ErrorInvalidRecipients"
    assert account.outbox.items == []


async def test_permanent_refusal_is_not_sent_through_the_backup(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, apps: TwoApps
) -> None:
    graph_mock.send_mail(status=400, code="ErrorInvalidRecipients")
    graph_mock.send_mail(BACKUP)
    await set_up(hass, entry(MAILBOX, BACKUP), entry(BACKUP))
    with pytest.raises(HomeAssistantError) as info:
        await clock.run(alert(hass, "bad recipients"))
    assert info.value.translation_key == "invalid_recipients"
    assert graph_mock.sent(BACKUP) == []


async def test_one_hop_only(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, apps: TwoApps
) -> None:
    """A backs up to B, B to C: when A and B fail, C is not asked."""
    graph_mock.send_mail(status=503)
    graph_mock.send_mail(BACKUP, status=503)
    graph_mock.send_mail(THIRD)
    a = entry(MAILBOX, BACKUP)
    await set_up(hass, a, entry(BACKUP, THIRD), entry(THIRD))
    await clock.run(alert(hass, "storm"))
    assert graph_mock.sent(THIRD) == []
    account = a.runtime_data
    assert [item.subject for item in account.outbox.items] == ["storm"]
    await hass.config_entries.async_unload(a.entry_id)


async def test_options_offer_no_loop(
    hass: HomeAssistant, graph_mock: GraphMock, apps: TwoApps
) -> None:
    """B already backs up to A: A's form does not offer B (nor A itself)."""
    graph_mock.send_mail()
    a = entry(MAILBOX)
    b = entry(BACKUP)
    await set_up(hass, a, b, entry(THIRD))
    hass.config_entries.async_update_entry(b, options={CONF_BACKUP_ACCOUNT: MAILBOX})
    result = await hass.config_entries.options.async_init(a.entry_id)
    assert offered(result) == ["none", THIRD]
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {CONF_BACKUP_ACCOUNT: BACKUP}
        )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_BACKUP_ACCOUNT: THIRD}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert a.options[CONF_BACKUP_ACCOUNT] == THIRD
    # "none" clears it.
    result = await hass.config_entries.options.async_init(a.entry_id)
    await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_BACKUP_ACCOUNT: "none"}
    )
    assert CONF_BACKUP_ACCOUNT not in a.options


async def test_loop_made_while_the_form_was_open_is_refused(
    hass: HomeAssistant, graph_mock: GraphMock, apps: TwoApps
) -> None:
    graph_mock.send_mail()
    a = entry(MAILBOX)
    b = entry(BACKUP)
    await set_up(hass, a, b)
    result = await hass.config_entries.options.async_init(a.entry_id)
    assert offered(result) == ["none", BACKUP]
    hass.config_entries.async_update_entry(b, options={CONF_BACKUP_ACCOUNT: MAILBOX})
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_BACKUP_ACCOUNT: BACKUP}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_BACKUP_ACCOUNT: "backup_loop"}
    assert CONF_BACKUP_ACCOUNT not in a.options


def offered(result: Any) -> list[str]:
    schema = {str(key): key for key in result["data_schema"].schema}
    selector = result["data_schema"].schema[schema[CONF_BACKUP_ACCOUNT]]
    return [option["value"] for option in selector.config["options"]]
