"""App-only access tokens from Entra ID (client-credentials flow, MSAL).

MSAL is synchronous: building the app fetches the tenant's OpenID
configuration and acquiring a token posts to the token endpoint. Both run in
an executor. MSAL's HTTP goes through :class:`_SyncHttpBridge`, which hands
each request to the caller's aiohttp session on the event loop, so one session
(with its TLS settings) serves sign-in and Graph alike.

The current token is kept in memory and renewed ahead of its expiry, so the
send path takes the cached token without touching the executor or the lock.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Awaitable, Callable, Mapping
import concurrent.futures
from dataclasses import dataclass, field, replace
import json
import logging
import ssl
import threading
import time
from typing import Any, Protocol
from urllib.parse import urlencode, urlsplit

import aiohttp
import msal

from .clouds import CloudEndpoints
from .exceptions import (
    AuthenticationError,
    InvalidTenantError,
    O365ConnectionError,
    O365Error,
    TokenEndpointError,
    authentication_error_from_result,
)

_LOGGER = logging.getLogger(__name__)

#: Renew a token this long before Entra says it expires.
REFRESH_MARGIN = 300.0
#: Time allowed for one request to the login endpoints.
LOGIN_TIMEOUT = 20.0
#: When renewing failed but the token still works, try again after this long.
RETRY_RENEWAL_AFTER = 30.0

type RunBlocking = Callable[[Callable[[], Any]], Awaitable[Any]]


class AccessTokenProvider(Protocol):
    """What the Graph client needs from a token source."""

    async def async_get_access_token(self, *, rejected: str | None = None) -> str:
        """Return a valid bearer token; ``rejected`` is one Graph just refused."""


@dataclass(frozen=True, slots=True)
class AccessToken:
    """A bearer token and what its claims say about the app."""

    value: str = field(repr=False)
    expires_at: float
    refresh_at: float
    tenant_id: str | None
    roles: frozenset[str]


def decode_jwt_claims(token: str) -> dict[str, Any]:
    """Return the payload of a JWT without checking its signature.

    Graph checks the signature; we only read ``roles`` and ``tid`` from a token
    Entra just gave us over TLS. An opaque token yields ``{}``.
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


class _SyncHttpBridge:
    """MSAL's synchronous HTTP client, carried out by aiohttp on the event loop.

    MSAL calls it from an executor thread; each call schedules the request on
    the loop and waits for it. Calling it on the loop itself would deadlock, so
    that raises instead.
    """

    def __init__(
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
        self.last_response: _Response | None = None

    def get(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        **_: Any,
    ) -> _Response:
        return self._call("GET", url, params, None, headers)

    def post(
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
                self.last_response = _Response(resp.status, text, resp.headers)
                return self.last_response
        except (aiohttp.ClientError, TimeoutError) as err:
            raise O365ConnectionError(
                f"Cannot reach {urlsplit(url).hostname}: {type(err).__name__}"
            ) from err


class TokenProvider:
    """Hands out app-only Graph tokens for one app registration and tenant."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        tenant: str,
        client_id: str,
        client_secret: str,
        endpoints: CloudEndpoints,
        run_blocking: RunBlocking | None = None,
        ssl_context: ssl.SSLContext | bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Prepare the provider; nothing is fetched until a token is needed."""
        self._session = session
        self._tenant = tenant
        self._client_id = client_id
        self._secret = client_secret
        self._endpoints = endpoints
        self._run_blocking = run_blocking
        self._ssl = ssl_context
        self._clock = clock
        self._lock = asyncio.Lock()
        self._app: Any = None
        self._bridge: _SyncHttpBridge | None = None
        self._token: AccessToken | None = None
        #: Tokens actually fetched from Entra (not served from a cache).
        self.tokens_fetched = 0
        #: The executor thread that last ran MSAL (for checks and diagnostics).
        self.last_thread: str | None = None

    def __repr__(self) -> str:
        """Show which app this is, never its secret."""
        return f"TokenProvider(tenant={self._tenant!r}, client_id={self._client_id!r})"

    @property
    def token(self) -> AccessToken | None:
        """Return the token in memory, if any."""
        return self._token

    async def async_get_access_token(self, *, rejected: str | None = None) -> str:
        """Return a bearer token for Graph."""
        return (await self.async_get_token(rejected=rejected)).value

    async def async_get_token(self, *, rejected: str | None = None) -> AccessToken:
        """Return a valid token, fetching a new one when needed.

        ``rejected`` is a token Graph answered 401 to: if it is still the
        current one it is replaced once, however many requests saw the 401 at
        the same time.
        """
        if (token := self._usable(rejected)) is not None:
            return token
        async with self._lock:
            if (token := self._usable(rejected)) is not None:
                return token
            loop = asyncio.get_running_loop()
            try:
                self._token = await self._execute(lambda: self._acquire_blocking(loop))
            except O365Error as err:
                # Renewing early failed for a passing reason: the current
                # token is still good for a few minutes; try again soon.
                old = self._token
                now = self._clock()
                if (
                    not err.transient
                    or old is None
                    or old.value == rejected
                    or now >= old.expires_at - RETRY_RENEWAL_AFTER
                ):
                    raise
                self._token = replace(old, refresh_at=now + RETRY_RENEWAL_AFTER)
            return self._token

    def _usable(self, rejected: str | None) -> AccessToken | None:
        token = self._token
        if token is None or token.value == rejected:
            return None
        if self._clock() >= token.refresh_at:
            return None
        return token

    async def _execute(self, func: Callable[[], AccessToken]) -> AccessToken:
        if self._run_blocking is not None:
            result: AccessToken = await self._run_blocking(func)
            return result
        return await asyncio.get_running_loop().run_in_executor(None, func)

    def _acquire_blocking(self, loop: asyncio.AbstractEventLoop) -> AccessToken:
        """Build the MSAL app if needed and acquire a token (executor only)."""
        self.last_thread = threading.current_thread().name
        if self._app is None:
            self._app = self._build_app(loop)
        app = self._app
        # This provider is the token cache; MSAL's copy would only outlive a
        # token we dropped (after a 401) or decided to renew, so clear it.
        cache = app.token_cache
        for item in list(cache.search(msal.TokenCache.CredentialType.ACCESS_TOKEN)):
            cache.remove_at(item)
        try:
            result = app.acquire_token_for_client(scopes=[self._endpoints.scope])
        except O365ConnectionError:
            raise
        except Exception as err:
            error = TokenEndpointError(
                f"The Microsoft token endpoint failed: {type(err).__name__}"
            )
            last = self._bridge.last_response if self._bridge else None
            if last is not None and last.retry_after is not None:
                error.retry_after = last.retry_after
            raise error from err
        if not isinstance(result, dict):
            raise TokenEndpointError("The Microsoft token endpoint gave no answer")
        if "access_token" not in result:
            raise authentication_error_from_result(result)
        return self._make_token(result)

    def _build_app(self, loop: asyncio.AbstractEventLoop) -> Any:
        self._bridge = _SyncHttpBridge(self._session, loop, self._ssl, LOGIN_TIMEOUT)
        try:
            return msal.ConfidentialClientApplication(
                self._client_id,
                client_credential=self._secret,
                authority=self._endpoints.authority(self._tenant),
                http_client=self._bridge,
                # Instance discovery only finds authority aliases, which serve
                # refresh tokens (never used by client credentials), and MSAL
                # calls it after every token error, so an unreachable
                # discovery endpoint would hide the real AADSTS error. All four
                # clouds' login hosts are in MSAL's well-known list, so the
                # authority is validated the same way without it.
                instance_discovery=False,
                token_cache=msal.TokenCache(),
            )
        except (O365ConnectionError, AuthenticationError):
            raise
        except ValueError as err:
            # MSAL raises ValueError when the tenant's OpenID configuration
            # cannot be read. A 400 or 404 means no such tenant in this cloud;
            # anything else (429, 5xx, a proxy's page) is worth a retry.
            last = self._bridge.last_response
            if last is not None and last.status_code not in (400, 404):
                raise TokenEndpointError(
                    "Could not read the tenant's sign-in configuration "
                    f"(HTTP {last.status_code})"
                ) from err
            raise InvalidTenantError(
                f"Tenant {self._tenant!r} was not found", error="invalid_tenant"
            ) from err
        except Exception as err:
            raise TokenEndpointError(
                f"Could not read the tenant's sign-in configuration: {type(err).__name__}"
            ) from err

    def _make_token(self, result: Mapping[str, Any]) -> AccessToken:
        value = str(result["access_token"])
        now = self._clock()
        lifetime = float(result.get("expires_in") or 3600)
        self.tokens_fetched += 1
        claims = decode_jwt_claims(value)
        roles = claims.get("roles")
        tid = claims.get("tid")
        return AccessToken(
            value=value,
            expires_at=now + lifetime,
            refresh_at=now + max(lifetime - REFRESH_MARGIN, lifetime / 2),
            tenant_id=str(tid) if tid else None,
            roles=frozenset(r for r in roles if isinstance(r, str))
            if isinstance(roles, list)
            else frozenset(),
        )
