"""A person's path in a real browser: add o365 in the UI, alert, read the inbox.

Home Assistant runs as a real process; Chromium logs in as the dev user, adds
the integration through Settings > Devices & services > Add integration, and,
after an alert with the camera snapshot went out, opens the emulator's inbox
and checks that the snapshot is shown inline.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from pathlib import Path
import re
from typing import Any

from playwright.async_api import Error as PlaywrightError, Page, expect
import pytest

from emulator import Emulator
from emulator.directory import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from .conftest import CHROMIUM, devenv

pytestmark = [
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=(
            f"{CHROMIUM} is missing: scripts/setup installs Debian's chromium "
            "package when it runs as root with apt-get"
        ),
    ),
    pytest.mark.timeout(300),
]

INTEGRATION = "Office 365 email notifications"
SUBJECT = "Motion at the front door"


@contextlib.asynccontextmanager
async def screenshot_on_failure(page: Page, folder: Path) -> AsyncIterator[None]:
    """Keep a screenshot of the page when the block fails."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(PlaywrightError):
            await page.screenshot(path=folder / "failure.png", full_page=True)
        raise


async def test_add_integration_in_the_ui_and_read_the_alert(
    home_assistant: Any, emulator: Emulator, page: Page, artifacts: Path
) -> None:
    """Log in, add o365 through its config flow, alert, see the inline snapshot."""
    api = home_assistant
    async with screenshot_on_failure(page, artifacts):
        await log_in(page, api.url, artifacts)
        await add_integration(page, artifacts)

        entries = await api.config_entries()
        (entry,) = [e for e in entries if e["domain"] == "o365"]
        assert entry["title"] == devenv.MAILBOX
        assert entry["state"] == "loaded"

        await api.wait_for_service("notify", "o365")
        await api.call_service(
            "notify",
            "o365",
            {
                "title": SUBJECT,
                "message": "<h2>Motion at the front door</h2>",
                "data": {"html": True, "cameras": [devenv.CAMERA_ENTITY]},
            },
        )
        (message,) = [m for m in emulator.messages if m.subject == SUBJECT]
        assert emulator.attachment_bytes(message.id, 0) == (
            devenv.FRONT_DOOR_JPEG.read_bytes()
        )

        await read_inbox(page, emulator.inbox_url, artifacts)


async def log_in(page: Page, url: str, artifacts: Path) -> None:
    """Log in as the dev user on Home Assistant's login page."""
    await page.goto(url)
    await page.get_by_role("textbox", name="Username").fill(devenv.DEV_USER)
    await page.get_by_role("textbox", name="Password").fill(devenv.DEV_PASSWORD)
    await page.screenshot(path=artifacts / "01-login.png")
    await page.get_by_role("button", name="Log in").click()
    await expect(page).to_have_url(re.compile(r"/lovelace(/|$)"))


async def add_integration(page: Page, artifacts: Path) -> None:
    """Settings > Devices & services > Add integration > o365 > credentials."""
    # Right after login the sidebar may not react yet: click until it does.
    settings = page.get_by_role("option", name=re.compile(r"^Settings")).first
    for _ in range(10):
        await settings.click()
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_url(re.compile(r"/config(/|$)"), timeout=3_000)
            break
    await page.get_by_text("Devices & services", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/config/integrations"))
    await page.get_by_role("button", name="Add integration").click()
    await page.get_by_role("textbox", name="Search for a brand name").fill("o365")
    brand = page.locator("ha-integration-list-item", has_text=INTEGRATION)
    await expect(brand).to_be_visible()
    await page.screenshot(path=artifacts / "02-search.png")
    await brand.click()

    await page.get_by_text("Enter the app registration details").click()
    fields = {
        "Sender mailbox": devenv.MAILBOX,
        "Directory (tenant) ID": "contoso.onmicrosoft.com",
        "Application (client) ID": DEFAULT_CLIENT_ID,
        "Client secret value": DEFAULT_CLIENT_SECRET,
    }
    for label, value in fields.items():
        await page.get_by_role("textbox", name=label).fill(value)
    await page.screenshot(path=artifacts / "03-credentials.png")
    await page.get_by_role("button", name="Submit").click()

    await expect(
        page.get_by_text(re.compile(r"Created configuration for"))
    ).to_be_visible()
    await page.screenshot(path=artifacts / "04-created.png")
    await page.get_by_role("button", name="Finish").click()
    await expect(page).to_have_url(re.compile(r"/config/integrations/integration/o365"))
    await expect(page.get_by_text(devenv.MAILBOX, exact=True)).to_be_visible()
    await page.screenshot(path=artifacts / "05-integration.png")


async def read_inbox(page: Page, inbox_url: str, artifacts: Path) -> None:
    """Open the emulator's inbox: the alert is listed with its snapshot loaded."""
    await page.goto(inbox_url)
    article = page.locator("article.message").filter(
        has=page.locator("h2.subject", has_text=SUBJECT)
    )
    await expect(article).to_have_count(1)
    await expect(article.locator(".attachment-inline")).to_have_text("inline")
    image = article.locator("iframe.body-html").content_frame.locator("img")
    await expect(image).to_have_attribute("src", re.compile(r"/attachments/0$"))
    # decode() settles once the picture has loaded; it rejects a broken image.
    width = await image.evaluate(
        "async (img) => { await img.decode(); return img.naturalWidth; }"
    )
    assert width == 640  # the camera's JPEG
    await page.screenshot(path=artifacts / "06-inbox.png", full_page=True)
