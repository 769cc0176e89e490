"""Accepting an async contribution resolves its callback host (SSRF guard) within a deadline
(issue 11, item 4's follow-up): a name server that does not answer makes the request a 400
after WEBHOOK_RESOLVE_TIMEOUT_SECONDS, instead of holding the gateway thread, and a lookup
held that way does not hold back anyone else's. No name server runs here, so the system
resolver (socket.getaddrinfo, as the guard calls it) is replaced by a double that blocks."""

import socket
import threading
import time

import pytest

from tests.conftest import body_of
from tests.receiver import with_callback

pytestmark = pytest.mark.django_db

SLOW, FAST = "slow-dns.example", "fast-dns.example"
PUBLIC = "93.184.216.34"  # what the double answers for FAST (a global address: passes the guard)


@pytest.fixture
def name_server(monkeypatch):
    """Lookups of SLOW block until `release` (at most 10 s, then fail as a dead server would);
    FAST answers at once; anything else goes to the real resolver."""
    real = socket.getaddrinfo
    release, asked = threading.Event(), threading.Event()

    def getaddrinfo(host, port, *args, **kwargs):
        if host == SLOW:
            asked.set()
            release.wait(10)
            raise socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")
        if host == FAST:
            return [(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (PUBLIC, port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    yield release, asked
    release.set()


def test_a_callback_host_whose_name_server_does_not_answer_is_refused_by_the_deadline(
        name_server, gateway, contribution, brand2, settings):
    settings.WEBHOOK_RESOLVE_TIMEOUT_SECONDS = 0.5
    release, asked = name_server
    body = {"brand_id": "thrilltech:brand2", "source_id": "casino-sitewide"}  # routed later, by the worker

    started = time.monotonic()
    slow = gateway.contribute(with_callback(contribution(**body), f"https://{SLOW}/hook"))
    slow_seconds = time.monotonic() - started
    # The slow lookup is still held; another callback host resolves and is accepted at once.
    started = time.monotonic()
    fast = gateway.contribute(with_callback(contribution(**body), f"https://{FAST}/hook"))
    fast_seconds = time.monotonic() - started
    held = not release.is_set()

    assert asked.is_set() and held
    assert (slow.status_code, body_of(slow)["code"]) == (400, "INVALID_PROPERTY_VALUE")
    assert f"could not resolve {SLOW} within 0.5 s" in body_of(slow)["message"]
    assert 0.5 <= slow_seconds < 0.5 + 2, slow_seconds
    assert fast.status_code == 200, fast.content
    assert "trace_id" in body_of(fast)
    assert fast_seconds < 2, fast_seconds
    print(f"\nslow name server: 400 after {slow_seconds * 1000:.0f} ms; another host meanwhile: "
          f"200 in {fast_seconds * 1000:.0f} ms")
