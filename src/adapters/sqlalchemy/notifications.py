"""Subscription and notification (outbox) repositories."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import delete, exists, func, insert, literal, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.engine import upsert_insert
from adapters.sqlalchemy.tables import (
    notification_batches,
    notification_recipients,
    notifications,
    subscriptions,
)
from domain.notification import Notification, NotificationStatus, Recipient, Subscription
from domain.product import FieldChange


class SqlSubscriptionRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def add(self, subscription: Subscription) -> Subscription:
        await self._db.execute(
            upsert_insert(self._db)(subscriptions)
            .values(
                id=subscription.id,
                product_id=subscription.product_id,
                email=subscription.email,
                token=subscription.token,
                created_at=subscription.created_at,
            )
            .on_conflict_do_nothing()
        )
        row = (
            await self._db.execute(
                select(subscriptions)
                .where(subscriptions.c.product_id == subscription.product_id)
                .where(subscriptions.c.email == subscription.email)
            )
        ).one()
        return Subscription(
            id=row.id,
            product_id=row.product_id,
            email=row.email,
            token=row.token,
            created_at=row.created_at,
        )

    async def delete_by_token(self, token: str) -> bool:
        result = await self._db.execute(delete(subscriptions).where(subscriptions.c.token == token))
        return result.rowcount > 0

    async def count_for_product(self, product_id: UUID) -> int:
        return (
            await self._db.execute(
                select(func.count()).where(subscriptions.c.product_id == product_id)
            )
        ).scalar_one()


def _notification(row: Any) -> Notification:
    return Notification(
        id=row.id,
        product_id=row.product_id,
        status=NotificationStatus(row.status),
        changes=[FieldChange(**change) for change in row.changes],
        recipients=row.recipients,
        attempts=row.attempts,
        provider_message_id=row.provider_message_id,
        last_error=row.last_error,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlNotificationRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def add(self, notification: Notification) -> None:
        await self._db.execute(insert(notifications).values(self._values(notification)))

    async def save(self, notification: Notification) -> None:
        values = self._values(notification)
        del values["id"], values["created_at"]
        await self._db.execute(
            update(notifications).where(notifications.c.id == notification.id).values(values)
        )

    @staticmethod
    def _values(n: Notification) -> dict[str, Any]:
        return {
            "id": n.id,
            "product_id": n.product_id,
            "status": n.status.value,
            "changes": [{"field": c.field, "old": c.old, "new": c.new} for c in n.changes],
            "recipients": n.recipients,
            "attempts": n.attempts,
            "provider_message_id": n.provider_message_id,
            "last_error": n.last_error,
            "created_at": n.created_at,
            "updated_at": n.updated_at,
        }

    async def get(self, notification_id: UUID) -> Notification | None:
        row = (
            await self._db.execute(
                select(notifications).where(notifications.c.id == notification_id)
            )
        ).first()
        return _notification(row) if row else None

    async def search(
        self, product_id: UUID | None, status: NotificationStatus | None, limit: int
    ) -> list[Notification]:
        query = select(notifications).order_by(notifications.c.created_at.desc()).limit(limit)
        if product_id is not None:
            query = query.where(notifications.c.product_id == product_id)
        if status is not None:
            query = query.where(notifications.c.status == status.value)
        return [_notification(r) for r in await self._db.execute(query)]

    async def due_for_relay(self, limit: int, stale_before: datetime) -> list[UUID]:
        rows = await self._db.execute(
            select(notifications.c.id)
            .where(
                notifications.c.enqueued_at.is_(None) | (notifications.c.enqueued_at < stale_before)
            )
            .where(notifications.c.status == NotificationStatus.PENDING.value)
            .order_by(notifications.c.created_at)
            .limit(limit)
        )
        return [r.id for r in rows]

    async def mark_enqueued(self, notification_id: UUID, at: datetime) -> None:
        await self._db.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(enqueued_at=at)
        )

    async def lease(self, notification_id: UUID, now: datetime, until: datetime) -> bool:
        result = await self._db.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .where(notifications.c.lease_until.is_(None) | (notifications.c.lease_until < now))
            .values(lease_until=until)
        )
        return result.rowcount > 0

    async def release(self, notification_id: UUID) -> None:
        await self._db.execute(
            update(notifications)
            .where(notifications.c.id == notification_id)
            .values(lease_until=None)
        )

    async def snapshot_recipients(self, notification_id: UUID, batch_size: int) -> int:
        frozen = (
            await self._db.execute(
                select(notifications.c.recipients_frozen).where(
                    notifications.c.id == notification_id
                )
            )
        ).scalar_one()
        if not frozen:
            product_id = (
                select(notifications.c.product_id)
                .where(notifications.c.id == notification_id)
                .scalar_subquery()
            )
            position = func.row_number().over(order_by=subscriptions.c.id) - 1
            await self._db.execute(
                insert(notification_recipients).from_select(
                    ["notification_id", "subscription_id", "batch_no"],
                    select(
                        literal(notification_id, notification_recipients.c.notification_id.type),
                        subscriptions.c.id,
                        position // batch_size,
                    ).where(subscriptions.c.product_id == product_id),
                )
            )
            await self._db.execute(
                update(notifications)
                .where(notifications.c.id == notification_id)
                .values(recipients_frozen=True)
            )
        return (
            await self._db.execute(
                select(func.count()).where(
                    notification_recipients.c.notification_id == notification_id
                )
            )
        ).scalar_one()

    async def unsent_batches(self, notification_id: UUID) -> list[tuple[int, list[Recipient]]]:
        sent = exists().where(
            notification_batches.c.notification_id == notification_id,
            notification_batches.c.batch_no == notification_recipients.c.batch_no,
        )
        rows = await self._db.execute(
            select(
                notification_recipients.c.batch_no,
                subscriptions.c.id,
                subscriptions.c.email,
                subscriptions.c.token,
            )
            # Whoever unsubscribed since the snapshot drops out here.
            .join(subscriptions, subscriptions.c.id == notification_recipients.c.subscription_id)
            .where(notification_recipients.c.notification_id == notification_id)
            .where(~sent)
            .order_by(notification_recipients.c.batch_no, subscriptions.c.id)
        )
        batches: dict[int, list[Recipient]] = {}
        for r in rows:
            batches.setdefault(r.batch_no, []).append(
                Recipient(subscription_id=r.id, email=r.email, token=r.token)
            )
        return sorted(batches.items())

    async def mark_batch_sent(
        self, notification_id: UUID, batch_no: int, provider_message_id: str, at: datetime
    ) -> None:
        await self._db.execute(
            insert(notification_batches).values(
                notification_id=notification_id,
                batch_no=batch_no,
                provider_message_id=provider_message_id,
                sent_at=at,
            )
        )

    async def sent_message_ids(self, notification_id: UUID) -> list[str]:
        rows = await self._db.execute(
            select(notification_batches.c.provider_message_id)
            .where(notification_batches.c.notification_id == notification_id)
            .order_by(notification_batches.c.batch_no)
        )
        return [r[0] for r in rows]
