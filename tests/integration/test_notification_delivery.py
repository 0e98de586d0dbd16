"""Update e-mails end to end on real PostgreSQL, Redis (Dramatiq) and the fake SendGrid."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
from dramatiq import Worker
from litestar.testing import AsyncTestClient
from sqlalchemy import insert

from adapters.sqlalchemy.tables import subscriptions
from domain.notification import Notification, NotificationStatus
from domain.product import ProductDraft
from entrypoints.container import Container, build_container
from entrypoints.http.app import create_app
from entrypoints.settings import Settings
from entrypoints.worker.actors import register_actors
from tests.conftest import REDIS_URL
from tests.fake_sendgrid import FakeSendGrid, Scripted
from tests.helpers import ADMIN, make_settings
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.integration


@dataclass
class Stack:
    settings: Settings
    api: Container
    fake: FakeSendGrid
    tmp: Path

    def env(self) -> dict[str, str]:
        return {
            "FOOTFALL_DATABASE_URL": self.settings.database_url,
            "FOOTFALL_BROKER_URL": self.settings.broker_url or "",
            "FOOTFALL_REDIS_PREFIX": self.settings.redis_prefix,
            "SENDGRID_API_KEY": self.fake.api_key,
            "FOOTFALL_SENDGRID_HOST": self.fake.url,
            "FOOTFALL_EMAIL_FROM": "news@footfall.test",
            "FOOTFALL_ADMIN_TOKEN": "test-admin-token",
            "FOOTFALL_HASH_SECRET": "s",
            "FOOTFALL_DATA_DIR": str(self.tmp),
            "FOOTFALL_EMAIL_LEASE_S": "1",
        }


@pytest.fixture
async def stack(fresh_postgres: str, redis_namespace: str, tmp_path: Path) -> AsyncIterator[Stack]:
    with FakeSendGrid() as fake:
        settings = make_settings(
            tmp_path,
            FOOTFALL_DATABASE_URL=fresh_postgres,
            FOOTFALL_BROKER_URL=REDIS_URL,
            FOOTFALL_REDIS_PREFIX=redis_namespace,
            SENDGRID_API_KEY=fake.api_key,
            FOOTFALL_SENDGRID_HOST=fake.url,
            FOOTFALL_EMAIL_FROM="news@footfall.test",
            FOOTFALL_EMAIL_LEASE_S="1",
        )
        api = build_container(settings)
        yield Stack(settings, api, fake, tmp_path)
        await api.engine().dispose()


@pytest.fixture
def worker(stack: Stack) -> Iterator[Worker]:
    """A Dramatiq worker on the real Redis broker, with a container of its own (its own loop)."""
    container = build_container(stack.settings)
    broker = container.broker()
    register_actors(broker, container, min_backoff_ms=200)
    running = Worker(broker, worker_threads=1, worker_timeout=100)
    running.start()
    yield running
    running.stop()
    broker.close()


async def product_with_subscribers(stack: Stack, count: int) -> UUID:
    draft = ProductDraft.create(
        sku=f"L-{uuid4().hex[:6]}", name="Lamp", description="", price="10", currency="EUR"
    )
    product = await stack.api.product_service().create(draft)
    async with stack.api.engine().begin() as connection:
        await connection.execute(
            insert(subscriptions),
            [
                {
                    "id": uuid4(),
                    "product_id": product.id,
                    "email": f"user{n}@example.com",
                    "token": uuid4().hex,
                    "created_at": product.created_at,
                }
                for n in range(count)
            ],
        )
    return product.id


async def notification_of(stack: Stack, pid: UUID) -> Notification:
    [found] = await stack.api.notification_service().search(pid, None)
    return found


async def wait_for_status(
    stack: Stack, pid: UUID, status: NotificationStatus, timeout: float = 20
) -> Notification:
    deadline = time.monotonic() + timeout
    while True:
        found = await notification_of(stack, pid)
        if found.status == status or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.05)


async def update(stack: Stack, pid: UUID, **changes: Any) -> None:
    _, notify = await stack.api.product_service().update(pid, changes)
    assert notify
    assert await stack.api.notification_service().relay() == 1


async def test_an_update_reaches_every_subscriber_once(stack: Stack, worker: Worker) -> None:
    pid = await product_with_subscribers(stack, 3)
    await update(stack, pid, price="12.50")
    sent = await wait_for_status(stack, pid, NotificationStatus.SENT)
    assert sent.status == NotificationStatus.SENT, sent
    assert sent.recipients == 3 and sent.attempts == 1
    assert sorted(stack.fake.recipients()) == [f"user{n}@example.com" for n in range(3)]
    assert sent.provider_message_id and len(sent.provider_message_id) == 22
    assert "10 -> 12.50" in stack.fake.accepted[0]["content"][0]["value"]


async def test_rate_limit_then_outage_then_success(stack: Stack, worker: Worker) -> None:
    pid = await product_with_subscribers(stack, 2)
    stack.fake.script = [
        Scripted(429, {"X-RateLimit-Reset": str(int(time.time()) + 1)}, "too many requests"),
        Scripted(503, message="unavailable"),
    ]
    await update(stack, pid, name="Lamp 2")
    sent = await wait_for_status(stack, pid, NotificationStatus.SENT)
    assert sent.status == NotificationStatus.SENT, sent
    assert (sent.attempts, stack.fake.requests, len(stack.fake.accepted)) == (3, 3, 1)


async def test_a_permanent_refusal_fails_without_retrying(stack: Stack, worker: Worker) -> None:
    pid = await product_with_subscribers(stack, 2)
    stack.fake.script = [
        Scripted(400, message="The from address does not match a verified Sender Identity.")
    ]
    await update(stack, pid, name="Lamp 2")
    failed = await wait_for_status(stack, pid, NotificationStatus.FAILED)
    assert failed.status == NotificationStatus.FAILED
    assert (
        failed.last_error
        == "SendGrid 400: The from address does not match a verified Sender Identity."
    )
    await asyncio.sleep(1.0)
    assert stack.fake.requests == 1 and failed.attempts == 1


async def test_thousands_of_subscribers_are_split_into_valid_requests(
    stack: Stack, worker: Worker
) -> None:
    pid = await product_with_subscribers(stack, 2500)
    await update(stack, pid, description="now dimmable")
    sent = await wait_for_status(stack, pid, NotificationStatus.SENT, timeout=60)
    assert sent.status == NotificationStatus.SENT and sent.recipients == 2500
    assert [len(b["personalizations"]) for b in stack.fake.accepted] == [1000, 1000, 500]
    everyone = stack.fake.recipients()
    assert len(everyone) == len(set(everyone)) == 2500
    assert len(sent.provider_message_id.split(",")) == 3  # type: ignore[union-attr]


async def test_redis_down_during_the_patch_delays_but_never_loses_the_email(
    stack: Stack, worker: Worker
) -> None:
    pid = await product_with_subscribers(stack, 1)
    proxy = TcpProxy("127.0.0.1", 6379)
    proxy.start()
    redis_db = REDIS_URL.rsplit("/", 1)[1]
    env = {**stack.env(), "FOOTFALL_BROKER_URL": f"redis://127.0.0.1:{proxy.port}/{redis_db}"}
    app = create_app(build_container(make_settings(stack.tmp, **env)))
    url = f"/api/admin/notifications?product_id={pid}"
    try:
        async with AsyncTestClient(app) as client:
            proxy.stop()  # Redis goes away just before the admin saves
            patch = await client.patch(
                f"/api/admin/products/{pid}", json={"name": "Lamp 2"}, headers=ADMIN
            )
            assert patch.status_code == 200
            await asyncio.sleep(0.5)  # the relay has tried and failed by now
            [pending] = (await client.get(url, headers=ADMIN)).json()
            assert pending["status"] == "pending" and stack.fake.requests == 0
            ready = await client.get("/health/ready")
            assert ready.status_code == 503 and "broker" in ready.json()["detail"]
            proxy.start()  # Redis is back: the relay loop (every 5 s) hands the message over
            for _ in range(300):
                [current] = (await client.get(url, headers=ADMIN)).json()
                if current["status"] == "sent":
                    break
                await asyncio.sleep(0.05)
    finally:
        proxy.stop()
    assert current["status"] == "sent", current
    assert stack.fake.recipients() == ["user0@example.com"]


async def test_a_worker_killed_between_batches_never_resends_the_accepted_batch(
    stack: Stack,
) -> None:
    pid = await product_with_subscribers(stack, 1500)
    # The first batch is accepted; the second request hangs until the worker is killed.
    await update(stack, pid, name="Lamp 2")
    stack.fake.script = [Scripted(202), Scripted(503, hang_s=30)]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dramatiq",
            "entrypoints.worker.app",
            "--processes",
            "1",
            "--threads",
            "1",
        ],
        env={**os.environ, **stack.env()},
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while stack.fake.requests < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert stack.fake.requests == 2, "the worker never reached the second batch"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=10)
    assert len(stack.fake.accepted) == 1
    # A new attempt after the dead worker's lease (1 s here) sends only what was not accepted.
    await asyncio.sleep(1.1)
    stack.fake.script = []
    await stack.api.notification_service().send_product_update_email(
        (await notification_of(stack, pid)).id
    )
    sent = await notification_of(stack, pid)
    assert sent.status == NotificationStatus.SENT and sent.recipients == 1500
    everyone = stack.fake.recipients()
    assert len(everyone) == len(set(everyone)) == 1500
    assert [len(b["personalizations"]) for b in stack.fake.accepted] == [1000, 500]
