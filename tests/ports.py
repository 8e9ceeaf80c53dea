"""Ports for the servers that tests start in another process (`otklik run` listening for webhooks
or health checks), where the test has to name the port before the server binds it.

Asking the kernel for a free port (bind to port 0, close, pass the number on) leaves a gap in which
the kernel may hand the same port to anyone else: another pytest-xdist worker doing the same, or any
outgoing connection, whose local port comes from the same ephemeral range. So the ports come from
below the kernel's ephemeral range, which the kernel never hands out by itself, from a block of its
own for each xdist worker (the serial run has one too), and never twice in one process; a port that
someone else holds already (another test run on this machine) is skipped.
"""

from __future__ import annotations

import os
import random
import socket
from pathlib import Path

BLOCK = 1000  # ports per worker: far more than one worker's tests ask for
_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_given: set[int] = set()


def _ephemeral_low() -> int:
    """The lowest port the kernel picks by itself (Linux's default when the file is absent)."""
    try:
        return int(_RANGE_FILE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _worker_block() -> range:
    """This process's block: the serial run takes the first, xdist worker gwN the (N+2)-th."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    index = int(worker[2:]) + 1 if worker.startswith("gw") and worker[2:].isdigit() else 0
    blocks = max(1, (_ephemeral_low() - 10000) // BLOCK)  # from port 10000 up to the ephemeral range
    start = 10000 + (index % blocks) * BLOCK
    return range(start, start + BLOCK)


def _is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A port on 127.0.0.1 that nobody holds and that no other test of this run will be given."""
    candidates = [port for port in _worker_block() if port not in _given]
    random.SystemRandom().shuffle(candidates)  # two test runs on one machine rarely try the same port at once
    for port in candidates:
        _given.add(port)
        if _is_free(port):
            return port
    raise RuntimeError("no free port left in this worker's block")
