from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import simplejson
from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from import_export import fields, resources
from import_export.admin import ImportExportMixin
from import_export.formats import base_formats
from import_export.widgets import ForeignKeyWidget

from portal import jsonutil
from portal.admin_base import AmountReasonForm, ScopedAdmin, changeable_catalogue, reason_action
from portal.errors import DomainError, validation_messages
from portal.models import Brand
from portal.scoping import filter_catalogue, scope_for
from portal.staffviews import FORMULA_STARTS, storable_params
from sources import services
from sources.jackpot_templates import (
    definition_build,
    definition_shown,
    instance_create_from_template,
    template_from_instance,
    template_save,
    template_version,
)
from sources.models import (
    POT_PARAMETERS,
    AdjustmentRequest,
    Game,
    GameGroup,
    InstanceCurrencyLimit,
    JackpotInstance,
    JackpotTemplate,
    Pot,
    PotAdjustment,
    PotChange,
    PotTransfer,
    Retirement,
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

    def save_model(self, request, obj, form, change):
        services.source_save(source=obj, actor=request.user)  # as the configuration API


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

    def save_model(self, request, obj, form, change):
        services.game_group_save(group=obj, actor=request.user)  # as the configuration API


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
    house share, and raffles only hold prize pots. On a live instance the forms say what each
    pot plays with from its next generation (`PotForm`); its pots stay the same ones and the
    shares must hold whichever pot is won first. A terminated or retiring one's no longer move."""

    def clean(self):
        super().clean()
        if any(self.errors) or (self.instance.pk and services.pots_frozen(self.instance)):
            return
        live = [f.instance for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        # The same check (and words) as templates and the configuration API.
        services.pots_check(jackpot_type=self.instance.jackpot_type, house_share=self.instance.house_share,
                            pots=live)
        try:
            services.pots_edit_check(instance=self.instance, pots=live,
                                     deleted=[f.instance for f in self.deleted_forms if f.instance.pk])
        except DomainError as error:
            raise ValidationError(error.message) from error


class PotForm(forms.ModelForm):
    """A pot on its instance's page. On a live instance its parameters (share, seed, cap,
    ceiling, odds...) are what the pot plays with from its next generation: a pending change
    shows as the values to come, and saving schedules (or withdraws) one
    (`services.pots_update`). A terminated or retiring instance's parameters are shown, fixed."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        pot = self.instance
        if "mechanic" in self.fields and pot.mechanic != Pot.Mechanic.CLOSED:  # closing is a retirement's
            self.fields["mechanic"].choices = [c for c in self.fields["mechanic"].choices
                                               if c[0] != Pot.Mechanic.CLOSED]
        if pot.pk is None:
            return
        if services.pots_frozen(pot.jackpot):
            for name in POT_PARAMETERS:
                if name in self.fields:
                    self.fields[name].disabled = True
        elif pot.pending_change_id:
            self.initial.update(pot.pending_change.values())


def pending_text(pot: Pot) -> str:
    change = pot.pending_change if pot.pending_change_id else None
    if change is None:
        return "-"
    return format_html('<a href="{}">#{}</a> {} (scheduled {} UTC by {})',
                       reverse("admin:sources_potchange_change", args=[change.pk]), change.pk, change.summary,
                       f"{change.created_at:%Y-%m-%d %H:%M}", change.requested_by or "the portal")


class PotInline(admin.StackedInline):
    model = Pot
    form = PotForm
    formset = PotFormSet
    extra = 0
    readonly_fields = ["current_value", "seed_fund", "seed_deficit", "generation", "pending"]
    fieldsets = [
        (None, {"fields": ["pending", ("pot_id", "tier"), ("share", "seed_share"),
                           ("initial_seed", "cap", "is_progressive")]}),
        ("Mechanic", {"fields": ["mechanic", ("cost_per_attempt", "max_magic_number"),
                                 "drop_ceiling", "drop_window_hours", ("drop_every", "drop_before", "drop_weekday")]}),
        ("Live values", {"fields": [("current_value", "seed_fund", "seed_deficit", "generation")]}),
    ]


    @admin.display(description="pending until the next win")
    def pending(self, obj):
        return pending_text(obj) if obj and obj.pk else "-"


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

    time_zone = forms.ChoiceField(
        choices=lambda: [(zone, zone) for zone in sorted(available_timezones())], initial="UTC", required=False,
        help_text=JackpotInstance._meta.get_field("time_zone").help_text)

    def clean_time_zone(self) -> str:
        return self.cleaned_data.get("time_zone") or "UTC"  # none chosen: the model's default


class ScheduleWindowInline(admin.TabularInline):
    model = ScheduleWindow
    extra = 0
    verbose_name_plural = ("schedule windows (local time, in the instance's time zone): contributions only inside "
                           "them; none = always open")


def rules_published(model_admin, request, instance: JackpotInstance) -> None:
    """Publish the instance's rules if the saved configuration changed them, and say so."""
    version, created = services.rules_publish(instance=instance)
    if created:
        model_admin.message_user(request, format_html(
            'The public rules of {} are now at <a href="{}">version {}</a>.', instance.name,
            reverse("rules", args=[instance.pk]), version.version), messages.INFO)


@admin.register(JackpotInstance)
class JackpotInstanceAdmin(CatalogueAdmin):
    form = InstanceForm
    actions = ["activate", "pause", "resume", "terminate", "save_as_template"]
    list_display = ["name", "jackpot_type", "state", "currency", "owner_id", "opt_in_required",
                    "timestamp_start", "timestamp_end"]
    list_filter = ["state", "jackpot_type", "opt_in_required", "operator", "currency"]
    search_fields = ["name", "id"]
    list_select_related = ["operator", "brand", "currency"]
    readonly_fields = ["id", "created_from", "raffle_period", "raffle_period_start", "raffle_period_end",
                       "created_at", "updated_at"]

    @admin.display(description="created from")
    def created_from(self, obj):
        version = obj.template_version if obj else None
        if version is None:
            return "-"
        url = reverse("admin:sources_jackpottemplate_change", args=[version.template_id])
        return format_html('template <a href="{}">{}</a>, version {} (this instance keeps its own copy)',
                           url, version.template.name, version.version)

    def has_add_template_permission(self, request):
        return request.user.has_perm("sources.add_jackpottemplate")

    @admin.action(description="Save the selected instance's configuration as a new template",
                  permissions=["add_template"])
    def save_as_template(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select one instance to make a template of.", messages.ERROR)
            return None
        instance = queryset.get()
        form = TemplateNameForm(request.POST if "apply" in request.POST else None,
                                initial={"name": f"{instance.name} template"})
        if form.is_valid():
            try:
                template = template_from_instance(instance=instance, name=form.cleaned_data["name"],
                                                  actor=request.user)
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                url = reverse("admin:sources_jackpottemplate_change", args=[template.pk])
                self.message_user(request, format_html(
                    'Saved the configuration of {} as the template <a href="{}">{}</a> (version 1).',
                    instance.name, url, template.name), messages.SUCCESS)
                return HttpResponseRedirect(url)
        return action_form(self, request, queryset, form, title="Save as a new template")
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
        funded = [i for i in queryset if services.instance_liability(i)]
        if funded:  # their money needs a disposition, one instance at a time
            self.message_user(request, format_html(
                "{} still hold money: retire each with a disposition of it (transfer, keep running until won, "
                "or pay out): {}.", ", ".join(i.name for i in funded), format_html_join(", ", '<a href="{}">{}</a>', (
                    (reverse("admin:sources_jackpotinstance_retire", args=[i.pk]), f"retire {i.name}")
                    for i in funded))), messages.WARNING)
            queryset = queryset.exclude(pk__in=[i.pk for i in funded])
            if not queryset.exists():
                return None
        return self._state_action(request, queryset, JackpotInstance.State.TERMINATED, "terminate")

    def get_urls(self):
        return [path("<path:object_id>/retire/", self.admin_site.admin_view(self.retire_view),
                     name="sources_jackpotinstance_retire"), *super().get_urls()]

    def retire_view(self, request, object_id):
        """Terminate an instance with a disposition of the money its pots hold (`instance_retire`)."""
        instance = self.get_object(request, unquote(object_id))
        if instance is None:
            raise Http404
        if not (request.user.has_perm("sources.change_instance_state") and self.may_change(request, instance)):
            raise PermissionDenied
        form = RetireForm(request.POST or None, instance=instance, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                retirement = services.instance_retire(
                    instance=instance, disposition=data["disposition"], actor=request.user, reason=data["reason"],
                    reference=data["reference"], targets=form.targets())
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                self.message_user(request, f"{instance.name}: " + (
                    retirement.get_status_display() if retirement else "terminated (its pots held nothing)") + ".",
                    messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:sources_jackpotinstance_change", args=[instance.pk]))
        return TemplateResponse(request, "admin/sources/jackpotinstance/retire.html", {
            **self.admin_site.each_context(request), "title": f"Retire {instance.name}", "instance": instance,
            "form": form, "liability": services.instance_liability(instance), "opts": self.model._meta,
            "original": instance, "current": services.open_retirement(instance),
            "pots": instance.pots.order_by("-tier", "pot_id"),
        })
    inlines = [PotInline, CurrencyLimitInline, InstanceMappingInline, ScheduleWindowInline]
    autocomplete_fields = ["linked_instance"]

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        """The page reads and writes times on the instance's wall clock: start and end are
        entered and shown in its time zone (the zone being saved, on a save)."""
        with timezone.override(self._page_zone(request, object_id)):
            response = super().changeform_view(request, object_id, form_url, extra_context)
            if hasattr(response, "render") and not response.is_rendered:  # render inside the zone
                response.render()
        return response

    def _page_zone(self, request, object_id) -> ZoneInfo:
        name = request.POST.get("time_zone") if request.method == "POST" else None
        if not name and object_id:
            instance = self.get_object(request, unquote(object_id))
            name = instance.time_zone if instance is not None else None
        try:
            return ZoneInfo(name or "UTC")
        except (ZoneInfoNotFoundError, ValueError):  # refused by the form; the page stays in UTC
            return ZoneInfo("UTC")
    fieldsets = [
        (None, {"fields": ["id", "name", ("operator", "brand"), ("jackpot_type", "currency"), "state",
                           "created_from", "time_zone", ("timestamp_start", "timestamp_end")]}),
        ("Who may contribute", {"fields": ["allowed_brands", "allowed_countries", "allowed_currencies"]}),
        ("Linked jackpots (contribution v2)", {"fields": ["linked_instance"]}),
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
        edited = [pot for pot in pots if pot.pk is not None]
        for pot in pots:
            if pot.pk is None:
                services.pot_create(pot=pot, actor=request.user)
        if edited:  # a live instance's parameters wait for each pot's next win
            for change in services.pots_update(instance=form.instance, pots=edited, actor=request.user):
                self.message_user(request, f"Pot {change.pot.pot_id}: {change.summary}, from its next generation "
                                           "(after its next win).", messages.INFO)
        formset.save_m2m()

    def save_related(self, request, form, formsets, change):
        """After the instance and its pots, limits, sources and windows are saved: publish a new
        version of its public rules if what they say changed."""
        super().save_related(request, form, formsets, change)
        rules_published(self, request, form.instance)


@admin.register(Pot)
class PotAdmin(CatalogueAdmin):
    scope_path = "jackpot__"
    list_display = ["pot_id", "jackpot", "mechanic", "share", "current_value", "seed_fund", "seed_deficit",
                    "generation"]
    list_filter = ["mechanic", "is_progressive"]
    search_fields = ["pot_id", "jackpot__name"]
    list_select_related = ["jackpot"]
    # Parameters change on the instance's page, where shares are checked together and a live
    # instance's changes are scheduled for each pot's next generation.
    readonly_fields = ["jackpot", *POT_PARAMETERS, "current_value", "seed_fund", "seed_deficit", "generation",
                       "pending"]
    actions = ["seed_boost", "adjust_value"]

    def get_list_display(self, request):
        return [*super().get_list_display(request), "pending"]

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("pending_change__requested_by")

    @admin.display(description="pending until the next win")
    def pending(self, obj):
        return pending_text(obj)

    def has_add_permission(self, request):
        return False  # pots are added on their instance, so shares are checked together

    def save_model(self, request, obj, form, change):
        services.pots_update(instance=obj.jackpot, pots=[obj], actor=request.user)
        rules_published(self, request, obj.jackpot)

    def has_adjust_pot_permission(self, request):
        return request.user.has_perm("sources.adjust_pot")

    @admin.action(description="Seed boost: add to the seed fund (with a reason)", permissions=["adjust_pot"])
    def seed_boost(self, request, queryset):
        return reason_action(
            self, request, queryset, title="Seed boost", form_class=AmountReasonForm, done="{count} pots boosted.",
            apply=lambda pot, data: services.pot_boost(pot=pot, amount=data["amount"], actor=request.user,
                                                       reason=data["reason"]))

    @admin.action(description="Adjust the value (with a reason; a decrease waits for a second person)",
                  permissions=["adjust_pot"])
    def adjust_value(self, request, queryset):
        def apply(pot, data):
            done = services.pot_adjust(pot=pot, delta=data["amount"], actor=request.user, reason=data["reason"])
            if isinstance(done, AdjustmentRequest):
                self.message_user(request, format_html(
                    '{}: the decrease of {} waits for a second person\'s approval (<a href="{}">request #{}</a>).',
                    pot, -done.value_delta, reverse("admin:sources_adjustmentrequest_change", args=[done.pk]),
                    done.pk), messages.INFO)

        return reason_action(self, request, queryset, title="Adjust pot value", form_class=AmountReasonForm,
                             done="{count} pots adjusted or sent for approval.", apply=apply)


@admin.register(PotAdjustment)
class PotAdjustmentAdmin(CatalogueAdmin):
    scope_path = "pot__jackpot__"
    list_display = ["pot", "kind", "value_delta", "seed_delta", "reason", "by", "approved_by", "created_at"]
    list_filter = ["kind"]
    search_fields = ["pot__pot_id", "pot__jackpot__name", "reason"]
    list_select_related = ["pot__jackpot", "actor", "approved_by"]

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


# --- templates ----------------------------------------------------------------------------


def pretty(definition: dict) -> str:
    """A definition as indented JSON, decimals as exact numbers."""
    return simplejson.dumps(definition_shown(definition), indent=2, use_decimal=False,
                            default=lambda value: jsonutil.Raw(format(value, "f")))


STARTER = {
    "jackpot_type": "Jackpot", "currency": "EUR", "opt_in_required": False, "contribution_type": "Percentage",
    "contribution_value": "0.01", "house_share": "0.1",
    "pots": [{"pot_id": "main", "tier": 1, "share": "0.9", "seed_share": "0.1", "initial_seed": "100",
              "mechanic": "HitRate", "cost_per_attempt": "0.1", "max_magic_number": 10000}],
    "currency_limits": [], "windows": [],
}


class DefinitionField(forms.CharField):
    """A template's definition as JSON text, read with exact decimals."""

    widget = forms.Textarea(attrs={"rows": 30, "cols": 100, "style": "font-family: monospace"})

    def to_python(self, value):
        value = super().to_python(value)
        if not value:
            return None
        try:
            return jsonutil.loads(value)
        except ValueError as error:  # JSONDecodeError, NonFiniteNumber
            raise ValidationError(f"Not valid JSON: {error}") from error

    def prepare_value(self, value):
        return pretty(value) if isinstance(value, dict) else value


class TemplateForm(forms.ModelForm):
    definition = DefinitionField(help_text=(
        "JSON: the instance's rule fields (jackpot_type, currency, opt_in_required, contribution_type, "
        "contribution_value, house_share, allowed_countries, allowed_currencies, min/max_base_wager, "
        "withhold_limit, raffle fields) and the lists pots, currency_limits and windows, with the fields of "
        "the instance page's inlines. Checked as the instance page checks them. A changed definition "
        "publishes a new version; instances made earlier keep their own copy."))
    note = forms.CharField(required=False, max_length=500, help_text="What changed (kept with the new version).")

    class Meta:
        model = JackpotTemplate
        fields = ["name", "operator", "brand", "description"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "definition" in self.fields:
            current = self.instance.versions.filter(version=self.instance.current_version).first() \
                if self.instance.pk else None
            self.fields["definition"].initial = current.definition if current else STARTER

    def clean_definition(self):
        definition = self.cleaned_data["definition"]
        try:
            definition_build(definition)
        except ValidationError as error:
            raise ValidationError(validation_messages(error)) from error  # the configuration API's words
        return definition


def action_form(modeladmin, request, queryset, form, *, title: str):
    """An action's intermediate page: the form, then Confirm (admin/reason_action.html)."""
    return TemplateResponse(request, "admin/reason_action.html", {
        **modeladmin.admin_site.each_context(request), "title": title, "objects": queryset, "form": form,
        "action": request.POST.get("action"), "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    })


class TemplateNameForm(forms.Form):
    name = forms.CharField(max_length=200)


class InstanceFromTemplateForm(forms.Form):
    name = forms.CharField(required=False, max_length=200, help_text="Empty: the template's name.")
    version = forms.IntegerField(required=False, min_value=1, help_text="Empty: the current version.")
    brand = forms.ModelChoiceField(queryset=Brand.objects.none(), required=False,
                                   help_text="The owning brand. Empty: the template's owner.")
    timestamp_start = forms.DateTimeField(required=False, help_text="UTC. Empty: activate it by hand.")
    timestamp_end = forms.DateTimeField(required=False, help_text="UTC.")
    sources = forms.ModelMultipleChoiceField(queryset=Source.objects.none(), required=False,
                                             help_text="Sources that feed the new instance.")
    priority = forms.IntegerField(initial=100, min_value=0, help_text="Priority of those mappings (1 is tried first).")

    def __init__(self, *args, template: JackpotTemplate, scope, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["brand"].queryset = scope.brands().filter(operator_id=template.operator_id)
        self.fields["sources"].queryset = changeable_catalogue(
            Source.objects.filter(operator_id=template.operator_id).select_related("brand"), scope)


@admin.register(JackpotTemplate)
class JackpotTemplateAdmin(CatalogueAdmin):
    form = TemplateForm
    actions = ["create_instance"]
    list_display = ["name", "owner_id", "current_version", "instance_count", "updated_at"]
    list_filter = ["operator", "brand"]
    search_fields = ["name", "description"]
    list_select_related = ["operator", "brand"]
    readonly_fields = ["current_version", "versions_table", "created_at", "updated_at"]
    fieldsets = [
        (None, {"fields": ["name", ("operator", "brand"), "description", "current_version"]}),
        ("Definition", {"fields": ["definition", "note"]}),
        ("Versions", {"fields": ["versions_table", ("created_at", "updated_at")]}),
    ]

    @admin.display(description="instances")
    def instance_count(self, obj):
        return JackpotInstance.objects.filter(template_version__template=obj).count()

    @admin.display(description="definition")
    def definition(self, obj):
        """What view-only users (auditors) see in place of the form field."""
        current = obj.versions.filter(version=obj.current_version).first() if obj else None
        return format_html("<pre>{}</pre>", pretty(current.definition)) if current else "-"

    @admin.display(description="note")
    def note(self, obj):
        current = obj.versions.filter(version=obj.current_version).first() if obj else None
        return current.note if current else "-"

    @admin.display(description="versions")
    def versions_table(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        rows = []
        for version in obj.versions.select_related("created_by"):
            instances = [(reverse("admin:sources_jackpotinstance_change", args=[i.pk]), i.name)
                         for i in version.instances.all()]
            rows.append((version.version, f"{version.created_at:%Y-%m-%d %H:%M:%S} UTC",
                         version.created_by or "system", version.note or "",
                         format_html_join(", ", '<a href="{}">{}</a>', instances) or "no instances"))
        return format_html("<table><tr><th>version</th><th>published</th><th>by</th><th>note</th>"
                           "<th>instances made from it</th></tr>{}</table>",
                           format_html_join("", "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                                            rows))

    def save_model(self, request, obj, form, change):
        version = template_save(template=obj, definition=form.cleaned_data.get("definition"),
                                note=form.cleaned_data.get("note", ""), actor=request.user)
        if version is not None:
            self.message_user(request, f"Version {version.version} of {obj.name} published.", messages.SUCCESS)

    def has_add_instance_permission(self, request):
        return request.user.has_perm("sources.add_jackpotinstance")

    @admin.action(description="Create an instance from the selected template", permissions=["add_instance"])
    def create_instance(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select one template to create an instance from.", messages.ERROR)
            return None
        template = queryset.get()
        form = InstanceFromTemplateForm(request.POST if "apply" in request.POST else None, template=template,
                                        scope=self.scope(request))
        if form.is_valid():
            data = form.cleaned_data
            try:
                version = template_version(template, data["version"])
                instance = instance_create_from_template(
                    version=version, actor=request.user, name=data["name"], brand=data["brand"],
                    timestamp_start=data["timestamp_start"], timestamp_end=data["timestamp_end"],
                    mappings=[(source, data["priority"]) for source in data["sources"]])
            except DomainError as error:
                form.add_error(None, error.message)
            else:
                url = reverse("admin:sources_jackpotinstance_change", args=[instance.pk])
                self.message_user(request, format_html(
                    'Created the instance <a href="{}">{}</a> ({}) from {} version {}. It is Pending: activate '
                    "it when ready (Jackpot instances, action Activate).",
                    url, instance.name, instance.pk, template.name, version.version), messages.SUCCESS)
                return HttpResponseRedirect(url)
        return action_form(self, request, queryset, form, title=f"Create an instance from {template.name}")


# --- changes to live jackpots, four-eyes decreases, retirement ------------------------------


class TargetPotField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return f"{obj.jackpot.name} / {obj.pot_id} ({obj.jackpot.currency_id}, {obj.jackpot.state})"


class RetireForm(forms.Form):
    disposition = forms.ChoiceField(choices=Retirement.Disposition.choices, widget=forms.RadioSelect)
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), min_length=3, max_length=500,
                             help_text="Kept in the History of the instance, its pots and the retirement.")
    reference = forms.CharField(required=False, max_length=200,
                                help_text="A payout: the decision's reference (board minute, regulator letter...).")

    def __init__(self, *args, instance: JackpotInstance, user, **kwargs):
        super().__init__(*args, **kwargs)
        self.funded = [pot for pot in instance.pots.order_by("-tier", "pot_id") if pot.current_value or pot.seed_fund]
        # Pots that may take the money: other open jackpots of the operator, in the user's scope.
        targets = changeable_catalogue(
            Pot.objects.filter(jackpot__operator_id=instance.operator_id).exclude(jackpot=instance)
            .exclude(jackpot__state=JackpotInstance.State.TERMINATED).exclude(mechanic=Pot.Mechanic.CLOSED)
            .exclude(jackpot__retirements__status__in=Retirement.OPEN)
            .select_related("jackpot").order_by("jackpot__name", "-tier"), scope_for(user), "jackpot__")
        for pot in self.funded:
            self.fields[f"target_{pot.pk}"] = TargetPotField(
                queryset=targets, required=False,
                label=f"Transfer: {pot.pot_id} (value {pot.current_value:f}, seed fund {pot.seed_fund:f} "
                      f"{instance.currency_id}) goes to")

    def targets(self) -> dict[int, Pot]:
        return {pot.pk: self.cleaned_data[f"target_{pot.pk}"] for pot in self.funded
                if self.cleaned_data.get(f"target_{pot.pk}")}


class ReadOnlyLedgerAdmin(CatalogueAdmin):
    """Rows written by services only; people act on them through actions."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(PotChange)
class PotChangeAdmin(ReadOnlyLedgerAdmin):
    scope_path = "pot__jackpot__"
    list_display = ["id", "pot", "jackpot", "summary", "status", "requested_by", "created_at",
                    "scheduled_generation", "applied_generation", "decided_at"]
    list_filter = ["status"]
    search_fields = ["pot__pot_id", "pot__jackpot__name", "reason"]
    list_select_related = ["pot__jackpot", "requested_by"]
    actions = ["cancel"]

    @admin.display(description="jackpot")
    def jackpot(self, obj):
        return obj.pot.jackpot

    def has_cancel_permission(self, request):
        return request.user.has_perm("sources.change_pot")

    @admin.action(description="Cancel the selected pending changes (with a reason)", permissions=["cancel"])
    def cancel(self, request, queryset):
        return reason_action(self, request, queryset, title="Cancel pending changes", done="{count} changes cancelled.",
                             apply=lambda change, data: services.pot_change_cancel(
                                 change=change, actor=request.user, reason=data["reason"]))


class ApprovalAdmin(ReadOnlyLedgerAdmin):
    """Four eyes: approve or reject what someone else asked for (the service refuses one's own)."""

    actions = ["approve", "reject"]
    approve_service = reject_service = None

    def has_approve_pot_decrease_permission(self, request):
        return request.user.has_perm("sources.approve_pot_decrease")

    def has_decide_permission(self, request):
        return request.user.has_perm("sources.approve_pot_decrease") or request.user.has_perm("sources.adjust_pot")

    @admin.action(description="Approve the selected (a second person; with a note)",
                  permissions=["approve_pot_decrease"])
    def approve(self, request, queryset):
        return reason_action(self, request, queryset, title="Approve", done="{count} approved.",
                             apply=lambda obj, data: self.approve_service(obj, actor=request.user, reason=data["reason"]))

    @admin.action(description="Reject (or withdraw your own) with a reason", permissions=["decide"])
    def reject(self, request, queryset):
        return reason_action(self, request, queryset, title="Reject", done="{count} rejected.",
                             apply=lambda obj, data: self.reject_service(obj, actor=request.user, reason=data["reason"]))


@admin.register(AdjustmentRequest)
class AdjustmentRequestAdmin(ApprovalAdmin):
    scope_path = "pot__jackpot__"
    list_display = ["id", "pot", "jackpot", "value_delta", "reason", "status", "requested_by", "created_at",
                    "decided_by", "decided_at"]
    list_filter = ["status"]
    search_fields = ["pot__pot_id", "pot__jackpot__name", "reason"]
    list_select_related = ["pot__jackpot", "requested_by", "decided_by"]

    @admin.display(description="jackpot")
    def jackpot(self, obj):
        return obj.pot.jackpot

    @staticmethod
    def approve_service(request_row, *, actor, reason):
        return services.adjustment_request_approve(request=request_row, actor=actor, reason=reason)

    @staticmethod
    def reject_service(request_row, *, actor, reason):
        return services.adjustment_request_reject(request=request_row, actor=actor, reason=reason)


@admin.register(Retirement)
class RetirementAdmin(ApprovalAdmin):
    scope_path = "jackpot__"
    list_display = ["jackpot", "disposition", "status", "liability", "reference", "reason", "requested_by",
                    "created_at", "decided_by", "completed_at"]
    list_filter = ["disposition", "status"]
    search_fields = ["jackpot__name", "reference", "reason"]
    list_select_related = ["jackpot", "requested_by", "decided_by"]

    @staticmethod
    def approve_service(retirement, *, actor, reason):
        return services.retirement_approve(retirement=retirement, actor=actor, reason=reason)

    @staticmethod
    def reject_service(retirement, *, actor, reason):
        return services.retirement_reject(retirement=retirement, actor=actor, reason=reason)


@admin.register(PotTransfer)
class PotTransferAdmin(ReadOnlyLedgerAdmin):
    scope_path = "source__jackpot__"
    list_display = ["id", "source", "from_jackpot", "target", "to_jackpot", "value_out", "seed_out", "source_currency",
                    "value_in", "seed_in", "target_currency", "actor", "created_at"]
    search_fields = ["source__jackpot__name", "target__jackpot__name", "reason"]
    list_select_related = ["source__jackpot", "target__jackpot", "actor"]

    @admin.display(description="from")
    def from_jackpot(self, obj):
        return obj.source.jackpot

    @admin.display(description="to")
    def to_jackpot(self, obj):
        return obj.target.jackpot
