"""Who is on a player socket. The check is pluggable: `PLAYER_AUTHENTICATORS` lists
functions tried in order; each returns a PlayerPrincipal, None (refused), or raises
NotResponsible to let the next one decide (a brand with a wallet asks the wallet)."""

from django.conf import settings
from django.utils.module_loading import import_string

from portal.auth import PlayerPrincipal, player_token_verify
from portal.errors import DomainError
from portal.models import Brand


class NotResponsible(Exception):
    pass


def portal_token(*, brand: Brand, token: str, currency: str) -> PlayerPrincipal | None:
    """Player session tokens the portal issued to a service account (POST /v1/players/token)."""
    try:
        principal = player_token_verify(token)
    except DomainError:
        return None
    if principal.operator_id != brand.operator_id or principal.brand_code != brand.code:
        return None  # a token of another brand is a bad token for this one
    return PlayerPrincipal(operator_id=brand.operator_id, brand_code=brand.code, player_id=principal.player_id,
                           currency=currency)


def player_authenticate(*, operator_id: str, brand_code: str, token: str, currency: str) -> PlayerPrincipal | None:
    brand = Brand.objects.filter(operator_id=operator_id, code=brand_code, enabled=True,
                                 operator__enabled=True).first()
    if brand is None or not token:
        return None
    for path in settings.PLAYER_AUTHENTICATORS:
        try:
            return import_string(path)(brand=brand, token=token, currency=currency)
        except NotResponsible:
            continue
    return None
