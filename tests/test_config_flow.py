"""Tests of the config flow: every error key, Apprise import, reauth, reconfigure."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch
from urllib.parse import quote

import aiohttp
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.translation import async_get_translations
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.const import (
    CONF_AUTH_TYPE,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_DAILY_RECIPIENT_LIMIT,
    CONF_DEFAULT_RECIPIENTS,
    CONF_FROM_MAILBOX,
    CONF_MAX_MESSAGE_SIZE_MB,
    CONF_OUTBOX_MAX_AGE_HOURS,
    CONF_QUEUE_ON_FAILURE,
    CONF_SAVE_TO_SENT_ITEMS,
    CONF_SEND_TEST_EMAIL,
    CONF_SOURCE,
    CONF_TENANT_ID,
    DOMAIN,
    REPO_URL,
)

from .conftest import (
    CLIENT_ID,
    CLIENT_SECRET,
    ENTRY_DATA,
    LOGIN,
    MAILBOX,
    TENANT_ID,
    UNIQUE_ID,
    DelegatedEntra,
    GraphMock,
    open_menu_step,
    set_up,
    signed_in_entry,
    users_url,
)

OBJECT_ID = "3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60"
USER_INPUT = {
    **{k: v for k, v in ENTRY_DATA.items() if k != CONF_AUTH_TYPE},
    CONF_SEND_TEST_EMAIL: False,
}


async def submit(hass: HomeAssistant, flow_id: str, **changes: Any) -> Any:
    return await hass.config_entries.flow.async_configure(
        flow_id, {**USER_INPUT, **changes}
    )


async def test_create_entry(hass: HomeAssistant, graph_mock: GraphMock) -> None:
    """A working app registration creates the entry with the SPEC's keys."""
    graph_mock.sign_in()
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == MAILBOX
    assert result["data"] == ENTRY_DATA
    assert result["result"].unique_id == UNIQUE_ID
    # Nothing was sent: the test email is off by default.
    assert graph_mock.calls("POST", "/sendMail") == []


async def test_secret_reaches_token_endpoint_byte_for_byte(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    """A secret full of URL-special characters is form-encoded exactly once."""
    secret = "a?b@c/d%e+f#g&h=i j%2F"
    graph_mock.sign_in()
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id, client_secret=secret)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CLIENT_SECRET] == secret
    (_, kwargs), *_ = graph_mock.calls("POST", "/oauth2/v2.0/token")
    body = kwargs["data"].decode()
    assert f"client_secret={quote(secret, safe='').replace('%20', '+')}" in body
    assert graph_mock.token_requests()[0]["client_secret"] == [secret]
    assert graph_mock.token_requests()[0]["scope"] == [
        "https://graph.microsoft.com/.default"
    ]


async def test_test_email_goes_to_the_mailbox(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail()
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id, send_test_email=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_SEND_TEST_EMAIL not in result["data"]
    (sent,) = graph_mock.sent()
    assert sent["message"]["toRecipients"] == [{"emailAddress": {"address": MAILBOX}}]
    assert "test email" in sent["message"]["subject"]


@pytest.mark.parametrize(
    ("changes", "field", "key"),
    [
        ({CONF_SOURCE: "not a mailbox"}, CONF_SOURCE, "mailbox_not_found"),
        ({CONF_TENANT_ID: "no tenant"}, CONF_TENANT_ID, "invalid_tenant"),
        ({CONF_CLIENT_ID: "my-app"}, CONF_CLIENT_ID, "invalid_client_id"),
        ({CONF_CLIENT_SECRET: ""}, "base", "secret_or_certificate"),
        (
            {CONF_CLIENT_SECRET: "d4c6f1c2-3b5a-4e7d-9f10-2a3b4c5d6e7f"},
            CONF_CLIENT_SECRET,
            "secret_is_id",
        ),
    ],
)
async def test_format_errors_before_any_request(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    changes: dict[str, str],
    field: str,
    key: str,
) -> None:
    """Malformed fields are caught without contacting Microsoft; the error
    reads, as the frontend renders it, with its help link."""
    flow_id = await open_menu_step(hass)
    result = await submit(hass, flow_id, **changes)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: key}
    assert graph_mock.mocked.requests == {}
    texts = await async_get_translations(hass, "en", "config", {DOMAIN})
    shown = texts[f"component.{DOMAIN}.config.error.{key}"].format(
        **result["description_placeholders"]
    )
    assert shown.endswith(f"Help: {REPO_URL}#{key}")


@pytest.mark.parametrize(
    ("token", "field", "key"),
    [
        (
            {"error": "invalid_client", "codes": [7000215], "status": 401},
            CONF_CLIENT_SECRET,
            "invalid_client_secret",
        ),
        (
            {"error": "invalid_client", "codes": [7000222], "status": 401},
            CONF_CLIENT_SECRET,
            "secret_expired",
        ),
        (
            {"error": "unauthorized_client", "codes": [700016]},
            CONF_CLIENT_ID,
            "invalid_client_id",
        ),
        (
            {"error": "invalid_tenant", "codes": [90002]},
            CONF_TENANT_ID,
            "invalid_tenant",
        ),
        ({"roles": ()}, "base", "missing_mail_send"),
        ({"roles": ("Mail.ReadWrite",)}, "base", "missing_mail_send"),
        ({"exception": aiohttp.ClientConnectionError()}, "base", "cannot_connect"),
        ({"error": "invalid_request", "codes": [12345]}, "base", "sign_in_refused"),
        # The error field picks the family, codes refine it (Microsoft's advice).
        ({"error": "invalid_request", "codes": [90013]}, "base", "sign_in_refused"),
        (
            {"error": "unauthorized_client", "codes": [7000112]},
            CONF_CLIENT_ID,
            "app_disabled",
        ),
        ({"error": "invalid_grant", "codes": [53003]}, "base", "conditional_access"),
        ({"error": "invalid_resource", "codes": [500011]}, CONF_CLOUD, "wrong_cloud"),
        (
            {"error": "invalid_client", "codes": []},
            CONF_CLIENT_SECRET,
            "invalid_client_secret",
        ),
        ({"error": "temporarily_unavailable", "codes": []}, "base", "cannot_connect"),
    ],
)
async def test_token_errors(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    token: dict[str, Any],
    field: str,
    key: str,
) -> None:
    """Each refusal of the token endpoint lands on its field, then recovery works."""
    graph_mock.openid()
    graph_mock.token(**token, repeat=False)
    flow_id = await open_menu_step(hass)
    result = await submit(hass, flow_id)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: key}

    graph_mock.token()
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_rbac_for_applications_proven_by_test_email(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    """No Mail.Send role in the token, but the test email goes out: accepted."""
    graph_mock.sign_in(roles=())
    graph_mock.send_mail()
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id, send_test_email=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert len(graph_mock.sent()) == 1


async def test_unknown_tenant(hass: HomeAssistant, graph_mock: GraphMock) -> None:
    """A tenant without OpenID configuration is reported on the tenant field."""
    graph_mock.openid("contoso.example", status=400)
    flow_id = await open_menu_step(hass)
    result = await submit(hass, flow_id, tenant_id="contoso.example")
    assert result["errors"] == {CONF_TENANT_ID: "invalid_tenant"}


async def test_login_unreachable(hass: HomeAssistant, graph_mock: GraphMock) -> None:
    graph_mock.mocked.get(
        f"{LOGIN}/{TENANT_ID}/v2.0/.well-known/openid-configuration",
        exception=aiohttp.ClientConnectionError("down"),
    )
    flow_id = await open_menu_step(hass)
    result = await submit(hass, flow_id)
    assert result["errors"] == {"base": "cannot_connect"}


@pytest.mark.parametrize(
    ("status", "code", "field", "key"),
    [
        (404, "ErrorInvalidUser", CONF_SOURCE, "mailbox_not_found"),
        (403, "ErrorSendAsDenied", CONF_SOURCE, "send_as_denied"),
        (404, "MailboxNotEnabledForRESTAPI", CONF_SOURCE, "mailbox_not_rest_enabled"),
        (403, "ErrorAccessDenied", "base", "missing_mail_send"),
        (400, "ErrorSomethingNew", "base", "unknown"),
    ],
)
async def test_test_email_errors(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    status: int,
    code: str,
    field: str,
    key: str,
) -> None:
    """Graph's refusal of the test email names the problem on the right field."""
    graph_mock.sign_in()
    graph_mock.send_mail(status=status, code=code)
    flow_id = await open_menu_step(hass)
    result = await submit(hass, flow_id, send_test_email=True)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: key}


async def test_unexpected_error(hass: HomeAssistant, graph_mock: GraphMock) -> None:
    flow_id = await open_menu_step(hass)
    with patch(
        "custom_components.o365.credentials.async_connect", side_effect=RuntimeError
    ):
        result = await submit(hass, flow_id)
    assert result["errors"] == {"base": "unknown"}


async def test_domain_and_guid_tenant_are_one_account(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    """The unique ID uses the token's tid: a domain tenant is its GUID."""
    MockConfigEntry(domain=DOMAIN, unique_id=UNIQUE_ID, data=ENTRY_DATA).add_to_hass(
        hass
    )
    graph_mock.openid("contoso.onmicrosoft.com")
    graph_mock.token()
    flow_id = await open_menu_step(hass)
    result = await submit(
        hass, flow_id, tenant_id="contoso.onmicrosoft.com", source=MAILBOX.upper()
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


async def test_object_id_mailbox_test_email(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    """A mailbox given by object ID is looked up to address the test email."""
    graph_mock.sign_in()
    graph_mock.graph(
        "GET",
        users_url(OBJECT_ID).with_query(
            {"$select": "id,mail,userPrincipalName,displayName"}
        ),
        payload={"id": OBJECT_ID, "mail": MAILBOX, "userPrincipalName": MAILBOX},
    )
    graph_mock.send_mail(OBJECT_ID)
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id, source=OBJECT_ID, send_test_email=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == f"{TENANT_ID}:{OBJECT_ID}"
    (sent,) = graph_mock.sent(OBJECT_ID)
    assert sent["message"]["toRecipients"][0]["emailAddress"]["address"] == MAILBOX


@pytest.mark.parametrize(
    ("status", "code", "errors"),
    [
        (403, "Authorization_RequestDenied", {"base": "test_email_needs_address"}),
        (404, "Request_ResourceNotFound", {CONF_SOURCE: "mailbox_not_found"}),
    ],
)
async def test_object_id_lookup_errors(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    status: int,
    code: str,
    errors: dict[str, str],
) -> None:
    graph_mock.sign_in()
    graph_mock.graph(
        "GET",
        users_url(OBJECT_ID).with_query(
            {"$select": "id,mail,userPrincipalName,displayName"}
        ),
        status=status,
        code=code,
    )
    flow_id = await open_menu_step(hass)
    result = await submit(hass, flow_id, source=OBJECT_ID, send_test_email=True)
    assert result["errors"] == errors


async def test_object_id_without_directory_access_still_sets_up(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    """Without User.Read.All an object ID mailbox works (no test email)."""
    graph_mock.sign_in()
    graph_mock.graph(
        "GET",
        users_url(OBJECT_ID).with_query(
            {"$select": "id,mail,userPrincipalName,displayName"}
        ),
        status=403,
        code="Authorization_RequestDenied",
    )
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id, source=OBJECT_ID)
    assert result["type"] is FlowResultType.CREATE_ENTRY


# -- Apprise ------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["o365", "azure"])
async def test_apprise_import(
    hass: HomeAssistant, graph_mock: GraphMock, scheme: str
) -> None:
    """Each part is decoded once; targets become default recipients."""
    graph_mock.sign_in()
    url = (
        f"{scheme}://{quote(MAILBOX)}/{TENANT_ID}/{CLIENT_ID}/"
        f"{quote(CLIENT_SECRET, safe='')}/ops@contoso.com/Night%20Desk%20%3Cdesk@contoso.com%3E"
    )
    flow_id = await open_menu_step(hass, "apprise")
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(flow_id, {"url": url})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"] == ENTRY_DATA
    assert result["options"] == {
        CONF_DEFAULT_RECIPIENTS: ["ops@contoso.com", "Night Desk <desk@contoso.com>"]
    }
    assert graph_mock.token_requests()[0]["client_secret"] == [CLIENT_SECRET]


async def test_apprise_percent_encoded_twice_is_decoded_once(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    """A secret that itself contains %2F keeps it after the single decoding."""
    graph_mock.sign_in()
    secret = "abc%2Fdef"
    url = f"o365://{MAILBOX}/{TENANT_ID}/{CLIENT_ID}/{quote(secret, safe='')}"
    flow_id = await open_menu_step(hass, "apprise")
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(flow_id, {"url": url})
    assert result["data"][CONF_CLIENT_SECRET] == secret
    assert result["options"] == {}


@pytest.mark.parametrize(
    "url",
    [
        "https://example.com",
        "o365://only/three/parts",
        f"o365://{MAILBOX}/{TENANT_ID}/{CLIENT_ID}",
        "o365://casey@outlook.com/not-a-client-id/refresh-token",
        "o365://casey@outlook.com/x?mode=unknown",
    ],
)
async def test_apprise_invalid_url(
    hass: HomeAssistant, graph_mock: GraphMock, url: str
) -> None:
    flow_id = await open_menu_step(hass, "apprise")
    result = await hass.config_entries.flow.async_configure(flow_id, {"url": url})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"url": "invalid_apprise_url"}
    # What was typed stays in the field, to be corrected rather than retyped.
    (field,) = result["data_schema"].schema
    assert field.description["suggested_value"] == url


async def test_apprise_bad_credentials_show_prefilled_form(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    graph_mock.openid()
    graph_mock.token(error="invalid_client", codes=[7000222], status=401)
    flow_id = await open_menu_step(hass, "apprise")
    result = await hass.config_entries.flow.async_configure(
        flow_id,
        {"url": f"o365://{MAILBOX}/{TENANT_ID}/{CLIENT_ID}/old-secret"},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "credentials"
    assert result["errors"] == {CONF_CLIENT_SECRET: "secret_expired"}
    schema = result["data_schema"].schema
    suggested = {
        str(key): key.description["suggested_value"]
        for key in schema
        if key.description
    }
    assert suggested[CONF_SOURCE] == MAILBOX
    assert suggested[CONF_CLIENT_ID] == CLIENT_ID


# -- reauth and reconfigure ----------------------------------------------------


async def test_reauth(
    hass: HomeAssistant, graph_mock: GraphMock, config_entry: MockConfigEntry
) -> None:
    """A new secret is proven, stored, and the entry reloaded with it."""
    graph_mock.openid()
    graph_mock.token(error="invalid_client", codes=[7000222], status=401, repeat=False)
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_ERROR
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == "reauth"

    graph_mock.token(error="invalid_client", codes=[7000215], status=401, repeat=False)
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_CLIENT_SECRET: "still wrong"}
    )
    assert result["errors"] == {CONF_CLIENT_SECRET: "invalid_client_secret"}

    graph_mock.token()
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_CLIENT_SECRET: "the new secret"}
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert config_entry.data[CONF_CLIENT_SECRET] == "the new secret"
    assert config_entry.state is ConfigEntryState.LOADED


async def test_reauth_without_role_in_the_token(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """RBAC for Applications: the token has no Mail.Send role, reauth still works."""
    result = await init_integration.start_reauth_flow(hass)
    graph_mock.mocked.clear()
    graph_mock.sign_in(roles=())
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CLIENT_SECRET: "new secret"}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_CLIENT_SECRET] == "new secret"


async def test_reauth_secret_id_pasted(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    result = await init_integration.start_reauth_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {CONF_CLIENT_SECRET: "d4c6f1c2-3b5a-4e7d-9f10-2a3b4c5d6e7f"},
    )
    assert result["errors"] == {CONF_CLIENT_SECRET: "secret_is_id"}


async def test_reauth_other_tenant_aborts(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    result = await init_integration.start_reauth_flow(hass)
    graph_mock.mocked.clear()
    graph_mock.openid()
    graph_mock.token(tid="11111111-2222-4333-8444-555555555555")
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CLIENT_SECRET: "secret of another tenant"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "account_mismatch"
    assert init_integration.data[CONF_CLIENT_SECRET] == CLIENT_SECRET


async def test_reconfigure(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """A new client ID and cloud are proven and stored; blank keeps the secret."""
    new_client = "9d1c2b3a-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
    result = await init_integration.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure"
    graph_mock.mocked.clear()
    graph_mock.mocked.get(
        f"https://login.microsoftonline.us/{TENANT_ID}/v2.0/.well-known/openid-configuration",
        payload={
            "issuer": "x",
            "authorization_endpoint": "https://login.microsoftonline.us/a",
            "token_endpoint": f"https://login.microsoftonline.us/{TENANT_ID}/oauth2/v2.0/token",
        },
        repeat=True,
    )
    from .conftest import make_jwt

    graph_mock.mocked.post(
        f"https://login.microsoftonline.us/{TENANT_ID}/oauth2/v2.0/token",
        payload={"access_token": make_jwt(), "expires_in": 3599},
        repeat=True,
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            CONF_SOURCE: MAILBOX,
            CONF_TENANT_ID: TENANT_ID,
            CONF_CLIENT_ID: new_client,
            CONF_CLOUD: "usgov_high",
        },
    )
    await hass.async_block_till_done()
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data == {
        **ENTRY_DATA,
        CONF_CLIENT_ID: new_client,
        CONF_CLOUD: "usgov_high",
    }
    assert init_integration.state is ConfigEntryState.LOADED
    request = graph_mock.token_requests("login.microsoftonline.us")[0]
    assert request["client_id"] == [new_client]
    assert request["client_secret"] == [CLIENT_SECRET]
    assert request["scope"] == ["https://graph.microsoft.us/.default"]


async def test_reconfigure_other_mailbox_aborts(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_SOURCE: "ops@contoso.com"}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "account_mismatch"
    assert init_integration.data == ENTRY_DATA


async def test_reconfigure_error_keeps_form(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**USER_INPUT, CONF_CLIENT_ID: "nope"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CLIENT_ID: "invalid_client_id"}


# -- options -----------------------------------------------------------------------


async def test_options(hass: HomeAssistant, init_integration: MockConfigEntry) -> None:
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    assert result["type"] is FlowResultType.FORM
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_DEFAULT_RECIPIENTS: ["bad"],
            CONF_SAVE_TO_SENT_ITEMS: False,
        },
    )
    assert result["errors"] == {CONF_DEFAULT_RECIPIENTS: "invalid_recipient"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_DEFAULT_RECIPIENTS: ["ops@contoso.com", " Desk <desk@contoso.com>"],
            CONF_SAVE_TO_SENT_ITEMS: False,
            CONF_QUEUE_ON_FAILURE: True,
            CONF_MAX_MESSAGE_SIZE_MB: 100.0,
            CONF_OUTBOX_MAX_AGE_HOURS: 48.0,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options == {
        CONF_DEFAULT_RECIPIENTS: ["ops@contoso.com", "Desk <desk@contoso.com>"],
        CONF_SAVE_TO_SENT_ITEMS: False,
        CONF_QUEUE_ON_FAILURE: True,
        CONF_MAX_MESSAGE_SIZE_MB: 100,
        CONF_OUTBOX_MAX_AGE_HOURS: 48,
    }


async def test_options_set_the_sending_budget_at_once(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """The budget field shows the account's default; a new one applies at once."""
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    schema = {str(key): key for key in result["data_schema"].schema}
    assert schema[CONF_DAILY_RECIPIENT_LIMIT].description == {"suggested_value": 10_000}
    # App-only accounts send from their own mailbox (or data.from).
    assert CONF_FROM_MAILBOX not in schema
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_DAILY_RECIPIENT_LIMIT: 50.0}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert init_integration.options[CONF_DAILY_RECIPIENT_LIMIT] == 50
    await hass.async_block_till_done()
    assert init_integration.runtime_data.budget.limit == 50


async def test_a_signed_in_work_account_may_send_from_a_shared_mailbox(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    work = DelegatedEntra(
        graph_mock, tenant=TENANT_ID, user="ops@contoso.com", tid=TENANT_ID
    )
    entry = signed_in_entry(work)
    await set_up(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert CONF_FROM_MAILBOX in {str(key) for key in result["data_schema"].schema}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_FROM_MAILBOX: "the shared one"}
    )
    assert result["errors"] == {CONF_FROM_MAILBOX: "invalid_from_mailbox"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_FROM_MAILBOX: " alerts-shared@contoso.com "}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options[CONF_FROM_MAILBOX] == "alerts-shared@contoso.com"
    # New tokens are needed (Mail.Send.Shared): the entry loads again.
    await hass.async_block_till_done()
    assert entry.runtime_data.connection.mailbox.user == "alerts-shared@contoso.com"


async def test_personal_accounts_have_no_shared_mailbox_option(
    hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    entry = signed_in_entry(delegated)
    await set_up(hass, entry)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    schema = {str(key): key for key in result["data_schema"].schema}
    assert CONF_FROM_MAILBOX not in schema
    assert schema[CONF_DAILY_RECIPIENT_LIMIT].description == {"suggested_value": 300}


async def test_unreadable_token_is_not_refused(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    """Microsoft: clients must not depend on reading access tokens. An opaque
    one is accepted, and the entry says the first send proves the permission."""
    graph_mock.openid()
    graph_mock.mocked.post(
        f"{LOGIN}/{TENANT_ID}/oauth2/v2.0/token",
        payload={"access_token": "opaque-or-encrypted", "expires_in": 3599},
        repeat=True,
    )
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description"] == "permission_unverified"
    # The tenant GUID came from the authority's configuration instead.
    assert result["result"].unique_id == UNIQUE_ID


async def test_unreadable_token_with_test_email_is_proven(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    graph_mock.openid()
    graph_mock.mocked.post(
        f"{LOGIN}/{TENANT_ID}/oauth2/v2.0/token",
        payload={"access_token": "opaque-or-encrypted", "expires_in": 3599},
        repeat=True,
    )
    graph_mock.send_mail()
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await submit(hass, flow_id, send_test_email=True)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["description"] is None
    assert len(graph_mock.sent()) == 1
