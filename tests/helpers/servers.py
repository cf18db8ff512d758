"""Local network servers on 127.0.0.1 (ephemeral ports, daemon threads) standing in for cameras and hosts."""
from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class SilentServer:
    """A TCP server that accepts connections and never answers. ``accepted`` is set at the first one."""

    port: int
    accepted: threading.Event = field(default_factory=threading.Event)
    accepted_at: float | None = None  # time.monotonic() of the first connection

    def url(self, scheme: str = "http", path: str = "/video.mp4") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"


@contextmanager
def silent_server(lifetime: float = 60.0) -> Iterator[SilentServer]:
    """Run a :class:`SilentServer` for the block, and at most ``lifetime`` seconds; then every socket is closed."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    listener.settimeout(0.2)
    server = SilentServer(listener.getsockname()[1])
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        deadline = time.monotonic() + lifetime
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)  # kept open, never read or written
            if server.accepted_at is None:
                server.accepted_at = time.monotonic()
                server.accepted.set()
        for conn in held:
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        stop.set()
        thread.join(timeout=5)
        listener.close()


def serve_once(data: bytes, content_type: str = "video/mp2t") -> int:
    """An HTTP server on 127.0.0.1 that streams ``data`` to one client, then is gone (refuses more).

    Returns its port.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)

    def serve() -> None:
        conn, _ = listener.accept()
        listener.close()  # from now on, connections are refused: the camera is gone
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(f"HTTP/1.0 200 OK\r\nContent-Type: {content_type}\r\n\r\n".encode() + data)
            except OSError:
                pass

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]
