"""Read endpoints of the catalogue (SPEC 2.9): no player data. The instance snapshots, which
may carry the player's own view, are served by `players.api`."""

from django.urls import reverse
from ninja import Field, Query, Router, Schema

from portal.auth import PlayerPrincipal, ServiceOrPlayerBearer, forbidden
from portal.clock import epoch_ms
from portal.http import ErrorOut, json_response
from portal.jsonutil import Raw
from portal.public import public_get
from sources import services
from sources.models import JackpotInstance, Source
from sources.selectors import (
    instance_operator,
    public_instance,
    rules_version,
    rules_versions,
)

router = Router(tags=["jackpots"], auth=ServiceOrPlayerBearer())


class PotOut(Schema):
    id: str = Field(description="minor, major, mega ...")
    is_progressive: bool
    current_value: float = Field(description="Exact decimal, in the instance's currency.")
    drop_commitment: str | None = Field(
        None, description="Must-drop pots only: SHA-256 of the hidden drop point (value:salt), revealed with the win.")


class InstanceOut(Schema):
    id: str
    name: str
    status: str = Field(description="Active, Paused or Terminated (Pending instances are not public).")
    jackpot_type: str = Field(description="Jackpot or Raffle.")
    currency: str = Field(description="The currency pot values are in.")
    allowed_brands: list[str]
    allowed_sources: list[str]
    pots: list[PotOut]
    timestamp_start: int | None = Field(description="Epoch ms.")
    timestamp_end: int | None = Field(description="Epoch ms.")
    last_updated: int | None = Field(description="Epoch ms of the last change of the instance or a pot.")
    rules_url: str = Field(description="The jackpot's rules, a public page (JSON: /v1/thrillpots/instances/{id}/rules).")


def rules_page_url(request, instance_id) -> str:
    """Absolute: a casino's page shows the link on its own origin."""
    return request.build_absolute_uri(reverse("rules", args=[instance_id]))


class SourceOut(Schema):
    owner_id: str
    source_name: str
    source_id: str


class OwnerQuery(Schema):
    owner_id: str | None = None


@router.get("/v1/thrillpots/sources", response={200: list[SourceOut], 401: ErrorOut, 403: ErrorOut},
            summary="Sources of the caller's operator, optionally of one owner (operator or operator:brand)")
def source_list(request, filters: Query[OwnerQuery]):
    principal = request.auth
    sources = Source.objects.filter(operator_id=principal.operator_id).select_related("brand")
    owner = filters.owner_id
    if owner:
        operator_id, _, brand_code = owner.partition(":")
        if operator_id != principal.operator_id:
            raise forbidden(f"Owner {owner} belongs to another operator")
        sources = sources.filter(brand__code=brand_code) if brand_code else sources.filter(brand__isnull=True)
    if isinstance(principal, PlayerPrincipal):
        sources = [s for s in sources if s.brand_id is None or s.brand.code == principal.brand_code]
    return json_response([
        {"owner_id": s.owner_id, "source_name": s.source_name, "source_id": s.source_id} for s in sources
    ])


class RulesQuery(Schema):
    version: int | None = Field(None, ge=1, description="A published version; the current one if omitted.")


class RulesVersionOut(Schema):
    version: int
    published_at: int = Field(description="Epoch ms.")
    url: str


class RulesOut(Schema):
    instance_id: str
    version: int
    published_at: int = Field(description="Epoch ms: when this version was published.")
    digest: str = Field(description="SHA-256 of the rules JSON text as published.")
    latest_version: int
    page_url: str = Field(description="The same version as a page.")
    versions: list[RulesVersionOut] = Field(description="Every published version, newest first.")
    rules: dict = Field(description="The rules generated from the configuration (see the description above).")


@public_get(router, "/v1/thrillpots/instances/{instance_id}/rules", operators=instance_operator,
            response={200: RulesOut, 401: ErrorOut, 404: ErrorOut, 429: ErrorOut},
            summary="The jackpot's rules (UKGC RTS 9A): public, versioned, generated from its configuration")
def instance_rules(request, instance_id: str, filters: Query[RulesQuery]):
    """Who funds the jackpot and how much each contribution is, each pot's share, seed, cap and
    how it is won (with the odds at a reference stake), who may take part, what happens when
    several pots trigger at once, and how wins are paid. Amounts are exact decimals in the
    instance's currency. A new version is published whenever the generated rules change; every
    version stays readable with `?version=`. Public like the instance reads (CORS, rate limit)."""
    instance = public_instance(instance_id, JackpotInstance.objects.all())
    current, _ = services.rules_publish(instance=instance)
    shown = current if filters.version is None or filters.version == current.version else rules_version(
        instance, filters.version)
    page = rules_page_url(request, instance.pk)
    response = json_response({
        "instance_id": str(instance.pk),
        "version": shown.version,
        "published_at": epoch_ms(shown.published_at),
        "digest": shown.digest,
        "latest_version": current.version,
        "page_url": f"{page}?version={shown.version}",
        "versions": [{"version": number, "published_at": epoch_ms(at),
                      "url": request.build_absolute_uri(f"{request.path}?version={number}")}
                     for number, at in rules_versions(instance)],
        "rules": Raw(shown.document),
    })
    # A numbered version's rules never change (its list of versions may grow); the current one
    # changes with the configuration.
    response["Cache-Control"] = "public, max-age=300" if filters.version else "public, max-age=60"
    return response
