"""Recovery benchmark of calibration against a known truth (not a test).

The truth is the shipped priors with ten columns moved halfway (on the logit scale) toward an end
of their plausible ranges (:func:`fasciculation_dx.analysis.recovery.shifted_truth`; two are rows
of a latent mechanism). For each cohort size, share of missing cells, and with or without the
confirmed etiology, a cohort is simulated from the truth in primary care and calibrated from the
unshifted priors to convergence. Printed per run:

- wall time of :func:`~fasciculation_dx.analysis.calibration.calibrate` and its EM steps;
- the mean absolute error of the shifted rows before and after;
- coverage of the written ranges' central 90% (and of the written 95% ranges) over the shifted
  rows, and over every row whose column holds at least 10 expected cases;
- the held-out KL divergence of the etiology posterior from the truth's, over 2,000 fresh cases,
  before and after;
- how many rare causes (base rate below 1e-4) the cohort lacks, and how many of those keep a
  calibrated rate inside their original range.

Targets: 100,000 labelled cases with 30% missing calibrated to convergence in under 2 minutes;
coverage of the 90% ranges between 85% and 95%; a rare cause absent from the data stays in range.

Run::

    .venv/bin/python benchmarks/bench_calibration.py [--sizes 1000 10000 100000] [--missing 0 0.3]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sensitivity import machine  # noqa: E402

import fasciculation_dx as fdx  # noqa: E402
from fasciculation_dx.analysis import recovery as rc  # noqa: E402
from fasciculation_dx.analysis.calibration import calibrate  # noqa: E402
from fasciculation_dx.analysis.em import case_posteriors  # noqa: E402
from fasciculation_dx.analysis.simulate import simulate  # noqa: E402

SETTING = "primary_care"


def run(start, truth, held_out, truth_posteriors, n: int, missing: float, labelled: bool, max_iter: int) -> dict:
    """Simulate, calibrate and measure one configuration."""
    cohort = simulate(truth, n, setting=SETTING, missing=missing, seed=n + int(100 * missing), etiology=labelled)
    began = time.perf_counter()
    result = calibrate(cohort, start, setting=SETTING, max_iter=max_iter)
    wall = time.perf_counter() - began
    table = rc.recovery_table(truth, result)
    shifted = rc.coverage(table, shifted_only=True)
    every = rc.coverage(table, min_count=10)
    kl_before = rc.held_out_kl(truth_posteriors, case_posteriors(start, held_out, SETTING))
    kl_after = rc.held_out_kl(truth_posteriors, case_posteriors(result.priors, held_out, SETTING))
    rare_in_range = rare_absent = 0
    if labelled:
        present = set(cohort["etiology"])
        new = {p.key: p.value for p in result.priors.base_rates}
        for p in start.base_rates:
            if p.key[0] == SETTING and p.value < 1e-4 and p.key[1] not in present:
                rare_absent += 1
                rare_in_range += p.low <= new[p.key] <= p.high
    return {
        "n": n,
        "missing": missing,
        "labels": "yes" if labelled else "no",
        "wall_s": wall,
        "steps": result.iterations,
        "converged": result.converged,
        "err_before": shifted["error_before"],
        "err_after": shifted["error_after"],
        "cov90_shifted": shifted["covered90"],
        "cov95_shifted": shifted["covered95"],
        "cov90_all": every["covered90"],
        "rows_all": every["rows"],
        "kl_before": kl_before,
        "kl_after": kl_after,
        "rare": f"{rare_in_range}/{rare_absent}" if labelled else "-",
    }


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one line per configuration."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--missing", type=float, nargs="+", default=[0.0, 0.3])
    parser.add_argument("--labels", choices=["yes", "no", "both"], default="both")
    parser.add_argument("--max-iter", type=int, default=300)
    args = parser.parse_args(argv)
    print(machine())
    start = fdx.load_priors(fdx.shipped_priors_dir())
    truth = rc.shifted_truth(start)
    held_out = simulate(truth, 2000, setting=SETTING, missing=0.3, seed=999, etiology=False)
    truth_posteriors = case_posteriors(truth, held_out, SETTING)
    labels = {"yes": [True], "no": [False], "both": [True, False]}[args.labels]
    header = (
        f"{'n':>7} {'miss':>4} {'lab':>3} {'wall s':>7} {'steps':>5} {'conv':>4} {'err before':>10} {'err after':>9} "
        f"{'cov90 shifted':>13} {'cov95 shifted':>13} {'cov90 all':>9} {'KL before':>9} {'KL after':>9} "
        f"{'rare kept':>9}"
    )
    print(header)
    for n in args.sizes:
        for missing in args.missing:
            for labelled in labels:
                r = run(start, truth, held_out, truth_posteriors, n, missing, labelled, args.max_iter)
                print(
                    f"{r['n']:>7} {r['missing']:>4.1f} {r['labels']:>3} {r['wall_s']:>7.1f} {r['steps']:>5} "
                    f"{'yes' if r['converged'] else 'no':>4} {r['err_before']:>10.4f} {r['err_after']:>9.4f} "
                    f"{r['cov90_shifted']:>13.2f} {r['cov95_shifted']:>13.2f} {r['cov90_all']:>9.2f} "
                    f"{r['kl_before']:>9.4f} {r['kl_after']:>9.4f} {r['rare']:>9}",
                    flush=True,
                )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
