"""Product repository over SQLAlchemy Core."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any
from uuid import UUID

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from adapters.sqlalchemy.tables import products
from domain.errors import DuplicateSku
from domain.product import Product, ProductPage


def _row(product: Product) -> dict[str, Any]:
    return {
        "id": product.id,
        "sku": product.sku,
        "name": product.name,
        "description": product.description,
        "price": str(product.price),
        "currency": product.currency,
        "created_at": product.created_at,
        "updated_at": product.updated_at,
    }


def _product(row: Any) -> Product:
    return Product(
        id=row.id,
        sku=row.sku,
        name=row.name,
        description=row.description,
        price=Decimal(row.price),
        currency=row.currency,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


class SqlProductRepository:
    def __init__(self, connection: AsyncConnection) -> None:
        self._db = connection

    async def add(self, product: Product) -> None:
        await self._write(insert(products).values(_row(product)), product.sku)

    async def get(self, product_id: UUID) -> Product | None:
        row = (await self._db.execute(select(products).where(products.c.id == product_id))).first()
        return _product(row) if row else None

    async def get_many(self, product_ids: Iterable[UUID]) -> dict[UUID, Product]:
        ids = list(product_ids)
        found: dict[UUID, Product] = {}
        for start in range(0, len(ids), 1000):
            rows = await self._db.execute(
                select(products).where(products.c.id.in_(ids[start : start + 1000]))
            )
            found.update((row.id, _product(row)) for row in rows)
        return found

    async def page(self, limit: int, offset: int) -> ProductPage:
        total = (await self._db.execute(select(func.count()).select_from(products))).scalar_one()
        rows = await self._db.execute(
            select(products)
            .order_by(products.c.created_at, products.c.id)
            .limit(limit)
            .offset(offset)
        )
        return ProductPage(items=[_product(r) for r in rows], total=total)

    async def update(self, product: Product) -> None:
        values = _row(product)
        del values["id"], values["created_at"]
        await self._write(
            update(products).where(products.c.id == product.id).values(values), product.sku
        )

    async def delete(self, product_id: UUID) -> bool:
        result = await self._db.execute(delete(products).where(products.c.id == product_id))
        return result.rowcount > 0

    async def _write(self, statement: Any, sku: str) -> None:
        # A savepoint keeps the transaction usable after the unique violation (PostgreSQL).
        try:
            async with self._db.begin_nested():
                await self._db.execute(statement)
        except IntegrityError as exc:
            raise DuplicateSku(sku) from exc
