"""`python -m bench [telegram|matrix|receptions|reports …]`: run the named benchmarks (all by default),
each in its own interpreter so one's imports and memory don't colour another's figures."""

from __future__ import annotations

import subprocess
import sys

BENCHES = {
    "receptions": "bench.reception_bench",
    "reports": "bench.reports_bench",
    "telegram": "bench.telegram_bench",
    "matrix": "bench.matrix_bench",
}


def main(argv: list[str]) -> int:
    names = argv or list(BENCHES)
    unknown = [name for name in names if name not in BENCHES]
    if unknown:
        print(f"unknown benchmark(s): {', '.join(unknown)}; choose from {', '.join(BENCHES)}", file=sys.stderr)
        return 2
    status = 0
    for name in names:
        print(f"== {name}", flush=True)
        status |= subprocess.call([sys.executable, "-m", BENCHES[name]])
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
