"""On SQLite only one `otklik run` may use a database file: a second one is refused clearly.

SQLite serialises writers inside one process (see Storage); two processes would fight over the
file lock and the scheduler and mailing sender would run twice. PostgreSQL deployments may run
several workers instead (leader election decides who runs the scheduler).

The lock is an flock() on the database file itself, so it belongs to the file (its inode), not to
the name it was reached by: a hard link, a symlink or a relative path to the same file is refused
too. flock() locks are independent of the fcntl() byte-range locks SQLite takes on the same file,
so they do not disturb SQLite's own locking.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from sqlalchemy.engine import make_url

from bot.errors import UsageError
from storage.db import create_private

PROC_LOCKS = Path("/proc/locks")


class ProcessLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # An empty file is a valid new SQLite database, created 0600 as Storage would.
            create_private(self.path)
            fd = os.open(self.path, os.O_RDWR | os.O_CLOEXEC)
        except OSError as exc:
            raise UsageError(f"Не удалось открыть базу {self.path}: {exc.strerror or exc}") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = holder_pid(os.fstat(fd))
            os.close(fd)
            raise UsageError(
                f"База {self.path} уже используется другим процессом otklik run "
                f"(PID {owner or '?'}). На SQLite работает один процесс; для нескольких используйте PostgreSQL."
            ) from None
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def holder_pid(stat: os.stat_result, locks_table: Path = PROC_LOCKS) -> int | None:
    """The process holding an flock() on the file of `stat` (Linux /proc/locks), if known."""
    device = f"{os.major(stat.st_dev):02x}:{os.minor(stat.st_dev):02x}:{stat.st_ino}"
    try:
        lines = locks_table.read_text(encoding="ascii", errors="replace").splitlines()
    except OSError:
        return None
    for line in lines:
        # "1: FLOCK  ADVISORY  WRITE 4242 fd:01:1466568 0 EOF"; blocked waiters are marked "->".
        fields = line.split()
        if len(fields) >= 6 and fields[1] == "FLOCK" and fields[5] == device and fields[4].isdigit():
            return int(fields[4])
    return None


def sqlite_lock(url: str) -> ProcessLock | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return ProcessLock(Path(parsed.database).expanduser().absolute())
