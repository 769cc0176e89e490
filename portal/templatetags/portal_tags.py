from decimal import Decimal

from django import template

from portal.money import plain as plain_decimal

register = template.Library()


@register.filter
def plain(value):
    """A decimal as written, without trailing zeros or exponent: 0.1, 12.5, 0.00000001."""
    if value is None or value == "":
        return ""
    return format(plain_decimal(Decimal(value)), "f")
