"""A real HTTP server on loopback that receives webhooks (or plays an operator's server)."""

import base64
import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    client: tuple = ()  # (host, port) it came from: one port per connection


class Receiver:
    """Answers each POST with the next scripted status (then 200) and records what it got."""

    def __init__(self, statuses: list[int] | None = None, redirect_to: str | None = None, keep_alive: bool = False):
        self.statuses = list(statuses or [])
        self.redirect_to = redirect_to
        self.received: list[Received] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.received.append(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, body,
                                                      self.client_address))
                    status = receiver.statuses.pop(0) if receiver.statuses else 200
                receiver.answer(self, status)

            def log_message(self, *args):
                pass

        if keep_alive:
            Handler.protocol_version = "HTTP/1.1"
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def answer(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        handler.send_response(status)
        if self.redirect_to:
            handler.send_header("Location", self.redirect_to)
        answer = b'{"ok": true}' if status < 300 else b"x" * 5000
        handler.send_header("Content-Length", str(len(answer)))
        handler.end_headers()
        handler.wfile.write(answer)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/webhook"

    def __enter__(self) -> "Receiver":
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if len(self.received) >= count:
                    return list(self.received)
            time.sleep(0.05)
        raise AssertionError(f"expected {count} requests, got {len(self.received)}")


class TricklingReceiver(Receiver):
    """A slow receiver: after answering `after` requests at once, it answers the next `slow`
    (all of them if None) one header byte every `every` seconds -- so no single read of the
    caller ever times out -- until `release` is set, then finishes with 200. Counts the
    answers it is in the middle of (`held`) and those the caller gave up on (`dropped`: the
    connection was closed on it)."""

    def __init__(self, slow: int | None = None, every: float = 0.05, after: int = 0, keep_alive: bool = False):
        super().__init__(keep_alive=keep_alive)
        self.slow, self.every, self.after = slow, every, after
        self.release = threading.Event()
        self.held = self.dropped = self.trickled = 0
        self._answered = 0
        self._changed = threading.Condition(self._lock)

    def answer(self, handler: BaseHTTPRequestHandler, status: int) -> None:
        with self._lock:
            index, self._answered = self._answered, self._answered + 1
            trickle = index >= self.after and (self.slow is None or index < self.after + self.slow)
            self.held += trickle
        if not trickle:
            return super().answer(handler, status)
        try:
            handler.wfile.write(b"HTTP/1.1 200 OK\r\nX-Trickle: ")
            while not self.release.wait(self.every):
                handler.wfile.write(b"a")
                with self._lock:
                    self.trickled += 1
            handler.wfile.write(b'\r\nContent-Length: 12\r\nConnection: close\r\n\r\n{"ok": true}')
        except OSError:
            with self._lock:
                self.dropped += 1
        finally:
            with self._changed:
                self.held -= 1
                self._changed.notify_all()

    def wait_until(self, condition, timeout: float = 10.0) -> None:
        """Wait until condition(self) holds (checked whenever an answer starts or ends)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while not condition(self):
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"timed out: held={self.held} dropped={self.dropped} "
                                         f"received={len(self.received)}")
                self._changed.wait(min(left, 0.05))

    def __exit__(self, *exc) -> None:
        self.release.set()
        super().__exit__(*exc)


def with_callback(body: dict, url: str, win_result_only: bool = False) -> dict:
    return {**body, "callback": {"web_hook": url, "win_result_only": win_result_only}}


def verify_signature(received, secret: str) -> None:
    """Check the signature twice: with the Standard Webhooks library and by hand."""
    Webhook(secret).verify(received.body, received.headers)
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}.".encode() + received.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    assert f"v1,{expected}" in received.headers["webhook-signature"].split(" ")
