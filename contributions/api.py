"""Gateway endpoints for contributions (SPEC 2.2-2.8)."""

from typing import Literal

from ninja import Router, Schema

from contributions.gateway import contribution_answer
from contributions.schemas import ContributionIn
from portal.auth import AsyncServiceBearer
from portal.http import ErrorOut, json_response

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


async def _contribute(request, require: Literal["source", "instance"] | None):
    """The same answer as the gateway's own ASGI path (`contributions.gateway`), which serves
    these paths under `portal.asgi`; here for the OpenAPI document and any other server."""
    outcome = await contribution_answer(operator_id=request.auth.operator_id, body=request.body, require=require,
                                        lane=False)
    headers = {"Idempotent-Replayed": "true"} if outcome.replayed else None
    return json_response(outcome.body, headers=headers)


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
    return await _contribute(request, None)


@router.post("/jackpots/contribute/source", response=RESPONSES, openapi_extra=BODY_DOC,
             summary="Contribute by source (source_id required)", description=DESCRIPTION)
async def contribute_source(request):
    return await _contribute(request, "source")


@router.post("/jackpots/contribute/instance", response=RESPONSES, openapi_extra=BODY_DOC,
             summary="Contribute directly to an instance (instance_id required)", description=DESCRIPTION)
async def contribute_instance(request):
    return await _contribute(request, "instance")
