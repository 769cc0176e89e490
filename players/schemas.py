"""WebSocket requests (SPEC 3, seed 000), validated strictly."""

from decimal import DecimalException
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from portal.errors import DomainError
from portal.validation import BrandKey, Country, Id, describe, number, text, value_error

EVENT_NAMES = {"JackpotUpdate", "WinEvent", "RaffleWinEvent", "OptInEvent"}


class WsRequest(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


class EventFilter(WsRequest):
    source: Annotated[str, AfterValidator(lambda v: text(v, 64))]
    event_type: Annotated[str, AfterValidator(lambda v: text(v, 64))]


class SubscribeRequest(WsRequest):
    events: list[EventFilter] = Field(max_length=20)


def _contribution_value(value: Any):
    """A JSON number within range. jsonutil already refuses numbers beyond decimal arithmetic;
    should one get here anyway (1E+999999 * anything overflows), it is out of range, not a crash."""
    try:
        return number(value)
    except DecimalException as exc:
        raise value_error("is out of range") from exc


class PlayerOptInRequest(WsRequest):
    instance_id: Id
    player_id: Id
    brand_id: BrandKey
    player_country: Country | None = None
    opt_in: bool
    contribution_value: Annotated[Any, AfterValidator(_contribution_value)] | None = None


class PlayerRaffleTicketsRequest(WsRequest):
    player_id: Id
    brand_id: BrandKey
    instance_id: Id | None = None


REQUESTS: dict[str, type[WsRequest]] = {
    "SubscribeRequest": SubscribeRequest,
    "PlayerOptInRequest": PlayerOptInRequest,
    "PlayerRaffleTicketsRequest": PlayerRaffleTicketsRequest,
}


def parse_request(name: str, body: Any) -> WsRequest:
    """A request body -> its model, or a DomainError with the WebSocket's code."""
    model = REQUESTS.get(name)
    if model is None:
        raise DomainError("UNKNOWN_REQUEST", f"Unknown request {name[:64]!r}; expected one of {', '.join(REQUESTS)}")
    if not isinstance(body, dict):
        raise DomainError("INVALID_STRUCTURE", f"{name} must be a JSON object")
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        structural, message, errors = describe(exc)
        if not structural and all(e["loc"][:1] == ("contribution_value",) for e in errors):
            raise DomainError("CONTRIBUTION_VALUE_OUT_OF_RANGE", message) from exc
        raise DomainError("INVALID_STRUCTURE", message) from exc
    except RecursionError as exc:
        raise DomainError("INVALID_STRUCTURE", "request nested too deeply") from exc
