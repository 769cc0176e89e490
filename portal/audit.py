"""One audit log across the portal's records (issue 15): every History row (django-simple-
history: each change with who, when and before/after; staff decisions such as pause, resume,
terminate, approve or reject a win, opt a player in, carry their reason) and every pot
adjustment (seed boosts, adjustments, transfers, returned wins), newest first, filtered by
who, what, when and operator/brand, within the user's scope, as a page and as CSV.

Which History a user sees follows the admin (`portal.admin_base.ScopedAdmin`): a model's
history is scoped the way its admin scopes the model, so the log shows exactly the History
pages the user could open; models with History but no scoped admin are for users who see
everything (or are listed in EXTRA_SCOPES).

One query (a UNION ALL of one SELECT per record kind) pages and counts the log; the rows of a
page (or of a CSV chunk) are then described with a few queries per kind: users, objects,
and each History row's changes against the row before it.
"""

import functools
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, time, timedelta

from django import forms
from django.apps import apps
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Case, CharField, F, OuterRef, Q, QuerySet, Subquery, Value, When
from django.db.models.functions import Cast, Coalesce
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from portal.models import Brand, Operator
from portal.scoping import Scope, filter_by_brand, filter_by_operator, filter_catalogue
from sources.models import PotAdjustment

COLUMNS = ("a_source", "a_id", "a_when", "a_user", "a_action", "a_reason", "a_object", "a_operator", "a_brand",
           "a_kind")
ACTIONS = {"+": "created", "~": "changed", "-": "deleted", "adjust": "adjusted"}
KINDS = [("decision", "Decisions (a person, with a reason)"), ("change", "Changes (a person)"),
         ("adjustment", "Pot adjustments"), ("system", "System and API")]
ADJUSTMENTS = "sources.potadjustment"
# History of models edited inline (no admin of their own): scoped like their parent.
EXTRA_SCOPES = {"sources.instancecurrencylimit": ("catalogue", "jackpot__"),
                "sources.schedulewindow": ("catalogue", "jackpot__")}


@dataclass(frozen=True)
class Kind:
    """One kind of record in the log: a model's History, or the pot adjustments."""

    key: str  # app_label.model of the recorded model
    label: str
    model: type  # the tracked model
    table: type  # the History model, or PotAdjustment itself
    scope_mode: str  # global | operator | brand | catalogue | everything
    scope_path: str

    @property
    def object_field(self) -> str:
        """The column naming the recorded object: its pk (a History row keeps it), or the pot."""
        return "pot_id" if self.key == ADJUSTMENTS else self.model._meta.pk.attname


def _kinds() -> list[Kind]:
    kinds = []
    for model in apps.get_models():
        if not hasattr(model._meta, "simple_history_manager_attribute"):
            continue
        key = model._meta.label_lower
        history = getattr(model, model._meta.simple_history_manager_attribute).model
        mode, path = EXTRA_SCOPES.get(key, ("everything", ""))
        try:
            model_admin = admin.site.get_model_admin(model)
        except admin.sites.NotRegistered:
            model_admin = None
        if model_admin is not None and hasattr(model_admin, "scope_mode"):
            mode, path = model_admin.scope_mode, model_admin.scope_path
        kinds.append(Kind(key, str(model._meta.verbose_name_plural).capitalize(), model, history, mode,
                          model._meta.pk.attname if path == "pk" else path))
    kinds.append(Kind(ADJUSTMENTS, "Pot adjustments", PotAdjustment, PotAdjustment, "catalogue", "pot__jackpot__"))
    return sorted(kinds, key=lambda k: k.label)


@functools.cache
def kinds() -> list[Kind]:
    """Every kind of record, read once the apps and the admin are loaded."""
    return _kinds()


# --- scope and owner of each kind ---------------------------------------------------------


def _scoped(kind: Kind, rows: QuerySet, scope: Scope) -> QuerySet:
    if scope.everything:
        return rows
    if kind.scope_mode == "brand":
        return filter_by_brand(rows, scope, kind.scope_path or "brand")
    if kind.scope_mode == "operator":
        return filter_by_operator(rows, scope, kind.scope_path or "operator")
    if kind.scope_mode == "catalogue":
        return filter_catalogue(rows, scope, kind.scope_path)
    if kind.scope_mode == "global" and (scope.brand_ids or scope.operator_ids):
        return rows  # shared reference data (currencies): every scoped user sees it in the admin
    return rows.none()


def _owner(kind: Kind) -> tuple:
    """(operator, brand) expressions of a kind's rows, for the log's columns."""
    path = kind.scope_path
    if kind.scope_mode == "brand":
        if path == kind.model._meta.pk.attname:  # the Brand itself
            return F("operator_id"), F(path)
        path = path or "brand"
        return F(f"{path}__operator_id"), F(f"{path}_id")
    if kind.scope_mode == "operator":
        return (F(path) if path == kind.model._meta.pk.attname else F(f"{path or 'operator'}_id")), Value(None)
    if kind.scope_mode == "catalogue":
        return F(f"{path}operator_id"), F(f"{path}brand_id")
    return Value(None), Value(None)


def filter_scope(*, operator: Operator | None, brand: Brand | None) -> Scope | None:
    """The rows of one brand (what a user scoped to it sees) or of one operator."""
    if brand is not None:
        return Scope(brand_ids=frozenset({brand.pk}), partial_operator_ids=frozenset({brand.operator_id}))
    if operator is not None:
        return Scope(operator_ids=frozenset({operator.pk}),
                     brand_ids=frozenset(operator.brands.values_list("pk", flat=True)))
    return None


# --- the log --------------------------------------------------------------------------------


@dataclass
class Filters:
    who: str = ""
    kind: str = ""
    what: str = ""
    object: str = ""
    text: str = ""
    since: datetime | None = None
    until: datetime | None = None
    operator: Operator | None = None
    brand: Brand | None = None


def _part(kind: Kind, scope: Scope, filters: Filters) -> QuerySet | None:
    rows = _scoped(kind, kind.table.objects.order_by(), scope)
    narrowed = filter_scope(operator=filters.operator, brand=filters.brand)
    if narrowed is not None:
        rows = _scoped(kind, rows, narrowed)
    adjustment = kind.key == ADJUSTMENTS
    when, user, reason = ("created_at", "actor", "reason") if adjustment else (
        "history_date", "history_user", "history_change_reason")
    if filters.since:
        rows = rows.filter(**{f"{when}__gte": filters.since})
    if filters.until:
        rows = rows.filter(**{f"{when}__lt": filters.until})
    if filters.who:
        rows = rows.filter(**({f"{user}__isnull": True} if filters.who.lower() == "system"
                              else {f"{user}__username__iexact": filters.who}))
    if filters.text:
        rows = rows.filter(**{f"{reason}__icontains": filters.text})
    if filters.object:
        target = apps.get_model("sources", "Pot") if adjustment else kind.model
        try:
            rows = rows.filter(**{kind.object_field: target._meta.pk.to_python(filters.object)})
        except ValidationError:
            rows = rows.none()  # not an id of that kind of object
    operator, brand = _owner(kind)
    text = CharField()
    if adjustment:
        kind_value = Value("adjustment", output_field=text)
        columns = {"a_id": F("id"), "a_when": F("created_at"), "a_user": F("actor_id"),
                   "a_action": Value("adjust", output_field=text), "a_reason": Cast("reason", text),
                   "a_object": Cast("pot_id", text)}
    else:
        kind_value = Case(When(history_user__isnull=True, then=Value("system")),
                          When(~Q(history_change_reason="") & Q(history_change_reason__isnull=False),
                               then=Value("decision")), default=Value("change"), output_field=text)
        columns = {"a_id": F("history_id"), "a_when": F("history_date"), "a_user": F("history_user_id"),
                   "a_action": Cast("history_type", text), "a_reason": Coalesce("history_change_reason", Value(""), output_field=text),
                   "a_object": Cast(kind.object_field, text)}
    rows = rows.annotate(
        a_source=Value(kind.key, output_field=text), **columns,
        a_operator=Cast(operator, text), a_brand=Cast(brand, text), a_kind=kind_value)
    if filters.kind:
        rows = rows.filter(a_kind=filters.kind)
    return rows.values(*COLUMNS)


def audit_entries(scope: Scope, filters: Filters) -> QuerySet:
    """The log's rows (dicts of COLUMNS), newest first: one UNION ALL query."""
    parts = [_part(kind, scope, filters) for kind in kinds() if not filters.what or kind.key == filters.what]
    if not parts:
        parts = [_part(kinds()[0], scope, filters).none()]
    first, *others = parts
    combined = first.union(*others, all=True) if others else first
    return combined.order_by("-a_when", "-a_id")


# --- describing rows ------------------------------------------------------------------------


@dataclass
class Entry:
    when: datetime
    kind: str
    who: str
    action: str
    type_label: str
    object_id: str
    object_label: str
    operator: str
    brand: str
    reason: str
    changes: list[str] = field(default_factory=list)
    url: str = ""


def _shown(value) -> str:
    text = "—" if value in (None, "") else str(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _changes(kind: Kind, ids: list[int]) -> dict[int, list[str]]:
    """Each History row's changes against the row before it (one query for the rows, one for
    their predecessors)."""
    table = kind.table
    pk = kind.object_field
    previous = table.objects.filter(**{pk: OuterRef(pk)}, history_date__lt=OuterRef("history_date")).order_by(
        "-history_date", "-history_id").values("history_id")[:1]
    rows = {r.history_id: r for r in table.objects.filter(history_id__in=ids).annotate(
        previous_id=Subquery(previous))}
    before = table.objects.in_bulk([r.previous_id for r in rows.values() if r.previous_id])
    # The row's own fields (many-to-many History would cost a query per row).
    fields = [f.name for f in table._meta.concrete_fields if f.editable and not f.name.startswith("history_")
              and f.name != pk and f.attname != pk]
    described = {}
    for pk, row in rows.items():
        if row.history_type == "+":
            described[pk] = ["created"]
        elif row.history_type == "-":
            described[pk] = ["deleted"]
        elif row.previous_id in before:
            delta = row.diff_against(before[row.previous_id], included_fields=fields)
            described[pk] = [f"{c.field}: {_shown(c.old)} → {_shown(c.new)}" for c in delta.changes] or [
                "no field changed"]
        else:
            described[pk] = []
    return described


def _adjustments(ids: list[int]) -> dict[int, list[str]]:
    related = ["pot__jackpot"] + [f for f in ("approved_by",) if hasattr(PotAdjustment, f)]
    described = {}
    for row in PotAdjustment.objects.filter(pk__in=ids).select_related(*related):
        currency = row.pot.jackpot.currency_id
        lines = [f"{row.get_kind_display()}: value {row.value_delta:+f}, seed fund {row.seed_delta:+f} {currency}"]
        approver = getattr(row, "approved_by", None)
        if approver is not None:
            lines.append(f"approved by {approver.get_username()}")
        described[row.pk] = lines
    return described


def _url(kind: Kind, object_id: str) -> str:
    meta = kind.model._meta
    target = (f"admin:{meta.app_label}_{meta.model_name}_history", [object_id])
    if kind.key == ADJUSTMENTS:
        target = ("admin:sources_pot_change", [object_id])
    try:
        return reverse(target[0], args=target[1])
    except NoReverseMatch:
        return ""


def _object_id(kind: Kind, raw: str) -> str:
    """The object's id as its pk prints (a uuid has its dashes whatever the database stored)."""
    target = apps.get_model("sources", "Pot") if kind.key == ADJUSTMENTS else kind.model
    try:
        return str(target._meta.pk.to_python(raw))
    except ValidationError:
        return raw


def describe(rows: list[dict]) -> list[Entry]:
    """Rows of `audit_entries` as people read them: names, objects, what changed."""
    by_kind = {k.key: k for k in kinds()}
    users = {u.pk: u.get_username() for u in get_user_model().objects.filter(
        pk__in={r["a_user"] for r in rows if r["a_user"]})}
    grouped: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        grouped[row["a_source"]].append(row)
    labels: dict[tuple[str, str], str] = {}
    details: dict[tuple[str, int], list[str]] = {}
    for key, members in grouped.items():
        kind = by_kind[key]
        target = kind.model if key != ADJUSTMENTS else apps.get_model("sources", "Pot")
        wanted = {_object_id(kind, r["a_object"]) for r in members}
        found = target._default_manager.select_related().in_bulk(list(wanted))
        for pk, obj in found.items():
            labels[(key, str(pk))] = str(obj)
        ids = [r["a_id"] for r in members]
        for pk, lines in (_adjustments(ids) if key == ADJUSTMENTS else _changes(kind, ids)).items():
            details[(key, pk)] = lines
    brands = {str(b.pk): b.key for b in Brand.objects.filter(pk__in={int(r["a_brand"]) for r in rows
                                                                    if r["a_brand"]})}
    entries = []
    for row in rows:
        kind = by_kind[row["a_source"]]
        row["a_object"] = _object_id(kind, row["a_object"])
        entries.append(Entry(
            when=row["a_when"], kind=row["a_kind"], who=users.get(row["a_user"], "system"),
            action=ACTIONS.get(row["a_action"], row["a_action"]), type_label=kind.label, object_id=row["a_object"],
            object_label=labels.get((kind.key, row["a_object"]), f"#{row['a_object']} (deleted)"),
            operator=row["a_operator"] or "", brand=brands.get(row["a_brand"] or "", ""),
            reason=row["a_reason"] or "", changes=details.get((kind.key, row["a_id"]), []),
            url=_url(kind, row["a_object"])))
    return entries


# --- the filters form -------------------------------------------------------------------------


class AuditFilter(forms.Form):
    who = forms.CharField(required=False, label="Who", help_text='A username, or "system"')
    kind = forms.ChoiceField(required=False, choices=[("", "Any kind"), *KINDS])
    what = forms.ChoiceField(required=False, label="What")
    object = forms.CharField(required=False, label="Object id", max_length=64)
    text = forms.CharField(required=False, label="Reason contains", max_length=200)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    operator = forms.ModelChoiceField(queryset=Operator.objects.none(), required=False, empty_label="All operators")
    brand = forms.ModelChoiceField(queryset=Brand.objects.none(), required=False, empty_label="All brands")

    def __init__(self, *args, scope: Scope, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["what"].choices = [("", "Anything"), *((k.key, k.label) for k in kinds())]
        operators = Operator.objects.all() if scope.everything else Operator.objects.filter(pk__in=scope.operator_ids)
        self.fields["operator"].queryset = operators.order_by("pk")
        self.fields["brand"].queryset = scope.brands().select_related("operator").order_by("operator_id", "code")

    def filters(self) -> Filters:
        if not self.is_valid():
            return Filters()
        data = self.cleaned_data
        return Filters(
            who=data["who"].strip(), kind=data["kind"], what=data["what"], object=data["object"].strip(),
            text=data["text"].strip(),
            since=timezone.make_aware(datetime.combine(data["date_from"], time.min)) if data["date_from"] else None,
            until=timezone.make_aware(datetime.combine(data["date_to"] + timedelta(days=1), time.min))
            if data["date_to"] else None,
            operator=data["operator"], brand=data["brand"])
