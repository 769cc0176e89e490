"""Glue: the one NinjaAPI of the gateway and the read endpoints. It mounts every app's router,
gives the OpenAPI document (`/openapi.json`) and browsable docs (`/docs`), and is the one
place where an exception becomes the spec's body `{"status_code", "code", "message"}`
(`portal.http.error_response`). Only `portal/urls.py` imports it."""

import logging

from django.core.exceptions import RequestDataTooBig
from django.db import DatabaseError
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, AuthorizationError, HttpError, ValidationError

from contributions.api import router as contributions_router
from contributions.api_v2 import router as contributions_v2_router
from contributions.report_api import router as reports_router
from players.api import router as players_router
from portal import jsonutil
from portal.api import API_VERSION
from portal.api import router as portal_router
from portal.errors import DomainError
from portal.http import StrictParser, error_response, storable_parameters
from sources.api import router as sources_router
from sources.config_api import router as config_router

logger = logging.getLogger("portal.api")


class PortalDocs(Swagger):
    """Swagger UI from django-ninja's bundled assets (no CDN) under a bar linking the
    WebSocket API's AsyncAPI document (templates/portal/api_docs.html)."""

    template = "portal/api_docs.html"


api = NinjaAPI(
    title="Jackpot portal API",
    version=API_VERSION,
    description=(
        "Gateway for operators' backends: authenticate a service account, contribute to jackpots "
        "(synchronously, or asynchronously with a webhook), and read instances, sources and currencies. "
        "Every error has the body {status_code, code, message}.\n\n"
        "The WebSocket API (live values, wins, opt-ins) is described by an AsyncAPI document: "
        "[/asyncapi.json](/asyncapi.json), readable at [/docs/websockets/](/docs/websockets/)."
    ),
    urls_namespace="api",
    docs_url="/docs",
    docs=PortalDocs(),
    openapi_url="/openapi.json",
    parser=StrictParser(),
)
api.add_decorator(storable_parameters, mode="view")


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return error_response(exc, request)


@api.exception_handler(AuthenticationError)
def _unauthenticated(request, exc):
    return error_response(DomainError("UNAUTHORIZED", "Missing, invalid or expired token"), request)


@api.exception_handler(AuthorizationError)
def _forbidden(request, exc):
    return error_response(DomainError("FORBIDDEN", str(exc.message)), request)


@api.exception_handler(ValidationError)
def _invalid(request, exc: ValidationError):
    parts = []
    for error in exc.errors[:5]:
        loc = ".".join(str(p) for p in error.get("loc", ()) if p not in ("body", "query", "path", "payload"))
        parts.append(f"{loc} {error.get('msg', 'is invalid')}".strip())
    return error_response(DomainError("INVALID_STRUCTURE", "; ".join(parts) or "Invalid request"), request)


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, DomainError):  # raised while parsing the body (StrictParser)
        return error_response(exc.__cause__, request)
    if isinstance(exc.__cause__, jsonutil.NonFiniteNumber):
        return error_response(DomainError("INVALID_PROPERTY_VALUE", f"{exc.__cause__} is not a number we accept"), request)
    if isinstance(exc.__cause__, jsonutil.JSONDecodeError):
        return error_response(DomainError("INVALID_STRUCTURE", f"Body is not valid JSON: {exc.__cause__}"), request)
    # Django Ninja's own refusals (400 an unreadable body, 403 a failed CSRF check) by their code.
    code = {400: "INVALID_STRUCTURE", 401: "UNAUTHORIZED", 403: "FORBIDDEN", 404: "NOT_FOUND"}.get(
        exc.status_code, "SYSTEM_ERROR"
    )
    return error_response(DomainError(code, str(exc.message)), request)


@api.exception_handler(RequestDataTooBig)
def _too_big(request, exc):
    return error_response(DomainError("INVALID_PROPERTY_VALUE", "Body too large"), request)


@api.exception_handler(DatabaseError)
def _database_error(request, exc):
    logger.exception("database error on %s", request.path)
    return error_response(DomainError("DB_ERROR", "A database error occurred; nothing was recorded"), request)


@api.exception_handler(Exception)
def _unexpected(request, exc):
    logger.exception("unexpected error on %s", request.path)
    return error_response(DomainError("SYSTEM_ERROR", "An unexpected error occurred"), request)


# Every app's operations, in the order the OpenAPI document lists them.
api.add_router("", portal_router)
api.add_router("", contributions_router)
api.add_router("", contributions_v2_router)
api.add_router("", sources_router)
api.add_router("", config_router)
api.add_router("", players_router)
api.add_router("", reports_router)
