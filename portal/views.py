from datetime import timedelta

from django.db.models import Count
from django.shortcuts import render
from django.utils import timezone

from contributions.models import Contribution, WebhookDelivery, Win
from portal.scoping import filter_by_brand, filter_catalogue
from portal.staffviews import staff_page
from sources.models import JackpotInstance
from sources.selectors import current_commitments


@staff_page
def dashboard(request, scope):
    """Live pot values (staff socket), recent wins, and what needs attention."""
    instances = list(
        filter_catalogue(JackpotInstance.objects.filter(state__in=["Active", "Paused"]), scope)
        .select_related("currency").prefetch_related("pots").order_by("name")
    )
    commitments = current_commitments([p for i in instances for p in i.pots.all()])
    since = timezone.now() - timedelta(hours=24)
    contributions = filter_by_brand(Contribution.objects.filter(created_at__gte=since), scope)
    wins = filter_by_brand(Win.objects.all(), scope, "player__brand")
    deliveries = dict(filter_by_brand(WebhookDelivery.objects.all(), scope).filter(
        status__in=["failed", "pending"]).values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return render(request, "portal/dashboard.html", {
        "instances": [(i, [(p, commitments.get(p.pk)) for p in sorted(i.pots.all(), key=lambda p: -p.tier)])
                      for i in instances],
        "recent_wins": wins.select_related("jackpot", "pot", "player__brand").order_by("-id")[:15],
        "contributions_24h": contributions.count(),
        "withheld": wins.filter(status=Win.Status.WITHHELD).count(),
        "pending_credits": wins.filter(status=Win.Status.PENDING_CREDIT).count(),
        "failed_deliveries": deliveries.get("failed", 0), "pending_deliveries": deliveries.get("pending", 0),
    })
