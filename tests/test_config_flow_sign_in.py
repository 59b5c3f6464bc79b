"""Tests of the sign-in path of the config flow: device code, reauth, Apprise personal."""

from __future__ import annotations

from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import SOURCE_USER, ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.const import (
    AUTH_SIGN_IN,
    CONF_AUTH_TYPE,
    CONF_CLIENT_ID,
    CONF_CLOUD,
    CONF_DEFAULT_RECIPIENTS,
    CONF_LARGE_ATTACHMENTS,
    CONF_SOURCE,
    CONF_TENANT_ID,
    CONF_TOKEN_CACHE,
    DOMAIN,
)

from .conftest import (
    CONSUMER_TID,
    PERSONAL,
    PUBLIC_CLIENT_ID,
    Clock,
    DelegatedEntra,
    GraphMock,
    open_menu_step,
    signed_in_entry,
)

pytestmark = pytest.mark.filterwarnings("ignore:Attempted too soon")

SIGN_IN_INPUT = {
    CONF_CLIENT_ID: PUBLIC_CLIENT_ID,
    CONF_TENANT_ID: "consumers",
    CONF_CLOUD: "global",
    CONF_LARGE_ATTACHMENTS: False,
}


async def open_sign_in(hass: HomeAssistant) -> str:
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["menu_options"][0] == "sign_in"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "sign_in"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sign_in"
    schema = {str(key): key for key in result["data_schema"].schema}
    assert schema[CONF_TENANT_ID].default() == "consumers"
    return str(result["flow_id"])


async def finish(clock: Clock, result: Any) -> Any:
    """Let the sign-in poll (on Home Assistant's clock), then take the next step."""
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    hass = clock.hass
    task = hass.config_entries.flow._progress[result["flow_id"]]._sign_in_task
    await clock.run_until(task.done)
    return await hass.config_entries.flow.async_configure(result["flow_id"])


async def test_sign_in_from_menu_to_entry(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    """Menu, form, code shown, person signs in, GET /me, entry created."""
    delegated.polls = ["authorization_pending", "authorization_pending"]
    delegated.me(mail=None)
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    assert result["type"] is FlowResultType.SHOW_PROGRESS
    assert result["progress_action"] == "sign_in"
    assert result["description_placeholders"] == {
        "url": "https://microsoft.com/devicelogin",
        "code": "HA7K2QW9Z",
        # What Entra said (expires_in 900), not a fixed text.
        "minutes": "15",
    }
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await finish(clock, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == PERSONAL
    data = result["data"]
    assert data[CONF_AUTH_TYPE] == AUTH_SIGN_IN
    assert data[CONF_SOURCE] == PERSONAL  # /me had no mail: its UPN
    assert {k: data[k] for k in SIGN_IN_INPUT} == SIGN_IN_INPUT
    assert delegated.issued_refresh_tokens[-1] in data[CONF_TOKEN_CACHE]
    assert result["result"].unique_id == f"{CONSUMER_TID}:{PERSONAL}"
    # Three polls: two pending, then the token.
    polls = [
        g
        for g in delegated.grants
        if g["grant_type"] == ["urn:ietf:params:oauth:grant-type:device_code"]
    ]
    assert len(polls) == 3
    assert "Mail.ReadWrite" not in delegated.device_scope


async def test_large_attachments_ask_for_mail_readwrite(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    delegated.me(mail=PERSONAL)
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**SIGN_IN_INPUT, CONF_LARGE_ATTACHMENTS: True}
    )
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await finish(clock, result)
    assert result["data"][CONF_LARGE_ATTACHMENTS] is True
    assert "https://graph.microsoft.com/Mail.ReadWrite" in delegated.device_scope


@pytest.mark.parametrize(
    ("changes", "field", "key"),
    [
        ({CONF_CLIENT_ID: "not-a-guid"}, CONF_CLIENT_ID, "invalid_client_id"),
        ({CONF_TENANT_ID: "not a tenant"}, CONF_TENANT_ID, "invalid_tenant"),
    ],
)
async def test_sign_in_format_errors(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    changes: dict[str, str],
    field: str,
    key: str,
) -> None:
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**SIGN_IN_INPUT, **changes}
    )
    assert result["errors"] == {field: key}
    assert graph_mock.mocked.requests == {}


async def test_national_cloud_with_consumers_is_refused_at_the_form(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    """National clouds serve no personal accounts: said before asking Microsoft."""
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**SIGN_IN_INPUT, CONF_CLOUD: "usgov_high"}
    )
    assert result["errors"] == {CONF_CLOUD: "personal_needs_global_cloud"}
    assert graph_mock.mocked.requests == {}


@pytest.mark.parametrize(
    ("device_error", "field", "key"),
    [
        # A user of another tenant at a tenant's authority: never "expired".
        (
            {"error": "invalid_grant", "error_codes": [50020]},
            CONF_TENANT_ID,
            "user_not_in_tenant",
        ),
        (
            {"error": "invalid_request", "error_codes": [50020]},
            CONF_TENANT_ID,
            "user_not_in_tenant",
        ),
        (
            {"error": "invalid_grant", "error_codes": [90094]},
            "base",
            "admin_consent_required",
        ),
    ],
)
async def test_first_sign_in_refusals_name_the_fix(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    device_error: dict[str, Any],
    field: str,
    key: str,
) -> None:
    delegated.device_error = {**device_error, "error_description": "AADSTS: no."}
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    assert result["errors"] == {field: key}


async def test_an_unknown_code_is_shown_with_microsofts_words(
    hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    """Not a pointer to the log: the form says the code and what Microsoft said."""
    delegated.device_error = {
        "error": "invalid_request",
        "error_codes": [90013],
        "error_description": (
            "AADSTS90013: Invalid input received from the user.\r\n"
            "Trace ID: 0000\r\nCorrelation ID: 1111"
        ),
    }
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    assert result["errors"] == {"base": "sign_in_refused"}
    placeholders = result["description_placeholders"]
    assert placeholders["code"] == "AADSTS90013"
    assert placeholders["details"] == (
        "AADSTS90013: Invalid input received from the user."
    )


@pytest.mark.parametrize(
    ("device_error", "field", "key"),
    [
        # At consumers this also means the app is not open to personal accounts.
        (
            {"error": "unauthorized_client", "error_codes": [700016]},
            CONF_CLIENT_ID,
            "invalid_client_id_personal",
        ),
        # An app for work accounts only, at /consumers (our form's default).
        (
            {"error": "invalid_request", "error_codes": [9002332]},
            CONF_CLIENT_ID,
            "account_type_not_allowed",
        ),
        (
            {"error": "unauthorized_client", "error_codes": [7000112]},
            CONF_CLIENT_ID,
            "app_disabled",
        ),
        (
            {"error": "invalid_scope", "error_codes": [650057]},
            CONF_CLIENT_ID,
            "permission_not_configured",
        ),
        # Seen in the wild as invalid_client: a public client has no secret,
        # so it is never "invalid client secret".
        (
            {"error": "invalid_client", "error_codes": [650057]},
            CONF_CLIENT_ID,
            "permission_not_configured",
        ),
    ],
)
async def test_app_set_up_wrong_for_sign_in(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    device_error: dict[str, Any],
    field: str,
    key: str,
) -> None:
    delegated.device_error = {**device_error, "error_description": "AADSTS: no."}
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {field: key}


@pytest.mark.parametrize(
    ("answer", "field", "key"),
    [
        ("authorization_declined", "base", "sign_in_declined"),
        ("expired_token", "base", "sign_in_code_expired"),
        ("invalid_client", CONF_CLIENT_ID, "public_client_flows_disabled"),
    ],
)
async def test_sign_in_that_fails_returns_to_the_form(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    delegated: DelegatedEntra,
    answer: str,
    field: str,
    key: str,
) -> None:
    """The error shows on the form, with what was typed kept."""
    delegated.polls = ["authorization_pending", answer]
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    result = await finish(clock, result)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "sign_in"
    assert result["errors"] == {field: key}
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested[CONF_CLIENT_ID] == PUBLIC_CLIENT_ID

    # Submitting again gets a new code, and this time it works.
    delegated.me(mail=PERSONAL)
    result = await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await finish(clock, result)
    assert result["type"] is FlowResultType.CREATE_ENTRY


async def test_me_refused_shows_on_the_form(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    delegated.me(status=403, code="ErrorAccessDenied")
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    result = await finish(clock, result)
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "missing_mail_send"}


async def test_closing_the_dialog_stops_polling(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    delegated.polls = ["authorization_pending"] * 10_000
    flow_id = await open_sign_in(hass)
    await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    for _ in range(5):  # a poll every 5 seconds
        await clock.tick(5)
    polls = len(delegated.grants)
    assert polls >= 5
    hass.config_entries.flow.async_abort(flow_id)
    await clock.idle()
    polls = len(delegated.grants)
    for _ in range(5):
        await clock.tick(5)
    assert len(delegated.grants) == polls
    assert hass.config_entries.flow.async_progress() == []


async def test_same_account_twice_aborts(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    signed_in_entry(delegated).add_to_hass(hass)
    delegated.me(mail=PERSONAL.upper())
    flow_id = await open_sign_in(hass)
    result = await hass.config_entries.flow.async_configure(flow_id, SIGN_IN_INPUT)
    result = await finish(clock, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"


# -- reauth and reconfigure -------------------------------------------------------


async def start_reauth(hass: HomeAssistant, entry: MockConfigEntry) -> str:
    result = await entry.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_sign_in"
    assert result["description_placeholders"]["mailbox"] == PERSONAL
    return str(result["flow_id"])


async def test_reauth_signs_in_the_same_account_again(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    entry = signed_in_entry(delegated)
    entry.add_to_hass(hass)
    old_cache = entry.data[CONF_TOKEN_CACHE]
    flow_id = await start_reauth(hass, entry)
    delegated.me(mail=PERSONAL)
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await finish(clock, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reauth_successful"
    assert entry.data[CONF_TOKEN_CACHE] != old_cache
    assert delegated.issued_refresh_tokens[-1] in entry.data[CONF_TOKEN_CACHE]


async def test_reauth_with_another_account_aborts(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    entry = signed_in_entry(delegated)
    entry.add_to_hass(hass)
    old_cache = entry.data[CONF_TOKEN_CACHE]
    flow_id = await start_reauth(hass, entry)
    delegated.user = "jamie@hotmail.com"
    delegated.me(mail="jamie@hotmail.com")
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    result = await finish(clock, result)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "account_mismatch"
    assert entry.data[CONF_TOKEN_CACHE] == old_cache


async def test_reauth_sign_in_declined_can_be_retried(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    entry = signed_in_entry(delegated)
    entry.add_to_hass(hass)
    flow_id = await start_reauth(hass, entry)
    delegated.polls = ["authorization_declined"]
    result = await hass.config_entries.flow.async_configure(flow_id, {})
    result = await finish(clock, result)
    assert result["step_id"] == "reauth_sign_in"
    assert result["errors"] == {"base": "sign_in_declined"}


async def test_reconfigure_a_signed_in_account(
    clock: Clock, hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    """A new app registration: sign in again; same account, updated entry."""
    entry = signed_in_entry(delegated)
    entry.add_to_hass(hass)
    result = await entry.start_reconfigure_flow(hass)
    assert result["step_id"] == "reconfigure_sign_in"
    other_app = "5c8d3b01-2f6e-4a4b-9d7c-0e1f2a3b4c5d"
    delegated.client_id = other_app
    delegated.me(mail=PERSONAL)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**SIGN_IN_INPUT, CONF_CLIENT_ID: other_app, CONF_LARGE_ATTACHMENTS: True},
    )
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await finish(clock, result)
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_CLIENT_ID] == other_app
    assert entry.data[CONF_LARGE_ATTACHMENTS] is True


# -- Apprise personal mode ------------------------------------------------------------


async def test_apprise_personal_url_imports_a_signed_in_entry(
    hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    """The URL's refresh token is proven (refresh + GET /me) before the entry."""
    delegated.cache()  # issues a refresh token, as Apprise's sign-in did
    seed = delegated.issued_refresh_tokens[-1]
    delegated.me(mail=PERSONAL)
    flow_id = await open_menu_step(hass, "apprise")
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            flow_id,
            {"url": f"o365://{PERSONAL}/{PUBLIC_CLIENT_ID}/{seed}/ops@example.com"},
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_AUTH_TYPE] == AUTH_SIGN_IN
    assert result["data"][CONF_TENANT_ID] == "consumers"
    assert result["data"][CONF_SOURCE] == PERSONAL
    assert seed not in result["data"][CONF_TOKEN_CACHE]  # rotated on redeem
    assert result["options"] == {CONF_DEFAULT_RECIPIENTS: ["ops@example.com"]}
    assert result["result"].unique_id == f"{CONSUMER_TID}:{PERSONAL}"
    (refresh,) = [g for g in delegated.grants if g["grant_type"] == ["refresh_token"]]
    assert refresh["refresh_token"] == [seed]
    assert "client_secret" not in refresh


async def test_apprise_personal_without_user_read_uses_the_urls_source(
    hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    """Apprise asked only for Mail.Send: /me is refused, the URL names the mailbox."""
    delegated.cache()
    seed = delegated.issued_refresh_tokens[-1]
    delegated.consented = {"Mail.Send"}
    flow_id = await open_menu_step(hass, "apprise")
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"url": f"o365://{PERSONAL}/{PUBLIC_CLIENT_ID}/{seed}"}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SOURCE] == PERSONAL
    first, second = (g["scope"][0] for g in delegated.grants[-2:])
    assert "User.Read" in first  # refused: no consent (AADSTS65001)
    assert "User.Read" not in second
    assert graph_mock.calls("GET", "/me") == []


async def test_apprise_personal_with_me_refused_uses_the_urls_source(
    hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    delegated.cache()
    seed = delegated.issued_refresh_tokens[-1]
    delegated.me(status=403, code="Authorization_RequestDenied")
    flow_id = await open_menu_step(hass, "apprise")
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {"url": f"o365://{PERSONAL}/{PUBLIC_CLIENT_ID}/{seed}"}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_SOURCE] == PERSONAL


async def test_apprise_personal_refused_refresh_token(
    hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    """A refresh token that no longer works: said on the URL field, kept typed."""
    url = f"o365://{PERSONAL}/{PUBLIC_CLIENT_ID}/stale-token"
    flow_id = await open_menu_step(hass, "apprise")
    result = await hass.config_entries.flow.async_configure(flow_id, {"url": url})
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"url": "sign_in_expired"}
    suggested = {
        str(key): key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description
    }
    assert suggested["url"] == url


async def test_setup_of_a_signed_in_account(
    hass: HomeAssistant, graph_mock: GraphMock, delegated: DelegatedEntra
) -> None:
    """The rotated refresh token is written back into the entry at once."""
    entry = signed_in_entry(delegated)
    entry.add_to_hass(hass)
    first = entry.data[CONF_TOKEN_CACHE]
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert entry.data[CONF_TOKEN_CACHE] != first
    assert delegated.issued_refresh_tokens[-1] in entry.data[CONF_TOKEN_CACHE]
    # No credential expiry for a signed-in account: no sensor, no request.
    assert hass.states.get("sensor.casey_outlook_com_credential_expires") is None
    assert graph_mock.calls("GET", "/applications") == []
