"""Microsoft Entra endpoints: OpenID discovery, device codes and the token endpoint.

Authorities (the first path segment): the work tenant by GUID or domain, the
consumer tenant (``consumers`` or its GUID), ``organizations`` and ``common``
(``docs/identity-platform/v2-protocols-oidc.md``: their discovery documents
name the issuer ``.../{tenantid}/v2.0``). Grants:

* ``client_credentials`` with a client secret or a certificate assertion
  (``docs/identity-platform/v2-oauth2-client-creds-grant-flow.md``,
  ``docs/identity-platform/certificate-credentials.md``); only at a tenant
  (AADSTS9001023 at ``common``/``consumers``);
* ``urn:ietf:params:oauth:grant-type:device_code`` after ``/devicecode``
  (``docs/identity-platform/v2-oauth2-device-code.md``);
* ``refresh_token`` (``docs/identity-platform/v2-oauth2-auth-code-flow.md``,
  refresh section), rotating the refresh token on every use.

Microsoft Graph is named by the emulator's own URL or by Graph's public one,
``https://graph.microsoft.com`` (as ``scopes-oidc.md`` and Apprise write
``https://graph.microsoft.com/Mail.Send``): both are the same resource, as
Entra takes any of a resource's identifier URIs. Apps are registered in the
directory's own tenant: at another tenant a single-tenant app, and any app
asking for an app-only token, is unknown there (AADSTS700016).
"""

from __future__ import annotations

import base64
import hmac
import json
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from .assertions import CLIENT_ASSERTION_TYPE, verify_client_assertion
from .common import (
    FORM,
    TARGET,
    Endpoint,
    OAuthError,
    Operation,
    base_url,
    read_limited,
    utc_now,
)
from .directory import App, Authority, AuthorityKind, Mailbox, SignInAudience, Tenant
from .faults import REFRESH_KINDS, FaultKind
from .signin import (
    DeviceFlow,
    FlowStatus,
    GrantState,
    RefreshGrant,
    ScopeRequest,
    authorization_declined,
    authorization_pending,
    bad_verification_code,
    check_app_authority,
    check_user,
    consent_missing,
    expired_token,
    parse_scopes,
    refresh_refusal,
    slow_down,
)
from .state import EmulatorState
from .tokens import normalise_audience

MAX_FORM_SIZE = 64 * 1024
DEFAULT_SUFFIX = "/.default"
MAIL_SEND = "Mail.Send"
CLIENT_CREDENTIALS = "client_credentials"
DEVICE_CODE_GRANT = "urn:ietf:params:oauth:grant-type:device_code"
REFRESH_TOKEN_GRANT = "refresh_token"  # noqa: S105 - a grant type name

_NOT_INSTALLED = (
    "This can happen if the application has not been installed by the administrator "
    "of the tenant or consented to by any user in the tenant. You may have sent your "
    "authentication request to the wrong tenant."
)
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def unknown_tenant(name: str) -> OAuthError:
    """Return Entra's error for a tenant that does not exist (AADSTS90002)."""
    return OAuthError(
        400,
        "invalid_tenant",
        90002,
        f"Tenant '{name}' not found. Check to make sure you have the correct tenant "
        "ID and are signing into the correct cloud. Check with your subscription "
        "administrator, this may happen if there are no active subscriptions for "
        "the tenant.",
    )


def _missing(parameter: str) -> OAuthError:
    return OAuthError(
        400,
        "invalid_request",
        900144,
        f"The request body must contain the following parameter: '{parameter}'.",
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def app_not_found(client_id: str, where: str) -> OAuthError:
    """Return AADSTS700016: no such application in that directory."""
    return OAuthError(
        400,
        "unauthorized_client",
        700016,
        f"Application with identifier '{client_id}' was not found in the "
        f"directory '{where}'. " + _NOT_INSTALLED,
    )


def issue_refresh_token(
    state: EmulatorState, *, user: Mailbox, app: App, scope: str, graph_resource: str
) -> RefreshGrant:
    """Issue a refresh token as a finished device code sign-in would.

    For people who want a token without a client that signs in (the Apprise
    personal URL carries one). The user is checked at their home authority
    (``consumers`` for personal accounts) and consents to ``scope``.
    """
    directory = state.directory
    tenant = directory.tenant_of(user)
    authority = directory.authority("consumers" if user.personal else tenant.tenant_id)
    assert authority is not None
    check_app_authority(app, authority)
    check_user(directory, app, authority, user)
    scopes = parse_scopes(
        scope,
        graph_resource=graph_resource,
        known_resources=state.audiences,
        tenant=tenant.tenant_id,
    )
    if not scopes.offline:
        raise OAuthError(
            400,
            "invalid_scope",
            70011,
            "A refresh token needs the scope 'offline_access'.",
        )
    state.signins.consent(user, app, scopes.consent_needed(app))
    state.stats.refresh_tokens_issued += 1
    return state.signins.issue_refresh_token(user, app, scopes)


async def read_form(request: web.Request) -> dict[str, str]:
    """Return the form fields, percent-decoded exactly once (cached on the request)."""
    if FORM in request:
        return dict(request[FORM])
    raw = await read_limited(request, MAX_FORM_SIZE)
    if raw is None:
        raise OAuthError(400, "invalid_request", 90014, "The request is too large.")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise OAuthError(
            400, "invalid_request", 90014, "The request body is not UTF-8."
        ) from err
    form: dict[str, str] = {}
    for key, value in parse_qsl(text, keep_blank_values=True):
        form.setdefault(key, value)
    request[FORM] = form
    return dict(form)


class IdentityApi:
    """Handlers for the sign-in endpoints MSAL uses."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve the tenants in ``state.directory``."""
        self._state = state

    def endpoints(self) -> list[Endpoint]:
        """Return the routes."""
        root = "/{tenant}"
        return [
            Endpoint(
                "GET",
                f"{root}/v2.0/.well-known/openid-configuration",
                self.openid_configuration,
                Operation.OPENID,
            ),
            Endpoint("GET", f"{root}/discovery/v2.0/keys", self.keys, Operation.OPENID),
            Endpoint(
                "POST",
                f"{root}/oauth2/v2.0/devicecode",
                self.device_code,
                Operation.DEVICE_CODE,
            ),
            Endpoint("POST", f"{root}/oauth2/v2.0/token", self.token, Operation.TOKEN),
        ]

    # Discovery --------------------------------------------------------------

    def _authority(self, request: web.Request) -> Authority:
        name = request.match_info["tenant"]
        authority = self._state.directory.authority(name)
        if authority is None:
            raise unknown_tenant(name)
        return authority

    async def openid_configuration(self, request: web.Request) -> web.Response:
        """Answer the authority's OpenID Connect discovery document."""
        authority = self._authority(request)
        base = base_url(request)
        root = f"{base}/{authority.name}"
        host = urlsplit(base).netloc
        if authority.kind in {AuthorityKind.COMMON, AuthorityKind.ORGANIZATIONS}:
            issuer = f"{base}/{{tenantid}}/v2.0"
        else:
            assert authority.tenant is not None
            issuer = f"{base}/{authority.tenant.tenant_id}/v2.0"
        region = "EU" if authority.kind is AuthorityKind.TENANT else None
        return web.json_response(
            {
                "token_endpoint": f"{root}/oauth2/v2.0/token",
                "token_endpoint_auth_methods_supported": [
                    "client_secret_post",
                    "private_key_jwt",
                    "client_secret_basic",
                ],
                "jwks_uri": f"{root}/discovery/v2.0/keys",
                "response_modes_supported": ["query", "fragment", "form_post"],
                "subject_types_supported": ["pairwise"],
                "id_token_signing_alg_values_supported": ["RS256"],
                "response_types_supported": [
                    "code",
                    "id_token",
                    "code id_token",
                    "id_token token",
                ],
                "scopes_supported": ["openid", "profile", "email", "offline_access"],
                "issuer": issuer,
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
                "kerberos_endpoint": f"{root}/kerberos",
                "tenant_region_scope": region,
                "cloud_instance_name": host,
                "cloud_graph_host_name": host,
                "msgraph_host": host,
                "rbac_url": base,
            }
        )

    async def keys(self, request: web.Request) -> web.Response:
        """Answer the signing keys: none, the emulator signs with a secret key."""
        self._authority(request)
        return web.json_response({"keys": []})

    # Device authorization ---------------------------------------------------

    async def device_code(self, request: web.Request) -> web.Response:
        """Start a device code flow (``POST /{authority}/oauth2/v2.0/devicecode``)."""
        authority = self._authority(request)
        form = await read_form(request)
        app = self._app(form, authority)
        # reference-error-codes.md: AADSTS9002332 for a work-only app at
        # /consumers (and 9002331, 50194 for the other mismatches).
        check_app_authority(app, authority)
        scope = form.get("scope")
        if not scope:
            raise _missing("scope")
        scopes = self._scopes(request, authority, scope)
        settings = self._state.settings
        flow = self._state.signins.new_flow(
            app,
            authority,
            scopes,
            lifetime=settings.device_code_lifetime,
            interval=settings.device_code_interval,
        )
        verification_uri = f"{base_url(request)}/devicelogin"
        return web.json_response(
            {
                "user_code": flow.user_code,
                "device_code": flow.device_code,
                "verification_uri": verification_uri,
                "expires_in": settings.device_code_lifetime,
                "interval": flow.interval,
                "message": (
                    f"To sign in, use a web browser to open the page "
                    f"{verification_uri} and enter the code {flow.user_code} to "
                    "authenticate."
                ),
            },
            headers=_NO_STORE,
        )

    # Token endpoint ---------------------------------------------------------

    async def token(self, request: web.Request) -> web.Response:
        """Issue tokens for the client-credentials, device-code and refresh grants."""
        authority = self._authority(request)
        form = await read_form(request)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _missing("grant_type")
        if grant_type == CLIENT_CREDENTIALS:
            return await self._client_credentials(request, authority, form)
        if grant_type == DEVICE_CODE_GRANT:
            return await self._device_code_grant(request, authority, form)
        if grant_type == REFRESH_TOKEN_GRANT:
            return await self._refresh_grant(request, authority, form)
        raise OAuthError(
            400,
            "unsupported_grant_type",
            70003,
            f"The app requested an unsupported grant type '{grant_type}'.",
        )

    async def _client_credentials(
        self, request: web.Request, authority: Authority, form: dict[str, str]
    ) -> web.Response:
        """Issue an app-only token (client-credentials grant)."""
        faults = self._state.faults
        target = request.get(TARGET)
        if authority.kind is not AuthorityKind.TENANT:
            if authority.kind is AuthorityKind.ORGANIZATIONS:
                raise OAuthError(
                    400,
                    "invalid_request",
                    50059,
                    "No tenant-identifying information found in either the request "
                    "or implied by any provided credentials.",
                )
            raise OAuthError(
                400,
                "invalid_request",
                9001023,
                "The grant type is not supported over the /common or /consumers "
                "endpoints. Please use the /organizations or tenant-specific "
                "endpoint.",
            )
        tenant = authority.tenant
        assert tenant is not None
        app = self._app(form, authority, app_only=True)
        self._authenticate_client(request, app, authority, form, public_allowed=False)
        audience = self._audience(tenant, form.get("scope"))
        roles = list(app.roles)
        if faults.take(Operation.TOKEN, {FaultKind.MISSING_ROLE}, target):
            roles = [role for role in roles if role != MAIL_SEND]
        lifetime = self._state.token_lifetime
        access_token = self._state.tokens.issue(
            tenant_id=tenant.tenant_id,
            app=app,
            audience=audience,
            roles=roles,
            lifetime=lifetime,
        )
        self._count(CLIENT_CREDENTIALS)
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }
        return web.json_response(body, headers=_NO_STORE)

    async def _device_code_grant(
        self, request: web.Request, authority: Authority, form: dict[str, str]
    ) -> web.Response:
        """Answer a poll of a device code flow."""
        app = self._app(form, authority)
        check_app_authority(app, authority)  # the registration may have changed
        authenticated = self._authenticate_client(
            request, app, authority, form, public_allowed=True
        )
        device_code = form.get("device_code")
        if not device_code:
            raise _missing("device_code")
        flow = self._state.signins.flows.get(device_code)
        if (
            flow is None
            or flow.status is FlowStatus.REDEEMED
            or flow.app is not app
            or flow.authority.name != authority.name
        ):
            raise bad_verification_code()
        self._check_poll_interval(flow)
        if flow.expired():
            raise expired_token()
        if flow.status is FlowStatus.PENDING:
            raise authorization_pending()
        if flow.status is FlowStatus.DECLINED:
            raise authorization_declined(self._state.settings.device_decline_error)
        if flow.status is FlowStatus.FAILED:
            assert flow.error is not None
            raise flow.error
        assert flow.user is not None
        check_user(self._state.directory, app, authority, flow.user)
        self._check_static_consent(app, flow.scopes)
        flow.status = FlowStatus.REDEEMED
        return self._user_tokens(
            request,
            form,
            app=app,
            user=flow.user,
            scopes=flow.scopes,
            client_authenticated=authenticated,
            grant_type=DEVICE_CODE_GRANT,
        )

    def _check_poll_interval(self, flow: DeviceFlow) -> None:
        """Answer ``slow_down`` to a poll sooner than the interval (RFC 8628 3.5)."""
        now = self._state.signins.poll_clock()
        previous, flow.last_poll = flow.last_poll, now
        if previous is not None and now - previous < flow.interval:
            flow.interval += 5  # "for this and all subsequent requests"
            raise slow_down(flow.interval)

    async def _refresh_grant(
        self, request: web.Request, authority: Authority, form: dict[str, str]
    ) -> web.Response:
        """Redeem a refresh token: a new access token and a new refresh token."""
        app = self._app(form, authority)
        authenticated = self._authenticate_client(
            request, app, authority, form, public_allowed=True
        )
        token = form.get("refresh_token")
        if not token:
            raise _missing("refresh_token")
        signins = self._state.signins
        grant = signins.grants.get(token)
        if grant is None:
            raise OAuthError(
                400,
                "invalid_grant",
                70000,
                "The provided value for the 'refresh_token' is not valid.",
            )
        now = self._state.clock.now()
        failure = grant.failure(
            app.client_id, self._state.settings.refresh_token_lifetime, now
        )
        if failure is not None:
            raise failure
        fault = self._state.faults.take(
            Operation.TOKEN, REFRESH_KINDS, request.get(TARGET)
        )
        if fault is not None:
            grant.refusal = refresh_refusal(fault.kind, grant, now, fault.error)
            raise grant.refusal
        check_app_authority(app, authority)
        check_user(self._state.directory, app, authority, grant.user)
        scope = form.get("scope")
        scopes = self._scopes(request, authority, scope) if scope else grant.scopes
        consented = signins.consented(grant.user, app)
        if any(p.casefold() not in consented for p in scopes.consent_needed(app)):
            raise consent_missing(app)
        self._check_static_consent(app, scopes)
        grant.state = GrantState.USED
        return self._user_tokens(
            request,
            form,
            app=app,
            user=grant.user,
            scopes=scopes,
            client_authenticated=authenticated,
            grant_type=REFRESH_TOKEN_GRANT,
        )

    def _user_tokens(
        self,
        request: web.Request,
        form: dict[str, str],
        *,
        app: App,
        user: Mailbox,
        scopes: ScopeRequest,
        client_authenticated: bool,
        grant_type: str,
    ) -> web.Response:
        """Answer a delegated token response (what MSAL caches an account from)."""
        directory = self._state.directory
        tenant = directory.tenant_of(user)
        lifetime = self._state.token_lifetime
        tokens = self._state.tokens
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "scope": scopes.response_scope(app),
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": tokens.issue_delegated(
                tenant_id=tenant.tenant_id,
                app=app,
                user=user,
                audience=scopes.resource,
                scopes=scopes.granted(app),
                lifetime=lifetime,
                client_authenticated=client_authenticated,
            ),
        }
        self._count(grant_type)
        if scopes.offline:
            grant = self._state.signins.issue_refresh_token(user, app, scopes)
            body["refresh_token"] = grant.token
            self._state.stats.refresh_tokens_issued += 1
        if "openid" in scopes.oidc:
            body["id_token"] = tokens.id_token(
                issuer=f"{base_url(request)}/{tenant.tenant_id}/v2.0",
                tenant_id=tenant.tenant_id,
                app=app,
                user=user,
                lifetime=lifetime,
                email="email" in scopes.oidc,
            )
        if form.get("client_info") == "1":
            info = {"uid": user.token_oid, "utid": tenant.tenant_id}
            body["client_info"] = _b64url(json.dumps(info).encode())
        return web.json_response(body, headers=_NO_STORE)

    # Helpers ----------------------------------------------------------------

    def _count(self, grant_type: str) -> None:
        stats = self._state.stats
        stats.tokens_issued += 1
        stats.token_grants[grant_type] += 1

    def _app(
        self, form: dict[str, str], authority: Authority, *, app_only: bool = False
    ) -> App:
        """Return the app, as the authority's directory knows it.

        Apps live in the directory's own tenant. At another work tenant a
        single-tenant app does not exist, and no app has the service principal
        with admin consent that app-only tokens need (AADSTS700016).
        """
        client_id = form.get("client_id")
        if not client_id:
            raise _missing("client_id")
        tenant = authority.tenant
        where = (
            (tenant.domains[0] if tenant.domains else tenant.tenant_id)
            if tenant is not None
            else authority.name
        )
        app = self._state.directory.find_app(client_id)
        if app is None:
            raise app_not_found(client_id, where)
        foreign = (
            authority.kind is AuthorityKind.TENANT
            and tenant is not self._state.directory.tenant
        )
        if foreign and (app_only or app.sign_in_audience is SignInAudience.MY_ORG):
            raise app_not_found(client_id, where)
        return app

    def _scopes(
        self, request: web.Request, authority: Authority, scope: str
    ) -> ScopeRequest:
        tenant = authority.tenant.tenant_id if authority.tenant else authority.name
        return parse_scopes(
            scope,
            graph_resource=base_url(request),
            known_resources=self._state.audiences,
            tenant=tenant,
        )

    def _check_static_consent(self, app: App, scopes: ScopeRequest) -> None:
        """Without dynamic consent, refuse scopes the registration does not list."""
        if self._state.settings.dynamic_consent:
            return
        listed = {p.casefold() for p in app.delegated_permissions}
        missing = [p for p in scopes.consent_needed(app) if p.casefold() not in listed]
        if missing:
            # reference-error-codes.md: AADSTS650057; the `error` is a setting
            # (settings.py says what each value rests on).
            raise OAuthError(
                400,
                self._state.settings.unlisted_scope_error,
                650057,
                "Invalid resource. The client has requested access to a resource "
                "which is not listed in the requested permissions in the client's "
                f"application registration. Client app ID: {app.client_id}"
                f"({app.display_name}). Resource value from request: "
                f"{scopes.resource}. Scopes not listed: {', '.join(missing)}.",
            )

    def _authenticate_client(
        self,
        request: web.Request,
        app: App,
        authority: Authority,
        form: dict[str, str],
        *,
        public_allowed: bool,
    ) -> bool:
        """Check the client's credential; return True if one was presented."""
        secret = form.get("client_secret")
        assertion = form.get("client_assertion")
        assertion_type = form.get("client_assertion_type")
        if not secret and not assertion:
            if public_allowed and app.public_client:
                return False
            raise OAuthError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )
        if app.public_client and not app.secrets and not app.certificates:
            raise OAuthError(
                401,
                "invalid_client",
                700025,
                "Client is public so neither 'client_assertion' nor 'client_secret' "
                "should be presented.",
            )
        if secret and assertion:
            raise OAuthError(
                400,
                "invalid_request",
                90023,
                "The request must contain 'client_secret' or 'client_assertion', "
                "not both.",
            )
        if assertion:
            if assertion_type != CLIENT_ASSERTION_TYPE:
                raise OAuthError(
                    401,
                    "invalid_client",
                    700027,
                    f"client_assertion_type must be '{CLIENT_ASSERTION_TYPE}'.",
                )
            verify_client_assertion(
                assertion,
                app=app,
                token_endpoints=self._token_endpoints(request, authority),
                now=utc_now(),
            )
            return True
        faults = self._state.faults
        target = request.get(TARGET)
        if faults.take(Operation.TOKEN, {FaultKind.WRONG_SECRET}, target):
            raise self._wrong_secret(app)
        if faults.take(Operation.TOKEN, {FaultKind.EXPIRED_SECRET}, target):
            raise self._expired_secret(app)
        self._check_secret(app, str(secret))
        return True

    def _token_endpoints(self, request: web.Request, authority: Authority) -> set[str]:
        """Return the token endpoint URLs an assertion's ``aud`` may name."""
        base = base_url(request)
        names = {authority.name, request.match_info["tenant"]}
        if authority.tenant is not None:
            names |= {authority.tenant.tenant_id, *authority.tenant.domains}
        return {f"{base}/{name}/oauth2/v2.0/token" for name in names}

    def _wrong_secret(self, app: App) -> OAuthError:
        return OAuthError(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the "
            "request is the client secret value, not the client secret ID, for a "
            f"secret added to app '{app.client_id}'.",
        )

    def _expired_secret(self, app: App) -> OAuthError:
        return OAuthError(
            401,
            "invalid_client",
            7000222,
            f"The provided client secret keys for app '{app.client_id}' are expired. "
            "Visit the Azure portal to create new keys for your app: "
            "https://aka.ms/NewClientSecret, or consider using certificate "
            "credentials for added security: https://aka.ms/certCreds.",
        )

    def _check_secret(self, app: App, secret: str) -> None:
        """Compare the secret byte for byte."""
        given = secret.encode("utf-8")
        match = next(
            (s for s in app.secrets if hmac.compare_digest(given, s.value.encode())),
            None,
        )
        now = utc_now()
        if match is None or (match.starts_at is not None and now < match.starts_at):
            # Before its startDateTime: Entra's answer is undocumented, so the
            # emulator refuses it as a wrong secret.
            raise self._wrong_secret(app)
        if match.expired(now):
            raise self._expired_secret(app)

    def _audience(self, tenant: Tenant, scope: str | None) -> str:
        """Return the resource a ``{resource}/.default`` scope names."""
        if not scope:
            raise _missing("scope")
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith(DEFAULT_SUFFIX):
            raise OAuthError(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential "
                "flows must have a scope value with /.default suffixed to the "
                "resource identifier (application ID URI).",
            )
        resource = scopes[0].removesuffix(DEFAULT_SUFFIX).rstrip("/")
        if normalise_audience(resource) not in self._state.audiences:
            raise OAuthError(
                400,
                "invalid_resource",
                500011,
                f"The resource principal named {resource} was not found in the tenant "
                f"named {tenant.tenant_id}. " + _NOT_INSTALLED,
            )
        return resource
