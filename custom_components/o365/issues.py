"""Repair issues an account raises, and clears when sending works again."""

from __future__ import annotations

from datetime import datetime

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.util import dt as dt_util

from .const import CONF_SOURCE, DOMAIN, docs_url
from .errors import error_key, error_placeholders
from .graph import (
    AccessDeniedError,
    CertificateError,
    ClientSecretExpiredError,
    InvalidCertificateError,
    InvalidClientSecretError,
    MailboxFullError,
    O365Error,
    SignInExpiredError,
)

#: Issue kinds cleared by the next message that goes out.
_SEND_KINDS = ("credential", "consent", "mailbox_full")
#: Credential expiry warnings, from the earlier to the later one.
EXPIRY_WARNINGS = ((30, "credential_expires_soon"), (7, "credential_expires_now"))
#: Nothing says when an app-only secret expires: the repair asks for the date.
EXPIRY_UNKNOWN = "credential_expiry_unknown"
BUDGET_SPENT = "budget_spent"


def _issue_id(kind: str, entry: ConfigEntry) -> str:
    return f"{kind}_{entry.entry_id}"


#: (error type, issue kind, translation key); first match wins. The README
#: entry is the error's own (its form and action error key).
_ACCOUNT_ISSUES: tuple[tuple[type[O365Error], str, str], ...] = (
    (ClientSecretExpiredError, "credential", "secret_expired"),
    (InvalidClientSecretError, "credential", "secret_invalid"),
    (InvalidCertificateError, "credential", "certificate_invalid"),
    (CertificateError, "credential", "certificate_invalid"),
    (SignInExpiredError, "credential", "sign_in_expired"),
    (MailboxFullError, "mailbox_full", "mailbox_full"),
    (AccessDeniedError, "consent", "missing_consent"),
)


def async_raise_account_issue(
    hass: HomeAssistant, entry: ConfigEntry, err: O365Error
) -> None:
    """Say what stops the account from sending and what to do about it."""
    for error_type, kind, key in _ACCOUNT_ISSUES:
        if isinstance(err, error_type):
            ir.async_create_issue(
                hass,
                DOMAIN,
                _issue_id(kind, entry),
                is_fixable=False,
                severity=ir.IssueSeverity.ERROR,
                translation_key=key,
                translation_placeholders=error_placeholders(
                    err, entry.data[CONF_SOURCE]
                ),
                learn_more_url=docs_url(error_key(err)),
            )
            return


def async_clear_credential_issue(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Remove the issue of a refused credential (it works again)."""
    ir.async_delete_issue(hass, DOMAIN, _issue_id("credential", entry))


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


def async_update_expiry_issue(
    hass: HomeAssistant, entry: ConfigEntry, expires: datetime | None, now: datetime
) -> None:
    """Warn 30 and again 7 days before the credential expires; clear otherwise.

    Each warning has its own issue, so dismissing the first one does not
    silence the second.
    """
    days_left = (expires - now).total_seconds() / 86400 if expires else None
    due = [
        key
        for days, key in EXPIRY_WARNINGS
        if days_left is not None and days_left <= days
    ]
    current = due[-1] if due else None
    for _, key in EXPIRY_WARNINGS:
        if key != current:
            ir.async_delete_issue(hass, DOMAIN, _issue_id(key, entry))
    if current is None or expires is None:
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        _issue_id(current, entry),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR
        if current == EXPIRY_WARNINGS[-1][1]
        else ir.IssueSeverity.WARNING,
        translation_key=current,
        translation_placeholders={
            "mailbox": entry.data[CONF_SOURCE],
            "date": expires.date().isoformat(),
            "days": str(max(0, int(days_left or 0))),
        },
        learn_more_url=docs_url("credential_expires"),
    )


def async_update_expiry_unknown_issue(
    hass: HomeAssistant, entry: ConfigEntry, *, unknown: bool
) -> None:
    """Ask for the secret's expiry date when the app registration cannot be read."""
    issue_id = _issue_id(EXPIRY_UNKNOWN, entry)
    if not unknown:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=True,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=EXPIRY_UNKNOWN,
        translation_placeholders={"mailbox": entry.data[CONF_SOURCE]},
        learn_more_url=docs_url("credential_expires"),
        data={"entry_id": entry.entry_id},
    )


def async_update_budget_issue(
    hass: HomeAssistant, entry: ConfigEntry, *, limit: int, resumes: datetime | None
) -> None:
    """Say the sending budget is spent (alerts wait), or clear it (``resumes`` None)."""
    issue_id = _issue_id(BUDGET_SPENT, entry)
    if resumes is None:
        ir.async_delete_issue(hass, DOMAIN, issue_id)
        return
    ir.async_create_issue(
        hass,
        DOMAIN,
        issue_id,
        is_fixable=False,
        is_persistent=False,
        severity=ir.IssueSeverity.WARNING,
        translation_key=BUDGET_SPENT,
        translation_placeholders={
            "mailbox": entry.data[CONF_SOURCE],
            "limit": str(limit),
            "resumes": f"{dt_util.as_local(resumes):%Y-%m-%d %H:%M}",
        },
        learn_more_url=docs_url(BUDGET_SPENT),
    )


def async_clear_send_issues(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Clear the credential, consent and mailbox issues: a message just went out."""
    for kind in _SEND_KINDS:
        ir.async_delete_issue(hass, DOMAIN, _issue_id(kind, entry))


def async_clear_all_issues(hass: HomeAssistant, entry: ConfigEntry) -> None:
    """Clear every issue of a removed account."""
    for kind in (
        *_SEND_KINDS,
        "dropped",
        *(key for _, key in EXPIRY_WARNINGS),
        EXPIRY_UNKNOWN,
        BUDGET_SPENT,
    ):
        ir.async_delete_issue(hass, DOMAIN, _issue_id(kind, entry))
