"""Make docs/img/digest.png: a storm digest as the emulator's inbox page shows it.

Sixteen alerts of an evening's storm (a flapping front door with its camera's
snapshot, garden motion, the washing machine) are held in the integration's
own outbox, read back and composed into one digest by
``custom_components.o365.digest.compose_digest``, exactly as the digest
timer does. The product's Graph client sends it, app-only, from
alerts@contoso.com to the in-process emulator, and headless Chromium
(Debian's /usr/bin/chromium, driven by Playwright) photographs the message
on the inbox page.

Run from the repository root:

    PYTHONPATH=. .venv/bin/python scripts/develop_assets/digest_screenshot.py
"""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
import tempfile

import aiohttp
from playwright.async_api import async_playwright

from custom_components.o365.digest import HELD, compose_digest
from custom_components.o365.graph import (
    AppTokenProvider,
    Attachment,
    BodyType,
    EmailAddress,
    GraphClient,
    GraphSettings,
    Mailbox,
    Message,
    MessageLimits,
    custom_endpoints,
)
from custom_components.o365.models import OutgoingMail
from custom_components.o365.outbox import Outbox
from emulator import Emulator
from emulator.directory import (
    DEFAULT_CLIENT_ID,
    DEFAULT_CLIENT_SECRET,
    DEFAULT_TENANT_ID,
)

ROOT = Path(__file__).resolve().parents[2]
OUTPUT = ROOT / "docs" / "img" / "digest.png"
FRONT_DOOR_JPEG = Path(__file__).resolve().with_name("front_door.jpg")
CHROMIUM = "/usr/bin/chromium"
MAILBOX = "alerts@contoso.com"
CAMERA = "camera.front_door"
#: The account's budget (Outlook.com's 300, set in a work account's options).
DAILY_LIMIT = 300
#: The first held alert; the digest goes 15 minutes later (the shortest interval).
STORM = datetime(2025, 6, 14, 19, 2, 10, tzinfo=UTC)
DIGEST_AT = STORM + timedelta(minutes=15)
FRONT_DOOR = ("Front door opened", "The front door opened.")
GARDEN = ("Motion in the garden", "Movement seen by the garden sensor.")
WASHER = ("Washing machine finished", "The washing machine finished its cycle.")
#: (seconds after STORM, alert, with the front door camera's snapshot)
ALERTS = [
    *((40 * n, FRONT_DOOR, True) for n in range(12)),
    (95, GARDEN, False),
    (130, GARDEN, False),
    (260, GARDEN, False),
    (545, WASHER, False),
]


def alert(title: str, text: str, at: datetime, snapshot: bool) -> OutgoingMail:
    """Return an alert as notify.o365 composes it (text body, snapshot as a file)."""
    attachments: tuple[Attachment, ...] = ()
    if snapshot:
        name = f"front_door_{at:%Y%m%d_%H%M%S}.jpg"
        picture = Attachment.from_bytes(
            name, FRONT_DOOR_JPEG.read_bytes(), "image/jpeg", CAMERA
        )
        attachments = (replace(picture, inline=False),)
    message = Message(
        subject=title,
        body=text,
        body_type=BodyType.TEXT,
        to=(EmailAddress(MAILBOX),),
        attachments=attachments,
    )
    return OutgoingMail(message, save_to_sent_items=True)


def compose(outbox: Outbox) -> OutgoingMail:
    """Hold the storm's alerts in the outbox, then compose their digest."""
    for seconds, (title, text), snapshot in sorted(ALERTS, key=lambda a: a[0]):
        at = STORM + timedelta(seconds=seconds)
        mail = alert(title, text, at, snapshot)
        item = outbox.new_item(mail, reason=HELD, now=at.timestamp(), held=True)
        outbox.write(item, mail)
        outbox.add(item)
    entries = [(item, outbox.read(item)) for item in outbox.held]
    return compose_digest(entries, MessageLimits(), DAILY_LIMIT)


async def send(emulator: Emulator, digest: OutgoingMail) -> None:
    """Send the digest with the product's Graph client, as the emulator's app."""
    async with aiohttp.ClientSession() as session:
        settings = GraphSettings(
            session=session,
            endpoints=custom_endpoints(emulator.url),
            tenant=DEFAULT_TENANT_ID,
            client_id=DEFAULT_CLIENT_ID,
            ssl_context=emulator.ssl_context(),
        )
        client = GraphClient(
            settings, AppTokenProvider(settings, DEFAULT_CLIENT_SECRET)
        )
        await client.send_mail(
            Mailbox(MAILBOX),
            digest.message,
            save_to_sent_items=digest.save_to_sent_items,
        )


async def screenshot(emulator: Emulator, output: Path) -> None:
    """Photograph the digest on the inbox page, its picture loaded."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--no-first-run"],
        )
        try:
            page = await browser.new_page(
                ignore_https_errors=True,
                viewport={"width": 1100, "height": 900},
                device_scale_factor=1.25,
                color_scheme="light",
                locale="en-US",
                timezone_id="UTC",
            )
            await page.goto(emulator.inbox_url)
            message = page.locator("article.message")
            await message.wait_for()
            await page.wait_for_function(
                """() => {
                  const frame = document.querySelector("article.message iframe");
                  const doc = frame && frame.contentDocument;
                  return doc && doc.readyState === "complete" && doc.images.length
                    && [...doc.images].every((i) => i.complete && i.naturalWidth)
                    && doc.body.getBoundingClientRect().bottom <= frame.clientHeight;
                }"""
            )
            box = await message.bounding_box()
            assert box is not None
            margin = 12
            output.parent.mkdir(parents=True, exist_ok=True)
            await page.screenshot(
                path=output,
                full_page=True,
                clip={
                    "x": box["x"] - margin,
                    "y": box["y"] - margin,
                    "width": box["width"] + 2 * margin,
                    "height": box["height"] + 2 * margin,
                },
            )
        finally:
            await browser.close()


async def main() -> None:
    """Compose, send and photograph one digest."""
    with tempfile.TemporaryDirectory(prefix="digest-") as tmp:
        digest = await asyncio.to_thread(compose, Outbox(Path(tmp) / "outbox"))
        async with Emulator(Path(tmp) / "emulator") as emulator:
            # The inbox dates the mail when the digest timer would have sent it.
            emulator.clock_offset = DIGEST_AT - datetime.now(UTC)
            await send(emulator, digest)
            await screenshot(emulator, OUTPUT)
    print(f"{digest.message.subject}\n-> {OUTPUT.relative_to(ROOT)}")


if __name__ == "__main__":
    asyncio.run(main())
