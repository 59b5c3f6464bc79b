"""A person's path in a real browser: add o365 in the UI, alert, read the inbox.

Home Assistant runs as a real process; Chromium logs in as the dev user, adds
the integration through Settings > Devices & services > Add integration, opens
the form of the ``o365.send_message`` action in Developer tools (every field
labelled, no translation error), and, after an alert with the camera snapshot
went out, opens the emulator's inbox and checks that the snapshot is shown
inline. It runs on either test lane's Home Assistant (2025.4 and 2026.10, whose
frontends differ: the dashboard opened after login, the action picker).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
import json
from pathlib import Path
import re
from typing import Any
from urllib.parse import urlsplit

from playwright.async_api import Error as PlaywrightError, Locator, Page, expect
import pytest

from custom_components.o365.const import REPO_URL
from emulator import Emulator
from emulator.directory import DEFAULT_CLIENT_ID, DEFAULT_CLIENT_SECRET

from .conftest import CHROMIUM, ROOT, devenv

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
ACTION = "o365.send_message"
#: What the frontend shows instead of a string it cannot format.
TRANSLATION_ERROR = re.compile(r"Translation error", re.IGNORECASE)
STRINGS = json.loads(
    (ROOT / "custom_components" / "o365" / "strings.json").read_text(encoding="utf-8")
)


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

        message = await send_snapshot_alert(api, emulator, SUBJECT)
        assert emulator.attachment_bytes(message.id, 0) == (
            devenv.FRONT_DOOR_JPEG.read_bytes()
        )

        await open_action_form(page, api.url, artifacts)
        await read_inbox(page, emulator.inbox_url, SUBJECT, artifacts / "08-inbox.png")


async def log_in(page: Page, url: str, artifacts: Path) -> None:
    """Log in as the dev user on Home Assistant's login page."""
    await page.goto(url)
    await page.get_by_role("textbox", name="Username").fill(devenv.DEV_USER)
    await page.get_by_role("textbox", name="Password").fill(devenv.DEV_PASSWORD)
    await page.screenshot(path=artifacts / "01-login.png")
    await page.get_by_role("button", name="Log in").click()
    await wait_for_dashboard(page)
    await page.screenshot(path=artifacts / "02-dashboard.png")


def _is_dashboard(url: str) -> bool:
    """Return True for a page of the frontend other than the login page and "/"."""
    path = urlsplit(url).path
    return path not in ("", "/") and not path.startswith("/auth/")


async def wait_for_dashboard(page: Page) -> str:
    """Wait for the dashboard the frontend opens after login; return its path.

    Which one depends on the frontend: ``/lovelace/0`` (2025.4) or
    ``/home/...`` (2026.2 and later, whose default is the new Home dashboard).
    """
    await page.wait_for_url(_is_dashboard)
    await expect(page.locator("ha-sidebar")).to_be_visible()
    path = urlsplit(page.url).path
    assert re.match(r"^/(lovelace|home)(/|$)", path), f"unexpected dashboard {path}"
    return path


async def open_add_integration(page: Page, artifacts: Path) -> None:
    """Settings > Devices & services > Add integration > o365: its first step."""
    # Right after login the sidebar may not react yet: click until it does.
    # Its Settings item is an option (2025.4) or a list item (2026.2 and later).
    settings = page.locator("ha-sidebar").locator("a[href='/config']").first
    for _ in range(10):
        await settings.click()
        with contextlib.suppress(PlaywrightError):
            await page.wait_for_url(re.compile(r"/config(/|$)"), timeout=3_000)
            break
    await page.get_by_text("Devices & services", exact=True).click()
    await expect(page).to_have_url(re.compile(r"/config/integrations"))
    await page.get_by_role("button", name="Add integration").click()
    # A labelled field (2025.4) or one with only a placeholder (2026.10).
    search = "Search for a brand name"
    await (
        page.get_by_role("textbox", name=search).or_(page.get_by_placeholder(search))
    ).fill("o365")
    brand = page.locator("ha-integration-list-item", has_text=INTEGRATION)
    await expect(brand).to_be_visible()
    await page.screenshot(path=artifacts / "03-search.png")
    await brand.click()


async def add_integration(page: Page, artifacts: Path) -> None:
    """Add o365 with app credentials; a wrong secret first shows its help link."""
    await open_add_integration(page, artifacts)
    await page.get_by_text("Enter the app registration details").click()
    fields = {
        "Sender mailbox": devenv.MAILBOX,
        "Directory (tenant) ID": "contoso.onmicrosoft.com",
        "Application (client) ID": DEFAULT_CLIENT_ID,
        "Client secret value": "not-the-secret",
    }
    for label, value in fields.items():
        await page.get_by_role("textbox", name=label).fill(value)
    await page.get_by_role("button", name="Submit").click()
    # The error ends in its README entry, filled in from a placeholder.
    help_link = f"Help: {REPO_URL}#invalid_client_secret"
    await expect(page.get_by_text(help_link)).to_be_visible()
    await expect(page.get_by_text(TRANSLATION_ERROR)).to_have_count(0)
    await page.screenshot(path=artifacts / "04-wrong-secret.png")
    # What was typed stays; only the secret needs correcting.
    for label in ("Sender mailbox", "Application (client) ID"):
        await expect(page.get_by_role("textbox", name=label)).to_have_value(
            fields[label]
        )
    await page.get_by_role("textbox", name="Client secret value").fill(
        DEFAULT_CLIENT_SECRET
    )
    await page.screenshot(path=artifacts / "04-credentials.png")
    await page.get_by_role("button", name="Submit").click()

    await finish_created(page, artifacts / "05-created.png")
    # 2025.4 then opens the integration's page; 2026.2 and later stay on the list.
    integration_page = re.compile(r"/config/integrations/integration/o365")
    try:
        await page.wait_for_url(integration_page, timeout=5_000)
    except PlaywrightError:
        await page.get_by_role("link", name=INTEGRATION).click()
    await expect(page).to_have_url(integration_page)
    # The entry (and, from 2026.2 on, its device below it) is named after the mailbox.
    await expect(page.get_by_text(devenv.MAILBOX, exact=True).first).to_be_visible()
    await page.screenshot(path=artifacts / "06-integration.png")


async def finish_created(page: Page, screenshot: Path) -> None:
    """Close the dialog that says the entry was created.

    2025.4 says "Created configuration for ..." above the device's area
    picker and a Finish button; 2026.2 shows "Device created" and 2026.10
    "Name and assign", both with "Skip and finish".
    """
    created = (
        page.get_by_text(re.compile(r"Created configuration for"))
        .or_(page.get_by_role("alertdialog", name="Device created"))
        .or_(page.get_by_text("Name and assign", exact=True))
    )
    await expect(created).to_be_visible()
    await page.screenshot(path=screenshot)
    await page.get_by_role(
        "button", name=re.compile(r"^(Finish|Skip and finish)$")
    ).click()


async def send_snapshot_alert(api: Any, emulator: Emulator, subject: str) -> Any:
    """Call notify.o365 with the front door's snapshot inline; return the mail."""
    await api.wait_for_service("notify", "o365")
    await api.call_service(
        "notify",
        "o365",
        {
            "title": subject,
            "message": f"<h2>{subject}</h2>",
            "data": {"html": True, "cameras": [devenv.CAMERA_ENTITY]},
        },
    )
    (message,) = [m for m in emulator.messages if m.subject == subject]
    return message


async def open_action_form(page: Page, url: str, artifacts: Path) -> None:
    """Developer tools > Actions > o365.send_message in UI mode: no translation error.

    Every field shows its translated name; the frontend shows "Translation
    error" for a string it cannot format (e.g. text that looks like a tag).
    """
    await page.goto(f"{url}/developer-tools/action")
    await expect(page.locator("ha-service-picker")).to_be_visible()
    # A fresh browser profile starts in UI mode; a button offers YAML mode
    # ("Go to YAML mode" up to 2026.2, a UI mode/YAML mode toggle in 2026.10).
    yaml_mode = re.compile(r"^(go to )?yaml mode$", re.IGNORECASE)
    await expect(page.get_by_role("button", name=yaml_mode)).to_be_visible()
    await pick_action(page, ACTION)
    service = STRINGS["services"]["send_message"]
    form = page.locator("ha-service-control")
    await expect(form.get_by_text(service["description"], exact=True)).to_be_visible()
    for key, field in service["fields"].items():
        label = form.get_by_text(field["name"], exact=True)
        await expect(label.first, f"the label of {key}").to_be_visible()
    await page.screenshot(path=artifacts / "07-action-form.png", full_page=True)
    await expect(page.get_by_text(TRANSLATION_ERROR)).to_have_count(0)
    # Untranslated keys would show as such.
    await expect(page.get_by_text("component.o365.")).to_have_count(0)
    for key, field in service["fields"].items():
        description = form.get_by_text(field["description"], exact=True)
        await expect(description, f"the description of {key}").to_be_visible()
    for option in STRINGS["selector"]["importance"]["options"].values():
        await expect(form.get_by_text(option, exact=True)).to_be_visible()


async def pick_action(page: Page, action: str) -> None:
    """Choose ``action`` in the action picker of Developer tools.

    2025.4's picker is a combo box ("Office 365 email notifications: Send an
    email"); from 2026.2 on it opens a search list ("Send an email" over its
    ID). Both find it by its ID and list it with the ID shown.
    """
    picker = page.locator("ha-service-picker")
    combo_box = picker.get_by_role("combobox", name="Action")
    field = picker.locator("ha-picker-field")
    await expect(combo_box.or_(field)).to_be_visible()
    if await combo_box.count():
        await combo_box.fill(action)
    else:
        await field.click()
        # Into the list's own search field: typed elsewhere, letters are the
        # frontend's shortcuts (e opens the entity search).
        await picker.locator("ha-picker-combo-box input").fill(action)
    name = STRINGS["services"]["send_message"]["name"]
    option = page.locator("vaadin-combo-box-item, ha-combo-box-item").filter(
        has_text=action
    )
    await expect(option).to_have_count(1)
    await expect(option).to_contain_text(name)
    await option.click()
    await expect(picker).to_contain_text(name)


async def read_inbox(
    page: Page, inbox_url: str, subject: str, screenshot: Path
) -> Locator:
    """Open the emulator's inbox: the alert is listed with its snapshot loaded."""
    await page.goto(inbox_url)
    article = page.locator("article.message").filter(
        has=page.locator("h2.subject", has_text=subject)
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
    await page.screenshot(path=screenshot, full_page=True)
    return article
