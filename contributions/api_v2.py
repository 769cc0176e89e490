"""Contribution v2 (linked jackpots): `POST /v2/jackpots/contribute` answers one result per
instance the contribution fed. The v1 endpoints (`contributions/api.py`) answer as before."""

from ninja import Router, Schema

from contributions.schemas import ContributionIn, parse_contribution
from contributions.services import linked
from portal.auth import ServiceBearer
from portal.http import ErrorOut, json_response
from portal.logs import log_bind

router = Router(tags=["contributions"], auth=ServiceBearer())


class ContributionPart(Schema):
    """SPEC 2.5, as v1 answers it."""

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


class RefusedPart(Schema):
    """A linked instance that refused its part (the others are not affected)."""

    status_code: int
    code: str
    message: str
    instance_id: str


class LinkedResults(Schema):
    results: list[ContributionPart | RefusedPart]


DESCRIPTION = (
    "The v1 request body (synchronous: no `callback`). The contribution goes to the instance the "
    "request reaches (by `source_id` or `instance_id`, as in v1) and to every instance linked to it; "
    "each is a contribution of its own, with its own rules, amount, wallet debit and ledger. The answer "
    "lists one result per instance, that instance first: the v1 result, or an error body with the "
    "instance's id when that instance refused its part (the others go ahead). If the first instance "
    "refuses, nothing is contributed and the answer is that error, as in v1. Repeating the request "
    "returns the same list, with header `Idempotent-Replayed: true`."
)


@router.post("/v2/jackpots/contribute", summary="Contribute to an instance and the instances linked to it",
             description=DESCRIPTION,
             response={200: LinkedResults, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut,
                       409: ErrorOut, 500: ErrorOut, 502: ErrorOut, 503: ErrorOut, 504: ErrorOut},
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/json": {"schema": ContributionIn.model_json_schema()}}}})
def contribute_linked(request):
    log_bind(operator=request.auth.operator_id)
    payload = parse_contribution(request.body)
    log_bind(brand=payload.brand_id, mode="v2")
    outcome = linked.contribution_record_linked(operator_id=request.auth.operator_id, request=payload)
    return json_response(outcome.body, headers={"Idempotent-Replayed": "true"} if outcome.replayed else None)
