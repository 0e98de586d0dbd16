"""The schema, as SQLAlchemy Core tables; Alembic migrations are written against it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    text,
)
from sqlalchemy.engine import Dialect

metadata = MetaData()


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC in and out, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        moment: datetime = value
        return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


products = Table(
    "products",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("sku", String(64), nullable=False, unique=True),
    Column("name", String(200), nullable=False),
    Column("description", Text, nullable=False),
    # Decimal text: exact round trip of the scale clients sent ("19.90" stays "19.90").
    Column("price", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
)

# On PostgreSQL a row's seq is the id of the transaction that wrote it: aggregation folds
# everything below the snapshot's xmin, i.e. only transactions that can no longer commit
# late. SQLite serialises writers, so there the adapter numbers rows itself.
PG_TRANSACTION_ID = text("(pg_current_xact_id()::text::bigint)")

visits = Table(
    "visits",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, nullable=False),
    Column("visitor_hash", LargeBinary(32), nullable=False),
    Column("occurred_at", UTCDateTime, nullable=False),
    Column("browser", String(64), nullable=False),
    Column("os", String(64), nullable=False),
    Column("device", String(16), nullable=False),
    # A duration reported while the visit was still buffered; later beacons are engagements.
    Column("duration_ms", Integer, nullable=True),
    Column("seq", BigInteger, nullable=False, server_default=PG_TRANSACTION_ID),
    Index("ix_visits_seq", "seq"),
    # Append-ordered: a BRIN index costs ingestion almost nothing (btree on SQLite).
    Index("ix_visits_occurred_at", "occurred_at", postgresql_using="brin"),
)

engagements = Table(
    "engagements",
    metadata,
    Column("visit_id", Uuid, nullable=False),
    Column("duration_ms", Integer, nullable=False),
    Column("received_at", UTCDateTime, nullable=False),
    Column("seq", BigInteger, nullable=False, server_default=PG_TRANSACTION_ID),
    Index("ix_engagements_seq", "seq"),
    Index("ix_engagements_visit_id", "visit_id"),
    Index("ix_engagements_received_at", "received_at", postgresql_using="brin"),
)

visitor_days = Table(
    "visitor_days",
    metadata,
    Column("product_id", Uuid, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("visitor_key", BigInteger, primary_key=True),
)

product_daily = Table(
    "product_daily",
    metadata,
    Column("product_id", Uuid, primary_key=True),
    Column("day", Date, primary_key=True),
    Column("visits", BigInteger, nullable=False),
    Column("unique_visitors", BigInteger, nullable=False),
    Column("durations", BigInteger, nullable=False),
    Column("duration_total_ms", BigInteger, nullable=False),
    Index("ix_product_daily_day", "day"),
)

aggregation_state = Table(
    "aggregation_state",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("as_of", UTCDateTime, nullable=True),
    Column("visits_seq", BigInteger, nullable=False, server_default=text("0")),
    Column("engagements_seq", BigInteger, nullable=False, server_default=text("0")),
)

subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, ForeignKey("products.id", ondelete="CASCADE"), nullable=False),
    Column("email", String(320), nullable=False),
    Column("token", String(64), nullable=False, unique=True),
    Column("created_at", UTCDateTime, nullable=False),
    Index("uq_subscriptions_product_email", "product_id", "email", unique=True),
)

notifications = Table(
    "notifications",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("product_id", Uuid, nullable=False, index=True),
    Column("status", String(16), nullable=False, index=True),
    Column("changes", JSON, nullable=False),
    Column("recipients", Integer, nullable=False),
    Column("attempts", Integer, nullable=False),
    Column("provider_message_id", Text, nullable=True),
    Column("last_error", Text, nullable=True),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("enqueued_at", UTCDateTime, nullable=True),
    Column("lease_until", UTCDateTime, nullable=True),
    Column("recipients_frozen", Boolean, nullable=False, server_default=text("false")),
)

notification_recipients = Table(
    "notification_recipients",
    metadata,
    Column("notification_id", Uuid, primary_key=True),
    Column("subscription_id", Uuid, primary_key=True),
    Column("batch_no", Integer, nullable=False),
)

notification_batches = Table(
    "notification_batches",
    metadata,
    Column("notification_id", Uuid, primary_key=True),
    Column("batch_no", Integer, primary_key=True),
    Column("provider_message_id", Text, nullable=False),
    Column("sent_at", UTCDateTime, nullable=False),
)
