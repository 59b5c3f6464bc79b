"""The emulated directory: one tenant, its app registrations and its mailboxes.

A JSON file can replace any top-level part of the defaults::

    {
      "tenant": {"id": "<guid>", "domains": ["contoso.com"], "max_message_size": 36700160},
      "apps": [{"client_id": "<guid>", "secret": "value", "roles": ["Mail.Send"],
                "secret_expires": "2030-01-01T00:00:00Z"}],
      "mailboxes": [{"address": "alerts@contoso.com", "id": "<guid>",
                     "display_name": "Home Alerts", "rest_enabled": true}]
    }

An app may list ``"secrets": [{"value": "...", "expires": "<ISO time>"}]`` instead
of ``secret``/``secret_expires`` (several secrets, as during a rotation).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
import json
from pathlib import Path
from typing import Any
import uuid

DEFAULT_TENANT_ID = "6babcaad-604b-40ac-a9d7-9fd97c0b779f"
DEFAULT_DOMAINS = ("contoso.onmicrosoft.com", "contoso.com")
DEFAULT_CLIENT_ID = "0f0c0f8e-2b7a-4d0e-9a51-4d0c3a1e7b11"
DEFAULT_CLIENT_SECRET = "emulator-secret?@/%+#&= value"  # noqa: S105 - a published test value
DEFAULT_ROLES = ("Mail.Send", "Mail.ReadWrite")
#: Exchange Online's default tenant message size limit (35 MB).
DEFAULT_MAX_MESSAGE_SIZE = 35 * 1024 * 1024


@dataclass
class ClientSecret:
    """A client secret value and when it stops working."""

    value: str
    expires_at: datetime | None = None

    def expired(self, now: datetime) -> bool:
        """Return True once the secret has expired."""
        return self.expires_at is not None and self.expires_at <= now


@dataclass
class App:
    """An app registration and the application permissions granted to it."""

    client_id: str
    secrets: list[ClientSecret]
    roles: list[str]
    display_name: str = "Home Assistant o365"
    #: Object id of the app's service principal (the token's ``oid``).
    object_id: str = field(default_factory=lambda: str(uuid.uuid4()))


@dataclass
class Mailbox:
    """A user with an Exchange Online mailbox (or without one: ``rest_enabled``)."""

    address: str
    object_id: str
    display_name: str
    user_principal_name: str = ""
    rest_enabled: bool = True

    def __post_init__(self) -> None:
        """Default the user principal name to the address."""
        self.user_principal_name = self.user_principal_name or self.address

    def matches(self, user: str) -> bool:
        """Return True if ``user`` is this mailbox's address, UPN or object id."""
        wanted = user.casefold()
        return wanted in {
            self.address.casefold(),
            self.user_principal_name.casefold(),
            self.object_id.casefold(),
        }


@dataclass
class Tenant:
    """The Entra tenant: its id, verified domains and message size limit."""

    tenant_id: str
    domains: list[str]
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE

    def matches(self, name: str) -> bool:
        """Return True if ``name`` is the tenant id or one of its domains."""
        wanted = name.casefold()
        return wanted == self.tenant_id.casefold() or any(
            wanted == domain.casefold() for domain in self.domains
        )


@dataclass
class Directory:
    """Everything the emulator knows about identities."""

    tenant: Tenant
    apps: list[App]
    mailboxes: list[Mailbox]

    @classmethod
    def default(cls) -> Directory:
        """Return the built-in contoso directory."""
        return cls(
            tenant=Tenant(DEFAULT_TENANT_ID, list(DEFAULT_DOMAINS)),
            apps=[
                App(
                    DEFAULT_CLIENT_ID,
                    [ClientSecret(DEFAULT_CLIENT_SECRET)],
                    list(DEFAULT_ROLES),
                    object_id="5e0c8f7a-1d2b-4c3e-9f4a-6b7c8d9e0f1a",
                )
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
            ],
        )

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Directory:
        """Return the defaults with the parts present in ``data`` replaced."""
        unknown = set(data) - {"tenant", "apps", "mailboxes"}
        if unknown:
            raise ValueError(f"unknown directory keys: {', '.join(sorted(unknown))}")
        directory = cls.default()
        try:
            if "tenant" in data:
                directory.tenant = _tenant(_mapping(data["tenant"], "tenant"))
            if "apps" in data:
                directory.apps = [_app(_mapping(a, "apps[]")) for a in data["apps"]]
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

    def find_tenant(self, name: str) -> Tenant | None:
        """Return the tenant named by id or domain."""
        return self.tenant if self.tenant.matches(name) else None

    def find_app(self, client_id: str) -> App | None:
        """Return the app registration with this client id."""
        wanted = client_id.casefold()
        return next((a for a in self.apps if a.client_id.casefold() == wanted), None)

    def find_mailbox(self, user: str) -> Mailbox | None:
        """Return the mailbox named by address, UPN or object id."""
        return next((m for m in self.mailboxes if m.matches(user)), None)

    def app(self, client_id: str | None = None) -> App:
        """Return an app registration (the first one by default)."""
        found = self.apps[0] if client_id is None and self.apps else None
        found = found or self.find_app(client_id or "")
        if found is None:
            raise KeyError(f"no app registration {client_id!r}")
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
    )


def _app(data: Mapping[str, Any]) -> App:
    if "secrets" in data:
        secrets = [
            ClientSecret(str(item["value"]), _time(item.get("expires"), "expires"))
            for item in data["secrets"]
        ]
    else:
        secrets = [
            ClientSecret(
                str(data["secret"]),
                _time(data.get("secret_expires"), "secret_expires"),
            )
        ]
    app = App(
        str(data["client_id"]),
        secrets,
        [str(role) for role in data.get("roles", DEFAULT_ROLES)],
    )
    app.display_name = str(data.get("display_name", app.display_name))
    app.object_id = str(data.get("object_id", app.object_id))
    return app


def _mailbox(data: Mapping[str, Any]) -> Mailbox:
    address = str(data["address"])
    return Mailbox(
        address,
        str(data.get("id") or uuid.uuid4()),
        str(data.get("display_name", address)),
        str(data.get("user_principal_name", "")),
        bool(data.get("rest_enabled", True)),
    )
