from uuid import UUID

import pytest

from application.notifications import SEND_JOB
from domain.errors import ProductNotFound, SubscriptionNotFound
from domain.notification import NotificationStatus
from domain.product import ProductDraft
from ports.services import PermanentEmailError, TransientEmailError
from tests.helpers import FailOnCall
from tests.unit.fakes import World


async def product_with_subscribers(world: World, count: int) -> UUID:
    draft = ProductDraft.create(sku="S", name="Lamp", description="", price="10", currency="EUR")
    pid = (await world.products().create(draft)).id
    for n in range(count):
        await world.subscriptions().subscribe(pid, f"user{n}@example.com")
    return pid


async def patch_and_relay(world: World, pid: UUID, **changes: object) -> UUID:
    _, notify = await world.products().update(pid, changes)
    assert notify
    await world.notifications().relay()
    job, args = world.queue.jobs[-1]
    assert job == SEND_JOB
    return UUID(args[0])


async def test_subscribing_twice_is_harmless_and_unknown_products_are_not_found() -> None:
    world = World()
    pid = await product_with_subscribers(world, 1)
    await world.subscriptions().subscribe(pid, "user0@example.com")
    assert len(world.store.subscriptions) == 1
    with pytest.raises(ProductNotFound):
        await world.subscriptions().subscribe(UUID(int=0), "a@example.com")
    with pytest.raises(SubscriptionNotFound):
        await world.subscriptions().unsubscribe("no-such-token")


async def test_an_update_writes_what_changed_and_sends_it_once() -> None:
    world = World()
    pid = await product_with_subscribers(world, 2)
    nid = await patch_and_relay(world, pid, price="12.50")
    notification = world.store.notifications[nid]
    assert [(c.field, c.old, c.new) for c in notification.changes] == [("price", "10", "12.50")]
    await world.notifications().send_product_update_email(nid)
    await world.notifications().send_product_update_email(nid)  # a redelivered message
    assert len(world.sender.sent) == 1
    message = world.sender.sent[0]
    assert sorted(r.email for r in message.recipients) == ["user0@example.com", "user1@example.com"]
    assert "10 -> 12.50" in message.text
    sent = world.store.notifications[nid]
    assert (sent.status, sent.recipients, sent.provider_message_id) == (
        NotificationStatus.SENT,
        2,
        "msg-1",
    )


async def test_no_change_means_no_notification() -> None:
    world = World()
    pid = await product_with_subscribers(world, 1)
    _, notify = await world.products().update(pid, {"price": "10"})
    assert not notify and world.store.notifications == {}


async def test_a_down_broker_keeps_the_notification_in_the_outbox() -> None:
    world = World()
    pid = await product_with_subscribers(world, 1)
    world.queue.down = True
    await world.products().update(pid, {"name": "Lamp 2"})
    assert await world.notifications().relay() == 0
    assert world.metrics.counters["outbox_relay_failures"] == 1
    world.queue.down = False
    assert await world.notifications().relay() == 1
    assert await world.notifications().relay() == 0  # relayed once, not twice


async def test_more_than_1000_subscribers_go_out_in_batches_and_retries_skip_accepted_ones() -> (
    None
):
    world = World()
    pid = await product_with_subscribers(world, 2500)
    nid = await patch_and_relay(world, pid, name="Lamp 2")
    world.sender.failures = []
    service = world.notifications()

    fail_on_second_batch = FailOnCall(world.sender.send, 2, TransientEmailError("503"))
    world.sender.send = fail_on_second_batch  # type: ignore[method-assign]
    with pytest.raises(TransientEmailError):
        await service.send_product_update_email(nid)
    assert world.store.notifications[nid].status == NotificationStatus.PENDING
    await service.send_product_update_email(nid)
    sizes = [len(m.recipients) for m in world.sender.sent]
    assert sizes == [1000, 1000, 500]
    everyone = [r.email for m in world.sender.sent for r in m.recipients]
    assert len(everyone) == len(set(everyone)) == 2500
    done = world.store.notifications[nid]
    assert done.status == NotificationStatus.SENT and done.attempts == 2
    assert done.provider_message_id == "msg-1,msg-2,msg-3"


@pytest.mark.parametrize(
    "failure",
    [TransientEmailError("SendGrid 503: try later"), ConnectionResetError("reset by peer")],
)
async def test_a_send_that_will_be_retried_is_counted_and_logged_without_addresses(
    failure: Exception, caplog: pytest.LogCaptureFixture
) -> None:
    """SendGrid away for hours must show on a dashboard before the last attempt fails."""
    world = World()
    pid = await product_with_subscribers(world, 2)
    nid = await patch_and_relay(world, pid, name="Lamp 2")
    world.sender.failures = [failure]  # type: ignore[list-item]
    with pytest.raises(type(failure)):
        await world.notifications().send_product_update_email(nid)
    assert world.metrics.counters["email_send_failures"] == 1
    assert world.store.notifications[nid].status == NotificationStatus.PENDING
    logged = [r.getMessage() for r in caplog.records if r.name == "application.notifications"]
    assert len(logged) == 1 and str(nid) in logged[0] and str(failure) in logged[0]
    assert "example.com" not in caplog.text
    await world.notifications().send_product_update_email(nid)
    assert world.store.notifications[nid].status == NotificationStatus.SENT
    assert world.metrics.counters["email_send_failures"] == 1


async def test_a_permanent_refusal_fails_the_notification_without_retry() -> None:
    world = World()
    pid = await product_with_subscribers(world, 1)
    nid = await patch_and_relay(world, pid, name="Lamp 2")
    world.sender.failures = [PermanentEmailError("SendGrid 400: bad from address")]
    await world.notifications().send_product_update_email(nid)
    failed = world.store.notifications[nid]
    assert failed.status == NotificationStatus.FAILED
    assert failed.last_error == "SendGrid 400: bad from address"


async def test_unsubscribed_addresses_are_not_mailed() -> None:
    world = World()
    pid = await product_with_subscribers(world, 2)
    token = next(
        s.token for s in world.store.subscriptions.values() if s.email == "user0@example.com"
    )
    await world.subscriptions().unsubscribe(token)
    nid = await patch_and_relay(world, pid, name="Lamp 2")
    await world.notifications().send_product_update_email(nid)
    assert [r.email for r in world.sender.sent[0].recipients] == ["user1@example.com"]


async def test_a_lost_message_is_relayed_again_and_a_hopeless_one_gives_up() -> None:
    world = World()
    pid = await product_with_subscribers(world, 1)
    nid = await patch_and_relay(world, pid, name="Lamp 2")
    assert await world.notifications().relay() == 0
    world.clock.advance(hours=3)  # the broker lost it: nothing happened for hours
    assert await world.notifications().relay() == 1
    world.sender.failures = [TransientEmailError("503") for _ in range(20)]
    for _ in range(20):
        with pytest.raises(TransientEmailError):
            await world.notifications().send_product_update_email(nid)
    await world.notifications().send_product_update_email(nid)
    failed = world.store.notifications[nid]
    assert failed.status == NotificationStatus.FAILED and failed.attempts == 20
    assert failed.last_error == "gave up after 20 attempts: 503"
    assert world.sender.sent == []
