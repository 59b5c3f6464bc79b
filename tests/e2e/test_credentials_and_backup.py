"""A certificate credential and a backup account, end to end over TLS."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.o365.const import (
    CONF_BACKUP_ACCOUNT,
    CONF_CERTIFICATE,
    CONF_CLIENT_SECRET,
    CONF_SOURCE,
)
from emulator import Emulator, make_self_signed_certificate
from emulator.client_certs import SelfSignedCertificate
from emulator.directory import DEFAULT_TENANT_ID

from .conftest import ENTRY_DATA, MAILBOX, Clock, alert, received, requests, set_up

BACKUP = "ops@contoso.com"


def certificate_entry(certificate: SelfSignedCertificate) -> MockConfigEntry:
    """An app-only entry of the emulator's app with a certificate, no secret."""
    return MockConfigEntry(
        domain="o365",
        title=MAILBOX,
        unique_id=f"{DEFAULT_TENANT_ID}:{MAILBOX}",
        data={
            **{k: v for k, v in ENTRY_DATA.items() if k != CONF_CLIENT_SECRET},
            CONF_CERTIFICATE: certificate.private_key_pem + certificate.certificate_pem,
        },
    )


async def test_certificate_signs_a_real_client_assertion(
    clock: Clock, hass: HomeAssistant, emulator: Emulator
) -> None:
    """MSAL signs the assertion; the emulator verifies it against the uploaded
    certificate (SHA-256 thumbprint) before it issues a token."""
    certificate = make_self_signed_certificate("Home Assistant alerts")
    emulator.add_certificate(certificate.certificate_pem)
    entry = certificate_entry(certificate)
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.LOADED
    await clock.run(alert(hass, "Signed with a certificate"))
    (message,) = received(emulator, "Signed with a certificate")
    assert message.mailbox.address == MAILBOX
    assert all(r["status"] == 200 for r in requests(emulator, "token"))
    # The expiry comes from the certificate itself.
    state = hass.states.get("sensor.alerts_contoso_com_credential_expires")
    assert state is not None
    assert state.attributes["source"] == "certificate"


async def test_certificate_not_uploaded_is_refused(
    hass: HomeAssistant, emulator: Emulator
) -> None:
    """AADSTS700027: setup waits for a new credential (reauth)."""
    certificate = make_self_signed_certificate("never uploaded")
    entry = certificate_entry(certificate)
    await set_up(hass, entry)
    assert entry.state is ConfigEntryState.SETUP_ERROR
    assert entry.error_reason_translation_key == "certificate_invalid"
    (flow,) = hass.config_entries.flow.async_progress()
    assert flow["context"]["source"] == "reauth"


async def test_faulted_primary_sends_through_the_backup(
    clock: Clock, hass: HomeAssistant, emulator: Emulator, account: MockConfigEntry
) -> None:
    """The primary's Graph answers 503 whatever it tries: the alert is
    delivered at once through the backup, whose mailbox the inbox shows."""
    backup = MockConfigEntry(
        domain="o365",
        title=BACKUP,
        unique_id=f"{DEFAULT_TENANT_ID}:{BACKUP}",
        data={**ENTRY_DATA, CONF_SOURCE: BACKUP},
    )
    await set_up(hass, backup)
    hass.config_entries.async_update_entry(
        account, options={CONF_BACKUP_ACCOUNT: BACKUP}
    )
    emulator.add_fault("503", match="sendMail", count=-1, mailbox=MAILBOX)
    await clock.run(alert(hass, "Smoke in the kitchen"))
    (message,) = received(emulator, "Smoke in the kitchen")
    assert message.mailbox.address == BACKUP
    assert message.to_json()["from"]["emailAddress"]["address"] == BACKUP
    assert message.recipients("toRecipients") == [
        {"emailAddress": {"address": MAILBOX}}
    ]
    refused = [r for r in requests(emulator, "sendMail") if r["status"] == 503]
    assert len(refused) == 4  # the primary's in-call tries
