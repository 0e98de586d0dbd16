"""The framework's ceiling: a Litestar hello-world serving a product-sized JSON body."""

from litestar import Litestar, get

BODY = {
    "id": "00000000-0000-0000-0000-000000000000",
    "sku": "SKU-000000",
    "name": "Product 0",
    "description": "A product used to measure the framework alone.",
    "price": "19.99",
    "currency": "EUR",
    "created_at": "2026-01-01T00:00:00Z",
    "updated_at": "2026-01-01T00:00:00Z",
}


@get("/api/products/{product_id:str}")
async def product(product_id: str) -> dict[str, str]:
    return BODY


app = Litestar([product], logging_config=None, openapi_config=None)
