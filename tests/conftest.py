"""Shared fixtures: a mocked Entra ID and Microsoft Graph behind aioresponses.

MSAL's HTTP goes through the integration's aiohttp bridge, so the OpenID
configuration, the token endpoint and Graph are all mocked the same way and
every request that "reached Microsoft" can be inspected.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Generator, Iterable
import json
from pathlib import Path
import re
import time
from typing import Any
from urllib.parse import parse_qs
import uuid

from aioresponses import CallbackResult, aioresponses
from homeassistant.core import HomeAssistant
import pytest
from pytest_homeassistant_custom_component.common import MockConfigEntry
from yarl import URL

from custom_components.o365.const import (
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_SOURCE,
    CONF_TENANT_ID,
    DOMAIN,
)

TENANT_ID = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
CLIENT_ID = "0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11"
CLIENT_SECRET = "s3cr3t?@/%+#&= value~"
MAILBOX = "alerts@contoso.com"
LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com/v1.0"
UNIQUE_ID = f"{TENANT_ID}:{MAILBOX}"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40 + b"\xff\xd9"

#: Lines the fault-injection suite reports at the end of the run.
FAULT_REPORT: list[str] = []

ENTRY_DATA = {
    CONF_SOURCE: MAILBOX,
    CONF_TENANT_ID: TENANT_ID,
    CONF_CLIENT_ID: CLIENT_ID,
    CONF_CLIENT_SECRET: CLIENT_SECRET,
    CONF_CLOUD: "global",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(
    roles: Iterable[str] = ("Mail.Send",), tid: str = TENANT_ID, **claims: Any
) -> str:
    """Return a JWT-shaped access token like Entra's (signature not checked)."""
    header = b64url(json.dumps({"typ": "JWT", "alg": "RS256"}).encode())
    payload = {
        "aud": "https://graph.microsoft.com",
        "tid": tid,
        "appid": CLIENT_ID,
        "roles": list(roles),
        "exp": int(time.time()) + 3600,
        "uti": uuid.uuid4().hex,
        **claims,
    }
    body = b64url(json.dumps(payload).encode())
    return f"{header}.{body}.{b64url(b'signature')}"


def users_url(mailbox: str, *segments: str) -> URL:
    """Return the Graph URL the client builds: every segment encoded once."""
    from urllib.parse import quote

    path = "/".join(quote(s, safe="") for s in (mailbox, *segments))
    return URL(f"{GRAPH}/users/{path}", encoded=True)


class GraphMock:
    """Entra ID and Graph endpoints on aioresponses, with request inspection."""

    def __init__(self, mocked: aioresponses) -> None:
        self.mocked = mocked

    # -- Entra ID -------------------------------------------------------------

    def openid(self, tenant: str = TENANT_ID, *, status: int = 200) -> None:
        url = f"{LOGIN}/{tenant}/v2.0/.well-known/openid-configuration"
        if status != 200:
            self.mocked.get(
                url,
                status=status,
                payload={"error": "invalid_tenant", "error_codes": [90002]},
                repeat=True,
            )
            return
        self.mocked.get(
            url,
            payload={
                "issuer": f"{LOGIN}/{TENANT_ID}/v2.0",
                "authorization_endpoint": f"{LOGIN}/{TENANT_ID}/oauth2/v2.0/authorize",
                "token_endpoint": f"{LOGIN}/{TENANT_ID}/oauth2/v2.0/token",
            },
            repeat=True,
        )

    def token(
        self,
        *,
        roles: Iterable[str] = ("Mail.Send",),
        tid: str = TENANT_ID,
        expires_in: int = 3599,
        error: str | None = None,
        codes: Iterable[int] = (),
        status: int | None = None,
        exception: Exception | None = None,
        repeat: bool = True,
    ) -> None:
        url = f"{LOGIN}/{TENANT_ID}/oauth2/v2.0/token"
        if exception is not None:
            self.mocked.post(url, exception=exception, repeat=repeat)
            return
        if error is not None:
            codes = list(codes)
            self.mocked.post(
                url,
                status=status or 400,
                payload={
                    "error": error,
                    "error_description": f"AADSTS{codes[0] if codes else 0}: problem.",
                    "error_codes": codes,
                },
                repeat=repeat,
            )
            return
        roles = tuple(roles)

        def issue(url: URL, **kwargs: Any) -> CallbackResult:
            """Issue a new token each time, as Entra does."""
            return CallbackResult(
                status=status or 200,
                payload={
                    "token_type": "Bearer",
                    "expires_in": expires_in,
                    "access_token": make_jwt(roles, tid),
                },
            )

        self.mocked.post(url, callback=issue, repeat=repeat)

    def sign_in(self, **token: Any) -> None:
        """Mock a working tenant and token endpoint."""
        self.openid()
        self.token(**token)

    # -- Graph ----------------------------------------------------------------

    def send_mail(
        self,
        mailbox: str = MAILBOX,
        *,
        status: int = 202,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        repeat: bool = True,
        exception: Exception | None = None,
    ) -> None:
        self.graph(
            "POST",
            users_url(mailbox, "sendMail"),
            status,
            code,
            headers,
            repeat,
            exception,
        )

    def graph(
        self,
        method: str,
        url: URL | str | re.Pattern[str],
        status: int = 200,
        code: str | None = None,
        headers: dict[str, str] | None = None,
        repeat: bool = True,
        exception: Exception | None = None,
        payload: Any = None,
    ) -> None:
        if exception is not None:
            self.mocked.add(url, method, exception=exception, repeat=repeat)
            return
        body = payload
        if code is not None:
            body = {
                "error": {
                    "code": code,
                    "message": f"{code} happened",
                    "innerError": {"request-id": "req-1234", "date": "2026-01-01"},
                }
            }
        self.mocked.add(
            url,
            method,
            status=status,
            payload=body,
            headers={"request-id": "req-1234", **(headers or {})},
            repeat=repeat,
        )

    # -- inspection -----------------------------------------------------------

    def calls(
        self, method: str, predicate: str = ""
    ) -> list[tuple[URL, dict[str, Any]]]:
        """Return (url, kwargs) of every request of a method whose URL contains text."""
        found = []
        for (call_method, url), calls in self.mocked.requests.items():
            if call_method == method and predicate in str(url):
                found.extend((url, call.kwargs) for call in calls)
        return found

    def token_requests(self, host: str = "") -> list[dict[str, list[str]]]:
        """Return the form fields of every token request (to a host)."""
        return [
            parse_qs(kwargs["data"].decode(), keep_blank_values=True)
            for url, kwargs in self.calls("POST", "/oauth2/v2.0/token")
            if host in (url.host or "")
        ]

    def sent(self, mailbox: str = MAILBOX) -> list[dict[str, Any]]:
        """Return the JSON bodies that reached sendMail."""
        return [
            json.loads(kwargs["data"])
            for url, kwargs in self.calls("POST", "/sendMail")
            if url == users_url(mailbox, "sendMail")
        ]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the fault-injection suite saw (deliveries, duplicates)."""
    if FAULT_REPORT:
        terminalreporter.section("fault injection: every alert delivered or dropped")
        for line in FAULT_REPORT:
            terminalreporter.write_line(line)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(
    enable_custom_integrations: None,
) -> Generator[None]:
    """Load custom_components/o365 in every test."""
    return


@pytest.fixture(autouse=True)
def isolated_config_dir(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    """Give each Home Assistant test its own config folder (the outbox lives there)."""
    if "hass" in request.fixturenames:
        hass: HomeAssistant = request.getfixturevalue("hass")
        config_dir = tmp_path / "config"
        config_dir.mkdir()
        hass.config.config_dir = str(config_dir)


@pytest.fixture(autouse=True)
def instant_retries(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Let the Graph client's retry waits pass at once (recorded)."""
    waits: list[float] = []

    async def no_wait(delay: float) -> None:
        waits.append(delay)
        await asyncio.sleep(0)

    monkeypatch.setattr("custom_components.o365.connection.RETRY_SLEEP", no_wait)
    return waits


@pytest.fixture
def graph_mock() -> Generator[GraphMock]:
    """Mock Entra ID and Graph; nothing leaves the machine."""
    # Home Assistant's own test client talks to 127.0.0.1: let it through.
    with aioresponses(passthrough=["http://127.0.0.1"]) as mocked:
        yield GraphMock(mocked)


@pytest.fixture
def config_entry() -> MockConfigEntry:
    """Return a config entry for the default mailbox."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=MAILBOX,
        unique_id=UNIQUE_ID,
        data=dict(ENTRY_DATA),
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, graph_mock: GraphMock, config_entry: MockConfigEntry
) -> MockConfigEntry:
    """Set up the integration with a working sign-in and sendMail."""
    graph_mock.sign_in()
    graph_mock.send_mail()
    config_entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    return config_entry


@pytest.fixture
async def front_door(hass: HomeAssistant, tmp_path: Path) -> str:
    """A real camera entity (local_file) showing a JPEG."""
    picture = tmp_path / "front_door.jpg"
    picture.write_bytes(JPEG)
    entry = MockConfigEntry(
        domain="local_file",
        title="Front door",
        options={"name": "Front door", "file_path": str(picture)},
    )
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()
    assert hass.states.get("camera.front_door") is not None
    return "camera.front_door"


@pytest.fixture
def files(hass: HomeAssistant, tmp_path: Path) -> Path:
    """An allowlisted folder with a PDF in it."""
    folder = tmp_path / "share"
    folder.mkdir()
    (folder / "report.pdf").write_bytes(b"%PDF-1.7 report")
    hass.config.allowlist_external_dirs = {str(folder)}
    hass.config.allowlist_external_urls = {"https://files.example.com/public/"}
    return folder
