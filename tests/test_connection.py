"""Tests of where the integration connects: Microsoft's clouds or the emulator."""

from __future__ import annotations

import json
from pathlib import Path
import ssl
from urllib.parse import quote

import certifi
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

from custom_components.o365.connection import async_connect
from custom_components.o365.const import DOMAIN
from custom_components.o365.graph import Mailbox
from emulator.schemas import GraphSchemas

from .conftest import (
    ENTRY_DATA,
    MAILBOX,
    ME,
    PERSONAL,
    TENANT_ID,
    Clock,
    DelegatedEntra,
    GraphMock,
    alert,
    refreshes,
    set_up,
    signed_in_entry,
)
from .fake_outlook import FakeOutlook, payload

pytestmark = pytest.mark.filterwarnings("ignore:Attempted too soon")


def me_url(*segments: str) -> URL:
    return URL("/".join((ME, *(quote(s, safe="") for s in segments))), encoded=True)


async def test_microsoft_cloud_by_default(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("O365_EMULATOR_URL", raising=False)
    connection = await async_connect(hass, {**ENTRY_DATA, "cloud": "usgov_dod"})
    endpoints = connection.client.settings.endpoints
    assert endpoints.graph_url == "https://dod-graph.microsoft.us"
    assert endpoints.login_url == "https://login.microsoftonline.us"


async def test_emulator_when_configured(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """O365_EMULATOR_URL sends sign-in and Graph to the emulator, trusting its CA."""
    ca_file = Path(certifi.where())
    monkeypatch.setenv("O365_EMULATOR_URL", "https://127.0.0.1:8443")
    monkeypatch.setenv("O365_EMULATOR_CA", str(ca_file))
    connection = await async_connect(hass, ENTRY_DATA)
    settings = connection.client.settings
    assert settings.endpoints.graph_url == "https://127.0.0.1:8443"
    assert settings.endpoints.authority("t") == "https://127.0.0.1:8443/t"
    assert settings is connection.tokens.settings
    context = settings.ssl_context
    assert isinstance(context, ssl.SSLContext)
    assert context.cert_store_stats()["x509_ca"] > 0
    assert "local development emulator" in caplog.text


async def test_emulator_is_announced_once(
    hass: HomeAssistant,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv("O365_EMULATOR_URL", "https://127.0.0.1:8443")
    monkeypatch.setenv("O365_EMULATOR_CA", certifi.where())
    for _ in range(5):
        await async_connect(hass, ENTRY_DATA)
    assert caplog.text.count("local development emulator") == 1
    # Nobody runs that way unknowingly: a repair issue says so.
    issue = ir.async_get(hass).async_get_issue(DOMAIN, "emulator_in_use")
    assert issue is not None
    assert issue.translation_placeholders == {
        "url": "https://127.0.0.1:8443",
        "variable": "O365_EMULATOR_URL",
    }


async def test_accounts_of_one_app_share_one_limiter(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Per cloud, tenant and client ID: Outlook counts concurrency per app."""
    monkeypatch.delenv("O365_EMULATOR_URL", raising=False)
    first = await async_connect(hass, ENTRY_DATA)
    other_mailbox = await async_connect(
        hass, {**ENTRY_DATA, "source": "ops@contoso.com"}
    )
    # The tenant's domain is the same tenant once its GUID is known.
    by_domain = await async_connect(
        hass,
        {**ENTRY_DATA, "tenant_id": "contoso.onmicrosoft.com"},
        tenant_key=TENANT_ID,
    )
    other_app = await async_connect(
        hass, {**ENTRY_DATA, "client_id": "9d1c2b3a-4e5f-4a6b-8c7d-0e1f2a3b4c5d"}
    )
    other_cloud = await async_connect(hass, {**ENTRY_DATA, "cloud": "usgov_high"})
    limiter = first.client.limiter
    assert other_mailbox.client.limiter is limiter
    assert by_domain.client.limiter is limiter
    assert other_app.client.limiter is not limiter
    assert other_cloud.client.limiter is not limiter


async def test_signed_in_account_sends_as_me(
    hass: HomeAssistant, delegated: DelegatedEntra, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("O365_EMULATOR_URL", raising=False)
    connection = await async_connect(hass, signed_in_entry(delegated).data)
    assert connection.mailbox == Mailbox.signed_in()
    assert connection.certificate is None
    assert connection.tokens.keep_alive_interval is not None
    app = await async_connect(hass, ENTRY_DATA)
    assert app.mailbox == Mailbox(MAILBOX)
    assert app.tokens.keep_alive_interval is None


async def test_alerts_go_to_me_sendmail_in_the_same_shape(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    init_integration: MockConfigEntry,
) -> None:
    """/me/sendMail bodies are the app-only bodies: same schema, same fields."""
    delegated.send_mail()
    entry = signed_in_entry(delegated)
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    request = {"html": True, "importance": "high", "cc": "ops@example.com"}
    for _ in range(3):
        await clock.run(alert(hass, "Door", account=PERSONAL, **request))
    await alert(hass, "Door", account="alerts@contoso.com", **request)
    me, *_ = delegated.sent()
    (app,) = graph_mock.sent()
    schemas = GraphSchemas.load()
    for body in (me, app):
        schemas.action("sendMail", json.loads(json.dumps(body)))
    # The recipients default to each mailbox itself; all else is the same.
    assert me["message"].pop("toRecipients") == [
        {"emailAddress": {"address": PERSONAL}}
    ]
    assert app["message"].pop("toRecipients") == [
        {"emailAddress": {"address": "alerts@contoso.com"}}
    ]
    assert me == app
    assert len(delegated.sent()) == 3
    # One refresh at setup serves the burst.
    assert len(refreshes(delegated)) == 1


async def test_signed_in_large_message_through_me_messages(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    files: Path,
) -> None:
    """Over 4 MB: a draft under /me/messages, an upload session, then send."""
    outlook = FakeOutlook(graph_mock, mailbox_url=me_url)
    entry = signed_in_entry(delegated, large_attachments=True)
    await set_up(hass, entry)
    clip = files / "clip.mp4"
    data = payload(6_000_000)
    clip.write_bytes(data)
    await clock.run(alert(hass, "Clip", attachments=[str(clip)]))
    (upload,) = outlook.sessions.values()
    assert bytes(upload["data"]) == data
    assert upload["item"]["name"] == "clip.mp4"
    assert outlook.draft_json["subject"] == "Clip"
    assert len(graph_mock.calls("POST", "/me/messages/")) >= 1
    assert graph_mock.calls("POST", "/users/") == []
    # The refresh for sending asked for Mail.ReadWrite too.
    (grant,) = refreshes(delegated)
    assert "https://graph.microsoft.com/Mail.ReadWrite" in grant["scope"][0]
