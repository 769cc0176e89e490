"""JSON in and out with exact decimals.

Request bodies are parsed with every number as `int` or `Decimal` (never float); NaN,
Infinity and numbers beyond decimal arithmetic (1E+999999999) are refused, and so is an
object naming a key twice (which of the two values counts would be a guess). Output writes
a Decimal as a plain JSON number in fixed-point form (0.1, 10, 0.00000001) and passes stored
JSON text through untouched (`Raw`).
"""

from decimal import Decimal, DefaultContext, InvalidOperation
from typing import Any

import simplejson
from ninja.parser import Parser

Raw = simplejson.RawJSON


class JSONDecodeError(ValueError):
    """The body is not JSON (or is nested too deeply to read)."""


class DuplicateKey(JSONDecodeError):
    """An object names the same key twice."""


class NonFiniteNumber(ValueError):
    """The body uses NaN, Infinity or -Infinity, which are not numbers we can store."""


class NumberOutOfRange(NonFiniteNumber):
    """A number whose exponent no decimal arithmetic handles (1E+999999999): as unusable as NaN."""


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(name)


def _decimal(text: str) -> Decimal:
    """Decimal arithmetic (default context) overflows above an adjusted exponent of 999999 and
    1E+99999999999999999999 is not even a Decimal; refuse both while parsing, so no caller
    meets decimal.Overflow later. 1E+400 (a caller's metadata) still passes."""
    try:
        number = Decimal(text)
    except InvalidOperation as exc:
        raise NumberOutOfRange(text[:32]) from exc
    if not DefaultContext.Emin <= number.adjusted() <= DefaultContext.Emax:
        raise NumberOutOfRange(text[:32])
    return number


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen = set()
        for key, _ in pairs:
            if key in seen:
                raise DuplicateKey(f"duplicate key {key[:64]!r}")
            seen.add(key)
    return obj


# One decoder for every call (it keeps no state between calls). parse_float=_decimal is
# simplejson's use_decimal=True (which refuses a parse_float of our own) plus the range check.
_DECODER = simplejson.JSONDecoder(parse_float=_decimal, parse_constant=_refuse_constant,
                                  object_pairs_hook=_unique_keys)


def loads(data: bytes | str) -> Any:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONDecodeError("body is not UTF-8") from exc
    try:
        return _DECODER.decode(data)
    except (NonFiniteNumber, JSONDecodeError):
        raise
    except RecursionError as exc:
        raise JSONDecodeError("JSON nested too deeply") from exc
    except (simplejson.JSONDecodeError, ValueError) as exc:
        raise JSONDecodeError(str(exc)) from exc


def _default(value: Any, *, fixed: bool = True) -> Any:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"cannot write {value} as JSON")
        return Raw(format(value, "f") if fixed else str(value))
    if hasattr(value, "isoformat"):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _as_parsed(value: Any) -> Any:
    return _default(value, fixed=False)


def dumps(value: Any, *, verbatim_numbers: bool = False) -> str:
    """Compact JSON text; decimals as exact numbers. Amounts we compute are written in fixed
    point (0.00000001); a caller's own data (`verbatim_numbers`) keeps the notation it was
    sent in (1E+400 stays 1E+400)."""
    try:
        return simplejson.dumps(value, default=_as_parsed if verbatim_numbers else _default, use_decimal=False,
                                separators=(",", ":"))
    except RecursionError as exc:
        raise ValueError("value nested too deeply to write as JSON") from exc


def encoded_size(value: Any) -> int:
    return len(dumps(value, verbatim_numbers=True).encode("utf-8"))


class NinjaParser(Parser):
    """django-ninja's body parser with these rules (its default is json.loads: floats, NaN,
    the last of duplicate keys). Use as NinjaAPI(parser=NinjaParser())."""

    def parse_body(self, request):
        return loads(request.body)
