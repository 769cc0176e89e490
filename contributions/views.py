"""Staff pages about money: a jackpot's page with its ledger, contributions, callbacks, wins.
Also the public drop verification page. (The jackpot list and the state and pot-money
actions are the catalogue's: `sources/views.py`.)"""

import csv
from datetime import datetime, time, timedelta
from decimal import Decimal

from django import forms
from django.conf import settings
from django.contrib import messages
from django.db.models import Count, Prefetch, Q, Sum
from django.http import Http404, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from contributions.models import Contribution, RaffleDraw, WalletTransaction, WebhookDelivery, Win
from contributions.selectors import drop_verification
from contributions.services import callbacks, payments, wins
from players.models import RaffleTicket
from portal.charts import value_chart
from portal.errors import DomainError
from portal.models import Brand
from portal.money import iso_exponent
from portal.scoping import filter_by_brand
from portal.staffviews import (
    POT_ORDER,
    int_param,
    next_url,
    paginate,
    querystring_without_page,
    require,
    run_service,
    spreadsheet_text,
    staff_page,
)
from sources import services as catalogue
from sources.models import AdjustmentRequest, JackpotInstance, Pot, PotTransfer, Retirement
from sources.selectors import current_commitments, instance_state_changes, visible_instances

# --- public -------------------------------------------------------------------------------


def verify(request):
    """Anyone can check a must-drop win: enter its id."""
    win_id = int_param(request, "win")
    if win_id is not None:
        return redirect("verify-win", win_id=win_id)
    asked = request.GET.get("win", "").strip()
    return render(request, "contributions/verify.html", {"check": None, "asked": asked[:40],
                                                          "not_a_number": bool(asked)})


def verify_win(request, win_id: int):
    win = Win.objects.select_related("commitment", "pot", "jackpot", "contribution").filter(pk=win_id).first()
    if win is None:
        raise Http404("No such win")
    return render(request, "contributions/verify.html", {"check": drop_verification(win), "win": win,
                                                          "asked": str(win_id)})


# --- jackpots -----------------------------------------------------------------------------


@staff_page
def instance_detail(request, scope, instance_id):
    instance = get_object_or_404(visible_instances(scope).select_related("currency", "operator", "brand"),
                                 pk=instance_id)
    pots = list(Pot.objects.filter(jackpot=instance).select_related("pending_change__requested_by")
                .order_by(*POT_ORDER))
    commitments = current_commitments(pots)
    charts = {}
    for pot in pots:
        history = list(pot.increments.order_by("-id").values_list("contribution__created_at", "value_after")[:200])
        charts[pot.pk] = value_chart(history[::-1], digits=iso_exponent(instance.currency_id),
                                     currency=instance.currency_id,
                                     label=f"{pot.pot_id}: value over its last {len(history)} contributions")
    contributions = filter_by_brand(Contribution.objects.filter(jackpot=instance), scope).select_related(
        "brand").order_by("-id")[:20]
    recent_wins = filter_by_brand(Win.objects.filter(jackpot=instance), scope, "player__brand").select_related(
        "pot", "player__brand").order_by("-id")[:20]
    return render(request, "contributions/instance_detail.html", {
        "instance": instance, "pots": [(p, commitments.get(p.pk), charts[p.pk]) for p in pots],
        "contributions": contributions, "wins": recent_wins, "changes": instance_state_changes(instance),
        "draws": RaffleDraw.objects.filter(jackpot=instance).order_by("-drawn_at")[:10] if instance.is_raffle else [],
        "raffle_now": raffle_totals(instance, scope) if instance.is_raffle else None,
        "windows": instance.windows.all(), "allowed_brands": instance.allowed_brands.all(),
        "can_change_state": request.user.has_perm("sources.change_instance_state") and scope.owns_operator(
            instance.operator_id),
        "can_adjust": request.user.has_perm("sources.adjust_pot") and scope.owns_operator(instance.operator_id),
        "next_states": sorted(catalogue.TRANSITIONS[instance.state]),
        # Money operations waiting or done: decreases for a second person, the retirement.
        "decreases": AdjustmentRequest.objects.filter(pot__jackpot=instance, status=AdjustmentRequest.Status.PENDING)
        .select_related("pot", "requested_by").order_by("id"),
        "retirements": Retirement.objects.filter(jackpot=instance).select_related(
            "requested_by", "decided_by").order_by("-id")[:5],
        "transfers": PotTransfer.objects.filter(Q(source__jackpot=instance) | Q(target__jackpot=instance))
        .select_related("source__jackpot", "target__jackpot").order_by("-id")[:20],
        "liability": catalogue.instance_liability(instance),
    })


def raffle_totals(instance: JackpotInstance, scope) -> dict:
    """Tickets and ticket holders in the raffle's current period (of the brands in scope)."""
    tickets = filter_by_brand(RaffleTicket.objects.filter(jackpot=instance, period=instance.raffle_period,
                                                          ticket_count__gt=0), scope, "player__brand")
    return tickets.aggregate(tickets=Sum("ticket_count", default=0), players=Count("player_id", distinct=True))


# --- contributions ------------------------------------------------------------------------


class ContributionFilter(forms.Form):
    brand = forms.ModelChoiceField(queryset=Brand.objects.none(), required=False, empty_label="All brands")
    player = forms.CharField(required=False)
    source = forms.CharField(required=False)
    instance = forms.ModelChoiceField(queryset=JackpotInstance.objects.none(), required=False,
                                      empty_label="All jackpots")
    gameround = forms.CharField(required=False)
    date_from = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(required=False, widget=forms.DateInput(attrs={"type": "date"}))
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Contribution.Status.choices])

    def __init__(self, *args, scope, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["brand"].queryset = scope.brands().select_related("operator")
        self.fields["instance"].queryset = visible_instances(scope).order_by("name")


def filtered_contributions(request, scope):
    form = ContributionFilter(request.GET or None, scope=scope)
    queryset = filter_by_brand(Contribution.objects.all(), scope)
    if form.is_valid():
        data = form.cleaned_data
        if data["brand"]:
            queryset = queryset.filter(brand=data["brand"])
        if data["player"]:
            queryset = queryset.filter(player_ref=data["player"].strip())
        if data["source"]:
            source = data["source"].strip()
            queryset = queryset.filter(Q(target_kind="source", target_id=source) | Q(source__source_id=source))
        if data["instance"]:
            queryset = queryset.filter(jackpot=data["instance"])
        if data["gameround"]:
            queryset = queryset.filter(gameround_id=data["gameround"].strip())
        if data["status"]:
            queryset = queryset.filter(status=data["status"])
        if data["date_from"]:
            queryset = queryset.filter(created_at__gte=timezone.make_aware(datetime.combine(data["date_from"], time.min)))
        if data["date_to"]:
            queryset = queryset.filter(created_at__lte=timezone.make_aware(datetime.combine(data["date_to"], time.max)))
    return form, queryset.select_related("brand", "jackpot", "source").order_by("-id")


def with_wins(queryset):
    return queryset.prefetch_related(Prefetch("wins", Win.objects.select_related("pot").order_by("-amount_base")))


def contribution_totals(queryset) -> list[dict]:
    """Sums over the whole filtered set, per request currency: count, wagers, contributions,
    and the wins paid on them (in the players' currency, as credited)."""
    rows = {r["currency"]: {**r, "wins": 0, "won": Decimal(0)} for r in queryset.order_by().values("currency").annotate(
        count=Count("id"), wagers=Sum("base_wager"), amounts=Sum("amount")).order_by("currency")}
    for r in Win.objects.filter(contribution__in=queryset.order_by().values("pk")).values("currency").annotate(
            n=Count("id"), paid=Sum("amount")).order_by("currency"):
        row = rows.setdefault(r["currency"], {"currency": r["currency"], "count": 0, "wagers": None, "amounts": None})
        row.update(wins=r["n"], won=r["paid"])
    return list(rows.values())


@staff_page
def contribution_list(request, scope):
    form, queryset = filtered_contributions(request, scope)
    return render(request, "contributions/contribution_list.html", {
        "form": form, "page": paginate(request, with_wins(queryset)), "query": querystring_without_page(request),
        "totals": contribution_totals(queryset),
    })


class Echo:
    def write(self, value):
        return value


CSV_COLUMNS = ["trace_id", "created_at", "status", "operator", "brand", "player_id", "gameround_id", "target",
               "instance_id", "instance", "currency", "base_wager", "contribution_amount", "amount_in_instance_currency",
               "tickets_awarded", "async", "error_code", "win_pot_id", "win_amount", "win_currency", "win_status"]


@staff_page
def contribution_csv(request, scope):
    _, queryset = filtered_contributions(request, scope)
    writer = csv.writer(Echo())

    def rows():
        yield writer.writerow(CSV_COLUMNS)
        for c in with_wins(queryset).iterator(chunk_size=2000):
            won = list(c.wins.all())  # highest first; several wins of one contribution share a row
            # Text a caller or staff chose (ids, names) is neutralised; the amounts are our own
            # formatting of Decimals and stay numbers, negative ones included.
            text = [spreadsheet_text(v) for v in (
                c.brand.operator_id, c.brand.code, c.player_ref, c.gameround_id, f"{c.target_kind}:{c.target_id}",
                c.jackpot.name if c.jackpot else "", c.currency, c.error_code)]
            operator, brand, player, gameround, target, instance_name, currency, error_code = text
            yield writer.writerow([
                c.trace_id, c.created_at.isoformat(), c.status, operator, brand, player, gameround, target,
                c.jackpot_id or "", instance_name, currency, f"{c.base_wager:f}", f"{c.amount:f}",
                f"{c.amount_base:f}", "" if c.tickets_awarded is None else c.tickets_awarded,
                "yes" if c.is_async else "no", error_code,
                ";".join(w.pot.pot_id for w in won),
                f"{sum((w.amount for w in won), Decimal(0)):f}" if won else "",
                won[0].currency if won else "", ";".join(w.status for w in won),
            ])

    response = StreamingHttpResponse(rows(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="contributions-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response


@staff_page
def contribution_detail(request, scope, trace_id):
    contribution = get_object_or_404(filter_by_brand(Contribution.objects.all(), scope).select_related(
        "brand", "jackpot", "source", "player"), trace_id=trace_id)
    return render(request, "contributions/contribution_detail.html", {
        "c": contribution, "increments": contribution.increments.select_related("pot"),
        "wins": contribution.wins.select_related("pot"),
        "wallet": contribution.wallet_transactions.order_by("id"),
        "delivery": WebhookDelivery.objects.filter(contribution=contribution).first(),
    })


# --- callbacks ----------------------------------------------------------------------------


@staff_page
def delivery_list(request, scope):
    deliveries = filter_by_brand(WebhookDelivery.objects.all(), scope).select_related(
        "contribution", "brand").order_by("-id")
    status = request.GET.get("status", "")
    if status in WebhookDelivery.Status.values:
        deliveries = deliveries.filter(status=status)
    if q := request.GET.get("q", "").strip():
        deliveries = deliveries.filter(Q(contribution__gameround_id=q) | Q(webhook_id=q) | Q(url__icontains=q))
    counts = dict(filter_by_brand(WebhookDelivery.objects.all(), scope).values_list("status").annotate(n=Count("id"))
                  .values_list("status", "n"))
    return render(request, "contributions/delivery_list.html", {
        "page": paginate(request, deliveries),
        "statuses": [(value, label, counts.get(value, 0)) for value, label in WebhookDelivery.Status.choices],
        "filters": request.GET, "query": querystring_without_page(request),
        "can_resend": request.user.has_perm("contributions.resend_webhookdelivery"),
    })


@staff_page
def delivery_detail(request, scope, delivery_id):
    delivery = get_object_or_404(filter_by_brand(WebhookDelivery.objects.all(), scope).select_related(
        "contribution", "brand"), pk=delivery_id)
    return render(request, "contributions/delivery_detail.html", {
        "d": delivery, "attempts": delivery.attempts.order_by("number"),
        "can_resend": request.user.has_perm("contributions.resend_webhookdelivery"),
    })


@require_POST
@staff_page
def delivery_resend(request, scope, delivery_id):
    delivery = get_object_or_404(filter_by_brand(WebhookDelivery.objects.all(), scope), pk=delivery_id)
    require(request, "contributions.resend_webhookdelivery")
    return run_service(request, lambda: callbacks.delivery_resend(delivery=delivery, actor=request.user),
                       success=f"Delivery {delivery.webhook_id} queued to be sent again.",
                       back=next_url(request, reverse("portal:delivery", args=[delivery.pk])))


# --- wins ---------------------------------------------------------------------------------


def visible_wins(scope):
    return filter_by_brand(Win.objects.all(), scope, "player__brand").select_related(
        "jackpot", "pot", "player__brand", "contribution")


@staff_page
def withheld_list(request, scope):
    return render(request, "contributions/withheld_list.html", {
        "page": paginate(request, visible_wins(scope).filter(status=Win.Status.WITHHELD).order_by("id")),
        "recent": visible_wins(scope).exclude(decision_reason="").order_by("-id")[:10],
        "can_decide": request.user.has_perm("contributions.decide_win"),
    })


@require_POST
@staff_page
def win_decide(request, scope, win_id):
    win = get_object_or_404(visible_wins(scope), pk=win_id)
    require(request, "contributions.decide_win")
    decision, reason = request.POST.get("decision"), request.POST.get("reason", "")
    back = reverse("portal:withheld")
    if decision == "approve":
        return run_service(request, lambda: wins.win_approve(win=win, actor=request.user, reason=reason),
                           success=f"Win {win.pk} approved: it is being credited.", back=back)
    if decision == "reject":
        return run_service(request, lambda: wins.win_reject(win=win, actor=request.user, reason=reason),
                           success=f"Win {win.pk} rejected: the amount went back to the seed fund.", back=back)
    messages.error(request, "Choose approve or reject.")
    return redirect(back)


@staff_page
def pending_credit_list(request, scope):
    pending = visible_wins(scope).filter(status=Win.Status.PENDING_CREDIT).order_by("id")
    page = paginate(request, pending)
    credits = {tx.win_id: tx for tx in WalletTransaction.objects.filter(
        kind=WalletTransaction.Kind.CREDIT, win__in=[w.pk for w in page.object_list])}
    retry = timedelta(seconds=settings.WALLET_CREDIT_RETRY_SECONDS)
    return render(request, "contributions/pending_credit_list.html", {
        # A pending Credit is sent again once it has rested `retry` since its last try (payments.credits_due).
        "page": page, "rows": [(w, tx, tx.updated_at + retry if tx else None)
                               for w, tx in ((w, credits.get(w.pk)) for w in page.object_list)],
        "retry_seconds": int(settings.WALLET_CREDIT_RETRY_SECONDS), "now": timezone.now(),
        "can_retry": request.user.has_perm("contributions.retry_credit"),
    })


@require_POST
@staff_page
def win_retry_credit(request, scope, win_id):
    win = get_object_or_404(visible_wins(scope), pk=win_id)
    require(request, "contributions.retry_credit")

    def retry():
        tx = payments.credit_retry(win=win, actor=request.user)
        if tx is None or tx.status != WalletTransaction.Status.SUCCEEDED:
            raise DomainError("STILL_PENDING", f"The wallet still refuses win {win.pk} "
                              f"({tx.error_code if tx else 'busy'}); it stays pending and is retried automatically.")

    return run_service(request, retry, success=f"Win {win.pk} credited.", back=reverse("portal:pending-credits"))
