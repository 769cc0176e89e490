"""The real ASGI server (uvicorn) on loopback, the production ASGI application called in
this process (the gateway's tests), and a WebSocket client for tests."""

import asyncio
import threading
import time
from urllib.parse import urlencode

import uvicorn
from asgiref.sync import async_to_sync
from django.conf import settings
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from django.http import HttpResponse
from websockets.sync.client import connect

from portal import jsonutil


class InProcessClient:
    """Requests to `portal.asgi.application` -- the whole production router, the gateway's own
    ASGI path included -- made in this process, as uvicorn would make them. Its
    thread-sensitive work (the database lane among it) runs on the calling thread, as for any
    synchronous caller, so tests on the `db` fixture's transaction see what it writes.
    Answers are Django `HttpResponse`s, as the test client's."""

    def request(self, method: str, path: str, body: bytes = b"", *, query: dict | None = None,
                content_type: str = "application/json", **extra) -> HttpResponse:
        from portal.asgi import application

        headers = [(b"host", b"testserver")]
        if body or method == "POST":
            headers += [(b"content-type", content_type.encode()), (b"content-length", str(len(body)).encode())]
        for key, value in extra.items():
            if key.startswith("HTTP_"):
                headers.append((key[5:].replace("_", "-").lower().encode(), str(value).encode("latin-1")))
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
            "scheme": "http", "path": path, "raw_path": path.encode(), "root_path": "",
            "query_string": urlencode(query or {}, doseq=True).encode(), "headers": headers,
            "client": (extra.get("REMOTE_ADDR", "127.0.0.1"), 50000), "server": ("testserver", 80),
        }

        async def call() -> list[dict]:
            sent: list[dict] = []
            delivered = False

            async def receive() -> dict:
                nonlocal delivered
                if not delivered:
                    delivered = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.get_running_loop().create_future()  # the client never leaves early
                raise AssertionError("unreachable")

            async def send(message: dict) -> None:
                sent.append(message)

            await application(scope, receive, send)
            return sent

        # As Django's test clients do: the request signals must not close the test's connection.
        request_started.disconnect(close_old_connections)
        request_finished.disconnect(close_old_connections)
        try:
            messages = async_to_sync(call)()
        finally:
            request_started.connect(close_old_connections)
            request_finished.connect(close_old_connections)
        start = next(m for m in messages if m["type"] == "http.response.start")
        response = HttpResponse(b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body"),
                                status=start["status"])
        for name, value in start.get("headers", ()):
            response.headers[name.decode("latin-1")] = value.decode("latin-1")
        response.json = lambda: jsonutil.loads(response.content)
        return response


class AsgiServer:
    def __init__(self) -> None:
        config = uvicorn.Config("portal.asgi:application", host="127.0.0.1", port=0, lifespan="on",
                                log_level="warning", ws_max_size=settings.WS_MAX_MESSAGE_BYTES)  # as runportal
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "AsgiServer":
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start")
            time.sleep(0.02)
        self.port = self.server.servers[0].sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)

    @property
    def http(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def socket(self, path: str, **kwargs) -> "Socket":
        return Socket(connect(f"ws://127.0.0.1:{self.port}{path}", open_timeout=10, max_size=None, **kwargs))


class Socket:
    """A WebSocket client that speaks JSON with exact decimals."""

    def __init__(self, connection) -> None:
        self.connection = connection

    def send(self, message) -> None:
        self.connection.send(message if isinstance(message, str | bytes) else jsonutil.dumps(message))

    def recv(self, timeout: float = 10.0) -> dict:
        return jsonutil.loads(self.connection.recv(timeout=timeout))

    def request(self, message) -> dict:
        self.send(message)
        return self.recv()

    def recv_until(self, predicate, timeout: float = 15.0) -> dict:
        """Read messages until one matches (others are skipped)."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("no matching message")
            message = self.recv(timeout=left)
            if predicate(message):
                return message

    def nothing_for(self, seconds: float) -> bool:
        try:
            self.connection.recv(timeout=seconds)
        except TimeoutError:
            return True
        return False

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "Socket":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
