"""Tests of credential expiry: known ahead of time, a sensor, repairs at 30 and 7 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from freezegun.api import FrozenDateTimeFactory
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
)

from custom_components.o365.const import (
    CONF_CERTIFICATE,
    CONF_CLIENT_SECRET,
    CONF_SECRET_EXPIRES,
    DOMAIN,
)
from custom_components.o365.expiry import option_expiry, secret_expiry
from emulator.client_certs import make_self_signed_certificate

from .conftest import ENTRY_DATA, GraphMock, certificate_entry, pem

SENSOR = "sensor.alerts_contoso_com_credential_expires"
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True, scope="module")
def _cryptography_meets_the_real_datetime() -> None:
    """Make a certificate before any test freezes the clock.

    cryptography's Rust core (version 50, with Home Assistant 2026.10) looks
    up ``datetime.datetime`` on first use and keeps it: first used under
    freezegun, it keeps freezegun's class and refuses real datetimes such as
    ``NOW``. Other test modules usually use it first; this one alone did not.
    """
    make_self_signed_certificate("first use")


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


def issues(
    registry: ir.IssueRegistry, entry: MockConfigEntry
) -> dict[str, ir.IssueEntry]:
    return {
        key: issue
        for key in ("credential_expires_soon", "credential_expires_now")
        if (issue := registry.async_get_issue(DOMAIN, f"{key}_{entry.entry_id}"))
    }


def test_secret_matched_by_hint_else_the_soonest() -> None:
    app = {
        "passwordCredentials": [
            {"hint": "abc", "endDateTime": "2027-03-01T00:00:00Z"},
            {"hint": "s3c", "endDateTime": "2027-09-01T10:00:00Z"},
            {"hint": "xyz", "endDateTime": "2027-01-01T00:00:00Z"},
        ]
    }
    assert secret_expiry(app, "s3cr3t value") == datetime(2027, 9, 1, 10, tzinfo=UTC)
    assert secret_expiry(app, "no match") == datetime(2027, 1, 1, tzinfo=UTC)
    assert secret_expiry({"passwordCredentials": []}, "x") is None
    assert secret_expiry("junk", "x") is None


def test_option_date_is_the_end_of_that_day() -> None:
    expires = option_expiry("2027-01-15")
    assert expires is not None
    local = dt_util.as_local(expires)
    assert (local.date().isoformat(), local.hour, local.minute) == (
        "2027-01-15",
        23,
        59,
    )
    assert option_expiry("") is None
    assert option_expiry("15/01/2027") is None


async def test_certificate_expiry_sensor(
    hass: HomeAssistant, graph_mock: GraphMock, freezer: FrozenDateTimeFactory
) -> None:
    freezer.move_to(NOW)
    cert = make_self_signed_certificate(
        "alerts",
        not_before=NOW - timedelta(days=1),
        not_after=NOW + timedelta(days=200),
    )
    graph_mock.sign_in()
    await set_up(hass, certificate_entry(pem(cert)))
    state = hass.states.get(SENSOR)
    assert state is not None
    assert dt_util.parse_datetime(state.state) == NOW + timedelta(days=200)
    assert state.attributes["device_class"] == "timestamp"
    assert state.attributes["source"] == "certificate"
    # A certificate says it itself: nothing asked of the app registration.
    assert graph_mock.calls("GET", "/applications") == []


async def test_secret_expiry_read_from_the_app_registration(
    hass: HomeAssistant, graph_mock: GraphMock, config_entry: MockConfigEntry
) -> None:
    """With Application.Read.All the secret is found by its hint (first three characters)."""
    graph_mock.openid()
    graph_mock.token()
    graph_mock.send_mail()
    graph_mock.application(
        secrets=[("xyz", "2027-02-01T00:00:00Z"), ("s3c", "2028-06-30T08:00:00Z")]
    )
    await set_up(hass, config_entry)
    state = hass.states.get(SENSOR)
    assert dt_util.parse_datetime(state.state) == datetime(2028, 6, 30, 8, tzinfo=UTC)
    assert state.attributes["source"] == "app_registration"
    # Checked at start-up, never on the send path.
    await hass.services.async_call("notify", "o365", {"message": "m"}, blocking=True)
    assert len(graph_mock.calls("GET", "/applications")) == 1


async def test_secret_expiry_from_the_options(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """Without the permission, the date entered in the options is used (and
    saving the options does not ask Graph again: it refused once)."""
    assert hass.states.get(SENSOR).state == "unknown"
    asked = len(graph_mock.calls("GET", "/applications"))
    assert asked == 1
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {CONF_SECRET_EXPIRES: "2027-05-04"}
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done()
    state = hass.states.get(SENSOR)
    assert dt_util.as_local(dt_util.parse_datetime(state.state)).date().isoformat() == (
        "2027-05-04"
    )
    assert state.attributes["source"] == "option"
    assert len(graph_mock.calls("GET", "/applications")) == asked


async def test_the_entered_date_is_watched_without_an_update_listener(
    hass: HomeAssistant, graph_mock: GraphMock, init_integration: MockConfigEntry
) -> None:
    """Home Assistant 2026.10 takes an update listener for one that reloads, and
    warns when a reauth or reconfigure flow reloads an entry that has one."""
    assert init_integration.update_listeners == []
    # Options saved with the same date do not ask Graph again.
    result = await hass.config_entries.options.async_init(init_integration.entry_id)
    await hass.config_entries.options.async_configure(result["flow_id"], {})
    await hass.async_block_till_done()
    assert len(graph_mock.calls("GET", "/applications")) == 1


async def test_repairs_at_30_and_7_days_then_cleared(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Checked daily: a warning 30 days before, an error 7 days before, gone
    once a new certificate is in."""
    freezer.move_to(NOW)
    old = make_self_signed_certificate(
        "old", not_before=NOW - timedelta(days=300), not_after=NOW + timedelta(days=40)
    )
    graph_mock.sign_in()
    entry = certificate_entry(pem(old))
    await set_up(hass, entry)
    assert issues(issue_registry, entry) == {}

    for day in range(1, 12):
        freezer.move_to(NOW + timedelta(days=day))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    (soon,) = issues(issue_registry, entry).values()
    assert soon.translation_key == "credential_expires_soon"
    assert soon.severity is ir.IssueSeverity.WARNING
    assert soon.translation_placeholders["days"] == "29"
    assert (
        soon.translation_placeholders["date"]
        == (NOW + timedelta(days=40)).date().isoformat()
    )

    for day in range(12, 35):
        freezer.move_to(NOW + timedelta(days=day))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    (final,) = issues(issue_registry, entry).values()
    assert final.translation_key == "credential_expires_now"
    assert final.severity is ir.IssueSeverity.ERROR
    assert final.translation_placeholders["days"] == "6"

    new = make_self_signed_certificate(
        "new",
        not_before=NOW + timedelta(days=33),
        not_after=NOW + timedelta(days=34 + 730),
    )
    result = await entry.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {
            **{
                k: v
                for k, v in ENTRY_DATA.items()
                if k not in ("auth_type", CONF_CLIENT_SECRET)
            },
            CONF_CERTIFICATE: pem(new),
        },
    )
    assert result["reason"] == "reconfigure_successful"
    await hass.async_block_till_done()
    assert issues(issue_registry, entry) == {}
    assert dt_util.parse_datetime(hass.states.get(SENSOR).state) == (
        NOW + timedelta(days=34 + 730)
    )


@pytest.mark.parametrize("status", [500, 503])
async def test_app_registration_unreachable_keeps_what_was_known(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    status: int,
) -> None:
    graph_mock.openid()
    graph_mock.token()
    graph_mock.application(status=status)
    await set_up(hass, config_entry)
    assert hass.states.get(SENSOR).state == "unknown"
