"""Access tokens from Microsoft Entra ID, through MSAL.

Two kinds of account, one mechanism:

- :class:`AppTokenProvider` signs in as the app (client credentials) with a
  client secret or a certificate: application permissions, no user.
- :class:`SignedInTokenProvider` renews the delegated tokens of a person who
  signed in once (device code, see :mod:`.signin`), from MSAL's serialisable
  token cache; it reports every rotation of the refresh token so the caller
  can persist it.

MSAL is synchronous: building an app fetches the authority's OpenID
configuration and acquiring a token posts to the token endpoint. Both run in
an executor. MSAL's HTTP goes through :class:`SyncHttpBridge`, which hands
each request to the caller's aiohttp session on the event loop, so one session
(with its TLS settings) serves sign-in and Graph alike.

The current token is kept in memory and renewed ahead of its expiry, so the
send path takes the cached token without touching the executor or the lock.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
import asyncio
import base64
from collections.abc import Callable, Mapping, Sequence
import concurrent.futures
from dataclasses import dataclass, field, replace
import json
import logging
import ssl
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp
import msal

from .clouds import CloudEndpoints
from .exceptions import (
    AuthenticationError,
    InvalidCertificateError,
    InvalidTenantError,
    O365ConnectionError,
    O365Error,
    SignInExpiredError,
    TokenEndpointError,
    TokenGrant,
    authentication_error_from_result,
)
from .settings import GraphSettings

_LOGGER = logging.getLogger(__name__)

#: Renew a token this long before Entra says it expires.
REFRESH_MARGIN = 300.0
#: Time allowed for one request to the login endpoints.
LOGIN_TIMEOUT = 20.0
#: When renewing failed but the token still works, try again after this long.
RETRY_RENEWAL_AFTER = 30.0
#: A signed-in account uses its refresh token at least this often, so that
#: Microsoft's 90-day inactivity expiry never ends a quiet account.
KEEP_ALIVE_INTERVAL = 6 * 24 * 3600.0


class AccessTokenProvider(Protocol):
    """What the Graph client needs from a token source."""

    async def async_get_access_token(self, *, rejected: str | None = None) -> str:
        """Return a valid bearer token; ``rejected`` is one Graph just refused."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and what is known about what it grants."""

    value: str = field(repr=False)
    expires_at: float
    refresh_at: float
    tenant_id: str | None
    #: Application roles (app-only) or delegated scopes (signed in), by name;
    #: None when that cannot be known (an opaque or encrypted token).
    permissions: frozenset[str] | None


@dataclass(frozen=True, slots=True)
class ClientCertificate:
    """A certificate credential: its PEM private key and PEM certificate."""

    private_key: str = field(repr=False)
    certificate: str

    def msal_credential(self) -> dict[str, str]:
        """Return MSAL's certificate credential (it sends the SHA-256 thumbprint)."""
        return {"private_key": self.private_key, "public_certificate": self.certificate}


#: A client secret's value, or a certificate.
type ClientCredential = str | ClientCertificate


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """Return the payload of a JWT without checking its signature, or ``{}``.

    Microsoft says clients must not depend on reading access tokens (they may
    be encrypted or change format; "Access tokens", entra-docs
    docs/identity-platform/access-tokens.md): callers treat ``{}`` as "not
    known", never as "not granted".
    """
    parts = token.split(".")
    if len(parts) != 3:
        return {}
    payload = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, UnicodeDecodeError):
        return {}
    return claims if isinstance(claims, dict) else {}


def scope_names(scopes: str | Sequence[str]) -> frozenset[str]:
    """Return ``Mail.Send`` for ``https://graph.microsoft.com/Mail.Send`` and the like."""
    items = scopes.split() if isinstance(scopes, str) else scopes
    return frozenset(item.rsplit("/", 1)[-1] for item in items if item)


class _Response:
    """The response shape MSAL's HttpClient interface expects."""

    def __init__(self, status_code: int, text: str, headers: Mapping[str, str]):
        self.status_code = status_code
        self.text = text
        self.headers = dict(headers)

    @property
    def retry_after(self) -> float | None:
        value = next(
            (v for k, v in self.headers.items() if k.lower() == "retry-after"), ""
        )
        return float(value) if value.strip().isdigit() else None

    def raise_for_status(self) -> None:
        if self.status_code >= 400:
            raise TokenEndpointError(
                f"The Microsoft login endpoint answered HTTP {self.status_code}"
            )


@dataclass(frozen=True, slots=True)
class _Answer:
    """What is kept of the last token-endpoint answer: never its body (tokens)."""

    status_code: int
    retry_after: float | None


class SyncHttpBridge:
    """MSAL's synchronous HTTP client, carried out by aiohttp on the event loop.

    MSAL calls it from an executor thread; each call schedules the request on
    the loop and waits for it. Calling it on the loop itself would deadlock, so
    that raises instead.
    """

    def __init__(  # noqa: D107
        self,
        session: aiohttp.ClientSession,
        loop: asyncio.AbstractEventLoop,
        ssl_context: ssl.SSLContext | bool,
        timeout: float,
    ) -> None:
        self._session = session
        self._loop = loop
        self._ssl = ssl_context
        self._timeout = timeout
        #: The last answer MSAL received (MSAL drops its headers on errors).
        self.last_response: _Answer | None = None

    def get(  # noqa: D102 - MSAL's HttpClient interface
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> _Response:
        return self._call("GET", url, params, None, headers)

    def post(  # noqa: D102 - MSAL's HttpClient interface
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        data: Mapping[str, Any] | str | None = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> _Response:
        return self._call("POST", url, params, data, headers)

    def close(self) -> None:
        """Nothing to close: the session belongs to the caller."""

    def _call(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, Any] | str | None,
        headers: Mapping[str, str] | None,
    ) -> _Response:
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            raise RuntimeError("MSAL must run in an executor, not on the event loop")
        future = asyncio.run_coroutine_threadsafe(
            self._request(method, url, params, data, headers), self._loop
        )
        try:
            return future.result(self._timeout + 5)
        except concurrent.futures.TimeoutError as err:
            future.cancel()
            raise O365ConnectionError(
                f"Timed out talking to {urlsplit(url).hostname}"
            ) from err
        except concurrent.futures.CancelledError as err:
            raise O365ConnectionError("Sign-in was cancelled (shutting down)") from err

    async def _request(
        self,
        method: str,
        url: str,
        params: Mapping[str, str] | None,
        data: Mapping[str, Any] | str | None,
        headers: Mapping[str, str] | None,
    ) -> _Response:
        body: bytes | None = None
        send_headers = dict(headers or {})
        if data is not None:
            # Form-encode exactly once, as `requests` would: the secret reaches
            # the token endpoint byte for byte whatever characters it holds.
            form = data if isinstance(data, str) else urlencode(data, doseq=True)
            body = form.encode()
            send_headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        try:
            async with self._session.request(
                method,
                url,
                params=params,
                data=body,
                headers=send_headers,
                ssl=self._ssl,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as resp:
                text = await resp.text()
                response = _Response(resp.status, text, resp.headers)
                self.last_response = _Answer(resp.status, response.retry_after)
                return response
        except (aiohttp.ClientError, TimeoutError) as err:
            raise O365ConnectionError(
                f"Cannot reach {urlsplit(url).hostname}: {type(err).__name__}"
            ) from err


def call_msal(func: Callable[[], Any], bridge: SyncHttpBridge | None) -> Any:
    """Run an MSAL call (executor only); its unexpected failures become typed."""
    try:
        return func()
    except (O365ConnectionError, AuthenticationError):
        raise
    except Exception as err:
        error = TokenEndpointError(
            f"The Microsoft token endpoint failed: {type(err).__name__}"
        )
        last = bridge.last_response if bridge else None
        if last is not None and last.retry_after is not None:
            error.retry_after = last.retry_after
        raise error from err


def build_msal_app(
    create: Callable[[], Any], bridge: SyncHttpBridge, tenant: str
) -> Any:
    """Build an MSAL app (executor only: it reads the OpenID configuration)."""
    try:
        return create()
    except (O365ConnectionError, AuthenticationError):
        raise
    except ValueError as err:
        # MSAL raises ValueError when the tenant's OpenID configuration
        # cannot be read. A 400 or 404 means no such tenant in this cloud;
        # anything else (429, 5xx, a proxy's page) is worth a retry.
        last = bridge.last_response
        if last is None or last.status_code in (400, 404):
            raise InvalidTenantError(
                f"Tenant {tenant!r} was not found", error="invalid_tenant"
            ) from err
        raise TokenEndpointError(
            "Could not read the tenant's sign-in configuration "
            f"(HTTP {last.status_code})"
        ) from err
    except Exception as err:
        raise TokenEndpointError(
            f"Could not read the tenant's sign-in configuration: {type(err).__name__}"
        ) from err


class LazyMsalApp:
    """An MSAL application built on first use, with the bridge it talks through.

    Executor only: building the app reads the authority's OpenID configuration.
    """

    def __init__(
        self, settings: GraphSettings, create: Callable[[SyncHttpBridge], Any]
    ) -> None:
        """Build with ``create(bridge)`` when first called."""
        self._settings = settings
        self._create = create
        self.app: Any = None
        self.bridge: SyncHttpBridge | None = None

    def call(self, loop: asyncio.AbstractEventLoop, func: Callable[[Any], Any]) -> Any:
        """Return ``func(app)``, its unexpected failures typed (see call_msal)."""
        if self.app is None:
            settings = self._settings
            bridge = self.bridge = SyncHttpBridge(
                settings.session, loop, settings.ssl_context, LOGIN_TIMEOUT
            )
            self.app = build_msal_app(
                lambda: self._create(bridge), bridge, settings.tenant
            )
        app = self.app
        return call_msal(lambda: func(app), self.bridge)


def token_from_result(
    result: Mapping[str, Any],
    now: float,
    tenant_id: str | None,
    permissions: frozenset[str] | None,
) -> AccessToken:
    """Return the token of an MSAL result that holds an ``access_token``."""
    lifetime = float(result.get("expires_in") or 3600)
    return AccessToken(
        value=str(result["access_token"]),
        expires_at=now + lifetime,
        refresh_at=now + max(lifetime - REFRESH_MARGIN, lifetime / 2),
        tenant_id=tenant_id,
        permissions=permissions,
    )


class MsalTokenProvider(ABC):
    """Hands out Graph tokens for one app registration, renewing them ahead of time.

    Subclasses say how MSAL's app is built and how a token is acquired; this
    class keeps the current token in memory, serialises renewals behind one
    lock and runs MSAL off the event loop (``settings.run_blocking``).
    """

    #: How often the refresh token must be used, if it must (see KEEP_ALIVE_INTERVAL).
    keep_alive_interval: float | None = None
    #: What the token endpoint is asked for (how its refusals read).
    grant: TokenGrant

    def __init__(self, settings: GraphSettings) -> None:
        """Prepare the provider; nothing is fetched until a token is needed."""
        self.settings = settings
        self._lock = asyncio.Lock()
        self._msal = LazyMsalApp(settings, self._create_app)
        self._token: AccessToken | None = None
        #: Tokens actually fetched from Entra (not served from a cache).
        self.tokens_fetched = 0

    def __repr__(self) -> str:
        """Show which app this is, never a credential."""
        return (
            f"{type(self).__name__}(tenant={self.settings.tenant!r}, "
            f"client_id={self.settings.client_id!r})"
        )

    @property
    def token(self) -> AccessToken | None:
        """Return the token in memory, if any."""
        return self._token

    async def async_get_access_token(self, *, rejected: str | None = None) -> str:
        """Return a bearer token for Graph."""
        return (await self.async_get_token(rejected=rejected)).value

    async def async_get_token(
        self, *, rejected: str | None = None, renew: bool = False
    ) -> AccessToken:
        """Return a valid token, fetching a new one when needed.

        ``rejected`` is a token Graph answered 401 to: if it is still the
        current one it is replaced once, however many requests saw the 401 at
        the same time. ``renew`` fetches a new token whatever the current one
        (a signed-in account's keep-alive).
        """
        if not renew and (token := self._usable(rejected)) is not None:
            return token
        async with self._lock:
            if not renew and (token := self._usable(rejected)) is not None:
                return token
            loop = asyncio.get_running_loop()
            try:
                self._token = await self.settings.run_blocking(
                    lambda: self._acquire_blocking(loop)
                )
            except O365Error as err:
                # Renewing early failed for a passing reason: the current
                # token is still good for a few minutes; try again soon.
                old = self._token
                now = self.settings.clock()
                if (
                    renew
                    or not err.transient
                    or old is None
                    or old.value == rejected
                    or now >= old.expires_at - RETRY_RENEWAL_AFTER
                ):
                    raise
                self._token = replace(old, refresh_at=now + RETRY_RENEWAL_AFTER)
            else:
                self._acquired()
            assert self._token is not None
            return self._token

    def _usable(self, rejected: str | None) -> AccessToken | None:
        token = self._token
        if token is None or token.value == rejected:
            return None
        if self.settings.clock() >= token.refresh_at:
            return None
        return token

    def _acquire_blocking(self, loop: asyncio.AbstractEventLoop) -> AccessToken:
        """Build the MSAL app if needed and acquire a token (executor only)."""
        result = self._msal.call(loop, self._acquire)
        if not isinstance(result, dict):
            raise TokenEndpointError("The Microsoft token endpoint gave no answer")
        if "access_token" not in result:
            raise authentication_error_from_result(
                result, grant=self.grant, invalid_client=self._invalid_client
            )
        self.tokens_fetched += 1
        tenant_id, permissions = self._describe(result)
        return token_from_result(
            result, self.settings.clock(), tenant_id or self._app_tenant(), permissions
        )

    def _app_tenant(self) -> str | None:
        """Return the tenant GUID MSAL read from the authority's configuration."""
        authority = getattr(self._msal.app, "authority", None)
        tenant = getattr(authority, "tenant", None)
        return str(tenant) if tenant else None

    @property
    def _invalid_client(self) -> type[AuthenticationError] | None:
        """The error an ``invalid_client`` answer without a known code means."""
        return None

    def _acquired(self) -> None:  # noqa: B027 - a hook, empty by default
        """Run on the event loop after a token was acquired (a hook)."""

    @abstractmethod
    def _create_app(self, http_client: SyncHttpBridge) -> Any:
        """Build MSAL's application object (executor only)."""

    @abstractmethod
    def _acquire(self, app: Any) -> Any:
        """Ask MSAL for a new token; return its result dict (executor only)."""

    @abstractmethod
    def _describe(
        self, result: Mapping[str, Any]
    ) -> tuple[str | None, frozenset[str] | None]:
        """Return the tenant ID and permissions a successful result shows."""


class AppTokenProvider(MsalTokenProvider):
    """App-only tokens (client credentials) with a client secret or a certificate."""

    grant = TokenGrant.CLIENT_CREDENTIALS

    def __init__(self, settings: GraphSettings, credential: ClientCredential) -> None:
        """Sign in as the settings' app with a secret or a certificate."""
        super().__init__(settings)
        self._credential = credential

    @property
    def _invalid_client(self) -> type[AuthenticationError] | None:
        if isinstance(self._credential, ClientCertificate):
            return InvalidCertificateError
        return None

    def _create_app(self, http_client: SyncHttpBridge) -> Any:
        credential = self._credential
        return msal.ConfidentialClientApplication(
            self.settings.client_id,
            client_credential=credential.msal_credential()
            if isinstance(credential, ClientCertificate)
            else credential,
            authority=self.settings.authority,
            http_client=http_client,
            # Instance discovery only finds authority aliases, which serve
            # refresh tokens (never used by client credentials), and MSAL
            # calls it after every token error, so an unreachable discovery
            # endpoint would hide the real AADSTS error. All four clouds'
            # login hosts are in MSAL's well-known list, so the authority is
            # validated the same way without it.
            instance_discovery=False,
            token_cache=msal.TokenCache(),
        )

    def _acquire(self, app: Any) -> Any:
        # This provider is the token cache; MSAL's copy would only outlive a
        # token we dropped (after a 401) or decided to renew, so clear it.
        cache = app.token_cache
        for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(item)
        return app.acquire_token_for_client(scopes=[self.settings.endpoints.scope])

    def _describe(
        self, result: Mapping[str, Any]
    ) -> tuple[str | None, frozenset[str] | None]:
        # Nothing else says which roles were granted. When the token cannot
        # be read, the permissions stay unknown (None), never "none".
        claims = decode_jwt_claims(str(result["access_token"]))
        if not claims:
            return None, None
        roles = claims.get("roles")
        tid = claims.get("tid")
        return (
            str(tid) if tid else None,
            # Entra leaves `roles` out when nothing is granted.
            frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
        )


def public_client_app(
    settings: GraphSettings, http_client: SyncHttpBridge, cache: msal.TokenCache
) -> Any:
    """Return MSAL's app for a signed-in account (no secret: a public client)."""
    return msal.PublicClientApplication(
        settings.client_id,
        authority=settings.authority,
        http_client=http_client,
        # See AppTokenProvider: the well-known login hosts need no discovery.
        instance_discovery=False,
        token_cache=cache,
    )


def delegated_scopes(endpoints: CloudEndpoints, names: Sequence[str]) -> list[str]:
    """Return the cloud's scopes for permission names such as ``Mail.Send``."""
    return [endpoints.delegated_scope(name) for name in names]


def describe_delegated(
    result: Mapping[str, Any], account: Mapping[str, Any] | None = None
) -> tuple[str | None, frozenset[str] | None]:
    """Return the tenant and the granted scopes of a delegated token result.

    Both come from what the token endpoint answered (``scope``) and the ID
    token's claims, which are the client's to read; the access token itself
    is not read.
    """
    claims = result.get("id_token_claims") or {}
    tid = claims.get("tid") if isinstance(claims, Mapping) else None
    if not tid and account:
        # home_account_id is "<object id>.<tenant id>".
        tid = str(account.get("home_account_id") or "").partition(".")[2] or None
    scope = result.get("scope")
    # No scope in the answer: what was granted is unknown, not "nothing".
    permissions = scope_names(str(scope)) if scope else None
    return (str(tid) if tid else None, permissions)


class SignedInTokenProvider(MsalTokenProvider):
    """Delegated tokens of a signed-in account, renewed with its refresh token.

    ``cache`` is MSAL's serialised token cache from the sign-in. Every time
    MSAL rotates the refresh token, ``on_cache_changed`` receives the new
    serialised cache (on the event loop) to persist it. A refused refresh
    token raises :class:`SignInExpiredError`: the person must sign in again.
    """

    keep_alive_interval = KEEP_ALIVE_INTERVAL
    grant = TokenGrant.REFRESH

    def __init__(
        self,
        settings: GraphSettings,
        *,
        scopes: Sequence[str],
        cache: str,
        username: str | None = None,
        on_cache_changed: Callable[[str], None] | None = None,
    ) -> None:
        """Renew tokens for ``scopes`` (permission names) from ``cache``."""
        super().__init__(settings)
        self._scopes = delegated_scopes(settings.endpoints, scopes)
        self._serialized = cache
        self._username = username
        self._on_cache_changed = on_cache_changed
        self._cache = msal.SerializableTokenCache()
        self._changed: str | None = None

    def _create_app(self, http_client: SyncHttpBridge) -> Any:
        self._cache.deserialize(self._serialized)
        return public_client_app(self.settings, http_client, self._cache)

    def _account(self, app: Any) -> Mapping[str, Any]:
        accounts = app.get_accounts(username=self._username) or app.get_accounts()
        if not accounts:
            raise SignInExpiredError(
                "No signed-in account is left in the token cache",
                error="invalid_grant",
            )
        account: Mapping[str, Any] = accounts[0]
        return account

    def _acquire(self, app: Any) -> Any:
        account = self._account(app)
        # Always through the refresh token, never MSAL's cached access token:
        # a setup then proves the refresh token still works (and restarts
        # its 90-day clock), and a renewal is a renewal.
        result = app.acquire_token_silent_with_error(
            self._scopes, account, force_refresh=True
        )
        if result is None:
            raise SignInExpiredError(
                "The token cache holds no refresh token", error="invalid_grant"
            )
        if "access_token" in result:
            result = {**result, "_account": account}
        if self._cache.has_state_changed:
            self._cache.has_state_changed = False
            self._changed = self._cache.serialize()
        return result

    def _describe(
        self, result: Mapping[str, Any]
    ) -> tuple[str | None, frozenset[str] | None]:
        return describe_delegated(result, result.get("_account"))

    def _acquired(self) -> None:
        changed, self._changed = self._changed, None
        if changed is not None and self._on_cache_changed is not None:
            self._on_cache_changed(changed)
