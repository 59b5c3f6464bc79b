"""The emulated directory: a work tenant, the consumer tenant, apps and users.

The work tenant (contoso) holds the app registrations and the work users; the
consumer tenant (``9188040d-6c67-4c5b-b112-36a304b66dad``, authority name
``consumers``) holds personal Microsoft accounts (Outlook.com, Hotmail).

A JSON file can replace any top-level part of the defaults::

    {
      "tenant": {"id": "<guid>", "domains": ["contoso.com"], "max_message_size": 36700160,
                 "display_name": "Contoso"},
      "apps": [{"client_id": "<guid>", "display_name": "Home Assistant o365",
                "roles": ["Mail.Send"],
                "secrets": [{"value": "...", "display_name": "HA", "key_id": "<guid>",
                             "starts": "<ISO time>", "expires": "<ISO time>"}],
                "certificates": [{"pem": "-----BEGIN CERTIFICATE-----...",
                                  "display_name": "CN=ha", "expires": "<ISO time>"}],
                "public_client": false, "sign_in_audience": "AzureADMyOrg",
                "delegated_permissions": ["Mail.Send", "User.Read", "offline_access"]}],
      "mailboxes": [{"address": "alerts@contoso.com", "id": "<guid>",
                     "display_name": "Home Alerts", "rest_enabled": true,
                     "account_enabled": true},
                    {"address": "alerts-shared@contoso.com", "shared": true,
                     "send_as": ["ops@contoso.com"], "send_on_behalf": [],
                     "full_access": ["ops@contoso.com"]},
                    {"address": "lee@woodgrovebank.com", "tenant_id": "<other guid>"},
                    {"address": "casey@outlook.com", "id": "1d0fddbd1dab94fe",
                     "display_name": "Casey", "personal": true,
                     "conditional_access_blocked": false}],
      "other_tenants": [{"id": "<other guid>", "domains": ["woodgrovebank.com"],
                         "display_name": "Woodgrove Bank", "user_consent_allowed": true}]
    }

An app may give ``secret``/``secret_expires`` instead of ``secrets`` (one secret).
A certificate's ``expires`` overrides the end date read from the certificate
(the portal takes it from the certificate; the override makes "expires soon"
testable). ``mail`` may be given for a user; work users default to their
address, personal users to none (Graph answers ``mail: null`` for them).

A personal account's sign-in name (``user_principal_name``) need not be an
Outlook.com address: a Microsoft account can be made with any address (say
``sam@gmail.com``); its mail then goes out from the Outlook.com alias the
account was given (``address``). ``/me`` answers ``mail: null`` and the
sign-in name, so a client cannot take the UPN for the mailbox.

Shared mailboxes (Exchange Online) list who may use them: ``full_access``
(open the mailbox: needed to send through ``/users/{shared}``), ``send_as``
and ``send_on_behalf`` (put it in ``from``), as
``concepts/outlook-send-mail-from-other-user.md`` describes. The default one
has sign-in blocked (``account_enabled`` false): "Always block sign-in for the
shared mailbox account and keep it blocked" (Microsoft 365 admin docs, "About
shared mailboxes").

Users of another work tenant (``tenant_id`` naming one of ``other_tenants``)
sign in at their own tenant or ``organizations``/``common``; at this tenant
they get AADSTS50020. A tenant may forbid user consent
(``user_consent_allowed`` false): its users then meet AADSTS90094.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
import json
from pathlib import Path
from typing import Any
import uuid

from .client_certs import AppCertificate
from .common import utc_now

DEFAULT_TENANT_ID = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
DEFAULT_DOMAINS = ("contoso.onmicrosoft.com", "contoso.com")
DEFAULT_CLIENT_ID = "0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11"
DEFAULT_CLIENT_SECRET = "emulator-secret?@/%+#&= value"  # noqa: S105 - a published test value
DEFAULT_ROLES = ("Mail.Send", "Mail.ReadWrite")
#: The app registration for signed-in accounts (device code flow, no secret).
DEFAULT_PUBLIC_CLIENT_ID = "7c3e9b52-8d14-4f6a-b0c2-5e1d9a4f3b27"
DEFAULT_DELEGATED_PERMISSIONS = (
    "Mail.Send",
    "User.Read",
    "offline_access",
    "Mail.ReadWrite",
)
#: The tenant id (``tid``) of every personal Microsoft account.
CONSUMER_TENANT_ID = "9188040d-6c67-4c5b-b112-36a304b66dad"
#: Exchange Online's default tenant message size limit (35 MB).
DEFAULT_MAX_MESSAGE_SIZE = 35 * 1024 * 1024
#: Outlook.com: 25 MB per message (decimal megabytes: the stricter reading).
CONSUMER_MAX_MESSAGE_SIZE = 25_000_000
#: Another work tenant, whose users are strangers to contoso (AADSTS50020).
OTHER_TENANT_ID = "2c8f4e1a-7b3d-4f6e-9a0c-5d1e3b7f9a24"
OTHER_DOMAINS = ("woodgrovebank.onmicrosoft.com", "woodgrovebank.com")
#: A work user who may use the shared mailbox (send as, full access).
DEFAULT_WORK_USER = "ops@contoso.com"
SHARED_MAILBOX = "alerts-shared@contoso.com"
#: A Microsoft account made with a Gmail address, and its Outlook.com alias.
NON_OUTLOOK_PERSONAL_UPN = "sam@gmail.com"
NON_OUTLOOK_PERSONAL_ALIAS = "outlook_5F1A2B3C4D@outlook.com"


class SignInAudience(StrEnum):
    """Supported account types of an app registration (``signInAudience``)."""

    MY_ORG = "AzureADMyOrg"
    MULTIPLE_ORGS = "AzureADMultipleOrgs"
    ORGS_AND_PERSONAL = "AzureADandPersonalMicrosoftAccount"
    PERSONAL = "PersonalMicrosoftAccount"

    @property
    def allows_work(self) -> bool:
        """Return True if work or school accounts may sign in."""
        return self is not SignInAudience.PERSONAL

    @property
    def allows_personal(self) -> bool:
        """Return True if personal Microsoft accounts may sign in."""
        return self in {SignInAudience.ORGS_AND_PERSONAL, SignInAudience.PERSONAL}


@dataclass
class ClientSecret:
    """A client secret: its value, key id, name and validity (as the portal shows)."""

    value: str
    expires_at: datetime | None = None
    display_name: str = ""
    key_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    starts_at: datetime | None = field(default_factory=utc_now)

    def expired(self, now: datetime) -> bool:
        """Return True once the secret has expired."""
        return self.expires_at is not None and self.expires_at <= now

    @property
    def hint(self) -> str:
        """Return the first three characters, as ``passwordCredential.hint``."""
        return self.value[:3]


@dataclass
class App:
    """An app registration: permissions granted to it and how it may sign in."""

    client_id: str
    secrets: list[ClientSecret]
    roles: list[str]
    display_name: str = "Home Assistant o365"
    #: Object id of the app's service principal (the app-only token's ``oid``).
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: Object id of the application object (``GET /applications/{id}``).
    application_object_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    #: Authentication > "Allow public client flows" (``isFallbackPublicClient``).
    public_client: bool = False
    sign_in_audience: SignInAudience = SignInAudience.MY_ORG
    #: Delegated permissions listed in the registration (Microsoft Graph).
    delegated_permissions: list[str] = field(default_factory=list)
    certificates: list[AppCertificate] = field(default_factory=list)

    def __post_init__(self) -> None:
        """Accept the audience as a string."""
        self.sign_in_audience = SignInAudience(self.sign_in_audience)


@dataclass
class Mailbox:
    """A user with a mailbox: a work user (Exchange Online) or a personal account.

    ``rest_enabled`` False is a user without an Exchange Online mailbox.
    ``object_id`` is the Graph ``id``: a GUID for work users, 16 hex digits
    for personal accounts (their token ``oid`` is that number as a GUID).
    """

    address: str
    object_id: str
    display_name: str
    user_principal_name: str = ""
    rest_enabled: bool = True
    personal: bool = False
    #: The ``mail`` property; work users default to their address.
    mail: str | None = None
    #: Conditional Access blocks token issuance for this user (AADSTS53003).
    conditional_access_blocked: bool = False
    #: False: the account is disabled (AADSTS50057 at sign-in and refresh).
    account_enabled: bool = True
    #: An Exchange shared mailbox (no sign-in of its own).
    shared: bool = False
    #: Users (address, UPN or id) with Send As on this mailbox.
    send_as: list[str] = field(default_factory=list)
    #: Users with Send on Behalf on this mailbox.
    send_on_behalf: list[str] = field(default_factory=list)
    #: Users with Full Access to this mailbox.
    full_access: list[str] = field(default_factory=list)
    #: The work tenant of the user, when it is not the directory's own.
    tenant_id: str | None = None

    def __post_init__(self) -> None:
        """Default the user principal name (and a work user's mail) to the address."""
        self.user_principal_name = self.user_principal_name or self.address
        if self.mail is None and not self.personal:
            self.mail = self.address

    @property
    def own_addresses(self) -> frozenset[str]:
        """Return the addresses (lower case) mail from this mailbox may carry.

        A work user's UPN is an address of the mailbox; a personal account's
        sign-in name is not when it is not an Outlook.com address (see the
        module docstring), so only its mailbox address counts.
        """
        names = {self.address.casefold()}
        if not self.personal:
            names.add(self.user_principal_name.casefold())
        return frozenset(names)

    def granted(self, rights: list[str], user: Mailbox) -> bool:
        """Return True if ``user`` is named in one of this mailbox's rights lists."""
        return any(user.matches(name) for name in rights)

    @property
    def token_oid(self) -> str:
        """Return the ``oid`` claim of the user's tokens (and ``client_info.uid``)."""
        if self.personal and len(self.object_id) == 16:
            puid = self.object_id.lower()
            return f"00000000-0000-0000-{puid[:4]}-{puid[4:]}"
        return self.object_id

    def matches(self, user: str) -> bool:
        """Return True if ``user`` is this mailbox's address, UPN or object id."""
        wanted = user.casefold()
        return wanted in {
            self.address.casefold(),
            self.user_principal_name.casefold(),
            self.object_id.casefold(),
            self.token_oid.casefold(),
        }


@dataclass
class Tenant:
    """An Entra tenant: its id, verified domains and message size limit."""

    tenant_id: str
    domains: list[str]
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    display_name: str = "Contoso"
    #: Users may consent to apps themselves (Entra's user consent setting);
    #: False: only an admin may (AADSTS90094 for users).
    user_consent_allowed: bool = True

    def matches(self, name: str) -> bool:
        """Return True if ``name`` is the tenant id or one of its domains."""
        wanted = name.casefold()
        return wanted == self.tenant_id.casefold() or any(
            wanted == domain.casefold() for domain in self.domains
        )


class AuthorityKind(StrEnum):
    """What the first path segment of a sign-in URL names."""

    TENANT = "tenant"
    CONSUMERS = "consumers"
    ORGANIZATIONS = "organizations"
    COMMON = "common"


@dataclass(frozen=True, slots=True)
class Authority:
    """A sign-in authority: a tenant, ``consumers``, ``organizations`` or ``common``.

    ``name`` is the path segment as used in endpoint URLs (the tenant GUID for
    a tenant named by a domain, as Entra's discovery documents do).
    """

    kind: AuthorityKind
    name: str
    tenant: Tenant | None

    @property
    def admits_work(self) -> bool:
        """Return True if work accounts sign in here."""
        return self.kind is not AuthorityKind.CONSUMERS

    @property
    def admits_personal(self) -> bool:
        """Return True if personal accounts sign in here."""
        return self.kind in {AuthorityKind.CONSUMERS, AuthorityKind.COMMON}


@dataclass
class Directory:
    """Everything the emulator knows about identities."""

    tenant: Tenant
    apps: list[App]
    mailboxes: list[Mailbox]
    consumer_tenant: Tenant = field(
        default_factory=lambda: Tenant(
            CONSUMER_TENANT_ID, [], CONSUMER_MAX_MESSAGE_SIZE, "Microsoft Accounts"
        )
    )
    #: Other work tenants (their users are guests nowhere here).
    other_tenants: list[Tenant] = field(default_factory=list)

    @classmethod
    def default(cls) -> Directory:
        """Return the built-in directory: contoso, woodgrove, personal accounts."""
        return cls(
            tenant=Tenant(DEFAULT_TENANT_ID, list(DEFAULT_DOMAINS)),
            other_tenants=[
                Tenant(
                    OTHER_TENANT_ID, list(OTHER_DOMAINS), display_name="Woodgrove Bank"
                )
            ],
            apps=[
                App(
                    DEFAULT_CLIENT_ID,
                    [ClientSecret(DEFAULT_CLIENT_SECRET, display_name="emulator")],
                    list(DEFAULT_ROLES),
                    object_id="5e0c8f7a-1d2b-4c3e-9f4a-6b7c8d9e0f1a",
                    application_object_id="a1c2e3f4-5b6d-4e7f-8091-a2b3c4d5e6f7",
                ),
                App(
                    DEFAULT_PUBLIC_CLIENT_ID,
                    [],
                    [],
                    display_name="Home Assistant o365 (sign-in)",
                    object_id="2d4f6a8c-0e1b-4d3f-a5c7-e9f1b3d5f7a9",
                    application_object_id="b2d4f6a8-c0e1-4b3d-95f7-a9c1e3f5b7d9",
                    public_client=True,
                    sign_in_audience=SignInAudience.ORGS_AND_PERSONAL,
                    delegated_permissions=list(DEFAULT_DELEGATED_PERMISSIONS),
                ),
            ],
            mailboxes=[
                Mailbox(
                    "alerts@contoso.com",
                    "3f2d3a9e-6c1b-4f7e-8d2a-1b2c3d4e5f60",
                    "Home Alerts",
                ),
                Mailbox(
                    "ops@contoso.com", "b8e1f0a2-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "Ops"
                ),
                Mailbox(
                    "o'brien+alerts@contoso.com",
                    "d1e2f3a4-b5c6-4d7e-8f90-a1b2c3d4e5f6",
                    "Siobhan O'Brien",
                ),
                Mailbox(
                    "nolicense@contoso.com",
                    "c0ffee00-1111-4222-8333-444455556666",
                    "No Licence",
                    rest_enabled=False,
                ),
                Mailbox(
                    SHARED_MAILBOX,
                    "e4f5a6b7-c8d9-4e0f-9a1b-2c3d4e5f6a7b",
                    "Alerts (shared)",
                    account_enabled=False,
                    shared=True,
                    send_as=["ops@contoso.com", "alerts@contoso.com"],
                    full_access=["ops@contoso.com", "alerts@contoso.com"],
                ),
                Mailbox(
                    "lee@woodgrovebank.com",
                    "7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d",
                    "Lee (Woodgrove)",
                    tenant_id=OTHER_TENANT_ID,
                ),
                Mailbox(
                    "casey@outlook.com", "1d0fddbd1dab94fe", "Casey", personal=True
                ),
                Mailbox(
                    "jamie@hotmail.com", "6a2b9c4d8e1f0a37", "Jamie", personal=True
                ),
                Mailbox(
                    NON_OUTLOOK_PERSONAL_ALIAS,
                    "5f1a2b3c4d0e9f18",
                    "Sam",
                    NON_OUTLOOK_PERSONAL_UPN,
                    personal=True,
                ),
            ],
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Directory:
        """Return the defaults with the parts present in ``data`` replaced."""
        unknown = set(data) - {"tenant", "apps", "mailboxes", "other_tenants"}
        if unknown:
            raise ValueError(f"unknown directory keys: {', '.join(sorted(unknown))}")
        directory = cls.default()
        try:
            if "tenant" in data:
                directory.tenant = _tenant(_mapping(data["tenant"], "tenant"))
            if "apps" in data:
                directory.apps = [_app(_mapping(a, "apps[]")) for a in data["apps"]]
            if "other_tenants" in data:
                directory.other_tenants = [
                    _tenant(_mapping(t, "other_tenants[]"))
                    for t in data["other_tenants"]
                ]
            if "mailboxes" in data:
                directory.mailboxes = [
                    _mailbox(_mapping(m, "mailboxes[]")) for m in data["mailboxes"]
                ]
        except KeyError as err:
            raise ValueError(f"directory: missing key {err}") from err
        except TypeError as err:
            raise ValueError(f"directory: {err}") from err
        return directory

    @classmethod
    def load(cls, path: Path) -> Directory:
        """Read a directory file (see the module docstring)."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{path}: not valid JSON: {err}") from err
        return cls.from_json(_mapping(data, str(path)))

    @property
    def work_tenants(self) -> list[Tenant]:
        """Return the directory's own tenant and the other work tenants."""
        return [self.tenant, *self.other_tenants]

    @property
    def tenant_ids(self) -> frozenset[str]:
        """Return the ids of every tenant, the consumer one too (lower case)."""
        return frozenset(
            {
                *(tenant.tenant_id.casefold() for tenant in self.work_tenants),
                self.consumer_tenant.tenant_id.casefold(),
            }
        )

    def find_tenant(self, name: str) -> Tenant | None:
        """Return the work tenant whose id or domain ``name`` is."""
        return next((t for t in self.work_tenants if t.matches(name)), None)

    def authority(self, name: str) -> Authority | None:
        """Return the sign-in authority a URL's first path segment names."""
        folded = name.casefold()
        if folded in {"common", "organizations"}:
            return Authority(AuthorityKind(folded), folded, None)
        if folded == "consumers":
            return Authority(AuthorityKind.CONSUMERS, folded, self.consumer_tenant)
        if folded == self.consumer_tenant.tenant_id.casefold():
            return Authority(
                AuthorityKind.CONSUMERS,
                self.consumer_tenant.tenant_id,
                self.consumer_tenant,
            )
        tenant = self.find_tenant(name)
        if tenant is None:
            return None
        return Authority(AuthorityKind.TENANT, tenant.tenant_id, tenant)

    def tenant_of(self, mailbox: Mailbox) -> Tenant:
        """Return the tenant a user belongs to."""
        if mailbox.personal:
            return self.consumer_tenant
        if mailbox.tenant_id is not None:
            return self.find_tenant(mailbox.tenant_id) or self.tenant
        return self.tenant

    def find_app(self, client_id: str) -> App | None:
        """Return the app registration with this client id."""
        wanted = client_id.casefold()
        return next((a for a in self.apps if a.client_id.casefold() == wanted), None)

    def find_app_by_object_id(self, object_id: str) -> App | None:
        """Return the app registration whose application object has this id."""
        wanted = object_id.casefold()
        return next(
            (a for a in self.apps if a.application_object_id.casefold() == wanted),
            None,
        )

    def find_mailbox(self, user: str, tenant_id: str | None = None) -> Mailbox | None:
        """Return the user named by address, UPN or object id (in one tenant)."""
        return next(
            (
                m
                for m in self.mailboxes
                if m.matches(user)
                and (
                    tenant_id is None
                    or self.tenant_of(m).tenant_id.casefold() == tenant_id.casefold()
                )
            ),
            None,
        )

    def app(self, client_id: str | None = None) -> App:
        """Return an app registration (the first one by default)."""
        found = self.apps[0] if client_id is None and self.apps else None
        found = found or self.find_app(client_id or "")
        if found is None:
            raise KeyError(f"no app registration {client_id!r}")
        return found

    def user(self, user: str | Mailbox) -> Mailbox:
        """Return a user by address, UPN or id (or the mailbox itself)."""
        if isinstance(user, Mailbox):
            return user
        found = self.find_mailbox(user)
        if found is None:
            raise KeyError(f"no user {user!r}")
        return found


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"{where}: expected a JSON object")  # noqa: TRY004
    return value


def _time(value: object, where: str) -> datetime | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError as err:
        raise ValueError(f"{where}: not an ISO 8601 time: {value!r}") from err
    if moment.tzinfo is None:
        raise ValueError(f"{where}: the time needs a time zone: {value!r}")
    return moment


def _tenant(data: Mapping[str, Any]) -> Tenant:
    return Tenant(
        str(data["id"]),
        [str(domain) for domain in data.get("domains", [])],
        int(data.get("max_message_size", DEFAULT_MAX_MESSAGE_SIZE)),
        str(data.get("display_name", "Contoso")),
        bool(data.get("user_consent_allowed", True)),
    )


def _secret(item: Mapping[str, Any]) -> ClientSecret:
    secret = ClientSecret(
        str(item["value"]),
        _time(item.get("expires"), "expires"),
        str(item.get("display_name", "")),
    )
    if "starts" in item:
        secret.starts_at = _time(item["starts"], "starts")
    if "key_id" in item:
        secret.key_id = str(item["key_id"])
    return secret


def _certificate(item: Mapping[str, Any]) -> AppCertificate:
    certificate = AppCertificate.from_pem(
        str(item["pem"]), display_name=item.get("display_name")
    )
    if "key_id" in item:
        certificate.key_id = str(item["key_id"])
    expires = _time(item.get("expires"), "expires")
    if expires is not None:
        certificate.expires_at = expires
    return certificate


def _app(data: Mapping[str, Any]) -> App:
    if "secrets" in data:
        secrets = [_secret(_mapping(item, "secrets[]")) for item in data["secrets"]]
    elif "secret" in data:
        secrets = [
            ClientSecret(
                str(data["secret"]),
                _time(data.get("secret_expires"), "secret_expires"),
            )
        ]
    else:
        secrets = []
    try:
        audience = SignInAudience(data.get("sign_in_audience", SignInAudience.MY_ORG))
    except ValueError:
        choices = ", ".join(a.value for a in SignInAudience)
        raise ValueError(f"apps[].sign_in_audience: use one of {choices}") from None
    app = App(
        str(data["client_id"]),
        secrets,
        [str(role) for role in data.get("roles", DEFAULT_ROLES)],
        public_client=bool(data.get("public_client", False)),
        sign_in_audience=audience,
        delegated_permissions=[
            str(scope) for scope in data.get("delegated_permissions", [])
        ],
        certificates=[
            _certificate(_mapping(item, "certificates[]"))
            for item in data.get("certificates", [])
        ],
    )
    app.display_name = str(data.get("display_name", app.display_name))
    app.object_id = str(data.get("object_id", app.object_id))
    app.application_object_id = str(
        data.get("application_object_id", app.application_object_id)
    )
    return app


def _mailbox(data: Mapping[str, Any]) -> Mailbox:
    address = str(data["address"])
    personal = bool(data.get("personal", False))
    default_id = uuid.uuid4().hex[:16] if personal else str(uuid.uuid4())
    mail = data.get("mail")
    return Mailbox(
        address,
        str(data.get("id") or default_id),
        str(data.get("display_name", address)),
        str(data.get("user_principal_name", "")),
        bool(data.get("rest_enabled", True)),
        personal=personal,
        mail=None if mail is None else str(mail),
        conditional_access_blocked=bool(data.get("conditional_access_blocked", False)),
        account_enabled=bool(data.get("account_enabled", True)),
        shared=bool(data.get("shared", False)),
        send_as=[str(user) for user in data.get("send_as", [])],
        send_on_behalf=[str(user) for user in data.get("send_on_behalf", [])],
        full_access=[str(user) for user in data.get("full_access", [])],
        tenant_id=None if data.get("tenant_id") is None else str(data["tenant_id"]),
    )
