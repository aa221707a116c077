"""Benchmark of the sensitivity analyses on the named clinical scenarios (not a test).

For each scenario of :mod:`fasciculation_dx.reporting.scenarios` it times

- the full one-way screening over every parameter (:func:`fasciculation_dx.analysis.sensitivity.screen`),
- 10,000 Monte Carlo draws (:func:`fasciculation_dx.analysis.uncertainty.monte_carlo`),

each the best of ``--repeat`` runs after a warm-up, and prints them with a description of the
machine. The issue's targets: screening under 5 s, 10,000 draws under 10 s, per scenario.

Run::

    .venv/bin/python benchmarks/bench_sensitivity.py [--draws 10000] [--repeat 3] [--setting primary_care]
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time

import numpy as np

import fasciculation_dx as fdx
from fasciculation_dx.analysis.sensitivity import screen
from fasciculation_dx.analysis.uncertainty import monte_carlo
from fasciculation_dx.reporting.scenarios import SCENARIOS


def machine() -> str:
    """Describe the machine: CPU model, cores, memory, load, Python and numpy versions."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    memory = ""
    try:
        pages, size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        memory = f", {pages * size / 2**30:.0f} GiB RAM"
    except (ValueError, OSError, AttributeError):
        pass
    load = ""
    if hasattr(os, "getloadavg"):
        load = f", load average {os.getloadavg()[0]:.2f}"
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs{memory}{load}; {platform.system()} {platform.release()}; "
        f"Python {sys.version.split()[0]}, numpy {np.__version__}, fasciculation_dx {fdx.__version__}"
    )


def best_of(repeat: int, fn) -> tuple[float, float, object]:
    """Return (best wall seconds, CPU seconds of that run, result) over ``repeat`` runs."""
    best, cpu, result = float("inf"), 0.0, None
    for _ in range(repeat):
        t0, c0 = time.perf_counter(), time.process_time()
        result = fn()
        wall = time.perf_counter() - t0
        if wall < best:
            best, cpu = wall, time.process_time() - c0
    return best, cpu, result


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print a table; returns 0."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--setting", default="primary_care")
    args = parser.parse_args(argv)

    print(f"machine: {machine()}")
    t0 = time.perf_counter()
    model = fdx.load_model(setting=args.setting)
    print(
        f"load_model: {time.perf_counter() - t0:.2f} s; {len(model.priors.parameters())} parameters; "
        f"setting {args.setting}"
    )
    monte_carlo(model, dict(SCENARIOS[0].evidence), draws=200, seed=0)  # warm-up (imports, caches)
    mc = f"MC {args.draws} draws (s)"
    header = f"{'scenario':30} {'screen all (s)':>15} {'cpu':>6}  {mc:>20} {'cpu':>6}  P(path.) [90% CI]"
    print(header)
    print("-" * len(header))
    for scenario in SCENARIOS:
        evidence = dict(scenario.evidence)
        s_wall, s_cpu, table = best_of(args.repeat, lambda e=evidence: screen(model, e))
        m_wall, m_cpu, result = best_of(args.repeat, lambda e=evidence: monte_carlo(model, e, draws=args.draws, seed=0))
        cat = result.interval(0.9, by="category").loc["pathological"]
        print(
            f"{scenario.name:30} {s_wall:15.2f} {s_cpu:6.2f}  {m_wall:20.2f} {m_cpu:6.2f}  "
            f"{cat['probability']:.3f} [{cat['lower']:.3f}, {cat['upper']:.3f}]  ({len(table)} parameters)"
        )
    print(
        "targets (issue 4): screening < 5 s and 10,000 draws < 10 s per scenario; best of "
        f"{args.repeat} runs, wall clock (cpu = process CPU time, all threads)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
