"""Shared fixtures: a mocked Entra ID and Microsoft Graph, and Home Assistant's clock.

MSAL's HTTP goes through the integration's aiohttp bridge, so the OpenID
configuration, the token endpoint and Graph are all mocked the same way and
every request that "reached Microsoft" can be inspected.

Home Assistant's clock is frozen in every test (``freezer``): every wait of
the integration (retries, the outbox, digests, keep-alive) runs on it, so a
test moves it with :class:`Clock` and nothing waits on the wall clock.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Generator, Iterable
from datetime import timedelta
import json
from pathlib import Path
import re
import time
from typing import Any
from urllib.parse import parse_qs
import uuid

from aioresponses import CallbackResult, aioresponses
from freezegun.api import FrozenDateTimeFactory

# Diagnostics import the supervisor's models (mashumaro dataclasses), which
# compile their datetime fields on import: import them before any test
# freezes the clock, or they compile against freezegun's datetime and fail.
import homeassistant.components.hassio  # noqa: F401
from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers.aiohttp_client import async_get_clientsession
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed_exact,
)
from yarl import URL

from custom_components.o365.const import (
    AUTH_APP,
    CONF_AUTH_TYPE,
    CONF_CERTIFICATE,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_SOURCE,
    CONF_TENANT_ID,
    DOMAIN,
)
from emulator.client_certs import SelfSignedCertificate, make_self_signed_certificate
from tests import aiohttp_compat

# cryptography looks up Python's datetime class once, when it first converts
# a date: let that happen now, or a test that froze the clock first leaves it
# with freezegun's class and every later certificate fails ("'datetime' object
# is not an instance of 'HAFakeDatetime'").
make_self_signed_certificate(key_size=1024)

# aioresponses 0.7.9 cannot build responses on aiohttp 3.14 by itself.
aiohttp_compat.install()

TENANT_ID = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
CLIENT_ID = "0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11"
CLIENT_SECRET = "s3cr3t?@/%+#&= value~"
MAILBOX = "alerts@contoso.com"
LOGIN = "https://login.microsoftonline.com"
GRAPH = "https://graph.microsoft.com/v1.0"
UNIQUE_ID = f"{TENANT_ID}:{MAILBOX}"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) * 40 + b"\xff\xd9"

#: Authorities that are not one tenant (they keep their name in endpoints).
AUTHORITIES = ("consumers", "organizations", "common")
#: A signed-in personal account (Outlook.com) and its app registration.
PERSONAL = "casey@outlook.com"
PUBLIC_CLIENT_ID = "4b7c2a90-1e5d-4f3a-8c6b-9d0e1f2a3b4c"
CONSUMER_TID = "9188040d-6c67-4c5b-b112-36a304b66dad"
PERSONAL_OID = "00000000-0000-0000-6a1b-2c3d4e5f6a7b"
ME = f"{GRAPH}/me"

#: Lines the fault-injection suite reports at the end of the run.
FAULT_REPORT: list[str] = []
#: Lines the property-based boundary tests report (inputs per boundary).
BOUNDARY_REPORT: list[str] = []

ENTRY_DATA = {
    CONF_AUTH_TYPE: AUTH_APP,
    CONF_SOURCE: MAILBOX,
    CONF_TENANT_ID: TENANT_ID,
    CONF_CLIENT_ID: CLIENT_ID,
    CONF_CLIENT_SECRET: CLIENT_SECRET,
    CONF_CLOUD: "global",
}


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def entra_error(error: str, code: int | None, status: int = 400) -> CallbackResult:
    """Return a token-endpoint refusal as Entra words it (``AADSTSnnnn: ...``)."""
    return CallbackResult(
        status=status,
        payload={
            "error": error,
            "error_description": f"AADSTS{code or 0}: {error}.",
            "error_codes": [] if code is None else [code],
        },
    )


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
        """Mock the authority's OpenID configuration.

        A tenant's domain answers with its GUID's endpoints, as Entra does;
        the multi-tenant authorities keep their own name.
        """
        url = f"{LOGIN}/{tenant}/v2.0/.well-known/openid-configuration"
        realm = tenant if tenant in AUTHORITIES else TENANT_ID
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
                "issuer": f"{LOGIN}/{realm}/v2.0",
                "authorization_endpoint": f"{LOGIN}/{realm}/oauth2/v2.0/authorize",
                "token_endpoint": f"{LOGIN}/{realm}/oauth2/v2.0/token",
                "device_authorization_endpoint": f"{LOGIN}/{realm}/oauth2/v2.0/devicecode",
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
        """Mock a working tenant and token endpoint.

        The app may not read its own registration (no Application.Read.All),
        as most apps: the credential's expiry check gets a 403.
        """
        self.openid()
        self.token(**token)
        self.application(status=403, code="Authorization_RequestDenied")

    def application(
        self,
        *,
        status: int = 200,
        code: str | None = None,
        secrets: Iterable[tuple[str | None, str]] = (),
        client_id: str = CLIENT_ID,
    ) -> None:
        """Mock ``GET /applications(appId=...)``: (hint, endDateTime) per secret."""
        url = URL(
            f"{GRAPH}/applications(appId='{client_id}')", encoded=True
        ).with_query({"$select": "passwordCredentials"})
        self.graph(
            "GET",
            url,
            status=status,
            code=code,
            payload={
                "appId": client_id,
                "passwordCredentials": [
                    {"hint": hint, "endDateTime": end, "keyId": str(uuid.uuid4())}
                    for hint, end in secrets
                ],
                "keyCredentials": [],
            },
        )

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


def pem(cert: SelfSignedCertificate) -> str:
    """Return what a user pastes: the PEM key, then the PEM certificate."""
    return f"{cert.private_key_pem}\n{cert.certificate_pem}"


def certificate_entry(certificate: str) -> MockConfigEntry:
    """An app-only entry with a certificate (PEM text or a path), no secret."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=MAILBOX,
        unique_id=UNIQUE_ID,
        data={
            **{k: v for k, v in ENTRY_DATA.items() if k != CONF_CLIENT_SECRET},
            CONF_CERTIFICATE: certificate,
        },
    )


async def set_up(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    """Add a config entry and set it up."""
    entry.add_to_hass(hass)
    await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def open_menu_step(hass: HomeAssistant, step: str = "credentials") -> str:
    """Open the config flow and pick a menu entry; return the flow ID."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_USER}
    )
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["sign_in", "credentials", "apprise"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": step}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == step
    return str(result["flow_id"])


async def alert(hass: HomeAssistant, subject: str, **data: Any) -> None:
    """Call notify.o365 with an HTML body and ``data``."""
    call: dict[str, Any] = {"title": subject, "message": "<p>Alert</p>"}
    if data:
        call["data"] = data
    await hass.services.async_call("notify", "o365", call, blocking=True)


def _real_monotonic() -> float:
    """Return the machine's own monotonic clock, which freezegun leaves alone."""
    return time.clock_gettime(time.CLOCK_MONOTONIC)


class Clock:
    """Home Assistant's clock in a test: frozen, moved only by the test.

    ``tick`` moves it by a given time and runs what became due;
    ``run``/``run_until`` move it from one scheduled timer to the next while
    the event loop has nothing else to do, until something is done (an
    action that retries inside the call, a delivery from the outbox). No
    real time passes for any wait of the integration.
    """

    #: Turns of the event loop with nothing to run (and nothing in threads)
    #: before the loop counts as idle: socket I/O with an in-process server
    #: shows up within a turn or two.
    SPINS = 20
    #: The longest real time a request on the wire is waited for.
    WIRE_TIMEOUT = 1.0

    def __init__(self, hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
        self.hass = hass
        self.freezer = freezer
        # asyncio's debug mode would report every jump of the clock as a
        # callback that took that long.
        hass.loop.slow_callback_duration = float("inf")
        # Every job handed to a thread (Home Assistant's, and the event
        # loop's own: DNS lookups): the clock never jumps while one runs.
        self._in_threads: set[asyncio.Future[Any]] = set()
        run_in_executor = hass.loop.run_in_executor

        def tracked(executor: Any, func: Any, *args: Any) -> asyncio.Future[Any]:
            future = run_in_executor(executor, func, *args)
            self._in_threads.add(future)
            future.add_done_callback(self._in_threads.discard)
            return future

        hass.loop.run_in_executor = tracked  # type: ignore[method-assign]
        #: Seconds the clock was moved in all.
        self.moved = 0.0

    async def idle(self) -> None:
        """Let everything run that can run without the clock moving.

        Work in threads (MSAL, files, DNS lookups) is waited for; tasks run
        while the event loop turns. A task that waits on the clock (an action retrying,
        say) stays waiting: ``async_block_till_done`` would wait for it
        forever, as Home Assistant tracks an entity's action as its task.
        """
        ready = self.hass.loop._ready  # type: ignore[attr-defined]
        quiet = 0
        while quiet < self.SPINS:
            await asyncio.sleep(0)
            if in_threads := [f for f in self._in_threads if not f.done()]:
                await asyncio.wait(in_threads)
                quiet = 0
            # Quiet: nothing else was ready to run in this turn of the loop.
            quiet = quiet + 1 if not ready else 0

    async def tick(self, seconds: float) -> None:
        """Move the clock on by ``seconds`` and run what became due."""
        self.freezer.tick(timedelta(seconds=seconds))
        self.moved += seconds
        # Exact: the plain helper runs timers up to half a second early.
        async_fire_time_changed_exact(self.hass)
        await self.idle()

    def next_timer(self) -> float | None:
        """Return the seconds to the next scheduled timer, if any.

        aiohttp's periodic connection clean-ups (every minute) are passed
        over: they change nothing a test waits for.
        """
        loop = self.hass.loop
        whens = [
            handle.when()
            for handle in loop._scheduled  # type: ignore[attr-defined]
            if not handle.cancelled()
            and getattr(handle._callback, "__name__", "") != "_weakref_handle"
        ]
        return min(whens) - loop.time() if whens else None

    def _on_the_wire(self) -> bool:
        """Return True while a request of Home Assistant's session is under way."""
        connector = async_get_clientsession(self.hass).connector
        return bool(getattr(connector, "_acquired", None))

    async def settle(self) -> None:
        """Let requests on the wire finish (end to end) before time may jump.

        The emulator runs in this process: a request completes within event
        loop turns, unless the emulator itself waits on the clock (a latency
        fault); a second of real time without completion means that.
        """
        await self.idle()
        deadline = _real_monotonic() + self.WIRE_TIMEOUT
        while self._on_the_wire() and _real_monotonic() < deadline:
            await self.idle()

    async def run_until(self, done: Callable[[], bool], limit: float = 7200) -> None:
        """Move the clock from timer to timer until ``done()``; at most ``limit`` s."""
        start = self.moved
        await self.settle()
        while not done():
            delay = self.next_timer()
            if delay is None:
                raise AssertionError("Nothing is scheduled and it is not done")
            if self.moved - start + delay > limit:
                raise AssertionError(f"Not done after {limit} s of Home Assistant time")
            await self.tick(max(delay, 0.0) + 0.001)
            await self.settle()

    async def run[T](self, awaitable: Awaitable[T], limit: float = 7200) -> T:
        """Await something that waits on the clock (a call with retries)."""
        task = asyncio.ensure_future(awaitable)
        try:
            await self.run_until(task.done, limit)
        finally:
            if not task.done():
                task.cancel()
        return task.result()


@pytest.fixture
def clock(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> Clock:
    """Home Assistant's clock, moved by the test."""
    return Clock(hass, freezer)


@pytest.fixture(autouse=True)
def frozen_clock(request: pytest.FixtureRequest) -> None:
    """Freeze the clock of every Home Assistant test: no test waits on real time."""
    if "hass" in request.fixturenames:
        request.getfixturevalue("freezer")


def refreshes(delegated: DelegatedEntra) -> list[dict[str, list[str]]]:
    """Return the refresh-token grants Entra received."""
    return [g for g in delegated.grants if g["grant_type"] == ["refresh_token"]]


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Print what the fault-injection suite saw (deliveries, duplicates)."""
    if FAULT_REPORT:
        terminalreporter.section("fault injection: every alert delivered or dropped")
        for line in FAULT_REPORT:
            terminalreporter.write_line(line)
    if BOUNDARY_REPORT:
        terminalreporter.section("input boundaries: generated inputs, none crashed")
        for line in BOUNDARY_REPORT:
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


def scope_names_of(scope: str) -> list[str]:
    """Return the permission names of a scope string (no OpenID scopes)."""
    return [
        item.rsplit("/", 1)[-1]
        for item in scope.split()
        if item not in ("openid", "profile", "offline_access")
    ]


def b64url_json(value: Any) -> str:
    return b64url(json.dumps(value).encode())


class DelegatedEntra:
    """Entra's token endpoint for a signed-in account, on aioresponses.

    It runs the device authorization grant (pending, slow down, declined,
    expired) and refresh-token rotation: every refresh answers a new
    refresh token and the used one stops working, so a client that does
    not persist rotations fails. ``refused`` makes the next grants answer
    ``invalid_grant`` with that AADSTS code.
    """

    def __init__(
        self,
        graph_mock: GraphMock,
        *,
        tenant: str = "consumers",
        client_id: str = PUBLIC_CLIENT_ID,
        user: str = PERSONAL,
        tid: str = CONSUMER_TID,
    ) -> None:
        self.graph_mock = graph_mock
        self.tenant = tenant
        self.client_id = client_id
        self.user = user
        self.tid = tid
        #: What the device-code polls answer, in order; then success.
        self.polls: list[str] = []
        self.device_error: dict[str, Any] | None = None
        self.valid_refresh_tokens: set[str] = set()
        self.issued_refresh_tokens: list[str] = []
        self.access_tokens: list[str] = []
        self.refused: int | None = None
        #: The OAuth ``error`` sent with ``refused``.
        self.refused_error = "invalid_grant"
        #: Delegated permissions the person consented to (None: all).
        self.consented: set[str] | None = None
        self.device_scope = ""
        self.grants: list[dict[str, list[str]]] = []
        graph_mock.openid(tenant)
        base = f"{LOGIN}/{tenant if tenant in AUTHORITIES else TENANT_ID}/oauth2/v2.0"
        graph_mock.mocked.post(
            f"{base}/devicecode", callback=self._devicecode, repeat=True
        )
        graph_mock.mocked.post(f"{base}/token", callback=self._token, repeat=True)

    def _devicecode(self, url: URL, **kwargs: Any) -> CallbackResult:
        form = parse_qs(kwargs["data"].decode(), keep_blank_values=True)
        self.device_scope = form["scope"][0]
        if self.device_error is not None:
            return CallbackResult(status=400, payload=self.device_error)
        return CallbackResult(
            payload={
                "device_code": "device-code-1",
                "user_code": "HA7K2QW9Z",
                "verification_uri": "https://microsoft.com/devicelogin",
                "expires_in": 900,
                "interval": 5,
                "message": "To sign in, use a web browser to open the page "
                "https://microsoft.com/devicelogin and enter the code HA7K2QW9Z.",
            }
        )

    def _token(self, url: URL, **kwargs: Any) -> CallbackResult:
        form = parse_qs(kwargs["data"].decode(), keep_blank_values=True)
        self.grants.append(form)
        grant = form["grant_type"][0]
        if self.refused is not None:
            return entra_error(self.refused_error, self.refused)
        if grant == "urn:ietf:params:oauth:grant-type:device_code":
            if self.polls:
                answer = self.polls.pop(0)
                codes = {
                    "authorization_pending": 70016,
                    "slow_down": 70016,
                    "authorization_declined": 70019,
                    "expired_token": 70019,
                    "invalid_client": 7000218,
                }
                return entra_error(answer, codes.get(answer, 0))
        elif grant == "refresh_token":
            wanted = set(scope_names_of(form["scope"][0]))
            if self.consented is not None and not wanted <= self.consented:
                return entra_error("invalid_grant", 65001)
            given = form["refresh_token"][0]
            if given not in self.valid_refresh_tokens:
                return entra_error("invalid_grant", 70008)
            self.valid_refresh_tokens.discard(given)
        else:
            return entra_error("unsupported_grant_type", 70003)
        scope = form["scope"][0] if "scope" in form else self.device_scope
        return CallbackResult(payload=self._tokens(scope))

    def _tokens(self, scope: str) -> dict[str, Any]:
        refresh = f"refresh-{uuid.uuid4().hex}"
        self.valid_refresh_tokens.add(refresh)
        self.issued_refresh_tokens.append(refresh)
        access = f"delegated-{uuid.uuid4().hex}"
        self.access_tokens.append(access)
        now = int(time.time())
        id_token = ".".join(
            (
                b64url_json({"alg": "none", "typ": "JWT"}),
                b64url_json(
                    {
                        "aud": self.client_id,
                        "iss": f"{LOGIN}/{self.tid}/v2.0",
                        "iat": now,
                        "nbf": now,
                        "exp": now + 3600,
                        "oid": PERSONAL_OID,
                        "sub": "subject",
                        "tid": self.tid,
                        "preferred_username": self.user,
                        "name": "Casey",
                        "ver": "2.0",
                    }
                ),
                "",
            )
        )
        granted = " ".join(scope_names_of(scope))
        return {
            "token_type": "Bearer",
            "scope": granted,
            "expires_in": 3599,
            "ext_expires_in": 3599,
            # Delegated access tokens are not for the client to read.
            "access_token": access,
            "refresh_token": refresh,
            "id_token": id_token,
            "client_info": b64url_json({"uid": PERSONAL_OID, "utid": self.tid}),
        }

    def me(
        self, *, mail: str | None = None, status: int = 200, code: str | None = None
    ) -> None:
        """Mock ``GET /me`` (Graph leaves ``mail`` empty for many personal accounts)."""
        self.graph_mock.graph(
            "GET",
            URL(ME).with_query({"$select": "id,mail,userPrincipalName,displayName"}),
            status=status,
            code=code,
            payload={
                "id": PERSONAL_OID,
                "mail": mail,
                "userPrincipalName": self.user,
                "displayName": "Casey",
            },
        )

    def send_mail(self, *, status: int = 202, code: str | None = None) -> None:
        self.graph_mock.graph("POST", f"{ME}/sendMail", status=status, code=code)

    def sent(self) -> list[dict[str, Any]]:
        return [
            json.loads(kw["data"])
            for _, kw in self.graph_mock.calls("POST", "/me/sendMail")
        ]

    def cache(self) -> str:
        """Return a token cache as a completed sign-in leaves it (for entries)."""
        import msal

        cache = msal.SerializableTokenCache()
        response = self._tokens(
            "https://graph.microsoft.com/Mail.Send openid profile offline_access"
        )
        cache.add(
            {
                "client_id": self.client_id,
                "scope": ["https://graph.microsoft.com/Mail.Send"],
                "token_endpoint": f"{LOGIN}/{self.tenant}/oauth2/v2.0/token",
                "response": response,
                "params": {},
                "data": {},
                "environment": "login.microsoftonline.com",
            }
        )
        return cache.serialize()


@pytest.fixture
def delegated(graph_mock: GraphMock) -> DelegatedEntra:
    """A personal account's Entra endpoints (consumers authority)."""
    return DelegatedEntra(graph_mock)


def signed_in_entry(delegated: DelegatedEntra, **data: Any) -> MockConfigEntry:
    """Return the config entry of a signed-in personal account."""
    from custom_components.o365.const import (
        AUTH_SIGN_IN,
        CONF_LARGE_ATTACHMENTS,
        CONF_TOKEN_CACHE,
    )

    return MockConfigEntry(
        domain=DOMAIN,
        title=delegated.user,
        unique_id=f"{delegated.tid}:{delegated.user}",
        data={
            CONF_AUTH_TYPE: AUTH_SIGN_IN,
            CONF_CLIENT_ID: delegated.client_id,
            CONF_TENANT_ID: delegated.tenant,
            CONF_CLOUD: "global",
            CONF_LARGE_ATTACHMENTS: False,
            CONF_SOURCE: delegated.user,
            CONF_TOKEN_CACHE: delegated.cache(),
            **data,
        },
    )
