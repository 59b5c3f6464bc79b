"""The emulator's own endpoints: faults, received mail, statistics, the inbox page.

``GET|POST|DELETE /_emulator/faults``, ``GET|DELETE /_emulator/messages``,
``GET /_emulator/messages/{id}/attachments/{index}`` (``?download=1`` for a
download), ``GET /_emulator/stats``, ``POST /_emulator/reset``, ``GET /inbox``.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from aiohttp import web

from .common import Endpoint
from .faults import Fault
from .state import EmulatorState

INBOX_PAGE = Path(__file__).with_name("static") / "inbox.html"


class ControlApi:
    """Handlers that let tests and people observe and steer the emulator."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve ``state`` (and read the inbox page once)."""
        self._state = state
        self._inbox = INBOX_PAGE.read_text(encoding="utf-8")

    def endpoints(self) -> list[Endpoint]:
        """Return the routes (none of them is counted or faulted)."""
        routes = [
            ("GET", "/", self.inbox),
            ("GET", "/inbox", self.inbox),
            ("GET", "/_emulator/faults", self.list_faults),
            ("POST", "/_emulator/faults", self.add_faults),
            ("DELETE", "/_emulator/faults", self.clear_faults),
            ("GET", "/_emulator/messages", self.list_messages),
            ("DELETE", "/_emulator/messages", self.clear_messages),
            ("GET", "/_emulator/messages/{id}/attachments/{index}", self.attachment),
            ("GET", "/_emulator/stats", self.stats),
            ("POST", "/_emulator/reset", self.reset),
        ]
        return [
            Endpoint(method, path, handler, None) for method, path, handler in routes
        ]

    async def inbox(self, request: web.Request) -> web.Response:
        """Serve the inbox page."""
        return web.Response(
            text=self._inbox,
            content_type="text/html",
            headers={"Cache-Control": "no-cache"},
        )

    async def list_faults(self, request: web.Request) -> web.Response:
        """List the active faults."""
        return web.json_response([f.to_json() for f in self._state.faults.active])

    async def add_faults(self, request: web.Request) -> web.Response:
        """Add one fault (a JSON object) or several (a list): 201 with them."""
        try:
            data = json.loads(await request.read())
        except ValueError as err:
            return web.json_response({"error": f"invalid JSON: {err}"}, status=400)
        items = data if isinstance(data, list) else [data]
        if not all(isinstance(item, dict) for item in items):
            return web.json_response(
                {"error": "send a fault object or a list of them"}, status=400
            )
        try:
            faults = [Fault.from_mapping(item) for item in items]
        except ValueError as err:
            return web.json_response({"error": str(err)}, status=400)
        for fault in faults:
            self._state.faults.add(fault)
        return web.json_response([f.to_json() for f in faults], status=201)

    async def clear_faults(self, request: web.Request) -> web.Response:
        """Switch every fault off."""
        self._state.faults.clear()
        return web.Response(status=204)

    async def list_messages(self, request: web.Request) -> web.Response:
        """List the received messages, newest first."""
        return web.json_response(
            [m.to_json() for m in self._state.store.newest_first()],
            headers={"Cache-Control": "no-store"},
        )

    async def clear_messages(self, request: web.Request) -> web.Response:
        """Delete the received messages."""
        self._state.store.clear_messages()
        return web.Response(status=204)

    async def attachment(self, request: web.Request) -> web.StreamResponse:
        """Serve an attachment's bytes with its content type."""
        message = self._state.store.find_message(request.match_info["id"])
        index = request.match_info["index"]
        if (
            message is None
            or not index.isdigit()
            or int(index) >= len(message.attachments)
        ):
            raise web.HTTPNotFound(text="No such message or attachment.")
        attachment = message.attachments[int(index)]
        disposition = "attachment" if "download" in request.query else "inline"
        return web.FileResponse(
            attachment.path,
            headers={
                "Content-Type": attachment.media_type,
                "Content-Disposition": (
                    f"{disposition}; filename*=UTF-8''{quote(attachment.name)}"
                ),
                # Attachments are untrusted: never let one script the inbox.
                "Content-Security-Policy": "sandbox",
                "X-Content-Type-Options": "nosniff",
            },
        )

    async def stats(self, request: web.Request) -> web.Response:
        """Answer the request statistics."""
        return web.json_response(self._state.stats.to_json())

    async def reset(self, request: web.Request) -> web.Response:
        """Forget messages, drafts, uploads, faults and statistics."""
        self._state.reset()
        return web.Response(status=204)
