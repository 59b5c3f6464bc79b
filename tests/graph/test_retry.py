"""Tests of the retry policy and of the client's handling of transient failures."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import aiohttp
from aioresponses import CallbackResult
import pytest
from yarl import URL

from custom_components.o365.graph import (
    EmailAddress,
    GraphClient,
    GraphTransientError,
    Message,
    O365ConnectionError,
    RetryPolicy,
    TokenEndpointError,
)
from custom_components.o365.graph.retry import parse_retry_after
from tests.conftest import MAILBOX, GraphMock, users_url

from .conftest import BOX, FakeTokens, settings

MESSAGE = Message(subject="Hi", body="Hello", to=(EmailAddress("ops@contoso.com"),))


class Sleeps:
    """Records waits instead of sleeping."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


class InFlight:
    """A slow Graph: counts the requests it answers at the same time."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0

    async def answer(self, url: URL, **kwargs: Any) -> CallbackResult:
        self.now += 1
        self.peak = max(self.peak, self.now)
        await asyncio.sleep(0.01)
        self.now -= 1
        return CallbackResult(status=202)


def client(
    session: aiohttp.ClientSession,
    tokens: Any,
    sleeps: Sleeps,
    policy: RetryPolicy | None = None,
) -> GraphClient:
    return GraphClient(
        settings(session, sleep=sleeps), tokens, retry=policy or RetryPolicy()
    )


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("7", 7.0),
        (" 12 ", 12.0),
        ("soon", None),
        ("Wed, 21 Oct 2015 07:28:00", None),
    ],
)
def test_parse_retry_after(header: str | None, expected: float | None) -> None:
    assert parse_retry_after(header, 0.0) == expected


def test_parse_retry_after_http_date() -> None:
    now = datetime(2026, 11, 21, 12, 0, 0, tzinfo=UTC)
    later = format_datetime(now + timedelta(seconds=9), usegmt=True)
    assert parse_retry_after(later, now.timestamp()) == 9.0
    earlier = format_datetime(now - timedelta(seconds=9), usegmt=True)
    assert parse_retry_after(earlier, now.timestamp()) == 0.0


def test_backoff_grows_with_jitter_and_cap() -> None:
    policy = RetryPolicy(base_delay=1.0, max_delay=8.0, jitter=0.25)
    for retry, nominal in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 8.0), (9, 8.0)]:
        for _ in range(20):
            assert nominal * 0.75 <= policy.backoff(retry) <= nominal * 1.25


def test_next_delay_bounds() -> None:
    policy = RetryPolicy(attempts=4, max_total_wait=30.0, jitter=0.0)
    assert policy.next_delay(1, 0.0, None) == 1.0
    assert policy.next_delay(1, 0.0, 5.0) == 5.0
    assert policy.next_delay(4, 0.0, None) is None  # out of attempts
    assert policy.next_delay(1, 28.0, 5.0) is None  # over the total wait
    assert policy.next_delay(1, 0.0, 31.0) is None  # Retry-After too long


async def test_429_honours_retry_after(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    graph_mock.send_mail(
        status=429,
        code="ApplicationThrottled",
        headers={"Retry-After": "3"},
        repeat=False,
    )
    graph_mock.send_mail()
    sleeps = Sleeps()
    graph = client(session, tokens, sleeps)
    await graph.send_mail(BOX, MESSAGE)
    assert sleeps.delays == [3.0]
    assert len(graph_mock.calls("POST", "/sendMail")) == 2
    assert graph.stats.retries == 1
    assert graph.stats.throttled == 1


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503},
        {"status": 504},
        {"status": 429, "code": "TooManyRequests"},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": aiohttp.ClientConnectionError("reset by peer")},
        {"exception": TimeoutError()},
    ],
)
async def test_transient_failures_are_retried(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    failure: dict[str, Any],
) -> None:
    graph_mock.send_mail(**failure, repeat=False)
    graph_mock.send_mail(**failure, repeat=False)
    graph_mock.send_mail()
    sleeps = Sleeps()
    await client(session, tokens, sleeps).send_mail(BOX, MESSAGE)
    assert len(sleeps.delays) == 2
    assert 0.75 <= sleeps.delays[0] <= 1.25
    assert 1.5 <= sleeps.delays[1] <= 2.5
    assert len(graph_mock.calls("POST", "/sendMail")) == 3


async def test_gives_up_after_the_attempts(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    graph_mock.send_mail(status=503)
    sleeps = Sleeps()
    graph = client(session, tokens, sleeps)
    with pytest.raises(GraphTransientError) as info:
        await graph.send_mail(BOX, MESSAGE)
    assert info.value.transient
    assert len(graph_mock.calls("POST", "/sendMail")) == 4
    assert len(sleeps.delays) == 3
    assert sum(sleeps.delays) <= RetryPolicy().max_total_wait
    assert graph.stats.last_errors[-1].status == 503


async def test_connection_error_gives_up_transient(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    graph_mock.send_mail(exception=aiohttp.ClientConnectionError("down"))
    with pytest.raises(O365ConnectionError):
        await client(session, tokens, Sleeps()).send_mail(BOX, MESSAGE)


async def test_retry_after_beyond_budget_gives_up_at_once(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """A Retry-After of 10 minutes is not slept through inside an action."""
    graph_mock.send_mail(status=429, headers={"Retry-After": "600"})
    sleeps = Sleeps()
    with pytest.raises(GraphTransientError) as info:
        await client(session, tokens, sleeps).send_mail(BOX, MESSAGE)
    assert info.value.retry_after == 600
    assert sleeps.delays == []
    assert len(graph_mock.calls("POST", "/sendMail")) == 1


async def test_permanent_errors_are_not_retried(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    graph_mock.send_mail(status=400, code="ErrorInvalidRecipients")
    sleeps = Sleeps()
    with pytest.raises(Exception, match="ErrorInvalidRecipients"):
        await client(session, tokens, sleeps).send_mail(BOX, MESSAGE)
    assert sleeps.delays == []


async def test_token_endpoint_trouble_is_retried(
    session: aiohttp.ClientSession, graph_mock: GraphMock
) -> None:
    class FlakyTokens:
        calls = 0

        async def async_get_access_token(self, *, rejected: str | None = None) -> str:
            self.calls += 1
            if self.calls == 1:
                raise TokenEndpointError("login down")
            return "token"

    graph_mock.send_mail()
    sleeps = Sleeps()
    await client(session, FlakyTokens(), sleeps).send_mail(BOX, MESSAGE)
    # MSAL would answer from its 5 s failure cache before that.
    assert sleeps.delays == [5.0]


async def test_at_most_four_requests_in_flight(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    slow = InFlight()

    graph_mock.mocked.post(
        users_url(MAILBOX, "sendMail"), callback=slow.answer, repeat=True
    )
    graph = client(session, tokens, Sleeps())
    await asyncio.gather(*(graph.send_mail(BOX, MESSAGE) for _ in range(20)))
    assert slow.peak == 4
    assert graph.stats.requests == 20


async def test_one_request_never_takes_longer_than_the_deadline(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Slow answers and retries together stay within the deadline."""
    monkeypatch.setattr("custom_components.o365.graph.client.REQUEST_DEADLINE", 0.2)

    async def hang(url: URL, **kwargs: Any) -> Any:
        await asyncio.sleep(10)

    graph_mock.mocked.post(users_url(MAILBOX, "sendMail"), callback=hang, repeat=True)
    with pytest.raises(O365ConnectionError, match="gave up after"):
        await client(session, tokens, Sleeps()).send_mail(BOX, MESSAGE)


@pytest.mark.parametrize("status", [500, 502])
async def test_send_mail_is_not_repeated_after_an_ambiguous_5xx(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    status: int,
) -> None:
    """A 500 may mean Graph accepted the mail: no retry in the call (the
    outbox tries again later), unlike 429/503/504, which Microsoft's SDK
    retries."""
    graph_mock.send_mail(status=status)
    sleeps = Sleeps()
    with pytest.raises(GraphTransientError) as info:
        await client(session, tokens, sleeps).send_mail(BOX, MESSAGE)
    assert info.value.transient
    assert len(graph_mock.calls("POST", "/sendMail")) == 1
    assert sleeps.delays == []


async def test_reads_are_repeated_after_a_500(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    url = users_url(MAILBOX).with_query(
        {"$select": "id,mail,userPrincipalName,displayName"}
    )
    graph_mock.graph("GET", url, status=500, repeat=False)
    graph_mock.graph("GET", url, payload={"id": "x", "mail": MAILBOX})
    user = await client(session, tokens, Sleeps()).get_user(BOX)
    assert user.mail == MAILBOX
    assert len(graph_mock.calls("GET", "/users/")) == 2


async def test_unsent_request_is_retried_even_where_a_resend_is_unsafe(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """A connection that was never made sent nothing: always safe to retry."""
    from custom_components.o365.graph.client import REFUSED_ONLY

    url = users_url(MAILBOX, "messages", "d", "attachments")
    connector = aiohttp.ClientConnectorError(None, OSError(111, "refused"))  # type: ignore[arg-type]
    graph_mock.graph("POST", url, exception=connector, repeat=False)
    graph_mock.graph("POST", url, status=201, payload={"id": "a"})
    graph = client(session, tokens, Sleeps())
    await graph._request(
        "POST", url, "addAttachment", body=b"{}", ok=(201,), retry_on=REFUSED_ONLY
    )
    assert len(graph_mock.calls("POST", "/attachments")) == 2

    # A connection lost after sending may have attached the file: not resent.
    other = users_url(MAILBOX, "messages", "e", "attachments")
    graph_mock.graph("POST", other, exception=aiohttp.ServerDisconnectedError())
    with pytest.raises(O365ConnectionError):
        await graph._request(
            "POST", other, "addAttachment", body=b"{}", ok=(201,), retry_on=REFUSED_ONLY
        )
    assert len(graph_mock.calls("POST", "/messages/e/attachments")) == 1


async def test_clients_of_one_app_share_four_slots(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    """Outlook counts concurrency per app: two mailboxes of one app, four in all."""
    from custom_components.o365.graph import Mailbox, RequestLimiter

    slow = InFlight()

    other = "ops@contoso.com"
    for mailbox in (MAILBOX, other):
        graph_mock.mocked.post(
            users_url(mailbox, "sendMail"), callback=slow.answer, repeat=True
        )
    limiter = RequestLimiter()
    first = GraphClient(settings(session, sleep=Sleeps()), tokens, limiter=limiter)
    second = GraphClient(settings(session, sleep=Sleeps()), tokens, limiter=limiter)
    await asyncio.gather(
        *(first.send_mail(BOX, MESSAGE) for _ in range(10)),
        *(second.send_mail(Mailbox(other), MESSAGE) for _ in range(10)),
    )
    assert slow.peak == 4
    assert limiter.max_in_flight == 4
    assert first.stats.requests == second.stats.requests == 10
