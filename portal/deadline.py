"""Hard deadlines on HTTP calls to operators' systems (webhook receivers, wallets).

Socket timeouts bound each read, not a call: a server that trickles one byte at a time (in
its headers, its body or a TLS handshake) resets them and can hold a call for as long as it
likes. Within `hard_deadline(seconds)`, a timer shuts down every socket the call uses when
time is up, so whatever it is blocked on (name lookup aside, connecting, TLS, sending,
reading) ends at once; the call then raises DeadlineExceeded, also when http.client took the
answer cut short by the shutdown for a whole one. Sessions from `deadline_session` carry the
connections that join the deadline of the thread's current call.
"""

import contextlib
import ipaddress
import socket
import threading
import time
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout

import requests
from requests.adapters import HTTPAdapter
from urllib3 import PoolManager
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import NameResolutionError, NewConnectionError


class DeadlineExceeded(TimeoutError):
    """The call's time is up."""


class Deadline:
    """A wall-clock limit on one call: name lookup, connecting, sending, reading the answer.

    When time is up a timer shuts down every socket the call uses. The timer holds its own
    duplicate of each descriptor, so it never touches one the connection has closed and the
    system has handed to someone else."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.expired = False
        self._at = time.monotonic() + seconds
        self._lock = threading.Lock()
        self._handles: list[socket.socket] = []
        self._timer = threading.Timer(seconds, self._expire)
        self._timer.daemon = True

    def exceeded(self) -> DeadlineExceeded:
        return DeadlineExceeded(f"no complete answer within {self.seconds:.3g} s")

    def over(self) -> bool:
        return self.expired or time.monotonic() >= self._at

    def remaining(self) -> float:
        left = self._at - time.monotonic()
        if self.expired or left <= 0:
            raise self.exceeded()
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
        _call.deadline = self
        self._timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self._timer.cancel()
        _call.deadline = None
        with self._lock:
            for handle in self._handles:
                handle.close()
            self._handles.clear()


_call = threading.local()


def current_deadline() -> Deadline | None:
    return getattr(_call, "deadline", None)


@contextlib.contextmanager
def hard_deadline(seconds: float):
    """Run an HTTP call (through a `deadline_session`), reading its answer, inside this block:
    it ends within `seconds` or raises DeadlineExceeded, whatever the server trickles."""
    with Deadline(seconds) as deadline:
        try:
            yield deadline
        except Exception as exc:
            if deadline.over():  # whatever broke, it broke because the sockets were shut down
                raise deadline.exceeded() from exc
            raise
        if deadline.expired:  # cut off: http.client takes an answer cut short for a whole one
            raise deadline.exceeded()


def resolve_within(deadline: Deadline | None, resolve, host: str, port: int) -> list[tuple]:
    """resolve(host, port), given up at the deadline: a name server that never answers is
    another way to hold a call (the lookup's thread then ends with the resolver's own timeout)."""
    try:
        ipaddress.ip_address(host.strip("[]"))
        literal = True  # nothing to look up: no thread needed
    except ValueError:
        literal = False
    if deadline is None or literal:
        return resolve(host, port)
    lookup: Future = Future()

    def run() -> None:
        try:
            lookup.set_result(resolve(host, port))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting call
            lookup.set_exception(exc)

    threading.Thread(target=run, name="deadline-dns", daemon=True).start()
    try:
        return lookup.result(timeout=deadline.remaining())
    except FutureTimeout:
        raise DeadlineExceeded(f"resolving {host} took longer than {deadline.seconds:.3g} s") from None


class DeadlineConnectionMixin:
    """Connections that join the current call's deadline. `resolve` is the hook to vet where
    we connect: the socket connects to the very addresses it returns (no second lookup)."""

    def resolve(self, host: str, port: int) -> list[tuple]:
        return socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)

    def _new_conn(self) -> socket.socket:
        deadline = current_deadline()
        try:
            infos = resolve_within(deadline, self.resolve, self._dns_host, self.port)
        except socket.gaierror as exc:
            raise NameResolutionError(self.host, self, exc) from exc
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
                sock.connect(address)
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
        # A kept-alive connection joins this call's deadline (a new one did in _new_conn).
        deadline = current_deadline()
        if deadline is not None and self.sock is not None:
            deadline.watch(self.sock)
        return super().request(*args, **kwargs)


class DeadlineHTTPConnection(DeadlineConnectionMixin, HTTPConnection):
    pass


class DeadlineHTTPSConnection(DeadlineConnectionMixin, HTTPSConnection):
    pass


class DeadlineHTTPConnectionPool(HTTPConnectionPool):
    ConnectionCls = DeadlineHTTPConnection


class DeadlineHTTPSConnectionPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


class DeadlineAdapter(HTTPAdapter):
    pool_classes = {"http": DeadlineHTTPConnectionPool, "https": DeadlineHTTPSConnectionPool}

    def init_poolmanager(self, connections, maxsize, block=False, **pool_kwargs):
        self.poolmanager = PoolManager(num_pools=connections, maxsize=maxsize, block=block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = dict(self.pool_classes)


def deadline_session(adapter: HTTPAdapter | None = None) -> requests.Session:
    """A session whose connections join the calling thread's deadline; no proxies from the
    environment (we decide where we connect) and no retries of its own."""
    session = requests.Session()
    session.trust_env = False
    adapter = adapter or DeadlineAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session
