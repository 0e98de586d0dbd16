"""The embedded default sender: writes each message to the log with the addresses masked."""

from __future__ import annotations

import logging
from uuid import uuid4

from domain.notification import EmailMessage, mask_email

log = logging.getLogger("footfall.email")


class LogEmailSender:
    async def send(self, message: EmailMessage) -> str:
        message_id = f"log-{uuid4().hex}"
        log.info(
            "email (not sent: SENDGRID_API_KEY unset) %s to %s: %s",
            message_id,
            ", ".join(mask_email(r.email) for r in message.recipients),
            message.subject,
            extra={"notification_id": str(message.notification_id), "body": message.text},
        )
        return message_id
