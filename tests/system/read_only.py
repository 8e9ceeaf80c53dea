"""Making a database file read-only for a test, also when the tests run as root.

root ignores file modes, so there the file gets the immutable attribute instead (`chattr +i`):
opening it for writing then fails for root too, as a 0444 file does for anyone else.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


def make_read_only(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o444)
        return
    done = subprocess.run(["chattr", "+i", str(path)], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot make {path} read-only for root here: {done.stderr.strip()}")


def make_writable(path: Path) -> None:
    if os.geteuid() != 0:
        path.chmod(0o644)
        return
    subprocess.run(["chattr", "-i", str(path)], check=True)


@contextlib.contextmanager
def read_only(path: Path) -> Iterator[None]:
    """Read-only inside; writable again afterwards, also when the test fails inside."""
    make_read_only(path)
    try:
        yield
    finally:
        make_writable(path)
