from django.urls import path, re_path

from players import consumers

# Player sockets are opened from operators' front ends on any origin and authenticate with a
# token; the staff socket uses the portal session, so only it checks the Origin header.
token_websocket_urlpatterns = [
    path("v1/events/service", consumers.ServiceConsumer.as_asgi()),
    re_path(r"^v1/events/(?P<operator_id>[^/]+)/(?P<brand_id>[^/]+)$", consumers.PlayerConsumer.as_asgi()),
]
staff_websocket_urlpatterns = [
    path("v1/events/staff", consumers.StaffConsumer.as_asgi()),
]
