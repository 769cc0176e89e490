from decimal import Decimal

from django import forms
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from import_export import fields, resources
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.widgets import ForeignKeyWidget

from portal.admin_base import AmountReasonForm, ScopedAdmin, changeable_catalogue, reason_action
from portal.scoping import filter_catalogue, scope_for
from portal.staffviews import FORMULA_STARTS, storable_params
from sources import services
from sources.models import (
    Game,
    GameGroup,
    InstanceCurrencyLimit,
    JackpotInstance,
    Pot,
    PotAdjustment,
    ScheduleWindow,
    Source,
    SourceMapping,
)


class CatalogueAdmin(ScopedAdmin):
    scope_mode = "catalogue"

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope = scope_for(request.user)
        if db_field.related_model in (Source, GameGroup, JackpotInstance):
            kwargs["queryset"] = filter_catalogue(db_field.related_model.objects.all(), scope)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class SourceMappingInline(admin.TabularInline):
    model = SourceMapping
    extra = 0
    autocomplete_fields = ["jackpot"]


@admin.register(Source)
class SourceAdmin(CatalogueAdmin):
    list_display = ["source_id", "name", "owner_id", "instance_count", "created_at"]
    list_filter = ["operator", "brand"]
    search_fields = ["source_id", "name"]
    list_select_related = ["operator", "brand"]
    inlines = [SourceMappingInline]

    @admin.display(description="instances")
    def instance_count(self, obj):
        return obj.mappings.count()


class GameInline(admin.TabularInline):
    model = Game
    extra = 1
    fields = ["provider", "game_code", "name"]


@admin.register(GameGroup)
class GameGroupAdmin(CatalogueAdmin):
    list_display = ["name", "source", "owner_id", "game_count", "created_at"]
    list_filter = ["operator"]
    search_fields = ["name", "source__source_id", "games__game_code"]
    list_select_related = ["operator", "brand", "source"]
    inlines = [GameInline]
    autocomplete_fields = ["source"]

    @admin.display(description="games")
    def game_count(self, obj):
        return obj.games.count()

    def get_search_results(self, request, queryset, search_term):
        queryset, _ = super().get_search_results(request, queryset, search_term)
        return queryset.distinct(), False


class OwnGroupWidget(ForeignKeyWidget):
    """A game group by name, looked up only among the groups the importing user may change
    (names are unique per operator, not across operators)."""

    def __init__(self):
        super().__init__(GameGroup, "name")
        self.groups = lambda row: GameGroup.objects.all()

    def get_queryset(self, value, row, *args, **kwargs):
        return self.groups(row)


def _formula_like(text: str) -> bool:
    return text.lstrip("'").startswith(FORMULA_STARTS)


def csv_cell(text: str) -> str:
    """A text cell a spreadsheet will not run as a formula: a leading single quote where it
    starts like one (`spreadsheet_text`'s rule), also past leading quotes so that
    `imported_cell` can take exactly that quote off again."""
    return "'" + text if _formula_like(text) else text


def imported_cell(text):
    """The inverse of `csv_cell`: an exported file imports back unchanged."""
    return text[1:] if isinstance(text, str) and text.startswith("'") and _formula_like(text) else text


class GameResource(resources.ModelResource):
    """CSV columns: group, provider, game_code, name, and optionally operator (the group's
    operator, for users who manage several operators using the same group name). Text
    starting like a formula is exported behind a single quote, taken off again on import."""

    group = fields.Field(attribute="group", column_name="group", widget=OwnGroupWidget())
    operator = fields.Field(attribute="group__operator_id", column_name="operator", readonly=True)

    class Meta:
        model = Game
        fields = ["group", "provider", "game_code", "name", "operator"]
        import_id_fields = ["group", "provider", "game_code"]
        skip_unchanged = True
        report_skipped = True

    def __init__(self, request=None, **kwargs):
        super().__init__(**kwargs)
        self.request = request
        self.fields["group"].widget.groups = self.groups_for

    def groups_for(self, row) -> QuerySet:
        """The groups a row may name: those the user may change, of the row's operator if given."""
        groups = GameGroup.objects.all()
        if self.request is not None:
            groups = changeable_catalogue(groups, scope_for(self.request.user))
        operator = str((row or {}).get("operator") or "").strip()
        return groups.filter(operator_id=operator) if operator else groups

    def get_queryset(self):
        queryset = super().get_queryset().select_related("group")
        if self.request is not None:
            groups = filter_catalogue(GameGroup.objects.all(), scope_for(self.request.user))
            queryset = queryset.filter(group__in=groups)
        return queryset

    def export_field(self, field, instance, **kwargs):
        value = super().export_field(field, instance, **kwargs)
        return csv_cell(value) if isinstance(value, str) else value

    def before_import_row(self, row, **kwargs):
        for column in list(row.keys()):
            row[column] = imported_cell(row[column])
        name = row.get("group")
        owners = sorted(self.groups_for(row).filter(name=name).values_list("operator_id", flat=True))
        if not owners:
            raise ValidationError(f"Unknown game group {name!r} (or not yours to change).")
        if len(owners) > 1:
            raise ValidationError(f"Game group {name!r} exists for several operators ({', '.join(owners)}): "
                                  "add an operator column naming the one meant.")


@admin.register(Game)
class GameAdmin(ImportExportMixin, CatalogueAdmin):
    scope_path = "group__"
    resource_classes = [GameResource]
    import_formats = [base_formats.CSV]
    export_formats = [base_formats.CSV]
    list_display = ["game_code", "provider", "name", "group"]
    list_filter = ["provider", "group"]
    search_fields = ["game_code", "name", "provider", "group__name"]
    list_select_related = ["group"]

    def get_resource_kwargs(self, request, **kwargs):
        return {**super().get_resource_kwargs(request, **kwargs), "request": request}

    def get_export_resource_kwargs(self, request, **kwargs):
        return {**super().get_export_resource_kwargs(request, **kwargs), "request": request}

    def get_import_resource_kwargs(self, request, **kwargs):
        return {**super().get_import_resource_kwargs(request, **kwargs), "request": request}

    def get_export_queryset(self, request):
        # The export page applies the list's filters through a ChangeList of its own.
        try:
            return super().get_export_queryset(request)
        except (ValueError, OverflowError, ValidationError) as error:
            raise IncorrectLookupParameters(error) from error

    def export_action(self, request):
        # Hostile filters on the export page as on the list: NUL dropped, bad ones refused
        # the way Django refuses them on the list (back without filters, `?e=1`).
        storable_params(request)
        try:
            return super().export_action(request)
        except IncorrectLookupParameters:
            return HttpResponseRedirect(f"{request.path}?{ERROR_FLAG}=1")


class PotFormSet(forms.BaseInlineFormSet):
    """Configuration that cannot work is refused: shares must add up to exactly 1 with the
    house share, and raffles only hold prize pots."""

    def clean(self):
        super().clean()
        if any(self.errors):
            return
        instance = self.instance
        live = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        total = sum((f.cleaned_data["share"] for f in live), Decimal(0)) + (instance.house_share or 0)
        if live and total != 1:
            raise ValidationError(
                f"Pot shares plus the house share add up to {total}, not 1. "
                "Adjust the shares so every contribution is fully accounted for."
            )
        for form in live:
            mechanic = form.cleaned_data.get("mechanic")
            if instance.jackpot_type == JackpotInstance.Type.RAFFLE and mechanic != Pot.Mechanic.PRIZE:
                raise ValidationError(f"Pot {form.cleaned_data['pot_id']}: a raffle's pots are prizes.")
            if instance.jackpot_type == JackpotInstance.Type.JACKPOT and mechanic == Pot.Mechanic.PRIZE:
                raise ValidationError(f"Pot {form.cleaned_data['pot_id']}: prize pots belong to raffles.")


class PotInline(admin.StackedInline):
    model = Pot
    formset = PotFormSet
    extra = 0
    readonly_fields = ["current_value", "seed_fund", "seed_deficit", "generation"]
    fieldsets = [
        (None, {"fields": [("pot_id", "tier"), ("share", "seed_share"), ("initial_seed", "cap", "is_progressive")]}),
        ("Mechanic", {"fields": ["mechanic", ("cost_per_attempt", "max_magic_number"),
                                 "drop_ceiling", "drop_window_hours"]}),
        ("Live values", {"fields": [("current_value", "seed_fund", "seed_deficit", "generation")]}),
    ]


class CurrencyLimitInline(admin.TabularInline):
    model = InstanceCurrencyLimit
    extra = 0


class InstanceMappingInline(admin.TabularInline):
    model = SourceMapping
    extra = 0
    autocomplete_fields = ["source"]
    verbose_name = "source feeding this instance"
    verbose_name_plural = "sources feeding this instance"


class InstanceForm(forms.ModelForm):
    """Fields come from the admin's fieldsets; the state is set at creation, then by actions."""


class ScheduleWindowInline(admin.TabularInline):
    model = ScheduleWindow
    extra = 0
    verbose_name_plural = "schedule windows (UTC): contributions only inside them; none = always open"


@admin.register(JackpotInstance)
class JackpotInstanceAdmin(CatalogueAdmin):
    form = InstanceForm
    actions = ["activate", "pause", "resume", "terminate"]
    list_display = ["name", "jackpot_type", "state", "currency", "owner_id", "opt_in_required",
                    "timestamp_start", "timestamp_end"]
    list_filter = ["state", "jackpot_type", "opt_in_required", "operator", "currency"]
    search_fields = ["name", "id"]
    list_select_related = ["operator", "brand", "currency"]
    readonly_fields = ["id", "raffle_period", "raffle_period_start", "raffle_period_end", "created_at", "updated_at"]
    filter_horizontal = ["allowed_brands"]

    def get_readonly_fields(self, request, obj=None):
        # Once created, the state changes only through the actions, each with a reason.
        return [*self.readonly_fields, "state"] if obj else self.readonly_fields

    def has_change_instance_state_permission(self, request):
        return request.user.has_perm("sources.change_instance_state")

    def _state_action(self, request, queryset, state: str, verb: str):
        return reason_action(
            self, request, queryset, title=f"{verb.capitalize()} instances", done=f"{{count}} instances {verb}d.",
            apply=lambda instance, data: services.instance_set_state(
                instance=instance, state=state, actor=request.user, reason=data["reason"]),
        )

    @admin.action(description="Activate the selected instances (with a reason)", permissions=["change_instance_state"])
    def activate(self, request, queryset):
        return self._state_action(request, queryset, JackpotInstance.State.ACTIVE, "activate")

    @admin.action(description="Pause the selected instances (with a reason)", permissions=["change_instance_state"])
    def pause(self, request, queryset):
        return self._state_action(request, queryset, JackpotInstance.State.PAUSED, "pause")

    @admin.action(description="Resume the selected instances (with a reason)", permissions=["change_instance_state"])
    def resume(self, request, queryset):
        return self._state_action(request, queryset, JackpotInstance.State.ACTIVE, "resume")

    @admin.action(description="Terminate the selected instances, for good (with a reason)",
                  permissions=["change_instance_state"])
    def terminate(self, request, queryset):
        return self._state_action(request, queryset, JackpotInstance.State.TERMINATED, "terminate")
    inlines = [PotInline, CurrencyLimitInline, InstanceMappingInline, ScheduleWindowInline]
    fieldsets = [
        (None, {"fields": ["id", "name", ("operator", "brand"), ("jackpot_type", "currency"), "state",
                           ("timestamp_start", "timestamp_end")]}),
        ("Who may contribute", {"fields": ["allowed_brands", "allowed_countries", "allowed_currencies"]}),
        ("Contribution rules", {"fields": ["opt_in_required", ("contribution_type", "contribution_value"),
                                           "house_share", ("min_base_wager", "max_base_wager"),
                                           "withhold_limit", "win_selector"]}),
        ("Raffle", {"fields": [("ticket_cost", "ticket_basis"), ("raffle_recurring", "raffle_period_seconds"),
                               ("raffle_period", "raffle_period_start", "raffle_period_end")],
                    "classes": ["collapse"]}),
        ("Record", {"fields": [("created_at", "updated_at")]}),
    ]

    def save_formset(self, request, form, formset, change):
        if formset.model is not Pot:
            return super().save_formset(request, form, formset, change)
        pots = formset.save(commit=False)
        for pot in formset.deleted_objects:
            services.pot_delete(pot=pot)
        for pot in pots:
            if pot.pk is None:
                services.pot_create(pot=pot, actor=request.user)
            else:
                pot.save()
        formset.save_m2m()


@admin.register(Pot)
class PotAdmin(CatalogueAdmin):
    scope_path = "jackpot__"
    list_display = ["pot_id", "jackpot", "mechanic", "share", "current_value", "seed_fund", "seed_deficit",
                    "generation"]
    list_filter = ["mechanic", "is_progressive"]
    search_fields = ["pot_id", "jackpot__name"]
    list_select_related = ["jackpot"]
    readonly_fields = ["jackpot", "current_value", "seed_fund", "seed_deficit", "generation"]
    actions = ["seed_boost", "adjust_value"]

    def has_add_permission(self, request):
        return False  # pots are added on their instance, so shares are checked together

    def has_adjust_pot_permission(self, request):
        return request.user.has_perm("sources.adjust_pot")

    @admin.action(description="Seed boost: add to the seed fund (with a reason)", permissions=["adjust_pot"])
    def seed_boost(self, request, queryset):
        return reason_action(
            self, request, queryset, title="Seed boost", form_class=AmountReasonForm, done="{count} pots boosted.",
            apply=lambda pot, data: services.pot_boost(pot=pot, amount=data["amount"], actor=request.user,
                                                       reason=data["reason"]))

    @admin.action(description="Adjust the value (with a reason)", permissions=["adjust_pot"])
    def adjust_value(self, request, queryset):
        return reason_action(
            self, request, queryset, title="Adjust pot value", form_class=AmountReasonForm,
            done="{count} pots adjusted.",
            apply=lambda pot, data: services.pot_adjust(pot=pot, delta=data["amount"], actor=request.user,
                                                        reason=data["reason"]))


@admin.register(PotAdjustment)
class PotAdjustmentAdmin(CatalogueAdmin):
    scope_path = "pot__jackpot__"
    list_display = ["pot", "kind", "value_delta", "seed_delta", "reason", "by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["pot__pot_id", "pot__jackpot__name", "reason"]
    list_select_related = ["pot__jackpot", "actor"]

    @admin.display(description="by", ordering="actor__username")
    def by(self, obj):
        return obj.actor or "system"  # a command's (seed_demo's initial seeds), as in History

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(SourceMapping)
class SourceMappingAdmin(CatalogueAdmin):
    scope_path = "source__"
    list_display = ["source", "jackpot", "priority"]
    search_fields = ["source__source_id", "jackpot__name"]
    list_select_related = ["source__operator", "source__brand", "jackpot"]
    autocomplete_fields = ["source", "jackpot"]
