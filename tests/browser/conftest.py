"""Fixtures for the browser test: the emulator, a real Home Assistant, Chromium.

Home Assistant runs as its own process (``hass`` from the virtual environment)
with the configuration scripts/develop uses, and Playwright drives Debian's
Chromium (``/usr/bin/chromium``, installed by scripts/setup) against it.
Screenshots and Home Assistant's log are kept under ``artifacts/browser/``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import importlib.util
import os
from pathlib import Path
import re
import shutil
import socket
import sys
from types import ModuleType
from typing import Any

import aiohttp
from playwright.async_api import (
    BrowserContext,
    Page,
    Route,
    async_playwright,
    expect,
)
import pytest

from emulator import Emulator

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Nothing but this machine: brand icons and the like stay unloaded.
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
#: Requests the page may make: Home Assistant and the emulator, on loopback.
LOOPBACK = re.compile(r"^(https?|wss?)://127\.0\.0\.1(:\d+)?/")
#: Playwright's wait for any one step or expectation (the UI can be slow to load).
STEP_TIMEOUT_MS = 60_000


def _load_devenv() -> ModuleType:
    """Import scripts/develop_assets/devenv.py (scripts/ is not a package)."""
    path = ROOT / "scripts" / "develop_assets" / "devenv.py"
    spec = importlib.util.spec_from_file_location("devenv", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


devenv = _load_devenv()


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Replace the suite-wide fixture: no in-process Home Assistant is needed here."""


@pytest.fixture(autouse=True)
def _loopback_sockets(socket_enabled: None) -> None:
    """Allow real sockets (the Home Assistant test plugin blocks them)."""


@pytest.fixture(scope="session")
def _fresh_artifacts() -> Path:
    """Empty the artefact folder once per run: every browser test keeps its files."""
    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    return ARTIFACTS


@pytest.fixture
def artifacts(_fresh_artifacts: Path) -> Path:
    """Return the artefact folder for this run's screenshots."""
    return _fresh_artifacts


@pytest.fixture
async def emulator(tmp_path: Path) -> AsyncIterator[Emulator]:
    """Run the emulator on 127.0.0.1 with a free port."""
    async with Emulator(tmp_path / "emulator") as running:
        yield running


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
async def home_assistant(
    tmp_path: Path,
    emulator: Emulator,
    artifacts: Path,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Any]:
    """Start Home Assistant, complete onboarding and add the demo camera.

    Yield a ``devenv.HomeAssistantApi`` signed in as the dev user. Home
    Assistant's log is copied to the artefacts when it stops, named after the
    test (``home-assistant.<test>.log``); no integration may have failed to
    set up (with --skip-pip, a missing package of the lane shows there).
    """
    config_dir = tmp_path / "config"
    port = _free_port()
    devenv.write_config(config_dir, port=port)
    env = {
        **os.environ,
        devenv.ENV_EMULATOR_URL: emulator.url,
        devenv.ENV_EMULATOR_CA: str(emulator.ca_path),
    }
    with (tmp_path / "hass.out").open("w", encoding="utf-8") as output:
        process = devenv.HomeAssistantProcess(
            config_dir, port=port, env=env, log=output
        )
        await process.start()
        try:
            async with aiohttp.ClientSession() as session:
                await process.wait_ready(session)
                api = devenv.HomeAssistantApi(session, process.url)
                assert await api.sign_in() is True  # onboarding created the user
                await api.add_front_door_camera()
                yield api
        finally:
            await process.stop()
            log = config_dir / "home-assistant.log"
            if log.exists():
                shutil.copy(log, artifacts / f"home-assistant.{request.node.name}.log")
    failed = re.findall(r"Setup failed for .*", log.read_text(encoding="utf-8"))
    assert not failed, failed


async def _only_loopback(route: Route) -> None:
    if LOOPBACK.match(route.request.url):
        await route.continue_()
    else:
        await route.abort("blockedbyclient")


@pytest.fixture
async def browser(tmp_path: Path) -> AsyncIterator[BrowserContext]:
    """Launch headless Chromium with a fresh profile; only loopback is reachable."""
    async with async_playwright() as playwright:
        context = await playwright.chromium.launch_persistent_context(
            tmp_path / "chromium-profile",
            executable_path=CHROMIUM,
            args=CHROMIUM_ARGS,
            headless=True,
            # The emulator's certificate comes from its own throw-away CA.
            ignore_https_errors=True,
            viewport={"width": 1280, "height": 900},
            locale="en-US",
            timezone_id="UTC",
        )
        context.set_default_timeout(STEP_TIMEOUT_MS)
        expect.set_options(timeout=STEP_TIMEOUT_MS)
        await context.route("**/*", _only_loopback)
        try:
            yield context
        finally:
            await context.close()


@pytest.fixture
async def page(browser: BrowserContext) -> Page:
    """Return the browser's page."""
    return browser.pages[0] if browser.pages else await browser.new_page()
