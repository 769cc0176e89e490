"""The contribution request (SPEC 2.2): parsed from bytes with exact decimals, validated
strictly, and every failure turned into the spec's code.

* INVALID_STRUCTURE: not JSON, not an object, a missing or mistyped field, both or
  neither target.
* INVALID_PROPERTY_VALUE: NaN/Infinity, bad currency/country/brand format, an empty or
  overlong id, an absurd amount, oversized metadata, a refused callback URL.
"""

from typing import Annotated, Any, Literal

from django.conf import settings
from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from portal import jsonutil
from portal.errors import invalid_structure, invalid_value
from portal.validation import (
    BrandKey,
    Country,
    CurrencyCode,
    Id,
    Token,
    error_from,
    text,
    value_error,
    wager,
)


def _metadata(value: Any) -> Any:
    try:
        size = jsonutil.encoded_size(value)
    except ValueError as exc:
        raise value_error("cannot be stored") from exc
    if size > settings.CONTRIBUTION_METADATA_MAX_BYTES:
        raise value_error(f"is {size} bytes encoded; at most {settings.CONTRIBUTION_METADATA_MAX_BYTES} allowed")
    return value



class Callback(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    web_hook: Annotated[str, AfterValidator(lambda v: text(v, 2048))]
    win_result_only: bool = False


class ContributionIn(BaseModel):
    """A contribution as the operator sends it (fields of the seed, unknown fields ignored)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    token: Token
    brand_id: BrandKey
    player_id: Id
    player_country: Country
    source_id: Id | None = None
    instance_id: Id | None = None
    gameround_id: Id
    currency: CurrencyCode
    base_wager: Annotated[Any, AfterValidator(wager)]
    metadata: Annotated[Any, AfterValidator(_metadata)] = None
    callback: Callback | None = None

    @model_validator(mode="after")
    def _one_target(self) -> "ContributionIn":
        if (self.source_id is None) == (self.instance_id is None):
            raise PydanticCustomError("structure", "exactly one of source_id and instance_id is required")
        return self

    @property
    def target_kind(self) -> Literal["source", "instance"]:
        return "source" if self.source_id is not None else "instance"

    @property
    def target_id(self) -> str:
        return self.source_id if self.source_id is not None else self.instance_id  # type: ignore[return-value]

    @property
    def metadata_json(self) -> str | None:
        return None if self.metadata is None else jsonutil.dumps(self.metadata, verbatim_numbers=True)


def parse_contribution(body: bytes, *, require: Literal["source", "instance"] | None = None) -> ContributionIn:
    """Bytes -> a validated request, or a DomainError with the spec's code."""
    if len(body) > settings.GATEWAY_MAX_BODY_BYTES:
        raise invalid_value(f"Body larger than {settings.GATEWAY_MAX_BODY_BYTES} bytes")
    try:
        data = jsonutil.loads(body)
    except jsonutil.NonFiniteNumber as exc:
        raise invalid_value(f"{exc} is not a number we accept") from exc
    except jsonutil.JSONDecodeError as exc:
        raise invalid_structure(f"Body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise invalid_structure("Body must be a JSON object")
    try:
        request = ContributionIn.model_validate(data)
    except ValidationError as exc:
        raise error_from(exc) from exc
    except RecursionError as exc:
        raise invalid_structure("Body nested too deeply") from exc
    if require == "source" and request.source_id is None:
        raise invalid_structure("source_id is required on this endpoint")
    if require == "instance" and request.instance_id is None:
        raise invalid_structure("instance_id is required on this endpoint")
    return request
