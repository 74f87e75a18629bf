"""A tiny TCP proxy on 127.0.0.1 that a test can stall, resume or cut, to fake network faults.

``stall()`` stops forwarding in both directions while every socket stays open: the peer's kernel
still acknowledges packets, so to the client it looks like a hung middlebox (a frozen pooler, a
stuck cloud SQL proxy), which TCP keepalives cannot see.  ``cut()`` resets every open connection.
"""

from __future__ import annotations

import contextlib
import select
import socket
import struct
import threading
from collections.abc import Iterator


class Proxy:
    """Forwards 127.0.0.1:``port`` to ``target``; one thread per direction per connection."""

    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port: int = self._listener.getsockname()[1]
        self._forwarding = threading.Event()
        self._forwarding.set()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._pairs: list[tuple[socket.socket, socket.socket]] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._accept_loop, name="proxy-accept", daemon=True)
        self._thread.start()

    # -------------------------------------------------------------- controls

    def stall(self) -> None:
        """Stop forwarding; connections stay open and new ones are accepted but never answered."""
        self._forwarding.clear()

    def resume(self) -> None:
        self._forwarding.set()

    def cut(self) -> None:
        """Reset every open connection (RST), as a dropped NAT entry or a killed pooler would."""
        with self._lock:
            pairs, self._pairs = self._pairs, []
        for pair in pairs:
            for s in pair:
                _reset(s)

    def close(self) -> None:
        self._closed.set()
        self._forwarding.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.cut()
        self._thread.join(timeout=5)

    # -------------------------------------------------------------- plumbing

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                ready, _, _ = select.select([self._listener], [], [], 0.1)
                if not ready:
                    continue
                client, _ = self._listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
                upstream.settimeout(None)
            except OSError:
                _reset(client)
                continue
            with self._lock:
                self._pairs.append((client, upstream))
                self.accepted += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), name="proxy-pump", daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket) -> None:
        while not self._closed.is_set():
            if not self._forwarding.wait(timeout=0.1):
                continue
            try:
                ready, _, _ = select.select([src], [], [], 0.1)
                if not ready:
                    continue
                if not self._forwarding.is_set():
                    continue  # stalled between select and recv: leave the bytes in the kernel
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
            except (OSError, ValueError):
                break
        for s in (src, dst):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                s.close()


def _reset(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        s.close()


@contextlib.contextmanager
def running_proxy(target_port: int) -> Iterator[Proxy]:
    proxy = Proxy(target_port)
    try:
        yield proxy
    finally:
        proxy.close()
