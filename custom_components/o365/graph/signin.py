"""A person signs in once: the device authorization grant, through MSAL.

The OAuth 2.0 device authorization grant (RFC 8628) needs no secret, no
redirect URI and no browser on the device: Entra gives a short code, the
person enters it at the verification URL on any phone or computer, signs in
and consents, and the device polls the token endpoint until that is done
("OAuth 2.0 device authorization grant", entra-docs
docs/identity-platform/v2-oauth2-device-code.md).

MSAL's own polling loop blocks a thread for up to fifteen minutes; here each
poll is one non-blocking MSAL call in the executor (``exit_condition`` always
true, as MSAL suggests for asynchronous callers) and the waits between polls
go through the settings' ``sleep``, for the ``interval`` Entra asks for (MSAL
adds five seconds to it on ``slow_down``), so cancelling the task stops the
sign-in.

A refresh token obtained elsewhere (Apprise's personal mode) is redeemed the
same way, into the same kind of token cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msal

from .auth import (
    AccessToken,
    LazyMsalApp,
    delegated_scopes,
    describe_delegated,
    public_client_app,
    token_from_result,
)
from .exceptions import (
    SignInCodeExpiredError,
    TokenGrant,
    authentication_error_from_result,
)
from .settings import GraphSettings

#: What to keep polling on (RFC 8628 section 3.5).
_PENDING = frozenset({"authorization_pending", "slow_down"})
#: Entra's default lifetime of a device code, when its answer does not say.
DEFAULT_CODE_LIFETIME = 900.0


@dataclass(frozen=True, slots=True)
class DeviceCode:
    """What the person needs to sign in: a code, where to enter it, until when."""

    user_code: str
    verification_uri: str
    expires_at: float
    #: The lifetime Entra gave the code, in seconds (15 minutes by default,
    #: not always: show what was received).
    expires_in: float
    message: str


@dataclass(frozen=True, slots=True)
class SignInResult:
    """A completed sign-in: MSAL's token cache and what it says about the account."""

    cache: str = field(repr=False)
    token: AccessToken
    #: The account's sign-in name (``preferred_username``), if Entra gave one.
    username: str | None


class _PublicClient:
    """MSAL's public client app with a fresh serialisable cache, built off the loop."""

    def __init__(self, settings: GraphSettings, scopes: Sequence[str]) -> None:
        self.settings = settings
        self.scopes = delegated_scopes(settings.endpoints, scopes)
        self.cache = msal.SerializableTokenCache()
        self._msal = LazyMsalApp(
            settings, lambda bridge: public_client_app(settings, bridge, self.cache)
        )

    async def run(self, func: Callable[[Any], Any]) -> Any:
        """Run ``func(app)`` off the event loop, building the app first if needed."""
        loop = asyncio.get_running_loop()
        return await self.settings.run_blocking(lambda: self._msal.call(loop, func))

    def result(
        self, result: Any, grant: TokenGrant = TokenGrant.SIGN_IN
    ) -> SignInResult:
        """Turn MSAL's answer into a :class:`SignInResult`, or raise its error."""
        if not isinstance(result, Mapping) or "access_token" not in result:
            raise authentication_error_from_result(
                result if isinstance(result, Mapping) else {}, grant=grant
            )
        tenant_id, permissions = describe_delegated(result)
        claims = result.get("id_token_claims") or {}
        username = (
            claims.get("preferred_username") if isinstance(claims, Mapping) else None
        )
        return SignInResult(
            cache=self.cache.serialize(),
            token=token_from_result(
                result, self.settings.clock(), tenant_id, permissions
            ),
            username=str(username) if username else None,
        )


class DeviceCodeSignIn:
    """One device-code sign-in of a person for a public client app."""

    def __init__(self, settings: GraphSettings, scopes: Sequence[str]) -> None:
        """Prepare a sign-in for ``scopes`` (permission names such as ``Mail.Send``)."""
        self._client = _PublicClient(settings, scopes)
        self._flow: dict[str, Any] | None = None
        self._expires_at = 0.0
        #: Polls of the token endpoint so far.
        self.polls = 0

    async def async_start(self) -> DeviceCode:
        """Ask Entra for a code; raise the typed error if the app cannot sign in."""
        scopes = self._client.scopes
        flow = await self._client.run(lambda app: app.initiate_device_flow(scopes))
        if not isinstance(flow, dict) or "user_code" not in flow:
            raise authentication_error_from_result(
                flow if isinstance(flow, dict) else {}, grant=TokenGrant.SIGN_IN
            )
        self._flow = flow
        lifetime = float(flow.get("expires_in") or DEFAULT_CODE_LIFETIME)
        self._expires_at = self._client.settings.clock() + lifetime
        return DeviceCode(
            user_code=str(flow["user_code"]),
            verification_uri=str(
                flow.get("verification_uri") or flow.get("verification_url") or ""
            ),
            expires_at=self._expires_at,
            expires_in=lifetime,
            message=str(flow.get("message") or ""),
        )

    async def async_wait(self) -> SignInResult:
        """Poll until the person signed in (or declined, or the code expired)."""
        flow = self._flow
        if flow is None:
            raise RuntimeError("async_start() first")
        settings = self._client.settings
        while True:
            self.polls += 1
            result = await self._client.run(
                lambda app: app.acquire_token_by_device_flow(
                    flow, exit_condition=lambda _: True
                )
            )
            error = result.get("error") if isinstance(result, dict) else None
            if error not in _PENDING:
                return self._client.result(result)
            if settings.clock() >= self._expires_at:
                raise SignInCodeExpiredError(
                    "The code expired before the sign-in was completed",
                    error="expired_token",
                )
            # MSAL raises the interval itself on slow_down.
            await settings.sleep(float(flow.get("interval") or 5))


async def async_redeem_refresh_token(
    settings: GraphSettings, scopes: Sequence[str], refresh_token: str
) -> SignInResult:
    """Turn a refresh token from elsewhere into a signed-in account's token cache."""
    client = _PublicClient(settings, scopes)
    result = await client.run(
        lambda app: app.acquire_token_by_refresh_token(refresh_token, client.scopes)
    )
    # A refused refresh token means what it means for a stored one.
    return client.result(result, TokenGrant.REFRESH)
