"""Home Assistant with the o365 integration, wired to the local Graph emulator.

``scripts/develop`` runs :func:`main`: it starts the emulator (in this process)
and Home Assistant (the ``hass`` of this virtual environment, as a child
process) with a throw-away configuration under ``.develop/``, signs in as the
``dev`` user (completing onboarding on the first start), adds the demo camera
and the o365 integration through their config flows, sends one snapshot alert
and prints where to look. Ctrl-C stops both.

The browser test (``tests/browser/``) uses the same pieces: the configuration
(:func:`write_config`), the process (:class:`HomeAssistantProcess`) and the
sign-in and config-flow helpers.

Home Assistant runs with ``--skip-pip``: everything it needs is installed,
pinned, by ``scripts/setup``. Its configuration is deliberately small (no
``default_config``): the frontend, the REST API, media sources (the media
picker of ``o365.send_message``), a local_file camera, the automation editor
and the o365 integration.

It works with either test lane's virtual environment: ``scripts/develop``
uses ``.venv`` (Home Assistant 2025.4), ``scripts/develop --newest`` uses
``.venv-newest`` (the newest Home Assistant, 2026.10 on Python 3.14); both
keep their state apart (``.develop/`` and ``.develop-newest/``). Where Home
Assistant listens is set in configuration.yaml on 2025.4 and in its HTTP
settings store on newer versions (:func:`write_config`).
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Mapping
from datetime import UTC, datetime
import importlib
import importlib.metadata
import json
import os
from pathlib import Path
import shutil
import signal
import sys
import time
from types import ModuleType
from typing import Any, TextIO

import aiohttp

from emulator import Emulator
from emulator.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_DOMAINS,
    DEFAULT_PUBLIC_CLIENT_ID,
    DEFAULT_TENANT_ID,
    DEFAULT_WORK_USER,
    NON_OUTLOOK_PERSONAL_UPN,
)

ROOT = Path(__file__).resolve().parents[2]
FRONT_DOOR_JPEG = Path(__file__).resolve().with_name("front_door.jpg")
HASS = Path(sys.executable).with_name("hass")

DEV_USER = "dev"
DEV_PASSWORD = "dev"  # noqa: S105 - the published development login
DEV_NAME = "Developer"
MAILBOX = "alerts@contoso.com"
#: A mailbox of the emulator's tenant that is not set up yet (README, banner).
ANOTHER_MAILBOX = "ops@contoso.com"
PERSONAL_ACCOUNTS = "casey@outlook.com or jamie@hotmail.com"
CAMERA_NAME = "Front door"
CAMERA_ENTITY = "camera.front_door"
#: What the credentials form of the o365 config flow gets for the emulator.
O365_CREDENTIALS = {
    "source": MAILBOX,
    "tenant_id": DEFAULT_DOMAINS[0],
    "client_id": DEFAULT_CLIENT_ID,
    "client_secret": DEFAULT_CLIENT_SECRET,
    "cloud": "global",
}
ENV_EMULATOR_URL = "O365_EMULATOR_URL"
ENV_EMULATOR_CA = "O365_EMULATOR_CA"

#: Onboarding steps marked done before the first start. Only the user step is
#: left, so onboarding through the API creates the user and nothing else: the
#: core_config step would start integrations that reach out to the internet.
PRESET_ONBOARDING_STEPS = ("core_config", "analytics", "integration")
START_TIMEOUT = 180.0
STOP_TIMEOUT = 30.0
SERVICE_TIMEOUT = 60.0
CONFIGURED_MARKER = ".develop-configured"

CONFIGURATION_YAML = """\
# Home Assistant for developing the o365 integration.
# Written by scripts/develop_assets/devenv.py on every start: edit it there.
homeassistant:
  name: o365 development
  country: US
  time_zone: UTC
  unit_system: metric
  allowlist_external_dirs:
    - {assets}

# A minimal set instead of default_config (which needs many more packages):
# the UI with Settings and Developer Tools, the REST API, media sources (the
# media picker of o365.send_message) and automations.
frontend:
config:
api:
media_source:
automation: !include automations.yaml

{http}logger:
  default: warning
  logs:
    custom_components.o365: debug
    homeassistant.components.camera: info
"""


#: Where Home Assistant listens; the port is chosen per run.
HTTP_HOST = "127.0.0.1"
HTTP_YAML = """\
http:
  server_host: {host}
  server_port: {port}

"""


def _http_config_store() -> ModuleType | None:
    """Return Home Assistant's HTTP settings store module, if it has one.

    Newer Home Assistant (2026.10 has it) keeps the HTTP settings in
    ``.storage/http``, set under Settings > System > Network: a change is a
    "pending" trial until the user confirms it in a dialog that covers the page
    (``dialog-http-pending-config``), else it is reverted, with a restart, after
    five minutes. An ``http:`` block in configuration.yaml is imported once as
    such a trial, then ignored with a repair issue.
    """
    try:
        module = importlib.import_module("homeassistant.components.http.config")
    except ImportError:  # Home Assistant 2025.4: configuration.yaml only
        return None
    return module if hasattr(module, "HTTPConfigStore") else None


def _write_http_settings(config_dir: Path, *, port: int) -> str:
    """Set where Home Assistant listens; return the YAML for it, if any.

    With the settings store, write it as it is once the user has confirmed
    these settings (the "stable" ones, nothing pending, nothing to import from
    YAML), so no dialog asks and nothing reverts; the port may differ from the
    previous run's. Otherwise return the ``http:`` block.
    """
    store = _http_config_store()
    if store is None:
        return HTTP_YAML.format(host=HTTP_HOST, port=port)
    stable = {
        **store.HTTP_STORAGE_SCHEMA(
            {store.CONF_SERVER_HOST: [HTTP_HOST], store.CONF_SERVER_PORT: port}
        ),
        store.HTTP_CONFIG_CREATED_AT: datetime.now(UTC).isoformat(),
        store.HTTP_CONFIG_ERROR: None,
        store.HTTP_CONFIG_ERROR_MESSAGE: None,
    }
    path = config_dir / ".storage" / store.STORAGE_KEY
    path.parent.mkdir(exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "version": store.STORAGE_VERSION,
                "minor_version": store.STORAGE_MINOR_VERSION,
                "key": store.STORAGE_KEY,
                "data": {
                    store.KEY_STABLE: stable,
                    store.KEY_PENDING: None,
                    store.KEY_YAML_MIGRATION_DONE: True,
                },
            }
        ),
        encoding="utf-8",
    )
    return ""


def write_config(config_dir: Path, *, port: int) -> None:
    """Write a minimal Home Assistant configuration using this repository's integration."""
    config_dir.mkdir(parents=True, exist_ok=True)
    link = config_dir / "custom_components"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(ROOT / "custom_components", target_is_directory=True)
    http = _write_http_settings(config_dir, port=port)
    (config_dir / "configuration.yaml").write_text(
        CONFIGURATION_YAML.format(assets=FRONT_DOOR_JPEG.parent, http=http),
        encoding="utf-8",
    )
    automations = config_dir / "automations.yaml"
    if not automations.exists():
        automations.write_text("[]\n", encoding="utf-8")
    onboarding = config_dir / ".storage" / "onboarding"
    if not onboarding.exists():
        onboarding.parent.mkdir(exist_ok=True)
        onboarding.write_text(
            json.dumps(
                {
                    "version": 4,
                    "minor_version": 1,
                    "key": "onboarding",
                    "data": {"done": list(PRESET_ONBOARDING_STEPS)},
                }
            ),
            encoding="utf-8",
        )


class HomeAssistantError(RuntimeError):
    """Home Assistant did not start, or answered something unexpected."""


class HomeAssistantProcess:
    """A real Home Assistant process on 127.0.0.1, started and stopped cleanly."""

    def __init__(
        self,
        config_dir: Path,
        *,
        port: int,
        env: Mapping[str, str],
        log: TextIO | None = None,
    ) -> None:
        """Prepare to run ``hass`` on ``config_dir``; output goes to ``log`` if given."""
        self.config_dir = config_dir
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._env = dict(env)
        self._log = log
        self._process: asyncio.subprocess.Process | None = None

    @property
    def returncode(self) -> int | None:
        """Return the exit code once the process has ended."""
        return None if self._process is None else self._process.returncode

    async def start(self) -> None:
        """Start Home Assistant (in its own session: signals are ours to send)."""
        self._process = await asyncio.create_subprocess_exec(
            str(HASS),
            "--config",
            str(self.config_dir),
            "--skip-pip",
            env=self._env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=self._log,
            stderr=self._log,
            start_new_session=True,
        )

    async def wait(self) -> int:
        """Wait for the process to end; return its exit code."""
        if self._process is None:
            raise HomeAssistantError("Home Assistant was not started")
        return await self._process.wait()

    async def wait_ready(self, session: aiohttp.ClientSession) -> None:
        """Wait until Home Assistant has started (its HTTP server opens last)."""
        try:
            async with asyncio.timeout(START_TIMEOUT):
                while not await self._answers(session):
                    if self.returncode is not None:
                        raise HomeAssistantError(
                            f"Home Assistant exited with code {self.returncode} "
                            "while starting"
                        )
                    await asyncio.sleep(0.5)
        except TimeoutError:
            raise HomeAssistantError(
                f"Home Assistant did not start within {START_TIMEOUT:.0f} s"
            ) from None

    async def _answers(self, session: aiohttp.ClientSession) -> bool:
        try:
            async with session.get(f"{self.url}/manifest.json") as response:
                return response.status == 200
        except aiohttp.ClientError:
            return False

    async def stop(self) -> None:
        """Ask Home Assistant to stop (SIGTERM); kill it if it does not."""
        process = self._process
        if process is None or process.returncode is not None:
            return
        process.terminate()
        try:
            async with asyncio.timeout(STOP_TIMEOUT):
                await process.wait()
        except TimeoutError:
            process.kill()
            await process.wait()


class HomeAssistantApi:
    """The few REST calls the development setup and the browser test make."""

    def __init__(self, session: aiohttp.ClientSession, url: str) -> None:
        """Talk to the Home Assistant at ``url``."""
        self._session = session
        self.url = url
        self.client_id = f"{url}/"
        self._token: str | None = None

    @property
    def token(self) -> str:
        """Return the access token of the signed-in user."""
        if self._token is None:
            raise HomeAssistantError("not signed in")
        return self._token

    async def sign_in(
        self, username: str = DEV_USER, password: str = DEV_PASSWORD
    ) -> bool:
        """Sign in, creating the user through onboarding if there is none yet.

        Return True when this call completed onboarding.
        """
        onboarded = await self._user_onboarded()
        if onboarded:
            code = await self._log_in(username, password)
        else:
            created = await self._request(
                "POST",
                "/api/onboarding/users",
                {
                    "client_id": self.client_id,
                    "name": DEV_NAME,
                    "username": username,
                    "password": password,
                    "language": "en",
                },
                auth=False,
            )
            code = created["auth_code"]
        async with self._session.post(
            f"{self.url}/auth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "client_id": self.client_id,
            },
        ) as response:
            if response.status != 200:
                raise HomeAssistantError(f"/auth/token: HTTP {response.status}")
            self._token = (await response.json())["access_token"]
        return not onboarded

    async def _user_onboarded(self) -> bool:
        """Return True once onboarding has created a user."""
        async with self._session.get(f"{self.url}/api/onboarding") as response:
            if response.status == 404:  # onboarding is over: no such page
                return True
            if response.status != 200:
                raise HomeAssistantError(f"/api/onboarding: HTTP {response.status}")
            steps = await response.json()
        return any(step["step"] == "user" and step["done"] for step in steps)

    async def _log_in(self, username: str, password: str) -> str:
        """Run the login flow of the Home Assistant auth provider; return the code."""
        flow = await self._request(
            "POST",
            "/auth/login_flow",
            {
                "client_id": self.client_id,
                "handler": ["homeassistant", None],
                "redirect_uri": self.client_id,
            },
            auth=False,
        )
        result = await self._request(
            "POST",
            f"/auth/login_flow/{flow['flow_id']}",
            {"client_id": self.client_id, "username": username, "password": password},
            auth=False,
        )
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"cannot log in as {username!r}: {result}")
        return str(result["result"])

    async def config_entries(self) -> list[dict[str, Any]]:
        """Return the config entries."""
        entries: list[dict[str, Any]] = await self._request(
            "GET", "/api/config/config_entries/entry"
        )
        return entries

    async def add_entry(self, domain: str, *steps: Mapping[str, Any]) -> dict[str, Any]:
        """Run a config flow through the given steps; return the created entry."""
        flow_url = "/api/config/config_entries/flow"
        result = await self._request("POST", flow_url, {"handler": domain})
        for step in steps:
            result = await self._request(
                "POST", f"{flow_url}/{result['flow_id']}", dict(step)
            )
        if result.get("type") != "create_entry":
            raise HomeAssistantError(f"setting up {domain} failed: {result}")
        entry: dict[str, Any] = result["result"]
        return entry

    async def add_front_door_camera(self, image: Path = FRONT_DOOR_JPEG) -> None:
        """Add the demo camera: a local_file camera showing ``image``."""
        await self.add_entry(
            "local_file", {"name": CAMERA_NAME, "file_path": str(image)}
        )

    async def add_o365(self) -> dict[str, Any]:
        """Add the o365 integration for the emulator's mailbox."""
        return await self.add_entry(
            "o365", {"next_step_id": "credentials"}, O365_CREDENTIALS
        )

    async def wait_for_service(self, domain: str, service: str) -> None:
        """Wait until an action is registered."""
        try:
            async with asyncio.timeout(SERVICE_TIMEOUT):
                while True:
                    if await self._has_service(domain, service):
                        return
                    await asyncio.sleep(0.5)
        except TimeoutError:
            raise HomeAssistantError(f"{domain}.{service} did not appear") from None

    async def _has_service(self, domain: str, service: str) -> bool:
        return any(
            entry["domain"] == domain and service in entry["services"]
            for entry in await self._request("GET", "/api/services")
        )

    async def call_service(
        self, domain: str, service: str, data: Mapping[str, Any]
    ) -> None:
        """Call an action and wait for it to finish."""
        await self._request("POST", f"/api/services/{domain}/{service}", dict(data))

    async def _request(
        self,
        method: str,
        path: str,
        payload: Mapping[str, Any] | None = None,
        *,
        auth: bool = True,
    ) -> Any:
        headers = {"Authorization": f"Bearer {self.token}"} if auth else {}
        async with self._session.request(
            method, f"{self.url}{path}", json=payload, headers=headers
        ) as response:
            if response.status >= 400:
                text = await response.text()
                raise HomeAssistantError(
                    f"{method} {path}: HTTP {response.status}: {text[:500]}"
                )
            return await response.json()


# scripts/develop -------------------------------------------------------------

DEMO_ALERT = {
    "title": "Motion at the front door",
    "message": (
        "<h2>Motion at the front door</h2>"
        "<p>Sent by scripts/develop through notify.o365 and the local emulator.</p>"
    ),
    "data": {"html": True, "importance": "high", "cameras": [CAMERA_ENTITY]},
}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scripts/develop",
        description=(
            "Start the local Graph emulator and Home Assistant with the o365 "
            "integration set up against it. Ctrl-C stops both."
        ),
    )
    parser.add_argument(
        "--port",
        type=int,
        default=int(os.environ.get("DEVELOP_HA_PORT", "8123")),
        help="Home Assistant's port (default 8123, or $DEVELOP_HA_PORT)",
    )
    parser.add_argument(
        "--emulator-port",
        type=int,
        default=int(os.environ.get("DEVELOP_EMULATOR_PORT", "8443")),
        help="the emulator's port (default 8443, or $DEVELOP_EMULATOR_PORT)",
    )
    parser.add_argument(
        "--state",
        type=Path,
        default=ROOT / ".develop",
        help="the folder that keeps Home Assistant's configuration and the "
        "emulator's mailboxes between runs (default .develop/)",
    )
    parser.add_argument(
        "--reset",
        action="store_true",
        help="start from scratch: delete the state folder (user, entries, "
        "history) first",
    )
    parser.add_argument(
        "--no-demo-alert",
        dest="demo_alert",
        action="store_false",
        help="do not send a snapshot alert once Home Assistant is up",
    )
    return parser


def home_assistant_version() -> str:
    """Return the version of the Home Assistant this environment runs."""
    try:
        return importlib.metadata.version("homeassistant")
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def _banner(hass: HomeAssistantProcess, emulator: Emulator) -> str:
    return f"""
================================================================================
 Home Assistant  {hass.url}   (log in as {DEV_USER} / {DEV_PASSWORD})
                 version {home_assistant_version()}, Python {sys.version.split()[0]}
 Inbox           {emulator.inbox_url}   (the emulator's received mail)

 {MAILBOX} is already set up. The emulator has two app registrations, one
 for each way in; to add another account yourself: Settings > Devices &
 services > Add integration > Office 365 email notifications, then

 Enter the app registration details:
     Sender mailbox             {ANOTHER_MAILBOX}
     Directory (tenant) ID      {DEFAULT_DOMAINS[0]}  or  {DEFAULT_TENANT_ID}
     Application (client) ID    {DEFAULT_CLIENT_ID}
     Client secret value        {DEFAULT_CLIENT_SECRET}
                                (all of it, the space and " value" too)

 Sign in with a Microsoft account:
     Application (client) ID    {DEFAULT_PUBLIC_CLIENT_ID}
     Tenant                     consumers (Outlook.com), or {DEFAULT_DOMAINS[0]}
                                or organizations (a work account)
     then open the link, enter the code, pick {PERSONAL_ACCOUNTS}
     or {NON_OUTLOOK_PERSONAL_UPN} (personal), or {DEFAULT_WORK_USER} (work), and accept.

 The emulator's pages use its own certificate authority: trust
 {emulator.ca_path}
 in your browser, or proceed past "Your connection is not private".

 Developer tools > Actions > notify.o365, in YAML mode:
     action: notify.o365
     data:
       title: Motion at the front door
       message: <p>Someone is at the door.</p>
       data:
         html: true
         cameras: [{CAMERA_ENTITY}]

 Config folder   {hass.config_dir}
 Ctrl-C stops Home Assistant and the emulator.
================================================================================
""".rstrip()


async def _prepare(api: HomeAssistantApi, config_dir: Path, *, demo_alert: bool) -> str:
    """Sign in, add the camera and o365 on the first start, send the demo alert.

    Return a line for the banner.
    """
    marker = config_dir / CONFIGURED_MARKER
    if marker.exists():
        try:
            await api.sign_in()
        except HomeAssistantError as err:  # the dev user was changed: fine
            return f"No demo alert: cannot sign in as {DEV_USER} ({err})."
    else:
        await api.sign_in()
        domains = {entry["domain"] for entry in await api.config_entries()}
        if "local_file" not in domains:
            await api.add_front_door_camera()
        if "o365" not in domains:
            await api.add_o365()
        marker.touch()
    if not demo_alert:
        return "No demo alert (--no-demo-alert)."
    await api.wait_for_service("notify", "o365")
    await api.call_service("notify", "o365", DEMO_ALERT)
    return f"A demo snapshot alert was sent to {MAILBOX}: see the inbox."


def _cancel_on_signals(task: asyncio.Task[int]) -> None:
    """Cancel ``task`` on the first SIGINT or SIGTERM; ignore the ones after it."""
    loop = asyncio.get_running_loop()

    def stop() -> None:
        if not task.cancelling():
            print("\nStopping Home Assistant and the emulator…", flush=True)
            task.cancel()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)


async def _develop(args: argparse.Namespace) -> int:
    """Run the emulator and Home Assistant until Ctrl-C or until Home Assistant exits."""
    state: Path = args.state.resolve()
    if args.reset:
        shutil.rmtree(state, ignore_errors=True)
    config_dir = state / "config"
    write_config(config_dir, port=args.port)
    task = asyncio.current_task()
    assert task is not None
    _cancel_on_signals(task)
    started = time.monotonic()

    emulator = Emulator(state / "emulator")
    await emulator.start("127.0.0.1", args.emulator_port)
    # PYTHONPATH (set by scripts/develop to import the emulator) is left out:
    # Home Assistant finds the integration through its config folder only.
    env = {key: value for key, value in os.environ.items() if key != "PYTHONPATH"}
    env |= {ENV_EMULATOR_URL: emulator.url, ENV_EMULATOR_CA: str(emulator.ca_path)}
    hass = HomeAssistantProcess(config_dir, port=args.port, env=env)
    print(f"Emulator at {emulator.url}; starting Home Assistant…", flush=True)
    try:
        await hass.start()
        async with aiohttp.ClientSession() as session:
            await hass.wait_ready(session)
            api = HomeAssistantApi(session, hass.url)
            note = await _prepare(api, config_dir, demo_alert=args.demo_alert)
        print(_banner(hass, emulator), flush=True)
        print(f" {note} Ready in {time.monotonic() - started:.1f} s.\n", flush=True)
        code = await hass.wait()
    except asyncio.CancelledError:  # Ctrl-C
        task.uncancel()
        return 0
    else:
        print(f"Home Assistant exited with code {code}.", flush=True)
        return code or 1
    finally:
        await hass.stop()
        await emulator.stop()


def main(argv: list[str] | None = None) -> int:
    """Run ``scripts/develop``."""
    args = _parser().parse_args(argv)
    try:
        return asyncio.run(_develop(args))
    except (HomeAssistantError, aiohttp.ClientError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
