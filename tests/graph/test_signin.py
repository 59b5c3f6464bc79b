"""Tests of a person's sign-in (device code) and of renewing delegated tokens."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from custom_components.o365.graph import (
    CLOUDS,
    AccountTypeNotAllowedError,
    Cloud,
    DeviceCodeSignIn,
    InvalidClientIdError,
    PublicClientFlowsDisabledError,
    SignedInTokenProvider,
    SignInCodeExpiredError,
    SignInDeclinedError,
    SignInExpiredError,
    async_redeem_refresh_token,
)
from tests.conftest import (
    CONSUMER_TID,
    PERSONAL,
    PUBLIC_CLIENT_ID,
    DelegatedEntra,
    GraphMock,
)

from .conftest import settings

GLOBAL = CLOUDS[Cloud.GLOBAL]
#: The waits here are instant, so MSAL warns that polls come too soon.
pytestmark = pytest.mark.filterwarnings("ignore:Attempted too soon")


class Waits:
    """Records the waits between polls instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def delegated(graph_mock: GraphMock) -> DelegatedEntra:
    return DelegatedEntra(graph_mock)


def sign_in(
    session: aiohttp.ClientSession, waits: Waits, **kwargs: object
) -> DeviceCodeSignIn:
    return DeviceCodeSignIn(
        settings(
            session,
            tenant="consumers",
            client_id=PUBLIC_CLIENT_ID,
            sleep=waits,
            **kwargs,
        ),
        ("Mail.Send", "User.Read"),
    )


async def test_device_code_sign_in_honours_interval_and_slow_down(
    session: aiohttp.ClientSession, delegated: DelegatedEntra
) -> None:
    """Pending, then slow_down (five seconds more), then signed in."""
    delegated.polls = ["authorization_pending", "slow_down", "authorization_pending"]
    waits = Waits()
    flow = sign_in(session, waits)
    code = await flow.async_start()
    assert code.user_code == "HA7K2QW9Z"
    assert code.verification_uri == "https://microsoft.com/devicelogin"
    result = await flow.async_wait()
    assert waits.delays == [5, 10, 10]
    assert flow.polls == 4
    assert result.username == PERSONAL
    assert result.token.tenant_id == CONSUMER_TID
    assert result.token.permissions == {"Mail.Send", "User.Read"}
    # The cache holds the account and its refresh token, never logged.
    cache = json.loads(result.cache)
    assert next(iter(cache["RefreshToken"].values()))["secret"] in (
        delegated.valid_refresh_tokens
    )
    assert "refresh-" not in repr(result)
    (first, *_) = delegated.grants
    assert first["client_id"] == [PUBLIC_CLIENT_ID]
    assert "client_secret" not in first
    assert first["grant_type"] == ["urn:ietf:params:oauth:grant-type:device_code"]
    scopes = set(delegated.device_scope.split())
    assert {
        "https://graph.microsoft.com/Mail.Send",
        "https://graph.microsoft.com/User.Read",
        "offline_access",
    } <= scopes


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        ("authorization_declined", SignInDeclinedError),
        ("expired_token", SignInCodeExpiredError),
        ("invalid_client", PublicClientFlowsDisabledError),
    ],
)
async def test_sign_in_refusals(
    session: aiohttp.ClientSession,
    delegated: DelegatedEntra,
    answer: str,
    error: type[Exception],
) -> None:
    delegated.polls = ["authorization_pending", answer]
    flow = sign_in(session, Waits())
    await flow.async_start()
    with pytest.raises(error):
        await flow.async_wait()


async def test_code_that_runs_out_stops_polling(
    session: aiohttp.ClientSession, delegated: DelegatedEntra
) -> None:
    delegated.polls = ["authorization_pending"] * 1000
    now = [1000.0]
    waits = Waits()

    async def wait(delay: float) -> None:
        await waits(delay)
        now[0] += delay

    flow = sign_in(session, wait, clock=lambda: now[0])  # type: ignore[arg-type]
    await flow.async_start()
    with pytest.raises(SignInCodeExpiredError):
        await flow.async_wait()
    assert sum(waits.delays) == pytest.approx(900, abs=5)


async def test_cancelling_the_wait_stops_it(
    session: aiohttp.ClientSession, delegated: DelegatedEntra
) -> None:
    """The person closed the dialog: the task is cancelled, polling stops."""
    delegated.polls = ["authorization_pending"] * 1000
    flow = DeviceCodeSignIn(
        settings(
            session,
            tenant="consumers",
            client_id=PUBLIC_CLIENT_ID,
            sleep=lambda delay: asyncio.sleep(0),
        ),
        ("Mail.Send",),
    )
    await flow.async_start()
    task = asyncio.create_task(flow.async_wait())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    polls = flow.polls
    await asyncio.sleep(0.1)
    assert flow.polls == polls


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (
            {"error": "unauthorized_client", "error_codes": [700016]},
            InvalidClientIdError,
        ),
        (
            {"error": "invalid_request", "error_codes": [9002332]},
            AccountTypeNotAllowedError,
        ),
    ],
)
async def test_app_not_set_up_for_sign_in(
    session: aiohttp.ClientSession,
    delegated: DelegatedEntra,
    body: dict[str, object],
    error: type[Exception],
) -> None:
    delegated.device_error = {**body, "error_description": "AADSTS: no."}
    with pytest.raises(error):
        await sign_in(session, Waits()).async_start()


def provider(
    session: aiohttp.ClientSession, cache: str, changes: list[str]
) -> SignedInTokenProvider:
    return SignedInTokenProvider(
        settings(session, tenant="consumers", client_id=PUBLIC_CLIENT_ID),
        scopes=("Mail.Send",),
        cache=cache,
        username=PERSONAL,
        on_cache_changed=changes.append,
    )


async def test_refresh_token_rotation_is_handed_over(
    session: aiohttp.ClientSession, delegated: DelegatedEntra
) -> None:
    """Each renewal rotates the refresh token: the new cache is handed over,
    and only it works afterwards."""
    cache = delegated.cache()
    changes: list[str] = []
    tokens = provider(session, cache, changes)
    token = await tokens.async_get_token()
    assert token.tenant_id == CONSUMER_TID
    assert token.permissions == {"Mail.Send"}
    assert token.value == delegated.access_tokens[-1]
    (rotated,) = changes
    newest = delegated.issued_refresh_tokens[-1]
    assert newest in rotated
    assert newest not in cache
    (grant,) = [g for g in delegated.grants if g["grant_type"] == ["refresh_token"]]
    assert grant["scope"][0].split()[0] == "https://graph.microsoft.com/Mail.Send"

    # A keep-alive renewal uses (and rotates) the refresh token again.
    renewed = await tokens.async_get_token(renew=True)
    assert renewed.value != token.value
    assert len(changes) == 2

    # The first cache is stale now; the last one is the account.
    with pytest.raises(SignInExpiredError) as info:
        await provider(session, cache, []).async_get_token()
    assert info.value.codes == (70008,)
    assert (await provider(session, changes[-1], []).async_get_token()).value


@pytest.mark.parametrize("code", [50173, 65001, 70008])
async def test_refused_refresh_token_needs_a_new_sign_in(
    session: aiohttp.ClientSession, delegated: DelegatedEntra, code: int
) -> None:
    """Password changed, consent withdrawn, or expired: sign in again."""
    cache = delegated.cache()
    delegated.refused = code
    with pytest.raises(SignInExpiredError) as info:
        await provider(session, cache, []).async_get_token()
    assert info.value.recoverable
    assert not info.value.transient


async def test_empty_cache_needs_a_new_sign_in(
    session: aiohttp.ClientSession, delegated: DelegatedEntra
) -> None:
    with pytest.raises(SignInExpiredError, match="No signed-in account"):
        await provider(session, "{}", []).async_get_token()


async def test_refresh_token_from_elsewhere_is_redeemed(
    session: aiohttp.ClientSession, delegated: DelegatedEntra
) -> None:
    """Apprise's personal mode: a refresh token becomes a token cache."""
    cache = delegated.cache()
    seed = delegated.issued_refresh_tokens[-1]
    result = await async_redeem_refresh_token(
        settings(session, tenant="consumers", client_id=PUBLIC_CLIENT_ID),
        ("Mail.Send", "User.Read"),
        seed,
    )
    assert result.username == PERSONAL
    assert seed not in result.cache
    assert delegated.issued_refresh_tokens[-1] in result.cache
    assert cache  # the seed was issued by the same fake Entra


async def test_unknown_tenant_and_login_trouble(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    """No OpenID configuration: an unknown tenant (400/404), else try later."""
    from custom_components.o365.graph import InvalidTenantError, TokenEndpointError

    base = "https://login.microsoftonline.com"
    for tenant, status, error in (
        ("nosuchtenant.example", 400, InvalidTenantError),
        ("busy.example", 503, TokenEndpointError),
    ):
        graph_mock.mocked.get(
            f"{base}/{tenant}/v2.0/.well-known/openid-configuration",
            status=status,
            body="{}",
        )
        flow = DeviceCodeSignIn(
            settings(session, tenant=tenant, client_id=PUBLIC_CLIENT_ID),
            ("Mail.Send",),
        )
        with pytest.raises(error):
            await flow.async_start()


async def test_unreadable_answer_is_a_passing_failure(
    session: aiohttp.ClientSession, delegated: DelegatedEntra, graph_mock: GraphMock
) -> None:
    from custom_components.o365.graph import TokenEndpointError

    graph_mock.mocked.clear()
    graph_mock.openid("consumers")
    graph_mock.mocked.post(
        "https://login.microsoftonline.com/consumers/oauth2/v2.0/devicecode",
        body="<html>proxy error</html>",
        status=502,
    )
    with pytest.raises(TokenEndpointError):
        await sign_in(session, Waits()).async_start()


async def test_wait_needs_a_code_first(session: aiohttp.ClientSession) -> None:
    with pytest.raises(RuntimeError, match="async_start"):
        await sign_in(session, Waits()).async_wait()
