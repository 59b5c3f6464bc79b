"""Tests of the national clouds and the emulator endpoints."""

from __future__ import annotations

import pytest

from custom_components.o365.graph import CLOUDS, Cloud, custom_endpoints


@pytest.mark.parametrize(
    ("cloud", "authority", "scope"),
    [
        (
            Cloud.GLOBAL,
            "https://login.microsoftonline.com/t",
            "https://graph.microsoft.com/.default",
        ),
        (
            Cloud.USGOV_HIGH,
            "https://login.microsoftonline.us/t",
            "https://graph.microsoft.us/.default",
        ),
        (
            Cloud.USGOV_DOD,
            "https://login.microsoftonline.us/t",
            "https://dod-graph.microsoft.us/.default",
        ),
        (
            Cloud.CHINA,
            "https://login.partner.microsoftonline.cn/t",
            "https://microsoftgraph.chinacloudapi.cn/.default",
        ),
    ],
)
def test_clouds(cloud: Cloud, authority: str, scope: str) -> None:
    assert CLOUDS[cloud].authority("t") == authority
    assert CLOUDS[cloud].scope == scope


def test_tenant_is_encoded_once_in_the_authority() -> None:
    assert CLOUDS[Cloud.GLOBAL].authority("a b/c") == (
        "https://login.microsoftonline.com/a%20b%2Fc"
    )


def test_custom_endpoints() -> None:
    endpoints = custom_endpoints("https://127.0.0.1:8443/")
    assert endpoints.authority("t") == "https://127.0.0.1:8443/t"
    assert endpoints.graph_url == "https://127.0.0.1:8443"
    assert endpoints.scope == "https://127.0.0.1:8443/.default"
    with pytest.raises(ValueError, match="https"):
        custom_endpoints("http://127.0.0.1:8443")
