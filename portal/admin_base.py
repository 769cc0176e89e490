"""The admin base every model admin uses: scoped querysets, scoped choices, history."""

import functools

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import unquote
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q, QuerySet
from django.http import Http404
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from portal.errors import DomainError
from portal.models import Brand, Operator
from portal.scoping import Scope, filter_by_brand, filter_by_operator, filter_catalogue, scope_for
from portal.staffviews import storable_params


def changeable_catalogue(queryset: QuerySet, scope: Scope, prefix: str = "") -> QuerySet:
    """The owned catalogue objects a scope may change: those of its whole operators and of its
    own brands. `filter_catalogue` also shows brand-scoped staff the operator-wide objects of
    their operator; those they may only view (as `ScopedAdmin.may_change` says per object)."""
    if scope.everything:
        return queryset
    return queryset.filter(Q(**{f"{prefix}operator__in": scope.operator_ids})
                           | Q(**{f"{prefix}brand__in": scope.brand_ids}))


def _in_scope(action):
    """Wrap an admin action so it only ever sees the selected objects the user may change."""

    @functools.wraps(action)
    def scoped(modeladmin, request, queryset):
        allowed = modeladmin.changeable(request, queryset)
        refused = queryset.count() - allowed.count()
        if refused:
            modeladmin.message_user(
                request, f"{refused} of the selected {modeladmin.model._meta.verbose_name_plural} are outside "
                         "your scope (you may only view them): left unchanged.", messages.ERROR)
        if not allowed.exists():
            return None
        return action(modeladmin, request, allowed)

    return scoped


class HostileInputAdmin:
    """A ModelAdmin mixin: hostile query parameters give the list back, never a 500.

    Django refuses unknown filters itself (a redirect to `?e=1`) but lets through the errors
    that only show when the query runs: a year past 9999 or below 1 (OverflowError,
    ValueError), a day or month of 99999999999 on a date hierarchy, a malformed uuid or
    number. And PostgreSQL can neither store nor compare text holding a NUL."""

    def changelist_view(self, request, extra_context=None):
        storable_params(request)  # a NUL filter shows the list as if it had not been given
        return super().changelist_view(request, extra_context)

    def get_changelist_instance(self, request):
        # The ChangeList counts its rows when built, so a bad value fails here, not later.
        try:
            return super().get_changelist_instance(request)
        except (ValueError, OverflowError, ValidationError) as error:
            raise IncorrectLookupParameters(error) from error

    def get_search_results(self, request, queryset, search_term):
        # The list's search form refuses a NUL, the autocomplete view does not.
        return super().get_search_results(request, queryset, search_term.replace("\x00", ""))

    def get_object(self, request, object_id, from_field=None):
        if "\x00" in str(object_id):
            return None  # no such object: the change, history and delete pages say so
        return super().get_object(request, object_id, from_field)


class ScopedAdmin(HostileInputAdmin, SimpleHistoryAdmin):
    """A SimpleHistoryAdmin whose lists, forms, history and permissions follow the user's scope.

    scope_mode:
      "global"    -- shared reference data (currencies): everyone with the permission;
      "operator"  -- rows of one operator (`scope_path` to the operator);
      "brand"     -- rows of one brand (`scope_path` to the brand);
      "catalogue" -- owned catalogue rows (`scope_path` is a prefix to an OwnedModel).
    """

    scope_mode = "global"
    scope_path = ""
    list_per_page = 50
    show_full_result_count = False

    def scope(self, request) -> Scope:
        return scope_for(request.user)

    def get_queryset(self, request):
        queryset = super().get_queryset(request)
        scope = self.scope(request)
        if self.scope_mode == "operator":
            return filter_by_operator(queryset, scope, self.scope_path or "operator")
        if self.scope_mode == "brand":
            return filter_by_brand(queryset, scope, self.scope_path or "brand")
        if self.scope_mode == "catalogue":
            return filter_catalogue(queryset, scope, self.scope_path)
        return queryset

    def get_list_filter(self, request):
        """Filters on relations offer only what the user's scoped list contains: a brand filter
        must not name brands the user may not see."""
        filters = []
        for item in super().get_list_filter(request):
            if isinstance(item, str) and "__" not in item:
                field = self.model._meta.get_field(item)
                if field.is_relation:
                    item = (item, admin.RelatedOnlyFieldListFilter)
            filters.append(item)
        return filters

    def owner_of(self, obj):
        """The OwnedModel (or the object itself) that decides who may change `obj`."""
        target = obj
        for part in filter(None, self.scope_path.rstrip("_").split("__")) if self.scope_mode == "catalogue" else ():
            target = getattr(target, part)
        return target

    def may_change(self, request, obj) -> bool:
        scope = self.scope(request)
        if scope.everything:
            return True
        if self.scope_mode == "operator":
            operator_id = obj
            for part in (self.scope_path or "operator").split("__"):
                operator_id = getattr(operator_id, part)
            return scope.owns_operator(getattr(operator_id, "pk", operator_id))
        if self.scope_mode == "brand":
            brand = obj
            for part in (self.scope_path or "brand").split("__"):
                brand = getattr(brand, part)
            return scope.sees_brand(getattr(brand, "pk", brand))
        if self.scope_mode == "catalogue":
            owner = self.owner_of(obj)
            return scope.owns_operator(owner.operator_id) or bool(owner.brand_id and scope.sees_brand(owner.brand_id))
        return True

    def changeable(self, request, queryset: QuerySet) -> QuerySet:
        """The part of a list (already scoped by `get_queryset`) the user may change."""
        if self.scope_mode == "catalogue":
            return changeable_catalogue(queryset, self.scope(request), self.scope_path)
        return queryset  # operator and brand lists hold only rows the user may change

    def get_actions(self, request):
        # Actions (pause, adjust, approve, delete, ...) act only on objects the user may
        # change, exactly as the change form; the rest are refused with a message.
        return {name: (_in_scope(func), name, description)
                for name, (func, name, description) in super().get_actions(request).items()}

    def has_change_permission(self, request, obj=None):
        allowed = super().has_change_permission(request, obj)
        return allowed and (obj is None or self.may_change(request, obj))

    def has_delete_permission(self, request, obj=None):
        allowed = super().has_delete_permission(request, obj)
        return allowed and (obj is None or self.may_change(request, obj))

    def history_view(self, request, object_id, extra_context=None):
        if not hasattr(self.model._meta, "simple_history_manager_attribute"):
            # Append-only ledgers have no field history: Django's own log of admin actions.
            return admin.ModelAdmin.history_view(self, request, object_id, extra_context)
        # simple-history falls back to the last historical row for objects outside the
        # queryset; a scoped user must not read another operator's history that way.
        if self.get_object(request, unquote(object_id)) is None:
            raise Http404
        return super().history_view(request, object_id, extra_context)

    def set_history_delta_changes(self, request, historical_records, *args, **kwargs):
        super().set_history_delta_changes(request, historical_records, *args, **kwargs)
        # Changes the portal made itself (a command, the schedule, the engine) have no user:
        # History says "system", as the staff pages do, and the change reason says what did it.
        for record in historical_records:
            if record.history_user_id is None:
                record.history_user = get_user_model()(username="system")  # shown only, never saved

    def revert_allowed(self, request, obj) -> bool:
        """Reverting from a History page is off (SIMPLE_HISTORY_REVERT_DISABLED). Should it ever
        be turned on, it still takes the change permission on an object in the user's scope."""
        return not getattr(settings, "SIMPLE_HISTORY_REVERT_DISABLED", False) and self.has_change_permission(
            request, obj)

    def revert_disabled(self, request, obj=None):
        return obj is None or not self.revert_allowed(request, obj)

    def history_form_view(self, request, object_id, version_id, extra_context=None):
        # simple-history reads the object from its history table alone (any operator's), asks
        # only for view permission and saves a POSTed form even with revert disabled: check
        # the current object in the user's scope first, and refuse any POST unless revert is on.
        if not hasattr(self.model._meta, "simple_history_manager_attribute"):
            raise Http404
        object_id = unquote(object_id)
        current = self.get_object(request, object_id)
        if current is None:
            raise Http404
        if not self.has_view_or_change_permission(request, current):
            raise PermissionDenied
        if request.method == "POST" and not self.revert_allowed(request, current):
            raise PermissionDenied
        return super().history_form_view(request, object_id, version_id, extra_context)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        scope = self.scope(request)
        if db_field.related_model is Operator and not scope.everything:
            kwargs["queryset"] = Operator.objects.filter(pk__in=scope.operator_ids)
        elif db_field.related_model is Brand and not scope.everything:
            kwargs["queryset"] = scope.brands().select_related("operator")
        elif db_field.related_model is Brand:
            kwargs["queryset"] = Brand.objects.select_related("operator")
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_manytomany(self, db_field, request, **kwargs):
        scope = self.scope(request)
        if db_field.related_model is Brand:
            kwargs["queryset"] = scope.brands().select_related("operator")
        elif db_field.related_model is Operator and not scope.everything:
            kwargs["queryset"] = Operator.objects.filter(pk__in=scope.visible_operator_ids)
        return super().formfield_for_manytomany(db_field, request, **kwargs)


class ReasonForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), min_length=3, max_length=500,
                             help_text="Kept in the History of every object changed.")


class AmountReasonForm(ReasonForm):
    amount = forms.DecimalField(max_digits=28, decimal_places=8,
                                help_text="In the instance currency. Adjustments may be negative.")

    field_order = ["amount", "reason"]


def reason_action(modeladmin, request, queryset, *, title: str, apply, done: str, form_class=ReasonForm):
    """An admin action that asks for a reason (and an amount) before it changes anything."""
    if "apply" in request.POST:
        form = form_class(request.POST)
        if form.is_valid():
            changed = 0
            for obj in queryset:
                try:
                    apply(obj, form.cleaned_data)
                    changed += 1
                except DomainError as error:
                    modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
            if changed:
                modeladmin.message_user(request, done.format(count=changed), messages.SUCCESS)
            return None
    else:
        form = form_class()
    return TemplateResponse(request, "admin/reason_action.html", {
        **modeladmin.admin_site.each_context(request), "title": title, "objects": queryset, "form": form,
        "action": request.POST.get("action"), "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    })
