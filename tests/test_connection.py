"""Tests of where the integration connects: Microsoft's clouds or the emulator."""

from __future__ import annotations

from pathlib import Path
import ssl

import certifi
from homeassistant.core import HomeAssistant
import pytest

from custom_components.o365.connection import async_connect

from .conftest import ENTRY_DATA


async def test_microsoft_cloud_by_default(
    hass: HomeAssistant, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("O365_EMULATOR_URL", raising=False)
    connection = await async_connect(hass, {**ENTRY_DATA, "cloud": "usgov_dod"})
    assert connection.endpoints.graph_url == "https://dod-graph.microsoft.us"
    assert connection.endpoints.login_url == "https://login.microsoftonline.us"


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
    assert connection.endpoints.graph_url == "https://127.0.0.1:8443"
    assert connection.endpoints.authority("t") == "https://127.0.0.1:8443/t"
    context = connection.client._ssl
    assert isinstance(context, ssl.SSLContext)
    assert context.cert_store_stats()["x509_ca"] > 0
    assert "local Graph emulator" in caplog.text
