"""The emulator's own endpoints: faults, mail, sign-ins, settings, the inbox page.

* ``GET|POST|DELETE /_emulator/faults`` (a fault object or a list; any fault
  may carry ``client_id`` and ``mailbox``);
* ``GET|DELETE /_emulator/messages``,
  ``GET /_emulator/messages/{id}/attachments/{index}`` (``?download=1``);
* ``GET /_emulator/stats``, ``POST /_emulator/reset``;
* ``GET|PATCH /_emulator/settings`` (``{"min_upload_size": 3145728, ...}``);
* ``GET /_emulator/devicelogin`` (the device code flows) and
  ``POST /_emulator/devicelogin`` (``{"user_code", "user", "accept": true}``:
  what the device login page does);
* ``POST /_emulator/refresh_tokens/revoke`` (``{"user", "reason":
  "password_changed" | "consent_revoked"}``) and
  ``POST /_emulator/refresh_tokens/expire`` (``{"user"}``);
* ``POST /_emulator/refresh_tokens`` (``{"user", "client_id", "scope"}``, the
  last two optional): a refresh token as a finished sign-in gives one, with
  an Apprise personal URL for personal accounts;
* ``GET|POST /_emulator/clock`` (``{"advance_seconds": 86400}`` or
  ``{"offset_seconds": 0}``): the emulator's day-scale clock;
* ``GET /_emulator/limits``: recipients counted per submitter in the last 24
  hours, the limits, and the messages refused for crossing one;
* ``GET /inbox`` (and ``/``): the inbox page.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .common import Endpoint, OAuthError, base_url, iso
from .devicelogin import DeviceLoginError, complete_device_login
from .directory import DEFAULT_PUBLIC_CLIENT_ID
from .faults import Fault
from .identity import issue_refresh_token
from .settings import RECIPIENT_WINDOW_SECONDS
from .signin import RevokeReason
from .state import EmulatorState

#: What Apprise's personal mode asks for (caronc/apprise
#: ``apprise/plugins/office365.py``, ``personal_scope``).
APPRISE_PERSONAL_SCOPE = "https://graph.microsoft.com/Mail.Send offline_access"

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
            ("GET", "/_emulator/settings", self.get_settings),
            ("PATCH", "/_emulator/settings", self.update_settings),
            ("GET", "/_emulator/devicelogin", self.list_device_flows),
            ("POST", "/_emulator/devicelogin", self.device_login),
            ("POST", "/_emulator/refresh_tokens/revoke", self.revoke_refresh_tokens),
            ("POST", "/_emulator/refresh_tokens/expire", self.expire_refresh_tokens),
            ("POST", "/_emulator/refresh_tokens", self.new_refresh_token),
            ("GET", "/_emulator/clock", self.get_clock),
            ("POST", "/_emulator/clock", self.set_clock),
            ("GET", "/_emulator/limits", self.limits),
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
        """Forget mail, uploads, faults, sign-ins, statistics and counted recipients.

        The clock goes back to real time too.
        """
        self._state.reset()
        return web.Response(status=204)

    async def get_settings(self, request: web.Request) -> web.Response:
        """Answer the current settings."""
        return web.json_response(asdict(self._state.settings))

    async def update_settings(self, request: web.Request) -> web.Response:
        """Change settings (a JSON object of names and values)."""
        data = await _json_object(request)
        try:
            self._state.settings.update(**data)
        except (TypeError, ValueError) as err:
            raise _bad_request(str(err)) from err
        return web.json_response(asdict(self._state.settings))

    async def list_device_flows(self, request: web.Request) -> web.Response:
        """List the device code flows (newest last)."""
        return web.json_response(
            [flow.to_json() for flow in self._state.signins.flows.values()]
        )

    async def device_login(self, request: web.Request) -> web.Response:
        """Do what a person does on the device login page."""
        data = await _json_object(request)
        try:
            result = complete_device_login(
                self._state,
                str(data["user_code"]),
                str(data["user"]),
                accept=bool(data.get("accept", True)),
            )
        except KeyError as err:
            raise _bad_request(f"unknown or missing {err}", status=404) from err
        except DeviceLoginError as err:
            raise _bad_request(str(err), status=409) from err
        error = result.error
        return web.json_response(
            {
                **result.flow.to_json(),
                "error": None
                if error is None
                else {"error": error.code, "error_codes": [error.aadsts]},
            }
        )

    async def revoke_refresh_tokens(self, request: web.Request) -> web.Response:
        """Revoke a user's refresh tokens (password change or consent revoked)."""
        data = await _json_object(request)
        try:
            user = self._state.directory.user(str(data["user"]))
            reason = RevokeReason(data.get("reason", RevokeReason.PASSWORD_CHANGED))
        except KeyError as err:
            raise _bad_request(f"unknown or missing {err}", status=404) from err
        except ValueError as err:
            raise _bad_request(str(err)) from err
        return web.json_response({"revoked": self._state.signins.revoke(user, reason)})

    async def expire_refresh_tokens(self, request: web.Request) -> web.Response:
        """Make a user's refresh tokens expired (AADSTS70008)."""
        data = await _json_object(request)
        try:
            user = self._state.directory.user(str(data["user"]))
        except KeyError as err:
            raise _bad_request(f"unknown or missing {err}", status=404) from err
        return web.json_response({"expired": self._state.signins.expire(user)})

    async def new_refresh_token(self, request: web.Request) -> web.Response:
        """Issue a refresh token for a user (201), as a finished sign-in would."""
        data = await _json_object(request)
        state = self._state
        try:
            user = state.directory.user(str(data["user"]))
            app = state.directory.app(
                str(data.get("client_id", DEFAULT_PUBLIC_CLIENT_ID))
            )
        except KeyError as err:
            raise _bad_request(f"unknown or missing {err}", status=404) from err
        scope = str(data.get("scope") or APPRISE_PERSONAL_SCOPE)
        try:
            grant = issue_refresh_token(
                state, user=user, app=app, scope=scope, graph_resource=base_url(request)
            )
        except OAuthError as err:
            return web.json_response(
                {
                    "error": err.code,
                    "error_codes": [err.aadsts],
                    "error_description": err.message,
                },
                status=400,
            )
        body: dict[str, Any] = {
            "user": user.user_principal_name,
            "client_id": app.client_id,
            "scope": scope,
            "refresh_token": grant.token,
        }
        if user.personal:
            # Apprise's personal template: o365://{source}/{client_id}/{secret}
            body["apprise_url"] = (
                f"o365://{quote(user.address, safe='@')}/{app.client_id}/"
                f"{quote(grant.token, safe='')}"
            )
        return web.json_response(body, status=201)

    async def get_clock(self, request: web.Request) -> web.Response:
        """Answer the emulator's time and its offset from real time."""
        return web.json_response(self._clock_json())

    async def set_clock(self, request: web.Request) -> web.Response:
        """Move the clock (``advance_seconds``) or set its offset (``offset_seconds``)."""
        data = await _json_object(request)
        clock = self._state.clock
        try:
            if "offset_seconds" in data:
                clock.offset = timedelta(seconds=float(data["offset_seconds"]))
            if "advance_seconds" in data:
                clock.advance(float(data["advance_seconds"]))
        except (TypeError, ValueError, OverflowError) as err:
            raise _bad_request(f"not a number of seconds: {err}") from err
        return web.json_response(self._clock_json())

    def _clock_json(self) -> dict[str, Any]:
        clock = self._state.clock
        return {
            "now": iso(clock.now()),
            "offset_seconds": clock.offset.total_seconds(),
        }

    async def limits(self, request: web.Request) -> web.Response:
        """Answer the recipients counted per submitter and the limit crossings."""
        settings = self._state.settings
        ledger = self._state.recipients
        return web.json_response(
            {
                "window_seconds": RECIPIENT_WINDOW_SECONDS,
                "limits": {
                    "daily_recipient_limit_work": settings.daily_recipient_limit_work,
                    "daily_recipient_limit_personal": (
                        settings.daily_recipient_limit_personal
                    ),
                    "max_recipients_per_message": settings.max_recipients_per_message,
                },
                "recipients": ledger.counts(),
                "crossings": [c.to_json() for c in ledger.crossings],
            },
            headers={"Cache-Control": "no-store"},
        )


_ERRORS: dict[int, type[web.HTTPException]] = {
    400: web.HTTPBadRequest,
    404: web.HTTPNotFound,
    409: web.HTTPConflict,
}


def _bad_request(message: str, *, status: int = 400) -> web.HTTPException:
    """Return a JSON ``{"error": message}`` answer to raise."""
    return _ERRORS[status](
        text=json.dumps({"error": message}), content_type="application/json"
    )


async def _json_object(request: web.Request) -> dict[str, Any]:
    try:
        data = json.loads(await request.read())
    except ValueError as err:
        raise _bad_request(f"invalid JSON: {err}") from err
    if not isinstance(data, dict):
        raise _bad_request("send a JSON object")
    return data
