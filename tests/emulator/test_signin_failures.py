"""Sign-in and refresh refusals: MFA, sign-in frequency, disabled users, consent."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest

from emulator import App, Emulator, Fault, FlowStatus, SignInAudience
from emulator.directory import (
    CONSUMER_TENANT_ID,
    DEFAULT_CLIENT_ID,
    DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_TENANT_ID,
    OTHER_TENANT_ID,
)

from .helpers import (
    ALERTS,
    ME,
    TOKEN_PATH,
    bearer,
    claims,
    message,
    poll,
    refresh,
    send,
    sign_in,
    start_device_flow,
    token_form,
)

LEE = "lee@woodgrovebank.com"


def oauth_error(body: dict[str, Any]) -> tuple[str, list[int]]:
    return body["error"], body["error_codes"]


def add_app(emulator: Emulator, client_id: str, audience: str) -> str:
    """Register a public client app with the given supported account types."""
    emulator.directory.apps.append(
        App(
            client_id,
            [],
            [],
            display_name=f"app {audience}",
            public_client=True,
            sign_in_audience=SignInAudience(audience),
            delegated_permissions=["Mail.Send", "User.Read", "offline_access"],
        )
    )
    return client_id


# Refresh-token refusals (faults) -------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "error", "code", "wording"),
    [
        ("mfa_required", "interaction_required", 50076, "multi-factor"),
        ("mfa_registration_required", "interaction_required", 50079, "enroll"),
        ("sign_in_frequency", "invalid_grant", 70043, "sign-in frequency"),
        ("refresh_token_inactive", "invalid_grant", 700082, "inactive for"),
        ("user_disabled", "invalid_grant", 50057, "disabled"),
        ("admin_consent_required", "invalid_grant", 90094, "Administrator consent"),
    ],
)
async def test_refresh_refusals(
    session: aiohttp.ClientSession,
    emulator: Emulator,
    kind: str,
    error: str,
    code: int,
    wording: str,
) -> None:
    tokens = await sign_in(session, emulator)
    emulator.add_fault(kind)
    status, body = await refresh(session, tokens["refresh_token"])
    assert (status, *oauth_error(body)) == (400, error, [code])
    assert body["error_description"].startswith(f"AADSTS{code}: ")
    assert wording in body["error_description"]
    assert body.get("suberror") == (
        "token_expired" if kind == "sign_in_frequency" else None
    )
    assert emulator.faults == []  # one hit, as asked
    # The refused token keeps failing the same way, as Entra's would ...
    status, again = await refresh(session, tokens["refresh_token"])
    assert oauth_error(again) == (error, [code])
    # ... until the person signs in again.
    fresh = await sign_in(session, emulator)
    status, body = await refresh(session, fresh["refresh_token"])
    assert status == 200, body


async def test_refresh_refusal_error_can_be_chosen(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    """70043 was seen with ``interaction_required`` too (v1 endpoint answers)."""
    tokens = await sign_in(session, emulator)
    emulator.add_fault("sign_in_frequency:error=interaction_required")
    _, body = await refresh(session, tokens["refresh_token"])
    assert oauth_error(body) == ("interaction_required", [70043])
    assert body["suberror"] == "token_expired"


async def test_refresh_refusal_for_one_user(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    casey = await sign_in(session, emulator)
    jamie = await sign_in(session, emulator, "jamie@hotmail.com")
    emulator.add_fault("mfa_required", count=-1, mailbox="jamie@hotmail.com")
    status, _ = await refresh(session, casey["refresh_token"])
    assert status == 200
    _, body = await refresh(session, jamie["refresh_token"])
    assert oauth_error(body) == ("interaction_required", [50076])
    # Over the control API, as a test of the integration would switch it on.
    emulator.clear_faults()
    async with session.post(
        "/_emulator/faults",
        json={"kind": "user_disabled", "mailbox": "casey@outlook.com"},
    ) as response:
        assert response.status == 201
    casey = await sign_in(session, emulator)
    _, body = await refresh(session, casey["refresh_token"])
    assert oauth_error(body) == ("invalid_grant", [50057])


@pytest.mark.parametrize(
    "spec",
    [
        "mfa_required:match=sendMail",
        "user_disabled:error=access_denied",
        "429:error=invalid_grant",
        "submission_quota:match=createDraft",
        "submission_quota:status=200",
    ],
)
def test_fault_options_are_checked(spec: str) -> None:
    with pytest.raises(ValueError, match=r"token endpoint|error|status|match"):
        Fault.parse(spec)


async def test_refresh_refusal_leaves_client_credentials_alone(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    emulator.add_fault("mfa_required")
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        assert response.status == 200
    assert len(emulator.faults) == 1


async def test_inactivity_follows_the_emulator_clock(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    tokens = await sign_in(session, emulator)
    emulator.advance_clock(89 * 86400)
    status, renewed = await refresh(session, tokens["refresh_token"])
    assert status == 200
    emulator.advance_clock(91 * 86400)
    _, body = await refresh(session, renewed["refresh_token"])
    assert oauth_error(body) == ("invalid_grant", [70008])


# Disabled accounts and admin consent (directory fields) ---------------------------


async def test_disabled_account(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    tokens = await sign_in(session, emulator, "ops@contoso.com", authority="common")
    emulator.directory.user("ops@contoso.com").account_enabled = False
    _, body = await refresh(session, tokens["refresh_token"], authority="common")
    assert oauth_error(body) == ("invalid_grant", [50057])
    _, flow = await start_device_flow(session, emulator, authority="organizations")
    result = emulator.complete_device_login(flow["user_code"], "ops@contoso.com")
    assert result.error is not None
    assert result.error.aadsts == 50057
    _, body = await poll(session, flow["device_code"], authority="organizations")
    assert oauth_error(body) == ("invalid_grant", [50057])
    emulator.set_roles(["Mail.Send", "User.Read.All"])
    async with session.post(TOKEN_PATH, data=token_form(emulator)) as response:
        reader = bearer((await response.json())["access_token"])
    async with session.get(
        "/v1.0/users/ops@contoso.com",
        params={"$select": "accountEnabled"},
        headers=reader,
    ) as response:
        assert (await response.json())["accountEnabled"] is False


async def test_admin_consent_required(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    emulator.directory.tenant.user_consent_allowed = False
    _, flow = await start_device_flow(session, emulator, authority="organizations")
    form = {"code": flow["user_code"], "user": "ops@contoso.com"}
    async with session.post("/devicelogin", data=form) as response:
        assert response.status == 400
        page = await response.text()
    assert "Need admin approval" in page
    assert "AADSTS90094" in page
    _, body = await poll(session, flow["device_code"], authority="organizations")
    assert oauth_error(body) == ("invalid_grant", [90094])
    # Personal accounts consent for themselves.
    await sign_in(session, emulator, "casey@outlook.com", authority="common")
    # Once the permissions are consented (by an admin), users sign in.
    app = emulator.directory.app(DEFAULT_PUBLIC_CLIENT_ID)
    emulator._state.signins.consent(
        emulator.directory.user("ops@contoso.com"),
        app,
        ["Mail.Send", "User.Read", "offline_access"],
    )
    await sign_in(session, emulator, "ops@contoso.com", authority="organizations")


# The consent page can be refused ---------------------------------------------------


@pytest.mark.parametrize("setting", ["authorization_declined", "access_denied"])
async def test_refused_consent(
    session: aiohttp.ClientSession, emulator: Emulator, setting: str
) -> None:
    """Entra documents ``authorization_declined``; RFC 8628 ``access_denied``."""
    emulator.device_decline_error = setting
    _, flow = await start_device_flow(session, emulator)
    form = {"code": flow["user_code"], "user": "casey@outlook.com"}
    async with session.post("/devicelogin", data=form) as response:
        page = await response.text()
    assert '<button type="submit" name="decision" value="cancel">Cancel</button>' in (
        page
    )
    async with session.post(
        "/devicelogin", data={**form, "decision": "cancel"}
    ) as response:
        assert "Sign-in cancelled" in await response.text()
    status, body = await poll(session, flow["device_code"])
    assert (status, *oauth_error(body)) == (400, setting, [65004])
    assert (
        emulator._state.signins.consented(
            emulator.directory.user("casey@outlook.com"),
            emulator.directory.app(DEFAULT_PUBLIC_CLIENT_ID),
        )
        == set()
    )


def test_decline_error_setting_is_checked(emulator: Emulator) -> None:
    with pytest.raises(ValueError, match="device_decline_error"):
        emulator.device_decline_error = "nope"


# Wrong authority, unlisted scopes, other tenants -------------------------------------


async def test_work_only_app_at_consumers_at_every_endpoint(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    """AADSTS9002332 at /devicecode, at the device code poll and at a refresh."""
    client_id = add_app(
        emulator,
        "aaaaaaaa-0000-4000-8000-000000000010",
        "AzureADandPersonalMicrosoftAccount",
    )
    app = emulator.directory.app(client_id)
    tokens = await sign_in(session, emulator, client_id=client_id)
    _, pending = await start_device_flow(session, emulator, client_id=client_id)
    for audience in (SignInAudience.MY_ORG, SignInAudience.MULTIPLE_ORGS):
        app.sign_in_audience = audience
        status, body = await start_device_flow(session, emulator, client_id=client_id)
        assert (status, *oauth_error(body)) == (400, "invalid_request", [9002332])
        _, body = await poll(session, pending["device_code"], client_id=client_id)
        assert oauth_error(body) == ("invalid_request", [9002332])
        _, body = await refresh(session, tokens["refresh_token"], client_id=client_id)
        assert oauth_error(body) == ("invalid_request", [9002332])
        assert "/consumers" in body["error_description"]


@pytest.mark.parametrize(
    "error", ["invalid_client", "invalid_request", "invalid_scope"]
)
async def test_unlisted_scope_error_value(
    session: aiohttp.ClientSession, emulator: Emulator, error: str
) -> None:
    """AADSTS650057 (dynamic consent off) carries the chosen ``error``."""
    emulator.dynamic_consent = False
    emulator.unlisted_scope_error = error
    scope = f"{emulator.url}/Mail.Send.Shared offline_access"
    _, flow = await start_device_flow(session, emulator, scope=scope)
    emulator.complete_device_login(flow["user_code"], "casey@outlook.com")
    status, body = await poll(session, flow["device_code"])
    assert (status, *oauth_error(body)) == (400, error, [650057])


async def test_user_of_another_tenant(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    """AADSTS50020 at a first sign-in: the account is a stranger in contoso."""
    _, flow = await start_device_flow(session, emulator, authority="contoso.com")
    async with session.post(
        "/devicelogin", data={"code": flow["user_code"]}
    ) as response:
        page = await response.text()
    assert f">{LEE}</button>" in page  # people may type any account
    async with session.post(
        "/devicelogin", data={"code": flow["user_code"], "user": LEE}
    ) as response:
        assert response.status == 400
        assert "AADSTS50020" in await response.text()
    assert emulator._state.signins.flows[flow["device_code"]].status is (
        FlowStatus.FAILED
    )
    status, body = await poll(session, flow["device_code"], authority=DEFAULT_TENANT_ID)
    assert (status, *oauth_error(body)) == (400, "invalid_grant", [50020])
    description = body["error_description"]
    assert LEE in description
    assert f"https://sts.windows.net/{OTHER_TENANT_ID}/" in description
    assert "Contoso" in description


@pytest.mark.parametrize("authority", ["organizations", "woodgrovebank.com"])
async def test_user_of_another_tenant_at_home(
    session: aiohttp.ClientSession, emulator: Emulator, authority: str
) -> None:
    tokens = await sign_in(session, emulator, LEE, authority=authority)
    access = claims(tokens["access_token"])
    assert (access["tid"], access["upn"]) == (OTHER_TENANT_ID, LEE)
    auth = bearer(tokens["access_token"])
    assert (
        await send(session, auth, {"message": message()}, f"{ME}/sendMail")
    ).status == 202
    assert emulator.messages[0].mailbox.address == LEE
    # Contoso's mailboxes stay out of reach.
    assert (
        await send(session, auth, {"message": message()}, f"{ALERTS}/sendMail")
    ).status == 403


async def test_apps_of_contoso_at_another_tenant(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    """A single-tenant app, and any app-only request, is unknown there (700016)."""
    client_id = add_app(
        emulator, "aaaaaaaa-0000-4000-8000-000000000011", "AzureADMyOrg"
    )
    status, body = await start_device_flow(
        session, emulator, authority=OTHER_TENANT_ID, client_id=client_id
    )
    assert (status, *oauth_error(body)) == (400, "unauthorized_client", [700016])
    async with session.post(
        f"/{OTHER_TENANT_ID}/oauth2/v2.0/token", data=token_form(emulator)
    ) as response:
        body = await response.json()
    assert oauth_error(body) == ("unauthorized_client", [700016])
    assert DEFAULT_CLIENT_ID in body["error_description"]


# Graph's public resource URI -----------------------------------------------------------


async def test_fully_qualified_graph_scopes(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    """``https://graph.microsoft.com/Mail.Send`` names the emulator's Graph too."""
    scope = (
        "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read "
        "offline_access"
    )
    tokens = await sign_in(session, emulator, scope=scope)
    assert tokens["scope"] == (
        "https://graph.microsoft.com/Mail.Send https://graph.microsoft.com/User.Read "
        "offline_access"
    )
    access = claims(tokens["access_token"])
    assert (access["aud"], access["scp"]) == (
        "https://graph.microsoft.com",
        "Mail.Send User.Read",
    )
    auth = bearer(tokens["access_token"])
    assert (
        await send(session, auth, {"message": message()}, f"{ME}/sendMail")
    ).status == 202
    status, renewed = await refresh(
        session,
        tokens["refresh_token"],
        scope="https://graph.microsoft.com/Mail.Send offline_access",
    )
    assert status == 200, renewed
    assert claims(renewed["access_token"])["scp"] == "Mail.Send"
    # Both names of the same resource still make one resource.
    status, body = await start_device_flow(
        session,
        emulator,
        scope=f"https://graph.microsoft.com/Mail.Send {emulator.url}/User.Read",
    )
    assert (status, *oauth_error(body)) == (400, "invalid_scope", [700022])


async def test_fully_qualified_graph_default_scope_app_only(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    form = token_form(emulator, scope="https://graph.microsoft.com/.default")
    async with session.post(TOKEN_PATH, data=form) as response:
        token = (await response.json())["access_token"]
    assert claims(token)["aud"] == "https://graph.microsoft.com"
    assert (await send(session, bearer(token), {"message": message()})).status == 202


# A refresh token without a sign-in (Apprise's personal URL) --------------------------


APPRISE_SCOPE = "https://graph.microsoft.com/Mail.Send offline_access"


async def test_issue_refresh_token_for_apprise(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    token = emulator.issue_refresh_token("casey@outlook.com")
    # What Apprise's personal mode posts to /consumers.
    form = {
        "grant_type": "refresh_token",
        "client_id": DEFAULT_PUBLIC_CLIENT_ID,
        "refresh_token": token,
        "scope": APPRISE_SCOPE,
    }
    async with session.post("/consumers/oauth2/v2.0/token", data=form) as response:
        assert response.status == 200
        body = await response.json()
    assert body["scope"] == APPRISE_SCOPE
    assert body["refresh_token"] != token
    access = claims(body["access_token"])
    assert (access["tid"], access["preferred_username"]) == (
        CONSUMER_TENANT_ID,
        "casey@outlook.com",
    )
    auth = bearer(body["access_token"])
    assert (
        await send(session, auth, {"message": message()}, f"{ME}/sendMail")
    ).status == 202
    assert emulator.messages[0].mailbox.address == "casey@outlook.com"
    assert emulator.stats["refresh_tokens_issued"] == 2


async def test_refresh_token_control_endpoint(
    session: aiohttp.ClientSession, emulator: Emulator
) -> None:
    async with session.post(
        "/_emulator/refresh_tokens", json={"user": "casey@outlook.com"}
    ) as response:
        assert response.status == 201
        body = await response.json()
    assert (body["user"], body["client_id"], body["scope"]) == (
        "casey@outlook.com",
        DEFAULT_PUBLIC_CLIENT_ID,
        APPRISE_SCOPE,
    )
    assert body["apprise_url"] == (
        f"o365://casey@outlook.com/{DEFAULT_PUBLIC_CLIENT_ID}/{body['refresh_token']}"
    )
    status, _ = await refresh(session, body["refresh_token"], scope=APPRISE_SCOPE)
    assert status == 200
    # A work account gets a token (for /organizations), but no Apprise URL.
    async with session.post(
        "/_emulator/refresh_tokens",
        json={
            "user": "ops@contoso.com",
            "scope": f"{emulator.url}/Mail.Send offline_access",
        },
    ) as response:
        work = await response.json()
    assert "apprise_url" not in work
    status, _ = await refresh(session, work["refresh_token"], authority="organizations")
    assert status == 200
    async with session.post(
        "/_emulator/refresh_tokens", json={"user": "nobody@outlook.com"}
    ) as response:
        assert response.status == 404
    async with session.post(
        "/_emulator/refresh_tokens",
        json={
            "user": "casey@outlook.com",
            "scope": "https://graph.microsoft.com/Mail.Send",
        },
    ) as response:
        assert (response.status, (await response.json())["error_codes"]) == (
            400,
            [70011],
        )
    work_only = add_app(
        emulator, "aaaaaaaa-0000-4000-8000-000000000012", "AzureADMultipleOrgs"
    )
    async with session.post(
        "/_emulator/refresh_tokens",
        json={"user": "casey@outlook.com", "client_id": work_only},
    ) as response:
        assert (response.status, (await response.json())["error_codes"]) == (
            400,
            [9002332],
        )
