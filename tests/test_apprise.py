"""Tests of the Apprise URL parser."""

from __future__ import annotations

import pytest

from custom_components.o365.apprise import parse_apprise_url


def test_parts_decoded_once() -> None:
    settings = parse_apprise_url(
        "azure://alerts%40contoso.com/contoso.onmicrosoft.com/app-id/"
        "p%2Bq%2F%3F%25%2540/a@contoso.com,b@contoso.com/?to=c%2Bd@contoso.com"
    )
    assert settings.source == "alerts@contoso.com"
    assert settings.tenant_id == "contoso.onmicrosoft.com"
    assert settings.client_id == "app-id"
    assert settings.secret == "p+q/?%%40"
    assert settings.targets == ("a@contoso.com", "b@contoso.com", "c+d@contoso.com")
    assert settings.mode == "org"


CLIENT = "0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11"


@pytest.mark.parametrize(
    ("url", "mode", "tenant"),
    [
        # A consumer domain chooses personal mode (Apprise 1.10+), no tenant.
        (
            f"o365://casey@outlook.com/{CLIENT}/M.C5_BAY.0.U.-Cj%2Ftoken",
            "personal",
            None,
        ),
        (
            f"azure://jamie@hotmail.co.uk/{CLIENT}/M.C5_BAY.0.U.-Cj%2Ftoken",
            "personal",
            None,
        ),
        (
            f"o365://someone@live.com.au/{CLIENT}/M.C5_BAY.0.U.-Cj%2Ftoken",
            "personal",
            None,
        ),
        # mode= wins over the domain, both ways.
        (
            f"o365://alerts@contoso.com/{CLIENT}/M.C5_BAY.0.U.-Cj%2Ftoken?mode=personal",
            "personal",
            None,
        ),
        (
            f"o365://casey@outlook.com/contoso.com/{CLIENT}/M.C5_BAY.0.U.-Cj%2Ftoken?mode=org",
            "org",
            "contoso.com",
        ),
    ],
)
def test_modes(url: str, mode: str, tenant: str | None) -> None:
    settings = parse_apprise_url(url)
    assert settings.mode == mode
    assert settings.tenant_id == tenant
    assert settings.client_id == CLIENT
    assert settings.secret == "M.C5_BAY.0.U.-Cj/token"


def test_personal_url_with_targets_and_query_parts() -> None:
    settings = parse_apprise_url(
        f"o365://casey@outlook.com/{CLIENT}/abc/def/me@example.com"
        "?to=Ops%20%3Cops@example.com%3E&cc=x@example.com"
    )
    assert settings.mode == "personal"
    # The refresh token may itself contain slashes: all but the targets.
    assert settings.secret == "abc/def"
    assert settings.targets == ("me@example.com", "Ops <ops@example.com>")


def test_query_forms() -> None:
    settings = parse_apprise_url(
        "o365://x?from=casey@outlook.com&oauth_id=id&oauth_secret=tok%2Fen&mode=personal"
    )
    assert (settings.source, settings.client_id, settings.secret) == (
        "casey@outlook.com",
        "id",
        "tok/en",
    )


def test_plus_is_not_a_space() -> None:
    assert parse_apprise_url("o365://a@b.com/t/c/x+y").secret == "x+y"
    # Nor in the query (Apprise's parse_qsd keeps it, plus_to_space=False).
    assert parse_apprise_url("o365://a@b.com/t/c?oauth_secret=x+y").secret == "x+y"


@pytest.mark.parametrize(
    "url", ["", "o365:/a/b/c/d", "mailto://a/b/c/d", "o365://a/b/c", "o365:////"]
)
def test_not_an_apprise_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"o365://|Expected"):
        parse_apprise_url(url)
