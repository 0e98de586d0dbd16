"""The whole exception tree of the domain layer; entrypoints map it to HTTP status in one table."""


class DomainError(Exception):
    """Root of every error the domain and use cases raise on purpose."""


class NotFound(DomainError):
    def __init__(self, kind: str, key: object) -> None:
        super().__init__(f"{kind} {key} not found")
        self.kind = kind
        self.key = key


class ProductNotFound(NotFound):
    def __init__(self, product_id: object) -> None:
        super().__init__("product", product_id)


class VisitNotFound(NotFound):
    def __init__(self, visit_id: object) -> None:
        super().__init__("visit", visit_id)


class SubscriptionNotFound(NotFound):
    def __init__(self, token: object) -> None:
        super().__init__("subscription", "token")


class Conflict(DomainError):
    """The request is valid but clashes with what is stored (e.g. a duplicate SKU)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


class DuplicateSku(Conflict):
    def __init__(self, sku: str) -> None:
        super().__init__("sku", f"a product with sku {sku!r} already exists")


class InvalidValue(DomainError):
    """A value breaks a business rule; names the field so clients can point at it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message
