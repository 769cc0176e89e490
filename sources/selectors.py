"""Catalogue reads worth a name: routing a contribution to an instance, instance snapshots."""

import uuid
from dataclasses import dataclass
from datetime import datetime

from django.db.models import Prefetch, Q

from portal import clock
from portal.cache import catalogue_seconds, ttl_cached
from portal.clock import epoch_ms
from portal.errors import DomainError
from portal.models import Brand
from portal.money import convert, plain, to_currency
from portal.scoping import Scope, filter_catalogue
from sources.mechanics import REGISTRY
from sources.models import (
    DropCommitment,
    Game,
    JackpotInstance,
    Pot,
    Retirement,
    RulesVersion,
    Source,
    SourceMapping,
)


@dataclass
class Route:
    instance: JackpotInstance
    source: Source | None


def visible_instances(scope: Scope):
    """The instances a staff user's scope shows (staff pages, reports)."""
    return filter_catalogue(JackpotInstance.objects.all(), scope)


def instance_state_changes(instance: JackpotInstance, limit: int = 30) -> list[dict]:
    """History rows where the state changed, newest first, with who and why."""
    rows = list(instance.history.select_related("history_user").order_by("history_date")
                .values("state", "history_date", "history_user__username", "history_change_reason"))
    changes, previous = [], None
    for row in rows:
        if row["state"] != previous:
            changes.append({"state": row["state"], "at": row["history_date"],
                            "user": row["history_user__username"] or "system",
                            "reason": row["history_change_reason"] or ("created" if previous is None else "")})
        previous = row["state"]
    return list(reversed(changes))[:limit]


def instance_queryset():
    return JackpotInstance.objects.select_related("currency", "operator", "brand").prefetch_related(
        "allowed_brands", "windows", Prefetch("pots", queryset=Pot.objects.order_by("tier", "pot_id"))
    )


def in_schedule(instance: JackpotInstance, now: datetime) -> bool:
    """Inside the start/end timestamps (instants: entered on the instance's wall clock, stored
    in UTC, so daylight-saving changes are already in them)."""
    if instance.timestamp_start and now < instance.timestamp_start:
        return False
    return not (instance.timestamp_end and now >= instance.timestamp_end)


def in_window(instance: JackpotInstance, now: datetime) -> bool:
    """Inside one of its daily/weekly windows, read on the instance's wall clock (an instance
    without windows is always open)."""
    windows = instance.windows.all()
    return not windows or any(w.contains(now, instance.zone) for w in windows)


def brand_allowed(instance: JackpotInstance, brand: Brand) -> bool:
    """Same operator, and listed in allowed_brands. An empty list means every brand of the
    owner (SPEC 1, "empty = all"): all of the operator's for an operator-wide instance, the
    owning brand alone for a brand-owned one."""
    if instance.operator_id != brand.operator_id:
        return False
    allowed = instance.allowed_brands.all()
    if allowed:
        return any(b.pk == brand.pk for b in allowed)
    return instance.brand_id is None or instance.brand_id == brand.pk


def country_allowed(instance: JackpotInstance, country: str) -> bool:
    countries = instance.country_set
    return not countries or country in countries


def source_find(*, brand: Brand, source_id: str) -> Source | None:
    """The source owned by the brand, else by its operator; else the source of a game group
    holding a game with this code (brand-owned groups first)."""
    sources = list(
        Source.objects.filter(operator_id=brand.operator_id, source_id=source_id)
        .filter(Q(brand=brand) | Q(brand__isnull=True))
        .order_by("brand_id")  # NULLs last on PostgreSQL and first on SQLite: sorted below
    )
    if sources:
        sources.sort(key=lambda s: s.brand_id is None)
        return sources[0]
    game = (
        Game.objects.select_related("group__source")
        .filter(game_code=source_id, group__operator_id=brand.operator_id)
        .filter(Q(group__brand=brand) | Q(group__brand__isnull=True))
        .order_by("group__brand_id", "id")
    )
    games = sorted(game, key=lambda g: (g.group.brand_id is None, g.pk))
    return games[0].group.source if games else None


def with_config(queryset):
    """Instances with everything the contribution path reads about them."""
    return queryset.select_related("currency", "operator", "brand").prefetch_related(
        "allowed_brands", "windows", "currency_limits", Prefetch("pots", queryset=Pot.objects.order_by("pk")))


@ttl_cached(catalogue_seconds)
def _source_candidates(operator_id: str, brand_id: int, source_id: str) -> tuple[Source | None, list]:
    """The source a brand reaches with `source_id`, and its instances by priority (configuration only)."""
    source = source_find(brand=Brand(pk=brand_id, operator_id=operator_id), source_id=source_id)
    if source is None:
        return None, []
    ids = list(SourceMapping.objects.filter(source=source).order_by("priority", "id").values_list("jackpot_id",
                                                                                                  flat=True))
    instances = {i.pk: i for i in with_config(JackpotInstance.objects.filter(pk__in=ids))}
    return source, [instances[pk] for pk in ids]


@ttl_cached(catalogue_seconds)
def _instance_config(pk: uuid.UUID) -> JackpotInstance | None:
    return with_config(JackpotInstance.objects.filter(pk=pk)).first()


def route_by_source(*, brand: Brand, source_id: str, country: str, now: datetime | None = None) -> Route:
    """SPEC 2.3, by source."""
    now = now or clock.now()
    source, instances = _source_candidates(brand.operator_id, brand.pk, source_id)
    if source is None:
        raise DomainError("GAME_NOT_FOUND", source_id)
    # Outside its schedule or its happy-hour window an instance is no candidate, so a
    # source can fall through to the next priority (e.g. a happy-hour jackpot first).
    candidates = [i for i in instances if i.state == JackpotInstance.State.ACTIVE and in_schedule(i, now)
                  and in_window(i, now)]
    if not candidates:
        raise DomainError("SOURCE_JACKPOT_NOT_FOUND", f"No active jackpot for source {source_id}")
    allowed = [i for i in candidates if brand_allowed(i, brand) and country_allowed(i, country)]
    if not allowed:
        raise DomainError(
            "SOURCE_JACKPOTS_NOT_ALLOWED",
            f"The jackpots of source {source_id} do not accept brand {brand.key} in country {country}",
        )
    return Route(instance=allowed[0], source=source)


def route_by_instance(*, brand: Brand, instance_id: str) -> Route:
    """SPEC 2.3, by instance. State and country are rules, checked by the engine."""
    try:
        pk = uuid.UUID(instance_id)
    except ValueError as exc:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id) from exc
    instance = _instance_config(pk)
    if instance is None or instance.operator_id != brand.operator_id:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id)
    if not brand_allowed(instance, brand):
        raise DomainError("UNSUPPORTED_BRAND", f"Instance {instance_id} does not accept brand {brand.key}")
    return Route(instance=instance, source=None)


def instance_for_source(*, brand: Brand, source_id: str, country: str | None) -> JackpotInstance:
    """The best instance a player of `brand` in `country` would contribute to through `source_id`."""
    source = source_find(brand=brand, source_id=source_id)
    if source is None:
        raise DomainError("GAME_NOT_FOUND", source_id)
    now = clock.now()
    mappings = (
        SourceMapping.objects.filter(source=source, jackpot__state=JackpotInstance.State.ACTIVE)
        .order_by("priority", "id")
    )
    ids = [m.jackpot_id for m in mappings]
    instances = {i.pk: i for i in instance_queryset().filter(pk__in=ids)}
    for instance_id in ids:
        instance = instances[instance_id]
        if not in_schedule(instance, now) or not in_window(instance, now) or not brand_allowed(instance, brand):
            continue
        if country and not country_allowed(instance, country):
            continue
        return instance
    raise DomainError("SOURCE_JACKPOT_NOT_FOUND", f"No active jackpot for source {source_id}")


@ttl_cached(catalogue_seconds)
def linked_instances(instance_id: uuid.UUID) -> list[uuid.UUID]:
    """The instances linked to this one (contribution v2 feeds them with it): direct links only,
    oldest first, so a repeated request lists its parts in the same order."""
    return list(JackpotInstance.objects.filter(linked_instance_id=instance_id).order_by("created_at", "pk")
                .values_list("pk", flat=True))


def instance_sources(instance: JackpotInstance) -> list[str]:
    return list(
        SourceMapping.objects.filter(jackpot=instance).order_by("priority").values_list("source__source_id", flat=True)
    )


def current_commitments(pots) -> dict[int, str]:
    """{pot pk: published commitment} of the must-drop pots' current generations."""
    pots = [p for p in pots if p.mechanic in REGISTRY and REGISTRY[p.mechanic].commits]
    if not pots:
        return {}
    wanted = {(p.pk, p.generation) for p in pots}
    rows = DropCommitment.objects.filter(pot__in=pots).values_list("pot_id", "generation", "commitment")
    return {pot_id: digest for pot_id, generation, digest in rows if (pot_id, generation) in wanted}


def pot_ticker(pot: Pot, commitments: dict[int, str]) -> dict:
    ticker = {"id": pot.pot_id, "is_progressive": pot.is_progressive, "current_value": plain(pot.current_value)}
    if pot.pk in commitments:
        ticker["drop_commitment"] = commitments[pot.pk]  # the hash only: the drop stays hidden
    return ticker


def instance_snapshot(instance: JackpotInstance, *, sources: list[str] | None = None,
                      commitments: dict[int, str] | None = None) -> dict:
    """What the world may know of an instance: the JackpotUpdate data (SPEC 3). Never a
    hidden drop value or time, never player data."""
    pots = list(instance.pots.all())
    if commitments is None:
        commitments = current_commitments(pots)
    allowed = instance.allowed_brands.all()
    return {
        "id": str(instance.pk),
        "name": instance.name,
        "status": instance.state,
        "jackpot_type": instance.jackpot_type,
        "currency": instance.currency_id,
        "allowed_brands": sorted(b.key for b in allowed),
        "allowed_sources": sources if sources is not None else instance_sources(instance),
        "pots": [pot_ticker(pot, commitments) for pot in pots],
        "timestamp_start": epoch_ms(instance.timestamp_start),
        "timestamp_end": epoch_ms(instance.timestamp_end),
        "last_updated": epoch_ms(max([instance.updated_at, *(p.updated_at for p in pots)])),
    }


def instance_brand_codes(instance: JackpotInstance, operator_brands: dict[str, list[tuple[int, str]]] | None = None
                         ) -> list[str]:
    """Bare codes of the brands an instance serves (see `brand_allowed`)."""
    allowed = instance.allowed_brands.all()
    if allowed:
        return sorted(b.code for b in allowed)
    if instance.brand_id is not None:
        return [instance.brand.code]
    if operator_brands is None:
        return sorted(Brand.objects.filter(operator_id=instance.operator_id, enabled=True)
                      .values_list("code", flat=True))
    return sorted(code for _, code in operator_brands.get(instance.operator_id, []))


def jackpot_update_audiences(instance_ids: list[str]) -> list[tuple[str, list[str], dict]]:
    """(operator, brand codes, snapshot) for each instance: what a JackpotUpdate needs."""
    instances = list(instance_queryset().filter(pk__in=instance_ids))
    operator_ids = {i.operator_id for i in instances}
    operator_brands: dict[str, list[tuple[int, str]]] = {}
    for pk, operator_id, code in Brand.objects.filter(operator_id__in=operator_ids, enabled=True).values_list(
            "pk", "operator_id", "code"):
        operator_brands.setdefault(operator_id, []).append((pk, code))
    sources: dict = {}
    for instance_id, source_id in SourceMapping.objects.filter(jackpot_id__in=[i.pk for i in instances]).order_by(
            "priority").values_list("jackpot_id", "source__source_id"):
        sources.setdefault(instance_id, []).append(source_id)
    commitments = current_commitments([p for i in instances for p in i.pots.all()])
    return [
        (i.operator_id, instance_brand_codes(i, operator_brands),
         instance_snapshot(i, sources=sources.get(i.pk, []), commitments=commitments))
        for i in instances
    ]


def live_instances(*, operator_ids: list[str] | None = None, brand=None) -> list[JackpotInstance]:
    """Active instances a socket may see: all of some operators, or those serving one brand."""
    queryset = instance_queryset().filter(state=JackpotInstance.State.ACTIVE)
    if brand is not None:
        queryset = queryset.filter(operator_id=brand.operator_id)
        return [i for i in queryset if brand_allowed(i, brand)]
    if operator_ids is not None:
        queryset = queryset.filter(operator_id__in=operator_ids)
    return list(queryset)


def fixed_contribution_value(instance: JackpotInstance, currency: str, *, rates: dict, preferred=None,
                             preferred_currency: str | None = None):
    """A Fixed contribution in `currency` (SPEC 2.4.2): the player's chosen value, else the
    instance's value for that currency, else its base value converted -- rounded to the
    currency's minor unit. `rates` maps codes to (multiplier, exponent)."""
    multiplier, exponent = rates[currency]
    if preferred is not None:
        amount = convert(preferred, rates[preferred_currency or currency][0], multiplier)
    else:
        limit = next((lim for lim in instance.currency_limits.all() if lim.currency_id == currency), None)
        if limit is not None and limit.default_value is not None:
            amount = limit.default_value
        else:
            amount = convert(instance.contribution_value, rates[instance.currency_id][0], multiplier)
    return to_currency(amount, exponent)


# --- public reads (SPEC 2.9) ----------------------------------------------------------------


def public_instance(instance_id: str, queryset=None) -> JackpotInstance:
    """An instance anyone may read: announced (not Pending) and of an enabled operator. A
    Pending one is unknown to the public, as is a malformed id (404 INSTANCE_NOT_FOUND)."""
    try:
        pk = uuid.UUID(instance_id)
    except ValueError as exc:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id) from exc
    instance = ((queryset if queryset is not None else instance_queryset())
                .filter(pk=pk, operator__enabled=True).exclude(state=JackpotInstance.State.PENDING).first())
    if instance is None:
        raise DomainError("INSTANCE_NOT_FOUND", instance_id)
    return instance


@ttl_cached(catalogue_seconds)
def _operator_of_instance(pk: uuid.UUID) -> str:
    return JackpotInstance.objects.filter(pk=pk).values_list("operator_id", flat=True).first() or ""


def instance_operator(request, *, instance_id: str = "", **path) -> list[str]:
    """The operator whose allowed origins a read of `instance_id` answers (CORS)."""
    try:
        pk = uuid.UUID(instance_id)
    except ValueError:
        return []
    operator_id = _operator_of_instance(pk)
    return [operator_id] if operator_id else []


def instance_snapshots(instances: list[JackpotInstance]) -> list[dict]:
    """Snapshots of several instances in a fixed number of queries (sources and drop
    commitments read once for all)."""
    sources: dict = {}
    for instance_id, source_id in SourceMapping.objects.filter(jackpot_id__in=[i.pk for i in instances]).order_by(
            "priority").values_list("jackpot_id", "source__source_id"):
        sources.setdefault(instance_id, []).append(source_id)
    commitments = current_commitments([p for i in instances for p in i.pots.all()])
    return [instance_snapshot(i, sources=sources.get(i.pk, []), commitments=commitments) for i in instances]


def brand_live_instances(*, brand: Brand, country: str | None = None) -> list[JackpotInstance]:
    """The Active instances serving a brand (and a country, when given), by name: a lobby's list."""
    instances = live_instances(brand=brand)
    if country:
        instances = [i for i in instances if country_allowed(i, country)]
    return sorted(instances, key=lambda i: (i.name, str(i.pk)))


def rules_queryset():
    """Instances with everything their rules document reads (sources/rules.py)."""
    return JackpotInstance.objects.select_related("currency", "operator", "brand", "linked_instance").prefetch_related(
        "allowed_brands", "windows", "currency_limits",
        Prefetch("pots", queryset=Pot.objects.select_related("pending_change").order_by("tier", "pot_id")))


def rules_versions(instance: JackpotInstance) -> list:
    """(version, published_at) of every published version, newest first."""
    return list(RulesVersion.objects.filter(jackpot=instance).order_by("-version").values_list("version",
                                                                                                 "published_at"))


def rules_version(instance: JackpotInstance, version: int) -> RulesVersion:
    found = RulesVersion.objects.filter(jackpot=instance, version=version).first()
    if found is None:
        raise DomainError("RULES_VERSION_NOT_FOUND", f"Instance {instance.pk} has no rules version {version}")
    return found


def instance_retiring(instance: JackpotInstance) -> bool:
    """Kept running until its pots are won (a retirement): it takes contributions, not new opt-ins."""
    return Retirement.objects.filter(jackpot=instance, disposition=Retirement.Disposition.RUN_UNTIL_WON,
                                     status=Retirement.Status.RUNNING).exists()
