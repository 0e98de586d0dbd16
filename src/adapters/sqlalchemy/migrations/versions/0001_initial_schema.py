"""initial schema

Revision ID: 0001
Revises:
Create Date: 2026-11-24 07:20:15.388385
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:

    state = op.create_table(
        "aggregation_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("as_of", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    # The single row holding how far aggregation has got.
    op.bulk_insert(state, [{"id": 1, "as_of": None}])
    op.create_table(
        "notification_batches",
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", "batch_no"),
    )
    op.create_table(
        "notification_recipients",
        sa.Column("notification_id", sa.Uuid(), nullable=False),
        sa.Column("subscription_id", sa.Uuid(), nullable=False),
        sa.Column("batch_no", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("notification_id", "subscription_id"),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("recipients", sa.Integer(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_message_id", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("enqueued_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("recipients_frozen", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notifications_product_id"), ["product_id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_notifications_status"), ["status"], unique=False)

    op.create_table(
        "product_daily",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visits", sa.BigInteger(), nullable=False),
        sa.Column("unique_visitors", sa.BigInteger(), nullable=False),
        sa.Column("durations", sa.BigInteger(), nullable=False),
        sa.Column("duration_total_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "day"),
    )
    with op.batch_alter_table("product_daily", schema=None) as batch_op:
        batch_op.create_index("ix_product_daily_day", ["day"], unique=False)

    op.create_table(
        "products",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("sku", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("price", sa.String(length=40), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("sku"),
    )
    op.create_table(
        "visitor_days",
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("visitor_hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("product_id", "day", "visitor_hash"),
    )
    op.create_table(
        "visits",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("visitor_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("browser", sa.String(length=64), nullable=False),
        sa.Column("os", sa.String(length=64), nullable=False),
        sa.Column("device", sa.String(length=16), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=True),
        sa.Column("counted", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("aggregated_duration_ms", sa.Integer(), nullable=True),
        sa.Column("pending", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.create_index("ix_visits_occurred_at", ["occurred_at"], unique=False)
        batch_op.create_index(
            "ix_visits_pending",
            ["occurred_at"],
            unique=False,
            postgresql_where=sa.text("pending"),
            sqlite_where=sa.text("pending"),
        )

    op.create_table(
        "subscriptions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("product_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["product_id"], ["products.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token"),
    )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.create_index(
            "uq_subscriptions_product_email", ["product_id", "email"], unique=True
        )


def downgrade() -> None:

    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("uq_subscriptions_product_email")

    op.drop_table("subscriptions")
    with op.batch_alter_table("visits", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_visits_pending",
            postgresql_where=sa.text("pending"),
            sqlite_where=sa.text("pending"),
        )
        batch_op.drop_index("ix_visits_occurred_at")

    op.drop_table("visits")
    op.drop_table("visitor_days")
    op.drop_table("products")
    with op.batch_alter_table("product_daily", schema=None) as batch_op:
        batch_op.drop_index("ix_product_daily_day")

    op.drop_table("product_daily")
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notifications_status"))
        batch_op.drop_index(batch_op.f("ix_notifications_product_id"))

    op.drop_table("notifications")
    op.drop_table("notification_recipients")
    op.drop_table("notification_batches")
    op.drop_table("aggregation_state")
