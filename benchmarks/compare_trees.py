"""Timings of two source trees side by side, in one run, as ratios (after / before).

Run:  python benchmarks/compare_trees.py --before DIR [--after DIR] [--repeats 3] [--only bench_erm.py ...]

``DIR`` is a checkout of the earlier commit (e.g. ``git worktree add /tmp/before <commit>``).
Each benchmark script of ``benchmarks/`` is run with each tree's own copy of the script and its
own ``src`` on ``PYTHONPATH`` (one BLAS thread), alternating the trees ``--repeats`` times; every
timing printed by a script (a number followed by ``ms`` or ``s``) is taken at its minimum over
the repeats (the least noisy estimate of the cost) and compared line by line.  Used for the
engine-contract refactor (issue 12: every timing within 10%).
"""
from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
TIME = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s)\b")


def run(tree: Path, script: str) -> list[tuple[str, list[float]]]:
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
           "MKL_NUM_THREADS": "1"}
    out = subprocess.run([sys.executable, str(tree / "benchmarks" / script)], env=env, capture_output=True,
                         text=True, check=True, cwd=tree).stdout
    rows = []
    for line in out.splitlines():
        times = [float(v) * (1e-3 if u == "ms" else 1.0) for v, u in TIME.findall(line)]
        if times:
            rows.append((TIME.sub("#", line).strip()[:70], times))
    return rows


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True, type=Path)
    ap.add_argument("--after", type=Path, default=HERE.parent, help="the later tree (default: this checkout)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--only", nargs="*")
    args = ap.parse_args(argv)
    after = args.after
    scripts = args.only or sorted(p.name for p in HERE.glob("bench_*.py"))
    worst = 0.0
    for script in scripts:
        best = {}
        for _ in range(args.repeats):
            for name, tree in (("before", args.before), ("after", after)):
                rows = run(tree, script)
                prev = best.get(name)
                best[name] = rows if prev is None else [
                    (lab, [min(a, b) for a, b in zip(t, pt)]) for (lab, t), (_, pt) in zip(rows, prev)]
        print(f"== {script}")
        for (lab, tb), (_, ta) in zip(best["before"], best["after"]):
            for b, a in zip(tb, ta):
                r = a / b if b > 0 else float("nan")
                if b >= 5e-3:  # ratios of sub-5 ms timings are noise
                    worst = max(worst, r)
                print(f"   {lab:<70s} before {b * 1e3:9.1f} ms  after {a * 1e3:9.1f} ms  ratio {r:5.2f}")
    print(f"\nworst ratio (timings >= 5 ms): {worst:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
