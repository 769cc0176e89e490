"""Read endpoints of the catalogue (SPEC 2.9): no player data."""

import uuid

from ninja import Query, Router, Schema

from portal.api import ErrorOut, json_response
from portal.auth import PlayerPrincipal, ServiceOrPlayerBearer, brand_in_scope, forbidden
from portal.errors import DomainError
from sources.models import Source
from sources.selectors import (
    instance_brand_codes,
    instance_for_source,
    instance_queryset,
    instance_snapshot,
)

router = Router(tags=["jackpots"], auth=ServiceOrPlayerBearer())


class PotOut(Schema):
    id: str
    is_progressive: bool
    current_value: float


class InstanceOut(Schema):
    id: str
    name: str
    status: str
    jackpot_type: str
    currency: str
    allowed_brands: list[str]
    allowed_sources: list[str]
    pots: list[PotOut]
    timestamp_start: int | None
    timestamp_end: int | None
    last_updated: int | None


class SourceOut(Schema):
    owner_id: str
    source_name: str
    source_id: str


class CountryQuery(Schema):
    country_code: str | None = None


class OwnerQuery(Schema):
    owner_id: str | None = None


@router.get("/v1/thrillpots/instances/source/{source_id}/brand/{brand_id}",
            response={200: InstanceOut, 400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
            summary="The instance a player of this brand (and country) reaches through a source")
def instance_by_source(request, source_id: str, brand_id: str, filters: Query[CountryQuery]):
    brand = brand_in_scope(request.auth, brand_id)
    country = filters.country_code.strip().upper() if filters.country_code else None
    if country == "UK":
        country = "GB"
    instance = instance_for_source(brand=brand, source_id=source_id, country=country)
    instance = instance_queryset().get(pk=instance.pk)
    return json_response(instance_snapshot(instance))


@router.get("/v1/thrillpots/instances/{instance_id}",
            response={200: InstanceOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut},
            summary="An instance snapshot")
def instance_detail(request, instance_id: str):
    principal = request.auth
    try:
        pk = uuid.UUID(instance_id)
    except ValueError as exc:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id, status=404) from exc
    instance = instance_queryset().filter(pk=pk, operator_id=principal.operator_id).first()
    if instance is None:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id, status=404)
    if isinstance(principal, PlayerPrincipal) and principal.brand_code not in instance_brand_codes(instance):
        raise DomainError("INSTANCE_NOT_FOUND", instance_id, status=404)
    return json_response(instance_snapshot(instance))


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

