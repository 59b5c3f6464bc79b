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
    assert settings.client_secret == "p+q/?%%40"
    assert settings.targets == ("a@contoso.com", "b@contoso.com", "c+d@contoso.com")


def test_plus_is_not_a_space() -> None:
    assert parse_apprise_url("o365://a@b.com/t/c/x+y").client_secret == "x+y"


@pytest.mark.parametrize(
    "url", ["", "o365:/a/b/c/d", "mailto://a/b/c/d", "o365://a/b/c", "o365:////"]
)
def test_not_an_apprise_url(url: str) -> None:
    with pytest.raises(ValueError, match=r"o365://|Expected"):
        parse_apprise_url(url)
