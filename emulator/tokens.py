"""Access and ID tokens: JWTs signed with HS256 and a per-process random key.

Access tokens mirror Entra v1 tokens for Graph: app-only ones carry ``roles``
and ``idtyp: app``; delegated ones carry ``scp`` (space-separated scopes, no
``roles``), ``idtyp: user``, the user's ``oid``, ``upn`` and ``name``
(``docs/identity-platform/access-token-claims-reference.md``). ID tokens are v2
(``aud`` = client id, ``iss`` = ``{login}/{tid}/v2.0``,
``docs/identity-platform/id-token-claims-reference.md``). Tokens stop verifying
when the emulator restarts, like tokens signed with a key that was rolled over.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterable
import hashlib
import hmac
import json
import secrets
import time
from typing import Any

from .directory import App, Mailbox

_HEADER = {"alg": "HS256", "typ": "JWT", "kid": "o365-emulator"}
#: Microsoft Graph's public resource URI. Scopes may name Graph by it
#: (``https://graph.microsoft.com/Mail.Send``, ``scopes-oidc.md``); the tokens
#: then carry it as ``aud``, which Graph accepts. The emulator takes it as
#: another name of its own Graph.
GRAPH_RESOURCE_ALIASES = ("https://graph.microsoft.com",)


class TokenError(Exception):
    """The bearer token is malformed, forged, expired or meant for someone else."""


def normalise_audience(resource: str) -> str:
    """Return the form audiences are compared in (lower case, no trailing slash)."""
    return resource.rstrip("/").casefold()


def bearer_token(authorization: str) -> str:
    """Return the token of an ``Authorization: Bearer <token>`` header value."""
    scheme, _, token = authorization.partition(" ")
    if not scheme:
        raise TokenError("Access token is empty.")
    if scheme.casefold() != "bearer" or not token.strip():
        raise TokenError("The Authorization header must read 'Bearer <token>'.")
    return token.strip()


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def pairwise_subject(user: Mailbox, app: App) -> str:
    """Return the ``sub`` claim: unique per user and app, as Entra's is."""
    digest = hashlib.sha256(f"{user.token_oid}|{app.client_id}".encode()).digest()
    return _b64encode(digest)[:43]


class TokenIssuer:
    """Issues and verifies the emulator's access tokens."""

    def __init__(self) -> None:
        """Create a fresh signing key."""
        self._key = secrets.token_bytes(32)

    def issue(
        self,
        *,
        tenant_id: str,
        app: App,
        audience: str,
        roles: Iterable[str],
        lifetime: int,
    ) -> str:
        """Return an app-only token; a ``lifetime`` of 0 gives an expired one."""
        now = int(time.time())
        issuer = f"https://sts.windows.net/{tenant_id}/"
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "1",
            "idp": issuer,
            "idtyp": "app",
            "oid": app.object_id,
            "sub": app.object_id,
            "tid": tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        granted = list(roles)
        if granted:  # Entra leaves the claim out when nothing is granted.
            claims["roles"] = granted
        return self.sign(claims)

    def issue_delegated(
        self,
        *,
        tenant_id: str,
        app: App,
        user: Mailbox,
        audience: str,
        scopes: Iterable[str],
        lifetime: int,
        client_authenticated: bool,
    ) -> str:
        """Return a delegated (user) token with ``scp`` and no ``roles``."""
        now = int(time.time())
        issuer = f"https://sts.windows.net/{tenant_id}/"
        claims: dict[str, Any] = {
            "aud": audience,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + lifetime,
            "acct": 1 if user.personal else 0,
            "acr": "1",
            "amr": ["pwd"],
            "app_displayname": app.display_name,
            "appid": app.client_id,
            "appidacr": "1" if client_authenticated else "0",
            "idtyp": "user",
            "name": user.display_name,
            "oid": user.token_oid,
            "preferred_username": user.user_principal_name,
            "scp": " ".join(scopes),
            "sub": pairwise_subject(user, app),
            "tid": tenant_id,
            "unique_name": (
                f"live.com#{user.user_principal_name}"
                if user.personal
                else user.user_principal_name
            ),
            "uti": secrets.token_urlsafe(16),
            "ver": "1.0",
        }
        if user.personal:
            claims["idp"] = "live.com"
            claims["email"] = user.user_principal_name
        else:
            claims["upn"] = user.user_principal_name
        return self.sign(claims)

    def id_token(
        self,
        *,
        issuer: str,
        tenant_id: str,
        app: App,
        user: Mailbox,
        lifetime: int,
        email: bool,
    ) -> str:
        """Return a v2 ID token (the claims MSAL reads to cache the account)."""
        now = int(time.time())
        claims: dict[str, Any] = {
            "aud": app.client_id,
            "iss": issuer,
            "iat": now,
            "nbf": now,
            "exp": now + max(lifetime, 3600),
            "name": user.display_name,
            "oid": user.token_oid,
            "preferred_username": user.user_principal_name,
            "sub": pairwise_subject(user, app),
            "tid": tenant_id,
            "uti": secrets.token_urlsafe(16),
            "ver": "2.0",
        }
        if email and (user.mail or user.personal):
            claims["email"] = user.mail or user.user_principal_name
        return self.sign(claims)

    def sign(self, claims: dict[str, Any]) -> str:
        """Return a JWT of ``claims`` signed with the process key."""
        signing_input = ".".join(
            _b64encode(json.dumps(part, separators=(",", ":")).encode())
            for part in (_HEADER, claims)
        )
        return f"{signing_input}.{_b64encode(self._sign(signing_input))}"

    def verify(
        self, token: str, *, audiences: Collection[str], tenant_ids: Collection[str]
    ) -> dict[str, Any]:
        """Return the claims of a valid token, or raise `TokenError`."""
        parts = token.split(".")
        if len(parts) != 3:
            raise TokenError("IDX14100: JWT is not well formed, there are no dots (.).")
        try:
            header = json.loads(_b64decode(parts[0]))
            claims = json.loads(_b64decode(parts[1]))
            signature = _b64decode(parts[2])
        except ValueError as err:
            raise TokenError("IDX14102: Unable to decode the token.") from err
        if not isinstance(header, dict) or header.get("alg") != "HS256":
            raise TokenError("Invalid signature algorithm.")
        if not hmac.compare_digest(signature, self._sign(f"{parts[0]}.{parts[1]}")):
            raise TokenError("Access token validation failure. Invalid signature.")
        if not isinstance(claims, dict):
            raise TokenError("Access token validation failure.")
        if normalise_audience(str(claims.get("aud", ""))) not in audiences:
            raise TokenError("Access token validation failure. Invalid audience.")
        if str(claims.get("tid", "")).casefold() not in tenant_ids:
            raise TokenError("Access token validation failure. Invalid tenant.")
        if time.time() >= float(claims.get("exp", 0)):
            raise TokenError("Lifetime validation failed, the token is expired.")
        return claims

    def _sign(self, signing_input: str) -> bytes:
        return hmac.new(
            self._key, signing_input.encode("ascii"), hashlib.sha256
        ).digest()
