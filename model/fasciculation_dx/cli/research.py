"""The research commands of ``fasciculation-dx``: ``calibrate``, ``simulate``, ``evaluate`` and ``diff``.

Each command is a pair ``add_<cmd>_parser(subparsers)`` / ``run_<cmd>(args) -> int`` so that
:func:`fasciculation_dx.cli.main.main` can register and run it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import sys
import textwrap
from pathlib import Path

from ..errors import FasciculationDxError, PriorsError
from ..network.loader import load_priors
from .args import add_priors_option, add_setting_option, fraction, load_priors_option, positive_number, whole_number

__all__ = [
    "add_calibrate_parser",
    "run_calibrate",
    "add_simulate_parser",
    "run_simulate",
    "add_evaluate_parser",
    "run_evaluate",
    "add_diff_parser",
    "run_diff",
]


_priors = load_priors_option

GLOSSARY = """\
metrics (better: which direction is better):
  top1, top3          share of cases whose confirmed cause is ranked first / in the first three (higher)
  log_loss            mean -ln P(confirmed cause); 34.5 for a case deemed impossible (lower)
  brier               multi-class Brier score, 0 perfect to 2 worst (lower)
  brier_pathological  Brier score of P(pathological) (lower)
  auc_pathological    area under the ROC curve of P(pathological), 0.5 is chance (higher)
  citl_pathological   mean P(pathological) minus the share of pathological cases; positive
                      over-calls disease (closer to 0)
with --compare: difference = second minus first, its paired bootstrap 95% interval (ci_low,
ci_high) and which priors the interval favours ('neither' when it includes 0; for
citl_pathological, the one whose |citl| is smaller)."""
"""The metrics of ``evaluate`` in words and which direction is better (its ``--help`` epilog)."""


def _wrap(text: str) -> str:
    return textwrap.fill(text, width=100)


def _common(p: argparse.ArgumentParser) -> None:
    add_priors_option(p)
    add_setting_option(p, help="care setting of cases without a 'setting' value (default primary_care)")


# -- calibrate ----------------------------------------------------------------------------------
def add_calibrate_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``calibrate CASES --out DIR [--priors DIR] [--setting S] [--overwrite]``."""
    p = subparsers.add_parser(
        "calibrate",
        help="update the priors from a case file and write a new priors directory",
        description="Bayesian update of the priors from a case file (CSV or Parquet): Dirichlet "
        "pseudo-counts from each row's plausible range, EM over missing findings and latent "
        "mechanisms. Writes a complete new priors directory; never the shipped one.",
    )
    p.add_argument("cases", type=Path, help="the case file (.csv or .parquet)")
    p.add_argument("--out", "-o", type=Path, required=True, metavar="DIR", help="the new priors directory")
    _common(p)
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace DIR if it is an earlier output of calibrate (it holds calibration.json and nothing else "
        "of yours); any other folder is refused and nothing is deleted",
    )
    p.add_argument(
        "--max-iter",
        type=whole_number(1, "--max-iter"),
        default=200,
        metavar="N",
        help="largest number of EM steps (default 200; SQUAREM runs up to three per accelerated cycle)",
    )
    p.add_argument(
        "--tol", type=positive_number, default=1e-6, help="stop when no parameter moves more than this (default 1e-6)"
    )
    p.add_argument("--report", type=Path, default=None, metavar="CSV", help="write the full report of changes here")
    p.add_argument(
        "--top", type=whole_number(0, "--top"), default=15, metavar="N", help="changes to print (default 15; 0: none)"
    )
    p.add_argument(
        "--quiet",
        "-q",
        action="store_true",
        help="no progress on stderr (by default each EM step shows its log-likelihood, change and elapsed time)",
    )
    return p


def _missing_file(path: Path) -> int | None:
    if not path.is_file():
        print(f"fasciculation-dx: error: case file {path} does not exist", file=sys.stderr)
        return 2
    return None


def run_calibrate(args: argparse.Namespace) -> int:
    """Run ``calibrate``; returns the exit status."""
    from ..analysis.calibration import calibrate
    from ..atomic import atomic_file, check_file_target

    if (status := _missing_file(args.cases)) is not None:
        return status
    if args.report is not None:
        check_file_target(args.report, overwrite=args.overwrite)
    result = calibrate(
        args.cases,
        _priors(args.priors),
        setting=args.setting,
        max_iter=args.max_iter,
        tol=args.tol,
        out=args.out,
        overwrite=args.overwrite,
        progress=not args.quiet,
    )
    print(
        f"calibrated on {result.n_cases} cases ({result.iterations} EM steps, "
        f"{'converged' if result.converged else 'NOT converged: raise --max-iter'}); "
        f"{len(result.report)} parameters changed"
    )
    print(f"wrote {result.directory} (source '{result.source.source_id}')")
    if len(result.report) and args.top > 0:
        shown = result.report.head(args.top)[["file", "key", "old", "new", "change", "low", "high", "count"]]
        print(f"largest changes (of {len(result.report)}):")
        print(shown.to_string(index=False, float_format=lambda x: f"{x:.4g}"))
    if args.report is not None:
        with atomic_file(args.report, overwrite=args.overwrite, checked=True) as tmp:
            result.report.to_csv(tmp, index=False, lineterminator="\n")
        print(f"wrote the report to {args.report}")
    return 0


# -- simulate -----------------------------------------------------------------------------------
def add_simulate_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``simulate -n N [--missingness tiers|uniform] [--missing F] [--seed S] -o CASES``."""
    p = subparsers.add_parser(
        "simulate",
        help="forward-sample a synthetic cohort from the model",
        description="Forward-sample patients from the model (seeded) and write a case file. By default a "
        "finding is recorded with a probability that depends on its tier and the care setting (history and "
        "examination usually, gene tests rarely, EMG mostly in the neuromuscular clinic; assumptions of the "
        "simulator, fasciculation_dx.analysis.simulate.RECORDING_PROBABILITIES). --missing F instead leaves "
        "each cell empty with probability F.",
    )
    p.add_argument("-n", type=whole_number(0, "-n"), required=True, help="number of patients (at most 10,000,000)")
    p.add_argument(
        "--missingness",
        choices=("tiers", "uniform"),
        default=None,
        help="tiers: what is recorded follows each finding's tier and the setting (the default); uniform: every "
        "cell left empty with probability --missing (the default when --missing is given)",
    )
    p.add_argument(
        "--missing",
        type=fraction,
        default=None,
        help="share of evidence cells left empty uniformly at random, 0 to 1 (implies --missingness uniform; "
        "0 with --missingness uniform alone)",
    )
    p.add_argument("--seed", type=whole_number(0, "--seed"), default=None, help="random seed (same seed, same cohort)")
    p.add_argument("-o", "--out", type=Path, required=True, metavar="CASES", help="output .csv or .parquet")
    p.add_argument("--no-etiology", action="store_true", help="leave out the true etiology column")
    p.add_argument("--overwrite", action="store_true", help="replace CASES if it exists")
    _common(p)
    p.add_argument(
        "--quiet", "-q", action="store_true", help="no progress on stderr (by default: columns drawn, rows written)"
    )
    return p


def run_simulate(args: argparse.Namespace) -> int:
    """Run ``simulate``; returns the exit status."""
    from ..analysis.cases import write_cases
    from ..analysis.simulate import MAX_PATIENTS, simulate
    from ..atomic import atomic_file, check_file_target, checkpoint

    if not 0 <= args.n <= MAX_PATIENTS:
        raise FasciculationDxError(
            f"-n must be a number of patients from 0 to {MAX_PATIENTS:,}. Got {args.n:,} instead; "
            "simulate a larger cohort as several files with different seeds"
        )
    missingness = args.missingness or ("tiers" if args.missing is None else "uniform")
    if missingness == "tiers" and args.missing is not None:
        raise FasciculationDxError(
            "--missing sets a uniform share of empty cells and cannot be combined with --missingness tiers. "
            "Use --missingness uniform --missing F, or leave --missing out"
        )
    missing = args.missing or 0.0
    check_file_target(args.out, overwrite=args.overwrite)
    priors = _priors(args.priors)
    if args.setting not in priors.settings:
        raise FasciculationDxError(f"unknown setting '{args.setting}'. Valid settings: {', '.join(priors.settings)}")
    cohort = simulate(
        priors,
        args.n,
        setting=args.setting,
        missing=missing,
        missingness=missingness,
        seed=args.seed,
        etiology=not args.no_etiology,
        progress=not args.quiet,
    )
    with atomic_file(args.out, overwrite=args.overwrite, checked=True) as tmp:
        write_cases(
            cohort,
            tmp,
            fmt="parquet" if args.out.suffix.lower() in (".parquet", ".pq") else "csv",
            progress=not args.quiet,
        )
        checkpoint("simulate:written")
    recorded = "recorded by test tier" if missingness == "tiers" else f"missing={missing:g} uniformly"
    print(f"wrote {len(cohort)} simulated patients ({args.setting}, {recorded}) to {args.out}")
    return 0


# -- evaluate -----------------------------------------------------------------------------------
def add_evaluate_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``evaluate CASES [--priors DIR] [--compare DIR] [--reliability PNG] [--decision-curve CSV] ...``."""
    p = subparsers.add_parser(
        "evaluate",
        help="score the model on cases with confirmed diagnoses",
        description=_wrap(
            "Top-1/top-3 accuracy, log loss, Brier score, AUC benign vs pathological, "
            "calibration-in-the-large and a per-etiology table; --compare scores a second priors "
            "directory on the same cases. --decision-curve adds a decision curve (Vickers & Elkin 2006): the net "
            "benefit of referring for EMG when P(pathological) >= t, that is true positives per patient minus false "
            "positives per patient weighted by t/(1-t), the harm of an unneeded referral the threshold t implies, "
            "compared with referring every case or none. It summarises how useful the model would have been on these "
            "cases; it supports, and does not replace, clinical judgement about an individual patient. "
            "Scores on the cases a priors directory was calibrated on are optimistic: evaluate on other cases "
            "(e.g. calibrate on 'simulate --seed 1' and evaluate on 'simulate --seed 2')."
        ),
        epilog=GLOSSARY,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("cases", type=Path, help="the case file (.csv or .parquet) with an 'etiology' column")
    _common(p)
    p.add_argument(
        "--compare",
        type=Path,
        default=None,
        metavar="DIR",
        help="a second priors directory, scored on the same cases; each difference (DIR minus the first) gets a "
        "paired bootstrap 95%% interval and the priors it favours",
    )
    p.add_argument(
        "--resamples",
        type=whole_number(2, "--resamples"),
        default=1000,
        metavar="N",
        help="bootstrap resamples of the cases for --compare's intervals (default 1000)",
    )
    p.add_argument(
        "--seed",
        type=whole_number(0, "--seed"),
        default=0,
        help="seed of the bootstrap resampling (default 0; the same seed gives the same intervals)",
    )
    p.add_argument(
        "--reliability",
        type=Path,
        default=None,
        metavar="PNG",
        help="write a reliability diagram (atomically; refused if PNG exists, unless --overwrite)",
    )
    p.add_argument(
        "--decision-curve",
        type=Path,
        default=None,
        metavar="CSV",
        help="write the decision-curve table to CSV (columns priors, threshold, net_benefit_model, "
        "net_benefit_refer_all, net_benefit_refer_none, referral_rate; one block per priors with --compare) "
        "and its figure beside it with the extension .png (atomically; refused if either exists, unless --overwrite)",
    )
    p.add_argument(
        "--thresholds",
        nargs=3,
        type=float,
        default=(0.01, 0.5, 0.01),
        metavar=("LOW", "HIGH", "STEP"),
        help="the decision curve's threshold probabilities, from LOW to HIGH by STEP, each above 0 and below 1 "
        "(default 0.01 0.5 0.01; used with --decision-curve)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace the output files if they exist")
    p.add_argument("--per-etiology", action="store_true", help="print the per-etiology table")
    p.add_argument("--json", action="store_true", help="print machine-readable JSON")
    return p


_COMPARISON = ("difference", "ci_low", "ci_high", "favours", "better")


def _finite(x):
    return x if isinstance(x, float) and math.isfinite(x) else (None if isinstance(x, float) else x)


def run_evaluate(args: argparse.Namespace) -> int:
    """Run ``evaluate``; returns the exit status."""
    from ..analysis.decision_curve import threshold_grid
    from ..analysis.evaluate import compare, decision_curves, format_metrics, plot_reliability
    from ..atomic import check_file_target

    if (status := _missing_file(args.cases)) is not None:
        return status
    if args.reliability is not None:  # before any work: exists, is a directory, folder missing or read-only
        check_file_target(args.reliability, overwrite=args.overwrite)
    curve_png = thresholds = None
    if args.decision_curve is not None:
        thresholds = threshold_grid(*args.thresholds)
        curve_png = _decision_curve_png(args.decision_curve)
        for target in (args.decision_curve, curve_png):
            check_file_target(target, overwrite=args.overwrite)
    base_name = str(args.priors) if args.priors is not None else "shipped"
    named = {base_name: _priors(args.priors)}
    if args.compare is not None:
        name = str(args.compare)
        named[name if name != base_name else f"{name} (compare)"] = load_priors(args.compare)
    table, evaluations = compare(args.cases, named, setting=args.setting, resamples=args.resamples, seed=args.seed)
    if args.reliability is not None:
        plot_reliability(
            evaluations, args.reliability, title=f"Reliability on {args.cases.name}", overwrite=args.overwrite
        )
    curve = None
    if args.decision_curve is not None:
        curve = decision_curves(evaluations, thresholds)
        _write_decision_curve(curve, args.decision_curve, curve_png, args.cases.name, overwrite=args.overwrite)
    if args.json:
        out = {
            "cases": str(args.cases),
            "metrics": {n: {k: _finite(float(v)) for k, v in ev.metrics.items()} for n, ev in evaluations.items()},
            "per_etiology": {
                n: json.loads(ev.per_etiology.reset_index().to_json(orient="records")) for n, ev in evaluations.items()
            },
        }
        if "difference" in table:
            out["comparison"] = {
                "first": list(evaluations)[0],
                "last": list(evaluations)[1],
                "resamples": args.resamples,
                "seed": args.seed,
                "level": 0.95,
                "metrics": {
                    m: {k: _finite(v) for k, v in row.items() if k in _COMPARISON}
                    for m, row in table.drop(index="n").to_dict(orient="index").items()
                },
            }
        if curve is not None:
            out["decision_curve"] = json.loads(curve.to_json(orient="records"))
        print(json.dumps(out, indent=2))
    else:
        print(f"scored {int(next(iter(evaluations.values())).metrics['n'])} cases of {args.cases}")
        print(format_metrics(table))
        if "ci_low" in table:
            print(
                f"difference: {list(evaluations)[1]} minus {list(evaluations)[0]}, with its paired bootstrap 95% "
                f"interval over {args.resamples} resamples of the cases (seed {args.seed}); favours: the priors the "
                "interval supports, 'neither' when it includes 0. These cases stand in for the population only as "
                "far as they resemble it; see 'evaluate --help' for each metric."
            )
        if args.per_etiology:
            for name, ev in evaluations.items():
                print(f"\nper etiology ({name}):")
                print(ev.per_etiology[ev.per_etiology["n"] > 0].to_string(float_format=lambda x: f"{x:.3f}"))
    if args.reliability is not None and not args.json:
        print(f"wrote the reliability diagram to {args.reliability}")
    if curve is not None and not args.json:
        print(f"wrote the decision curve to {args.decision_curve} and {curve_png}")
    return 0


def _decision_curve_png(csv: Path) -> Path:
    from ..errors import ArgumentError

    if csv.suffix.lower() != ".csv":
        raise ArgumentError(
            f"--decision-curve takes a .csv file (its figure is written beside it as .png). Got '{csv}' instead"
        )
    return csv.with_suffix(".png")


def _write_decision_curve(curve, csv: Path, png: Path, cases_name: str, *, overwrite: bool) -> None:
    """Write the decision-curve table and its figure, each atomically."""
    from matplotlib.figure import Figure

    from ..atomic import atomic_file
    from ..reporting.plots import decision_curve_plot

    fig = Figure(figsize=(7.5, 4.8), layout="constrained")
    decision_curve_plot(curve, ax=fig.subplots(), title=f"Decision curve on {cases_name}")
    with atomic_file(csv, overwrite=overwrite) as tmp:
        curve.to_csv(tmp, index=False, float_format="%.10g")
    with atomic_file(png, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png", dpi=120)


# -- diff ---------------------------------------------------------------------------------------
def add_diff_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``diff PRIORS_A PRIORS_B [--top N] [--json] [--setting S]``."""
    from ..reporting.scenarios import scenario_names

    p = subparsers.add_parser(
        "diff",
        help="list the parameters that differ between two priors directories, largest effect first",
        description=(
            "Compare two priors directories row by row (matched by file and key, not by line). Each row whose value "
            "differs is printed in words (node=state | parent=state, ...; base rate; relative risk) with A's and "
            "B's value and its effect: the largest change of any cause's posterior over the named scenarios "
            f"({', '.join(scenario_names())}) in each care setting when only that "
            "row takes B's value (the other states of its column rescaled proportionally). Rows are ranked by that "
            "effect; an effect of 0 means no named scenario enters that finding, not that the change is harmless. "
            "Rows that differ only in their note are counted and ignored; rows that differ only in range or source "
            "are counted."
        ),
    )
    p.add_argument("priors_a", type=Path, metavar="PRIORS_A", help="the first priors directory (the reference)")
    p.add_argument("priors_b", type=Path, metavar="PRIORS_B", help="the second priors directory")
    p.add_argument(
        "--top",
        type=whole_number(0, "--top"),
        default=20,
        metavar="N",
        help="changed parameters to print (default 20; 0: all)",
    )
    p.add_argument(
        "--setting",
        default=None,
        help="measure effects in this care setting only (default: every setting of both directories)",
    )
    p.add_argument("--json", action="store_true", help="print every difference as JSON")
    return p


def _load_for_diff(directory: Path, label: str):
    if not directory.exists():
        raise FasciculationDxError(f"{label} {directory} does not exist; give a priors directory (e.g. priors/)")
    if not directory.is_dir():
        raise FasciculationDxError(f"{label} {directory} is not a directory; give a priors directory (e.g. priors/)")
    try:
        return load_priors(directory)
    except PriorsError as err:
        first = err.problems[0] if err.problems else "no details"
        raise FasciculationDxError(
            f"{label} {directory} is not a valid priors directory ({len(err.problems)} "
            f"problem{'s' if len(err.problems) != 1 else ''}, first: {first}); "
            f"'fasciculation-dx validate {directory}' lists them all"
        ) from None


def run_diff(args: argparse.Namespace) -> int:
    """Run ``diff``; returns the exit status."""
    from ..analysis.priors_diff import diff_priors
    from ..reporting.scenarios import SCENARIOS

    a = _load_for_diff(args.priors_a, "PRIORS_A")
    b = _load_for_diff(args.priors_b, "PRIORS_B")
    scenarios = {s.name: dict(s.evidence) for s in SCENARIOS}
    settings = None if args.setting is None else [args.setting]
    result = diff_priors(a, b, scenarios, settings=settings)
    result = dataclasses.replace(result, a=str(args.priors_a), b=str(args.priors_b))
    if args.json:
        print(json.dumps(result.to_dict(), indent=2, allow_nan=False))
        return 0
    counts = result.counts()
    print(
        f"{args.priors_a} -> {args.priors_b}: {counts['changed']} parameter value"
        f"{'s' if counts['changed'] != 1 else ''} changed, {counts['range_or_source_only']} range or source only, "
        f"{counts['added']} added, {counts['removed']} removed; {counts['notes_only_ignored']} notes-only "
        "changes ignored"
    )
    if result.overall:
        o = result.overall
        print(
            f"all changes together move a posterior by at most {o['effect']:.4f} "
            f"({o['etiology'] or '-'}, {o['scenario'] or '-'}, {o['setting'] or '-'})"
        )
    if not result.changed:
        return 0
    shown = result.changed if args.top == 0 else result.changed[: args.top]
    print(
        f"\n{'largest' if len(shown) < len(result.changed) else 'all'} {len(shown)} of {len(result.changed)} "
        "by effect (largest change of any posterior when only that row changes; scenario, setting, cause):"
    )
    for c in shown:
        effect = "n/a" if not math.isfinite(c.effect) else f"{c.effect:.4f}"
        where = f"  ({c.etiology}, {c.scenario}, {c.setting})" if c.etiology else ""
        print(f"  {effect:>7}  {c.parameter}: {c.a:.4g} -> {c.b:.4g}  [{c.file}:{c.line_a}]{where}")
    for label, rows in (
        ("range or source only", result.metadata_only),
        ("added", result.added),
        ("removed", result.removed),
    ):
        if rows:
            print(f"\n{label} ({len(rows)}):")
            for c in rows[: args.top or None]:
                print(f"  {c.parameter}  [{c.file}:{c.line_b or c.line_a}]")
    return 0
