"""How long a quick command takes from the shell: `similar`, `duplicates` and `info` on the small
catalog and .lfz of tests/fixtures/v1, and `--help`, each in a fresh process (what a user waits
for), against the floor in the same run: a Python that only imports torch, which these commands
need, and one that imports torch and Lightning, which they loaded before 2026-12-07 (only
`train` and `index` need it). Medians of 5 runs after one warm-up. Prints JSON and writes
benchmarks/results/startup.json.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import save

FIXTURES = Path(__file__).parents[1] / "tests" / "fixtures" / "v1"
RUNS = 5


def wall(argv: list[str], env: dict | None = None) -> float:
    """Median seconds of RUNS fresh processes running ``argv`` (after one warm-up run)."""
    times = []
    for i in range(RUNS + 1):
        t0 = time.perf_counter()
        r = subprocess.run(argv, capture_output=True, text=True, env=env)
        if r.returncode:
            raise SystemExit(f"{argv}: {r.stderr.strip()}")
        if i:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    py, cli = sys.executable, [sys.executable, "-m", "latentfolio.cli"]
    query = json.loads((FIXTURES / "similar.json").read_text())["query"]["id"]
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "LATENTFOLIO_MODELS": str(Path(tmp) / "store")}
        catalog = shutil.copytree(FIXTURES / "catalog", Path(tmp) / "catalog")  # opening it upgrades it
        commands = {
            "--help": cli + ["--help"],
            "similar": cli + ["similar", str(catalog), str(query), "-k", "3", "--json"],
            "duplicates": cli + ["duplicates", str(catalog), "--json"],
            "info image.lfz": cli + ["info", str(FIXTURES / "image.lfz"), "--json"],
        }
        floor = {"import torch": [py, "-c", "import torch"],
                 "import torch, lightning": [py, "-c", "import torch, lightning"]}
        res = {name: round(wall(argv, env), 3) for name, argv in {**floor, **commands}.items()}
    base = res["import torch"]
    save("startup", {"runs": RUNS, "seconds": res,
                     "over_torch_import": {k: round(v / base, 2) for k, v in res.items() if k in commands}})


if __name__ == "__main__":
    main()
