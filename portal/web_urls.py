from django.conf import settings
from django.contrib.auth import views as auth_views
from django.http import HttpResponseRedirect
from django.templatetags.static import static
from django.urls import path

from contributions import report_views as reports
from contributions import views as money
from players import views as players
from portal import views
from sources import views as catalogue

app_name = "portal"


def favicon(request):
    """Browsers ask for /favicon.ico where a page names no icon (the admin): the portal's.
    Not a permanent redirect: the static name changes with the file in production."""
    return HttpResponseRedirect(static("portal/favicon.svg"))


urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("favicon.ico", favicon, name="favicon"),
    path("login/", auth_views.LoginView.as_view(
        template_name="portal/login.html", redirect_authenticated_user=True,
        # Said on the page: the login throttle (django-axes, see portal/settings.py).
        extra_context={"lockout": {"failures": settings.AXES_FAILURE_LIMIT,
                                   "minutes": int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)}}),
         name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("jackpots/", catalogue.instance_list, name="instances"),
    path("jackpots/<uuid:instance_id>/", money.instance_detail, name="instance"),
    path("jackpots/<uuid:instance_id>/state", catalogue.instance_state, name="instance-state"),
    path("jackpots/<uuid:instance_id>/pots", catalogue.instance_pot_money, name="instance-pot-money"),
    path("contributions/", money.contribution_list, name="contributions"),
    path("contributions.csv", money.contribution_csv, name="contributions-csv"),
    path("contributions/<uuid:trace_id>/", money.contribution_detail, name="contribution"),
    path("callbacks/", money.delivery_list, name="deliveries"),
    path("callbacks/<int:delivery_id>/", money.delivery_detail, name="delivery"),
    path("callbacks/<int:delivery_id>/resend", money.delivery_resend, name="delivery-resend"),
    path("wins/withheld/", money.withheld_list, name="withheld"),
    path("wins/<int:win_id>/decide", money.win_decide, name="win-decide"),
    path("wins/pending-credits/", money.pending_credit_list, name="pending-credits"),
    path("wins/<int:win_id>/retry-credit", money.win_retry_credit, name="win-retry-credit"),
    path("reports/daily-close/", reports.daily_close, name="daily-close"),
    path("reports/daily-close.csv", reports.daily_close_csv, name="daily-close-csv"),
    path("reports/daily-close/<int:close_id>/", reports.daily_close_detail, name="daily-close-detail"),
    path("reports/meters/<uuid:instance_id>/", reports.meters_page, name="meters"),
    path("reports/hit-audit/", reports.hit_audit_page, name="hit-audit"),
    path("audit/", views.audit_log, name="audit"),
    path("audit.csv", views.audit_log_csv, name="audit-csv"),
    path("players/", players.player_list, name="players"),
    path("players/<int:player_pk>/", players.player_detail, name="player"),
]
