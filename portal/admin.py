from axes import admin as axes_admin
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from portal.admin_base import HostileInputAdmin, ScopedAdmin
from portal.models import (
    Brand,
    BrandCurrencyMultiplier,
    Currency,
    Operator,
    ServiceAccount,
    StaffScope,
)
from portal.money import iso_exponent
from portal.services import brand_save, operator_rotate_webhook_secret


def masked(secret: str) -> str:
    """Secrets are never shown back in full."""
    return f"{secret[:6]}…{secret[-4:]}" if secret and len(secret) > 12 else "••••"


class BrandInline(admin.TabularInline):
    model = Brand
    extra = 0
    fields = ["code", "name", "enabled"]
    show_change_link = True


@admin.register(Operator)
class OperatorAdmin(ScopedAdmin):
    scope_mode = "operator"
    scope_path = "pk"
    list_display = ["id", "name", "enabled", "brand_count", "created_at"]
    list_filter = ["enabled"]
    search_fields = ["id", "name"]
    readonly_fields = ["webhook_secret_masked", "created_at"]
    fields = ["id", "name", "enabled", "allowed_origins", "webhook_secret_masked", "created_at"]
    inlines = [BrandInline]
    actions = ["rotate_webhook_secret"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "id"] if obj else self.readonly_fields

    @admin.display(description="brands")
    def brand_count(self, obj):
        return obj.brands.count()

    @admin.display(description="webhook secret")
    def webhook_secret_masked(self, obj):
        return masked(obj.webhook_secret) if obj and obj.pk else "generated on save"

    @admin.action(description="Rotate the webhook secret of the selected operators", permissions=["change"])
    def rotate_webhook_secret(self, request, queryset):
        rotated = []
        for operator in queryset:
            secret = operator_rotate_webhook_secret(operator=operator, actor=request.user)
            self.log_change(request, operator, "Rotated the webhook secret")
            rotated.append((operator, secret))
        # Shown once in this response, never as a message: messages travel in a signed but
        # readable cookie (or the session). No caching of the page either.
        response = TemplateResponse(request, "portal/webhook_secret_rotated.html", {
            **self.admin_site.each_context(request), "title": "New webhook secrets", "rotated": rotated,
            "opts": self.model._meta})
        add_never_cache_headers(response)
        return response

    def response_add(self, request, obj, post_url_continue=None):
        """The secret generated on save is shown once, on this page, as after a rotation."""
        if "_popup" in request.POST:
            return super().response_add(request, obj, post_url_continue)
        response = TemplateResponse(request, "portal/webhook_secret_created.html", {
            **self.admin_site.each_context(request), "title": f"Operator {obj.pk} added: its webhook secret",
            "operator": obj, "secret": obj.webhook_secret, "opts": self.model._meta})
        add_never_cache_headers(response)
        return response


@admin.register(Brand)
class BrandAdmin(ScopedAdmin):
    scope_mode = "brand"
    scope_path = "pk"
    list_display = ["key", "name", "operator", "enabled", "side_bets_without_wallet", "created_at"]
    list_filter = ["enabled", "side_bets_without_wallet", "operator"]
    search_fields = ["code", "name", "operator__id"]
    list_select_related = ["operator"]

    def save_model(self, request, obj, form, change):
        brand_save(brand=obj, actor=request.user)  # as the configuration API


class BrandCurrencyMultiplierInline(admin.TabularInline):
    model = BrandCurrencyMultiplier
    extra = 0


class CurrencyForm(forms.ModelForm):
    class Meta:
        model = Currency
        fields = ["code", "name", "exponent", "multiplier"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "exponent" in self.fields:  # not for view-only users: their form has no fields
            self.fields["exponent"].required = False
            self.fields["exponent"].help_text += " Leave empty to use the ISO 4217 value."

    def clean(self):
        data = super().clean()
        if data.get("exponent") in (None, "") and data.get("code"):
            data["exponent"] = iso_exponent(data["code"])
        return data


@admin.register(Currency)
class CurrencyAdmin(ScopedAdmin):
    form = CurrencyForm
    list_display = ["code", "name", "multiplier", "exponent", "updated_at"]
    search_fields = ["code", "name"]


@admin.register(BrandCurrencyMultiplier)
class BrandCurrencyMultiplierAdmin(ScopedAdmin):
    scope_mode = "brand"
    list_display = ["brand", "currency", "multiplier", "updated_at"]
    list_filter = ["currency"]
    search_fields = ["brand__code", "brand__operator__id", "currency__code"]
    list_select_related = ["brand__operator", "currency"]


class ServiceAccountForm(forms.ModelForm):
    new_password = forms.CharField(
        required=False, widget=forms.PasswordInput(render_value=False),
        help_text="Set a new password (leave empty to keep the current one).",
    )

    class Meta:
        model = ServiceAccount
        fields = ["operator", "username", "is_active", "can_configure", "can_feed_system_rates"]

    def clean(self):
        data = super().clean()
        if not self.instance.pk and not data.get("new_password"):
            self.add_error("new_password", "A new service account needs a password.")
        return data

    def save(self, commit=True):
        account = super().save(commit=False)
        if self.cleaned_data.get("new_password"):
            account.set_password(self.cleaned_data["new_password"])
        if commit:
            account.save()
        return account


@admin.register(ServiceAccount)
class ServiceAccountAdmin(ScopedAdmin):
    scope_mode = "operator"
    form = ServiceAccountForm
    list_display = ["username", "operator", "is_active", "can_configure", "created_at", "last_authenticated_at"]
    list_filter = ["is_active", "can_configure", "operator"]
    search_fields = ["username", "operator__id"]
    readonly_fields = ["history_name", "created_at", "last_authenticated_at"]

    @admin.display(description="named in History as")
    def history_name(self, obj):
        return obj.user.username if obj and obj.user_id else f"api:{obj.username}" if obj and obj.pk else "-"

    def get_readonly_fields(self, request, obj=None):
        # The system-wide rates concern every operator: only superusers grant that permission.
        fields = super().get_readonly_fields(request, obj)
        return fields if request.user.is_superuser else [*fields, "can_feed_system_rates"]


class StaffScopeInline(admin.StackedInline):
    model = StaffScope
    can_delete = False
    filter_horizontal = ["operators", "brands"]
    verbose_name_plural = "scope (what this user may see)"


admin.site.unregister(User)


@admin.register(User)
class PortalUserAdmin(HostileInputAdmin, UserAdmin):
    inlines = [StaffScopeInline]
    list_display = ["username", "email", "is_staff", "is_superuser", "roles", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]

    @admin.display(description="roles")
    def roles(self, obj):
        return ", ".join(g.name for g in obj.groups.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("groups")


# django-axes' lists (login failures) take hostile filters like ours: NUL, years past 9999.
for _model, _admin in ((AccessAttempt, axes_admin.AccessAttemptAdmin), (AccessLog, axes_admin.AccessLogAdmin),
                       (AccessFailureLog, axes_admin.AccessFailureLogAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
        admin.site.register(_model, type(_admin.__name__, (HostileInputAdmin, _admin), {}))
