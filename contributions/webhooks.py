"""Calling operators back: where we may connect (SSRF guard) and how we sign.

A webhook URL comes from an API caller, so it must not reach into our own network. A host
is refused when any address it resolves to is loopback, private, link-local, multicast,
reserved, unspecified or otherwise not globally routable -- unless the host name or the
address is allow-listed in settings. The check runs when the URL is accepted and again at
connect time, on the very address the socket then connects to (so a DNS answer cannot
change between the check and the connection). Redirects are never followed. IPv6 forms that
carry an IPv4 address are judged by that address (IPv4-mapped, NAT64) or refused (6to4,
Teredo, IPv4-compatible), so `2002:7f00:1::` cannot stand in for 127.0.0.1.

An attempt has a hard deadline (`Deadline`): name lookup, connecting, sending and reading
the answer all end when it passes, however slowly the receiver trickles its bytes.

Signatures follow Standard Webhooks: `webhook-id`, `webhook-timestamp` and
`webhook-signature: v1,<base64 HMAC-SHA256 of "id.timestamp.body">` with the operator's
secret (during a rotation's grace period, both secrets sign).
"""

import contextlib
import ipaddress
import socket
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
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


class DeadlineExceeded(TimeoutError):
    """The attempt's time is up."""


class Deadline:
    """A wall-clock limit on one attempt: name lookup, connecting, sending, reading the answer.

    Socket timeouts bound each read, not the attempt (a receiver trickling one byte at a time
    resets them), so when time is up a timer shuts down every socket the attempt uses, and
    whatever it is blocked on (TLS handshake, send, read) ends at once. The timer holds its
    own duplicate of each descriptor, so it never touches one the connection has closed and
    the system has handed to someone else."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._handles: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def over(self) -> bool:
        return self.expired or time.monotonic() >= self._at

    def remaining(self) -> float:
        left = self._at - time.monotonic()
        if self.expired or left <= 0:
            raise DeadlineExceeded(f"no complete answer within {self.seconds:g} s")
        return left

    def watch(self, sock: socket.socket) -> None:
        handle = socket.fromfd(sock.fileno(), sock.family, sock.type)
        with self._lock:
            if not self.expired:
                self._handles.append(handle)
                return
        handle.close()
        self.remaining()  # raises

    def _expire(self) -> None:
        with self._lock:
            self.expired = True
            for handle in self._handles:
                with contextlib.suppress(OSError):
                    handle.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> "Deadline":
        _attempt.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        _attempt.deadline = None
        with self._lock:
            for handle in self._handles:
                handle.close()
            self._handles.clear()


_attempt = threading.local()


def _current_deadline() -> Deadline | None:
    return getattr(_attempt, "deadline", None)


def _resolve_within(deadline: Deadline | None, host: str, port: int) -> list[tuple]:
    """resolve_allowed, given up at the deadline: a name server that never answers is another
    way to hold an attempt (the lookup's thread then ends with the resolver's own timeout)."""
    if deadline is None:
        return resolve_allowed(host, port)
    lookup: Future = Future()

    def run() -> None:
        try:
            lookup.set_result(resolve_allowed(host, port))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting attempt
            lookup.set_exception(exc)

    threading.Thread(target=run, name="webhook-dns", daemon=True).start()
    try:
        return lookup.result(timeout=deadline.remaining())
    except FutureTimeout:
        raise DeadlineExceeded(f"resolving {host} took longer than {deadline.seconds:g} s") from None


class _GuardedConnectionMixin:
    def _new_conn(self) -> socket.socket:
        deadline = _current_deadline()
        try:
            infos = _resolve_within(deadline, self._dns_host, self.port)
        except RefusedDestination as exc:
            raise NewConnectionError(self, f"refused destination: {exc}") from exc
        last_error: OSError | None = None
        for family, socktype, proto, _, address in infos:
            sock = socket.socket(family, socktype, proto)
            try:
                timeout = self.timeout
                if deadline is not None:
                    deadline.watch(sock)
                    timeout = min(timeout or deadline.seconds, deadline.remaining())
                if timeout is not None:
                    sock.settimeout(timeout)
                for option in self.socket_options or ():
                    sock.setsockopt(*option)
                sock.connect(address)  # the vetted address itself, not a second lookup
                if deadline is not None:
                    deadline.remaining()  # time ran out while connecting (a shutdown does not stop a connect)
                return sock
            except OSError as exc:
                last_error = exc
                sock.close()
                if isinstance(exc, DeadlineExceeded):
                    raise
        raise NewConnectionError(self, f"Failed to establish a new connection: {last_error}")

    def request(self, *args, **kwargs) -> None:
        # A kept-alive connection joins this attempt's deadline (a new one did in _new_conn).
        deadline = _current_deadline()
        if deadline is not None and self.sock is not None:
            deadline.watch(self.sock)
        return super().request(*args, **kwargs)


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


def webhook_post(url: str, *, body: bytes, headers: dict[str, str], seconds: float) -> tuple[int, str]:
    """POST through the guard, all of it within `seconds`; returns the status and the first
    1 KiB of the answer. Raises on any failure, DeadlineExceeded once time is up."""
    with Deadline(seconds) as deadline:
        try:
            response = guarded_session().post(url, data=body, headers=headers, timeout=seconds,
                                              allow_redirects=False, stream=True)
            try:
                excerpt = response.raw.read(1024, decode_content=True).decode("utf-8", "replace")
            finally:
                response.close()
            if deadline.expired:  # cut off: http.client takes an answer cut short for a whole one
                raise DeadlineExceeded(f"no complete answer within {seconds:g} s")
        except Exception as exc:
            if deadline.over():
                raise DeadlineExceeded(f"no complete answer within {seconds:g} s") from exc
            raise
    return response.status_code, excerpt


def signature_headers(*, webhook_id: str, body: str, secrets: list[str], now: datetime) -> dict[str, str]:
    signatures = " ".join(Webhook(secret).sign(webhook_id, now, body) for secret in secrets if secret)
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signatures,
    }
