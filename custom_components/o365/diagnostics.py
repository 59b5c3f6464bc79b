"""Diagnostics: settings (secret redacted), token state, counters, outbox."""

from __future__ import annotations

from dataclasses import asdict
import time
from typing import TYPE_CHECKING, Any

from homeassistant.components.diagnostics import async_redact_data
from homeassistant.core import HomeAssistant
from homeassistant.util import dt as dt_util

from .account import async_get_accounts
from .const import CONF_CERTIFICATE, CONF_CLIENT_SECRET, CONF_TOKEN_CACHE

if TYPE_CHECKING:
    from .models import O365ConfigEntry

#: Secrets: a client secret, a certificate's private key (or its path, which
#: says where the key is), a signed-in account's tokens.
TO_REDACT = {CONF_CLIENT_SECRET, CONF_CERTIFICATE, CONF_TOKEN_CACHE}


def _iso(timestamp: float | None) -> str | None:
    return dt_util.utc_from_timestamp(timestamp).isoformat() if timestamp else None


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: O365ConfigEntry
) -> dict[str, Any]:
    """Return what helps support, and no secret or token.

    It works for an entry that failed to set up too (an expired secret, say):
    its account and outbox exist from the first setup attempt.
    """
    entry_info = {
        "data": async_redact_data(dict(entry.data), TO_REDACT),
        "options": dict(entry.options),
        "state": entry.state.value,
    }
    account = async_get_accounts(hass).get(entry.entry_id)
    if account is None:
        return {"entry": entry_info, "connected": False}
    connection = account.connection
    token = connection.tokens.token if connection else None
    expiry = entry.runtime_data.expiry if connection is not None else None
    stats = connection.client.stats if connection else None
    now = time.time()
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
        "backup_account": backup.mailbox if (backup := account.backup) else None,
        "request_limiter": {
            "limit": connection.client.limiter.limit,
            "max_in_flight": connection.client.limiter.max_in_flight,
        }
        if connection
        else None,
        "counters": {
            **asdict(account.stats),
            "requests": stats.requests if stats else 0,
            "retried": stats.retries if stats else 0,
            "throttled": stats.throttled if stats else 0,
            "token_renewals_after_401": stats.token_refreshes if stats else 0,
        },
        "last_errors": [
            {**asdict(error), "at": _iso(error.at)}
            for error in (stats.last_errors if stats else ())
        ],
        "outbox": {
            "messages": len(account.outbox),
            "bytes": account.outbox.size,
            "oldest_age_seconds": round(now - account.outbox.items[0].queued_at)
            if account.outbox.items
            else None,
            "items": [
                {
                    "subject": item.subject,
                    "queued_at": _iso(item.queued_at),
                    "reason": item.reason,
                    "attempts": item.attempts,
                    "next_attempt": _iso(item.next_attempt),
                    "last_error": item.last_error,
                    "bytes": item.size,
                }
                for item in account.outbox.items
            ],
        },
    }
