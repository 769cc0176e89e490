"""What a staff user may see, applied the same way in the admin, staff pages, CSV and sockets.

* Superusers and scopes with `all_operators` see everything.
* Operators in the scope are seen whole (every brand).
* Single brands in the scope show that brand's data, plus the operator-wide catalogue
  objects that serve it (read-only for them).
* A staff user without a scope sees nothing.
"""

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from portal.models import Brand, StaffScope


@dataclass(frozen=True)
class Scope:
    everything: bool = False
    operator_ids: frozenset[str] = field(default_factory=frozenset)  # whole operators
    brand_ids: frozenset[int] = field(default_factory=frozenset)  # every visible brand
    partial_operator_ids: frozenset[str] = field(default_factory=frozenset)  # operators of single brands

    @property
    def visible_operator_ids(self) -> frozenset[str]:
        return self.operator_ids | self.partial_operator_ids

    def sees_brand(self, brand_id: int) -> bool:
        return self.everything or brand_id in self.brand_ids

    def owns_operator(self, operator_id: str) -> bool:
        """May change operator-wide configuration."""
        return self.everything or operator_id in self.operator_ids

    def brands(self) -> QuerySet:
        return Brand.objects.all() if self.everything else Brand.objects.filter(pk__in=self.brand_ids)


NOTHING = Scope()
EVERYTHING = Scope(everything=True)


def scope_for(user) -> Scope:
    if user is None or not user.is_authenticated or not user.is_active:
        return NOTHING
    if user.is_superuser:
        return EVERYTHING
    cached = getattr(user, "_portal_scope", None)
    if cached is not None:
        return cached

    staff_scope = StaffScope.objects.filter(user=user).prefetch_related("operators", "brands").first()
    if staff_scope is None:
        scope = NOTHING
    elif staff_scope.all_operators:
        scope = EVERYTHING
    else:
        operator_ids = frozenset(o.pk for o in staff_scope.operators.all())
        single = list(staff_scope.brands.all())
        brand_ids = frozenset(Brand.objects.filter(operator_id__in=operator_ids).values_list("pk", flat=True)) | {
            b.pk for b in single
        }
        scope = Scope(
            operator_ids=operator_ids,
            brand_ids=frozenset(brand_ids),
            partial_operator_ids=frozenset(b.operator_id for b in single) - operator_ids,
        )
    user._portal_scope = scope
    return scope


def operator_scope(operator_id: str) -> Scope:
    """What an operator's service account sees: that operator, whole."""
    return Scope(operator_ids=frozenset({operator_id}),
                 brand_ids=frozenset(Brand.objects.filter(operator_id=operator_id).values_list("pk", flat=True)))


def filter_by_brand(queryset: QuerySet, scope: Scope, path: str = "brand") -> QuerySet:
    """Brand-level data (players, contributions, wins, opt-ins, deliveries)."""
    if scope.everything:
        return queryset
    return queryset.filter(**{f"{path}__in": scope.brand_ids})


def filter_by_operator(queryset: QuerySet, scope: Scope, path: str = "operator") -> QuerySet:
    """Data that belongs to an operator as a whole (service accounts, webhook secrets)."""
    if scope.everything:
        return queryset
    return queryset.filter(**{f"{path}__in": scope.operator_ids})


def filter_catalogue(queryset: QuerySet, scope: Scope, prefix: str = "") -> QuerySet:
    """Owned catalogue objects (sources, game groups, instances): whole operators, the
    scope's own brands, and operator-wide objects of operators the scope has a brand of."""
    if scope.everything:
        return queryset
    return queryset.filter(
        Q(**{f"{prefix}operator__in": scope.operator_ids})
        | Q(**{f"{prefix}brand__in": scope.brand_ids})
        | Q(**{f"{prefix}brand__isnull": True, f"{prefix}operator__in": scope.partial_operator_ids})
    )
