"""Import an Apprise Office 365 URL into this integration's settings.

Apprise (``apprise/plugins/office365.py``) knows two modes:

- org (app-only): ``o365://{source}/{tenant}/{client_id}/{secret}[/{targets}]``;
- personal (1.10+, delegated): ``o365://{source}/{client_id}/{refresh_token}
  [/{targets}]``, chosen by ``?mode=personal`` or, without ``mode``, by a
  consumer domain in the source (outlook.com, hotmail.com, live.com, msn.com
  and their regional variants).

``azure://`` is the same. The query may also carry ``from`` (source),
``tenant``, ``oauth_id`` (client ID), ``oauth_secret`` (secret or refresh
token) and ``to`` (more targets). Path parts at the end that are addresses
are targets; what is left after the client ID is the secret, slashes and
all. Every part is percent-decoded exactly once, so a secret written as
``a%2Fb%3F`` becomes ``a/b?``; ``+`` stays a plus.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal
from urllib.parse import unquote

from .graph.message import EmailAddress

SCHEMES = ("o365", "azure")
MODES = ("org", "personal")
#: Consumer mail domains (the families Apprise lists: each base domain and
#: its country variants such as outlook.de, hotmail.co.uk, live.com.au).
_CONSUMER_FAMILIES = ("outlook", "hotmail", "live", "msn")


@dataclass(frozen=True, slots=True)
class AppriseSettings:
    """What an Apprise URL says: the mode, the credentials, default recipients."""

    mode: Literal["org", "personal"]
    source: str
    #: The tenant (org mode only).
    tenant_id: str | None
    client_id: str
    #: The client secret (org) or the refresh token (personal).
    secret: str
    targets: tuple[str, ...]


def is_consumer_address(address: str) -> bool:
    """Return True for an Outlook.com / Hotmail / Live / MSN address."""
    domain = address.rpartition("@")[2].casefold()
    family, _, country = domain.partition(".")
    return family in _CONSUMER_FAMILIES and bool(country)


def _is_target(text: str) -> bool:
    """Return True for a path part that lists addresses (``a@b``, ``Name <a@b>``)."""
    try:
        for address in text.split(","):
            EmailAddress.parse(address)
    except ValueError:
        return False
    return True


def parse_apprise_url(url: str) -> AppriseSettings:
    """Parse an Apprise Office 365 URL; raise ValueError if it is not one."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ValueError("Not an o365:// or azure:// URL")
    path, _, query_text = rest.partition("?")
    # As Apprise's parse_qsd (plus_to_space=False): "+" is not a space.
    query = {
        unquote(key).lower(): unquote(value)
        for key, _, value in (pair.partition("=") for pair in query_text.split("&"))
        if key
    }
    parts = [unquote(part) for part in path.split("/") if part]
    source = query.get("from") or (parts.pop(0) if parts else "")
    mode = query.get("mode", "").lower()
    if mode and mode not in MODES:
        raise ValueError(f"Unknown Apprise mode {mode!r}")
    if not mode:
        mode = "personal" if is_consumer_address(source) else "org"
    tenant: str | None = None
    if mode == "org":
        tenant = query.get("tenant") or (parts.pop(0) if parts else None)
    client_id = query.get("oauth_id") or (parts.pop(0) if parts else "")
    targets: list[str] = []
    while parts and _is_target(parts[-1]):
        targets[:0] = [a.strip() for a in parts.pop().split(",") if a.strip()]
    secret = query.get("oauth_secret") or "/".join(parts)
    targets += [a.strip() for a in query.get("to", "").split(",") if a.strip()]
    if not source or not client_id or not secret or (mode == "org" and not tenant):
        raise ValueError(
            "Expected o365://source/tenant/client_id/secret, or "
            "o365://source/client_id/refresh_token for a personal account"
        )
    return AppriseSettings(
        "personal" if mode == "personal" else "org",
        source,
        tenant,
        client_id,
        secret,
        tuple(targets),
    )
