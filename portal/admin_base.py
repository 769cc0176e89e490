"""The admin base every model admin uses: scoped querysets, scoped choices, history."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.http import Http404
from django.template.response import TemplateResponse
from simple_history.admin import SimpleHistoryAdmin

from portal.errors import DomainError
from portal.models import Brand, Operator
from portal.scoping import Scope, filter_by_brand, filter_by_operator, filter_catalogue, scope_for


class ScopedAdmin(SimpleHistoryAdmin):
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
        if not self.get_queryset(request).filter(pk=object_id).exists():
            raise Http404
        return super().history_view(request, object_id, extra_context)

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
