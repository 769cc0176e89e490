"""JSON in and out with exact decimals.

Request bodies are parsed with every number as `int` or `Decimal` (never float); NaN and
Infinity are refused. Output writes a Decimal as a plain JSON number in fixed-point form
(0.1, 10, 0.00000001) and passes stored JSON text through untouched (`Raw`).
"""

from decimal import Decimal
from typing import Any

import simplejson

Raw = simplejson.RawJSON


class JSONDecodeError(ValueError):
    """The body is not JSON (or is nested too deeply to read)."""


class NonFiniteNumber(ValueError):
    """The body uses NaN, Infinity or -Infinity, which are not numbers we can store."""


def _refuse_constant(name: str) -> Any:
    raise NonFiniteNumber(name)


def loads(data: bytes | str) -> Any:
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONDecodeError("body is not UTF-8") from exc
    try:
        return simplejson.loads(data, use_decimal=True, parse_constant=_refuse_constant)
    except NonFiniteNumber:
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
