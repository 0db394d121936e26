"""`make bench`: speed figures measured in one run, printed and written to JSON.

Each benchmark returns a dict of figures; goals are stated beside the
measurements, never asserted (a miss is reported, not hidden).
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks import bench_core, bench_peer, bench_platform, bench_serving

BENCHMARKS: dict[str, Callable[[], dict[str, object]]] = {
    **bench_core.BENCHMARKS,
    **bench_serving.BENCHMARKS,
    **bench_peer.BENCHMARKS,
    **bench_platform.BENCHMARKS,
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", default="bench-results.json")
    ap.add_argument("--only", nargs="*", help="names of benchmarks to run (default: all)")
    args = ap.parse_args(argv)
    names = args.only or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        print(f"unknown benchmark(s): {unknown}; known: {sorted(BENCHMARKS)}", file=sys.stderr)
        return 2
    results: dict[str, object] = {
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "benchmarks": {},
    }
    for name in names:
        print(f"== {name}", flush=True)
        t0 = time.perf_counter()
        figures = BENCHMARKS[name]()
        figures["bench_wall_s"] = round(time.perf_counter() - t0, 3)
        results["benchmarks"][name] = figures  # type: ignore[index]
        for k, v in figures.items():
            print(f"   {k:<32} {v}", flush=True)
        Path(args.out).write_text(json.dumps(results, indent=2))
    print(f"figures written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
