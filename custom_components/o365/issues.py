"""Repair issues an account raises, and clears when sending works again."""

from __future__ import annotations

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir

from .const import CONF_SOURCE, DOMAIN, docs_url


def _issue_id(kind: str, entry: ConfigEntry) -> str:
    return f"{kind}_{entry.entry_id}"


def async_raise_secret_issue(
    hass: HomeAssistant, entry: ConfigEntry, *, expired: bool
) -> None:
    """Say the client secret expired or is wrong (reauth asks for a new one)."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id("secret", entry),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="secret_expired" if expired else "secret_invalid",
        translation_placeholders={"mailbox": entry.data[CONF_SOURCE]},
        learn_more_url=docs_url(
            "secret_expired" if expired else "invalid_client_secret"
        ),
    )


def async_raise_consent_issue(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Say the app lacks Mail.Send with admin consent."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id("consent", entry),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key="missing_consent",
        translation_placeholders={"mailbox": entry.data[CONF_SOURCE]},
        learn_more_url=docs_url("missing_mail_send"),
    )


def async_raise_dropped_issue(
    hass: HomeAssistant, entry: ConfigEntry, *, dropped: int, subject: str, reason: str
) -> None:
    """Say queued messages were given up (the user can dismiss it)."""
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id("dropped", entry),
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key="messages_dropped",
        translation_placeholders={
            "mailbox": entry.data[CONF_SOURCE],
            "count": str(dropped),
            "subject": subject,
            "reason": reason,
        },
        learn_more_url=docs_url("messages_dropped"),
    )


def async_clear_send_issues(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Clear the secret and consent issues: a message just went out."""
    for kind in ("secret", "consent"):
        ir.async_delete_issue(hass, DOMAIN, _issue_id(kind, entry))


def async_clear_all_issues(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Clear every issue of a removed account."""
    for kind in ("secret", "consent", "dropped"):
        ir.async_delete_issue(hass, DOMAIN, _issue_id(kind, entry))
