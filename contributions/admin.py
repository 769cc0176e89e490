from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.utils.html import format_html

from contributions.models import (
    Contribution,
    PotIncrement,
    RaffleDraw,
    WalletConfig,
    WalletTransaction,
    WebhookAttempt,
    WebhookDelivery,
    Win,
)
from contributions.services import callbacks, payments, wins
from portal.admin_base import ScopedAdmin, reason_action
from portal.errors import DomainError
from portal.models import Currency
from portal.money import iso_exponent, payout, plain


class ReadOnlyLedgerAdmin(ScopedAdmin):
    """Ledger rows are written by the engine only."""

    scope_mode = "brand"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PotIncrementInline(admin.TabularInline):
    model = PotIncrement
    extra = 0
    can_delete = False
    fields = ["pot", "value_delta", "seed_delta", "value_after", "generation", "draw"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Contribution)
class ContributionAdmin(ReadOnlyLedgerAdmin):
    list_display = ["trace_id", "player_ref", "brand", "gameround_id", "target_id", "jackpot", "amount",
                    "currency", "status", "created_at"]
    list_filter = ["status", "is_async", "currency", "brand"]
    search_fields = ["=trace_id", "player_ref", "gameround_id", "target_id"]
    list_select_related = ["brand__operator", "jackpot"]
    date_hierarchy = "created_at"
    inlines = [PotIncrementInline]
    exclude = ["token"]


@admin.register(Win)
class WinAdmin(ReadOnlyLedgerAdmin):
    scope_path = "player__brand"
    list_display = ["id", "jackpot", "pot", "player", "paid", "base_amount", "withheld", "status", "created_at"]
    list_filter = ["status", "withheld", "jackpot"]
    search_fields = ["player__player_id", "jackpot__name", "pot__pot_id"]
    list_select_related = ["jackpot", "pot", "player__brand__operator"]
    date_hierarchy = "created_at"
    actions = ["retry_credit", "approve", "reject"]

    def get_queryset(self, request):
        # The minor unit of each win's currency, for `paid`, in the list's own query.
        exponent = Currency.objects.filter(code=OuterRef("currency")).values("exponent")[:1]
        return super().get_queryset(request).annotate(currency_exponent=Subquery(exponent))

    @admin.display(description="paid to the player", ordering="amount")
    def paid(self, win):
        """What the player got, in their currency, rounded down as paid (as the staff pages show it)."""
        exponent = getattr(win, "currency_exponent", None)
        amount = payout(win.amount, iso_exponent(win.currency) if exponent is None else exponent)
        return format_html('<span style="white-space:nowrap">{} {}</span>', amount, win.currency)

    @admin.display(description="base amount, exact (jackpot currency)", ordering="amount_base")
    def base_amount(self, win):
        return format_html('<span style="white-space:nowrap">{} {}</span>', format(plain(win.amount_base), "f"),
                           win.jackpot.currency_id)

    def has_decide_win_permission(self, request):
        return request.user.has_perm("contributions.decide_win")

    @admin.action(description="Approve the selected withheld wins (with a reason)", permissions=["decide_win"])
    def approve(self, request, queryset):
        return reason_action(self, request, queryset, title="Approve withheld wins", done="{count} wins approved.",
                             apply=lambda win, data: wins.win_approve(win=win, actor=request.user,
                                                                      reason=data["reason"]))

    @admin.action(description="Reject the selected withheld wins (with a reason)", permissions=["decide_win"])
    def reject(self, request, queryset):
        return reason_action(self, request, queryset, title="Reject withheld wins", done="{count} wins rejected.",
                             apply=lambda win, data: wins.win_reject(win=win, actor=request.user,
                                                                     reason=data["reason"]))

    def has_retry_credit_permission(self, request):
        return request.user.has_perm("contributions.retry_credit")

    @admin.action(description="Retry the wallet credit of the selected pending wins", permissions=["retry_credit"])
    def retry_credit(self, request, queryset):
        for win in queryset:
            try:
                tx = payments.credit_retry(win=win, actor=request.user)
            except DomainError as error:
                self.message_user(request, f"Win {win.pk}: {error.message}", messages.WARNING)
                continue
            if tx is not None and tx.status == WalletTransaction.Status.SUCCEEDED:
                self.message_user(request, f"Win {win.pk}: credited.", messages.SUCCESS)
            else:
                self.message_user(request, f"Win {win.pk}: the wallet still refuses ({tx.error_code if tx else '?'}); "
                                  "it stays pending and is retried automatically.", messages.WARNING)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ["number", "started_at", "status_code", "latency_ms", "success", "error", "response_excerpt"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyLedgerAdmin):
    list_display = ["webhook_id", "contribution", "kind", "status", "attempt_count", "next_attempt_at",
                    "delivered_at", "url"]
    list_filter = ["status", "kind", "brand"]
    search_fields = ["=webhook_id", "=contribution__trace_id", "contribution__gameround_id", "url"]
    list_select_related = ["contribution", "brand__operator"]
    date_hierarchy = "created_at"
    readonly_fields = ["webhook_id", "contribution", "brand", "url", "kind", "status", "attempt_count",
                       "next_attempt_at", "last_error", "created_at", "delivered_at", "payload"]
    exclude = ["claimed_until"]
    inlines = [WebhookAttemptInline]
    actions = ["resend"]

    def has_resend_permission(self, request):
        return request.user.has_perm("contributions.resend_webhookdelivery")

    @admin.action(description="Resend the selected deliveries", permissions=["resend"])
    def resend(self, request, queryset):
        sent = 0
        for delivery in queryset:
            try:
                callbacks.delivery_resend(delivery=delivery, actor=request.user)
                sent += 1
            except DomainError as error:
                self.message_user(request, f"{delivery.webhook_id}: {error.message}", messages.WARNING)
        if sent:
            self.message_user(request, f"{sent} deliveries queued to be sent again.", messages.SUCCESS)


class WalletConfigForm(forms.ModelForm):
    """The secret is write-only: typed in, never shown back (a fingerprint shows it changed)."""

    secret_key = forms.CharField(
        required=False, strip=False, widget=forms.PasswordInput(render_value=False),
        help_text="Leave empty to keep the current secret.")

    class Meta:
        model = WalletConfig
        fields = ["brand", "enabled", "base_url", "auth_path", "balance_path", "transaction_path", "cancel_path",
                  "secret_key", "timeout_seconds", "retry_limit", "backoff_factor", "error_rules",
                  "authenticate_contributions", "close_rounds_without_win"]

    def clean_secret_key(self):
        secret = self.cleaned_data.get("secret_key")
        if not secret:
            if not self.instance.pk:
                raise forms.ValidationError("A new wallet needs its shared secret.")
            return self.instance.secret_key
        return secret


@admin.register(WalletConfig)
class WalletConfigAdmin(ScopedAdmin):
    scope_mode = "brand"
    form = WalletConfigForm
    list_display = ["brand", "enabled", "base_url", "timeout_seconds", "retry_limit", "secret_fingerprint",
                    "updated_at"]
    list_filter = ["enabled"]
    search_fields = ["brand__code", "brand__operator__id", "base_url"]
    list_select_related = ["brand__operator"]
    readonly_fields = ["secret_fingerprint", "updated_at"]


@admin.register(WalletTransaction)
class WalletTransactionAdmin(ReadOnlyLedgerAdmin):
    list_display = ["transaction_id", "kind", "status", "player_ref", "amount", "currency", "attempts",
                    "error_code", "created_at"]
    list_filter = ["kind", "status", "brand"]
    search_fields = ["=transaction_id", "player_ref", "gameround_id"]
    list_select_related = ["brand__operator"]
    date_hierarchy = "created_at"
    exclude = ["token"]


@admin.register(RaffleDraw)
class RaffleDrawAdmin(ReadOnlyLedgerAdmin):
    scope_mode = "catalogue"
    scope_path = "jackpot__"
    list_display = ["jackpot", "period", "period_start", "period_end", "drawn_at", "players", "tickets"]
    list_filter = ["jackpot"]
    search_fields = ["jackpot__name"]
    list_select_related = ["jackpot"]
