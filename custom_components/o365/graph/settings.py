"""What every part of the client needs to reach Microsoft: one settings object.

Token providers, the device-code sign-in and the Graph client all take a
:class:`GraphSettings`: which app registration of which tenant, where the
cloud's endpoints are, the aiohttp session and TLS settings to use, and how to
run blocking code, wait and read the time. The caller decides all of these
(Home Assistant passes its executor and its own clock), so nothing here knows
where it runs.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
import ssl
import time
from typing import Any

import aiohttp

from .clouds import CloudEndpoints

type RunBlocking = Callable[[Callable[[], Any]], Awaitable[Any]]
type Sleep = Callable[[float], Awaitable[None]]


async def run_in_default_executor(func: Callable[[], Any]) -> Any:
    """Run a blocking call in the event loop's default executor."""
    return await asyncio.get_running_loop().run_in_executor(None, func)


@dataclass(frozen=True, slots=True, kw_only=True)
class GraphSettings:
    """One app registration in one cloud, and how to talk to it."""

    session: aiohttp.ClientSession = field(repr=False)
    endpoints: CloudEndpoints
    #: A tenant GUID or verified domain, or ``consumers``/``organizations``/``common``.
    tenant: str
    client_id: str
    ssl_context: ssl.SSLContext | bool = field(default=True, repr=False)
    #: Runs MSAL and file reads off the event loop.
    run_blocking: RunBlocking = field(default=run_in_default_executor, repr=False)
    #: Every wait between attempts and polls goes through this.
    sleep: Sleep = field(default=asyncio.sleep, repr=False)
    #: POSIX time: when tokens expire, when a device code runs out.
    clock: Callable[[], float] = field(default=time.time, repr=False)

    @property
    def authority(self) -> str:
        """Return the MSAL authority of the tenant."""
        return self.endpoints.authority(self.tenant)
