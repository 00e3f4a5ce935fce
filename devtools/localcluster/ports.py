"""Loopback ports for the processes the tests and benches start.

A port the kernel hands out for ``bind(("127.0.0.1", 0))`` comes from the
ephemeral range, the same range every outgoing connection takes its local
port from. Between closing the probe socket and the child binding the port,
any client connection on the machine (a watch to kube-apiserver, an etcd
peer, a test's HTTP session) may take it, and the child dies with EADDRINUSE.
So ports are picked below the ephemeral range, where only listeners that
choose their port bind, and never handed out twice by one process.
"""

from __future__ import annotations

import random
import socket
import threading
from pathlib import Path

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_SPAN = 10_000
_FALLBACK = (20_000, 30_000)

_lock = threading.Lock()
_handed_out: set[int] = set()


def listener_range(range_text: str | None) -> tuple[int, int]:
    """The [low, high) block of ports to pick from, below the ephemeral range."""
    if not range_text:
        return _FALLBACK
    try:
        low = int(range_text.split()[0])
    except (ValueError, IndexError):
        return _FALLBACK
    if low - _SPAN < 1024:
        return _FALLBACK
    return low - _SPAN, low


def _ephemeral_text() -> str | None:
    try:
        return _RANGE_FILE.read_text()
    except OSError:
        return None


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A loopback port nothing listens on, outside the ephemeral range."""
    low, high = listener_range(_ephemeral_text())
    rng = random.SystemRandom()
    with _lock:
        for _ in range(500):
            port = rng.randrange(low, high)
            if port in _handed_out or not _bindable(port):
                continue
            _handed_out.add(port)
            return port
    raise RuntimeError(f"no free loopback port in [{low}, {high})")
