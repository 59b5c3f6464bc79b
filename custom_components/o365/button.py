"""The "Send test email" button of each account.

It sends a short message with a small inline image to the account's default
recipients through the one send path (:func:`.send.async_send`: the budget,
the backup account and the outbox included) and says what happened in a
persistent notification, so whoever pressed it sees the answer without
opening the log.
"""

from __future__ import annotations

from importlib import resources

from homeassistant.components import persistent_notification
from homeassistant.components.button import ButtonEntity
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.translation import async_get_exception_message

from .account import O365Account, O365ConfigEntry
from .const import DOMAIN, LOGGER, TEST_EMAIL_SUBJECT
from .entity import O365Entity
from .graph import Attachment
from .request import MailRequest
from .send import async_recipients, async_send

PARALLEL_UPDATES = 1

TEST_IMAGE = "test_image.png"
TEST_IMAGE_ID = "o365-test-image"


async def async_setup_entry(
    hass: HomeAssistant,
    entry: O365ConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the test email button of an account."""
    async_add_entities([TestEmailButton(entry.runtime_data)])


def test_request(image: bytes, mailbox: str) -> MailRequest:
    """Return the test email: a few lines and an inline picture."""
    return MailRequest(
        message="",
        title=TEST_EMAIL_SUBJECT,
        html=(
            "<p>This test email was sent by the o365 integration of Home "
            f"Assistant from {mailbox}. Alerts from this account can reach "
            "you, pictures included:</p>"
            f'<p><img src="cid:{TEST_IMAGE_ID}" alt="Home Assistant" width="64"></p>'
        ),
        files=(Attachment.from_bytes(TEST_IMAGE, image, "image/png", TEST_IMAGE_ID),),
    )


def _read_image() -> bytes:
    return resources.files(__package__).joinpath("brand", "icon.png").read_bytes()


class TestEmailButton(O365Entity, ButtonEntity):
    """Sends a test email and tells the outcome."""

    _attr_translation_key = "test_email"
    _attr_entity_category = EntityCategory.CONFIG

    def __init__(self, account: O365Account) -> None:
        """Attach the button to the account's device."""
        super().__init__(account, "test_email")

    async def async_press(self) -> None:
        """Send the test email through the one send path and report the outcome."""
        account = self.account
        placeholders = {"mailbox": account.mailbox}
        try:
            recipients = await async_recipients(account)
            image = await self.hass.async_add_executor_job(_read_image)
            outcome = await async_send(
                self.hass, account, test_request(image, account.mailbox)
            )
        except HomeAssistantError as err:
            key = "test_email_failed"
            placeholders["error"] = str(err)
            LOGGER.warning("The test email from %s failed: %s", account.mailbox, err)
        else:
            placeholders["recipients"] = ", ".join(str(r) for r in recipients)
            if outcome.status == "sent":
                key = "test_email_sent"
                placeholders["via"] = outcome.via or account.mailbox
            elif outcome.status == "held":
                key = "test_email_held"
            else:
                key = "test_email_queued"
                placeholders["reason"] = outcome.reason or "-"
        persistent_notification.async_create(
            self.hass,
            async_get_exception_message(DOMAIN, key, placeholders),
            title=async_get_exception_message(DOMAIN, "test_email_title", placeholders),
            notification_id=f"{DOMAIN}_test_email_{account.entry.entry_id}",
        )
        if key == "test_email_failed":
            # The action that pressed the button fails too.
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key=key,
                translation_placeholders=placeholders,
            )
