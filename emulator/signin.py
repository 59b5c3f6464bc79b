"""Delegated sign-in: scopes, device codes, consent and refresh tokens.

What Microsoft documents, and is followed here:

* the device authorization grant (RFC 8628) with Entra's errors
  ``authorization_pending`` (AADSTS70016), ``authorization_declined``,
  ``bad_verification_code`` (70018) and ``expired_token`` (70019)
  (``docs/identity-platform/v2-oauth2-device-code.md``,
  ``docs/identity-platform/reference-error-codes.md``); ``refresh_token`` only
  when ``offline_access`` was asked for, ``id_token`` only with ``openid``;
* which accounts an app's ``signInAudience`` admits, and Entra's refusals:
  AADSTS9002331 (personal-only app outside ``/consumers``), 9002332 (work-only
  app at ``/consumers``), 50194 (single-tenant app at ``/common``), 50020 (a
  personal account, or a user of another work tenant, where the tenant or app
  takes none), 50034 (user not in the directory), 50057 (account disabled),
  53003 (Conditional Access), 90094 (the tenant lets only admins consent);
* scopes without a resource mean Microsoft Graph; one resource per request
  (700022); ``/.default`` means the registration's static permissions;
  dynamic consent of unlisted delegated scopes
  (``docs/identity-platform/consent-types-developer.md``);
* refresh tokens that are replaced on every use and expire after 90 days unused
  (``docs/identity-platform/refresh-tokens.md``): 70008 expired, 50173 revoked
  after a password change, 65001 consent missing.

Where it is stricter than Microsoft (undocumented, or documented as allowed):
a used refresh token stops working at once (AADSTS70000); ``slow_down`` (RFC
8628, no Entra number) answers a poll sooner than the interval, which then
grows by 5 s; declines are AADSTS65004 (UserDeclinedConsent); a sign-in the
person could not complete in the browser ends the flow and the next poll
answers its error (``invalid_grant``).

The ``error`` that goes with an AADSTS number is rarely documented:
``reference-error-codes.md`` lists the numbers and, apart, the ``error``
values with their meaning. What each choice here rests on:

* 50076, 50079: ``interaction_required`` ("another authentication step is
  required", the reference's table; MSAL's maintainers show 50076 with it in
  AzureAD/microsoft-authentication-library-for-objc issue 57);
* 70043: ``invalid_grant`` with ``suberror: token_expired`` in the v2 answers
  reported (simonrob/email-oauth2-proxy issue 181, nais/device issue 45);
  ``interaction_required`` was seen too (microsoft/vscode-azure-account issue
  673), so a fault may choose it;
* 700082, 50057: ``invalid_grant`` (blobfile/blobfile issue 93; Azure/azure-cli
  issue 18945, canonical/authd issue 814);
* 90094 and 50020: not documented, none reported found: ``invalid_grant``,
  the reference's "authentication material ... unusable"; 50020 at a first
  sign-in is then no sign that an earlier sign-in expired, only that this one
  failed (the description says why);
* 9002332: not documented, none reported found: ``invalid_request``, as Entra
  answers the like AADSTS90130 (AzureAD/microsoft-authentication-library-for-js
  issue 237) and 9002331.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
import secrets
import string
import time

from .common import Clock, OAuthError, iso
from .directory import (
    App,
    Authority,
    AuthorityKind,
    Directory,
    Mailbox,
    SignInAudience,
)
from .faults import FaultKind
from .tokens import normalise_audience

OFFLINE_ACCESS = "offline_access"
#: OpenID Connect scopes: they name no resource.
OIDC_SCOPES = frozenset({"openid", "profile", "email", OFFLINE_ACCESS})
DEFAULT_SCOPE = ".default"
#: Entra's user codes are 9 upper-case letters and digits.
USER_CODE_LENGTH = 9
_USER_CODE_ALPHABET = string.ascii_uppercase + string.digits


# Scopes ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ScopeRequest:
    """A parsed ``scope`` parameter of a delegated request."""

    #: The resource as the client named it (no trailing slash), or Graph's URL.
    resource: str
    #: Resource permissions as requested (``Mail.Send``), without the resource.
    permissions: tuple[str, ...]
    #: The resource scopes as the client wrote them (echoed in ``scope``).
    spelled: tuple[str, ...]
    #: The OpenID Connect scopes asked for (lower case).
    oidc: frozenset[str]
    #: ``{resource}/.default``: the registration's static permissions.
    default: bool = False

    @property
    def offline(self) -> bool:
        """Return True if a refresh token was asked for."""
        return OFFLINE_ACCESS in self.oidc

    def granted(self, app: App) -> tuple[str, ...]:
        """Return the permissions the token carries, spelt as registered."""
        registered = {p.casefold(): p for p in app.delegated_permissions}
        if self.default:
            return tuple(
                p for p in app.delegated_permissions if p.casefold() not in OIDC_SCOPES
            )
        return tuple(registered.get(p.casefold(), p) for p in self.permissions)

    def response_scope(self, app: App) -> str:
        """Return the ``scope`` of the token response."""
        if self.default:
            resource_scopes = [f"{self.resource}/{p}" for p in self.granted(app)]
        else:
            resource_scopes = list(self.spelled)
        oidc = sorted(self.oidc)
        return " ".join([*resource_scopes, *oidc])

    def consent_needed(self, app: App) -> tuple[str, ...]:
        """Return what the person consents to (permissions and offline access)."""
        wanted = list(self.granted(app))
        if self.offline:
            wanted.append(OFFLINE_ACCESS)
        return tuple(wanted)


def parse_scopes(
    text: str, *, graph_resource: str, known_resources: Iterable[str], tenant: str
) -> ScopeRequest:
    """Parse a delegated ``scope`` parameter, refusing what Entra refuses."""
    oidc: set[str] = set()
    resources: dict[str, str] = {}
    permissions: list[str] = []
    spelled: list[str] = []
    default = False
    for item in text.split():
        if item.casefold() in OIDC_SCOPES:
            oidc.add(item.casefold())
            continue
        if "://" in item:
            resource, _, permission = item.rstrip("/").rpartition("/")
        else:  # no resource: Microsoft Graph
            resource, permission = graph_resource, item
        if not resource or not permission or "://" not in resource:
            raise invalid_scope(text)
        resources.setdefault(normalise_audience(resource), resource.rstrip("/"))
        if permission == DEFAULT_SCOPE:
            default = True
        else:
            permissions.append(permission)
        spelled.append(item)
    if len(resources) > 1:
        raise OAuthError(
            400,
            "invalid_scope",
            700022,
            f"The provided value for the input parameter scope is not valid because "
            f"it contains more than one resource. Scope {text} is not valid.",
        )
    if default and permissions:
        raise invalid_scope(text, "/.default cannot be combined with other scopes")
    known = {normalise_audience(r) for r in known_resources}
    resource = next(iter(resources.values()), graph_resource.rstrip("/"))
    if normalise_audience(resource) not in known:
        raise OAuthError(
            400,
            "invalid_resource",
            500011,
            f"The resource principal named {resource} was not found in the tenant "
            f"named {tenant}. This can happen if the application has not been "
            "installed by the administrator of the tenant or consented to by any "
            "user in the tenant. You might have sent your authentication request "
            "to the wrong tenant.",
        )
    return ScopeRequest(
        resource, tuple(permissions), tuple(spelled), frozenset(oidc), default
    )


def invalid_scope(text: str, why: str = "") -> OAuthError:
    """Return AADSTS70011 (InvalidScope)."""
    reason = f" ({why})" if why else ""
    return OAuthError(
        400,
        "invalid_scope",
        70011,
        f"The provided value for the input parameter 'scope' is not valid. The scope "
        f"'{text}' is not valid{reason}.",
    )


# Who may sign in where ---------------------------------------------------------


def check_app_authority(app: App, authority: Authority) -> None:
    """Refuse an authority the app's supported account types do not allow."""
    audience = app.sign_in_audience
    name = f"'{app.client_id}'({app.display_name})"
    if authority.kind is AuthorityKind.CONSUMERS and not audience.allows_personal:
        # docs/identity-platform/reference-error-codes.md: AADSTS9002332
        raise OAuthError(
            400,
            "invalid_request",
            9002332,
            f"Application {name} is configured for use by Microsoft Entra users "
            "only. Please do not use the /consumers endpoint to serve this request.",
        )
    if (
        audience is SignInAudience.PERSONAL
        and authority.kind is not AuthorityKind.CONSUMERS
    ):
        raise OAuthError(
            400,
            "invalid_request",
            9002331,
            f"Application {name} is configured for use by Microsoft Account users "
            "only. Please use the /consumers endpoint to serve this request.",
        )
    if audience is SignInAudience.MY_ORG and authority.kind in {
        AuthorityKind.COMMON,
        AuthorityKind.ORGANIZATIONS,
    }:
        # docs/identity-platform/reference-error-codes.md: AADSTS50194
        raise OAuthError(
            400,
            "invalid_request",
            50194,
            f"Application {name} is not configured as a multi-tenant application. "
            f"Usage of the /{authority.name} endpoint is not supported for such "
            "applications. Use a tenant-specific endpoint or configure the "
            "application to be multi-tenant.",
        )


def _stranger(user: Mailbox, idp: str, tenant: str, app_name: str) -> OAuthError:
    """Return AADSTS50020: a user of another identity provider or tenant."""
    # reference-error-codes.md: AADSTS50020 UserUnauthorized; its `error` is
    # not documented (see the module docstring).
    return OAuthError(
        400,
        "invalid_grant",
        50020,
        f"User account '{user.user_principal_name}' from identity provider "
        f"'{idp}' does not exist in tenant '{tenant}' and cannot access the "
        f"application {app_name} in that tenant. The account needs to be added as "
        "an external user in the tenant first. Sign out and sign in again with a "
        "different Microsoft Entra user account.",
    )


def user_disabled() -> OAuthError:
    """Return AADSTS50057 (UserDisabled)."""
    return OAuthError(400, "invalid_grant", 50057, "The user account is disabled.")


def check_user(
    directory: Directory, app: App, authority: Authority, user: Mailbox
) -> None:
    """Refuse a user the authority or the app does not admit (at sign-in, refresh)."""
    app_name = f"'{app.client_id}'({app.display_name})"
    if user.personal and (
        not authority.admits_personal or not app.sign_in_audience.allows_personal
    ):
        tenant = authority.tenant or directory.tenant
        raise _stranger(user, "live.com", tenant.display_name, app_name)
    if not user.personal:
        home = directory.tenant_of(user)
        if not authority.admits_work:
            where = authority.tenant.tenant_id if authority.tenant else authority.name
            raise OAuthError(
                400,
                "invalid_grant",
                50034,
                f"The user account {user.address} does not exist in the {where} "
                "directory. To sign into this application, the account must be "
                "added to the directory.",
            )
        if authority.tenant is not None and authority.tenant is not home:
            idp = f"https://sts.windows.net/{home.tenant_id}/"
            raise _stranger(user, idp, authority.tenant.display_name, app_name)
        if not app.sign_in_audience.allows_work:
            raise OAuthError(
                400,
                "invalid_request",
                9002331,
                f"Application {app_name} is configured for use by Microsoft Account "
                "users only. Please use the /consumers endpoint to serve this "
                "request.",
            )
    if not user.account_enabled:
        raise user_disabled()
    if user.conditional_access_blocked:
        raise OAuthError(
            400,
            "invalid_grant",
            53003,
            "Access has been blocked by Conditional Access policies. The access "
            "policy does not allow token issuance.",
        )


def admin_consent_required() -> OAuthError:
    """Return AADSTS90094 (AdminConsentRequired; `error` chosen, see above)."""
    return OAuthError(400, "invalid_grant", 90094, "Administrator consent is required.")


def authority_users(directory: Directory, authority: Authority) -> list[Mailbox]:
    """Return the accounts the sign-in page offers for an authority.

    Work accounts of every tenant are offered wherever work accounts sign in
    (a person may type any name; a stranger then meets AADSTS50020); shared
    mailboxes are not people and are left out.
    """
    return [
        m
        for m in directory.mailboxes
        if not m.shared
        and (
            (m.personal and authority.admits_personal)
            or (not m.personal and authority.admits_work)
        )
    ]


# Device codes ------------------------------------------------------------------


class FlowStatus(StrEnum):
    """Where a device code flow stands."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"
    FAILED = "failed"
    REDEEMED = "redeemed"


@dataclass
class DeviceFlow:
    """One device authorization request, from ``/devicecode`` to the token."""

    device_code: str
    user_code: str
    app: App
    authority: Authority
    scopes: ScopeRequest
    expires_at: float
    interval: int
    status: FlowStatus = FlowStatus.PENDING
    user: Mailbox | None = None
    #: The sign-in error the next poll answers (status FAILED).
    error: OAuthError | None = None
    #: ``time.monotonic()`` of the last poll (None before the first one).
    last_poll: float | None = None

    def expired(self, now: float | None = None) -> bool:
        """Return True once the codes have expired."""
        return (time.time() if now is None else now) >= self.expires_at

    def to_json(self) -> dict[str, object]:
        """Describe the flow for ``GET /_emulator/devicelogin``."""
        return {
            "user_code": self.user_code,
            "client_id": self.app.client_id,
            "authority": self.authority.name,
            "scope": self.scopes.response_scope(self.app),
            "status": self.status.value,
            "expired": self.expired(),
            "user": self.user.address if self.user else None,
        }


def authorization_pending() -> OAuthError:
    """Return AADSTS70016: keep polling."""
    return OAuthError(
        400,
        "authorization_pending",
        70016,
        "OAuth 2.0 device flow error. Authorization is pending. Continue polling.",
    )


def slow_down(interval: int) -> OAuthError:
    """Return RFC 8628's ``slow_down`` (Entra documents no number for it)."""
    return OAuthError(
        400,
        "slow_down",
        None,
        f"The client polled sooner than the interval. Wait at least {interval} "
        "seconds between requests (RFC 8628 section 3.5).",
    )


def authorization_declined(error: str = "authorization_declined") -> OAuthError:
    """Return the person's refusal (AADSTS65004, UserDeclinedConsent).

    ``v2-oauth2-device-code.md`` documents ``authorization_declined``; RFC 8628
    section 3.5 calls it ``access_denied`` (setting ``device_decline_error``).
    """
    return OAuthError(
        400,
        error,
        65004,
        "The user declined to consent to access the app.",
    )


def expired_token() -> OAuthError:
    """Return AADSTS70019: the device code expired."""
    return OAuthError(
        400,
        "expired_token",
        70019,
        "Verification code expired. Have the user retry the sign-in.",
    )


def bad_verification_code() -> OAuthError:
    """Return AADSTS70018: the device code is unknown."""
    return OAuthError(
        400,
        "bad_verification_code",
        70018,
        "The provided value for the input parameter 'device_code' is not valid.",
    )


# Refresh tokens ----------------------------------------------------------------


class GrantState(StrEnum):
    """Whether a refresh token still works."""

    ACTIVE = "active"
    USED = "used"
    REVOKED = "revoked"
    EXPIRED = "expired"


class RevokeReason(StrEnum):
    """Why the refresh tokens of a user were revoked."""

    PASSWORD_CHANGED = "password_changed"  # noqa: S105 - a reason, not a password
    CONSENT_REVOKED = "consent_revoked"


@dataclass
class RefreshGrant:
    """One refresh token and what it grants."""

    token: str
    user: Mailbox
    app: App
    #: The scope request the sign-in granted (used when a refresh names none).
    scopes: ScopeRequest
    #: When it was issued, on the emulator's clock.
    issued_at: datetime
    state: GrantState = GrantState.ACTIVE
    reason: RevokeReason | None = None
    revoked_at: datetime | None = None
    #: A refusal that stays (a refresh fault hit this token).
    refusal: OAuthError | None = None

    def failure(
        self, client_id: str, lifetime: float, now: datetime
    ) -> OAuthError | None:
        """Return why the token cannot be redeemed ``now``, or None."""
        invalid = OAuthError(
            400,
            "invalid_grant",
            70000,
            "The provided value for the 'refresh_token' is not valid. (The emulator "
            "replaces a refresh token on every use: store the new one.)",
        )
        if self.app.client_id.casefold() != client_id.casefold():
            return OAuthError(
                400,
                "invalid_grant",
                70000,
                "The refresh token was issued to a different client.",
            )
        if self.state is GrantState.USED:
            return invalid
        if self.refusal is not None:
            return self.refusal
        inactive = (now - self.issued_at).total_seconds()
        if self.state is GrantState.ACTIVE and inactive > lifetime:
            self.state = GrantState.EXPIRED
        if self.state is GrantState.EXPIRED:
            return OAuthError(
                400,
                "invalid_grant",
                70008,
                "The provided authorization code or refresh token has expired due "
                "to inactivity. Send a new interactive authorization request for "
                "this user and resource.",
            )
        if self.state is GrantState.REVOKED:
            return self._revoked()
        return None

    def _revoked(self) -> OAuthError:
        if self.reason is RevokeReason.CONSENT_REVOKED:
            return consent_missing(self.app)
        revoked = iso(self.revoked_at or self.issued_at)
        return OAuthError(
            400,
            "invalid_grant",
            50173,
            "The provided grant has expired due to it being revoked, a fresh auth "
            "token is needed. The user might have changed or reset their password. "
            f"The grant was issued on '{iso(self.issued_at)}' and the "
            f"TokensValidFrom date (before which tokens are not valid) for this user "
            f"is '{revoked}'.",
        )


def _duration(seconds: float) -> str:
    """Format a duration as .NET's TimeSpan does (``90.00:00:00``), as Entra shows it."""
    whole = max(0, int(seconds))
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{days}.{hours:02d}:{minutes:02d}:{secs:02d}"


def refresh_refusal(
    kind: FaultKind, grant: RefreshGrant, now: datetime, error: str = ""
) -> OAuthError:
    """Return the refusal a refresh fault answers (see `faults` and above)."""
    resource = grant.scopes.resource
    issued = iso(grant.issued_at)
    age = (now - grant.issued_at).total_seconds()
    extra: dict[str, str] = {}
    if kind is FaultKind.MFA_REQUIRED:
        default, code = "interaction_required", 50076
        text = (
            "Due to a configuration change made by your administrator, or because "
            "you moved to a new location, you must use multi-factor "
            f"authentication to access '{resource}'."
        )
    elif kind is FaultKind.MFA_REGISTRATION_REQUIRED:
        default, code = "interaction_required", 50079
        text = (
            "Due to a configuration change made by your administrator, or because "
            "you moved to a new location, you must enroll in multi-factor "
            f"authentication to access '{resource}'."
        )
    elif kind is FaultKind.SIGN_IN_FREQUENCY:
        default, code = "invalid_grant", 70043
        text = (
            "The refresh token has expired or is invalid due to sign-in frequency "
            f"checks by conditional access. The token was issued on {issued} and "
            f"the maximum allowed lifetime for this request is {int(age)}."
        )
        extra["suberror"] = "token_expired"
    elif kind is FaultKind.REFRESH_TOKEN_INACTIVE:
        default, code = "invalid_grant", 700082
        text = (
            "The refresh token has expired due to inactivity. The token was issued "
            f"on {issued} and was inactive for {_duration(age)}."
        )
    elif kind is FaultKind.USER_DISABLED:
        return user_disabled() if not error else _with_error(user_disabled(), error)
    elif kind is FaultKind.ADMIN_CONSENT_REQUIRED:
        refusal = admin_consent_required()
        return refusal if not error else _with_error(refusal, error)
    else:
        raise ValueError(f"{kind} is not a refresh refusal")
    return OAuthError(400, error or default, code, text, extra=extra)


def _with_error(refusal: OAuthError, error: str) -> OAuthError:
    return OAuthError(
        refusal.status, error, refusal.aadsts, refusal.message, extra=refusal.extra
    )


def consent_missing(app: App) -> OAuthError:
    """Return AADSTS65001 (DelegationDoesNotExist)."""
    return OAuthError(
        400,
        "invalid_grant",
        65001,
        f"The user or administrator has not consented to use the application with "
        f"ID '{app.client_id}' named '{app.display_name}'. Send an interactive "
        "authorization request for this user and resource.",
    )


class SignInStore:
    """Device flows, consents and refresh tokens of signed-in users."""

    def __init__(self, clock: Clock | None = None) -> None:
        """Start with nobody signed in; ``clock`` dates refresh tokens."""
        #: The clock poll intervals are measured with (replaceable in tests).
        # Looked up when called: a test that moves time moves it too.
        self.poll_clock: Callable[[], float] = lambda: time.monotonic()  # noqa: PLW0108
        self.clock = clock or Clock()
        self.flows: dict[str, DeviceFlow] = {}
        self.grants: dict[str, RefreshGrant] = {}
        self._consents: dict[tuple[str, str], set[str]] = {}

    def new_flow(
        self,
        app: App,
        authority: Authority,
        scopes: ScopeRequest,
        *,
        lifetime: int,
        interval: int,
    ) -> DeviceFlow:
        """Start a device code flow."""
        pending = {flow.user_code for flow in self.flows.values()}
        while True:
            user_code = "".join(
                secrets.choice(_USER_CODE_ALPHABET) for _ in range(USER_CODE_LENGTH)
            )
            if user_code not in pending:
                break
        flow = DeviceFlow(
            device_code=f"DAQABIQEAAA{secrets.token_urlsafe(96)}",
            user_code=user_code,
            app=app,
            authority=authority,
            scopes=scopes,
            expires_at=time.time() + lifetime,
            interval=interval,
        )
        self.flows[flow.device_code] = flow
        return flow

    def flow_by_user_code(self, user_code: str) -> DeviceFlow | None:
        """Return the newest flow with this user code (spaces and case ignored)."""
        wanted = "".join(user_code.split()).replace("-", "").upper()
        found = [flow for flow in self.flows.values() if flow.user_code == wanted]
        return found[-1] if found else None

    def consent(self, user: Mailbox, app: App, permissions: Sequence[str]) -> None:
        """Record that the user consented to these permissions for the app."""
        key = (user.token_oid, app.client_id.casefold())
        self._consents.setdefault(key, set()).update(p.casefold() for p in permissions)

    def consented(self, user: Mailbox, app: App) -> set[str]:
        """Return the permissions (lower case) the user consented to for the app."""
        return set(self._consents.get((user.token_oid, app.client_id.casefold()), ()))

    def issue_refresh_token(
        self, user: Mailbox, app: App, scopes: ScopeRequest
    ) -> RefreshGrant:
        """Issue a new refresh token."""
        grant = RefreshGrant(
            f"1.AXo{secrets.token_urlsafe(160)}",
            user,
            app,
            scopes,
            issued_at=self.clock.now(),
        )
        self.grants[grant.token] = grant
        return grant

    def user_grants(self, user: Mailbox) -> list[RefreshGrant]:
        """Return the active refresh tokens of a user."""
        return [
            g
            for g in self.grants.values()
            if g.user is user and g.state is GrantState.ACTIVE
        ]

    def revoke(self, user: Mailbox, reason: RevokeReason) -> int:
        """Revoke the user's refresh tokens; return how many were active."""
        grants = self.user_grants(user)
        now = self.clock.now()
        for grant in grants:
            grant.state, grant.reason, grant.revoked_at = (
                GrantState.REVOKED,
                reason,
                now,
            )
        if reason is RevokeReason.CONSENT_REVOKED:
            for key in [k for k in self._consents if k[0] == user.token_oid]:
                del self._consents[key]
        return len(grants)

    def expire(self, user: Mailbox) -> int:
        """Make the user's refresh tokens expired; return how many were active."""
        grants = self.user_grants(user)
        for grant in grants:
            grant.state = GrantState.EXPIRED
        return len(grants)

    def reset(self) -> None:
        """Forget every flow, consent and refresh token."""
        self.flows.clear()
        self.grants.clear()
        self._consents.clear()
