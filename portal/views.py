import csv
from datetime import timedelta
from itertools import islice

from django.db.models import Count, Prefetch
from django.http import StreamingHttpResponse
from django.shortcuts import render
from django.utils import timezone

from contributions.models import Contribution, WebhookDelivery, Win
from portal.audit import AuditFilter, audit_entries, describe
from portal.scoping import filter_by_brand, filter_catalogue
from portal.staffviews import (
    POT_ORDER,
    paginate,
    querystring_without_page,
    spreadsheet_text,
    staff_page,
)
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


# --- the audit log ------------------------------------------------------------------------


@staff_page
def audit_log(request, scope):
    """History, adjustments and staff decisions in one list, filtered, within the user's scope."""
    form = AuditFilter(request.GET or None, scope=scope)
    page = paginate(request, audit_entries(scope, form.filters()))
    return render(request, "portal/audit_log.html", {
        "form": form, "page": page, "entries": describe(list(page.object_list)),
        "query": querystring_without_page(request),
    })


AUDIT_CSV_COLUMNS = ["when", "kind", "who", "action", "type", "object_id", "object", "operator", "brand", "reason",
                     "changes"]


@staff_page
def audit_log_csv(request, scope):
    """The filtered log as CSV (every page), streamed; text cells neutralised for spreadsheets."""
    form = AuditFilter(request.GET or None, scope=scope)
    rows = audit_entries(scope, form.filters()).iterator(chunk_size=500)

    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())

    def lines():
        yield writer.writerow(AUDIT_CSV_COLUMNS)
        while chunk := list(islice(rows, 500)):
            for e in describe(chunk):
                yield writer.writerow([e.when.isoformat(), *(spreadsheet_text(v) for v in (
                    e.kind, e.who, e.action, e.type_label, e.object_id, e.object_label, e.operator, e.brand,
                    e.reason, "; ".join(e.changes)))])

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="audit-log-{timezone.now():%Y%m%d-%H%M}.csv"'
    return response
