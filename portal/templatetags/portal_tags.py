"""How the staff pages write numbers. One rule for money (issue 13):

* `money`: what a person is paid or shown, in that currency's minor unit, rounded down as a
  payout is (portal.money.payout): 430.72624 EUR is shown 430.72, as credited.
* `exact`: a ledger amount as booked (up to 8 places), only where the page labels it exact;
  never fewer decimals than the minor unit, so a column reads evenly: 0.10, 0.0195.
"""

from decimal import Decimal, InvalidOperation

import simplejson
from django import template

from portal import jsonutil
from portal.money import iso_exponent, payout
from portal.money import plain as plain_decimal

register = template.Library()


def _decimal(value) -> Decimal | None:
    if value is None or value == "":
        return None
    try:
        return Decimal(value)
    except (InvalidOperation, TypeError, ValueError):
        return None


@register.filter
def plain(value):
    """A decimal as written, without trailing zeros or exponent: 0.1, 12.5, 0.00000001."""
    number = _decimal(value)
    return "" if number is None else format(plain_decimal(number), "f")


@register.filter
def money(value, currency):
    """An amount in `currency`'s minor unit, rounded down, with thousands separators: 1,234.50."""
    number = _decimal(value)
    if number is None:
        return ""
    exponent = iso_exponent(str(currency))
    return f"{payout(number, exponent):,.{exponent}f}"


@register.filter
def exact(value, currency=""):
    """A ledger amount as booked: all its decimals (up to 8), at least the minor unit's."""
    number = _decimal(value)
    if number is None:
        return ""
    number = plain_decimal(number)
    places = max(-number.as_tuple().exponent, iso_exponent(str(currency)) if currency else 0)
    return f"{number:,.{places}f}"


@register.filter
def minor_digits(currency) -> int:
    """The currency's ISO 4217 exponent, for scripts that format live values the same way."""
    return iso_exponent(str(currency))


@register.filter
def percent(value):
    """A share as a percentage: 0.3 -> 30%, 0.0195 -> 1.95%."""
    number = _decimal(value)
    return "" if number is None else f"{plain_decimal(number * 100):f}%"


@register.filter
def pretty_json(text):
    """Stored JSON text indented for reading (numbers kept exactly); other text unchanged."""
    try:
        return simplejson.dumps(jsonutil.loads(text), indent=2, use_decimal=True, ensure_ascii=False)
    except (ValueError, TypeError):
        return text
