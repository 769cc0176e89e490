"""Calling operators back: where we may connect (SSRF guard) and how we sign.

A webhook URL comes from an API caller, so it must not reach into our own network. A host
is refused when any address it resolves to is loopback, private, link-local, multicast,
reserved, unspecified or otherwise not globally routable -- unless the host name or the
address is allow-listed in settings. The check runs when the URL is accepted and again at
connect time, on the very address the socket then connects to (so a DNS answer cannot
change between the check and the connection). Redirects are never followed. IPv6 forms that
carry an IPv4 address are judged by that address (IPv4-mapped, NAT64) or refused (6to4,
Teredo, IPv4-compatible), so `2002:7f00:1::` cannot stand in for 127.0.0.1.

An attempt has a hard deadline (portal/deadline.py): name lookup, connecting, sending and
reading the answer all end when it passes, however slowly the receiver trickles its bytes.
The accept-time check's name lookup is bounded too (`WEBHOOK_RESOLVE_TIMEOUT_SECONDS`), so a
slow name server cannot hold a gateway thread.

Signatures follow Standard Webhooks: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the operator's
secret (during a rotation's grace period, both secrets sign).
"""

import asyncio
import ipaddress
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from standardwebhooks import Webhook
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from portal.deadline import (
    DeadlineAdapter,
    DeadlineConnectionMixin,
    DeadlineExceeded,  # noqa: F401 - what webhook_post raises when time is up
    deadline_session,
    hard_deadline,
)
from portal.errors import invalid_value


class RefusedDestination(Exception):
    """The webhook host resolves to an address we do not call."""


def _allowed_networks() -> list:
    return [ipaddress.ip_network(n, strict=False) for n in settings.WEBHOOK_ALLOWED_NETWORKS]


# The NAT64 well-known prefix: the last 32 bits are the IPv4 address the gateway calls.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# IPv4-compatible addresses (deprecated): ::a.b.c.d.
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")


def address_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why this address may not be called, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        elif ip in NAT64:
            ip = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    if any(ip in network for network in _allowed_networks()):
        return None
    for label, flag in (("loopback", ip.is_loopback), ("private", ip.is_private),
                        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("reserved", ip.is_reserved), ("unspecified", ip.is_unspecified)):
        if flag:
            return label
    if isinstance(ip, ipaddress.IPv6Address):
        # Tunnels to an IPv4 address we would have to vet, and that Python may call global
        # (2002:7f00:1:: is 127.0.0.1 over 6to4). Receivers have no business behind them.
        if ip.sixtofour is not None:
            return "6to4"
        if ip.teredo is not None:
            return "Teredo"
        if ip in IPV4_COMPATIBLE:
            return "IPv4-compatible"
    if not ip.is_global:
        return "not globally routable"
    return None


def resolve_allowed(host: str, port: int) -> list[tuple]:
    """getaddrinfo, keeping only addresses we may call; refuses if any address is refused
    (a name that points anywhere private is not trusted for its public answers either)."""
    host_allowed = host.lower().strip("[]") in {h.lower() for h in settings.WEBHOOK_ALLOWED_HOSTS}
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise RefusedDestination(f"cannot resolve {host}: {exc}") from exc
    except (UnicodeError, ValueError) as exc:  # e.g. a label over 63 characters (IDNA)
        raise RefusedDestination(f"not a valid host name: {exc}") from exc
    if not infos:
        raise RefusedDestination(f"{host} has no address")
    if host_allowed:
        return infos
    for info in infos:
        ip = ipaddress.ip_address(info[4][0].split("%")[0])
        reason = address_refused(ip)
        if reason:
            raise RefusedDestination(f"{host} resolves to a {reason} address ({ip})")
    return infos


def _callback_parts(url: str) -> tuple[str, int]:
    """The host and port of a callback URL we would call, or INVALID_PROPERTY_VALUE (no I/O)."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise invalid_value(f"callback.web_hook is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_value("callback.web_hook must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise invalid_value("callback.web_hook must not carry credentials")
    return parts.hostname, port


def webhook_url_check(url: str) -> str:
    """Accept-time check of a callback URL: INVALID_PROPERTY_VALUE if we would not call it."""
    host, port = _callback_parts(url)
    try:
        _resolve_in_time(host, port)
    except RefusedDestination as exc:
        raise invalid_value(f"callback.web_hook refused: {exc}") from exc
    return url


async def webhook_url_check_async(url: str) -> str:
    """The same check from the event loop: the lookup runs on the resolver's pool (a literal
    address is judged at once), bounded by WEBHOOK_RESOLVE_TIMEOUT_SECONDS."""
    host, port = _callback_parts(url)
    try:
        try:
            ipaddress.ip_address(host.strip("[]"))
        except ValueError:
            lookup = asyncio.get_running_loop().run_in_executor(_resolver_pool(), resolve_allowed, host, port)
            seconds = settings.WEBHOOK_RESOLVE_TIMEOUT_SECONDS
            try:
                await asyncio.wait_for(lookup, seconds)
            except TimeoutError:
                raise RefusedDestination(f"could not resolve {host} within {seconds:g} s") from None
        else:
            resolve_allowed(host, port)
    except RefusedDestination as exc:
        raise invalid_value(f"callback.web_hook refused: {exc}") from exc
    return url


_resolver: ThreadPoolExecutor | None = None
_resolver_lock = threading.Lock()


def _resolver_pool() -> ThreadPoolExecutor:
    global _resolver
    with _resolver_lock:
        if _resolver is None:
            _resolver = ThreadPoolExecutor(settings.WEBHOOK_RESOLVE_THREADS, thread_name_prefix="webhook-resolve")
    return _resolver


def _resolve_in_time(host: str, port: int) -> list[tuple]:
    """resolve_allowed on a small pool of its own, given up after WEBHOOK_RESOLVE_TIMEOUT_SECONDS:
    the system resolver has no deadline of ours, and a gateway thread must not wait on a slow
    name server (the lookup's thread ends with the resolver's own timeout)."""
    lookup = _resolver_pool().submit(resolve_allowed, host, port)
    seconds = settings.WEBHOOK_RESOLVE_TIMEOUT_SECONDS
    try:
        return lookup.result(timeout=seconds)
    except FutureTimeout:
        lookup.cancel()  # still queued behind slow lookups: never run it
        raise RefusedDestination(f"could not resolve {host} within {seconds:g} s") from None


class _GuardedConnectionMixin(DeadlineConnectionMixin):
    def resolve(self, host: str, port: int) -> list[tuple]:
        try:
            return resolve_allowed(host, port)
        except RefusedDestination as exc:
            raise NewConnectionError(self, f"refused destination: {exc}") from exc


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(DeadlineAdapter):
    pool_classes = {"http": GuardedHTTPConnectionPool, "https": GuardedHTTPSConnectionPool}


_sessions = threading.local()


def guarded_session() -> requests.Session:
    """One session per thread, so deliveries to the same host reuse their connections
    (each new connection is vetted again)."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = deadline_session(GuardedAdapter(max_retries=0))
    return session


def webhook_post(url: str, *, body: bytes, headers: dict[str, str], seconds: float) -> tuple[int, str]:
    """POST through the guard, all of it within `seconds`; returns the status and the first
    1 KiB of the answer. Raises on any failure, DeadlineExceeded once time is up."""
    with hard_deadline(seconds):
        response = guarded_session().post(url, data=body, headers=headers, timeout=seconds,
                                          allow_redirects=False, stream=True)
        try:
            excerpt = response.raw.read(1024, decode_content=True).decode("utf-8", "replace")
        finally:
            response.close()
    return response.status_code, excerpt


def signature_headers(*, webhook_id: str, body: str, secrets: list[str], now: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(webhook_id, now, body) for secret in secrets if secret)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
