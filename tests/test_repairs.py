"""Repairs fixed in place: the client secret's expiry date nobody could read."""

from __future__ import annotations

from http import HTTPStatus

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.o365.const import CONF_SECRET_EXPIRES, DOMAIN
from custom_components.o365.repairs import async_create_fix_flow

from .conftest import MAILBOX, GraphMock, certificate_entry, pem, set_up

FIX = "/api/repairs/issues/fix"


async def test_unknown_expiry_asks_for_the_date_and_takes_it(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """No Application.Read.All: instead of "Unknown" forever, a repair asks."""
    issue_id = f"credential_expiry_unknown_{init_integration.entry_id}"
    issue = issue_registry.async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.is_fixable
    assert issue.translation_placeholders == {"mailbox": MAILBOX}
    assert hass.states.get("sensor.alerts_contoso_com_credential_expires").state == (
        "unknown"
    )

    assert await async_setup_component(hass, "repairs", {})
    client = await hass_client()
    response = await client.post(FIX, json={"handler": DOMAIN, "issue_id": issue_id})
    assert response.status == HTTPStatus.OK
    form = await response.json()
    assert form["step_id"] == "secret_expires"
    assert form["description_placeholders"] == {"mailbox": MAILBOX}
    # Submitted untouched, the form holds today (2025.4's frontend sends it
    # with a time): not an expiry date to keep, and the form says why.
    for untouched in (f"{dt_util.now().date()}T00:00:00", str(dt_util.now().date())):
        response = await client.post(
            f"{FIX}/{form['flow_id']}", json={CONF_SECRET_EXPIRES: untouched}
        )
        assert response.status == HTTPStatus.OK
        form = await response.json()
        assert form["errors"] == {CONF_SECRET_EXPIRES: "not_after_today"}
    assert CONF_SECRET_EXPIRES not in init_integration.options
    response = await client.post(
        f"{FIX}/{form['flow_id']}", json={CONF_SECRET_EXPIRES: "2027-05-04"}
    )
    assert response.status == HTTPStatus.OK
    assert (await response.json())["type"] == "create_entry"
    await hass.async_block_till_done()

    assert init_integration.options[CONF_SECRET_EXPIRES] == "2027-05-04"
    state = hass.states.get("sensor.alerts_contoso_com_credential_expires")
    assert state.attributes["source"] == "option"
    assert issue_registry.async_get_issue(DOMAIN, issue_id) is None


async def test_no_repair_when_the_date_is_known(
    hass: HomeAssistant, graph_mock: GraphMock, issue_registry: ir.IssueRegistry
) -> None:
    """A certificate says when it expires: nothing to ask."""
    from emulator.client_certs import make_self_signed_certificate

    entry = certificate_entry(pem(make_self_signed_certificate()))
    graph_mock.sign_in()
    await set_up(hass, entry)
    assert not [
        issue
        for issue in issue_registry.issues.values()
        if issue.issue_id.startswith("credential_expiry_unknown")
    ]


async def test_the_fix_of_a_removed_account_aborts(hass: HomeAssistant) -> None:
    flow = await async_create_fix_flow(
        hass, "credential_expiry_unknown_gone", {"entry_id": "gone"}
    )
    flow.hass = hass
    result = await flow.async_step_init()
    assert result["type"] == "abort"
    assert result["reason"] == "entry_removed"


async def test_no_fix_for_other_issues(hass: HomeAssistant) -> None:
    with pytest.raises(ValueError, match="No fix"):
        await async_create_fix_flow(hass, "budget_spent_x", None)
