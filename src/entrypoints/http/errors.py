"""One table from exceptions to HTTP status; bad input is never a 500."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from litestar.status_codes import (
    HTTP_400_BAD_REQUEST,
    HTTP_404_NOT_FOUND,
    HTTP_409_CONFLICT,
    HTTP_422_UNPROCESSABLE_ENTITY,
    HTTP_500_INTERNAL_SERVER_ERROR,
)

from domain.errors import Conflict, DomainError, InvalidValue, NotFound

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[DomainError], int] = {
    NotFound: HTTP_404_NOT_FOUND,
    Conflict: HTTP_409_CONFLICT,
    InvalidValue: HTTP_422_UNPROCESSABLE_ENTITY,
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
    _: Request[Any, Any, Any], exc: ValidationException
) -> Response[dict[str, Any]]:
    """Well-formed input that breaks a rule: 422 naming the field. (Malformed JSON never
    gets here: Litestar raises a 400 client error for it, answered by http_error.)"""
    return _body(HTTP_422_UNPROCESSABLE_ENTITY, exc.detail, exc.extra or None)


def http_error(_: Request[Any, Any, Any], exc: HTTPException) -> Response[dict[str, Any]]:
    response = _body(exc.status_code, exc.detail, exc.extra or None)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def unexpected_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return _body(HTTP_500_INTERNAL_SERVER_ERROR, "Internal Server Error")


HANDLERS: dict[Any, Any] = {
    DomainError: domain_error,
    ValidationException: validation_error,
    HTTPException: http_error,
    Exception: unexpected_error,
}
