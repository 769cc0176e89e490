"""The contribution gateway's hot path: `POST /jackpots/contribute[/source|/instance]`.

A plain ASGI application (routed here by `portal.asgi`): the request is read, its bearer
token checked (a signature; the database only when the short account cache misses) and its
body parsed on the event loop; the database work waits in the lane (`services/lane.py`: one
thread per process, batches) without a thread of its own. A side bet debited at a wallet
runs on a thread of its own (the network is never waited on in the lane), limited per brand
by the wallet bulkhead. The same `contribution_answer` serves the django-ninja views of these
paths (the OpenAPI document, and any server that does not route here).
"""

import logging
import time
from typing import Literal

from asgiref.sync import ThreadSensitiveContext, sync_to_async
from django.conf import settings
from django.db import close_old_connections, connection

from contributions.schemas import parse_contribution
from contributions.services import engine
from contributions.services.plan import Outcome
from contributions.webhooks import webhook_url_check_async
from portal import jsonutil
from portal.auth import service_verify_async
from portal.errors import DomainError, refusal_log
from portal.logs import log_bind, log_current, log_scope
from portal.metrics import contribution_answered

logger = logging.getLogger(__name__)

PATHS: dict[str, Literal["source", "instance"] | None] = {
    "/jackpots/contribute": None,
    "/jackpots/contribute/source": "source",
    "/jackpots/contribute/instance": "instance",
}


async def contribution_answer(*, operator_id: str, body: bytes, require: Literal["source", "instance"] | None,
                              lane: bool = True) -> Outcome:
    """One contribution request, parsed and answered (SPEC 2.2-2.8); refusals raise DomainError.
    Inside Django's request handler (`lane=False`) the request is a batch of its own, run on
    the request's thread."""
    log_bind(operator=operator_id)
    request = parse_contribution(body, require=require)
    log_bind(brand=request.brand_id, mode="sync" if request.callback is None else "async")  # logs, metrics
    if request.callback is not None:
        await webhook_url_check_async(request.callback.web_hook)
    work = engine.Request(operator_id=operator_id, request=request, log=log_current())
    if lane:
        result = await engine.lane.submit(work)
    else:
        (result,) = await sync_to_async(engine.contributions_run)([work])
        if isinstance(result, BaseException):
            raise result
    if isinstance(result, engine.AtWallet):
        async with ThreadSensitiveContext():  # a thread for this request, as long as its wallet calls take
            result = await sync_to_async(_at_wallet, thread_sensitive=True)(operator_id, request, result.plan)
    return result


def _at_wallet(operator_id, request, plan) -> Outcome:
    try:
        return engine.contribution_record(operator_id=operator_id, request=request, plan=plan)
    finally:
        if not connection.in_atomic_block:
            close_old_connections()  # this thread ends here: its connection goes back to the pool


# --- the ASGI application ------------------------------------------------------------------

async def read_body(receive, limit: int) -> bytes:
    chunks, size = [], 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ConnectionAbortedError
        chunk = message.get("body", b"")
        size += len(chunk)
        chunks.append(chunk)
        if size >= limit:  # enough to refuse it: the rest is not read
            return b"".join(chunks)
        if not message.get("more_body"):
            return b"".join(chunks)


def bearer(scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            break
    raise DomainError("UNAUTHORIZED", "Missing, invalid or expired token")


def security_headers(scope) -> list[tuple[bytes, bytes]]:
    """What SecurityMiddleware adds to a JSON answer."""
    headers = [(b"x-content-type-options", b"nosniff"),
               (b"referrer-policy", settings.SECURE_REFERRER_POLICY.encode())]
    hsts = getattr(settings, "SECURE_HSTS_SECONDS", 0)
    if hsts and scope.get("scheme") == "https":
        headers.append((b"strict-transport-security", f"max-age={hsts}; includeSubDomains; preload".encode()))
    return headers


async def application(scope, receive, send) -> None:
    """POST to one of PATHS (the router sends nothing else here)."""
    started = time.perf_counter()
    with log_scope():
        replayed = False
        try:
            body = await read_body(receive, settings.GATEWAY_MAX_BODY_BYTES + 1)  # parse_contribution says why
            principal = await service_verify_async(bearer(scope))
            outcome = await contribution_answer(operator_id=principal.operator_id, body=body,
                                                require=PATHS[scope["path"]])
            status, text, replayed, code = 200, outcome.body, outcome.replayed, ""
        except ConnectionAbortedError:
            return  # the client left before it sent its body: nobody to answer
        except DomainError as error:
            refusal_log(error)
            status, text, code = error.status, jsonutil.dumps(error.as_body()), error.code
        except Exception:
            logger.exception("unexpected error on %s", scope["path"])
            error = DomainError("SYSTEM_ERROR", "An unexpected error occurred")
            status, text, code = 500, jsonutil.dumps(error.as_body()), error.code
        payload = text.encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode()),
                   *security_headers(scope)]
        if replayed:
            headers.append((b"idempotent-replayed", b"true"))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})
        contribution_answered(path=scope["path"], status=status, code=code, replayed=replayed,
                              seconds=time.perf_counter() - started)
