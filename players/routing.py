from channels.security.websocket import WebsocketDenier
from django.urls import path, re_path

from players import consumers

# Player sockets are opened from operators' front ends on any origin and authenticate with a
# token; the staff socket uses the portal session, so only it checks the Origin header.
# Operator ids and brand codes are slugs (portal.models.slug_validator): a path that cannot
# name a brand never reaches the database. Any other path is refused at the handshake (403)
# rather than left to Channels' "No route found" (an HTTP 500 with a traceback).
token_websocket_urlpatterns = [
    path("v1/events/service", consumers.ServiceConsumer.as_asgi()),
    re_path(r"^v1/events/(?P<operator_id>[A-Za-z0-9_.-]{1,64})/(?P<brand_id>[A-Za-z0-9_.-]{1,64})$",
            consumers.PlayerConsumer.as_asgi()),
    re_path(r"", WebsocketDenier.as_asgi()),  # a pattern without '$' is searched: matches every path
]
staff_websocket_urlpatterns = [
    path("v1/events/staff", consumers.StaffConsumer.as_asgi()),
]
