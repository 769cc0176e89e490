from django.contrib import admin
from django.urls import include, path

from contributions import views as contribution_views
from portal import monitoring
from portal.api import api

admin.site.site_header = "Jackpot portal administration"
admin.site.site_title = "Jackpot portal"
admin.site.index_title = "Catalogue and configuration"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("metrics", monitoring.metrics_view, name="metrics"),  # Prometheus; token or staff only
    path("verify/", contribution_views.verify, name="verify"),
    path("verify/<int:win_id>/", contribution_views.verify_win, name="verify-win"),
    path("", include("portal.web_urls")),
    path("", api.urls),
]
