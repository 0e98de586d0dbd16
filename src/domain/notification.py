"""Subscriptions to product updates and the notification (outbox) records that e-mail them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from html import escape
from uuid import UUID

from domain.product import FieldChange, Product

MAX_RECIPIENTS_PER_REQUEST = 1000


class NotificationStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


@dataclass(frozen=True)
class Subscription:
    id: UUID
    product_id: UUID
    email: str
    token: str
    created_at: datetime


@dataclass(frozen=True)
class Notification:
    id: UUID
    product_id: UUID
    status: NotificationStatus
    changes: list[FieldChange]
    recipients: int
    attempts: int
    provider_message_id: str | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class Recipient:
    subscription_id: UUID
    email: str
    token: str


@dataclass(frozen=True)
class EmailMessage:
    """One provider request: one personalization per recipient, so no one sees another."""

    notification_id: UUID
    subject: str
    text: str
    html: str
    recipients: list[Recipient] = field(default_factory=list)
    unsubscribe_url_template: str = ""


def describe_update(product: Product, changes: list[FieldChange]) -> tuple[str, str, str]:
    """Subject, text and HTML bodies (without the per-recipient unsubscribe line)."""
    subject = f"{product.name} was updated"
    lines = [f"- {c.field}: {c.old} -> {c.new}" for c in changes]
    text = f"{product.name} ({product.sku}) has changed:\n" + "\n".join(lines)
    items = "".join(
        f"<li><b>{escape(c.field)}</b>: {escape(c.old)} &rarr; {escape(c.new)}</li>"
        for c in changes
    )
    html = f"<p>{escape(product.name)} ({escape(product.sku)}) has changed:</p><ul>{items}</ul>"
    return subject, text, html


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"
