"""How an account reaches Microsoft: endpoints, credentials, one Graph client.

Both kinds of account end here in one :class:`Connection`: a token provider
(app-only, or a signed-in account's), a :class:`GraphClient` and the mailbox
it sends from (``/users/{mailbox}``, ``/me``, or a shared mailbox). Nothing
after this module branches on the kind.

With ``O365_EMULATOR_URL`` (and ``O365_EMULATOR_CA``) set, sign-in and Graph
go to the project's local development emulator instead: read here, once,
logged as a warning and shown as a repair issue. Otherwise only Microsoft's
hosts for the chosen cloud are ever contacted.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
import os
from pathlib import Path
import ssl
from typing import Any

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.aiohttp_client import async_get_clientsession
from homeassistant.util import dt as dt_util
from homeassistant.util.hass_dict import HassKey

from .clock import async_sleep, now
from .const import (
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
    SHARED_MAILBOX_PERMISSION,
    SIGN_IN_PERMISSIONS,
)
from .graph import (
    CLOUDS,
    AppTokenProvider,
    CertificateFileError,
    ClientCredential,
    Cloud,
    CloudEndpoints,
    GraphClient,
    GraphSettings,
    Mailbox,
    MsalTokenProvider,
    RequestLimiter,
    SignedInTokenProvider,
    custom_endpoints,
)
from .graph.certificates import CertificateInfo, looks_like_pem, parse_certificate
from .options import is_signed_in

#: Request limiters by (login host, tenant, client ID): Outlook counts
#: concurrent requests per app registration, across accounts.
DATA_LIMITERS: HassKey[dict[tuple[str, str, str], RequestLimiter]] = HassKey(
    f"{DOMAIN}_limiters"
)
#: The emulator's endpoints and TLS context, once read.
DATA_EMULATOR: HassKey[tuple[CloudEndpoints, ssl.SSLContext]] = HassKey(
    f"{DOMAIN}_emulator"
)
EMULATOR_ISSUE = "emulator_in_use"


@dataclass(frozen=True, slots=True)
class Connection:
    """What sends for one account: tokens, a Graph client, the mailbox."""

    tokens: MsalTokenProvider
    client: GraphClient
    #: Where the account sends from unless an alert names another mailbox.
    mailbox: Mailbox
    #: The certificate credential, when the account signs in with one.
    certificate: CertificateInfo | None = None

    def mailbox_for(self, sender: str | None) -> Mailbox:
        """Return the mailbox an alert goes out from (``from``, else the default)."""
        return Mailbox(sender) if sender else self.mailbox


def sign_in_permissions(
    large_attachments: bool, *, shared_mailbox: bool = False
) -> tuple[str, ...]:
    """Return the delegated permissions a signed-in account asks for."""
    extra = (LARGE_ATTACHMENTS_PERMISSION,) if large_attachments else ()
    shared = (SHARED_MAILBOX_PERMISSION,) if shared_mailbox else ()
    return (*SIGN_IN_PERMISSIONS, *extra, *shared)


def _sending_permissions(
    data: Mapping[str, Any], from_mailbox: str | None
) -> tuple[str, ...]:
    """Return the delegated permissions the tokens for sending need."""
    return tuple(
        permission
        for permission in sign_in_permissions(
            bool(data.get(CONF_LARGE_ATTACHMENTS)), shared_mailbox=bool(from_mailbox)
        )
        if permission != "User.Read"
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
    if (known := hass.data.get(DATA_EMULATOR)) is None:
        LOGGER.warning(
            "Signing in and sending through the local development emulator at %s "
            "(%s is set): no mail reaches Microsoft",
            emulator_url,
            ENV_EMULATOR_URL,
        )
        ir.async_create_issue(
            hass,
            DOMAIN,
            EMULATOR_ISSUE,
            is_fixable=False,
            severity=ir.IssueSeverity.WARNING,
            translation_key=EMULATOR_ISSUE,
            translation_placeholders={
                "url": emulator_url,
                "variable": ENV_EMULATOR_URL,
            },
        )
        context = await hass.async_add_executor_job(
            _emulator_ssl_context, os.environ.get(ENV_EMULATOR_CA)
        )
        known = hass.data[DATA_EMULATOR] = (custom_endpoints(emulator_url), context)
    return known


async def async_settings(
    hass: HomeAssistant, *, tenant: str, client_id: str, cloud: str
) -> GraphSettings:
    """Return the Graph settings of an app registration, on Home Assistant's clock."""
    endpoints, ssl_context = await async_endpoints(hass, cloud)
    return GraphSettings(
        session=async_get_clientsession(hass),
        endpoints=endpoints,
        tenant=tenant,
        client_id=client_id,
        ssl_context=ssl_context,
        run_blocking=hass.async_add_executor_job,
        sleep=partial(async_sleep, hass),
        clock=now,
    )


def _read_certificate(hass: HomeAssistant, value: str) -> str:
    """Return pasted PEM text, or read it from a file the allowlist permits."""
    if looks_like_pem(value):
        return value
    path: Path | None
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
    checked_at = dt_util.utcnow()
    return await hass.async_add_executor_job(
        lambda: parse_certificate(_read_certificate(hass, value), now=checked_at)
    )


def _limiter(
    hass: HomeAssistant, settings: GraphSettings, tenant: str
) -> RequestLimiter:
    """Return the request limiter shared by every account of this app."""
    limiters = hass.data.setdefault(DATA_LIMITERS, {})
    key = (
        settings.endpoints.login_url,
        tenant.casefold(),
        settings.client_id.casefold(),
    )
    if (limiter := limiters.get(key)) is None:
        limiter = limiters[key] = RequestLimiter()
    return limiter


async def async_connect(
    hass: HomeAssistant,
    data: Mapping[str, Any],
    *,
    tenant_key: str | None = None,
    from_mailbox: str | None = None,
    on_cache_changed: Callable[[str], None] | None = None,
) -> Connection:
    """Build the token provider and Graph client for config entry data.

    ``tenant_key`` is the tenant GUID when it is known (the entry's unique
    ID), so that a domain and its GUID share the app's limiter.
    ``from_mailbox`` is the shared mailbox a signed-in account sends from.
    ``on_cache_changed`` receives a signed-in account's rotated token cache.
    """
    settings = await async_settings(
        hass,
        tenant=str(data[CONF_TENANT_ID]),
        client_id=str(data[CONF_CLIENT_ID]),
        cloud=data.get(CONF_CLOUD, Cloud.GLOBAL),
    )
    certificate: CertificateInfo | None = None
    tokens: MsalTokenProvider
    if is_signed_in(data):
        tokens = SignedInTokenProvider(
            settings,
            scopes=_sending_permissions(data, from_mailbox),
            cache=str(data[CONF_TOKEN_CACHE]),
            username=data.get(CONF_SOURCE),
            on_cache_changed=on_cache_changed,
        )
        mailbox = Mailbox(from_mailbox) if from_mailbox else Mailbox.signed_in()
    else:
        credential: ClientCredential
        if data.get(CONF_CERTIFICATE):
            certificate = await async_load_certificate(hass, data[CONF_CERTIFICATE])
            credential = certificate.credential
        else:
            credential = str(data[CONF_CLIENT_SECRET])
        tokens = AppTokenProvider(settings, credential)
        mailbox = Mailbox(str(data[CONF_SOURCE]))
    client = GraphClient(
        settings,
        tokens,
        limiter=_limiter(hass, settings, tenant_key or settings.tenant),
    )
    return Connection(tokens, client, mailbox, certificate)
