"""Make aioresponses 0.7.9 build responses on aiohttp 3.14 as well as 3.11.

aioresponses 0.7.9, its newest release, predates aiohttp 3.14 (Home Assistant
2026.x), which broke two things it relies on (pnuckowski/aioresponses#288 and
#292 fix them upstream; neither is released yet):

* ``ClientResponse.__init__`` needs a new keyword-only ``stream_writer``, so
  every mocked request failed with ``TypeError: ClientResponse.__init__()
  missing 1 required keyword-only argument: 'stream_writer'``.
* A canned body sits in a ``StreamReader`` whose protocol has no socket and no
  HTTP parser. A body over the reader's high-water mark (128 KiB) makes it
  pause its protocol, and aiohttp 3.14's ``pause_reading`` now pauses the
  parser too: ``AssertionError`` on ``self._parser is not None``.

:func:`install` points aioresponses at a ``ClientResponse`` subclass that
passes a stand-in writer (a canned response is complete when it is built, so
aiohttp only reads the writer's ``output_size`` once: 0, nothing was sent), and
at a stream reader factory whose protocol only records a pause: with the whole
body already in memory there is nothing to pause or resume. On aiohttp 3.11
(Home Assistant 2025.4) it changes nothing.

Remove this module once an aioresponses release supports aiohttp 3.14.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from aiohttp import ClientResponse, StreamReader, __version__ as aiohttp_version
from aiohttp.client_proto import ResponseHandler
import aioresponses.core
from packaging.version import Version

#: aiohttp 3.14 is the first version aioresponses 0.7.9 cannot mock by itself.
NEEDS_COMPAT = Version(aiohttp_version) >= Version("3.14")


class CompatClientResponse(ClientResponse):
    """A ClientResponse that aioresponses can build without a stream writer."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


class CannedBodyProtocol(ResponseHandler):
    """The protocol of a canned body: no socket and no parser to pause."""

    def pause_reading(self) -> None:
        self._reading_paused = True

    def resume_reading(self, *args: Any, **kwargs: Any) -> None:
        self._reading_paused = False


def stream_reader_factory(
    loop: asyncio.AbstractEventLoop | None = None,
) -> StreamReader:
    """Return aioresponses' reader for a canned body, on a pausable protocol."""
    protocol = CannedBodyProtocol(loop=loop)  # type: ignore[arg-type]
    return StreamReader(protocol, limit=2**16, loop=loop)  # type: ignore[arg-type]


def install() -> None:
    """Patch aioresponses for aiohttp 3.14 and newer; do nothing before 3.14.

    aioresponses falls back to its module-level ``ClientResponse`` when a mock
    has no ``response_class`` of its own, and builds every canned body with its
    module-level ``stream_reader_factory``.
    """
    if NEEDS_COMPAT:
        aioresponses.core.ClientResponse = CompatClientResponse  # type: ignore[misc]
        aioresponses.core.stream_reader_factory = stream_reader_factory
