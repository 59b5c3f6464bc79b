"""Microsoft Entra endpoints: OpenID discovery and the client-credentials token."""

from __future__ import annotations

import hmac
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from aiohttp import web

from .common import Endpoint, OAuthError, Operation, base_url, read_limited, utc_now
from .directory import App, Tenant
from .faults import FaultKind
from .state import EmulatorState
from .tokens import normalise_audience

MAX_FORM_SIZE = 64 * 1024
DEFAULT_SUFFIX = "/.default"
MAIL_SEND = "Mail.Send"

_NOT_INSTALLED = (
    "This can happen if the application has not been installed by the administrator "
    "of the tenant or consented to by any user in the tenant. You may have sent your "
    "authentication request to the wrong tenant."
)


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


class IdentityApi:
    """Handlers for the sign-in endpoints MSAL uses."""

    def __init__(self, state: EmulatorState) -> None:
        """Serve the tenant in ``state.directory``."""
        self._state = state

    def endpoints(self) -> list[Endpoint]:
        """Return the routes."""
        return [
            Endpoint(
                "GET",
                "/{tenant}/v2.0/.well-known/openid-configuration",
                self.openid_configuration,
                Operation.OPENID,
            ),
            Endpoint(
                "GET", "/{tenant}/discovery/v2.0/keys", self.keys, Operation.OPENID
            ),
            Endpoint(
                "POST", "/{tenant}/oauth2/v2.0/token", self.token, Operation.TOKEN
            ),
        ]

    def _tenant(self, request: web.Request) -> Tenant:
        name = request.match_info["tenant"]
        tenant = self._state.directory.find_tenant(name)
        if tenant is None:
            raise unknown_tenant(name)
        return tenant

    async def openid_configuration(self, request: web.Request) -> web.Response:
        """Answer the tenant's OpenID Connect discovery document."""
        tenant = self._tenant(request)
        base = base_url(request)
        root = f"{base}/{tenant.tenant_id}"
        host = urlsplit(base).netloc
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
                "issuer": f"{root}/v2.0",
                "request_uri_parameter_supported": False,
                "userinfo_endpoint": f"{base}/oidc/userinfo",
                "authorization_endpoint": f"{root}/oauth2/v2.0/authorize",
                "device_authorization_endpoint": f"{root}/oauth2/v2.0/devicecode",
                "http_logout_supported": True,
                "frontchannel_logout_supported": True,
                "end_session_endpoint": f"{root}/oauth2/v2.0/logout",
                "claims_supported": ["sub", "iss", "aud", "exp", "iat", "tid", "oid"],
                "kerberos_endpoint": f"{root}/kerberos",
                "tenant_region_scope": "EU",
                "cloud_instance_name": host,
                "cloud_graph_host_name": host,
                "msgraph_host": host,
                "rbac_url": base,
            }
        )

    async def keys(self, request: web.Request) -> web.Response:
        """Answer the signing keys: none, the emulator signs with a secret key."""
        self._tenant(request)
        return web.json_response({"keys": []})

    async def token(self, request: web.Request) -> web.Response:
        """Issue an app-only token (client-credentials grant with a secret)."""
        faults = self._state.faults
        tenant = self._tenant(request)
        form = await self._form(request)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise _missing("grant_type")
        if grant_type != "client_credentials":
            raise OAuthError(
                400,
                "unsupported_grant_type",
                70003,
                f"The app requested an unsupported grant type '{grant_type}'.",
            )
        client_id = form.get("client_id")
        if not client_id:
            raise _missing("client_id")
        app = self._state.directory.find_app(client_id)
        if app is None:
            raise OAuthError(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the "
                f"directory '{tenant.domains[0] if tenant.domains else tenant.tenant_id}'. "
                + _NOT_INSTALLED,
            )
        self._check_secret(app, form.get("client_secret"))
        audience = self._audience(tenant, form.get("scope"))
        roles = list(app.roles)
        if faults.take(Operation.TOKEN, {FaultKind.MISSING_ROLE}):
            roles = [role for role in roles if role != MAIL_SEND]
        lifetime = self._state.token_lifetime
        access_token = self._state.tokens.issue(
            tenant_id=tenant.tenant_id,
            app=app,
            audience=audience,
            roles=roles,
            lifetime=lifetime,
        )
        self._state.stats.tokens_issued += 1
        body: dict[str, Any] = {
            "token_type": "Bearer",
            "expires_in": lifetime,
            "ext_expires_in": lifetime,
            "access_token": access_token,
        }
        return web.json_response(
            body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"}
        )

    async def _form(self, request: web.Request) -> dict[str, str]:
        """Return the form fields, percent-decoded exactly once."""
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
        return form

    def _check_secret(self, app: App, secret: str | None) -> None:
        """Compare the secret byte for byte; honour the secret faults."""
        faults = self._state.faults
        if not secret:
            raise OAuthError(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: "
                "'client_assertion' or 'client_secret'.",
            )
        wrong = OAuthError(
            401,
            "invalid_client",
            7000215,
            "Invalid client secret provided. Ensure the secret being sent in the "
            "request is the client secret value, not the client secret ID, for a "
            f"secret added to app '{app.client_id}'.",
        )
        expired = OAuthError(
            401,
            "invalid_client",
            7000222,
            f"The provided client secret keys for app '{app.client_id}' are expired. "
            "Visit the Azure portal to create new keys for your app: "
            "https://aka.ms/NewClientSecret, or consider using certificate "
            "credentials for added security: https://aka.ms/certCreds.",
        )
        if faults.take(Operation.TOKEN, {FaultKind.WRONG_SECRET}):
            raise wrong
        if faults.take(Operation.TOKEN, {FaultKind.EXPIRED_SECRET}):
            raise expired
        given = secret.encode("utf-8")
        match = next(
            (s for s in app.secrets if hmac.compare_digest(given, s.value.encode())),
            None,
        )
        if match is None:
            raise wrong
        if match.expired(utc_now()):
            raise expired

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
