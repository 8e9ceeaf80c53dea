"""`make bench`: every benchmark in one run, each in its own process (memory peaks stay apart).

python -m bench            # all
python -m bench answers    # one
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys

BENCHES = ["answers", "mailing", "export"]


def main(argv: list[str]) -> int:
    chosen = argv or BENCHES
    status = 0
    for name in chosen:
        if importlib.util.find_spec(f"bench.{name}") is None:
            print(f"{name}: no such benchmark (known: {', '.join(BENCHES)})", file=sys.stderr)
            status = 2
            continue
        print(f"== {name}", flush=True)
        status |= subprocess.call([sys.executable, "-m", f"bench.{name}"])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
