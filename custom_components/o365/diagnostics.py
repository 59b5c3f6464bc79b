"""Diagnostics: settings, token state, counters, outbox and budget, nothing personal.

Users paste diagnostics into public issues, so they hold no secret or token,
and no mailbox, recipient address or subject either: those are redacted or
counted. Microsoft's error texts are left out too (they may name addresses);
their codes and request IDs stay, which is what support needs.
"""

from __future__ import annotations

from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .account import O365ConfigEntry
from .clock import now
from .const import (
    CONF_BACKUP_ACCOUNT,
    CONF_CERTIFICATE,
    CONF_CLIENT_SECRET,
    CONF_DEFAULT_RECIPIENTS,
    CONF_FROM_MAILBOX,
    CONF_SOURCE,
    CONF_TOKEN_CACHE,
)

#: Secrets (a client secret, a certificate's private key or its path, a
#: signed-in account's tokens) and personal data (mailboxes, recipients).
TO_REDACT = {
    CONF_CLIENT_SECRET,
    CONF_CERTIFICATE,
    CONF_TOKEN_CACHE,
    CONF_SOURCE,
    CONF_BACKUP_ACCOUNT,
    CONF_FROM_MAILBOX,
}


def _iso(timestamp: float | None) -> str | None:
    return dt_util.utc_from_timestamp(timestamp).isoformat() if timestamp else None


def _options(options: dict[str, Any]) -> dict[str, Any]:
    redacted = async_redact_data(options, TO_REDACT)
    if CONF_DEFAULT_RECIPIENTS in redacted:
        redacted[CONF_DEFAULT_RECIPIENTS] = len(options[CONF_DEFAULT_RECIPIENTS] or ())
    return redacted


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: O365ConfigEntry
) -> dict[str, Any]:
    """Return what helps support, and no secret, token, address or subject.

    It works for an entry that failed to set up too (an expired secret, say):
    its account and outbox exist from the first setup attempt.
    """
    entry_info = {
        "data": async_redact_data(dict(entry.data), TO_REDACT),
        "options": _options(dict(entry.options)),
        "state": entry.state.value,
    }
    account = getattr(entry, "runtime_data", None)
    if account is None:
        return {"entry": entry_info, "connected": False}
    connection = account.connection
    token = connection.tokens.token if connection else None
    expiry = account.expiry
    stats = connection.client.stats if connection else None
    at = now()
    outbox = account.outbox
    budget = account.budget
    return {
        "entry": entry_info,
        "connected": connection is not None,
        "awaiting_reauthentication": account.auth_failed,
        "token": {
            "expires_at": _iso(token.expires_at),
            "renews_at": _iso(token.refresh_at),
            "tenant_id": token.tenant_id,
            "permissions": sorted(token.permissions)
            if token.permissions is not None
            else "unknown (the token cannot be read)",
            "fetched": connection.tokens.tokens_fetched if connection else 0,
        }
        if token
        else None,
        "credential_expires": {
            "at": expiry.expires.isoformat() if expiry.expires else None,
            "source": expiry.source,
        }
        if expiry is not None and expiry.applies
        else None,
        "backup_account": REDACTED if account.options.backup_account else None,
        "request_limiter": {
            "limit": connection.client.limiter.limit,
            "max_in_flight": connection.client.limiter.max_in_flight,
        }
        if connection
        else None,
        "counters": {
            "sent": account.stats.sent,
            "failed": account.stats.failed,
            "queued": account.stats.queued,
            "dropped": account.stats.dropped,
            "failovers": account.stats.failovers,
            "held_for_digest": account.stats.held,
            "digests": account.stats.digests,
            "requests": stats.requests if stats else 0,
            "retried": stats.retries if stats else 0,
            "throttled": stats.throttled if stats else 0,
            "token_renewals_after_401": stats.token_refreshes if stats else 0,
        },
        "last_errors": [
            {
                "at": _iso(error.at),
                "operation": error.operation,
                "status": error.status,
                "code": error.code,
                "request_id": error.request_id,
            }
            for error in (stats.last_errors if stats else ())
        ],
        "budget": {
            "daily_recipient_limit": budget.limit,
            "recipients_last_24h": budget.sent_recently(),
            "digest_mode": account.digests.active,
            "next_digest": _iso(account.digests.next_digest),
        },
        "outbox": {
            "messages": len(outbox),
            "held_for_digest": len(outbox.held),
            "bytes": outbox.size,
            "oldest_age_seconds": round(at - outbox.items[0].queued_at)
            if outbox.items
            else None,
            "next_delivery": _iso(account.worker.next_run),
            "items": [
                {
                    "queued_at": _iso(item.queued_at),
                    "held": item.held,
                    "reason": item.reason,
                    "recipients": item.recipients,
                    "attempts": item.attempts,
                    "next_attempt": _iso(item.next_attempt),
                    # The code only: Microsoft's text may name addresses.
                    "last_error": item.last_error.partition(":")[0]
                    if item.last_error
                    else None,
                    "bytes": item.size,
                }
                for item in outbox.items
            ],
        },
    }
