"""Field rules shared by every request we parse (HTTP gateway and WebSocket).

Strict types: a wrong type is a structure error; a wrong value is a value error. The
callers map them to their codes (INVALID_STRUCTURE / INVALID_PROPERTY_VALUE, or the
WebSocket's codes).
"""

import re
from decimal import Decimal
from typing import Annotated, Any

from django.conf import settings
from pydantic import AfterValidator, ValidationError
from pydantic_core import PydanticCustomError

from portal.errors import DomainError, invalid_structure, invalid_value

BRAND_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}:[A-Za-z0-9_.-]{1,64}$")
COUNTRY_RE = re.compile(r"^[A-Za-z]{2}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")

# Pydantic error types that mean "the shape is wrong" rather than "a value is wrong".
STRUCTURE_ERRORS = {
    "missing", "model_type", "model_attributes_type", "dict_type", "string_type", "bool_type",
    "int_type", "float_type", "decimal_type", "list_type", "none_required", "structure",
    "is_instance_of", "union_tag_invalid", "number_type", "literal_error", "extra_forbidden",
}


def normalise_country(code: str) -> str:
    """Upper-case alpha-2; the UK's common `UK` is accepted as ISO's `GB`."""
    code = code.strip().upper()
    return "GB" if code == "UK" else code


def value_error(message: str) -> PydanticCustomError:
    return PydanticCustomError("property_value", message)


def unstorable(value: str) -> str | None:
    """Why PostgreSQL could not store or compare this text (NUL, lone surrogates), or None."""
    if "\x00" in value:
        return "contains a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def text(value: str, max_length: int) -> str:
    if not value:
        raise value_error("must not be empty")
    if len(value) > max_length:
        raise value_error(f"longer than {max_length} characters")
    if problem := unstorable(value):
        raise value_error(problem)
    return value


def storable(value: Any, where: str) -> None:
    """Refuse (INVALID_PROPERTY_VALUE) a parsed request holding text PostgreSQL cannot take,
    in any string or key however deep: checked once where requests are parsed, before any
    query, instead of field by field."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            if problem := unstorable(item):
                raise invalid_value(f"{where} {problem}")
        elif isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list | tuple):
            pending.extend(item)


def _brand(value: str) -> str:
    if not BRAND_RE.match(value):
        raise value_error("must be written operator:brand")
    return value


def _country(value: str) -> str:
    if not COUNTRY_RE.match(value):
        raise value_error("must be an ISO 3166 alpha-2 code")
    return normalise_country(value)


def _currency(value: str) -> str:
    if not CURRENCY_RE.match(value):
        raise value_error("must be an ISO 4217 code (three capital letters)")
    return value


def number(value: Any) -> Decimal:
    """A JSON number (int or Decimal: jsonutil never makes floats); bool is not a number."""
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        raise PydanticCustomError("number_type", "must be a JSON number")
    amount = Decimal(value)
    if not amount.is_finite():
        raise value_error("must be a finite number")
    # copy_abs, not abs(): abs() rounds to the context and 1E+999999999 would raise Overflow.
    if amount.copy_abs() > settings.MAX_BASE_WAGER:
        raise value_error(f"must not exceed {settings.MAX_BASE_WAGER}")
    if amount == 0:
        return Decimal(0)  # 0E-999999999 is zero, without an exponent no arithmetic can hold
    if amount.as_tuple().exponent < -settings.MONEY_DECIMAL_PLACES:
        raise value_error(f"has more than {settings.MONEY_DECIMAL_PLACES} decimal places")
    return amount


wager = number

Id = Annotated[str, AfterValidator(lambda v: text(v, 128))]
Token = Annotated[str, AfterValidator(lambda v: text(v, 512))]
BrandKey = Annotated[str, AfterValidator(_brand)]
Country = Annotated[str, AfterValidator(_country)]
CurrencyCode = Annotated[str, AfterValidator(_currency)]


def describe(exc: ValidationError) -> tuple[bool, str, list[dict]]:
    """(structural?, message, errors): structural when any error is about shape, not value."""
    errors = exc.errors(include_url=False, include_context=False, include_input=False)
    structural = [e for e in errors if e["type"] in STRUCTURE_ERRORS]
    parts = []
    for error in (structural or errors)[:5]:
        where = ".".join(str(p) for p in error["loc"])
        message = "is required" if error["type"] == "missing" else error["msg"]
        parts.append(f"{where} {message}".strip())
    return bool(structural), "; ".join(parts), errors


def error_from(exc: ValidationError) -> DomainError:
    structural, message, _ = describe(exc)
    return invalid_structure(message) if structural else invalid_value(message)
