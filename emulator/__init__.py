"""A local emulator of the Microsoft identity platform and Graph mail endpoints.

Run it with ``python -m emulator`` (see ``__main__.py``) or in-process::

    async with Emulator(tmp_path) as emulator:
        ...  # emulator.url, emulator.ca_path, emulator.messages, emulator.add_fault()

It signs in apps (client secret or certificate) and people (device code flow,
work and personal accounts, refresh tokens), and serves Graph mail under
``/users/{id}`` and ``/me``, upload sessions, users and applications. Where
Microsoft documents a behaviour the emulator follows it (each module names its
pages); where Microsoft documents nothing, the emulator refuses by default and a
setting may allow it (``allow_upload_status``, the ``chunk_ranges`` fault).

Exchange's sending limits are counted (``emulator.recipients_sent(user)``,
``emulator.limit_crossings``) on a clock tests may move
(``emulator.advance_clock(86400)``); ``emulator.issue_refresh_token(user)``
gives a refresh token without a sign-in (Apprise's personal URL needs one).
"""

from .certs import client_ssl_context
from .client_certs import (
    AppCertificate,
    SelfSignedCertificate,
    make_self_signed_certificate,
)
from .devicelogin import DeviceLoginError, LoginResult
from .directory import (
    App,
    ClientSecret,
    Directory,
    Mailbox,
    SignInAudience,
    Tenant,
)
from .faults import Fault, FaultKind, Target
from .server import Emulator
from .settings import ConcurrencyKey, Settings
from .signin import DeviceFlow, FlowStatus, RevokeReason
from .state import Limit, LimitCrossing, ReceivedMessage, StoredAttachment

__all__ = [
    "App",
    "AppCertificate",
    "ClientSecret",
    "ConcurrencyKey",
    "DeviceFlow",
    "DeviceLoginError",
    "Directory",
    "Emulator",
    "Fault",
    "FaultKind",
    "FlowStatus",
    "Limit",
    "LimitCrossing",
    "LoginResult",
    "Mailbox",
    "ReceivedMessage",
    "RevokeReason",
    "SelfSignedCertificate",
    "Settings",
    "SignInAudience",
    "StoredAttachment",
    "Target",
    "Tenant",
    "client_ssl_context",
    "make_self_signed_certificate",
]
