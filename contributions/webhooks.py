"""Calling operators back: where we may connect (SSRF guard) and how we sign.

A webhook URL comes from an API caller, so it must not reach into our own network. A host
is refused when any address it resolves to is loopback, private, link-local, multicast,
reserved, unspecified or otherwise not globally routable -- unless the host name or the
address is allow-listed in settings. The check runs when the URL is accepted and again at
connect time, on the very address the socket then connects to (so a DNS answer cannot
change between the check and the connection). Redirects are never followed.

Signatures follow Standard Webhooks: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the operator's
secret (during a rotation's grace period, both secrets sign).
"""

import ipaddress
import socket
import threading
from datetime import datetime
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from standardwebhooks import Webhook
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NewConnectionError

from portal.errors import invalid_value


class RefusedDestination(Exception):
    """The webhook host resolves to an address we do not call."""


def _allowed_networks() -> list:
    return [ipaddress.ip_network(n, strict=False) for n in settings.WEBHOOK_ALLOWED_NETWORKS]


def address_refused(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why this address may not be called, or None if it may."""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if any(ip in network for network in _allowed_networks()):
        return None
    for label, flag in (("loopback", ip.is_loopback), ("private", ip.is_private),
                        ("link-local", ip.is_link_local), ("multicast", ip.is_multicast),
                        ("reserved", ip.is_reserved), ("unspecified", ip.is_unspecified)):
        if flag:
            return label
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


def webhook_url_check(url: str) -> str:
    """Accept-time check of a callback URL: INVALID_PROPERTY_VALUE if we would not call it."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise invalid_value(f"callback.web_hook is not a valid URL: {exc}") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise invalid_value("callback.web_hook must be an absolute http(s) URL")
    if parts.username or parts.password:
        raise invalid_value("callback.web_hook must not carry credentials")
    try:
        resolve_allowed(parts.hostname, port)
    except RefusedDestination as exc:
        raise invalid_value(f"callback.web_hook refused: {exc}") from exc
    return url


class _GuardedConnectionMixin:
    def _new_conn(self) -> socket.socket:
        try:
            infos = resolve_allowed(self._dns_host, self.port)
        except RefusedDestination as exc:
            raise NewConnectionError(self, f"refused destination: {exc}") from exc
        last_error: OSError | None = None
        for family, socktype, proto, _, address in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                if self.timeout is not None:
                    sock.settimeout(self.timeout)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.connect(address)  # the vetted address itself, not a second lookup
                return sock
            except OSError as exc:
                last_error = exc
                sock.close()
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")


class GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        self.poolmanager = PoolManager(num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPConnectionPool,
                                                   "https": GuardedHTTPSConnectionPool}


_sessions = threading.local()


def guarded_session() -> requests.Session:
    """One session per thread, so deliveries to the same host reuse their connections
    (each new connection is vetted again)."""
    session = getattr(_sessions, "session", None)
    if session is None:
        session = _sessions.session = _new_session()
    return session


def _new_session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False  # no proxies from the environment: we decide where we connect
    adapter = GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def signature_headers(*, webhook_id: str, body: str, secrets: list[str], now: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(webhook_id, now, body) for secret in secrets if secret)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
