"""Tests of certificate credentials: setup, reauth, reconfigure and every error."""

from __future__ import annotations

import base64
from datetime import timedelta
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import patch

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.o365.const import (
    CONF_CERTIFICATE,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_SEND_TEST_EMAIL,
    CONF_SOURCE,
    CONF_TENANT_ID,
    DOMAIN,
    REPO_URL,
)
from emulator.client_certs import SelfSignedCertificate, make_self_signed_certificate

from .conftest import (
    CLIENT_ID,
    ENTRY_DATA,
    MAILBOX,
    TENANT_ID,
    UNIQUE_ID,
    GraphMock,
    certificate_entry,
    open_menu_step,
    pem,
)

CERT_INPUT = {
    CONF_SOURCE: MAILBOX,
    CONF_TENANT_ID: TENANT_ID,
    CONF_CLIENT_ID: CLIENT_ID,
    CONF_CLOUD: "global",
    CONF_SEND_TEST_EMAIL: False,
}


@pytest.fixture(scope="module")
def certificate() -> SelfSignedCertificate:
    return make_self_signed_certificate("Home Assistant alerts")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def assertion_of(graph_mock: GraphMock) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the header and claims of the client assertion MSAL sent."""
    *_, form = graph_mock.token_requests()
    assert "client_secret" not in form
    assert form["client_assertion_type"] == [
        "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
    ]
    header, claims, _ = form["client_assertion"][0].split(".")
    return json.loads(b64url_decode(header)), json.loads(b64url_decode(claims))


async def test_certificate_pasted(
    hass: HomeAssistant, graph_mock: GraphMock, certificate: SelfSignedCertificate
) -> None:
    """MSAL signs the assertion with the key; the header names the SHA-256 thumbprint."""
    graph_mock.sign_in()
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**CERT_INPUT, CONF_CERTIFICATE: pem(certificate)}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CERTIFICATE] == pem(certificate).strip()
    assert CONF_CLIENT_SECRET not in result["data"]
    assert result["result"].unique_id == UNIQUE_ID
    header, claims = assertion_of(graph_mock)
    thumbprint = bytes.fromhex(certificate.sha256_thumbprint)
    assert b64url_decode(header["x5t#S256"]) == thumbprint
    assert header["alg"] == "PS256"
    assert claims["iss"] == claims["sub"] == CLIENT_ID
    assert claims["aud"].endswith(f"/{TENANT_ID}/oauth2/v2.0/token")


async def test_certificate_followed_by_its_chain(
    hass: HomeAssistant, graph_mock: GraphMock, certificate: SelfSignedCertificate
) -> None:
    """A PEM with the chain after the certificate: the first one is the app's."""
    chain = make_self_signed_certificate("an intermediate").certificate_pem
    graph_mock.sign_in()
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**CERT_INPUT, CONF_CERTIFICATE: f"{pem(certificate)}\n{chain}"}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    header, _ = assertion_of(graph_mock)
    thumbprint = bytes.fromhex(certificate.sha256_thumbprint)
    assert b64url_decode(header["x5t#S256"]) == thumbprint


async def test_certificate_from_an_allowed_file(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    certificate: SelfSignedCertificate,
    tmp_path: Path,
) -> None:
    """A path is stored as a path and read again at every start."""
    folder = tmp_path / "certs"
    folder.mkdir()
    (folder / "alerts.pem").write_text(pem(certificate))
    hass.config.allowlist_external_dirs = {str(folder)}
    graph_mock.sign_in()
    flow_id = await open_menu_step(hass)
    with patch("custom_components.o365.async_setup_entry", return_value=True):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**CERT_INPUT, CONF_CERTIFICATE: str(folder / "alerts.pem")}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["data"][CONF_CERTIFICATE] == str(folder / "alerts.pem")
    assertion_of(graph_mock)


async def test_certificate_file_gone_at_start(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    tmp_path: Path,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The file was removed: setup waits for reauth; the repair links the
    README entry of that very error."""
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    entry = certificate_entry(str(tmp_path / "gone.pem"))
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_ERROR
    issue = issue_registry.async_get_issue(DOMAIN, f"credential_{entry.entry_id}")
    assert issue is not None
    assert issue.learn_more_url == f"{REPO_URL}#certificate_file_unreadable"
    assert graph_mock.token_requests() == []


@pytest.mark.parametrize(
    ("make", "key"),
    [
        (lambda cert, other, path: "not a\ncertificate", "certificate_unreadable"),
        (
            lambda cert, other, path: (
                f"{other.private_key_pem}\n{cert.certificate_pem}"
            ),
            "certificate_key_mismatch",
        ),
        (lambda cert, other, path: cert.certificate_pem, "certificate_unreadable"),
        (
            lambda cert, other, path: "/etc/ssl/private/alerts.pem",
            "certificate_path_not_allowed",
        ),
        (
            lambda cert, other, path: str(path / "missing.pem"),
            "certificate_file_unreadable",
        ),
    ],
)
async def test_certificate_errors_before_any_request(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    certificate: SelfSignedCertificate,
    tmp_path: Path,
    make: Any,
    key: str,
) -> None:
    other = make_self_signed_certificate("another")
    hass.config.allowlist_external_dirs = {str(tmp_path)}
    flow_id = await open_menu_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**CERT_INPUT, CONF_CERTIFICATE: make(certificate, other, tmp_path)}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_CERTIFICATE: key}
    assert graph_mock.mocked.requests == {}


async def test_weak_and_expired_certificates(
    hass: HomeAssistant, graph_mock: GraphMock
) -> None:
    weak = make_self_signed_certificate("weak", key_size=1024)
    now = dt_util.utcnow()
    expired = make_self_signed_certificate(
        "old", not_before=now - timedelta(days=400), not_after=now - timedelta(days=1)
    )
    flow_id = await open_menu_step(hass)
    for cert, key in (
        (weak, "certificate_key_too_weak"),
        (expired, "certificate_expired"),
    ):
        result = await hass.config_entries.flow.async_configure(
            flow_id, {**CERT_INPUT, CONF_CERTIFICATE: pem(cert)}
        )
        assert result["errors"] == {CONF_CERTIFICATE: key}
    assert graph_mock.mocked.requests == {}


async def test_certificate_not_uploaded_to_the_app(
    hass: HomeAssistant, graph_mock: GraphMock, certificate: SelfSignedCertificate
) -> None:
    """AADSTS700027: the certificate is not on the app registration."""
    graph_mock.openid()
    graph_mock.token(error="invalid_client", codes=[700027], status=401)
    flow_id = await open_menu_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**CERT_INPUT, CONF_CERTIFICATE: pem(certificate)}
    )
    assert result["errors"] == {CONF_CERTIFICATE: "certificate_invalid"}


@pytest.mark.parametrize(
    "credentials",
    [{}, {CONF_CLIENT_SECRET: "a secret", CONF_CERTIFICATE: "-----BEGIN x"}],
)
async def test_exactly_one_credential(
    hass: HomeAssistant, graph_mock: GraphMock, credentials: dict[str, str]
) -> None:
    flow_id = await open_menu_step(hass)
    result = await hass.config_entries.flow.async_configure(
        flow_id, {**CERT_INPUT, **credentials}
    )
    assert result["errors"] == {"base": "secret_or_certificate"}


async def test_reauth_moves_from_a_secret_to_a_certificate(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    certificate: SelfSignedCertificate,
) -> None:
    result = await init_integration.start_reauth_flow(hass)
    assert result["step_id"] == "reauth_confirm"
    graph_mock.mocked.clear()
    graph_mock.sign_in()
    graph_mock.send_mail()
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_CERTIFICATE: pem(certificate)}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reauth_successful"
    assert init_integration.data[CONF_CERTIFICATE] == pem(certificate).strip()
    assert CONF_CLIENT_SECRET not in init_integration.data
    assertion_of(graph_mock)


async def test_reconfigure_with_a_certificate_and_blank_keeps_it(
    hass: HomeAssistant,
    graph_mock: GraphMock,
    init_integration: MockConfigEntry,
    certificate: SelfSignedCertificate,
) -> None:
    reconfigure = {
        k: v
        for k, v in ENTRY_DATA.items()
        if k not in ("auth_type", CONF_CLIENT_SECRET)
    }
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**reconfigure, CONF_CERTIFICATE: pem(certificate)}
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_CERTIFICATE] == pem(certificate).strip()
    assert CONF_CLIENT_SECRET not in init_integration.data
    # Blank credential fields keep the certificate.
    result = await init_integration.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], reconfigure
    )
    await hass.async_block_till_done()
    assert result["reason"] == "reconfigure_successful"
    assert init_integration.data[CONF_CERTIFICATE] == pem(certificate).strip()


async def test_private_key_never_shown(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    graph_mock: GraphMock,
    certificate: SelfSignedCertificate,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The key stays out of logs (MSAL's debug log too), diagnostics and errors."""
    caplog.set_level(logging.DEBUG)
    graph_mock.sign_in()
    graph_mock.send_mail(status=400, code="ErrorInvalidRecipients")
    assert await async_setup_component(hass, "diagnostics", {})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=MAILBOX,
        unique_id=UNIQUE_ID,
        data={
            **{k: v for k, v in ENTRY_DATA.items() if k != CONF_CLIENT_SECRET},
            CONF_CERTIFICATE: pem(certificate),
        },
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    with pytest.raises(Exception) as info:  # noqa: PT011
        await hass.services.async_call(
            "notify", "o365", {"message": "m"}, blocking=True
        )
    diagnostics = json.dumps(
        await get_diagnostics_for_config_entry(hass, hass_client, entry)
    )
    key_body = certificate.private_key_pem.splitlines()[1]
    for text in (caplog.text, diagnostics, str(info.value)):
        assert key_body not in text
        assert "PRIVATE KEY" not in text
