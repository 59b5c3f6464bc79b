"""The inbox page in a real browser: the refresh-token button, NDRs, senders."""

from __future__ import annotations

from pathlib import Path

import aiohttp
import pytest

from emulator import Emulator
from emulator.directory import DEFAULT_PUBLIC_CLIENT_ID, SHARED_MAILBOX

from .helpers import bearer, message, send, sign_in

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Chromium (scripts/setup installs it)"
)


async def test_inbox_refresh_token_button_and_reports(
    session: aiohttp.ClientSession, emulator: Emulator, auth: dict[str, str]
) -> None:
    playwright_api = pytest.importorskip("playwright.async_api")
    emulator.max_recipients_per_message = 1
    people = [{"emailAddress": {"address": f"p{n}@example.com"}} for n in range(2)]
    await send(
        session, auth, {"message": message(subject="Too many", toRecipients=people)}
    )
    emulator.max_recipients_per_message = 500
    shared = emulator.directory.user(SHARED_MAILBOX)
    shared.send_as, shared.send_on_behalf = [], ["ops@contoso.com"]
    tokens = await sign_in(
        session,
        emulator,
        "ops@contoso.com",
        authority="organizations",
        scope="Mail.Send.Shared",
    )
    path = f"/v1.0/users/{SHARED_MAILBOX}/sendMail"
    await send(session, bearer(tokens["access_token"]), {"message": message()}, path)
    async with playwright_api.async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--headless", "--no-sandbox", "--disable-gpu"],
        )
        try:
            context = await browser.new_context(ignore_https_errors=True)
            page = await context.new_page()
            await page.goto(emulator.inbox_url)
            await page.locator(".via-ndr").wait_for()
            assert (
                await page.locator(".via-ndr").text_content() == "non-delivery report"
            )
            assert "ops@contoso.com" in await page.locator("dd.sender").inner_text()
            await page.locator("#token summary").click()
            await page.locator("#token-user").fill("jamie@hotmail.com")
            await page.locator("#token-form button").click()
            output = page.locator("#token-output")
            await output.filter(has_text="o365://").wait_for()
            text = await output.inner_text()
        finally:
            await browser.close()
    assert text.startswith(f"o365://jamie@hotmail.com/{DEFAULT_PUBLIC_CLIENT_ID}/1.AXo")
