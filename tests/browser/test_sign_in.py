"""A person signs in with a Microsoft account in a real browser, then gets an alert.

Chromium adds the integration with "Sign in with a Microsoft account", reads
the code from Home Assistant's dialog, signs in on the emulator's
device-login page in a second tab (enter the code, pick the account, accept),
sees the entry created back in Home Assistant, and finds the alert with its
inline snapshot in the inbox, sent by the signed-in personal address.
"""

from __future__ import annotations

from pathlib import Path
import re
from typing import Any

from playwright.async_api import BrowserContext, Page, expect
import pytest

from emulator import Emulator

from .conftest import CHROMIUM
from .test_add_integration import (
    finish_created,
    log_in,
    open_add_integration,
    read_inbox,
    screenshot_on_failure,
    send_snapshot_alert,
)

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason=f"{CHROMIUM} is missing"),
    pytest.mark.timeout(300),
]

PERSONAL = "casey@outlook.com"
SUBJECT = "Someone at the door"
README = Path(__file__).parents[2] / "README.md"


def readme_sign_in_client_id() -> str:
    """Return the client ID the README gives for trying the sign-in."""
    text = README.read_text(encoding="utf-8")
    table = text[text.index("**Sign in with a Microsoft account** (the way") :]
    match = re.search(r"^\| Application \(client\) ID \| `([^`]+)`", table, re.M)
    assert match, "the README's sign-in table has no client ID"
    return match.group(1)


async def test_sign_in_with_a_microsoft_account(
    home_assistant: Any,
    emulator: Emulator,
    browser: BrowserContext,
    page: Page,
    artifacts: Path,
) -> None:
    emulator.settings.device_code_interval = 1
    shots = artifacts / "sign-in"
    shots.mkdir(exist_ok=True)
    api = home_assistant
    async with screenshot_on_failure(page, shots):
        await log_in(page, api.url, shots)
        await open_add_integration(page, shots)
        await page.get_by_text("Sign in with a Microsoft account").click()
        await page.get_by_role("textbox", name="Application (client) ID").fill(
            readme_sign_in_client_id()
        )
        await expect(page.get_by_role("textbox", name="Tenant")).to_have_value(
            "consumers"
        )
        await page.screenshot(path=shots / "04-sign-in-form.png")
        await page.get_by_role("button", name="Submit").click()

        # The progress dialog: the code in bold and a link to the login page.
        link = page.locator("ha-markdown a[href$='/devicelogin']")
        await expect(link).to_be_visible()
        code = (await page.locator("ha-markdown strong").first.inner_text()).strip()
        assert re.fullmatch(r"[A-Z0-9]{6,12}", code), code
        await page.screenshot(path=shots / "05-code.png")

        login = await browser.new_page()
        await login.goto(str(await link.get_attribute("href")))
        await login.get_by_role("textbox", name="Code").fill(code)
        await login.get_by_role("button", name="Next").click()
        await login.get_by_role("button", name=PERSONAL).click()
        await login.screenshot(path=shots / "06-consent.png")
        await login.get_by_role("button", name="Accept").click()
        await expect(login.get_by_text("You have signed in")).to_be_visible()
        await login.screenshot(path=shots / "07-signed-in.png")
        await login.close()

        await finish_created(page, shots / "08-created.png")

        (entry,) = [e for e in await api.config_entries() if e["domain"] == "o365"]
        assert entry["title"] == PERSONAL
        assert entry["state"] == "loaded"
        message = await send_snapshot_alert(api, emulator, SUBJECT)
        assert message.mailbox.address == PERSONAL
        assert message.signed_in is True

        article = await read_inbox(
            page, emulator.inbox_url, SUBJECT, shots / "09-inbox.png"
        )
        await expect(article).to_contain_text(PERSONAL)
