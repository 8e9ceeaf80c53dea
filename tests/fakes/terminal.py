"""A program run in a pseudo-terminal, as a person at a terminal runs it (stdlib `pty`)."""

from __future__ import annotations

import fcntl
import os
import pty
import select
import signal
import struct
import termios
import time
from collections.abc import Sequence


class Terminal:
    def __init__(
        self, argv: Sequence[str], cwd: str, env: dict[str, str] | None = None, stdout: str | None = None
    ) -> None:
        """`stdout`: a file for the program's stdout, so that the terminal shows only stderr."""
        pid, fd = pty.fork()
        if pid == 0:  # the child: the pty is its controlling terminal, Ctrl+C there is SIGINT
            try:
                # A terminal's usual size: a fresh pty is 0×0, which no real terminal reports.
                fcntl.ioctl(0, termios.TIOCSWINSZ, struct.pack("HHHH", 30, 100, 0, 0))
                os.chdir(cwd)
                if stdout is not None:
                    os.dup2(os.open(stdout, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), 1)
                os.execve(argv[0], list(argv), env if env is not None else dict(os.environ))
            finally:
                os._exit(127)
        self.pid, self.fd = pid, fd
        self.output = b""
        self.status: int | None = None

    @property
    def text(self) -> str:
        return self.output.decode("utf-8", errors="replace")

    def _pump(self, timeout: float) -> bool:
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return False
        try:
            chunk = os.read(self.fd, 65536)
        except OSError:  # EIO: the child closed the terminal
            return False
        self.output += chunk
        return bool(chunk)

    def expect(self, needle: str, timeout: float = 60, start: int = 0) -> int:
        """Wait until `needle` appears in the output after byte `start`; its end offset."""
        wanted = needle.encode()
        deadline = time.monotonic() + timeout
        while (at := self.output.find(wanted, start)) < 0:
            if time.monotonic() > deadline or (not self._pump(0.1) and self.poll() is not None):
                raise AssertionError(f"{needle!r} not seen; output:\n{self.text[-3000:]}")
        return at + len(wanted)

    def send(self, data: str) -> None:
        os.write(self.fd, data.encode())

    def poll(self) -> int | None:
        if self.status is None:
            pid, status = os.waitpid(self.pid, os.WNOHANG)
            if pid:
                self.status = os.waitstatus_to_exitcode(status)
        return self.status

    def wait(self, timeout: float) -> int | None:
        """The exit code, or None if the program still runs after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while self.poll() is None and time.monotonic() < deadline:
            self._pump(0.05)
        while self._pump(0.05):  # what was printed last
            pass
        return self.status

    def close(self) -> None:
        if self.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        os.close(self.fd)
