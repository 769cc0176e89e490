"""HTTP helpers every app's API uses: JSON answers, the spec's error body
`{"status_code", "code", "message"}` and its OpenAPI schema, the body parser, the check of
path and query parameters. Imports no app; the NinjaAPI that mounts the apps' routers and
turns exceptions into error bodies is the glue's (`portal/api_glue.py`)."""

from functools import wraps

from asgiref.sync import iscoroutinefunction
from django.http import HttpRequest, HttpResponse
from ninja import Schema

from portal import jsonutil
from portal.errors import DomainError, refusal_log
from portal.validation import storable


def json_response(body: str | dict | list, status: int = 200, headers: dict | None = None) -> HttpResponse:
    text = body if isinstance(body, str) else jsonutil.dumps(body)
    response = HttpResponse(text, status=status, content_type="application/json")
    for key, value in (headers or {}).items():
        response[key] = value
    return response


def error_response(error: DomainError, request: HttpRequest | None = None) -> HttpResponse:
    response = json_response(error.as_body(), status=error.status)
    if error.status < 500:
        # One INFO line with the code, instead of django.request's "Bad Request" too: its
        # record for this request is dropped (portal.logs.ClientErrorsAtInfo). 5xx still log
        # as errors.
        refusal_log(error)
        if request is not None:
            request.refusal_logged = True
    return response


class ErrorOut(Schema):
    status_code: int
    code: str
    message: str


class StrictParser(jsonutil.NinjaParser):
    """Bodies read by jsonutil's rules, and any text PostgreSQL cannot store (NUL) refused with
    INVALID_PROPERTY_VALUE before a view runs a query."""

    def parse_body(self, request):
        data = super().parse_body(request)
        storable(data, "body")
        return data


def storable_parameters(run):
    """Path and query parameters get the same check, on every operation, before auth and
    before any query (a NUL in an owner or brand id would otherwise be a DB_ERROR 500)."""

    def refused(request, kw) -> HttpResponse | None:
        try:
            storable(kw, "a path parameter")
            storable(list(request.GET.lists()), "a query parameter")
        except DomainError as error:
            return error_response(error, request)
        return None

    if iscoroutinefunction(run):
        @wraps(run)
        async def checked_async(request, *args, **kw):
            return refused(request, kw) or await run(request, *args, **kw)

        return checked_async

    @wraps(run)
    def checked(request, *args, **kw):
        return refused(request, kw) or run(request, *args, **kw)

    return checked
