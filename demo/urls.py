from django.urls import path

from demo import casino

# The lobby widget on a demo casino page: demo mode only (make run), never in production.
urlpatterns = [
    path("demo/casino/", casino.casino, name="demo-casino"),
    path("demo/casino/bet/<slug:game>", casino.bet, name="demo-casino-bet"),
]
