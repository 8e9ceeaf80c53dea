"""On SQLite only one `otklik run` may use a database file: a second one is refused clearly.

SQLite serialises writers inside one process (see Storage); two processes would fight over the
file lock and the scheduler and mailing sender would run twice. PostgreSQL deployments may run
several workers instead (leader election decides who runs the scheduler).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import IO

from sqlalchemy.engine import make_url

from bot.errors import UsageError


class ProcessLock:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = self.path.open("a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            owner = handle.read().strip() or "?"
            handle.close()
            raise UsageError(
                f"База {self.path.with_suffix('')} уже используется другим процессом otklik run "
                f"(PID {owner}). На SQLite работает один процесс; для нескольких используйте PostgreSQL."
            ) from None
        handle.seek(0)
        handle.truncate()
        handle.write(str(os.getpid()))
        handle.flush()
        self._file = handle

    def release(self) -> None:
        if self._file is not None:
            fcntl.flock(self._file, fcntl.LOCK_UN)
            self._file.close()
            self._file = None


def sqlite_lock(url: str) -> ProcessLock | None:
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    database = Path(parsed.database).expanduser().resolve()
    return ProcessLock(database.with_name(database.name + ".lock"))
