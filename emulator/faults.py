"""Faults that can be switched on at run time to exercise a client's error paths.

A fault has a ``kind``, a ``count`` (how many matching requests it hits; -1 keeps
it until cleared) and a ``match`` (an operation name, ``graph`` for any call under
``/v1.0``, or ``any``). Any fault may also name a ``client_id`` (the app whose
requests it hits: the token's ``appid``, the token request's ``client_id``, or the
app that opened an upload session) and a ``mailbox`` (address, UPN or id of the
mailbox a Graph call or upload is for; of token requests, those that redeem a
refresh token or a signed-in device code name their user). On the command
line it is written ``KIND[:key=value,...]``, for example
``429:count=3,retry_after=2,match=sendMail``,
``503:count=-1,match=sendMail,mailbox=alerts@contoso.com`` or
``504:after_accept`` (a bare key means ``true``).

``chunk_ranges`` makes the next chunk error answers carry ``nextExpectedRanges``
(Outlook does not document it); ``size_exceeded`` answers 400
``ErrorMessageSizeExceeded`` (as Exchange has been seen to do during uploads).

``submission_quota`` answers ``ErrorSubmissionQuotaExceeded`` to sendMail or a
draft's send. Exchange's EWS reference (office-developer-exchange-docs
``web-service-reference/responsecode.md``) says "a user cannot immediately
send more requests because the submission quota has been reached"; its HTTP
status in Graph is not documented. The default is 429 (what Microsoft's own
microsoft/notification-provider tests give it) without ``Retry-After`` (none
is documented, so a client must pick its own wait); ``status`` and
``retry_after`` change that, e.g. ``submission_quota:status=403,retry_after=60``.

Refresh-token refusals, answered to a ``refresh_token`` grant at the token
endpoint (``reference-error-codes.md`` for the numbers and their wording);
the refresh token hit then keeps failing that way, as Entra's would, until
the person signs in again (a fault with ``mailbox=`` hits that user's tokens):

| kind | AADSTS | ``error`` (option ``error`` overrides it) |
|---|---|---|
| ``mfa_required`` | 50076 | ``interaction_required`` |
| ``mfa_registration_required`` | 50079 | ``interaction_required`` |
| ``sign_in_frequency`` | 70043 | ``invalid_grant`` (+ ``suberror: token_expired``) |
| ``refresh_token_inactive`` | 700082 | ``invalid_grant`` |
| ``user_disabled`` | 50057 | ``invalid_grant`` |
| ``admin_consent_required`` | 90094 | ``invalid_grant`` |

Microsoft documents the ``error`` of none of these numbers (see `signin.py`
for what each choice rests on).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from email.utils import format_datetime
from enum import StrEnum
from typing import Any
import uuid

from .common import GRAPH_OPERATIONS, Operation
from .directory import Mailbox

MATCH_GRAPH = "graph"
MATCH_ANY = "any"
MATCHES = frozenset({*Operation, MATCH_GRAPH, MATCH_ANY})


class FaultKind(StrEnum):
    """What a fault does to the requests it hits."""

    THROTTLED = "429"
    UNAVAILABLE = "503"
    GATEWAY_TIMEOUT = "504"
    LATENCY = "latency"
    DROP = "drop"
    EXPIRED_SECRET = "expired_secret"  # noqa: S105 - a fault kind
    WRONG_SECRET = "wrong_secret"  # noqa: S105 - a fault kind
    MISSING_ROLE = "missing_role"
    TOKEN_DOWN = "token_down"  # noqa: S105 - a fault kind
    CHUNK_RANGES = "chunk_ranges"
    SIZE_EXCEEDED = "size_exceeded"
    SUBMISSION_QUOTA = "submission_quota"
    MFA_REQUIRED = "mfa_required"
    MFA_REGISTRATION_REQUIRED = "mfa_registration_required"
    SIGN_IN_FREQUENCY = "sign_in_frequency"
    REFRESH_TOKEN_INACTIVE = "refresh_token_inactive"  # noqa: S105 - a fault kind
    USER_DISABLED = "user_disabled"
    ADMIN_CONSENT_REQUIRED = "admin_consent_required"


#: Kinds answered in place of the real response (by the server middleware).
RESPONSE_KINDS = frozenset(
    {
        FaultKind.THROTTLED,
        FaultKind.UNAVAILABLE,
        FaultKind.GATEWAY_TIMEOUT,
        FaultKind.DROP,
        FaultKind.TOKEN_DOWN,
        FaultKind.SIZE_EXCEEDED,
        FaultKind.SUBMISSION_QUOTA,
    }
)
#: Refusals of a refresh token (answered by the refresh grant).
REFRESH_KINDS = frozenset(
    {
        FaultKind.MFA_REQUIRED,
        FaultKind.MFA_REGISTRATION_REQUIRED,
        FaultKind.SIGN_IN_FREQUENCY,
        FaultKind.REFRESH_TOKEN_INACTIVE,
        FaultKind.USER_DISABLED,
        FaultKind.ADMIN_CONSENT_REQUIRED,
    }
)
#: Kinds that only make sense at the token endpoint.
TOKEN_KINDS = (
    frozenset(
        {
            FaultKind.EXPIRED_SECRET,
            FaultKind.WRONG_SECRET,
            FaultKind.MISSING_ROLE,
            FaultKind.TOKEN_DOWN,
        }
    )
    | REFRESH_KINDS
)
#: The ``error`` values a refresh refusal may be given.
REFRESH_ERRORS = frozenset({"invalid_grant", "interaction_required"})
#: Operations a kind may match (the first is its default); others match any.
_ALLOWED_MATCHES: Mapping[FaultKind, tuple[str, ...]] = {
    **dict.fromkeys(TOKEN_KINDS, (Operation.TOKEN.value,)),
    FaultKind.CHUNK_RANGES: (Operation.UPLOAD_CHUNK.value,),
    FaultKind.SUBMISSION_QUOTA: (
        Operation.SEND_MAIL.value,
        Operation.SEND_DRAFT.value,
    ),
    FaultKind.SIZE_EXCEEDED: (
        Operation.UPLOAD_CHUNK.value,
        Operation.CREATE_UPLOAD_SESSION.value,
        Operation.SEND_DRAFT.value,
    ),
}
_COMMON_OPTIONS = frozenset({"kind", "count", "match", "client_id", "mailbox"})
_RETRY_OPTIONS = frozenset({"retry_after", "retry_after_date"})
#: Options each kind accepts besides ``kind``, ``count`` and ``match``.
_OPTIONS: Mapping[FaultKind, frozenset[str]] = {
    FaultKind.THROTTLED: _RETRY_OPTIONS,
    FaultKind.UNAVAILABLE: _RETRY_OPTIONS,
    FaultKind.TOKEN_DOWN: _RETRY_OPTIONS,
    FaultKind.GATEWAY_TIMEOUT: frozenset({"after_accept"}),
    FaultKind.DROP: frozenset({"after_accept"}),
    FaultKind.LATENCY: frozenset({"delay_ms"}),
    FaultKind.SUBMISSION_QUOTA: _RETRY_OPTIONS | {"status"},
    **dict.fromkeys(REFRESH_KINDS, frozenset({"error"})),
}
_TYPES: Mapping[str, type] = {
    "status": int,
    "error": str,
    "count": int,
    "match": str,
    "retry_after": int,
    "retry_after_date": bool,
    "delay_ms": int,
    "after_accept": bool,
    "client_id": str,
    "mailbox": str,
}
_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True, slots=True)
class Target:
    """Whom a request is for: the app and the mailbox (either may be unknown)."""

    client_id: str | None = None
    mailbox: Mailbox | None = None
    #: The mailbox as named in the path when it is not in the directory.
    mailbox_name: str | None = None


@dataclass
class Fault:
    """One switched-on fault (see the module docstring)."""

    kind: FaultKind
    count: int = 1
    match: str = ""
    #: Seconds for the ``Retry-After`` header (429/503/token_down); None omits it.
    retry_after: int | None = None
    #: Send ``Retry-After`` as an HTTP date instead of seconds.
    retry_after_date: bool = False
    delay_ms: int = 1000
    #: 504/drop: process the request (the mail is accepted) before failing.
    after_accept: bool = False
    #: Only requests of this app (client id); "" for any app.
    client_id: str = ""
    #: Only requests for this mailbox (address, UPN or id); "" for any.
    mailbox: str = ""
    #: submission_quota: the HTTP status answered.
    status: int = 429
    #: Refresh refusals: the OAuth ``error`` ("" for the kind's default).
    error: str = ""
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    hits: int = 0

    def __post_init__(self) -> None:
        """Fill the default match and check the options."""
        self.kind = FaultKind(self.kind)
        allowed = _ALLOWED_MATCHES.get(self.kind)
        self.match = self.match or (allowed[0] if allowed else MATCH_GRAPH)
        if self.match not in MATCHES:
            raise ValueError(
                f"unknown match {self.match!r}; use one of {', '.join(sorted(MATCHES))}"
            )
        if allowed and self.match not in allowed:
            if allowed == (Operation.TOKEN.value,):
                raise ValueError(
                    f"fault {self.kind} applies to the token endpoint only"
                )
            raise ValueError(f"fault {self.kind} can match {', '.join(allowed)} only")
        if self.count == 0 or self.count < -1:
            raise ValueError("count must be a positive number, or -1 (until cleared)")
        if self.delay_ms < 0 or (self.retry_after or 0) < 0:
            raise ValueError("delay_ms and retry_after cannot be negative")
        if self.retry_after_date and self.retry_after is None:
            raise ValueError("retry_after_date needs retry_after (seconds from now)")
        if not 400 <= self.status <= 599:
            raise ValueError("status must be an HTTP error status (400-599)")
        if self.error and self.error not in REFRESH_ERRORS:
            choices = ", ".join(sorted(REFRESH_ERRORS))
            raise ValueError(f"error must be one of {choices}")

    @classmethod
    def from_mapping(cls, data: Mapping[str, object]) -> Fault:
        """Build a fault from JSON or parsed command-line options."""
        if "kind" not in data:
            raise ValueError("a fault needs a kind")
        try:
            kind = FaultKind(str(data["kind"]))
        except ValueError:
            kinds = ", ".join(kind.value for kind in FaultKind)
            raise ValueError(
                f"unknown fault kind {data['kind']!r}; use one of {kinds}"
            ) from None
        allowed = _COMMON_OPTIONS | _OPTIONS.get(kind, frozenset())
        options: dict[str, Any] = {}
        for key, value in data.items():
            if key not in allowed:
                raise ValueError(f"option {key!r} does not apply to fault {kind}")
            if key != "kind":
                options[key] = _coerce(key, value)
        return cls(kind, **options)

    @classmethod
    def parse(cls, spec: str) -> Fault:
        """Parse ``KIND[:key=value,...]`` (a bare key means true)."""
        kind, _, rest = spec.strip().partition(":")
        data: dict[str, object] = {"kind": kind}
        for option in filter(None, (part.strip() for part in rest.split(","))):
            key, sep, value = option.partition("=")
            data[key.strip()] = value.strip() if sep else "true"
        return cls.from_mapping(data)

    def matches(self, operation: Operation, target: Target | None = None) -> bool:
        """Return True if this fault applies to the operation for ``target``."""
        if not self._matches_target(target or Target()):
            return False
        if self.match == MATCH_ANY:
            return True
        if self.match == MATCH_GRAPH:
            return operation in GRAPH_OPERATIONS
        return self.match == operation

    def _matches_target(self, target: Target) -> bool:
        if self.client_id and (
            target.client_id is None
            or target.client_id.casefold() != self.client_id.casefold()
        ):
            return False
        if not self.mailbox:
            return True
        if target.mailbox is not None:
            return target.mailbox.matches(self.mailbox)
        name = target.mailbox_name
        return name is not None and name.casefold() == self.mailbox.casefold()

    def retry_after_header(self, now: datetime) -> dict[str, str]:
        """Return the ``Retry-After`` header for this fault, if it has one."""
        if self.retry_after is None:
            return {}
        if self.retry_after_date:
            when = now + timedelta(seconds=self.retry_after)
            return {"Retry-After": format_datetime(when, usegmt=True)}
        return {"Retry-After": str(self.retry_after)}

    def to_json(self) -> dict[str, Any]:
        """Return the fault as JSON (``count`` is what remains)."""
        data = {f.name: getattr(self, f.name) for f in fields(self)}
        data["kind"] = self.kind.value
        return data


def _coerce(key: str, value: object) -> object:
    """Convert a JSON or command-line value to the option's type."""
    wanted = _TYPES[key]
    if wanted is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in _TRUE | _FALSE:
            return value.lower() in _TRUE
    elif wanted is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value)
            except ValueError:
                pass
    elif isinstance(value, str):
        return value
    raise ValueError(f"option {key!r}: expected {wanted.__name__}, got {value!r}")


class FaultBook:
    """The active faults, in the order they were added."""

    def __init__(self) -> None:
        """Start with no faults."""
        self._faults: list[Fault] = []

    @property
    def active(self) -> list[Fault]:
        """Return the active faults."""
        return list(self._faults)

    def add(self, fault: Fault) -> Fault:
        """Switch a fault on."""
        self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Switch every fault off."""
        self._faults.clear()

    def take(
        self,
        operation: Operation,
        kinds: Collection[FaultKind],
        target: Target | None = None,
    ) -> Fault | None:
        """Return and use up one hit of the first matching fault of these kinds."""
        found = self.take_all(operation, kinds, target, first_only=True)
        return found[0] if found else None

    def take_all(
        self,
        operation: Operation,
        kinds: Collection[FaultKind],
        target: Target | None = None,
        *,
        first_only: bool = False,
    ) -> list[Fault]:
        """Return and use up one hit of every matching fault of these kinds."""
        taken: list[Fault] = []
        for fault in list(self._faults):
            if fault.kind not in kinds or not fault.matches(operation, target):
                continue
            fault.hits += 1
            if fault.count > 0:
                fault.count -= 1
                if fault.count == 0:
                    self._faults.remove(fault)
            taken.append(fault)
            if first_only:
                break
        return taken
