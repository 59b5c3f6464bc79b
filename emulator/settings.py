"""The emulator's tunable limits and lifetimes (settable while it runs).

Defaults follow Microsoft's documentation, read strictly where it is vague:

* 4 concurrent requests per app (``concepts/throttling-limits.md``, Outlook
  service limits; one version says "per app ID and mailbox", the other "per app
  ID, regardless of mailbox": the stricter is the default, ``app_mailbox`` the
  other reading);
* 150 MB uploaded per 5 minutes, same key (MB read as 10^6 bytes: stricter);
* upload sessions refuse attachments under 3 MiB: the docs (``concepts/
  outlook-large-attachments.md``) say upload sessions are for files of "3 MB
  to 150 MB", so a smaller one is undocumented; the strictest reading of
  "3 MB" is the default, 2 MiB (seen at some tenants) a setting;
* device codes live 900 s and are polled every 5 s
  (``docs/identity-platform/v2-oauth2-device-code.md``);
* refresh tokens expire after 90 days unused
  (``docs/identity-platform/refresh-tokens.md``);
* Exchange Online: 10,000 recipients per mailbox in a sliding 24 hours and 500
  recipients per message by default (defender-docs
  ``outbound-spam-sending-limits-troubleshoot.md``); Outlook.com: 300 a day,
  which is observed, not published (Microsoft's "Sending limits in
  Outlook.com" gives 5,000 for Microsoft 365 subscribers and only "lower"
  for free accounts);
* a refused consent on the device login page answers ``authorization_declined``
  (``v2-oauth2-device-code.md``, Expected errors); RFC 8628 section 3.5 names
  it ``access_denied``, which a setting chooses instead;
* AADSTS650057 (a scope the registration does not list, with dynamic consent
  off): every answer found in the wild carries ``invalid_client`` (azure-cli
  issue 33887, microsoft/azure-devops-auth-samples issue 90); Microsoft
  documents no ``error`` for it, so ``invalid_request`` and ``invalid_scope``
  can be chosen too.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from enum import StrEnum

DEFAULT_TOKEN_LIFETIME = 3599
DEFAULT_MAX_CONCURRENCY = 4
DEFAULT_MIN_UPLOAD_SIZE = 3 * 1024 * 1024
DEFAULT_UPLOAD_BUDGET_BYTES = 150_000_000
DEFAULT_UPLOAD_WINDOW_SECONDS = 300
DEFAULT_DEVICE_CODE_LIFETIME = 900
DEFAULT_DEVICE_CODE_INTERVAL = 5
DEFAULT_REFRESH_TOKEN_LIFETIME = 90 * 24 * 3600
DEFAULT_DAILY_RECIPIENT_LIMIT_WORK = 10_000
#: Observed, not published (see the module docstring).
DEFAULT_DAILY_RECIPIENT_LIMIT_PERSONAL = 300
DEFAULT_MAX_RECIPIENTS_PER_MESSAGE = 500
#: The window recipients are counted over (a sliding 24 hours).
RECIPIENT_WINDOW_SECONDS = 24 * 3600
DECLINE_ERRORS = ("authorization_declined", "access_denied")
UNLISTED_SCOPE_ERRORS = ("invalid_client", "invalid_request", "invalid_scope")


_INT = (int,)
_NUMBER = (int, float)
#: The type each setting must have (``concurrency_key`` is checked on its own).
_TYPES: dict[str, tuple[type, ...]] = {
    "token_lifetime": _INT,
    "max_concurrency": _INT,
    "min_upload_size": _INT,
    "upload_budget_bytes": _INT,
    "upload_window_seconds": _NUMBER,
    "allow_upload_status": (bool,),
    "device_code_lifetime": _INT,
    "device_code_interval": _INT,
    "refresh_token_lifetime": _NUMBER,
    "dynamic_consent": (bool,),
    "unlisted_scope_error": (str,),
    "device_decline_error": (str,),
    "daily_recipient_limit_work": _INT,
    "daily_recipient_limit_personal": _INT,
    "max_recipients_per_message": _INT,
}
#: Settings that take one of a few strings.
_CHOICES: dict[str, tuple[str, ...]] = {
    "unlisted_scope_error": UNLISTED_SCOPE_ERRORS,
    "device_decline_error": DECLINE_ERRORS,
}


class ConcurrencyKey(StrEnum):
    """What Graph's concurrency limit and upload budget are counted per."""

    APP = "app"
    APP_MAILBOX = "app_mailbox"


@dataclass
class Settings:
    """Limits and lifetimes; change them at run time through `Emulator`."""

    token_lifetime: int = DEFAULT_TOKEN_LIFETIME
    #: Concurrent Graph requests per key before 429 (0: no limit).
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    concurrency_key: ConcurrencyKey = ConcurrencyKey.APP
    #: Smallest attachment an upload session accepts.
    min_upload_size: int = DEFAULT_MIN_UPLOAD_SIZE
    #: Bytes PUT to upload URLs per key in the window (0: no limit).
    upload_budget_bytes: int = DEFAULT_UPLOAD_BUDGET_BYTES
    upload_window_seconds: float = DEFAULT_UPLOAD_WINDOW_SECONDS
    #: Answer ``GET`` on an upload URL (OneDrive's status request) instead of 405.
    allow_upload_status: bool = False
    device_code_lifetime: int = DEFAULT_DEVICE_CODE_LIFETIME
    device_code_interval: int = DEFAULT_DEVICE_CODE_INTERVAL
    #: Seconds a refresh token may go unused before AADSTS70008.
    refresh_token_lifetime: float = DEFAULT_REFRESH_TOKEN_LIFETIME
    #: Let people consent to delegated scopes the app registration does not
    #: list, as Microsoft documents (False: AADSTS650057 at the token step).
    dynamic_consent: bool = True
    #: The ``error`` sent with AADSTS650057 (see the module docstring).
    unlisted_scope_error: str = "invalid_client"
    #: What a device code poll answers after the person refused the consent.
    device_decline_error: str = "authorization_declined"
    #: Recipients a work mailbox may send to in a sliding 24 hours (0: no limit).
    daily_recipient_limit_work: int = DEFAULT_DAILY_RECIPIENT_LIMIT_WORK
    #: The same for a personal (Outlook.com) account (0: no limit).
    daily_recipient_limit_personal: int = DEFAULT_DAILY_RECIPIENT_LIMIT_PERSONAL
    #: To + Cc + Bcc of one message (0: no limit).
    max_recipients_per_message: int = DEFAULT_MAX_RECIPIENTS_PER_MESSAGE

    def __post_init__(self) -> None:
        """Check the values."""
        self.validate()

    def validate(self) -> None:
        """Raise ValueError for a value of the wrong type or out of range."""
        self.concurrency_key = ConcurrencyKey(self.concurrency_key)
        for name, kinds in _TYPES.items():
            value = getattr(self, name)
            if isinstance(value, bool) is not (kinds == (bool,)) or not isinstance(
                value, kinds
            ):
                wanted = " or ".join(kind.__name__ for kind in kinds)
                raise ValueError(f"{name} must be {wanted}, not {value!r}")
        for name in (
            "token_lifetime",
            "max_concurrency",
            "min_upload_size",
            "upload_budget_bytes",
            "upload_window_seconds",
            "device_code_lifetime",
            "refresh_token_lifetime",
            "daily_recipient_limit_work",
            "daily_recipient_limit_personal",
            "max_recipients_per_message",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} cannot be negative")
        for name, choices in _CHOICES.items():
            if getattr(self, name) not in choices:
                raise ValueError(f"{name} must be one of {', '.join(choices)}")
        if self.device_code_interval < 1:
            raise ValueError("device_code_interval must be at least 1 second")

    def update(self, **values: object) -> None:
        """Set several values at once (all or none)."""
        known = {f.name for f in fields(self)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown settings: {', '.join(sorted(unknown))}")
        before = {name: getattr(self, name) for name in values}
        for name, value in values.items():
            setattr(self, name, value)
        try:
            self.validate()
        except (TypeError, ValueError):
            for name, value in before.items():
                setattr(self, name, value)
            raise

    def throttle_key(self, app_id: str, mailbox_id: str) -> str:
        """Return the key concurrency and upload bytes are counted under."""
        if self.concurrency_key is ConcurrencyKey.APP_MAILBOX:
            return f"{app_id.casefold()}|{mailbox_id.casefold()}"
        return app_id.casefold()
