"""Import an Apprise Office 365 URL into this integration's settings.

``o365://{source}/{tenant}/{client_id}/{secret}[/{targets}...]`` (or the same
with ``azure://``). Every part is percent-decoded exactly once, so a secret
written as ``a%2Fb%3F`` becomes ``a/b?``; ``+`` stays a plus.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote

SCHEMES = ("o365", "azure")


@dataclass(frozen=True, slots=True)
class AppriseSettings:
    """What an Apprise URL says: the credentials and default recipients."""

    source: str
    tenant_id: str
    client_id: str
    client_secret: str
    targets: tuple[str, ...]


def parse_apprise_url(url: str) -> AppriseSettings:
    """Parse an Apprise Office 365 URL; raise ValueError if it is not one."""
    scheme, sep, rest = url.strip().partition("://")
    if not sep or scheme.lower() not in SCHEMES:
        raise ValueError("Not an o365:// or azure:// URL")
    path, _, query = rest.partition("?")
    parts = [unquote(part) for part in path.split("/") if part]
    if len(parts) < 4:
        raise ValueError("Expected o365://source/tenant/client_id/secret")
    source, tenant_id, client_id, client_secret, *targets = parts
    for item in query.split("&"):
        key, _, value = item.partition("=")
        if key.lower() == "to":
            targets.append(unquote(value))
    recipients = tuple(
        address.strip()
        for target in targets
        for address in target.split(",")
        if address.strip()
    )
    return AppriseSettings(source, tenant_id, client_id, client_secret, recipients)
