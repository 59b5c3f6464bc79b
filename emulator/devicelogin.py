"""The device login page, where a person finishes a device code sign-in.

``GET /devicelogin`` asks for the code ("Code", "Next"); the next pages offer
the authority's accounts (one button per account, labelled with its address)
and then the app's name and requested permissions ("Accept" or "Cancel"), as
Microsoft's page does for personal accounts
(``docs/identity-platform/v2-oauth2-device-code.md``, "Authenticating the
user"). Plain server-rendered HTML forms: no script, no external resources.
Accounts are offered by their sign-in name (the UPN: ``sam@gmail.com`` for a
Microsoft account made with a Gmail address). Cancel on the consent page
refuses it: the device's next poll answers ``authorization_declined``
(``v2-oauth2-device-code.md``, Expected errors). A work user whose tenant lets
only admins consent sees "Need admin approval" (AADSTS90094) instead of the
consent page, unless the permissions were consented before.

`complete_device_login` does the same without a browser (used by
``Emulator.complete_device_login`` and ``POST /_emulator/devicelogin``).
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from pathlib import Path
from string import Template

from aiohttp import web

from .common import Endpoint, OAuthError
from .directory import Mailbox
from .signin import (
    DeviceFlow,
    FlowStatus,
    admin_consent_required,
    authority_users,
    check_app_authority,
    check_user,
)
from .state import EmulatorState

PAGE = Path(__file__).with_name("static") / "devicelogin.html"
#: What the consent page says each permission lets the app do.
PERMISSION_TEXT = {
    "mail.send": "Send mail as you",
    "mail.readwrite": "Read and write access to your mail",
    "mail.read": "Read your mail",
    "user.read": "Sign you in and read your profile",
    "offline_access": "Maintain access to data you have given it access to",
    "openid": "Sign you in",
    "profile": "View your basic profile",
    "email": "View your email address",
}


class DeviceLoginError(Exception):
    """The code cannot be used (unknown, expired, or already used)."""


@dataclass(frozen=True, slots=True)
class LoginResult:
    """How a completed device login ended."""

    flow: DeviceFlow
    #: The sign-in error (the flow failed), or None.
    error: OAuthError | None


def find_flow(state: EmulatorState, user_code: str) -> DeviceFlow:
    """Return the pending flow a person's code names, or raise `DeviceLoginError`."""
    flow = state.signins.flow_by_user_code(user_code)
    if flow is None:
        raise DeviceLoginError("That code didn't work. Check the code and try again.")
    if flow.expired():
        raise DeviceLoginError(
            "That code has expired. Go back to your device and start again."
        )
    if flow.status is not FlowStatus.PENDING:
        # docs/identity-platform/reference-error-codes.md: AADSTS90120
        raise DeviceLoginError(
            "AADSTS90120: The request was already authorized or declined."
        )
    return flow


def complete_device_login(
    state: EmulatorState, user_code: str, user: str | Mailbox, *, accept: bool = True
) -> LoginResult:
    """Sign ``user`` in for a pending code and accept or decline the consent.

    Raises `DeviceLoginError` for an unusable code and KeyError for an unknown
    user. A user the authority or app does not admit ends the flow with that
    error (the next poll answers it).
    """
    flow = find_flow(state, user_code)
    mailbox = state.directory.user(user)
    error = admission_error(state, flow, mailbox) or consent_error(state, flow, mailbox)
    if error is not None:
        return LoginResult(flow, error)
    flow.user = mailbox
    if accept:
        state.signins.consent(mailbox, flow.app, flow.scopes.consent_needed(flow.app))
        flow.status = FlowStatus.APPROVED
    else:
        flow.status = FlowStatus.DECLINED
    return LoginResult(flow, None)


def consent_error(
    state: EmulatorState, flow: DeviceFlow, mailbox: Mailbox
) -> OAuthError | None:
    """Return AADSTS90094 when only an admin may consent (ending the flow), or None.

    reference-error-codes.md: AdminConsentRequired. It applies to work users
    of a tenant whose user consent setting is off, for permissions they have
    not consented to before.
    """
    if mailbox.personal or state.directory.tenant_of(mailbox).user_consent_allowed:
        return None
    consented = state.signins.consented(mailbox, flow.app)
    needed = flow.scopes.consent_needed(flow.app)
    if all(p.casefold() in consented for p in needed):
        return None
    error = admin_consent_required()
    flow.status, flow.error, flow.user = FlowStatus.FAILED, error, mailbox
    return error


def admission_error(
    state: EmulatorState, flow: DeviceFlow, mailbox: Mailbox
) -> OAuthError | None:
    """Return why ``mailbox`` cannot sign in for this flow (ending it), or None."""
    try:
        check_app_authority(flow.app, flow.authority)
        check_user(state.directory, flow.app, flow.authority, mailbox)
    except OAuthError as err:
        flow.status, flow.error, flow.user = FlowStatus.FAILED, err, mailbox
        return err
    return None


class DeviceLoginApi:
    """Handlers of the device login page."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve the device flows of ``state.signins`` (and read the page once)."""
        self._state = state
        self._page = Template(PAGE.read_text(encoding="utf-8"))

    def endpoints(self) -> list[Endpoint]:
        """Return the routes (a person's browser: not counted, never faulted)."""
        return [
            Endpoint("GET", "/devicelogin", self.start, None),
            Endpoint("POST", "/devicelogin", self.step, None),
        ]

    async def start(self, request: web.Request) -> web.Response:
        """Ask for the code."""
        return self._render("Enter code", _code_form())

    async def step(self, request: web.Request) -> web.Response:
        """Handle one submitted step: the code, the account, or the consent."""
        form = await request.post()
        code = str(form.get("code") or "")
        try:
            flow = find_flow(self._state, code)
        except DeviceLoginError as err:
            return self._render("Enter code", _code_form(str(err)), status=400)
        user = form.get("user")
        if user is None:
            return self._accounts(flow)
        decision = form.get("decision")
        mailbox = self._state.directory.find_mailbox(str(user))
        if mailbox is None or mailbox not in authority_users(
            self._state.directory, flow.authority
        ):
            return self._accounts(flow, "Pick one of these accounts.", status=400)
        if decision is None:
            error = admission_error(self._state, flow, mailbox)
            if error is not None:
                return self._failed(error)
            if consent_error(self._state, flow, mailbox) is not None:
                return self._admin_approval(flow)
            return self._consent(flow, mailbox)
        result = complete_device_login(
            self._state, flow.user_code, mailbox, accept=decision == "accept"
        )
        app = escape(flow.app.display_name)
        if result.error is not None:
            return self._failed(result.error)
        if decision != "accept":
            return self._render(
                "Sign-in cancelled",
                f"<h1>Sign-in cancelled</h1><p>You did not sign in to {app} on your "
                "device. You can close this window.</p>",
            )
        return self._render(
            "Signed in",
            f"<h1>{app}</h1><p>You have signed in to {app} on your device. You can "
            "close this window.</p>",
        )

    def _admin_approval(self, flow: DeviceFlow) -> web.Response:
        app = escape(flow.app.display_name)
        return self._render(
            "Need admin approval",
            "<h1>Need admin approval</h1>"
            f"<p>{app} needs permission to access resources in your organization "
            "that only an admin can grant. Ask an admin to grant permission to "
            "this app before you can use it.</p>"
            '<p role="alert">AADSTS90094: Administrator consent is required.</p>'
            "<p>You can close this window.</p>",
            status=400,
        )

    def _failed(self, error: OAuthError) -> web.Response:
        return self._render(
            "Sign-in failed",
            "<h1>Sign-in failed</h1>"
            f'<p role="alert">AADSTS{error.aadsts}: {escape(error.message)}</p>'
            "<p>You can close this window.</p>",
            status=400,
        )

    def _accounts(
        self, flow: DeviceFlow, problem: str = "", *, status: int = 200
    ) -> web.Response:
        users = authority_users(self._state.directory, flow.authority)
        buttons = "".join(
            '<li><button type="submit" name="user" '
            f'value="{escape(m.user_principal_name)}">'
            f"{escape(m.user_principal_name)}</button></li>"
            for m in users
        )
        alert = f'<p role="alert">{escape(problem)}</p>' if problem else ""
        return self._render(
            "Pick an account",
            "<h1>Pick an account</h1>"
            f"<p>to continue to {escape(flow.app.display_name)}</p>{alert}"
            '<form method="post" action="/devicelogin">'
            f'<input type="hidden" name="code" value="{escape(flow.user_code)}">'
            f'<ul class="accounts" aria-label="Accounts">{buttons}</ul></form>',
            status=status,
        )

    def _consent(self, flow: DeviceFlow, mailbox: Mailbox) -> web.Response:
        app = escape(flow.app.display_name)
        wanted = [*flow.scopes.granted(flow.app), *sorted(flow.scopes.oidc)]
        items = "".join(
            f"<li>{escape(PERMISSION_TEXT.get(p.casefold(), p))} "
            f"<code>{escape(p)}</code></li>"
            for p in wanted
        )
        return self._render(
            "Permissions requested",
            f"<p>{escape(mailbox.user_principal_name)}</p>"
            "<h1>Permissions requested</h1>"
            f"<p>{app} (unverified) wants to:</p><ul>{items}</ul>"
            f"<p>Accepting lets {app} use this account on your device.</p>"
            '<form method="post" action="/devicelogin">'
            f'<input type="hidden" name="code" value="{escape(flow.user_code)}">'
            '<input type="hidden" name="user" '
            f'value="{escape(mailbox.user_principal_name)}">'
            '<button type="submit" name="decision" value="cancel">Cancel</button> '
            '<button type="submit" name="decision" value="accept">Accept</button>'
            "</form>",
        )

    def _render(self, title: str, content: str, *, status: int = 200) -> web.Response:
        return web.Response(
            text=self._page.substitute(title=escape(title), content=content),
            content_type="text/html",
            status=status,
            headers={"Cache-Control": "no-store"},
        )


def _code_form(problem: str = "") -> str:
    alert = f'<p role="alert">{escape(problem)}</p>' if problem else ""
    return (
        "<h1>Enter code</h1>"
        "<p>Enter the code displayed on your app or device.</p>"
        f"{alert}"
        '<form method="post" action="/devicelogin">'
        '<label for="code">Code</label> '
        '<input id="code" name="code" type="text" autocomplete="off" '
        'autocapitalize="characters" spellcheck="false" required autofocus> '
        '<button type="submit">Next</button>'
        "</form>"
    )
