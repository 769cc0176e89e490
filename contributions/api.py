"""Gateway endpoints for contributions (SPEC 2.2-2.8)."""

import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Literal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import close_old_connections
from ninja import Router, Schema

from contributions.schemas import ContributionIn, parse_contribution
from contributions.services import callbacks, engine
from portal.api import ErrorOut, json_response
from portal.auth import AsyncServiceBearer
from portal.logs import log_bind

router = Router(tags=["contributions"], auth=AsyncServiceBearer())


class ContributionResult(Schema):
    contribution_amount: float
    contribution_currency: str
    gameround_id: str
    instance_id: str
    metadata: object | None
    tickets_awarded: int | None
    timestamp: int
    win_amount: float
    win_pot_id: str | None
    win_withheld: bool
    trace_id: str


class Accepted(Schema):
    trace_id: str


RESPONSES = {200: ContributionResult | Accepted, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut,
             404: ErrorOut, 409: ErrorOut, 500: ErrorOut, 502: ErrorOut, 503: ErrorOut, 504: ErrorOut}
BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": ContributionIn.model_json_schema()}},
    }
}


def _contribute(request, require: Literal["source", "instance"] | None):
    try:
        log_bind(operator=request.auth.operator_id)
        payload = parse_contribution(request.body, require=require)
        log_bind(brand=payload.brand_id, mode="sync" if payload.callback is None else "async")  # logs, metrics
        record = callbacks.contribution_accept if payload.callback is not None else engine.contribution_record
        outcome = record(operator_id=request.auth.operator_id, request=payload)
    finally:
        if settings.GATEWAY_POOLED_THREADS:
            close_old_connections()  # hand the connection back to the pool from this pool thread
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return json_response(outcome.body, headers=headers)


# The views are async so that, under ASGI, the work runs on a reused thread of the gateway's
# pool instead of a new thread per request (a sync view gets a thread of its own). The pool
# is larger than what wallet work may hold (WALLET_MAX_CALLS, counted per brand and in all by
# `contributions.wallet.calls`), so a slow wallet never takes the threads other tenants need.
# The test suite turns pooling off: its tests share one connection (and one transaction) per thread.
_executor: ThreadPoolExecutor | None = None
_executor_lock = threading.Lock()


def gateway_executor() -> ThreadPoolExecutor:
    global _executor
    if _executor is None:  # made once per process; no lock on every request after that
        with _executor_lock:
            if _executor is None:
                if settings.GATEWAY_THREADS <= settings.WALLET_MAX_CALLS:
                    raise ImproperlyConfigured("GATEWAY_THREADS must exceed WALLET_MAX_CALLS (the bulkhead)")
                _executor = ThreadPoolExecutor(max_workers=settings.GATEWAY_THREADS, thread_name_prefix="gateway")
    return _executor


_sensitive = sync_to_async(_contribute, thread_sensitive=True)


def _in_thread(request, require):
    if settings.GATEWAY_POOLED_THREADS:
        return sync_to_async(_contribute, thread_sensitive=False, executor=gateway_executor())(request, require)
    return _sensitive(request, require)

DESCRIPTION = (
    "Numbers are read as exact decimals. Exactly one of `source_id` / `instance_id`. "
    "With `callback` the contribution is asynchronous: answered `{trace_id}` at once, the "
    "result (or error) is POSTed to `callback.web_hook`, signed (Standard Webhooks). "
    "Repeating a contribution with the same (brand, player_id, gameround_id, target) returns "
    "the first outcome with header `Idempotent-Replayed: true`."
)


@router.post("/jackpots/contribute", response=RESPONSES, openapi_extra=BODY_DOC,
             summary="Contribute by source or to an instance", description=DESCRIPTION)
async def contribute(request):
    return await _in_thread(request, None)


@router.post("/jackpots/contribute/source", response=RESPONSES, openapi_extra=BODY_DOC,
             summary="Contribute by source (source_id required)", description=DESCRIPTION)
async def contribute_source(request):
    return await _in_thread(request, "source")


@router.post("/jackpots/contribute/instance", response=RESPONSES, openapi_extra=BODY_DOC,
             summary="Contribute directly to an instance (instance_id required)", description=DESCRIPTION)
async def contribute_instance(request):
    return await _in_thread(request, "instance")
