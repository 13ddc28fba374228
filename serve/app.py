"""The FastAPI application: wiring (:func:`create_app`) and the blocking entry point (:func:`run_api`)."""

from __future__ import annotations

import importlib.metadata
import logging
from collections.abc import Mapping, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from serve.api.deps import install_state
from serve.api.models import ErrorBody, ErrorResponse
from serve.api.routes import candles, capture, health, markets
from serve.errors import ServeError, invalid_value_message
from ticklake.settings import Settings, get_settings

log = logging.getLogger(__name__)

API_PREFIX = "/v1"

_DESCRIPTION = """\
Read API of the ticklake market-data lakehouse.

Times are UTC; stored and returned with nanosecond precision (ISO-8601 with `Z`, plus epoch-ns
fields). Prices and sizes are exact decimal strings, never floats. Every error answers
`{"error": {"code", "message", "parameter"}}`.
"""

_HTTP_CODES = {
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
}


def _version() -> str:
    try:
        return importlib.metadata.version("ticklake")
    except importlib.metadata.PackageNotFoundError:
        return "0.0.0+unknown"


def _error(status_code: int, code: str, message: str, parameter: str | None = None, **kwargs: Any) -> JSONResponse:
    body = ErrorResponse(error=ErrorBody(code=code, message=message, parameter=parameter))
    return JSONResponse(status_code=status_code, content=body.model_dump(), **kwargs)


def _describe_validation_error(item: Mapping[str, Any]) -> tuple[str | None, str]:
    """The parameter name and a readable message of one pydantic error of a request."""
    loc: Sequence[Any] = item.get("loc", ())
    where = str(loc[0]) if loc else "request"
    parameter = ".".join(str(part) for part in loc[1:]) or None
    if item.get("type") == "missing":
        return parameter, f"missing required {where} parameter '{parameter}'"
    reason = str(item.get("msg", "invalid value")).removeprefix("Value error, ")
    reason = reason[:1].lower() + reason[1:]
    if parameter is None:
        return None, f"invalid {where}: {reason}"
    return parameter, invalid_value_message(parameter, item.get("input"), reason)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, RequestValidationError):
        raise exc
    described = [_describe_validation_error(item) for item in exc.errors()]
    parameter = described[0][0] if described else None
    message = "; ".join(text for _, text in described) or "invalid request"
    code = "missing_parameter" if all(item.get("type") == "missing" for item in exc.errors()) else "invalid_parameter"
    return _error(status.HTTP_422_UNPROCESSABLE_CONTENT, code, message, parameter)


async def _on_serve_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, ServeError):
        raise exc
    return _error(exc.status_code, exc.code, exc.message, exc.parameter)


async def _on_http_error(request: Request, exc: Exception) -> JSONResponse:
    if not isinstance(exc, StarletteHTTPException):
        raise exc
    code = _HTTP_CODES.get(exc.status_code, "http_error")
    return _error(exc.status_code, code, str(exc.detail), headers=exc.headers)


async def _on_unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    # Starlette logs the exception with its traceback after this answer; the client never sees it.
    return _error(status.HTTP_500_INTERNAL_SERVER_ERROR, "internal_error", "internal server error")


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the API application. Nothing is opened here: the catalog opens on first use.

    Args:
        settings: The configuration; default: the process-wide settings from the environment.

    Returns:
        The app, with the ``/v1`` routes, the error handlers and the OpenAPI UI at ``/docs``.

    Raises:
        ConfigError: ``settings`` is omitted and the environment holds an invalid value.
    """
    settings = settings if settings is not None else get_settings()
    app = FastAPI(
        title="ticklake",
        version=_version(),
        description=_DESCRIPTION,
        docs_url="/docs",
        openapi_url="/openapi.json",
    )
    install_state(app, settings)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(ServeError, _on_serve_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected_error)
    app.include_router(health.router, prefix=API_PREFIX)
    app.include_router(candles.router, prefix=API_PREFIX)
    app.include_router(markets.router, prefix=API_PREFIX)
    app.include_router(capture.router, prefix=API_PREFIX)
    app.include_router(capture.metrics_router)
    return app


def run_api(settings: Settings) -> None:
    """Serve the API on ``settings.api_host:settings.api_port`` until interrupted (blocking).

    Args:
        settings: The configuration.
    """
    log.info("serving the API on http://%s:%d", settings.api_host, settings.api_port)
    uvicorn.run(create_app(settings), host=settings.api_host, port=settings.api_port, log_level="info")
