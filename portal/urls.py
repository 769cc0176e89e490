from django.apps import apps
from django.contrib import admin
from django.urls import include, path

from contributions import views as contribution_views
from players import views as player_views
from portal import monitoring
from portal.api_glue import api
from sources import views as source_views

admin.site.site_header = "Jackpot portal administration"
admin.site.site_title = "Jackpot portal"
admin.site.index_title = "Catalogue and configuration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", monitoring.metrics_view, name="metrics"),  # Prometheus; token or staff only
    path("verify/", contribution_views.verify, name="verify"),
    path("verify/<int:win_id>/", contribution_views.verify_win, name="verify-win"),
    # A jackpot's rules (UKGC RTS 9A): public, versioned; the same as JSON under /v1/thrillpots/instances/.
    path("rules/<uuid:instance_id>/", source_views.rules_page, name="rules"),
    # The WebSocket API's AsyncAPI document, readable (the document itself: /asyncapi.json).
    path("docs/websockets/", player_views.websocket_docs, name="websocket-docs"),
    path("", include("portal.web_urls")),
    path("", api.urls),
]
if apps.is_installed("demo"):  # outside production only (portal/settings.py)
    urlpatterns.append(path("", include("demo.urls")))
