"""One table from exceptions to HTTP status; bad input is never a 500, and a database that
cannot be reached is a 503 the client may retry, not an internal error."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.openapi import ResponseSpec
from litestar.params import ParameterKwarg
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
    HTTP_503_SERVICE_UNAVAILABLE,
)

from domain.errors import Conflict, DomainError, InvalidValue, NotFound
from entrypoints.http.schemas import ErrorOut
from ports.repositories import StoreUnavailable
from ports.services import Metrics

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFound: HTTP_404_NOT_FOUND,
    Conflict: HTTP_409_CONFLICT,
    InvalidValue: HTTP_422_UNPROCESSABLE_ENTITY,
}


# What each error status means on this API, for the OpenAPI document (api.md's conventions).
ERROR_MEANINGS: dict[int, str] = {
    400: "Malformed JSON",
    401: "Missing or wrong bearer token",
    404: "Unknown id",
    409: "Conflicts with an existing resource (a duplicate sku)",
    413: "Request body over 1 MiB",
    422: "Valid JSON or parameters that break a rule; extra names each field at fault",
    503: "The database (or, where named, the job broker) cannot be reached; retry after "
    "Retry-After seconds",
}


def documented(*statuses: int, **meanings: str) -> dict[int, ResponseSpec]:
    """The error answers a route can give, for its ``responses=``: the body is ErrorOut;
    ``meanings`` (``e503="..."``) words one status for that route."""
    return {
        status: ResponseSpec(
            data_container=ErrorOut,
            description=meanings.get(f"e{status}", ERROR_MEANINGS[status]),
            generate_examples=False,
        )
        for status in statuses
    }


def _body(status: int, detail: str, extra: Any = None) -> Response[dict[str, Any]]:
    content: dict[str, Any] = {"status_code": status, "detail": detail}
    if extra is not None:
        content["extra"] = extra
    return Response(content, status_code=status)


def domain_error(_: Request[Any, Any, Any], exc: DomainError) -> Response[dict[str, Any]]:
    status = next(
        (code for kind, code in STATUS_BY_ERROR.items() if isinstance(exc, kind)),
        HTTP_400_BAD_REQUEST,
    )
    field = getattr(exc, "field", None)
    extra = [{"key": field, "message": getattr(exc, "message", str(exc))}] if field else None
    return _body(status, str(exc), extra)


def validation_error(
    request: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Well-formed input that breaks a rule: 422 naming the field as the client sent it.
    (Malformed JSON never gets here: Litestar raises a 400 client error for it, answered by
    http_error.) No body at all, where one is required, is not JSON either: 400 saying so
    (Litestar would answer 422 with the message "'data'")."""
    extra = exc.extra
    if isinstance(extra, list):
        if _no_body(request) and any(_from_body(error) for error in extra):
            return _body(HTTP_400_BAD_REQUEST, "a JSON body is required and none was sent")
        extra = _as_sent(request, extra)
    return _body(HTTP_422_UNPROCESSABLE_ENTITY, exc.detail, extra or None)


def _no_body(request: Request[Any, Any, Any]) -> bool:
    headers = request.headers
    return headers.get("content-length", "0") == "0" and "transfer-encoding" not in headers


def _from_body(error: Any) -> bool:
    return isinstance(error, dict) and error.get("source") == "body"


def _as_sent(request: Request[Any, Any, Any], errors: list[Any]) -> list[Any]:
    """Litestar names a parameter's error by the handler's argument (``start``), not by the
    name it has on the wire (``?from=``); this puts the wire's name back."""
    handler = request.scope.get("route_handler")
    if handler is None:
        return errors
    aliases: dict[str, str] = {}
    for name, field in handler.parsed_fn_signature.parameters.items():
        kwarg = field.kwarg_definition
        if isinstance(kwarg, ParameterKwarg):
            alias = kwarg.name or kwarg.query or kwarg.header or kwarg.cookie
            if alias and alias != name:
                aliases[name] = alias
    if not aliases:
        return errors
    return [
        {**error, "key": aliases[error["key"]]}
        if isinstance(error, dict) and error.get("source") != "body" and error.get("key") in aliases
        else error
        for error in errors
    ]


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    response = _body(exc.status_code, exc.detail, exc.extra or None)
    if exc.headers:
        response.headers.update(exc.headers)
        for name, allow in exc.headers.items():  # Litestar spells it "allow" or "Allow"
            if name.lower() == "allow" and "GET" in allow.split(", ") and "HEAD" not in allow:
                # entrypoints.http.edge answers HEAD wherever GET is answered: say so.
                response.headers[name] = f"{allow}, HEAD"
    return response


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _body(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


# Seconds a client is asked to wait before retrying a request the database could not serve.
RETRY_AFTER_S = 1


def store_unavailable_handler(
    metrics: Callable[[], Metrics],
) -> Callable[[Request[Any, Any, Any], StoreUnavailable], Response[dict[str, Any]]]:
    def store_unavailable(
        request: Request[Any, Any, Any], exc: StoreUnavailable
    ) -> Response[dict[str, Any]]:
        # One line, no traceback: during an outage every request that needs the database
        # ends here, and the cause's type is what an operator needs.
        metrics().increment("database_unavailable")
        log.warning("database unavailable on %s %s: %s", request.method, request.url.path, exc)
        response = _body(HTTP_503_SERVICE_UNAVAILABLE, "database unavailable, retry later")
        response.headers["Retry-After"] = str(RETRY_AFTER_S)
        return response

    return store_unavailable


def exception_handlers(metrics: Callable[[], Metrics]) -> dict[Any, Any]:
    return {
        DomainError: domain_error,
        ValidationException: validation_error,
        HTTPException: http_error,
        StoreUnavailable: store_unavailable_handler(metrics),
        Exception: unexpected_error,
    }
