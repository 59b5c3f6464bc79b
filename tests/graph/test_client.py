"""Tests of the Graph client: sendMail, encoding, error mapping, 401 renewal."""

from __future__ import annotations

import json

import aiohttp
import pytest

from custom_components.o365.graph import (
    AccessDeniedError,
    EmailAddress,
    GraphClient,
    GraphError,
    GraphTransientError,
    InvalidRecipientsError,
    Mailbox,
    MailboxNotEnabledError,
    MailboxNotFoundError,
    Message,
    MessageSizeExceededError,
    SendAsDeniedError,
)
from custom_components.o365.graph.retry import NO_RETRY
from tests.conftest import GRAPH, MAILBOX, GraphMock, users_url

from .conftest import BOX, FakeTokens, settings

MESSAGE = Message(subject="Hi", body="Hello", to=(EmailAddress("ops@contoso.com"),))


def client(session: aiohttp.ClientSession, tokens: FakeTokens) -> GraphClient:
    return GraphClient(settings(session), tokens, retry=NO_RETRY)


async def test_send_mail(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    graph_mock.send_mail()
    receipt = await client(session, tokens).send_mail(
        BOX, MESSAGE, save_to_sent_items=False
    )
    assert receipt.method == "sendMail"
    assert receipt.request_id == "req-1234"
    ((url, kwargs),) = graph_mock.calls("POST", "/sendMail")
    assert str(url) == f"{GRAPH}/users/alerts%40contoso.com/sendMail"
    assert kwargs["headers"]["Authorization"] == "Bearer token-1"
    assert kwargs["headers"]["Content-Type"] == "application/json"
    assert json.loads(kwargs["data"]) == {
        "message": MESSAGE.to_graph(),
        "saveToSentItems": False,
    }


async def test_mailbox_is_percent_encoded_once(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    mailbox = "o'brien+alerts@contoso.com"
    graph_mock.send_mail(mailbox)
    await client(session, tokens).send_mail(Mailbox(mailbox), MESSAGE)
    ((url, _),) = graph_mock.calls("POST", "/sendMail")
    assert url.raw_path == "/v1.0/users/o%27brien%2Balerts%40contoso.com/sendMail"
    assert url == users_url(mailbox, "sendMail")


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (403, "ErrorSendAsDenied", SendAsDeniedError),
        (404, "MailboxNotEnabledForRESTAPI", MailboxNotEnabledError),
        (403, "ErrorAccessDenied", AccessDeniedError),
        (400, "ErrorInvalidRecipients", InvalidRecipientsError),
        (404, "ErrorInvalidUser", MailboxNotFoundError),
        (404, "ResourceNotFound", MailboxNotFoundError),
        (413, "ErrorMessageSizeExceeded", MessageSizeExceededError),
        (400, "ErrorSomethingElse", GraphError),
        (503, None, GraphTransientError),
        (429, "ApplicationThrottled", GraphTransientError),
    ],
)
async def test_graph_errors_are_typed(
    session: aiohttp.ClientSession,
    tokens: FakeTokens,
    graph_mock: GraphMock,
    status: int,
    code: str | None,
    expected: type[GraphError],
) -> None:
    graph_mock.send_mail(status=status, code=code)
    with pytest.raises(GraphError) as info:
        await client(session, tokens).send_mail(BOX, MESSAGE)
    assert type(info.value) is expected
    assert info.value.status == status
    assert info.value.code == code
    assert info.value.request_id == "req-1234"
    assert info.value.transient is (status in (429, 503))


async def test_error_without_json_body(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    graph_mock.mocked.post(users_url(MAILBOX, "sendMail"), status=400, body="nope")
    with pytest.raises(GraphError, match="HTTP 400"):
        await client(session, tokens).send_mail(BOX, MESSAGE)


async def test_401_renews_the_token_once(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    graph_mock.send_mail(status=401, code="InvalidAuthenticationToken", repeat=False)
    graph_mock.send_mail()
    graph_client = client(session, tokens)
    await graph_client.send_mail(BOX, MESSAGE)
    first, second = graph_mock.calls("POST", "/sendMail")
    assert first[1]["headers"]["Authorization"] == "Bearer token-1"
    assert second[1]["headers"]["Authorization"] == "Bearer token-2"
    assert graph_client.stats.token_refreshes == 1


async def test_second_401_is_an_error(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    graph_mock.send_mail(status=401, code="InvalidAuthenticationToken")
    with pytest.raises(GraphError) as info:
        await client(session, tokens).send_mail(BOX, MESSAGE)
    assert info.value.status == 401
    assert len(graph_mock.calls("POST", "/sendMail")) == 2


async def test_get_user(
    session: aiohttp.ClientSession, tokens: FakeTokens, graph_mock: GraphMock
) -> None:
    object_id = "3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60"
    graph_mock.graph(
        "GET",
        users_url(object_id).with_query(
            {"$select": "id,mail,userPrincipalName,displayName"}
        ),
        payload={
            "id": object_id,
            "mail": MAILBOX,
            "userPrincipalName": MAILBOX,
            "displayName": "Alerts",
        },
    )
    user = await client(session, tokens).get_user(Mailbox(object_id))
    assert user.mail == MAILBOX
    assert user.display_name == "Alerts"
