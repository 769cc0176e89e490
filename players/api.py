"""Player session tokens for the player WebSocket (SPEC 3): signed by the portal, so they are
recognised locally for any brand, with or without a wallet."""

from django.conf import settings
from ninja import Router, Schema

from portal.api import ErrorOut
from portal.auth import ServiceBearer, player_token_issue
from portal.errors import invalid_value
from portal.selectors import brand_for_operator

router = Router(tags=["players"], auth=ServiceBearer())


class PlayerTokenIn(Schema):
    brand_id: str
    player_id: str


class PlayerTokenOut(Schema):
    token: str
    expires_in: int


@router.post("/v1/players/token", response={200: PlayerTokenOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
             summary="Issue a player session token (for the player WebSocket) for one of your brands")
def player_token(request, body: PlayerTokenIn):
    brand = brand_for_operator(brand_key=body.brand_id, operator_id=request.auth.operator_id)
    player_id = body.player_id.strip()
    if not player_id or len(player_id) > 128 or "\x00" in player_id:
        raise invalid_value("player_id must be 1 to 128 characters")
    return {"token": player_token_issue(brand=brand, player_id=player_id),
            "expires_in": settings.PLAYER_TOKEN_TTL_SECONDS}
