"""Run every benchmark in this folder in turn (`make bench`). Needs DATABASE_URL=postgres://...

Each script prints its own figures; see the README for the latest numbers.
"""

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ORDER = ["audit_bench.py", "pages_bench.py"]


def main() -> int:
    if not os.environ.get("DATABASE_URL", "").startswith("postgres"):
        print("Benchmarks target PostgreSQL: set DATABASE_URL=postgres://.../opsportal_bench")
        return 2
    scripts = ORDER + sorted(p.name for p in HERE.glob("*_bench.py") if p.name not in ORDER)
    failed = 0
    for name in scripts:
        print(f"== {name}", flush=True)
        failed |= subprocess.call([sys.executable, str(HERE / name)], cwd=HERE.parent) != 0
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
