"""One contract, three implementations: the in-memory fakes must behave like the databases."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from uuid import UUID, uuid4

import pytest

from domain.analytics import CountedDuration, DailyDelta
from domain.errors import DuplicateSku
from domain.notification import Notification, NotificationStatus, Subscription
from domain.product import FieldChange, Product, ProductDraft
from domain.visit import Visit, micros

pytestmark = pytest.mark.integration
NOW = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)


def product(sku: str = "SKU-1", price: str = "19.90", at: datetime = NOW) -> Product:
    draft = ProductDraft.create(
        sku=sku, name="Lamp", description="Warm", price=price, currency="EUR"
    )
    return Product.new(draft, at)


def visit(product_id, when=NOW, visitor=b"v" * 32) -> Visit:  # type: ignore[no-untyped-def]
    return Visit(str(uuid4()), product_id, visitor, micros(when), "Chrome", "Linux", "desktop")


async def test_products_round_trip_exactly_and_skus_are_unique(uow_factory) -> None:  # type: ignore[no-untyped-def]
    lamp = product()
    async with uow_factory() as uow:
        await uow.products.add(lamp)
        await uow.commit()
    async with uow_factory() as uow:
        stored = await uow.products.get(lamp.id)
    assert stored == lamp and stored.price == Decimal("19.90") and str(stored.price) == "19.90"
    assert stored.created_at.tzinfo is not None
    async with uow_factory() as uow:
        with pytest.raises(DuplicateSku):
            await uow.products.add(product())
        # The transaction is still usable after the violation.
        await uow.products.add(other := product("SKU-2", at=NOW + timedelta(seconds=1)))
        await uow.commit()
    async with uow_factory() as uow:
        with pytest.raises(DuplicateSku):
            await uow.products.update(replace(other, sku="SKU-1"))
        page = await uow.products.page(limit=1, offset=1)
        assert page.total == 2 and [p.sku for p in page.items] == ["SKU-2"]
        assert await uow.products.get_many([lamp.id, other.id, uuid4()]) == {
            lamp.id: lamp,
            other.id: other,
        }
        assert await uow.products.delete(lamp.id)
        assert not await uow.products.delete(lamp.id)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.products.get(lamp.id) is None


async def test_leaving_without_commit_rolls_back(uow_factory) -> None:  # type: ignore[no-untyped-def]
    lamp = product()
    async with uow_factory() as uow:
        await uow.products.add(lamp)
    async with uow_factory() as uow:
        assert await uow.products.get(lamp.id) is None


async def test_visits_and_beacons_are_read_in_windows_that_never_repeat(uow_factory) -> None:  # type: ignore[no-untyped-def]
    pid = uuid4()
    first, second = visit(pid), visit(pid, NOW + timedelta(seconds=1))._replace(duration_ms=800)
    first_id, second_id = UUID(first.id), UUID(second.id)  # stored and read back as UUIDs
    async with uow_factory() as uow:
        await uow.visits.add_many([first, second])
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.visits.add_engagement(first_id, 3000, NOW)
        assert await uow.visits.add_engagement(first_id, 1000, NOW)
        assert not await uow.visits.add_engagement(uuid4(), 1000, NOW)
        await uow.commit()
    async with uow_factory() as uow:
        window = await uow.visits.open_window(100)
        assert not window.empty
        assert [(v.id, v.day, v.duration_ms) for v in await uow.visits.visits_in(window)] == [
            (first_id, date(2026, 3, 1), None),
            (second_id, date(2026, 3, 1), 800),
        ]
        assert await uow.visits.durations_in(window) == {first_id: 3000, second_id: 800}
        counted = await uow.visits.counted_durations([first_id, second_id, uuid4()], window)
        assert counted == {  # nothing was counted before this window
            first_id: CountedDuration(pid, date(2026, 3, 1), None),
            second_id: CountedDuration(pid, date(2026, 3, 1), None),
        }
        await uow.visits.close_window(window)
        await uow.commit()
    async with uow_factory() as uow:
        assert (await uow.visits.open_window(100)).empty
        await uow.visits.add_engagement(first_id, 5000, NOW)  # a late beacon: a new window
        await uow.commit()
    async with uow_factory() as uow:
        late = await uow.visits.open_window(100)
        assert await uow.visits.visits_in(late) == []
        assert await uow.visits.durations_in(late) == {first_id: 5000}
        counted = await uow.visits.counted_durations([first_id, second_id], late)
        assert (counted[first_id].duration_ms, counted[second_id].duration_ms) == (3000, 800)
        await uow.visits.close_window(late)
        assert await uow.visits.delete_aggregated_before(NOW + timedelta(days=1)) == 2
        await uow.commit()


async def test_a_visit_id_is_stored_once_and_writing_it_again_fails(uow_factory) -> None:  # type: ignore[no-untyped-def]
    """The buffer must never write a visit twice; a fake that silently overwrote would
    hide it, so every adapter refuses as the primary key does, and keeps nothing of it."""
    pid = uuid4()
    first = visit(pid)
    async with uow_factory() as uow:
        await uow.visits.add_many([first])
        await uow.commit()
    with pytest.raises(Exception):  # noqa: B017 - each driver has its own integrity error
        async with uow_factory() as uow:
            await uow.visits.add_many([visit(pid), first])
            await uow.commit()
    async with uow_factory() as uow:
        window = await uow.visits.open_window(100)
        assert [v.id for v in await uow.visits.visits_in(window)] == [UUID(first.id)]


async def test_windows_are_bounded_by_span(uow_factory) -> None:  # type: ignore[no-untyped-def]
    pid = uuid4()
    for _ in range(3):  # three separate writes (on PostgreSQL: three transactions)
        async with uow_factory() as uow:
            await uow.visits.add_many([visit(pid), visit(pid)])
            await uow.commit()
    seen = await window_sizes(uow_factory, span=3, windows=4)
    assert sum(seen) == 6 and max(seen) <= 4 and seen[-1] == 0
    async with uow_factory() as uow:  # one write larger than the span
        await uow.visits.add_many([visit(pid) for _ in range(5)])
        await uow.commit()
    seen = await window_sizes(uow_factory, span=3, windows=3)
    assert sum(seen) == 5 and seen[0] > 0 and seen[-1] == 0


async def window_sizes(uow_factory, span: int, windows: int) -> list[int]:  # type: ignore[no-untyped-def]
    """Opens and closes ``windows`` windows in turn; returns how many visits each held."""
    seen = []
    for _ in range(windows):
        async with uow_factory() as uow:
            window = await uow.visits.open_window(span)
            seen.append(len(await uow.visits.visits_in(window)))
            await uow.visits.close_window(window)
            await uow.commit()
    return seen


async def test_visitor_keys_are_insert_if_absent_and_deltas_add_up(uow_factory) -> None:  # type: ignore[no-untyped-def]
    lamp = product()
    day = date(2026, 3, 1)
    async with uow_factory() as uow:
        await uow.products.add(lamp)
        new = await uow.analytics.add_visitor_keys([(lamp.id, day, 1), (lamp.id, day, -2)])
        assert new == {(lamp.id, day): 2}
        again = await uow.analytics.add_visitor_keys(
            [(lamp.id, day, 1), (lamp.id, day + timedelta(days=1), 1)]
        )
        assert again == {(lamp.id, day + timedelta(days=1)): 1}
        for _ in range(2):
            await uow.analytics.apply_deltas(
                {
                    (lamp.id, day): DailyDelta(
                        visits=3, unique_visitors=1, durations=1, duration_total_ms=700
                    )
                }
            )
        await uow.analytics.set_as_of(NOW)
        await uow.analytics.set_as_of(NOW - timedelta(hours=1))  # never moves back
        await uow.commit()
    async with uow_factory() as uow:
        [row] = await uow.analytics.daily(lamp.id, day, day)
        assert (row.visits, row.unique_visitors, row.durations, row.duration_total_ms) == (
            6,
            2,
            2,
            1400,
        )
        two_days = (lamp.id, day, day + timedelta(days=1))
        assert await uow.analytics.unique_visitors(*two_days, per_day=False) == 2  # keys
        assert await uow.analytics.unique_visitors(*two_days, per_day=True) == 2  # rows
        assert await uow.analytics.as_of() == NOW
        [popular] = await uow.analytics.popular(day, day, 5, per_day=False)
        assert (popular.product_id, popular.visits, popular.unique_visitors) == (lamp.id, 6, 2)
        assert await uow.analytics.unique_counts(
            [(lamp.id, day), (lamp.id, day + timedelta(days=1))]
        ) == {(lamp.id, day): 2}
        await uow.analytics.forget_visitor_keys_before(day + timedelta(days=1))
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.analytics.unique_visitors(*two_days, per_day=False) == 1
        assert await uow.analytics.unique_visitors(*two_days, per_day=True) == 2


async def test_a_recount_takes_distinct_visitors_of_a_day_below_the_window(uow_factory) -> None:  # type: ignore[no-untyped-def]
    lamp = product()
    day = datetime(2026, 3, 1, tzinfo=UTC)
    async with uow_factory() as uow:
        await uow.products.add(lamp)
        await uow.commit()
    for hashes in ([b"a", b"b", b"a"], [b"c"]):  # two writes, e.g. two buffer flushes
        async with uow_factory() as uow:
            await uow.visits.add_many(
                [
                    Visit(
                        str(uuid4()),
                        lamp.id,
                        h * 32,
                        micros(day + timedelta(hours=n)),
                        "C",
                        "L",
                        "desktop",
                    )
                    for n, h in enumerate(hashes)
                ]
            )
            await uow.commit()
    async with uow_factory() as uow:
        window = await uow.visits.open_window(1_000)
        found = await uow.visits.distinct_visitors(
            [(lamp.id, day.date()), (lamp.id, day.date() + timedelta(days=1))], window
        )
        assert found == {(lamp.id, day.date()): 3, (lamp.id, day.date() + timedelta(days=1)): 0}


async def test_notifications_freeze_recipients_in_batches(uow_factory) -> None:  # type: ignore[no-untyped-def]
    lamp = product()
    note = Notification(
        uuid4(),
        lamp.id,
        NotificationStatus.PENDING,
        [FieldChange("name", "a", "b")],
        0,
        0,
        None,
        None,
        NOW,
        NOW,
    )
    async with uow_factory() as uow:
        await uow.products.add(lamp)
        for n in range(5):
            await uow.subscriptions.add(
                Subscription(uuid4(), lamp.id, f"u{n}@example.com", f"t{n}", NOW)
            )
        again = await uow.subscriptions.add(
            Subscription(uuid4(), lamp.id, "u0@example.com", "x", NOW)
        )
        assert again.token == "t0"
        assert await uow.subscriptions.count_for_product(lamp.id) == 5
        await uow.notifications.add(note)
        await uow.commit()
    async with uow_factory() as uow:
        assert await uow.notifications.due_for_relay(10, NOW) == [note.id]
        await uow.notifications.mark_enqueued(note.id, NOW)
        assert await uow.notifications.due_for_relay(10, NOW) == []
        # Handed over long ago and still pending: due again.
        assert await uow.notifications.due_for_relay(10, NOW + timedelta(hours=3)) == [note.id]
        assert await uow.notifications.lease(note.id, NOW, NOW + timedelta(minutes=5))
        assert not await uow.notifications.lease(note.id, NOW, NOW + timedelta(minutes=5))
        assert await uow.notifications.snapshot_recipients(note.id, 2) == 5
        await uow.commit()
    async with uow_factory() as uow:
        await uow.subscriptions.add(Subscription(uuid4(), lamp.id, "late@example.com", "late", NOW))
        assert await uow.notifications.snapshot_recipients(note.id, 2) == 5  # frozen once
        batches = await uow.notifications.unsent_batches(note.id)
        assert [len(b) for _, b in batches] == [2, 2, 1]
        await uow.notifications.mark_batch_sent(note.id, batches[0][0], "m-1", NOW)
        # Whoever unsubscribes after the snapshot drops out of the unsent batches.
        assert await uow.subscriptions.delete_by_token(batches[-1][1][0].token)
        assert not await uow.subscriptions.delete_by_token(batches[-1][1][0].token)
        await uow.commit()
    async with uow_factory() as uow:
        remaining = await uow.notifications.unsent_batches(note.id)
        assert [len(b) for _, b in remaining] == [2]
        assert await uow.notifications.sent_message_ids(note.id) == ["m-1"]
        await uow.notifications.save(replace(note, status=NotificationStatus.SENT, recipients=5))
        await uow.notifications.release(note.id)
        assert await uow.notifications.lease(note.id, NOW, NOW + timedelta(minutes=5))
        await uow.commit()
    async with uow_factory() as uow:
        [listed] = await uow.notifications.search(lamp.id, NotificationStatus.SENT, 10)
        assert listed.recipients == 5 and listed.changes == note.changes
        assert await uow.notifications.search(None, NotificationStatus.FAILED, 10) == []
