"""Fixtures for the Graph client tests: a plain aiohttp session, no Home Assistant."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Any

import aiohttp
import pytest

from custom_components.o365.graph import CLOUDS, Cloud, GraphSettings, Mailbox
from tests.conftest import CLIENT_ID, MAILBOX, TENANT_ID

#: The default mailbox, as the client addresses it (``/users/{MAILBOX}``).
BOX = Mailbox(MAILBOX)


def settings(
    session: aiohttp.ClientSession,
    *,
    tenant: str = TENANT_ID,
    client_id: str = CLIENT_ID,
    cloud: Cloud = Cloud.GLOBAL,
    **kwargs: Any,
) -> GraphSettings:
    """Return the settings of the test app registration (sleep, clock: as given)."""
    return GraphSettings(
        session=session,
        endpoints=CLOUDS[cloud],
        tenant=tenant,
        client_id=client_id,
        **kwargs,
    )


async def no_sleep(delay: float) -> None:
    """Let a wait between attempts pass at once."""


class FakeTokens:
    """A token source that counts requests and honours ``rejected``."""

    def __init__(self) -> None:
        self.issued = 0
        self.current = "token-1"

    async def async_get_access_token(self, *, rejected: str | None = None) -> str:
        if rejected == self.current:
            self.issued += 1
            self.current = f"token-{self.issued + 1}"
        return self.current


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """The Graph client needs no Home Assistant: start none."""


@pytest.fixture
async def session() -> AsyncGenerator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as client_session:
        yield client_session


@pytest.fixture
def tokens() -> FakeTokens:
    return FakeTokens()
