"""Benchmark: how fast `evm-digest run` refuses bad input (the real console script, a fresh process each time).

Each case is one bad parameter on an otherwise valid command line against a simulated node, with
PREFECT_API_URL pointing at a closed port (so a case that reached Prefect would exit 3, not 2). Prints
the median, min and max wall time of --repeat runs per case and the CPU time of the median run; the
target is "well under 2 s" (issue 12). For comparison, the start-up of a bare `python -c pass`.
Not a timed test: the figures depend on the machine and its load.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from evmdigest.sim.fixture import make_fixture

EVM_DIGEST = str(Path(sys.executable).parent / "evm-digest")
SEIDB_SIM = str(Path(sys.executable).parent / "seidb-sim")
HEIGHT = 1000


def _cases(node: Path) -> dict[str, list[str]]:
    good = ["run", "--flatkv-dir", str(node / "flatkv"), "--memiavl-dir", str(node / "memiavl"),
            "--seidb", SEIDB_SIM, "--height", str(HEIGHT), "--sink", str(node / "sealed")]  # fmt: skip
    return {
        "missing dir": [*good, "--flatkv-dir", str(node / "no-such-dir")],
        "bad sink scheme": [*good, "--sink", "ftp://host/dir"],
        "missing seidb": [*good, "--seidb", str(node / "no-such-seidb")],
        "bad height": [*good, "--height", str(2**70)],
        "hostile node label": [*good, "--node", "evil\nINFO | forged"],
    }


def _time(argv: list[str], env: dict[str, str]) -> tuple[float, float, int]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(argv, env=env, capture_output=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    env = {**os.environ, "PREFECT_API_URL": "http://127.0.0.1:9/api"}
    with tempfile.TemporaryDirectory(prefix="bench-input-errors-") as tmp:
        node = Path(tmp) / "node"
        make_fixture(node, height=HEIGHT, rows=50)
        baseline = statistics.median(_time([sys.executable, "-c", "pass"], env)[0] for _ in range(args.repeat))
        print(f"{'case':<20} {'exit':>4} {'median s':>9} {'min s':>7} {'max s':>7} {'cpu s':>6}")
        medians = []
        for name, argv in _cases(node).items():
            runs = [_time([EVM_DIGEST, *argv], env) for _ in range(args.repeat)]
            walls = sorted(run[0] for run in runs)
            median = statistics.median(walls)
            medians.append(median)
            cpu = sorted(runs)[len(runs) // 2][1]
            codes = {run[2] for run in runs}
            code = codes.pop() if len(codes) == 1 else "mixed"
            print(f"{name:<20} {code!s:>4} {median:9.3f} {walls[0]:7.3f} {walls[-1]:7.3f} {cpu:6.3f}")
        print(f"median over all cases: {statistics.median(medians):.3f} s (python -c pass: {baseline:.3f} s); "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")  # fmt: skip


if __name__ == "__main__":
    main()
