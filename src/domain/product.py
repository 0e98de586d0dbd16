"""Product: what visitors look at and subscribers hear about."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID, uuid4

from domain.errors import InvalidValue

CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
MAX_PRICE = Decimal("999999999999.9999")
EDITABLE_FIELDS = ("sku", "name", "description", "price", "currency")


def parse_price(value: object) -> Decimal:
    """A non-negative decimal with at most four decimal places (fits every ISO 4217 minor unit)."""
    try:
        price = value if isinstance(value, Decimal) else Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise InvalidValue("price", "must be a decimal string such as '19.99'") from exc
    if not price.is_finite():
        raise InvalidValue("price", "must be a finite number")
    if price < 0:
        raise InvalidValue("price", "must not be negative")
    if price > MAX_PRICE:
        raise InvalidValue("price", f"must be at most {MAX_PRICE}")
    exponent = price.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -4:
        raise InvalidValue("price", "must have at most 4 decimal places")
    # Always plain notation, as given otherwise: "1e3" becomes "1000" (not "1E+3"), "-0" "0",
    # "19.90" stays "19.90".
    if isinstance(exponent, int) and exponent > 0:
        price = price.quantize(Decimal(1))
    return price.copy_abs()


def parse_currency(value: str) -> str:
    if not CURRENCY_PATTERN.match(value):
        raise InvalidValue("currency", "must be an ISO 4217 code of three capital letters")
    return value


def _require_text(field_name: str, value: str, max_length: int, *, allow_empty: bool) -> str:
    text = value.strip()
    if not text and not allow_empty:
        raise InvalidValue(field_name, "must not be empty")
    if len(text) > max_length:
        raise InvalidValue(field_name, f"must be at most {max_length} characters")
    return text


@dataclass(frozen=True)
class ProductDraft:
    """Validated input for a new product."""

    sku: str
    name: str
    description: str
    price: Decimal
    currency: str

    @classmethod
    def create(
        cls, *, sku: str, name: str, description: str, price: object, currency: str
    ) -> ProductDraft:
        return cls(
            sku=_require_text("sku", sku, 64, allow_empty=False),
            name=_require_text("name", name, 200, allow_empty=False),
            description=_require_text("description", description, 10_000, allow_empty=True),
            price=parse_price(price),
            currency=parse_currency(currency),
        )


@dataclass(frozen=True)
class Product:
    id: UUID
    sku: str
    name: str
    description: str
    price: Decimal
    currency: str
    created_at: datetime
    updated_at: datetime

    @classmethod
    def new(cls, draft: ProductDraft, now: datetime) -> Product:
        return cls(
            id=uuid4(),
            sku=draft.sku,
            name=draft.name,
            description=draft.description,
            price=draft.price,
            currency=draft.currency,
            created_at=now,
            updated_at=now,
        )

    def apply(self, changes: dict[str, Any], now: datetime) -> tuple[Product, list[FieldChange]]:
        """Returns the updated product and what actually changed (empty when nothing did)."""
        validated = ProductDraft.create(
            **{name: changes.get(name, getattr(self, name)) for name in EDITABLE_FIELDS}
        )
        diff = [
            FieldChange(name, str(getattr(self, name)), str(getattr(validated, name)))
            for name in EDITABLE_FIELDS
            if getattr(self, name) != getattr(validated, name)
        ]
        if not diff:
            return self, []
        updated = replace(
            self, **{name: getattr(validated, name) for name in EDITABLE_FIELDS}, updated_at=now
        )
        return updated, diff


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class ProductPage:
    items: list[Product] = field(default_factory=list)
    total: int = 0
