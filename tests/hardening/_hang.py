"""TCP endpoints on 127.0.0.1 that accept connections and never answer, or stop answering."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress


class _Server:
    def __init__(self, handle) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.closed = threading.Event()
        self.connections: list[socket.socket] = []
        self._handle = handle
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _accept(self) -> None:
        while not self.closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except (TimeoutError, OSError):
                continue
            self.connections.append(conn)
            threading.Thread(target=self._handle, args=(self, conn), daemon=True).start()

    def close(self) -> None:
        self.closed.set()
        for conn in self.connections:
            conn.close()
        self.sock.close()


def _swallow(server: _Server, conn: socket.socket) -> None:
    """Read whatever comes and never write a byte back."""
    conn.settimeout(0.2)
    while not server.closed.is_set():
        try:
            if not conn.recv(65536):
                return
        except TimeoutError:
            continue
        except OSError:
            return


@contextmanager
def silent_endpoint() -> Iterator[_Server]:
    """Accepts every connection, reads the request, never answers."""
    server = _Server(_swallow)
    try:
        yield server
    finally:
        server.close()


@contextmanager
def switchable_proxy(target_port: int) -> Iterator[tuple[_Server, threading.Event]]:
    """Forwards to 127.0.0.1:target_port until the event is set; from then on every
    connection, open or new, swallows requests and answers nothing."""
    hang = threading.Event()

    def pump(src: socket.socket, dst: socket.socket, server: _Server) -> None:
        src.settimeout(0.2)
        while not server.closed.is_set():
            try:
                data = src.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not data:
                break
            if hang.is_set():
                continue  # swallowed
            try:
                dst.sendall(data)
            except OSError:
                break
        for s in (src, dst):
            with suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def handle(server: _Server, conn: socket.socket) -> None:
        if hang.is_set():
            _swallow(server, conn)
            return
        upstream = socket.create_connection(("127.0.0.1", target_port))
        server.connections.append(upstream)
        threading.Thread(target=pump, args=(upstream, conn, server), daemon=True).start()
        pump(conn, upstream, server)

    server = _Server(handle)
    try:
        yield server, hang
    finally:
        server.close()
