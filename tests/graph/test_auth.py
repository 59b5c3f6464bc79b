"""Tests of the token provider: MSAL in an executor, caching, errors."""

from __future__ import annotations

import asyncio
import threading

import aiohttp
import pytest

from custom_components.o365.graph import (
    AppTokenProvider,
    ClientSecretExpiredError,
    Cloud,
    InvalidClientIdError,
    InvalidClientSecretError,
    InvalidTenantError,
    O365ConnectionError,
    TokenEndpointError,
    decode_jwt_claims,
)
from custom_components.o365.graph.auth import SyncHttpBridge, describe_delegated
from custom_components.o365.graph.exceptions import AuthenticationError
from tests.conftest import CLIENT_SECRET, TENANT_ID, GraphMock, make_jwt

from .conftest import settings


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def provider(
    session: aiohttp.ClientSession, clock: Clock | None = None, tenant: str = TENANT_ID
) -> AppTokenProvider:
    return AppTokenProvider(
        settings(session, tenant=tenant, clock=clock or Clock()), CLIENT_SECRET
    )


async def test_token_is_acquired_in_a_worker_thread(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    """MSAL (blocking) never runs on the event loop thread."""
    graph_mock.sign_in(roles=("Mail.Send", "Mail.ReadWrite"))
    threads: list[str] = []

    async def run_blocking(func):  # type: ignore[no-untyped-def]
        def record():  # type: ignore[no-untyped-def]
            threads.append(threading.current_thread().name)
            return func()

        return await asyncio.get_running_loop().run_in_executor(None, record)

    tokens = AppTokenProvider(
        settings(session, clock=Clock(), run_blocking=run_blocking), CLIENT_SECRET
    )
    token = await tokens.async_get_token()
    assert threads
    assert threading.current_thread().name not in threads
    assert token.permissions == {"Mail.Send", "Mail.ReadWrite"}
    assert token.tenant_id == TENANT_ID
    assert CLIENT_SECRET not in repr(token)
    assert CLIENT_SECRET not in repr(tokens)
    (form,) = graph_mock.token_requests()
    assert form["client_secret"] == [CLIENT_SECRET]
    assert form["grant_type"] == ["client_credentials"]


async def test_bridge_refuses_to_run_on_the_loop(
    session: aiohttp.ClientSession,
) -> None:
    bridge = SyncHttpBridge(session, asyncio.get_running_loop(), True, 5)
    with pytest.raises(RuntimeError, match="executor"):
        bridge.get("https://login.microsoftonline.com/x")
    bridge.close()


async def test_cached_until_refresh_time(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    """The hot path reuses the token; a new one comes 5 minutes before expiry."""
    graph_mock.sign_in(expires_in=3599)
    clock = Clock()
    tokens = provider(session, clock)
    first = await tokens.async_get_access_token()
    for _ in range(50):
        assert await tokens.async_get_access_token() == first
    assert len(graph_mock.token_requests()) == 1
    clock.now += 3599 - 300 - 1
    await tokens.async_get_access_token()
    assert len(graph_mock.token_requests()) == 1
    clock.now += 2
    await tokens.async_get_access_token()
    assert len(graph_mock.token_requests()) == 2
    assert tokens.tokens_fetched == 2


async def test_short_lived_token_renewed_at_half_life(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    graph_mock.sign_in(expires_in=60)
    clock = Clock()
    tokens = provider(session, clock)
    token = await tokens.async_get_token()
    assert token.refresh_at - clock.now == 30


async def test_rejected_token_renewed_once_for_all_callers(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    """After a 401 the token is dropped (also from MSAL's cache) and fetched once."""
    graph_mock.sign_in()
    tokens = provider(session)
    old = await tokens.async_get_access_token()
    results = await asyncio.gather(
        *(tokens.async_get_access_token(rejected=old) for _ in range(5))
    )
    assert len(graph_mock.token_requests()) == 2
    assert len(set(results)) == 1
    # A stale rejection (of a token already replaced) fetches nothing.
    await tokens.async_get_access_token(rejected="some older token")
    assert len(graph_mock.token_requests()) == 2


@pytest.mark.parametrize(
    ("error", "codes", "status", "expected"),
    [
        ("invalid_client", [7000215], 401, InvalidClientSecretError),
        ("invalid_client", [7000222], 401, ClientSecretExpiredError),
        ("invalid_client", [], 401, InvalidClientSecretError),
        ("unauthorized_client", [700016], 400, InvalidClientIdError),
        ("invalid_tenant", [90002], 400, InvalidTenantError),
        ("invalid_request", [900023], 400, InvalidTenantError),
        ("temporarily_unavailable", [], 400, TokenEndpointError),
        ("invalid_request", [12345], 400, AuthenticationError),
    ],
)
async def test_token_errors(
    session: aiohttp.ClientSession,
    graph_mock: GraphMock,
    error: str,
    codes: list[int],
    status: int,
    expected: type[Exception],
) -> None:
    graph_mock.openid()
    graph_mock.token(error=error, codes=codes, status=status)
    with pytest.raises(expected) as info:
        await provider(session).async_get_token()
    assert type(info.value) is expected
    assert CLIENT_SECRET not in str(info.value)
    if codes:
        assert isinstance(info.value, AuthenticationError)
        assert info.value.codes == tuple(codes)


async def test_unknown_tenant(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    """MSAL's ValueError from the OpenID discovery means no such tenant."""
    graph_mock.openid("nowhere.example", status=400)
    with pytest.raises(InvalidTenantError):
        await provider(session, tenant="nowhere.example").async_get_token()


@pytest.mark.parametrize(
    ("headers", "retry_after"), [({}, 5.0), ({"Retry-After": "12"}, 12.0)]
)
async def test_token_endpoint_server_error_is_transient(
    session: aiohttp.ClientSession,
    graph_mock: GraphMock,
    headers: dict[str, str],
    retry_after: float,
) -> None:
    """MSAL caches a 5xx for 5 s (or Retry-After): retrying sooner is pointless."""
    graph_mock.openid()
    graph_mock.mocked.post(
        f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token",
        status=503,
        body="busy",
        headers=headers,
        repeat=True,
    )
    with pytest.raises(TokenEndpointError) as info:
        await provider(session).async_get_token()
    assert info.value.transient
    assert info.value.retry_after == retry_after


async def test_openid_server_error_is_transient(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    graph_mock.mocked.get(
        f"https://login.microsoftonline.com/{TENANT_ID}/v2.0/.well-known/openid-configuration",
        status=500,
        body="oops",
    )
    with pytest.raises(TokenEndpointError) as info:
        await provider(session).async_get_token()
    assert info.value.transient


async def test_unreadable_token_answer(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    graph_mock.openid()
    graph_mock.mocked.post(
        f"https://login.microsoftonline.com/{TENANT_ID}/oauth2/v2.0/token",
        status=200,
        body="<html>proxy login</html>",
    )
    with pytest.raises(TokenEndpointError):
        await provider(session).async_get_token()


async def test_network_failure(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    graph_mock.openid()
    graph_mock.token(exception=aiohttp.ClientConnectionError("reset"))
    with pytest.raises(O365ConnectionError) as info:
        await provider(session).async_get_token()
    assert info.value.transient


async def test_custom_executor_is_used(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    graph_mock.sign_in()
    used: list[str] = []

    async def run_blocking(func):  # type: ignore[no-untyped-def]
        used.append("yes")
        return await asyncio.get_running_loop().run_in_executor(None, func)

    tokens = AppTokenProvider(
        settings(session, cloud=Cloud.CHINA, run_blocking=run_blocking), CLIENT_SECRET
    )
    graph_mock.mocked.get(
        f"https://login.partner.microsoftonline.cn/{TENANT_ID}/v2.0/.well-known/openid-configuration",
        payload={
            "authorization_endpoint": "https://login.partner.microsoftonline.cn/a",
            "token_endpoint": f"https://login.partner.microsoftonline.cn/{TENANT_ID}/oauth2/v2.0/token",
        },
    )
    graph_mock.mocked.post(
        f"https://login.partner.microsoftonline.cn/{TENANT_ID}/oauth2/v2.0/token",
        payload={"access_token": make_jwt(), "expires_in": 3599},
    )
    await tokens.async_get_token()
    assert used == ["yes"]
    (form,) = graph_mock.token_requests("login.partner.microsoftonline.cn")
    assert form["scope"] == ["https://microsoftgraph.chinacloudapi.cn/.default"]


@pytest.mark.parametrize(
    ("token", "claims"),
    [
        ("opaque", {}),
        ("a.!!!.c", {}),
        (f"a.{'W10'}.c", {}),
        (make_jwt(tid="x"), {"tid": "x"}),
    ],
    ids=["opaque", "not-base64", "not-an-object", "jwt"],
)
def test_decode_jwt_claims(token: str, claims: dict[str, str]) -> None:
    decoded = decode_jwt_claims(token)
    for key, value in claims.items():
        assert decoded[key] == value
    if not claims:
        assert decoded == {}


async def test_still_valid_token_survives_a_failed_renewal(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    """Login is down at renewal time: the current token serves until it expires."""
    graph_mock.openid()
    graph_mock.token(expires_in=3599, repeat=False)
    clock = Clock()
    tokens = provider(session, clock)
    first = await tokens.async_get_access_token()
    clock.now += 3599 - 200  # past the renewal time, 200 s before expiry
    graph_mock.token(exception=aiohttp.ClientConnectionError("login down"))
    assert await tokens.async_get_access_token() == first
    # No new attempt for 30 s, then renewal is tried again.
    assert await tokens.async_get_access_token() == first
    assert len(graph_mock.token_requests()) == 2
    clock.now += 31
    assert await tokens.async_get_access_token() == first
    assert len(graph_mock.token_requests()) == 3
    # Too close to expiry, or rejected by Graph: the failure is raised.
    clock.now += 150
    with pytest.raises(O365ConnectionError):
        await tokens.async_get_access_token()
    with pytest.raises(O365ConnectionError):
        await tokens.async_get_access_token(rejected=first)


@pytest.mark.parametrize(
    ("status", "expected"), [(404, InvalidTenantError), (429, TokenEndpointError)]
)
async def test_openid_refusal_is_a_tenant_error_only_when_it_says_so(
    session: aiohttp.ClientSession,
    graph_mock: GraphMock,
    status: int,
    expected: type[Exception],
) -> None:
    graph_mock.mocked.get(
        f"https://login.microsoftonline.com/{TENANT_ID}/v2.0/.well-known/openid-configuration",
        status=status,
        body="{}",
    )
    with pytest.raises(expected):
        await provider(session).async_get_token()


@pytest.mark.parametrize(
    ("result", "permissions"),
    [
        (
            {"scope": "https://graph.microsoft.com/Mail.Send User.Read"},
            {"Mail.Send", "User.Read"},
        ),
        ({"scope": ""}, None),
        ({}, None),
    ],
    ids=["granted", "empty", "absent"],
)
def test_delegated_permissions_unknown_without_scope(
    result: dict[str, str], permissions: set[str] | None
) -> None:
    """No scope in the token answer means unknown, never "nothing granted"."""
    _, granted = describe_delegated({**result, "id_token_claims": {"tid": "t"}})
    assert granted == permissions
