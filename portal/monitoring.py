"""`GET /metrics` (protected) and the backlogs counted at scrape time.

Glue (like the dashboard): it reads the apps' tables, so it is not part of `portal.metrics`,
which every app imports. Prometheus scrapes with `Authorization: Bearer <METRICS_TOKEN>`; a
logged-in staff user who sees every operator and may view contributions can open it too.
Nothing here is public: the figures name operators and brands.
"""

import hmac

from axes.signals import user_locked_out
from django.conf import settings
from django.db.models import Count, Min
from django.dispatch import receiver
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from contributions.models import Contribution, WalletTransaction, WebhookDelivery
from portal import metrics
from portal.scoping import scope_for

VIEW_PERMISSION = "contributions.view_contribution"


class BacklogCollector(Collector):
    """Work waiting in the database, counted when Prometheus asks (one web worker answers, so
    it is counted once). Each query reads an index made for its rows (see the models)."""

    def collect(self):
        now = timezone.now()
        deliveries = GaugeMetricFamily(
            "jackpot_webhook_deliveries_open", "Webhook deliveries not delivered yet, by operator and status.",
            labels=["operator", "status"])
        open_statuses = [WebhookDelivery.Status.PENDING, WebhookDelivery.Status.DELIVERING]
        for row in (WebhookDelivery.objects.filter(status__in=open_statuses).order_by()
                    .values("brand__operator_id", "status").annotate(n=Count("id"))):
            deliveries.add_metric([row["brand__operator_id"], row["status"]], row["n"])
        yield deliveries
        yield GaugeMetricFamily("jackpot_webhook_deliveries_failed", "Webhook deliveries given up (all attempts failed).",
                                value=WebhookDelivery.objects.filter(status=WebhookDelivery.Status.FAILED).count())
        oldest_due = (WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=now)
                      .aggregate(oldest=Min("next_attempt_at"))["oldest"])
        yield GaugeMetricFamily("jackpot_webhook_oldest_due_seconds",
                                "How long the longest-waiting due webhook delivery has been due (0: none).",
                                value=(now - oldest_due).total_seconds() if oldest_due else 0)

        wallet = GaugeMetricFamily(
            "jackpot_wallet_transactions_open",
            "Wallet Debits and Credits not settled yet (pending Credits are the credit backlog), by brand.",
            labels=["brand", "kind", "status"])
        unsettled = [WalletTransaction.Status.PENDING, WalletTransaction.Status.SENDING,
                     WalletTransaction.Status.CANCELLING, WalletTransaction.Status.CANCEL_FAILED]
        for row in (WalletTransaction.objects.filter(status__in=unsettled).order_by()
                    .values("brand__operator_id", "brand__code", "kind", "status").annotate(n=Count("id"))):
            wallet.add_metric([f"{row['brand__operator_id']}:{row['brand__code']}", row["kind"], row["status"]],
                              row["n"])
        yield wallet

        waiting = Contribution.objects.filter(status=Contribution.Status.ACCEPTED).aggregate(
            n=Count("id"), oldest=Min("created_at"))
        yield GaugeMetricFamily("jackpot_async_contributions_waiting",
                                "Accepted async contributions not processed yet.", value=waiting["n"])
        yield GaugeMetricFamily("jackpot_async_oldest_waiting_seconds",
                                "Age of the oldest accepted async contribution not processed yet (0: none).",
                                value=(now - waiting["oldest"]).total_seconds() if waiting["oldest"] else 0)

    def describe(self):
        return []  # never query the database when registered, only when scraped


def _token_ok(request) -> bool:
    token = settings.METRICS_TOKEN
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return bool(token) and scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), token.encode())


def _staff_ok(user) -> bool:
    return (user.is_authenticated and user.is_active and user.is_staff and scope_for(user).everything
            and user.has_perm(VIEW_PERMISSION))


def _refused(status: int) -> HttpResponse:
    response = HttpResponse(status=status)
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@require_GET
def metrics_view(request):
    """401 without valid credentials, 403 for a staff user who may not see every operator."""
    if not _token_ok(request):
        user = getattr(request, "user", None)
        if user is None or not user.is_authenticated:
            return _refused(401)
        if not _staff_ok(user):
            return _refused(403)
    response = HttpResponse(metrics.exposition(BacklogCollector()), content_type=CONTENT_TYPE_LATEST)
    response["Cache-Control"] = "no-store"
    return response


@receiver(user_locked_out, dispatch_uid="portal.monitoring.lockout")
def _count_lockout(sender, request=None, username=None, **kwargs) -> None:
    if (username or "").startswith("service:"):
        surface = "service"
    elif request is not None and request.path.startswith("/admin/"):
        surface = "admin"
    else:
        surface = "staff"
    metrics.login_lockout(surface)
