"""Run one `otklik` command and print its own peak RSS as the last line (JSON).

    python -m bench.cli_probe --database URL export --out x.csv

Imports nothing but the command line itself, so the peak is what the command costs a user.
"""

from __future__ import annotations

import json
import resource
import sys
from pathlib import Path


def peak_rss_mb() -> float:
    """This process's own peak RSS. On Linux ru_maxrss survives fork and exec, so a process
    started by a big one (the bench's seeding) would report that one's peak; VmHWM is ours only."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    kilobytes = next(line.split()[1] for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(kilobytes) / 1024


def main() -> int:
    from bot.cli.main import main as otklik

    code = otklik(sys.argv[1:])
    print(json.dumps({"code": code, "peak_rss_mb": round(peak_rss_mb(), 1)}))
    return code


if __name__ == "__main__":
    sys.exit(main())
