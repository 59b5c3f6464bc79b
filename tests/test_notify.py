"""Tests of notify.o365: what reaches Graph, and what the user reads on errors."""

from __future__ import annotations

import base64
import os
from pathlib import Path
import re
from typing import Any

from aioresponses import CallbackResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from yarl import URL

from custom_components.o365.const import (
    CONF_DEFAULT_RECIPIENTS,
    CONF_SAVE_TO_SENT_ITEMS,
    CONF_SOURCE,
    DOMAIN,
    EVENT_MESSAGE_SENT,
    REPO_URL,
)
from emulator.schemas import GraphSchemas

from .conftest import (
    ENTRY_DATA,
    JPEG,
    MAILBOX,
    TENANT_ID,
    Clock,
    GraphMock,
    set_up,
    users_url,
)

SCHEMAS = GraphSchemas.load()


async def notify(hass: HomeAssistant, **data: Any) -> None:
    await hass.services.async_call("notify", "o365", data, blocking=True)


def only_sent(graph_mock: GraphMock, mailbox: str = MAILBOX) -> dict[str, Any]:
    """Return the one sendMail body, checked against Graph's schema."""
    (body,) = graph_mock.sent(mailbox)
    SCHEMAS.action("sendMail", body)
    return body


async def test_text_alert(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """Message, title and all targets go out in one request."""
    events = async_capture_events(hass, EVENT_MESSAGE_SENT)
    await notify(
        hass,
        message="Motion at the front door",
        title="Front door",
        target=["ops@contoso.com", "Night Desk <desk@contoso.com>", "c@contoso.com"],
    )
    body = only_sent(graph_mock)
    assert body == {
        "message": {
            "subject": "Front door",
            "body": {"contentType": "text", "content": "Motion at the front door"},
            "toRecipients": [
                {"emailAddress": {"address": "ops@contoso.com"}},
                {"emailAddress": {"address": "desk@contoso.com", "name": "Night Desk"}},
                {"emailAddress": {"address": "c@contoso.com"}},
            ],
        },
        "saveToSentItems": True,
    }
    assert len(events) == 1
    assert events[0].data["subject"] == "Front door"
    assert "body" not in events[0].data


async def test_default_title_and_recipient_is_the_mailbox(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    await notify(hass, message="Hi")
    message = only_sent(graph_mock)["message"]
    assert message["subject"] == "Home Assistant"
    assert message["toRecipients"] == [{"emailAddress": {"address": MAILBOX}}]


async def test_default_recipients_option(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    hass.config_entries.async_update_entry(
        init_integration,
        options={
            CONF_DEFAULT_RECIPIENTS: ["a@contoso.com", "B <b@contoso.com>"],
            CONF_SAVE_TO_SENT_ITEMS: False,
        },
    )
    await notify(hass, message="Hi")
    body = only_sent(graph_mock)
    assert body["message"]["toRecipients"] == [
        {"emailAddress": {"address": "a@contoso.com"}},
        {"emailAddress": {"address": "b@contoso.com", "name": "B"}},
    ]
    assert body["saveToSentItems"] is False


async def test_every_field(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    await notify(
        hass,
        message="ignored when html is a string",
        title="Report",
        target="ops@contoso.com",
        data={
            "html": "<h1>Hi</h1>",
            "cc": ["Carol <carol@contoso.com>", "dan@contoso.com"],
            "bcc": "audit@contoso.com",
            "reply_to": "Help Desk <help@contoso.com>",
            "importance": "HIGH",
            "save_to_sent_items": False,
        },
    )
    body = only_sent(graph_mock)
    message = body["message"]
    assert message["body"] == {"contentType": "html", "content": "<h1>Hi</h1>"}
    assert message["ccRecipients"] == [
        {"emailAddress": {"address": "carol@contoso.com", "name": "Carol"}},
        {"emailAddress": {"address": "dan@contoso.com"}},
    ]
    assert message["bccRecipients"] == [
        {"emailAddress": {"address": "audit@contoso.com"}}
    ]
    assert message["replyTo"] == [
        {"emailAddress": {"address": "help@contoso.com", "name": "Help Desk"}}
    ]
    assert message["importance"] == "high"
    assert body["saveToSentItems"] is False


async def test_html_true_sends_message_as_html(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    await notify(hass, message="<b>bold</b>", data={"html": True})
    assert only_sent(graph_mock)["message"]["body"] == {
        "contentType": "html",
        "content": "<b>bold</b>",
    }


async def test_html_snapshot_appended_inline(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
) -> None:
    """A snapshot the HTML does not reference is appended inline at the end."""
    await notify(
        hass,
        message="<p>Motion</p>",
        data={"html": True, "cameras": front_door},
    )
    message = only_sent(graph_mock)["message"]
    (snapshot,) = message["attachments"]
    assert snapshot["contentId"] == "camera.front_door"
    assert snapshot["isInline"] is True
    assert snapshot["contentType"] == "image/jpeg"
    assert re.fullmatch(r"front_door_\d{8}_\d{6}\.jpg", snapshot["name"])
    assert base64.b64decode(snapshot["contentBytes"]) == JPEG
    assert message["body"]["content"] == (
        '<p>Motion</p><p><img src="cid:camera.front_door" alt="camera.front_door"></p>'
    )


async def test_html_referencing_the_snapshot_is_kept(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
) -> None:
    html = '<html><body><img src="cid:camera.front_door" width="640"></body></html>'
    await notify(hass, message="x", data={"html": html, "cameras": [front_door]})
    message = only_sent(graph_mock)["message"]
    assert message["body"]["content"] == html
    cids = re.findall(r'cid:([^"]+)"', message["body"]["content"])
    assert cids == [a["contentId"] for a in message["attachments"]]


async def test_text_mail_snapshot_is_an_ordinary_attachment(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
) -> None:
    await notify(hass, message="Motion", data={"cameras": [front_door]})
    message = only_sent(graph_mock)["message"]
    assert message["body"] == {"contentType": "text", "content": "Motion"}
    (snapshot,) = message["attachments"]
    assert snapshot["isInline"] is False
    assert "contentId" not in snapshot


async def test_missing_camera_sends_nothing(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    front_door: str,
) -> None:
    with pytest.raises(ServiceValidationError) as info:
        await notify(
            hass, message="x", data={"cameras": [front_door, "camera.back_yard"]}
        )
    assert info.value.translation_key == "camera_failed"
    assert info.value.translation_placeholders["entity_id"] == "camera.back_yard"
    assert "camera.back_yard" in str(info.value)
    assert graph_mock.sent() == []


async def test_local_file_attachment(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    await notify(
        hass,
        message="Report attached",
        data={
            "attachments": [str(files / "report.pdf")],
            "images": [{"path": str(files / "report.pdf"), "name": "copy.bin"}],
        },
    )
    report, copy = only_sent(graph_mock)["message"]["attachments"]
    assert report["name"] == "report.pdf"
    assert report["contentType"] == "application/pdf"
    assert report["isInline"] is False
    assert base64.b64decode(report["contentBytes"]) == b"%PDF-1.7 report"
    assert copy["name"] == "copy.bin"
    assert copy["contentType"] == "application/octet-stream"


async def test_smtp_filename_is_the_name(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    """Core smtp's send_message (2026.8) calls an attachment's name filename."""
    await notify(
        hass,
        message="Report attached",
        data={
            "attachments": [{"path": str(files / "report.pdf"), "filename": "week.pdf"}]
        },
    )
    (report,) = only_sent(graph_mock)["message"]["attachments"]
    assert report["name"] == "week.pdf"
    assert report["contentType"] == "application/pdf"


async def test_inline_file_with_content_id(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    (files / "plan.png").write_bytes(b"\x89PNG plan")
    await notify(
        hass,
        message='<img src="cid:plan">',
        data={
            "html": True,
            "attachments": [{"path": str(files / "plan.png"), "content_id": "plan"}],
        },
    )
    (plan,) = only_sent(graph_mock)["message"]["attachments"]
    assert plan == {
        "@odata.type": "#microsoft.graph.fileAttachment",
        "name": "plan.png",
        "contentType": "image/png",
        "contentBytes": base64.b64encode(b"\x89PNG plan").decode(),
        "isInline": True,
        "contentId": "plan",
    }


@pytest.mark.parametrize(
    ("path", "key"),
    [
        ("/etc/passwd", "path_not_allowed"),
        ("{files}/../secrets.yaml", "path_not_allowed"),
        ("{files}/missing.pdf", "file_not_found"),
        ("{files}/folder", "file_not_found"),
        ("{files}/pipe", "file_not_found"),
    ],
)
async def test_disallowed_or_missing_path_sends_nothing(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
    path: str,
    key: str,
) -> None:
    (files.parent / "secrets.yaml").write_text("secret: 1")
    (files / "folder").mkdir()
    os.mkfifo(files / "pipe")  # nobody writes: opening it must not hang
    raw = path.format(files=files)
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"attachments": [raw]})
    assert info.value.translation_key == key
    assert info.value.translation_placeholders["path"] == raw
    assert raw in str(info.value)
    assert graph_mock.sent() == []


async def test_url_attachment(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    graph_mock.mocked.get(
        "https://files.example.com/public/snap%20shot.jpg",
        body=JPEG,
        headers={"Content-Type": "image/jpeg; charset=binary"},
    )
    await notify(
        hass,
        message="From the web",
        data={"attachments": ["https://files.example.com/public/snap%20shot.jpg"]},
    )
    (picture,) = only_sent(graph_mock)["message"]["attachments"]
    assert picture["name"] == "snap shot.jpg"
    assert picture["contentType"] == "image/jpeg"
    assert base64.b64decode(picture["contentBytes"]) == JPEG


@pytest.mark.parametrize(
    "url",
    [
        "https://files.example.com/private/x.jpg",
        "https://evil.example.net/public/x.jpg",
    ],
)
async def test_url_outside_allowlist_sends_nothing(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
    url: str,
) -> None:
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"attachments": [{"url": url}]})
    assert info.value.translation_key == "url_not_allowed"
    assert url in str(info.value)
    assert graph_mock.calls("GET", url) == []
    assert graph_mock.sent() == []


async def test_redirect_outside_allowlist_is_refused(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    graph_mock.mocked.get(
        "https://files.example.com/public/x.jpg",
        status=302,
        headers={"Location": "http://169.254.169.254/latest/meta-data"},
    )
    with pytest.raises(ServiceValidationError) as info:
        await notify(
            hass,
            message="x",
            data={"attachments": ["https://files.example.com/public/x.jpg"]},
        )
    assert info.value.translation_placeholders["url"] == (
        "http://169.254.169.254/latest/meta-data"
    )
    assert graph_mock.sent() == []


async def test_url_errors_do_not_show_credentials(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    url = "https://user:hunter2@files.example.com/private/x.jpg?token=abc"
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"attachments": [url]})
    assert "hunter2" not in str(info.value)
    assert "token=abc" not in str(info.value)
    assert "https://files.example.com/private/x.jpg" in str(info.value)


@pytest.mark.parametrize(
    ("response", "details"),
    [({"status": 404}, "HTTP 404"), ({"exception": TimeoutError()}, "TimeoutError")],
)
async def test_url_download_failure(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
    response: dict[str, Any],
    details: str,
) -> None:
    url = "https://files.example.com/public/gone.pdf"
    graph_mock.mocked.get(url, **response)
    with pytest.raises(HomeAssistantError) as info:
        await notify(hass, message="x", data={"attachments": [url]})
    assert info.value.translation_key == "url_failed"
    assert details in str(info.value)
    assert graph_mock.sent() == []


async def test_large_url_download_is_spooled_and_removed(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    """A 3.5 MB download goes to a temporary file, which is gone afterwards."""
    data = bytes(range(256)) * (3_500_000 // 256)
    url = "https://files.example.com/public/clip.mp4"
    graph_mock.mocked.get(url, body=data)
    seen: list[Path] = []

    async def draft(url: URL, **kwargs: Any) -> CallbackResult:
        return CallbackResult(status=201, payload={"id": "draft1"})

    async def session(url: URL, **kwargs: Any) -> CallbackResult:
        return CallbackResult(
            status=201,
            payload={"uploadUrl": "https://outlook.office.com/up/1?authtoken=t"},
        )

    received = bytearray()

    async def put(url: URL, **kwargs: Any) -> CallbackResult:
        received.extend(kwargs["data"])
        return CallbackResult(status=201 if len(received) == len(data) else 200)

    graph_mock.mocked.post(users_url(MAILBOX, "messages"), callback=draft)
    graph_mock.mocked.post(
        users_url(MAILBOX, "messages", "draft1", "attachments", "createUploadSession"),
        callback=session,
    )
    graph_mock.mocked.put(
        re.compile(r"https://outlook\.office\.com/up/1.*"), callback=put, repeat=True
    )
    graph_mock.graph("POST", users_url(MAILBOX, "messages", "draft1", "send"), 202)

    from custom_components.o365 import compose

    original = compose._Spool.async_new_file

    async def record(self: Any, name: str) -> Path:
        path: Path = await original(self, name)
        seen.append(path)
        return path

    compose._Spool.async_new_file = record  # type: ignore[method-assign]
    try:
        await notify(hass, message="clip", data={"attachments": [url]})
    finally:
        compose._Spool.async_new_file = original  # type: ignore[method-assign]
    assert bytes(received) == data
    assert len(seen) == 1
    assert not seen[0].exists()
    assert not seen[0].parent.exists()


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        ({"colour": "red"}, "unknown key 'colour'"),
        ({"importance": "urgent"}, "importance"),
        ({"cameras": "light.kitchen"}, "cameras"),
        ({"attachments": ["ftp://x/y"]}, "only local paths and http(s) URLs"),
        ({"attachments": [{"name": "x"}]}, "needs one of path, url"),
        ({"attachments": [{"url": "file:///etc/passwd"}]}, "is not an http(s) URL"),
        ({"attachments": [42]}, "a path, a URL or a mapping"),
    ],
)
async def test_invalid_data_is_refused(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    data: dict[str, Any],
    fragment: str,
) -> None:
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data=data)
    assert info.value.translation_key == "invalid_data"
    assert fragment in str(info.value)
    assert graph_mock.sent() == []


async def test_unknown_keys_are_named_in_our_words(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """Each unknown key is named the same way whichever validator Home Assistant has.

    voluptuous (2025.4) says "extra keys not allowed", probatio (2026.10) "not a
    valid option" and, for a near miss like ``camera``, suggests ``cameras``.
    """
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"camera": "camera.x", "colour": "red"})
    text = str(info.value)
    assert "unknown key 'camera'" in text
    assert "unknown key 'colour'" in text
    assert "extra keys" not in text
    assert "valid option" not in text
    assert graph_mock.sent() == []


async def test_unknown_key_is_named_in_our_words(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """Whatever voluptuous calls it, the message names the key and the keys."""
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"colour": "red", "html": True})
    assert str(info.value).startswith(
        "Invalid data for the o365 email action: unknown key 'colour' (the keys "
        "are html, cc, bcc, reply_to, importance, cameras, attachments, images, "
        "save_to_sent_items, from, account)."
    )


@pytest.mark.parametrize(
    ("call", "field"),
    [
        ({"target": ["ok@contoso.com", "bob"]}, "target"),
        ({"data": {"cc": "bob"}}, "cc"),
        ({"data": {"reply_to": ["bob"]}}, "reply_to"),
    ],
)
async def test_invalid_address_is_refused_in_our_words(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    call: dict[str, Any],
    field: str,
) -> None:
    """One translated message names the field and the address, with help."""
    with pytest.raises(ServiceValidationError) as info:
        await hass.services.async_call(
            "notify", "o365", {"message": "x", **call}, blocking=True
        )
    assert info.value.translation_key == "invalid_address"
    assert str(info.value) == (
        f'The {field} entry "bob" is not an email address. Write each recipient as '
        "alerts@example.com, or as a name followed by the address in angle "
        "brackets. Help: https://github.com/o365-home-assistant/o365#invalid_address"
    )
    assert graph_mock.sent() == []


async def test_too_many_recipients(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as info:
        await notify(
            hass, message="x", target=[f"user{i}@contoso.com" for i in range(501)]
        )
    assert info.value.translation_key == "too_many_recipients"


@pytest.mark.parametrize(
    ("status", "code", "key", "validation"),
    [
        (403, "ErrorSendAsDenied", "send_as_denied", False),
        (404, "MailboxNotEnabledForRESTAPI", "mailbox_not_rest_enabled", False),
        (403, "ErrorAccessDenied", "missing_mail_send", False),
        (400, "ErrorInvalidRecipients", "invalid_recipients", True),
        (404, "ErrorInvalidUser", "mailbox_not_found", False),
        (400, "ErrorWeird", "graph_error", False),
    ],
)
async def test_graph_errors_are_translated(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    status: int,
    code: str,
    key: str,
    validation: bool,
) -> None:
    graph_mock.mocked.clear()
    graph_mock.send_mail(status=status, code=code)
    with pytest.raises(HomeAssistantError) as info:
        await notify(hass, message="x")
    assert info.value.translation_key == key
    assert isinstance(info.value, ServiceValidationError) is validation
    assert code in str(info.value)
    assert info.value.translation_placeholders["mailbox"] == MAILBOX


async def test_fifty_alerts_one_token(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    for number in range(50):
        await notify(hass, message=f"alert {number}")
    assert len(graph_mock.sent()) == 50
    assert len(graph_mock.token_requests()) == 1


# -- several accounts ----------------------------------------------------------------


@pytest.fixture
async def two_accounts(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> MockConfigEntry:
    second = MockConfigEntry(
        domain=DOMAIN,
        title="ops@contoso.com",
        unique_id=f"{TENANT_ID}:ops@contoso.com",
        data={**ENTRY_DATA, CONF_SOURCE: "ops@contoso.com"},
    )
    graph_mock.send_mail("ops@contoso.com")
    second.add_to_hass(hass)
    assert await hass.config_entries.async_setup(second.entry_id)
    await hass.async_block_till_done()
    return second


async def test_account_picks_the_mailbox(
    hass: HomeAssistant, graph_mock: GraphMock, two_accounts: MockConfigEntry
) -> None:
    await notify(hass, message="from ops", data={"account": "OPS@contoso.com"})
    assert graph_mock.sent() == []
    assert len(graph_mock.sent("ops@contoso.com")) == 1
    await notify(hass, message="default account")
    assert len(graph_mock.sent()) == 1


async def test_unknown_account_lists_the_configured_ones(
    hass: HomeAssistant, graph_mock: GraphMock, two_accounts: MockConfigEntry
) -> None:
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"account": "ceo@contoso.com"})
    assert info.value.translation_key == "unknown_account"
    assert f"{MAILBOX}, ops@contoso.com" in str(info.value)


async def test_service_follows_the_entries(
    hass: HomeAssistant, graph_mock: GraphMock, two_accounts: MockConfigEntry
) -> None:
    """notify.o365 stays while an account is loaded and goes with the last one."""
    first = hass.config_entries.async_entries(DOMAIN)[0]
    assert await hass.config_entries.async_unload(first.entry_id)
    assert hass.services.has_service("notify", "o365")
    await notify(hass, message="still works")
    assert len(graph_mock.sent("ops@contoso.com")) == 1
    assert await hass.config_entries.async_unload(two_accounts.entry_id)
    assert not hass.services.has_service("notify", "o365")
    assert await hass.config_entries.async_setup(first.entry_id)
    await hass.async_block_till_done()
    assert first.state is ConfigEntryState.LOADED
    assert hass.services.has_service("notify", "o365")
    await notify(hass, message="back")
    assert len(graph_mock.sent()) == 1


# -- mailbox given by object ID ------------------------------------------------------

OBJECT_ID = "3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60"


@pytest.fixture
async def object_id_account(
    hass: HomeAssistant, graph_mock: GraphMock
) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=OBJECT_ID,
        unique_id=f"{TENANT_ID}:{OBJECT_ID}",
        data={**ENTRY_DATA, CONF_SOURCE: OBJECT_ID},
    )
    graph_mock.sign_in()
    graph_mock.send_mail(OBJECT_ID)
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    return entry


USER_URL = users_url(OBJECT_ID).with_query(
    {"$select": "id,mail,userPrincipalName,displayName"}
)


async def test_object_id_mailbox_looked_up_once(
    hass: HomeAssistant, graph_mock: GraphMock, object_id_account: MockConfigEntry
) -> None:
    graph_mock.graph("GET", USER_URL, payload={"id": OBJECT_ID, "mail": MAILBOX})
    await notify(hass, message="one")
    await notify(hass, message="two")
    assert len(graph_mock.calls("GET", OBJECT_ID)) == 1
    first, second = graph_mock.sent(OBJECT_ID)
    assert first["message"]["toRecipients"] == [{"emailAddress": {"address": MAILBOX}}]
    assert second["message"]["toRecipients"] == first["message"]["toRecipients"]


async def test_object_id_mailbox_without_directory_access_asks_for_target(
    hass: HomeAssistant, graph_mock: GraphMock, object_id_account: MockConfigEntry
) -> None:
    graph_mock.graph("GET", USER_URL, status=403, code="Authorization_RequestDenied")
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x")
    assert info.value.translation_key == "target_required"
    await notify(hass, message="x", target="ops@contoso.com")
    assert len(graph_mock.sent(OBJECT_ID)) == 1


async def test_object_id_lookup_failing_transiently_says_so(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    object_id_account: MockConfigEntry,
) -> None:
    graph_mock.graph("GET", USER_URL, status=503)
    with pytest.raises(HomeAssistantError) as info:
        await clock.run(notify(hass, message="x"))
    assert info.value.translation_key == "cannot_connect"


async def test_no_account_loaded(hass: HomeAssistant, graph_mock: GraphMock) -> None:
    from custom_components.o365.account import async_get_account

    with pytest.raises(ServiceValidationError) as info:
        async_get_account(hass, None)
    assert info.value.translation_key == "no_account"


# -- size limits and large attachments ------------------------------------------------


async def test_attachment_over_150_mb_is_refused_before_sending(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    huge = files / "recording.mp4"
    with huge.open("wb") as file:
        file.truncate(151 * 1024 * 1024)  # sparse: no disk or memory used
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"attachments": [str(huge)]})
    assert info.value.translation_key == "attachment_too_large"
    assert "recording.mp4" in str(info.value)
    # "150 MB" read strictly: 150,000,000 bytes.
    assert "150000000" in str(info.value)
    assert graph_mock.calls("POST", "/users/") == []


async def test_message_over_the_size_option_is_refused(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    hass.config_entries.async_update_entry(
        init_integration, options={"max_message_size_mb": 1}
    )
    (files / "two.bin").write_bytes(b"x" * 1_100_000)
    with pytest.raises(ServiceValidationError) as info:
        await notify(hass, message="x", data={"attachments": [str(files / "two.bin")]})
    assert info.value.translation_key == "message_too_large"
    assert "1048576" in str(info.value)
    assert graph_mock.sent() == []


async def test_large_attachment_without_mail_readwrite(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    files: Path,
) -> None:
    """A 403 on the draft says large attachments need Mail.ReadWrite."""
    (files / "clip.mp4").write_bytes(b"v" * 3_500_000)
    graph_mock.graph(
        "POST", users_url(MAILBOX, "messages"), status=403, code="ErrorAccessDenied"
    )
    with pytest.raises(HomeAssistantError) as info:
        await notify(hass, message="x", data={"attachments": [str(files / "clip.mp4")]})
    assert info.value.translation_key == "missing_mail_readwrite"
    assert "Mail.ReadWrite" in str(info.value)


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"attachments": ["/etc/hostname"]}, "path_not_allowed"),
        ({"attachments": ["{files}/missing.jpg"]}, "file_not_found"),
        (
            {"attachments": [{"url": "https://evil.example.net/x.jpg"}]},
            "url_not_allowed",
        ),
        ({"attachments": ["https://files.example.com/public/gone.jpg"]}, "url_failed"),
        ({"account": "nobody@contoso.com"}, "unknown_account"),
        ({"importance": "urgent"}, "invalid_data"),
        ({}, "invalid_recipients"),
    ],
)
async def test_error_texts_end_in_their_help_link(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    files: Path,
    data: dict[str, Any],
    key: str,
) -> None:
    """Each error names its README entry: the link is a placeholder (hassfest
    refuses URLs in strings), so every raise must fill it in."""
    graph_mock.mocked.get("https://files.example.com/public/gone.jpg", status=404)
    graph_mock.sign_in()
    graph_mock.send_mail(status=400, code="ErrorInvalidRecipients")
    await set_up(hass, config_entry)
    if "attachments" in data and isinstance(data["attachments"][0], str):
        data = {"attachments": [data["attachments"][0].format(files=files)]}
    with pytest.raises(HomeAssistantError) as info:
        await notify(hass, message="x", data=data)
    assert info.value.translation_key == key
    message = str(info.value)
    assert message.endswith(f"Help: {REPO_URL}#{key}"), message
    assert "{" not in message
