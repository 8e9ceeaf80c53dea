"""Files the CLI writes (exports, reports, backups): all or nothing, and a clear line when the place
cannot be written.

Each file is written to a temporary file in the same folder and renamed over the target only when
it is complete, so a failure (no permission, a full disk, a database error mid-export, Ctrl+C)
never leaves a half-written file that looks like a good one.
"""

from __future__ import annotations

import errno
import gc
import os
import sys
import tempfile
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.errors import UsageError

_REASONS = {
    errno.EACCES: "нет прав на запись",
    errno.EPERM: "нет прав на запись",
    errno.EROFS: "файловая система только для чтения",
    errno.ENOSPC: "нет места на диске",
    errno.EDQUOT: "превышена дисковая квота",
    errno.ENOENT: "нет такого файла или папки",
    errno.EFBIG: "файл больше допустимого размера",
    errno.ENOTDIR: "в пути есть файл, а не папка",
    errno.EISDIR: "на этом месте папка",
    errno.ENAMETOOLONG: "слишком длинное имя",
}


def reason(exc: OSError) -> str:
    """Why a write failed, in Russian (the system's own text is English)."""
    return _REASONS.get(exc.errno or 0, exc.strerror or type(exc).__name__)


def check_target(out: Path, flag: str, *, overwrite: bool = True) -> None:
    if out.is_dir():
        raise UsageError(f"{flag}: {out} — это папка, а нужен файл")
    if not overwrite and (out.exists() or out.is_symlink()):
        raise UsageError(f"{flag}: файл {out} уже существует: укажите новый, чтобы не затереть прежний")
    parent = out.parent
    if not parent.is_dir():
        raise UsageError(f"{flag}: папка {parent} не существует: создайте ее или укажите другой путь")


@contextmanager
def write_errors_reported(out: Path, flag: str = "--out") -> Iterator[None]:
    """Check the target first; a write that fails in the block becomes one Russian line.

    For writers that already write to a temporary file and rename it (reports.files).
    """
    check_target(out, flag)
    try:
        yield
    except OSError as exc:
        _release_writer(exc)
        raise UsageError(f"{flag}: не удалось записать {out}: {reason(exc)}; файл не создан") from None


@contextmanager
def atomic_output(out: Path, flag: str = "--out", *, overwrite: bool = True) -> Iterator[Path]:
    """A fresh temporary path next to `out` (mode 0600); renamed to `out` when the block succeeds."""
    check_target(out, flag, overwrite=overwrite)
    try:
        # Keep the suffix: writers such as openpyxl look at it.
        fd, name = tempfile.mkstemp(prefix=f".{out.stem}-", suffix=out.suffix or ".part", dir=out.parent)
    except OSError as exc:
        raise UsageError(f"{flag}: нельзя записать файл в папку {out.parent}: {reason(exc)}") from None
    try:
        os.fchmod(fd, 0o600)  # personal data; a umask like 0o200 would also leave it unwritable
    finally:
        os.close(fd)
    temporary = Path(name)
    try:
        with write_errors_reported(out, flag):
            yield temporary
            os.replace(temporary, out)
    finally:
        temporary.unlink(missing_ok=True)


def _release_writer(exc: BaseException) -> None:
    """Free a writer that failed mid-file now, its own clean-up errors silenced.

    openpyxl's streaming writer leaves generators that fail again when they are collected, which
    Python prints as "Exception ignored in …" with a traceback; the failure is already reported.
    """
    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None
    try:
        traceback.clear_frames(exc.__traceback__)
        gc.collect()
    finally:
        sys.unraisablehook = hook


def writable_folder(folder: Path, flag: str) -> None:
    """Create `folder` (with parents) for several output files, or say why it cannot be used."""
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{flag}: {folder} — это файл, а нужна папка")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".otklik-probe-"):
            pass
    except OSError as exc:
        raise UsageError(f"{flag}: нельзя записать в папку {folder}: {reason(exc)}") from None
