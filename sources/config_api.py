"""The configuration API, `/v1/config/...`: what the admin configures, for scripts.

A service account with the configuration permission (`ServiceAccount.can_configure`, off by
default) changes its own operator's brands, sources and their mappings, game groups and games
(in bulk), templates, instances made from templates, their states, seed boosts and its brands'
currency multipliers; the system-wide rates take `can_feed_system_rates` (a rates feed).
Everything goes through the services the admin uses, so each check the admin makes holds
here, refused as `INVALID_CONFIGURATION` with the admin's words, and History names the
account (`api:<username>`, `portal.services.service_account_user`). Another operator's
objects do not exist here (404); naming another operator as an owner is 403.
"""

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, Literal

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Prefetch
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.security import HttpBearer

from portal.auth import forbidden, service_verify
from portal.errors import DomainError
from portal.http import ErrorOut, json_response
from portal.models import Brand, ServiceAccount
from portal.money import plain
from portal.selectors import currency_table
from portal.services import brand_save, currency_rates_set, service_account_user
from sources import services
from sources.jackpot_templates import (
    definition_of_instance,
    definition_shown,
    instance_create_from_template,
    template_save,
    template_version,
)
from sources.models import (
    GameGroup,
    JackpotInstance,
    JackpotTemplate,
    JackpotTemplateVersion,
    Pot,
    Source,
)

# --- who is calling -----------------------------------------------------------------------


@dataclass(frozen=True)
class Configurator:
    """A service account on the configuration API, with the user that names it in History."""

    account: ServiceAccount
    user: AbstractBaseUser

    @property
    def operator_id(self) -> str:
        return self.account.operator_id


class ConfigBearer(HttpBearer):
    """A service token of an account with the configuration permission (else 403)."""

    openapi_description = ("A service token (POST /authenticate/service) of an account with the configuration "
                           "permission.")

    def account(self, token: str) -> ServiceAccount:
        principal = service_verify(token)
        return ServiceAccount.objects.select_related("user").get(pk=principal.account_id)

    def authenticate(self, request, token: str) -> Configurator:
        account = self.account(token)
        if not account.can_configure:
            raise forbidden("This service account has no configuration permission "
                            "(admin: Service accounts, 'configuration API')")
        return Configurator(account=account, user=service_account_user(account))


class RatesBearer(ConfigBearer):
    """Either permission: each rates request is checked against what it changes."""

    def authenticate(self, request, token: str) -> Configurator:
        account = self.account(token)
        if not (account.can_configure or account.can_feed_system_rates):
            raise forbidden("This service account has no configuration permission")
        return Configurator(account=account, user=service_account_user(account))


router = Router(tags=["configuration"], auth=ConfigBearer())
ERRORS = {400: ErrorOut, 401: ErrorOut, 403: ErrorOut, 404: ErrorOut, 409: ErrorOut}


def _owner(request, owner_id: str | None) -> Brand | None:
    """`operator` or `operator:brand` of the caller's operator: None (operator-wide) or the brand."""
    operator_id = request.auth.operator_id
    if not owner_id or owner_id == operator_id:
        return None
    owner_operator, _, code = owner_id.partition(":")
    if owner_operator != operator_id:
        raise forbidden(f"Owner {owner_id} belongs to another operator")
    return _brand(request, code)


def _brand(request, code: str) -> Brand:
    brand = Brand.objects.filter(operator_id=request.auth.operator_id, code=code).first()
    if brand is None:
        raise DomainError("UNSUPPORTED_BRAND", f"Unknown brand {request.auth.operator_id}:{code}")
    return brand


def _brand_key(request, key: str) -> Brand:
    operator_id, _, code = key.partition(":")
    if operator_id != request.auth.operator_id:
        raise forbidden(f"Brand {key} belongs to another operator")
    return _brand(request, code)


def _instance(request, instance_id) -> JackpotInstance:
    try:
        pk = uuid.UUID(str(instance_id))
    except ValueError:
        raise DomainError("INSTANCE_NOT_FOUND", str(instance_id)) from None
    instance = (JackpotInstance.objects.select_related("template_version__template", "brand")
                .filter(pk=pk, operator_id=request.auth.operator_id).first())
    if instance is None:
        raise DomainError("INSTANCE_NOT_FOUND", str(instance_id))
    return instance


def _source(request, source_pk: int) -> Source:
    source = Source.objects.select_related("brand").filter(pk=source_pk, operator_id=request.auth.operator_id).first()
    if source is None:
        raise DomainError("SOURCE_NOT_FOUND", f"No source {source_pk}")
    return source


def _group(request, group_pk: int) -> GameGroup:
    group = (GameGroup.objects.select_related("brand", "source")
             .filter(pk=group_pk, operator_id=request.auth.operator_id).first())
    if group is None:
        raise DomainError("GAME_GROUP_NOT_FOUND", f"No game group {group_pk}")
    return group


def _template(request, template_pk: int) -> JackpotTemplate:
    template = _templates(request).filter(pk=template_pk).first()
    if template is None:
        raise DomainError("TEMPLATE_NOT_FOUND", f"No template {template_pk}")
    return template


def _when(moment: datetime | None) -> datetime | None:
    """Times without an offset are UTC."""
    if moment is not None and timezone.is_naive(moment):
        return moment.replace(tzinfo=UTC)
    return moment


# --- brands -------------------------------------------------------------------------------


class BrandIn(Schema):
    code: str
    name: str = ""
    enabled: bool = True
    side_bets_without_wallet: bool = False


class BrandPatch(Schema):
    name: str | None = None
    enabled: bool | None = None
    side_bets_without_wallet: bool | None = None


class BrandOut(Schema):
    brand_id: str
    code: str
    name: str
    enabled: bool
    side_bets_without_wallet: bool


def _brand_body(brand: Brand) -> dict:
    return {"brand_id": brand.key, "code": brand.code, "name": brand.name, "enabled": brand.enabled,
            "side_bets_without_wallet": brand.side_bets_without_wallet}


@router.get("/v1/config/brands", response={200: list[BrandOut], **ERRORS}, summary="The operator's brands")
def brand_list(request):
    return json_response([_brand_body(b) for b in Brand.objects.filter(operator_id=request.auth.operator_id)])


@router.post("/v1/config/brands", response={201: BrandOut, **ERRORS}, summary="Add a brand")
def brand_add(request, data: BrandIn):
    brand = brand_save(brand=Brand(operator_id=request.auth.operator_id, **data.dict()), actor=request.auth.user)
    return json_response(_brand_body(brand), status=201)


@router.patch("/v1/config/brands/{code}", response={200: BrandOut, **ERRORS}, summary="Change a brand")
def brand_change(request, code: str, data: BrandPatch):
    brand = Brand.objects.filter(operator_id=request.auth.operator_id, code=code).first()
    if brand is None:
        raise DomainError("BRAND_NOT_FOUND", f"No brand {request.auth.operator_id}:{code}")
    for name, value in data.dict(exclude_unset=True).items():
        if value is not None:
            setattr(brand, name, value)
    return json_response(_brand_body(brand_save(brand=brand, actor=request.auth.user)))


# --- sources and their mappings -----------------------------------------------------------


class SourceIn(Schema):
    source_id: str
    owner_id: str | None = None
    name: str = ""


class SourcePatch(Schema):
    source_id: str | None = None
    name: str | None = None


class MappingIn(Schema):
    instance_id: str
    priority: int = 100


class MappingsIn(Schema):
    mappings: list[MappingIn]


class MappingOut(Schema):
    instance_id: str
    instance_name: str
    priority: int


class ConfigSourceOut(Schema):
    id: int
    source_id: str
    owner_id: str
    name: str
    mappings: list[MappingOut]


def _source_body(source: Source) -> dict:
    mappings = sorted(source.mappings.all(), key=lambda m: (m.priority, m.jackpot.name))
    return {"id": source.pk, "source_id": source.source_id, "owner_id": source.owner_id, "name": source.name,
            "mappings": [{"instance_id": str(m.jackpot_id), "instance_name": m.jackpot.name, "priority": m.priority}
                         for m in mappings]}


@router.get("/v1/config/sources", response={200: list[ConfigSourceOut], **ERRORS},
            summary="The operator's sources, with the instances each feeds")
def source_list(request):
    sources = (Source.objects.filter(operator_id=request.auth.operator_id).select_related("brand")
               .prefetch_related("mappings__jackpot"))
    return json_response([_source_body(s) for s in sources])


@router.post("/v1/config/sources", response={201: ConfigSourceOut, **ERRORS}, summary="Add a source")
def source_add(request, data: SourceIn):
    source = Source(operator_id=request.auth.operator_id, brand=_owner(request, data.owner_id),
                    source_id=data.source_id, name=data.name)
    services.source_save(source=source, actor=request.auth.user)
    return json_response(_source_body(source), status=201)


@router.get("/v1/config/sources/{source_pk}", response={200: ConfigSourceOut, **ERRORS}, summary="A source")
def source_detail(request, source_pk: int):
    return json_response(_source_body(_source(request, source_pk)))


@router.patch("/v1/config/sources/{source_pk}", response={200: ConfigSourceOut, **ERRORS}, summary="Change a source")
def source_change(request, source_pk: int, data: SourcePatch):
    source = _source(request, source_pk)
    for name, value in data.dict(exclude_unset=True).items():
        if value is not None:
            setattr(source, name, value)
    services.source_save(source=source, actor=request.auth.user)
    return json_response(_source_body(source))


@router.put("/v1/config/sources/{source_pk}/mappings", response={200: ConfigSourceOut, **ERRORS},
            summary="Set the instances a source feeds (priority 1 is tried first); replaces the list")
def source_mappings(request, source_pk: int, data: MappingsIn):
    source = _source(request, source_pk)
    mappings = [(_instance(request, m.instance_id), m.priority) for m in data.mappings]
    services.source_mappings_set(source=source, mappings=mappings, actor=request.auth.user)
    return json_response(_source_body(source))


# --- game groups and games ----------------------------------------------------------------


class GameGroupIn(Schema):
    name: str
    source: int
    owner_id: str | None = None


class GameGroupPatch(Schema):
    name: str | None = None
    source: int | None = None


class GameGroupOut(Schema):
    id: int
    name: str
    owner_id: str
    source: int
    source_id: str
    games: int


class GameIn(Schema):
    provider: str
    game_code: str
    name: str = ""


class GamesIn(Schema):
    games: list[GameIn]
    replace: bool = False


class GamesOut(Schema):
    created: int
    updated: int
    removed: int
    unchanged: int
    games: int


def _group_body(group: GameGroup, games: int | None = None) -> dict:
    return {"id": group.pk, "name": group.name, "owner_id": group.owner_id, "source": group.source_id,
            "source_id": group.source.source_id, "games": group.games.count() if games is None else games}


@router.get("/v1/config/game-groups", response={200: list[GameGroupOut], **ERRORS},
            summary="The operator's game groups")
def group_list(request):
    groups = (GameGroup.objects.filter(operator_id=request.auth.operator_id).select_related("brand", "source")
              .annotate(game_count=Count("games")))
    return json_response([_group_body(g, g.game_count) for g in groups])


@router.post("/v1/config/game-groups", response={201: GameGroupOut, **ERRORS},
             summary="Add a game group, mapped to one of the operator's sources")
def group_add(request, data: GameGroupIn):
    group = GameGroup(operator_id=request.auth.operator_id, brand=_owner(request, data.owner_id), name=data.name,
                      source=_source(request, data.source))
    services.game_group_save(group=group, actor=request.auth.user)
    return json_response(_group_body(group), status=201)


@router.patch("/v1/config/game-groups/{group_pk}", response={200: GameGroupOut, **ERRORS},
              summary="Rename a game group or map it to another source")
def group_change(request, group_pk: int, data: GameGroupPatch):
    group = _group(request, group_pk)
    if data.name is not None:
        group.name = data.name
    if data.source is not None:
        group.source = _source(request, data.source)
    services.game_group_save(group=group, actor=request.auth.user)
    return json_response(_group_body(group))


@router.get("/v1/config/game-groups/{group_pk}/games", response={200: list[GameIn], **ERRORS},
            summary="The games of a group")
def group_games(request, group_pk: int):
    group = _group(request, group_pk)
    return json_response([{"provider": g.provider, "game_code": g.game_code, "name": g.name}
                          for g in group.games.all()])


@router.post("/v1/config/game-groups/{group_pk}/games", response={200: GamesOut, **ERRORS},
             summary="Add or rename games in bulk (by provider and game code); with replace, remove the rest")
def group_games_save(request, group_pk: int, data: GamesIn):
    group = _group(request, group_pk)
    counts = services.games_save(group=group, games=[g.dict() for g in data.games], replace=data.replace,
                                 actor=request.auth.user)
    return json_response({**counts, "games": group.games.count()})


# --- templates ----------------------------------------------------------------------------


class TemplateIn(Schema):
    name: str
    owner_id: str | None = None
    description: str = ""
    definition: dict[str, Any]
    note: str = ""


class TemplatePatch(Schema):
    name: str | None = None
    description: str | None = None


class VersionIn(Schema):
    definition: dict[str, Any]
    note: str = ""


class VersionOut(Schema):
    version: int
    note: str
    created_at: datetime
    created_by: str | None
    instances: int
    definition: dict[str, Any] | None = None


class TemplateOut(Schema):
    id: int
    name: str
    owner_id: str
    description: str
    current_version: int
    definition: dict[str, Any]
    versions: list[VersionOut]


def _version_body(version, *, definition: bool) -> dict:
    instances = getattr(version, "instance_count", None)
    body = {"version": version.version, "note": version.note, "created_at": version.created_at,
            "created_by": version.created_by.username if version.created_by else None,
            "instances": version.instances.count() if instances is None else instances}
    if definition:
        body["definition"] = definition_shown(version.definition)
    return body


def _templates(request):
    versions = JackpotTemplateVersion.objects.select_related("created_by").annotate(instance_count=Count("instances"))
    return (JackpotTemplate.objects.filter(operator_id=request.auth.operator_id).select_related("brand")
            .prefetch_related(Prefetch("versions", queryset=versions)))


def _template_body(template: JackpotTemplate) -> dict:
    versions = list(template.versions.all())
    current = next(v for v in versions if v.version == template.current_version)
    return {"id": template.pk, "name": template.name, "owner_id": template.owner_id,
            "description": template.description, "current_version": template.current_version,
            "definition": definition_shown(current.definition),
            "versions": [_version_body(v, definition=False) for v in versions]}


@router.get("/v1/config/templates", response={200: list[TemplateOut], **ERRORS},
            summary="The operator's jackpot templates, each with its current definition")
def template_list(request):
    return json_response([_template_body(t) for t in _templates(request)])


@router.post("/v1/config/templates", response={201: TemplateOut, **ERRORS},
             summary="Add a template; its definition is checked as the admin checks an instance (version 1)")
def template_add(request, data: TemplateIn):
    """The definition: the instance's rule fields (`jackpot_type`, `currency`, `opt_in_required`,
    `contribution_type`, `contribution_value`, `house_share`, `allowed_countries`,
    `allowed_currencies`, `min_base_wager`, `max_base_wager`, `withhold_limit`, raffle fields)
    and the lists `pots` (`pot_id`, `tier`, `share`, `seed_share`, `initial_seed`, `cap`,
    `is_progressive`, `mechanic` and its parameters), `currency_limits` (`currency`,
    `min_value`, `max_value`, `default_value`) and `windows` (`days`, `start_time`, `end_time`).
    Omitted fields take their defaults; the answer shows every field."""
    template = JackpotTemplate(operator_id=request.auth.operator_id, brand=_owner(request, data.owner_id),
                               name=data.name, description=data.description)
    template_save(template=template, definition=data.definition, note=data.note, actor=request.auth.user)
    return json_response(_template_body(template), status=201)


@router.get("/v1/config/templates/{template_pk}", response={200: TemplateOut, **ERRORS}, summary="A template")
def template_detail(request, template_pk: int):
    return json_response(_template_body(_template(request, template_pk)))


@router.patch("/v1/config/templates/{template_pk}", response={200: TemplateOut, **ERRORS},
              summary="Rename a template or change its description")
def template_change(request, template_pk: int, data: TemplatePatch):
    template = _template(request, template_pk)
    for name, value in data.dict(exclude_unset=True).items():
        if value is not None:
            setattr(template, name, value)
    template_save(template=template, definition=None, actor=request.auth.user)
    return json_response(_template_body(template))


@router.post("/v1/config/templates/{template_pk}/versions", response={201: VersionOut, 200: VersionOut, **ERRORS},
             summary="Publish a new version of a template's definition (the same definition again: 200, no "
                     "new version); instances made earlier keep their own copy")
def template_publish(request, template_pk: int, data: VersionIn):
    template = _template(request, template_pk)
    version = template_save(template=template, definition=data.definition, note=data.note, actor=request.auth.user)
    status = 201 if version else 200
    return json_response(_version_body(version or template_version(template), definition=True), status=status)


@router.get("/v1/config/templates/{template_pk}/versions/{number}", response={200: VersionOut, **ERRORS},
            summary="One version of a template, with its definition")
def template_version_detail(request, template_pk: int, number: int):
    version = template_version(_template(request, template_pk), number)
    return json_response(_version_body(version, definition=True))


class MappingToSource(Schema):
    source: int
    priority: int = 100


class InstanceFromTemplateIn(Schema):
    version: int | None = None
    name: str = ""
    owner_id: str | None = None
    timestamp_start: datetime | None = None
    timestamp_end: datetime | None = None
    allowed_brands: list[str] = []
    sources: list[MappingToSource] = []


class TemplateRef(Schema):
    id: int
    name: str
    version: int


class ConfigPotOut(Schema):
    pot_id: str
    current_value: Decimal
    seed_fund: Decimal


class FeedOut(Schema):
    source: int
    source_id: str
    priority: int


class ConfigInstanceOut(Schema):
    id: str
    name: str
    owner_id: str
    state: str
    jackpot_type: str
    currency: str
    template: TemplateRef | None
    timestamp_start: datetime | None
    timestamp_end: datetime | None
    allowed_brands: list[str]
    sources: list[FeedOut]
    pots: list[ConfigPotOut]
    definition: dict[str, Any]


def _instance_body(instance: JackpotInstance) -> dict:
    version = instance.template_version
    return {
        "id": str(instance.pk), "name": instance.name, "owner_id": instance.owner_id, "state": instance.state,
        "jackpot_type": instance.jackpot_type, "currency": instance.currency_id,
        "template": {"id": version.template_id, "name": version.template.name, "version": version.version}
        if version else None,
        "timestamp_start": instance.timestamp_start, "timestamp_end": instance.timestamp_end,
        "allowed_brands": [b.key for b in instance.allowed_brands.all()],
        "sources": [{"source": m.source_id, "source_id": m.source.source_id, "priority": m.priority}
                    for m in sorted(instance.source_mappings.all(), key=lambda m: (m.priority, m.source_id))],
        "pots": [{"pot_id": p.pot_id, "current_value": plain(p.current_value), "seed_fund": plain(p.seed_fund)}
                 for p in instance.pots.all()],
        "definition": definition_shown(definition_of_instance(instance)),
    }


@router.post("/v1/config/templates/{template_pk}/instances", response={201: ConfigInstanceOut, **ERRORS},
             summary="Create a Pending instance from a template version (the current one by default)")
def instance_from_template(request, template_pk: int, data: InstanceFromTemplateIn):
    """The instance keeps its own copy of the version's definition: later versions change
    nothing in it. Activate it with `POST /v1/config/instances/{id}/activate`."""
    template = _template(request, template_pk)
    instance = instance_create_from_template(
        version=template_version(template, data.version), actor=request.auth.user, name=data.name,
        brand=_owner(request, data.owner_id), timestamp_start=_when(data.timestamp_start),
        timestamp_end=_when(data.timestamp_end),
        allowed_brands=[_brand_key(request, key) for key in data.allowed_brands],
        mappings=[(_source(request, m.source), m.priority) for m in data.sources])
    return json_response(_instance_body(instance), status=201)


# --- instances: read, state changes, seed boosts ------------------------------------------


INSTANCE_PREFETCH = ("allowed_brands", "source_mappings__source", "pots", "currency_limits", "windows")


class ConfigInstanceQuery(Schema):
    state: Literal["Pending", "Active", "Paused", "Terminated"] | None = None
    template: int | None = None


@router.get("/v1/config/instances", response={200: list[ConfigInstanceOut], **ERRORS},
            summary="The operator's instances (filter by state or template)")
def instance_list(request, filters: Query[ConfigInstanceQuery]):
    instances = JackpotInstance.objects.filter(operator_id=request.auth.operator_id).select_related(
        "brand", "template_version__template").prefetch_related(*INSTANCE_PREFETCH)
    if filters.state:
        instances = instances.filter(state=filters.state)
    if filters.template:
        instances = instances.filter(template_version__template_id=filters.template)
    return json_response([_instance_body(i) for i in instances])


@router.get("/v1/config/instances/{instance_id}", response={200: ConfigInstanceOut, **ERRORS},
            summary="An instance's configuration (its own copy), pots and the sources feeding it")
def instance_detail(request, instance_id: str):
    return json_response(_instance_body(_instance(request, instance_id)))


class ReasonIn(Schema):
    reason: str


STATE_OF = {"activate": JackpotInstance.State.ACTIVE, "pause": JackpotInstance.State.PAUSED,
            "resume": JackpotInstance.State.ACTIVE, "terminate": JackpotInstance.State.TERMINATED}


@router.post("/v1/config/instances/{instance_id}/{action}", response={200: ConfigInstanceOut, **ERRORS},
             summary="Activate, pause, resume or terminate (final) an instance, with a reason kept in History")
def instance_state(request, instance_id: str, action: Literal["activate", "pause", "resume", "terminate"],
                   data: ReasonIn):
    instance = services.instance_set_state(instance=_instance(request, instance_id), state=STATE_OF[action],
                                           actor=request.auth.user, reason=data.reason)
    return json_response(_instance_body(instance))


class BoostIn(Schema):
    amount: Decimal
    reason: str


class BoostOut(Schema):
    pot_id: str
    seed_fund: Decimal
    amount: Decimal
    reason: str
    by: str


@router.post("/v1/config/instances/{instance_id}/pots/{pot_id}/seed-boost", response={201: BoostOut, **ERRORS},
             summary="Add to a pot's seed fund (a seed boost), with a reason; audited as the account")
def pot_seed_boost(request, instance_id: str, pot_id: str, data: BoostIn):
    pot = Pot.objects.filter(jackpot=_instance(request, instance_id), pot_id=pot_id).first()
    if pot is None:
        raise DomainError("POT_NOT_FOUND", f"No pot {pot_id} in instance {instance_id}")
    adjustment = services.pot_boost(pot=pot, amount=data.amount, actor=request.auth.user, reason=data.reason)
    pot.refresh_from_db(fields=["seed_fund"])
    return json_response({"pot_id": pot.pot_id, "seed_fund": plain(pot.seed_fund),
                          "amount": plain(adjustment.seed_delta), "reason": adjustment.reason,
                          "by": request.auth.user.username}, status=201)


# --- currency rates -----------------------------------------------------------------------


class RatesIn(Schema):
    rates: dict[str, Decimal | None]
    brand_id: str | None = None


class RatesOut(Schema):
    brand_id: str | None
    base_currency: str
    updated: int
    removed: int
    unchanged: int
    multipliers: dict[str, Decimal]


@router.post("/v1/config/currency-rates", auth=RatesBearer(), response={200: RatesOut, **ERRORS},
             summary="Post currency multipliers from the base currency: a brand's overrides (null removes one), "
                     "or with no brand_id the system rates (their own permission)")
def currency_rates(request, data: RatesIn):
    account = request.auth.account
    if data.brand_id:
        if not account.can_configure:
            raise forbidden("This service account has no configuration permission")
        brand = _brand_key(request, data.brand_id)
    else:
        if not account.can_feed_system_rates:
            raise forbidden("This service account may not post the system currency rates (they apply to every "
                            "operator); name a brand_id for your brand's own multipliers")
        brand = None
    counts = currency_rates_set(rates=data.rates, brand=brand, actor=request.auth.user)
    return json_response({"brand_id": brand.key if brand else None, "base_currency": settings.BASE_CURRENCY,
                          **counts, "multipliers": {code: plain(rate) for code, (rate, _) in
                                                    sorted(currency_table(brand).items())}})
