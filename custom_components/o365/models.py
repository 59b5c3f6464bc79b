"""The typed runtime data of a config entry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from homeassistant.config_entries import ConfigEntry

if TYPE_CHECKING:
    from .account import O365Account
    from .expiry import CredentialExpiry


@dataclass(slots=True)
class O365RuntimeData:
    """What a loaded entry holds: its account and its credential's expiry."""

    account: O365Account
    expiry: CredentialExpiry


type O365ConfigEntry = ConfigEntry[O365RuntimeData]
