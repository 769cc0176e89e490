"""Player session tokens for the player WebSocket (SPEC 3): signed by the portal, so they are
recognised locally for any brand, with or without a wallet. And the instance reads (SPEC 2.9):
public snapshots, and with a player token the player's own view of them (`player_id`)."""

import uuid
from datetime import datetime
from typing import Literal

from django.conf import settings
from ninja import Field, Query, Router, Schema

from players.asyncapi import document
from players.models import Player
from players.selectors import optin_states
from players.services import player_exclusion_set
from portal import clock
from portal.auth import (
    PlayerPrincipal,
    ServiceBearer,
    brand_in_scope,
    forbidden,
    player_token_issue,
    unauthorized,
)
from portal.errors import DomainError, invalid_structure, invalid_value
from portal.http import ErrorOut, json_response
from portal.models import Brand
from portal.public import brand_operator, is_anonymous, public_get
from portal.selectors import brand_for_operator
from portal.validation import COUNTRY_RE, normalise_country
from sources.api import InstanceOut, rules_page_url
from sources.models import JackpotInstance
from sources.selectors import (
    brand_live_instances,
    instance_brand_codes,
    instance_for_source,
    instance_operator,
    instance_queryset,
    instance_snapshots,
    public_instance,
)

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


# --- excluded players (responsible gambling) ------------------------------------------------


class ExclusionIn(Schema):
    brand_id: str
    player_id: str
    exclusion: Literal["none", "self_excluded", "cool_off"] = Field(
        description="self_excluded: until lifted (or until `until`); cool_off: until `until`; none: lifted.")
    until: datetime | None = Field(None, description="ISO 8601 with a time zone; required for a cool-off.")
    reason: str = Field("", max_length=500, description="Kept in the player's History.")


class ExclusionOut(Schema):
    operator_id: str
    brand_id: str
    player_id: str
    exclusion: str
    until: datetime | None
    in_force: bool = Field(description="Contributions and opt-ins are refused (PlayerExcluded) right now.")
    source: str | None
    changed_at: datetime | None


def _exclusion_out(brand: Brand, player_id: str, player: Player | None) -> dict:
    return {
        "operator_id": brand.operator_id, "brand_id": brand.code, "player_id": player_id,
        "exclusion": (player.exclusion if player else "") or "none",
        "until": player.excluded_until if player else None,
        "in_force": bool(player and player.excluded_at(clock.now())),
        "source": (player.exclusion_source or None) if player else None,
        "changed_at": player.exclusion_changed_at if player else None,
    }


def _player_id(raw: str) -> str:
    player_id = raw.strip()
    if not player_id or len(player_id) > 128:
        raise invalid_value("player_id must be 1 to 128 characters")
    return player_id


@router.put("/v1/players/exclusion", response={200: ExclusionOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
            summary="Exclude a player of one of your brands from jackpots (self-exclusion, cool-off), or lift it")
def exclusion_set(request, body: ExclusionIn):
    """While a player is excluded their contributions are refused (`CONTRIBUTION_REJECTED`,
    rule `PlayerExcluded`), so are their opt-ins, and a win that still reaches them (a raffle
    draw) is withheld for staff. A cool-off ends by itself at `until`."""
    brand = brand_for_operator(brand_key=body.brand_id, operator_id=request.auth.operator_id)
    player_id = _player_id(body.player_id)
    player = player_exclusion_set(
        brand=brand, player_id=player_id, exclusion="" if body.exclusion == "none" else body.exclusion,
        until=body.until, source=Player.ExclusionSource.SERVICE,
        reason=f"by service account {request.auth.username}" + (f": {body.reason}" if body.reason else ""))
    return _exclusion_out(brand, player_id, player)


@router.get("/v1/players/exclusion", response={200: ExclusionOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut},
            summary="A player's exclusion status")
def exclusion_get(request, brand_id: str, player_id: str):
    brand = brand_for_operator(brand_key=brand_id, operator_id=request.auth.operator_id)
    player_id = _player_id(player_id)
    return _exclusion_out(brand, player_id, Player.objects.filter(brand=brand, player_id=player_id).first())


@router.get("/asyncapi.json", auth=None, tags=["docs"],
            summary="The AsyncAPI 3.0 document of the WebSocket API (readable at /docs/websockets/)")
def asyncapi_document(request):
    # Any AsyncAPI tool may fetch it from its own origin: a public document, no credentials.
    return json_response(document(host=request.get_host(), secure=request.is_secure()),
                         headers={"Cache-Control": "public, max-age=300", "Access-Control-Allow-Origin": "*"})


# --- instance reads: public, and the player's own view (SPEC 2.9) ---------------------------

PLAYER_VIEW = (
    "Without a token the answer is public and carries no player data. With a player token (POST "
    "/v1/players/token), `?player_id=<that player>` adds `player_optin`, the player's own opt-in state "
    "(as in OptInEvent): another player's id is 403 FORBIDDEN, and `player_id` without a token is 401 "
    "UNAUTHORIZED. A service token reads as it always did, and may add the view of any player of its "
    "brands. Public answers may be cached for a few seconds (Cache-Control, ETag: send If-None-Match for a "
    "304); calls without a service token are limited per client address (429 RATE_LIMITED); browsers may "
    "call from the origins the operator lists (CORS).")


class OptInStateOut(Schema):
    instance_id: str
    player_id: str
    ext_player_id: str
    player_brand_id: str = Field(description="The bare brand code.")
    preferred_contribution_value: float | None = Field(description="Exact decimal, in the player's currency.")
    contribution_count: int
    contribution_value: float | None = Field(description="The player's next contribution (Fixed instances).")
    opted_in: bool
    last_updated: int | None = Field(description="Epoch ms; null if the player never opted in.")


class PlayerInstanceOut(InstanceOut):
    player_optin: OptInStateOut | None = Field(None, description="Only with `player_id` and a token allowed to see it.")


class SnapshotQuery(Schema):
    country_code: str | None = Field(None, description="ISO 3166 alpha-2 (UK is GB): only jackpots open there.")
    player_id: str | None = Field(None, description="Add this player's own opt-in state (needs a token).")


class InstanceQuery(Schema):
    player_id: str | None = Field(None, description="Add this player's own opt-in state (needs a token).")
    brand_id: str | None = Field(
        None, description="operator:brand of `player_id`: needed with a service token (a player token's is its own).")


INSTANCE_ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 429: ErrorOut}


def _reader_brand(principal, brand_key: str) -> Brand:
    """The brand a read names: any enabled one for the public, else within the token's scope."""
    if is_anonymous(principal):
        return brand_for_operator(brand_key=brand_key, operator_id=brand_key.partition(":")[0])
    return brand_in_scope(principal, brand_key)


def _viewer(principal, brand: Brand | None, player_id: str | None) -> tuple[Brand, str] | None:
    """Whose opt-in state the answer adds: `player_id`'s, when the caller may see it."""
    if player_id is None:
        return None
    player_id = player_id.strip()
    if not player_id or len(player_id) > 128:
        raise invalid_value("player_id must be 1 to 128 characters")
    if is_anonymous(principal):
        raise unauthorized("player_id shows a player's own opt-in state: send that player's token "
                           "(Authorization: Bearer <player token>)")
    if isinstance(principal, PlayerPrincipal) and player_id != principal.player_id:
        raise forbidden(f"This token is player {principal.player_id}'s: it cannot read player {player_id}'s opt-ins")
    if brand is None:
        raise invalid_structure("brand_id (operator:brand) is needed with player_id and a service token")
    return brand, player_id


def _snapshots_out(request, instances: list[JackpotInstance], viewer: tuple[Brand, str] | None) -> list[dict]:
    snapshots = instance_snapshots(instances)
    states = optin_states(instances=instances, brand=viewer[0], player_id=viewer[1]) if viewer else None
    for instance, snapshot in zip(instances, snapshots, strict=True):
        snapshot["rules_url"] = rules_page_url(request, instance.pk)
        if states is not None:
            snapshot["player_optin"] = states[instance.pk]
    return snapshots


def _country(code: str | None) -> str | None:
    if code is None or not code.strip():
        return None
    if not COUNTRY_RE.match(code.strip()):
        raise invalid_value("country_code must be an ISO 3166 alpha-2 code, e.g. MT (UK is read as GB)")
    return normalise_country(code)


@public_get(router, "/v1/thrillpots/instances/source/{source_id}/brand/{brand_id}", operators=brand_operator,
            response={200: PlayerInstanceOut, **INSTANCE_ERRORS}, tags=["jackpots"],
            summary="The instance a player of this brand (and country) reaches through a source",
            description="The best Active jackpot a contribution through `source_id` would reach for this brand "
                        "(SPEC 2.3), as a snapshot: pot values now, never a hidden drop point.\n\n" + PLAYER_VIEW)
def instance_by_source(request, source_id: str, brand_id: str, filters: Query[SnapshotQuery]):
    brand = _reader_brand(request.auth, brand_id)
    viewer = _viewer(request.auth, brand, filters.player_id)
    instance = instance_for_source(brand=brand, source_id=source_id, country=_country(filters.country_code))
    return json_response(_snapshots_out(request, [instance_queryset().get(pk=instance.pk)], viewer)[0])


@public_get(router, "/v1/thrillpots/instances/brand/{brand_id}", operators=brand_operator,
            response={200: list[PlayerInstanceOut], **INSTANCE_ERRORS}, tags=["jackpots"],
            summary="A brand's live jackpots: every Active instance serving the brand (and country), by name",
            description="What a casino lobby shows: snapshots of the Active jackpots open to the brand's players "
                        "(to players from `country_code` when given), as the player socket's JackpotUpdate has "
                        "them.\n\n" + PLAYER_VIEW)
def brand_instances(request, brand_id: str, filters: Query[SnapshotQuery]):
    brand = _reader_brand(request.auth, brand_id)
    viewer = _viewer(request.auth, brand, filters.player_id)
    instances = brand_live_instances(brand=brand, country=_country(filters.country_code))
    return json_response(_snapshots_out(request, instances, viewer))


@public_get(router, "/v1/thrillpots/instances/{instance_id}", operators=instance_operator,
            response={200: PlayerInstanceOut, **INSTANCE_ERRORS}, tags=["jackpots"], summary="An instance snapshot",
            description="Any announced instance (Active, Paused or Terminated; a Pending one is not public). A "
                        "service token reads its operator's instances whatever their state, a player token those "
                        "serving the player's brand.\n\n" + PLAYER_VIEW)
def instance_detail(request, instance_id: str, filters: Query[InstanceQuery]):
    principal = request.auth
    brand = None
    if filters.player_id is not None and not is_anonymous(principal):
        if filters.brand_id:
            brand = _reader_brand(principal, filters.brand_id)
        elif isinstance(principal, PlayerPrincipal):
            brand = brand_in_scope(principal, principal.brand_key)
    viewer = _viewer(principal, brand, filters.player_id)
    if is_anonymous(principal):
        instance = public_instance(instance_id)
    else:
        try:
            pk = uuid.UUID(instance_id)
        except ValueError as exc:
            raise DomainError("INSTANCE_NOT_FOUND", instance_id) from exc
        instance = instance_queryset().filter(pk=pk, operator_id=principal.operator_id).first()
        if instance is None or (isinstance(principal, PlayerPrincipal)
                                and principal.brand_code not in instance_brand_codes(instance)):
            raise DomainError("INSTANCE_NOT_FOUND", instance_id)
    return json_response(_snapshots_out(request, [instance], viewer)[0])
