"""Fixtures for the Graph client tests: a plain aiohttp session, no Home Assistant."""

from __future__ import annotations

from collections.abc import AsyncGenerator

import aiohttp
import pytest

from custom_components.o365.graph import Mailbox
from tests.conftest import MAILBOX

#: The default mailbox, as the client addresses it (``/users/{MAILBOX}``).
BOX = Mailbox(MAILBOX)


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
