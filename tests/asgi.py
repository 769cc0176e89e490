"""The real ASGI server (uvicorn) on loopback, and a WebSocket client for tests."""

import threading
import time

import uvicorn
from django.conf import settings
from websockets.sync.client import connect

from portal import jsonutil


class AsgiServer:
    def __init__(self) -> None:
        config = uvicorn.Config("portal.asgi:application", host="127.0.0.1", port=0, lifespan="off",
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
