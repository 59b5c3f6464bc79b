"""Fault injection: every alert is delivered exactly once or reported dropped.

Graph (sendMail) and the token endpoint answer through scripted faults. For
each kind the suite fires alerts through notify.o365, lets the in-call retries
and the outbox do their work, then checks every alert against what reached
Graph. Duplicates are possible only where Graph accepted a mail and the answer
was lost (504 after accept, reset after send); they are counted and reported
at the end of the pytest run.
"""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
import json
import random
import time
from typing import Any

import aiohttp
from aioresponses import CallbackResult
from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers import issue_registry as ir
import pytest
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
)
from yarl import URL

from custom_components.o365.const import (
    CONF_CLIENT_SECRET,
    CONF_QUEUE_ON_FAILURE,
    DOMAIN,
    EVENT_MESSAGE_DROPPED,
    EVENT_MESSAGE_QUEUED,
    EVENT_MESSAGE_SENT,
)

from .conftest import (
    FAULT_REPORT,
    LOGIN,
    MAILBOX,
    TENANT_ID,
    Clock,
    GraphMock,
    entra_error,
    make_jwt,
    users_url,
)

TOKEN_URL = f"{LOGIN}/{TENANT_ID}/oauth2/v2.0/token"

#: Faults after which Graph may already hold the mail.
AFTER_ACCEPT = {"504", "reset-after", "500-after"}
#: Faults not retried inside the action (a 500 may mean accepted): straight
#: to the outbox, which tries again later.
NOT_RETRIED_IN_CALL = {"500", "500-after"}


@dataclass
class FaultyGraph:
    """sendMail and the token endpoint, failing as a plan says."""

    graph_mock: GraphMock
    #: (subject, attempt number) -> fault or None.
    plan: Callable[[str, int], str | None]
    delivered: Counter[str] = field(default_factory=Counter)
    attempts: Counter[str] = field(default_factory=Counter)
    revoked: set[str] = field(default_factory=set)
    #: When each attempt of a subject reached Graph (Home Assistant's clock).
    times: defaultdict[str, list[float]] = field(
        default_factory=lambda: defaultdict(list)
    )
    token_down: int = 0
    secret_expired: bool = False
    tokens_issued: int = 0

    def __post_init__(self) -> None:
        self.graph_mock.openid()
        self.graph_mock.mocked.post(TOKEN_URL, callback=self._token, repeat=True)
        self.graph_mock.mocked.post(
            users_url(MAILBOX, "sendMail"), callback=self._send_mail, repeat=True
        )

    def _token(self, url: URL, **kwargs: Any) -> CallbackResult:
        if self.token_down > 0:
            self.token_down -= 1
            raise aiohttp.ClientConnectionError("login.microsoftonline.com is down")
        if self.secret_expired:
            return entra_error("invalid_client", 7000222, status=401)
        self.tokens_issued += 1
        return CallbackResult(payload={"access_token": make_jwt(), "expires_in": 3599})

    def _send_mail(self, url: URL, **kwargs: Any) -> CallbackResult:
        token = kwargs["headers"]["Authorization"].removeprefix("Bearer ")
        if token in self.revoked:
            return CallbackResult(
                status=401,
                payload={
                    "error": {"code": "InvalidAuthenticationToken", "message": "x"}
                },
            )
        subject = json.loads(kwargs["data"])["message"]["subject"]
        self.attempts[subject] += 1
        self.times[subject].append(time.time())
        fault = self.plan(subject, self.attempts[subject])
        if fault in AFTER_ACCEPT or fault is None:
            self.delivered[subject] += 1
        match fault:
            case None:
                return CallbackResult(status=202)
            case "429":
                return CallbackResult(status=429, headers={"Retry-After": "2"})
            case "429-bare":
                return CallbackResult(status=429)
            case "503":
                return CallbackResult(status=503)
            case "504":
                return CallbackResult(status=504)
            case "500" | "500-after":
                return CallbackResult(status=500)
            case "reset" | "reset-after":
                raise aiohttp.ServerDisconnectedError
            case "timeout":
                raise TimeoutError
        raise AssertionError(f"unknown fault {fault}")


async def setup(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def alert(hass: HomeAssistant, subject: str) -> None:
    await hass.services.async_call(
        "notify", "o365", {"message": "alert", "title": subject}, blocking=True
    )


async def drained(clock: Clock, entry: MockConfigEntry) -> None:
    """Move Home Assistant's clock on until the account's outbox is empty."""
    # The entry may reload meanwhile (a reauth): ask for its account each time.
    await clock.run_until(lambda: not len(entry.runtime_data.outbox))


def check(
    name: str,
    subjects: list[str],
    graph: FaultyGraph,
    dropped: list[Any],
    *,
    duplicates_allowed: bool,
) -> None:
    """Every alert delivered exactly once (or dropped with an event); record it."""
    dropped_subjects = {event.data["subject"] for event in dropped}
    for subject in subjects:
        assert graph.delivered[subject] >= 1 or subject in dropped_subjects, subject
    duplicates = sum(count - 1 for count in graph.delivered.values() if count > 1)
    if not duplicates_allowed:
        assert duplicates == 0
    FAULT_REPORT.append(
        f"{name:<22} alerts {len(subjects):>3}  delivered {sum(1 for s in subjects if graph.delivered[s]):>3}"
        f"  dropped {len(dropped_subjects):>2}  duplicates {duplicates:>3}"
        f"  Graph attempts {sum(graph.attempts.values()):>4}  tokens {graph.tokens_issued}"
    )


@pytest.mark.parametrize(
    ("fault", "failures"),
    [
        ("429", 2),
        ("429-bare", 2),
        ("503", 3),
        ("504", 1),
        ("reset", 2),
        ("reset-after", 1),
        ("timeout", 2),
        ("503", 6),  # more than the in-call retries: the outbox delivers
        ("500", 1),  # refused: not repeated in the call, the outbox delivers
        ("500-after", 1),  # accepted, then 500: the outbox's try duplicates
    ],
)
async def test_fault_kinds(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    fault: str,
    failures: int,
) -> None:
    """Each alert fails ``failures`` times with ``fault`` before Graph takes it."""
    graph = FaultyGraph(
        graph_mock, lambda subject, attempt: fault if attempt <= failures else None
    )
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    await setup(hass, config_entry)
    subjects = [f"{fault} alert {n}" for n in range(20)]
    await clock.run(asyncio.gather(*(alert(hass, s) for s in subjects)))
    await drained(clock, config_entry)
    check(
        f"{fault} x{failures}",
        subjects,
        graph,
        dropped,
        duplicates_allowed=fault in AFTER_ACCEPT,
    )
    assert dropped == []
    if fault == "429":
        # Retry-After: 2 honoured on Home Assistant's clock.
        for subject in subjects:
            first, second, *_ = graph.times[subject]
            assert second - first >= 2.0
    # Up to 4 tries happen inside the action; beyond that the outbox takes
    # over. A 500 is never repeated inside the call.
    assert bool(queued) is (failures >= 4 or fault in NOT_RETRIED_IN_CALL)
    assert graph.tokens_issued == 1


async def test_stale_token_is_renewed_once(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    """Graph revokes the token: one renewal serves every alert in flight."""
    graph = FaultyGraph(graph_mock, lambda subject, attempt: None)
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    await setup(hass, config_entry)
    graph.revoked.add(config_entry.runtime_data.connection.tokens.token.value)
    subjects = [f"401 alert {n}" for n in range(20)]
    await clock.run(asyncio.gather(*(alert(hass, s) for s in subjects)))
    check("401 stale token", subjects, graph, dropped, duplicates_allowed=False)
    assert graph.tokens_issued == 2


async def test_token_endpoint_down(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    """The token must be renewed while login is down: alerts wait, then go."""
    graph = FaultyGraph(graph_mock, lambda subject, attempt: None)
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    await setup(hass, config_entry)
    graph.revoked.add(config_entry.runtime_data.connection.tokens.token.value)
    graph.token_down = 12
    subjects = [f"login down alert {n}" for n in range(10)]
    for subject in subjects:
        await clock.run(alert(hass, subject))
    await drained(clock, config_entry)
    check("token endpoint down", subjects, graph, dropped, duplicates_allowed=False)
    assert queued
    assert graph.token_down == 0


async def test_random_mix_of_faults(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    """200 alerts, a third of all attempts failing with a random fault."""
    rng = random.Random(365)
    kinds = ["429", "429-bare", "503", "504", "reset", "reset-after", "timeout"]

    def plan(subject: str, attempt: int) -> str | None:
        return rng.choice(kinds) if rng.random() < 0.33 else None

    graph = FaultyGraph(graph_mock, plan)
    dropped = async_capture_events(hass, EVENT_MESSAGE_DROPPED)
    await setup(hass, config_entry)
    subjects = [f"mixed alert {n}" for n in range(200)]
    await clock.run(asyncio.gather(*(alert(hass, s) for s in subjects)))
    await drained(clock, config_entry)
    check("random mix", subjects, graph, dropped, duplicates_allowed=True)
    assert dropped == []
    duplicates = sum(c - 1 for c in graph.delivered.values() if c > 1)
    assert duplicates <= sum(graph.attempts.values())


async def test_expired_secret_queues_until_reauth(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The secret expires: alerts queue, reauth brings them all out."""
    graph = FaultyGraph(graph_mock, lambda subject, attempt: None)
    sent = async_capture_events(hass, EVENT_MESSAGE_SENT)
    await setup(hass, config_entry)
    graph.revoked.add(config_entry.runtime_data.connection.tokens.token.value)
    graph.secret_expired = True

    subjects = [f"while expired {n}" for n in range(5)]
    for subject in subjects:
        await clock.run(alert(hass, subject))  # returns normally: queued
    account = config_entry.runtime_data
    assert [item.subject for item in account.outbox.items] == subjects
    assert graph.delivered == Counter()
    issue = issue_registry.async_get_issue(
        DOMAIN, f"credential_{config_entry.entry_id}"
    )
    assert issue is not None
    assert issue.translation_key == "secret_expired"
    (flow,) = hass.config_entries.flow.async_progress_by_handler(DOMAIN)
    assert flow["context"]["source"] == "reauth"

    graph.secret_expired = False
    result = await hass.config_entries.flow.async_configure(
        flow["flow_id"], {CONF_CLIENT_SECRET: "a brand new secret"}
    )
    assert result["reason"] == "reauth_successful"
    await drained(clock, config_entry)
    assert [event.data["subject"] for event in sent] == subjects
    assert all(event.data["queued"] for event in sent)
    assert graph.delivered == Counter(dict.fromkeys(subjects, 1))
    assert (
        issue_registry.async_get_issue(DOMAIN, f"credential_{config_entry.entry_id}")
        is None
    )
    FAULT_REPORT.append(
        f"{'expired secret':<22} alerts {len(subjects):>3}  delivered {len(graph.delivered):>3}"
        "  dropped  0  duplicates   0  (after reauth)"
    )


async def test_queue_off_raises(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    FaultyGraph(graph_mock, lambda subject, attempt: "503")
    config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        config_entry, options={CONF_QUEUE_ON_FAILURE: False}
    )
    await setup(hass, config_entry)
    with pytest.raises(HomeAssistantError) as info:
        await clock.run(alert(hass, "not queued"))
    assert info.value.translation_key == "cannot_connect"
    assert len(config_entry.runtime_data.outbox) == 0


async def test_permanent_error_is_not_queued(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    graph_mock.sign_in()
    graph_mock.send_mail(status=403, code="ErrorSendAsDenied")
    queued = async_capture_events(hass, EVENT_MESSAGE_QUEUED)
    await setup(hass, config_entry)
    with pytest.raises(HomeAssistantError, match="ErrorSendAsDenied"):
        await clock.run(alert(hass, "denied"))
    assert queued == []


async def test_setup_retry_accepts_and_queues(
    clock: Clock,
    hass: HomeAssistant,
    graph_mock: GraphMock,
    config_entry: MockConfigEntry,
) -> None:
    """Microsoft unreachable at start-up: alerts are kept, then delivered."""
    graph = FaultyGraph(graph_mock, lambda subject, attempt: None)
    graph.token_down = 1_000
    config_entry.add_to_hass(hass)
    await hass.config_entries.async_setup(config_entry.entry_id)
    await hass.async_block_till_done()
    assert config_entry.state is ConfigEntryState.SETUP_RETRY
    await clock.run(alert(hass, "during retry"))
    account = config_entry.runtime_data
    assert len(account.outbox) == 1
    graph.token_down = 0
    await hass.config_entries.async_reload(config_entry.entry_id)
    await hass.async_block_till_done()
    await drained(clock, config_entry)
    assert graph.delivered == Counter({"during retry": 1})
