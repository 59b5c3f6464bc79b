"""The one path of every alert: recipients, compose, budget, then send or hold.

``notify.o365``, ``o365.send_message``, ``notify.send_message`` and the test
email button all end in :func:`async_send` with a validated
:class:`~.request.MailRequest`:

1. the recipients: the request's, else the account's default recipients,
   else the mailbox itself (:func:`async_recipients`);
2. a sending slot, so a burst composes messages only as fast as they leave;
3. the message (:mod:`.compose`: snapshots, files, URLs) and its size limits;
4. the budget (:mod:`.budget`): on its own now, or held for a digest
   (:mod:`.digest`);
5. the sender (:mod:`.sender`): now, through the backup account, or into the
   outbox for later (:mod:`.outbox_worker`).
"""

from __future__ import annotations

from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError

from .account import O365Account
from .compose import async_compose
from .const import DOMAIN, with_help
from .errors import as_home_assistant_error
from .graph import (
    EmailAddress,
    GraphError,
    Mailbox,
    MessageLimitError,
    O365Error,
    check_message_limits,
)
from .graph.message import is_email_address
from .models import Outcome
from .request import MailRequest

#: Exchange Online's default limit of recipients per message (To, Cc, Bcc;
#: defender-docs outbound-spam-sending-limits-troubleshoot.md).
MAX_RECIPIENTS = 500


async def async_send(
    hass: HomeAssistant, account: O365Account, request: MailRequest
) -> Outcome:
    """Send an alert: now, through the backup, queued, or held for a digest."""
    to = request.to or await async_recipients(account)
    if len(to) + len(request.cc) + len(request.bcc) > MAX_RECIPIENTS:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="too_many_recipients",
            translation_placeholders=with_help({"limit": str(MAX_RECIPIENTS)}),
        )
    async with account.slots:
        composition = await async_compose(
            hass,
            request,
            to=to,
            save_to_sent_items=account.options.save_to_sent_items,
            sender=request.sender or None,
        )
        try:
            mail = composition.mail
            try:
                check_message_limits(mail.message, account.options.limits)
            except MessageLimitError as err:
                raise as_home_assistant_error(err, account.mailbox) from err
            digests = account.digests
            if account.budget.admit(
                mail.recipients,
                urgent=mail.urgent,
                keep=digests.keep,
                storm=digests.active,
            ):
                return await account.sender.async_submit(mail)
            return await digests.async_hold(mail)
        finally:
            await composition.async_cleanup(hass)


async def async_recipients(account: O365Account) -> tuple[EmailAddress, ...]:
    """Return the default recipients, else the mailbox itself.

    A mailbox given by object ID is looked up once (``GET /users/{id}``);
    without the directory permission the action must name a target.
    """
    if recipients := account.options.default_recipients:
        return recipients
    if is_email_address(account.mailbox):
        return (EmailAddress(account.mailbox),)
    if account.address is None:
        account.address = await _async_lookup_address(account)
    return (EmailAddress(account.address),)


async def _async_lookup_address(account: O365Account) -> str:
    target_required = ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key="target_required",
        translation_placeholders=with_help({"mailbox": account.mailbox}),
    )
    if (connection := account.connection) is None:
        raise target_required
    try:
        user = await connection.client.get_user(Mailbox(account.mailbox))
    except GraphError as err:
        if err.transient:
            raise as_home_assistant_error(err, account.mailbox) from err
        raise target_required from err
    except O365Error as err:
        raise as_home_assistant_error(err, account.mailbox) from err
    if not (address := user.mail or user.user_principal_name):
        raise target_required
    return address
