"""Anonymous endpoints: products (the tracked page), engagement beacons, subscriptions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from application.notifications import SubscriptionService
from application.products import ProductService
from application.visits import VisitService
from domain.errors import InvalidValue
from entrypoints.http.schemas import Engagement, ProductList, ProductOut, SubscriptionCreate


class ProductController(Controller):
    path = "/api/products"
    tags = ["products"]

    @get("/", summary="List products (not tracked)")
    async def list_products(
        self,
        products: NamedDependency[ProductService],
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        offset: Annotated[int, QueryParameter(ge=0)] = 0,
    ) -> ProductList:
        return ProductList.of(await products.page(limit, offset))

    @get(
        "/{product_id:uuid}",
        summary="Get a product; a 200 to a non-bot client records one visit",
        opt={"track_visits": True},
        response_headers=[],
    )
    async def get_product(
        self, product_id: FromPath[UUID], products: NamedDependency[ProductService]
    ) -> ProductOut:
        return ProductOut.of(await products.get(product_id))

    @post(
        "/{product_id:uuid}/subscriptions",
        status_code=HTTP_202_ACCEPTED,
        summary="Subscribe an address to this product's update e-mails",
    )
    async def subscribe(
        self,
        product_id: FromPath[UUID],
        data: JSONBody[SubscriptionCreate],
        subscriptions: NamedDependency[SubscriptionService],
    ) -> dict[str, str]:
        try:
            # Lower-cased whole: one address, one subscription, however it is typed.
            email = validate_email(data.email, check_deliverability=False).normalized.lower()
        except EmailNotValidError as exc:
            raise InvalidValue("email", str(exc)) from None
        await subscriptions.subscribe(product_id, email)
        # The same answer whether or not the address was already subscribed.
        return {"detail": "subscription accepted"}


class VisitController(Controller):
    path = "/api/visits"
    tags = ["visits"]

    @post(
        "/{visit_id:uuid}/engagement",
        status_code=HTTP_204_NO_CONTENT,
        summary="Report how long the page was in view (navigator.sendBeacon)",
    )
    async def engagement(
        self,
        visit_id: FromPath[UUID],
        data: JSONBody[Engagement],
        visits: NamedDependency[VisitService],
    ) -> None:
        await visits.record_engagement(visit_id, data.duration_ms)


class SubscriptionController(Controller):
    path = "/api/subscriptions"
    tags = ["subscriptions"]

    @delete("/{token:str}", summary="Unsubscribe (the link carried in every e-mail)")
    async def unsubscribe(
        self, token: FromPath[str], subscriptions: NamedDependency[SubscriptionService]
    ) -> None:
        await subscriptions.unsubscribe(token)
