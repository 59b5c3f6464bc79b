"""A local emulator of the Microsoft identity platform and Graph mail endpoints.

Run it with ``python -m emulator`` (see ``__main__.py``) or in-process::

    async with Emulator(tmp_path) as emulator:
        ...  # emulator.url, emulator.ca_path, emulator.messages, emulator.add_fault()
"""

from .certs import client_ssl_context
from .directory import App, ClientSecret, Directory, Mailbox, Tenant
from .faults import Fault, FaultKind
from .server import Emulator
from .state import ReceivedMessage, StoredAttachment

__all__ = [
    "App",
    "ClientSecret",
    "Directory",
    "Emulator",
    "Fault",
    "FaultKind",
    "Mailbox",
    "ReceivedMessage",
    "StoredAttachment",
    "Tenant",
    "client_ssl_context",
]
