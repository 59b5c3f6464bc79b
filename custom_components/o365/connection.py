"""How the integration reaches Microsoft: endpoints, credentials, Graph clients.

Both kinds of account end here in one :class:`Connection`: a token provider
(app-only, or a signed-in account's), a :class:`GraphClient` and the mailbox
path (``/users/{mailbox}`` or ``/me``). Nothing after this module branches on
the kind.

With ``O365_EMULATOR_URL`` (and ``O365_EMULATOR_CA``) set, sign-in and Graph
go to the project's local emulator instead; otherwise only Microsoft's hosts
for the chosen cloud are ever contacted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
import os
from pathlib import Path
import ssl
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .const import (
    AUTH_SIGN_IN,
    CONF_AUTH_TYPE,
    CONF_CERTIFICATE,
    CONF_CLIENT_ID,
    CONF_CLIENT_SECRET,
    CONF_CLOUD,
    CONF_LARGE_ATTACHMENTS,
    CONF_SOURCE,
    CONF_TENANT_ID,
    CONF_TOKEN_CACHE,
    DOMAIN,
    ENV_EMULATOR_CA,
    ENV_EMULATOR_URL,
    LARGE_ATTACHMENTS_PERMISSION,
    LOGGER,
    SIGN_IN_PERMISSIONS,
)
from .graph import (
    CLOUDS,
    AppTokenProvider,
    ClientCredential,
    Cloud,
    CloudEndpoints,
    CredentialRefusedError,
    GraphClient,
    Mailbox,
    MsalTokenProvider,
    RequestLimiter,
    SignedInTokenProvider,
    emulator_endpoints,
)
from .graph.certificates import CertificateInfo, looks_like_pem, parse_certificate

#: How the Graph client waits between retries (tests make it instant).
RETRY_SLEEP = asyncio.sleep

#: Request limiters by (login host, tenant, client ID): Outlook counts
#: concurrent requests per app registration.
DATA_LIMITERS: HassKey[dict[tuple[str, str, str], RequestLimiter]] = HassKey(
    f"{DOMAIN}_limiters"
)
DATA_EMULATOR: HassKey[tuple[CloudEndpoints, ssl.SSLContext]] = HassKey(
    f"{DOMAIN}_emulator"
)


class CertificateFileError(CredentialRefusedError):
    """The certificate file is outside the allowlist or cannot be read."""

    def __init__(self, message: str, *, path: str, allowed: bool) -> None:
        """Name the path as the user wrote it."""
        super().__init__(message)
        self.path = path
        self.allowed = allowed


@dataclass(frozen=True, slots=True)
class Connection:
    """What sends for one account: tokens, a Graph client, the mailbox path."""

    tokens: MsalTokenProvider
    client: GraphClient
    endpoints: CloudEndpoints
    mailbox: Mailbox
    #: The certificate credential, when the account signs in with one.
    certificate: CertificateInfo | None = None


def is_signed_in(data: Mapping[str, Any]) -> bool:
    """Return True for a signed-in (delegated) account's entry data."""
    return data.get(CONF_AUTH_TYPE) == AUTH_SIGN_IN


def sign_in_permissions(large_attachments: bool) -> tuple[str, ...]:
    """Return the delegated permissions a signed-in account asks for."""
    extra = (LARGE_ATTACHMENTS_PERMISSION,) if large_attachments else ()
    return (*SIGN_IN_PERMISSIONS, *extra)


def sending_permissions(data: Mapping[str, Any]) -> tuple[str, ...]:
    """Return the delegated permissions the tokens for sending need."""
    return tuple(
        p
        for p in sign_in_permissions(bool(data.get(CONF_LARGE_ATTACHMENTS)))
        if p != "User.Read"
    )


def _emulator_ssl_context(ca_file: str | None) -> ssl.SSLContext:
    """Return an SSL context trusting the emulator's CA (blocking: reads files)."""
    context = ssl.create_default_context()
    if ca_file:
        context.load_verify_locations(cafile=ca_file)
    return context


async def async_endpoints(
    hass: HomeAssistant, cloud: str
) -> tuple[CloudEndpoints, ssl.SSLContext | bool]:
    """Return the endpoints of a cloud (or of the emulator) and the TLS settings."""
    if not (emulator_url := os.environ.get(ENV_EMULATOR_URL)):
        return CLOUDS[Cloud(cloud)], True
    if (known := hass.data.get(DATA_EMULATOR)) is None or known[0].login_url != (
        emulator_url.rstrip("/")
    ):
        LOGGER.warning("Using the local Graph emulator at %s", emulator_url)
        context = await hass.async_add_executor_job(
            _emulator_ssl_context, os.environ.get(ENV_EMULATOR_CA)
        )
        known = hass.data[DATA_EMULATOR] = (emulator_endpoints(emulator_url), context)
    return known


def _read_certificate(hass: HomeAssistant, value: str) -> str:
    """Return pasted PEM text, or read it from a file the allowlist permits."""
    if looks_like_pem(value):
        return value
    try:
        path = Path(value.strip())
        if not path.is_absolute():
            path = Path(hass.config.path(str(path)))
        allowed = hass.config.is_allowed_path(str(path))
    except (OSError, ValueError):
        # Not a path at all (a NUL byte, too long for the file system).
        allowed = True
        path = None
    if not allowed:
        raise CertificateFileError(
            "The certificate file is outside allowlist_external_dirs",
            path=value,
            allowed=False,
        )
    try:
        if path is None:
            raise FileNotFoundError(value)
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError, ValueError) as err:
        raise CertificateFileError(
            f"The certificate file cannot be read: {type(err).__name__}",
            path=value,
            allowed=True,
        ) from None


async def async_load_certificate(hass: HomeAssistant, value: str) -> CertificateInfo:
    """Read and check a certificate credential, off the event loop.

    Loading an RSA key is real CPU work, so the parse runs in the executor too.
    """
    now = dt_util.utcnow()
    return await hass.async_add_executor_job(
        lambda: parse_certificate(_read_certificate(hass, value), now=now)
    )


def limiter_for(
    hass: HomeAssistant, endpoints: CloudEndpoints, tenant: str, client_id: str
) -> RequestLimiter:
    """Return the request limiter shared by every account of this app."""
    limiters = hass.data.setdefault(DATA_LIMITERS, {})
    key = (endpoints.login_url, tenant.casefold(), client_id.casefold())
    if (limiter := limiters.get(key)) is None:
        limiter = limiters[key] = RequestLimiter()
    return limiter


async def async_connect(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    *,
    tenant_key: str | None = None,
    on_cache_changed: Callable[[str], None] | None = None,
) -> Connection:
    """Build the token provider and Graph client for config entry data.

    ``tenant_key`` is the tenant GUID when it is known (the entry's unique
    ID), so that a domain and its GUID share the app's limiter.
    ``on_cache_changed`` receives a signed-in account's rotated token cache.
    """
    session = async_get_clientsession(hass)
    endpoints, ssl_context = await async_endpoints(
        hass, data.get(CONF_CLOUD, Cloud.GLOBAL)
    )
    tenant = str(data[CONF_TENANT_ID])
    client_id = str(data[CONF_CLIENT_ID])
    common: dict[str, Any] = {
        "tenant": tenant,
        "client_id": client_id,
        "endpoints": endpoints,
        "run_blocking": hass.async_add_executor_job,
        "ssl_context": ssl_context,
    }
    certificate: CertificateInfo | None = None
    tokens: MsalTokenProvider
    if is_signed_in(data):
        tokens = SignedInTokenProvider(
            session,
            scopes=sending_permissions(data),
            cache=str(data[CONF_TOKEN_CACHE]),
            username=data.get(CONF_SOURCE),
            on_cache_changed=on_cache_changed,
            **common,
        )
        mailbox = Mailbox.signed_in()
    else:
        credential: ClientCredential
        if data.get(CONF_CERTIFICATE):
            certificate = await async_load_certificate(hass, data[CONF_CERTIFICATE])
            credential = certificate.credential
        else:
            credential = str(data[CONF_CLIENT_SECRET])
        tokens = AppTokenProvider(session, credential=credential, **common)
        mailbox = Mailbox(str(data[CONF_SOURCE]))
    client = GraphClient(
        session,
        tokens,
        graph_url=endpoints.graph_url,
        ssl_context=ssl_context,
        limiter=limiter_for(hass, endpoints, tenant_key or tenant, client_id),
        run_blocking=hass.async_add_executor_job,
        sleep=RETRY_SLEEP,
    )
    return Connection(tokens, client, endpoints, mailbox, certificate)
