"""Fixtures for the emulator tests, which run a real HTTPS server on loopback."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from emulator import Emulator

from .helpers import get_token


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The emulator needs no Home Assistant (and keeps the real clock): start none."""


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Allow real sockets.

    The Home Assistant test plugin disables sockets before every test (through
    pytest-socket); its ``socket_enabled`` fixture turns them back on.
    """


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    """Run an emulator on 127.0.0.1 with a free port."""
    async with Emulator(tmp_path / "state") as running:
        yield running


@pytest.fixture
async def session(emulator: Emulator) -> AsyncIterator[aiohttp.ClientSession]:
    """Return a client that trusts the emulator's CA and uses its base URL."""
    connector = aiohttp.TCPConnector(ssl=emulator.ssl_context())
    async with aiohttp.ClientSession(
        base_url=emulator.url, connector=connector
    ) as client:
        yield client


@pytest.fixture
async def auth(session: aiohttp.ClientSession, emulator: Emulator) -> dict[str, str]:
    """Return the Authorization header of an app-only token of the default app."""
    return {"Authorization": f"Bearer {await get_token(session, emulator)}"}


@pytest.fixture
def msal_trusts_verify(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make MSAL's ``verify=`` count.

    requests lets ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` override a session's
    ``verify`` (psf/requests#3829), and MSAL sets ``verify`` on its session.
    """
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
