"""The service's closed set of errors and the one table that maps them to HTTP.

    ServiceError                      (base; never raised itself)
    ├── InvalidRequest        422     bad fields, lone surrogates, formatting failures
    ├── PayloadTooLarge       413     body, item count or text length over the limits
    ├── Unauthenticated       401     missing or wrong bearer key
    ├── Overloaded            429     queue full; Retry-After says when to come back
    ├── Unavailable           503     loading, draining or failed model; Retry-After
    ├── DeadlineExceeded      504     the request's deadline passed before its scores were ready
    ├── ClientClosed          499     the client disconnected before its answer (nobody reads this body)
    └── BackendFailed         500     a forward pass failed; the message is safe (no input text)

Every error response has the body `{"error": {"type": ..., "message": ...}}`. Anything else that escapes a
handler is a bug: it is logged with its traceback and answered 500 with a generic message.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

logger = logging.getLogger("rmserve")


class ServiceError(Exception):
    """A failure with a safe, client-facing message. `retry_after_s` is set for 429/503."""

    def __init__(self, message: str, retry_after_s: float | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.retry_after_s = retry_after_s


class InvalidRequest(ServiceError):
    pass


class PayloadTooLarge(ServiceError):
    pass


class Unauthenticated(ServiceError):
    pass


class Overloaded(ServiceError):
    pass


class Unavailable(ServiceError):
    pass


class DeadlineExceeded(ServiceError):
    pass


class ClientClosed(ServiceError):
    pass


class BackendFailed(ServiceError):
    pass


# The one table: exception class -> (HTTP status, error type in the body).
ERROR_TABLE: dict[type[ServiceError], tuple[int, str]] = {
    InvalidRequest: (422, "invalid_request"),
    PayloadTooLarge: (413, "payload_too_large"),
    Unauthenticated: (401, "unauthenticated"),
    Overloaded: (429, "overloaded"),
    Unavailable: (503, "unavailable"),
    DeadlineExceeded: (504, "deadline_exceeded"),
    ClientClosed: (499, "client_closed_request"),
    BackendFailed: (500, "backend_error"),
}
_HTTP_TYPES = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed", 415: "unsupported_media_type"}


def error_body(error_type: str, message: str) -> dict[str, Any]:
    return {"error": {"type": error_type, "message": message}}


def status_and_type(error: ServiceError) -> tuple[int, str]:
    for cls in type(error).__mro__:
        if cls in ERROR_TABLE:
            return ERROR_TABLE[cls]
    return 500, "internal_error"


def error_response(error: ServiceError) -> JSONResponse:
    status, error_type = status_and_type(error)
    headers: dict[str, str] = {}
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(max(1, math.ceil(error.retry_after_s)))
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    return JSONResponse(error_body(error_type, error.message), status_code=status, headers=headers)


def _describe_validation(exc: RequestValidationError) -> str:
    parts = []
    for err in exc.errors()[:5]:
        location = ".".join(str(x) for x in err.get("loc", ()) if x != "body") or "body"
        parts.append(f"{location}: {err.get('msg', 'invalid')}")
    return "; ".join(parts) or "invalid request"


def install_error_handlers(app: FastAPI) -> None:
    """Route every error through the table above, including FastAPI's own validation and 404/405."""

    async def on_service_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ServiceError)
        return error_response(exc)

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        return error_response(InvalidRequest(_describe_validation(exc)))

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        error_type = _HTTP_TYPES.get(exc.status_code, "http_error")
        message = exc.detail if isinstance(exc.detail, str) else "request failed"
        return JSONResponse(error_body(error_type, message), status_code=exc.status_code, headers=exc.headers)

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse(error_body("internal_error", "internal server error"), status_code=500)

    app.add_exception_handler(ServiceError, on_service_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(Exception, on_unexpected)
