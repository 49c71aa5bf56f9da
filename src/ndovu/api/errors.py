"""Every error leaves the API as JSON: {"error": {"code", "message", "field"?, "hint"?}}."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

from ndovu.errors import (
    AuthError,
    CatalogError,
    ConflictError,
    ForbiddenError,
    NdovuError,
    NotFoundError,
    ProviderError,
    SpecError,
    TooManyRequestsError,
)

log = logging.getLogger("ndovu.api")

STATUS_BY_ERROR: list[tuple[type[NdovuError], int]] = [
    (AuthError, 401),
    (ForbiddenError, 403),
    (NotFoundError, 404),
    (ConflictError, 409),
    (SpecError, 422),
    (CatalogError, 422),
    (TooManyRequestsError, 429),
    (ProviderError, 502),
]


def error_response(status: int, code: str, message: str, *, field: str | None = None,
                   hint: str | None = None, headers: dict[str, str] | None = None
                   ) -> JSONResponse:
    body: dict[str, str] = {"code": code, "message": message}
    if field:
        body["field"] = field
    if hint:
        body["hint"] = hint
    return JSONResponse({"error": body}, status_code=status, headers=headers)


def _methods_of(request: Request) -> list[str]:
    """Every method some route of the request's path takes (for a 405's Allow), asked of
    the routes themselves: included routers keep their routes to themselves."""
    return [method for method in ("GET", "POST", "PUT", "PATCH", "DELETE")
            if any(route.matches({**request.scope, "method": method})[0] == Match.FULL
                   for route in request.app.routes)]


def _field_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    for part in loc:
        if part == "body":
            continue
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path


def install(app: FastAPI) -> None:
    @app.exception_handler(NdovuError)
    async def _ndovu_error(_: Request, exc: NdovuError) -> JSONResponse:
        status = next((code for cls, code in STATUS_BY_ERROR if isinstance(exc, cls)), 500)
        headers = None
        if status == 401:  # RFC 9110: a 401 names the scheme the client should use
            headers = {"WWW-Authenticate": 'Bearer realm="ndovu"'}
        elif isinstance(exc, TooManyRequestsError):
            headers = {"Retry-After": str(exc.retry_after_s)}
        return JSONResponse({"error": exc.to_dict()}, status_code=status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {"loc": (), "msg": "invalid request", "type": ""}
        if first.get("type") == "json_invalid":
            return error_response(
                400, "malformed_json",
                f"the request body is not valid JSON: {first.get('ctx', {}).get('error', '')}"
                .rstrip(": "), hint="send a JSON object with Content-Type: application/json")
        loc = tuple(first.get("loc", ()))
        if loc == ("body",):
            return error_response(
                422, "invalid_request", "the request body must be a JSON object",
                hint="send a JSON object with Content-Type: application/json")
        if loc[:1] in (("path",), ("query",)):  # the parameter's name is enough
            loc = loc[1:]
        field = _field_path(loc)
        message = first.get("msg", "invalid value")
        if first.get("type") == "extra_forbidden":
            message = f"unknown field {field!r}"
        elif first.get("type") == "missing":
            message = f"the field {field!r} is required"
        elif field:
            message = f"{field}: {message}"
        return error_response(422, "invalid_request", message, field=field or None)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Starlette's Allow names the first route of the path only
            headers["Allow"] = ", ".join(_methods_of(request))
            return error_response(405, code, f"{request.method} is not allowed on "
                                  f"{request.url.path}", hint=f"use {headers['Allow']}",
                                  headers=headers)
        return error_response(exc.status_code, code, str(exc.detail), headers=headers or None)

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return error_response(500, "internal_error",
                              "the server hit an unexpected error; the server log has details",
                              hint="retry; if it persists, report it with the time of the call")
