"""Product: what visitors look at and subscribers hear about."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any
from uuid import UUID, uuid4

import pycountry

from domain.errors import InvalidValue

CURRENCY_PATTERN = re.compile(r"^[A-Z]{3}$")
NOT_PRICES = frozenset({"XXX", "XTS"})
# C0 controls but tab, line feed and carriage return, and DEL: no text a person writes has
# them, and PostgreSQL cannot store NUL in text at all.
CONTROL_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
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
    """A current ISO 4217 code (pycountry's list: "EUR", "JPY", "XAU"...) other than XXX,
    the code for no currency, and XTS, kept for testing: no price is in those."""
    if not CURRENCY_PATTERN.match(value):
        raise InvalidValue("currency", "must be an ISO 4217 code of three capital letters")
    if value in NOT_PRICES or pycountry.currencies.get(alpha_3=value) is None:
        raise InvalidValue("currency", f"{value!r} is not an ISO 4217 currency code")
    return value


def _require_text(field_name: str, value: str, max_length: int, *, allow_empty: bool) -> str:
    if CONTROL_CHARACTERS.search(value):
        raise InvalidValue(field_name, "must not contain control characters")
    text = value.strip()
    if not text and not allow_empty:
        raise InvalidValue(field_name, "must not be empty")
    if len(text) > max_length:
        raise InvalidValue(field_name, f"must be at most {max_length} characters")
    return text


_PARSE: dict[str, Callable[[Any], Any]] = {
    "sku": lambda value: _require_text("sku", value, 64, allow_empty=False),
    "name": lambda value: _require_text("name", value, 200, allow_empty=False),
    "description": lambda value: _require_text("description", value, 10_000, allow_empty=True),
    "price": parse_price,
    "currency": parse_currency,
}


def parse_fields(values: Mapping[str, Any]) -> dict[str, Any]:
    """The editable fields among ``values``, each checked and normalised by its rule."""
    return {name: _PARSE[name](values[name]) for name in EDITABLE_FIELDS if name in values}


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
        given = {
            "sku": sku,
            "name": name,
            "description": description,
            "price": price,
            "currency": currency,
        }
        return cls(**parse_fields(given))


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
        """Returns the updated product and what actually changed (empty when nothing did).

        Values given as the stored ones are (the same text) are not checked again, so a
        stored value today's rules would refuse (a currency ISO 4217 has since withdrawn, say)
        does not block a change to another field, even when a client sends the whole product
        back. Text, not ``!=``: comparing a signalling NaN price raises."""
        given = {
            name: changes[name]
            for name in EDITABLE_FIELDS
            if name in changes and str(changes[name]) != str(getattr(self, name))
        }
        validated = parse_fields(given)
        diff = [
            FieldChange(name, str(getattr(self, name)), str(value))
            for name, value in validated.items()
            if getattr(self, name) != value
        ]
        if not diff:
            return self, []
        changed = {change.field: validated[change.field] for change in diff}
        return replace(self, **changed, updated_at=now), diff


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class ProductPage:
    items: list[Product] = field(default_factory=list)
    total: int = 0
