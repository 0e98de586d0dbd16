"""SendGrid adapter: one personalization per recipient, calls kept off the event loop."""

from __future__ import annotations

import asyncio
import json
import time
import urllib.error
from typing import Any

from python_http_client.exceptions import HTTPError
from sendgrid import SendGridAPIClient

from domain.notification import EmailMessage
from ports.services import PermanentEmailError, TransientEmailError

UNSUBSCRIBE_TAG = "-unsubscribe_url-"
PERMANENT = {400, 401, 403, 404, 405, 413, 415}


def mail_body(message: EmailMessage, sender: str) -> dict[str, Any]:
    """The Mail Send body; the unsubscribe link is substituted per recipient."""
    personalizations = []
    for recipient in message.recipients:
        url = message.unsubscribe_url_template.format(token=recipient.token)
        personalizations.append(
            {
                "to": [{"email": recipient.email}],
                "substitutions": {UNSUBSCRIBE_TAG: url},
                "headers": {
                    "List-Unsubscribe": f"<{url}>",
                    "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
                },
            }
        )
    return {
        "personalizations": personalizations,
        "from": {"email": sender},
        "subject": message.subject,
        "content": [
            {"type": "text/plain", "value": f"{message.text}\n\nUnsubscribe: {UNSUBSCRIBE_TAG}"},
            {
                "type": "text/html",
                "value": f'{message.html}<p><a href="{UNSUBSCRIBE_TAG}">Unsubscribe</a></p>',
            },
        ],
        "custom_args": {"notification_id": str(message.notification_id)},
    }


class SendGridEmailSender:
    def __init__(self, api_key: str, host: str, sender: str, timeout_s: float = 10.0) -> None:
        self._client = SendGridAPIClient(api_key=api_key, host=host.rstrip("/"))
        self._sender = sender
        self._timeout_s = timeout_s

    async def send(self, message: EmailMessage) -> str:
        body = mail_body(message, self._sender)
        return await asyncio.to_thread(self._post, body)

    def _post(self, body: dict[str, Any]) -> str:
        try:
            response = self._client.client.mail.send.post(
                request_body=body, timeout=self._timeout_s
            )
        except HTTPError as exc:
            raise _classify(exc) from None
        except (urllib.error.URLError, TimeoutError, OSError) as exc:
            raise TransientEmailError(f"SendGrid unreachable: {exc}") from exc
        message_id = _header(response.headers, "X-Message-Id")
        if response.status_code != 202 or not message_id:
            raise TransientEmailError(f"unexpected SendGrid answer {response.status_code}")
        return message_id


def _header(headers: Any, name: str) -> str | None:
    if headers is None:
        return None
    value = headers.get(name) if hasattr(headers, "get") else None
    return str(value) if value else None


def _error_message(exc: HTTPError) -> str:
    try:
        errors = json.loads(exc.body)["errors"]
        text = "; ".join(str(e.get("message")) for e in errors)
    except (ValueError, KeyError, TypeError, AttributeError):
        text = str(exc.reason)
    return f"SendGrid {exc.status_code}: {text}"


def _classify(exc: HTTPError) -> Exception:
    status = int(exc.status_code)
    if status in PERMANENT:
        return PermanentEmailError(_error_message(exc))
    retry_after = None
    if status == 429:
        reset = _header(exc.headers, "X-RateLimit-Reset")
        if reset and reset.isdigit():
            retry_after = max(float(reset) - time.time(), 1.0)
    return TransientEmailError(_error_message(exc), retry_after_s=retry_after)
