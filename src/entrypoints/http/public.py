"""Anonymous endpoints: products (the tracked page), engagement beacons, subscriptions."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from email_validator import EmailNotValidError, validate_email
from litestar import Controller, MediaType, delete, get, post
from litestar.datastructures import ResponseHeader
from litestar.di import NamedDependency
from litestar.params import FromPath, JSONBody, QueryParameter
from litestar.status_codes import HTTP_202_ACCEPTED, HTTP_204_NO_CONTENT

from application.notifications import SubscriptionService
from application.products import ProductService
from application.visits import VisitService
from domain.errors import InvalidValue
from entrypoints.http.errors import documented
from entrypoints.http.schemas import Engagement, ProductList, ProductOut, SubscriptionCreate

VISIT_ID_EXAMPLE = "01a2119f-4034-7d6d-8c42-b4616a15d0ce"
# The largest offset SQLite and PostgreSQL take (a signed 64-bit integer): past it a 422.
MAX_OFFSET = 2**63 - 1


class ProductController(Controller):
    path = "/api/products"
    tags = ["products"]

    @get("/", summary="List products (not tracked)", responses=documented(422, 503))
    async def list_products(
        self,
        products: NamedDependency[ProductService],
        limit: Annotated[int, QueryParameter(ge=1, le=200)] = 50,
        offset: Annotated[int, QueryParameter(ge=0, le=MAX_OFFSET)] = 0,
    ) -> ProductList:
        return ProductList.of(await products.page(limit, offset))

    @get(
        "/{product_id:uuid}",
        summary="Get a product; a 200 to a non-bot client records one visit",
        opt={"track_visits": True},
        response_headers=[
            ResponseHeader(
                name="X-Visit-Id",
                description="The recorded visit's id (a UUID), for the engagement beacon; "
                "absent when nothing was recorded (a bot)",
                documentation_only=True,  # the tracking middleware sets it
                value=VISIT_ID_EXAMPLE,  # documentation only: gives the header its schema
                example=VISIT_ID_EXAMPLE,
            )
        ],
        responses=documented(404, 503),
    )
    async def get_product(
        self, product_id: FromPath[UUID], products: NamedDependency[ProductService]
    ) -> ProductOut:
        return ProductOut.of(await products.get(product_id))

    @post(
        "/{product_id:uuid}/subscriptions",
        status_code=HTTP_202_ACCEPTED,
        summary="Subscribe an address to this product's update e-mails",
        responses=documented(400, 404, 413, 422, 503),
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
        responses=documented(400, 404, 413, 422, 503),
    )
    async def engagement(
        self,
        visit_id: FromPath[UUID],
        data: JSONBody[Engagement],
        visits: NamedDependency[VisitService],
    ) -> None:
        await visits.record_engagement(visit_id, data.duration_ms)


UNSUBSCRIBE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Unsubscribe</title>
<meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><main><h1>Stop update e-mails for this product?</h1>
<button id="go">Unsubscribe</button><p id="out" role="status"></p></main>
<script>
document.getElementById("go").onclick = async () => {
  const r = await fetch(location.pathname, {method: "DELETE"});
  document.getElementById("out").textContent =
    r.status === 204 ? "You are unsubscribed." : "This link is no longer valid.";
};
</script></body></html>"""


class SubscriptionController(Controller):
    path = "/api/subscriptions"
    tags = ["subscriptions"]

    @get(
        "/{token:str}",
        media_type=MediaType.HTML,
        summary="The unsubscribe link's page: asks before unsubscribing",
        description="A GET never unsubscribes: mail scanners follow links.",
    )
    async def unsubscribe_page(self, token: FromPath[str]) -> str:
        return UNSUBSCRIBE_PAGE

    @post(
        "/{token:str}",
        status_code=HTTP_204_NO_CONTENT,
        summary="One-click unsubscribe (RFC 8058 List-Unsubscribe-Post)",
        responses=documented(404, 503),
    )
    async def one_click_unsubscribe(
        self, token: FromPath[str], subscriptions: NamedDependency[SubscriptionService]
    ) -> None:
        await subscriptions.unsubscribe(token)

    @delete(
        "/{token:str}",
        summary="Unsubscribe (the link carried in every e-mail)",
        responses=documented(404, 503),
    )
    async def unsubscribe(
        self, token: FromPath[str], subscriptions: NamedDependency[SubscriptionService]
    ) -> None:
        await subscriptions.unsubscribe(token)
