"""Microsoft clouds: where to sign in and where Graph lives."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import quote, urlsplit


class Cloud(StrEnum):
    """The national clouds an Entra app can live in."""

    GLOBAL = "global"
    USGOV_HIGH = "usgov_high"
    USGOV_DOD = "usgov_dod"
    CHINA = "china"


@dataclass(frozen=True, slots=True)
class CloudEndpoints:
    """The login host and Graph root of one cloud (or of the local emulator)."""

    login_url: str
    graph_url: str

    def authority(self, tenant: str) -> str:
        """Return the MSAL authority for a tenant, percent-encoded once."""
        return f"{self.login_url}/{quote(tenant, safe='')}"

    @property
    def scope(self) -> str:
        """Return the app-only scope for Graph in this cloud."""
        return f"{self.graph_url}/.default"

    def delegated_scope(self, permission: str) -> str:
        """Return a delegated Graph permission as a scope, e.g. ``.../Mail.Send``."""
        return f"{self.graph_url}/{permission}"


CLOUDS: dict[Cloud, CloudEndpoints] = {
    Cloud.GLOBAL: CloudEndpoints(
        "https://login.microsoftonline.com", "https://graph.microsoft.com"
    ),
    Cloud.USGOV_HIGH: CloudEndpoints(
        "https://login.microsoftonline.us", "https://graph.microsoft.us"
    ),
    Cloud.USGOV_DOD: CloudEndpoints(
        "https://login.microsoftonline.us", "https://dod-graph.microsoft.us"
    ),
    Cloud.CHINA: CloudEndpoints(
        "https://login.partner.microsoftonline.cn",
        "https://microsoftgraph.chinacloudapi.cn",
    ),
}


def custom_endpoints(base_url: str) -> CloudEndpoints:
    """Return endpoints that send sign-in and Graph calls to one other host.

    For a local development emulator: login and Graph share its root.
    """
    parts = urlsplit(base_url)
    if parts.scheme != "https" or not parts.hostname:
        raise ValueError("The endpoint URL must be an https:// URL")
    root = base_url.rstrip("/")
    return CloudEndpoints(root, root)
