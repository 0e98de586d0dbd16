"""Subscriptions and the notification service: outbox relay and batched, idempotent sending."""

from __future__ import annotations

import logging
import re
import secrets
from dataclasses import replace
from datetime import timedelta
from uuid import UUID, uuid4

from domain.errors import ProductNotFound, SubscriptionNotFound
from domain.notification import (
    MAX_RECIPIENTS_PER_REQUEST,
    EmailMessage,
    Notification,
    NotificationStatus,
    Subscription,
    describe_update,
)
from ports.services import (
    Clock,
    EmailSender,
    JobQueue,
    Metrics,
    PermanentEmailError,
    QueueUnavailable,
    UnitOfWorkFactory,
)

log = logging.getLogger(__name__)

SEND_JOB = "send_product_update_email"
LEASE = timedelta(minutes=5)
# A message the broker lost, or whose retries ran out, is handed over again after this.
REQUEUE_AFTER = timedelta(hours=2)
MAX_ATTEMPTS = 20
# What secrets.token_urlsafe(32) makes: an unsubscribe token of any other shape is unknown.
TOKEN_SHAPE = re.compile(r"[A-Za-z0-9_-]{43}")


class SendLater(Exception):
    """The notification could not be fully sent now; the job should be retried."""

    def __init__(self, reason: str, retry_after_s: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after_s = retry_after_s


class SubscriptionService:
    def __init__(self, uow: UnitOfWorkFactory, clock: Clock) -> None:
        self._uow = uow
        self._clock = clock

    async def subscribe(self, product_id: UUID, normalised_email: str) -> None:
        async with self._uow() as uow:
            if await uow.products.get(product_id) is None:
                raise ProductNotFound(product_id)
            await uow.subscriptions.add(
                Subscription(
                    id=uuid4(),
                    product_id=product_id,
                    email=normalised_email,
                    token=secrets.token_urlsafe(32),
                    created_at=self._clock.now(),
                )
            )
            await uow.commit()

    async def unsubscribe(self, token: str) -> None:
        if not TOKEN_SHAPE.fullmatch(token):  # none was issued (and PostgreSQL refuses NUL)
            raise SubscriptionNotFound(token)
        async with self._uow() as uow:
            if not await uow.subscriptions.delete_by_token(token):
                raise SubscriptionNotFound(token)
            await uow.commit()


class NotificationService:
    def __init__(
        self,
        uow: UnitOfWorkFactory,
        clock: Clock,
        sender: EmailSender,
        queue: JobQueue,
        metrics: Metrics,
        *,
        unsubscribe_url: str,
        batch_size: int = MAX_RECIPIENTS_PER_REQUEST,
        lease: timedelta = LEASE,
    ) -> None:
        self._uow = uow
        self._clock = clock
        self._sender = sender
        self._queue = queue
        self._metrics = metrics
        self._unsubscribe_url = unsubscribe_url
        self._batch_size = min(batch_size, MAX_RECIPIENTS_PER_REQUEST)
        # How long a worker may hold a notification; a worker that died holding it delays
        # the retry by at most this much.
        self._lease = lease

    async def relay(self, limit: int = 100) -> int:
        """Outbox relay: enqueues notifications not yet handed to the broker.

        A broker that is down leaves them in the outbox for the next pass; a message enqueued
        twice is harmless because sending is idempotent.
        """
        stale_before = self._clock.now() - REQUEUE_AFTER
        async with self._uow() as uow:
            ids = await uow.notifications.due_for_relay(limit, stale_before)
        relayed = 0
        for notification_id in ids:
            try:
                await self._queue.enqueue(SEND_JOB, str(notification_id))
            except QueueUnavailable:
                self._metrics.increment("outbox_relay_failures")
                log.warning("broker unavailable: %d notifications wait in the outbox", len(ids))
                break
            async with self._uow() as uow:
                await uow.notifications.mark_enqueued(notification_id, self._clock.now())
                await uow.commit()
            relayed += 1
        return relayed

    async def search(
        self, product_id: UUID | None, status: NotificationStatus | None, limit: int = 100
    ) -> list[Notification]:
        async with self._uow() as uow:
            return await uow.notifications.search(product_id, status, limit)

    async def send_product_update_email(self, notification_id: UUID) -> None:
        """Sends every batch of the notification that the provider has not accepted yet.

        Idempotent: batches already accepted are never sent again, a sent or failed
        notification is left alone, and a lease keeps two workers off the same one.
        """
        now = self._clock.now()
        async with self._uow() as uow:
            notification = await uow.notifications.get(notification_id)
            if notification is None or notification.status != NotificationStatus.PENDING:
                return
            if not await uow.notifications.lease(notification_id, now, now + self._lease):
                raise SendLater("another worker holds this notification", 30)
            if notification.attempts >= MAX_ATTEMPTS:
                await uow.commit()
                await self._finish(
                    notification,
                    NotificationStatus.FAILED,
                    f"gave up after {notification.attempts} attempts: {notification.last_error}",
                )
                return
            product = await uow.products.get(notification.product_id)
            recipients = await uow.notifications.snapshot_recipients(
                notification_id, self._batch_size
            )
            notification = replace(
                notification,
                attempts=notification.attempts + 1,
                recipients=recipients,
                updated_at=now,
            )
            await uow.notifications.save(notification)
            batches = await uow.notifications.unsent_batches(notification_id)
            await uow.commit()
        if product is None:
            await self._finish(notification, NotificationStatus.FAILED, "product was deleted")
            return
        subject, text, html = describe_update(product, notification.changes)
        try:
            for batch_no, batch in batches:
                message_id = await self._sender.send(
                    EmailMessage(
                        notification_id=notification_id,
                        subject=subject,
                        text=text,
                        html=html,
                        recipients=batch,
                        unsubscribe_url_template=self._unsubscribe_url,
                    )
                )
                self._metrics.increment("emails_sent", len(batch))
                async with self._uow() as uow:
                    await uow.notifications.mark_batch_sent(
                        notification_id, batch_no, message_id, self._clock.now()
                    )
                    await uow.commit()
        except PermanentEmailError as exc:
            self._metrics.increment("notifications_failed")
            await self._finish(notification, NotificationStatus.FAILED, str(exc))
            return
        except Exception as exc:
            # Retried by the job's backoff; counted so that a provider away for hours shows
            # before the last attempt gives up.
            self._metrics.increment("email_send_failures")
            log.warning(
                "notification %s not sent this time, will be retried: %s", notification_id, exc
            )
            await self._finish(notification, NotificationStatus.PENDING, str(exc))
            raise
        await self._finish(notification, NotificationStatus.SENT, None)

    async def _finish(
        self, notification: Notification, status: NotificationStatus, error: str | None
    ) -> None:
        async with self._uow() as uow:
            message_ids = await uow.notifications.sent_message_ids(notification.id)
            await uow.notifications.save(
                replace(
                    notification,
                    status=status,
                    last_error=error,
                    provider_message_id=",".join(message_ids) or None,
                    updated_at=self._clock.now(),
                )
            )
            await uow.notifications.release(notification.id)
            await uow.commit()
