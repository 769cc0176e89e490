from datetime import timedelta

from django.db.models import Count, Prefetch
from django.shortcuts import render
from django.utils import timezone

from contributions.models import Contribution, WebhookDelivery, Win
from portal.scoping import filter_by_brand, filter_catalogue
from portal.staffviews import POT_ORDER, staff_page
from sources.models import JackpotInstance, Pot


def dashboard_live(scope) -> dict:
    """The parts of the dashboard that move: the tiles and the recent wins."""
    since = timezone.now() - timedelta(hours=24)
    contributions = filter_by_brand(Contribution.objects.filter(created_at__gte=since), scope)
    wins = filter_by_brand(Win.objects.all(), scope, "player__brand")
    deliveries = dict(filter_by_brand(WebhookDelivery.objects.all(), scope).filter(
        status__in=["failed", "pending"]).values_list("status").annotate(n=Count("id")).values_list("status", "n"))
    return {
        "recent_wins": wins.select_related("jackpot", "pot", "player__brand").order_by("-id")[:15],
        "contributions_24h": contributions.count(),
        "withheld": wins.filter(status=Win.Status.WITHHELD).count(),
        "pending_credits": wins.filter(status=Win.Status.PENDING_CREDIT).count(),
        "failed_deliveries": deliveries.get("failed", 0), "pending_deliveries": deliveries.get("pending", 0),
    }


@staff_page
def dashboard(request, scope):
    """Live pot values (staff socket), recent wins, and what needs attention. `?part=live`
    is just the tiles and the wins: the page's script fetches it when the staff socket
    reports a contribution or a win, so live rows are the server's rows (same links, status,
    time and money format) and each user's counts stay within their scope."""
    if request.GET.get("part") == "live":
        return render(request, "portal/_dashboard_live.html", dashboard_live(scope))
    instances = list(
        filter_catalogue(JackpotInstance.objects.filter(state__in=["Active", "Paused"]), scope)
        .select_related("currency").prefetch_related(Prefetch("pots", Pot.objects.order_by(*POT_ORDER)))
        .order_by("name")
    )
    return render(request, "portal/dashboard.html", {
        "instances": [(i, i.pots.all()) for i in instances], **dashboard_live(scope),
    })
