"""The ``fasciculation-dx`` command line: query, validate, list nodes, run example patients."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

from ..errors import FasciculationDxError, PriorsError
from ..inference.evidence import parse_assignments
from ..inference.information import MIN_GAIN, ORDERS
from ..inference.query import DISCLAIMER, json_safe, query_result
from ..inference.soft import PROBABLY
from ..model import Model
from ..network.loader import validate_priors
from ..network.paths import shipped_priors_dir
from ..network.priors import TIERS
from ..reporting.report_text import format_query
from .args import add_priors_option, add_setting_option, load_priors_option, whole_number

__all__ = ["main", "build_parser"]

EPILOG = f"""\
examples:
  fasciculation-dx query weakness=no atrophy=no emg_fasciculation_potentials=present
  fasciculation-dx query --setting neuromuscular_clinic tongue_fasciculations=yes umn_signs=yes
  fasciculation-dx query --json weakness=yes emg_fibrillations=present
  fasciculation-dx query --cause "Kennedy disease" sex=male gynecomastia=yes tongue_fasciculations=yes
  fasciculation-dx query weakness~yes tongue_fasciculations=yes:0.7,no:0.3
  fasciculation-dx nodes                 list every finding you can enter, with its states
  fasciculation-dx causes                list every cause with its group, category and other names
  fasciculation-dx validate priors/      check a priors directory

uncertain findings (soft evidence):
  node~state               probably that state: likelihood ratio {PROBABLY:g} for it against each
                           other state (weights {PROBABLY:g}:1; on an even prior, {PROBABLY / (PROBABLY + 1):.0%} for a
                           two-state finding)
  node=yes:0.8,no:0.2      relative weights: how much more likely the observation is under each
                           state (need not sum to 1; a state left out has weight 0)

{DISCLAIMER}
"""


# Commands defined in their own modules: (module, commands); each module has add_<command>_parser
# and run_<command>. Those modules import their heavy dependencies only when a command runs.
EXTENSIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("tools", ("serve", "export")),
    ("score", ("score",)),
    ("research", ("simulate", "calibrate", "evaluate", "diff")),
    ("report", ("report",)),
)


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser of the ``fasciculation-dx`` command."""
    parser = argparse.ArgumentParser(
        prog="fasciculation-dx",
        description="Differential diagnosis of the causes of muscle fasciculations from a "
        "Bayesian network whose every number is cited in priors/.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def common(p: argparse.ArgumentParser) -> None:
        add_priors_option(p)
        add_setting_option(p)
        p.add_argument(
            "--engine",
            choices=("compiled", "pgmpy"),
            default="compiled",
            help="inference engine: compiled (default, fast) or pgmpy (the reference); both are exact",
        )

    q = sub.add_parser(
        "query",
        help="rank the causes given a patient's findings",
        description="Rank the causes of fasciculations given findings written "
        "node=state (see 'fasciculation-dx nodes'); an uncertain finding as node~state or "
        "node=state:weight,state:weight.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    common(q)
    q.add_argument("--json", action="store_true", help="print machine-readable JSON")
    q.add_argument(
        "--interval",
        type=float,
        default=None,
        metavar="LEVEL",
        help="add a credible interval of this mass (e.g. 0.9) to each probability, from Monte Carlo "
        "draws of every parameter over its plausible range",
    )
    q.add_argument(
        "--draws",
        type=whole_number(2, "--draws"),
        default=2000,
        metavar="N",
        help="Monte Carlo draws for --interval (default 2000)",
    )
    q.add_argument("--seed", type=whole_number(0, "--seed"), default=0, help="random seed for --interval (default 0)")
    q.add_argument(
        "--top",
        type=whole_number(1, "--top"),
        default=10,
        metavar="N",
        help="etiologies and tests to show (default 10)",
    )
    q.add_argument(
        "--order",
        choices=ORDERS,
        default="tier",
        help="how to order the suggested next findings: tier (default: cheapest useful tier first, by gain "
        f"within a tier, findings expected to gain less than {MIN_GAIN:g} bits last), gain (by expected "
        "information gain alone) or gain_per_cost (by gain per indicative relative cost)",
    )
    q.add_argument(
        "--max-tier",
        choices=TIERS,
        default=None,
        metavar="TIER",
        help="suggest only findings of this tier or an earlier one; the tiers, in escalation order: "
        + ", ".join(TIERS),
    )
    q.add_argument(
        "--cause",
        action="append",
        default=[],
        metavar="NAME",
        help="also show the rank and probability of this cause, by its name or another name "
        "(e.g. MND, 'Kennedy disease', neuromyotonia; see 'fasciculation-dx causes'); repeatable",
    )
    q.add_argument(
        "evidence",
        nargs="*",
        metavar="node=state",
        help="an observed finding, e.g. weakness=yes; uncertain: weakness~yes or weakness=yes:0.8,no:0.2",
    )

    v = sub.add_parser("validate", help="check a priors directory and list every problem")
    v.add_argument(
        "directory",
        nargs="?",
        type=Path,
        default=None,
        metavar="PRIORS_DIR",
        help="the directory to check (default: the shipped priors)",
    )

    n = sub.add_parser(
        "nodes",
        help="list the findings that can be entered, with their states, grouped by panel",
        description="List every node that can be entered as evidence (context, triggers and findings), "
        "grouped by panel (history, examination, labs, ...), with its states and what it means.",
    )
    add_priors_option(n)
    n.add_argument("--json", action="store_true", help="print machine-readable JSON")

    c = sub.add_parser(
        "causes",
        help="list the causes the model ranks, with their group, category and other names",
        description="List the causes of fasciculations the model ranks: each with its group, its category "
        "(benign or pathological), a one-line description and the other names it goes by (MND, Kennedy "
        "disease, neuromyotonia). With TERM, only the causes that name, abbreviation or part of a name "
        "denotes.",
    )
    add_priors_option(c)
    c.add_argument("--json", action="store_true", help="print machine-readable JSON")
    c.add_argument("term", nargs="?", default=None, metavar="TERM", help="a cause's name or another name")

    sc = sub.add_parser(
        "schema",
        help="describe the case-file columns and every value they accept (Markdown or JSON Schema)",
        description="Describe the case files of score, calibrate and evaluate, built from the priors: every "
        "column with its meaning, panel and tier, every allowed state, soft evidence, the numeric cut-offs "
        "that bin a lab value or age into a state, the care settings and the etiologies. Printed as Markdown, "
        "or with --json as a JSON Schema (draft 2020-12) of one row.",
    )
    add_priors_option(sc)
    sc.add_argument("--json", action="store_true", help="a JSON Schema (draft 2020-12) of one row, not Markdown")
    sc.add_argument("--out", "-o", type=Path, default=None, metavar="FILE", help="write to FILE, not to stdout")
    sc.add_argument("--overwrite", action="store_true", help="replace FILE if it exists")

    d = sub.add_parser("demo", help="rank the causes for a few example patients")
    common(d)
    for module, commands in EXTENSIONS:
        for command in commands:
            getattr(import_module(f".{module}", __package__), f"add_{command}_parser")(sub)
    return parser


def _model(args) -> Model:
    return Model(load_priors_option(args.priors), args.setting, engine=args.engine)


def _causes_asked(terms: Sequence[str], priors) -> list[str]:
    from ..reporting.cause_names import lookup_cause

    asked: list[str] = []
    for term in terms:
        asked += lookup_cause(term, priors.etiologies)
    return list(dict.fromkeys(asked))


def _query(args) -> int:
    evidence = parse_assignments(args.evidence)
    model = _model(args)
    causes = _causes_asked(args.cause, model.priors)
    result = query_result(
        model,
        evidence,
        top=args.top,
        interval=args.interval,
        draws=args.draws,
        seed=args.seed,
        order=args.order,
        max_tier=args.max_tier,
        causes=causes,
    )
    if args.json:
        print(json.dumps(json_safe(result), indent=2, allow_nan=False))
    else:
        print(format_query(result))
    return 0


def _validate(args) -> int:
    directory = args.directory if args.directory is not None else shipped_priors_dir()
    problems = validate_priors(directory)
    for problem in problems:
        print(problem)
    if problems:
        print(f"{len(problems)} problem{'s' if len(problems) != 1 else ''} in {directory}", file=sys.stderr)
        return 1
    print(f"{directory}: valid")
    return 0


def _nodes(args) -> int:
    from ..reporting.listings import format_nodes, node_records

    records = node_records(load_priors_option(args.priors))
    print(json.dumps(records, indent=2) if args.json else format_nodes(records))
    return 0


def _causes(args) -> int:
    from ..reporting.listings import cause_records, format_causes

    priors = load_priors_option(args.priors)
    names = _causes_asked([args.term], priors) if args.term is not None else None
    records = cause_records(priors, names)
    print(json.dumps(records, indent=2) if args.json else format_causes(records))
    return 0


def _schema(args) -> int:
    from ..atomic import atomic_file, check_file_target
    from ..reporting.case_schema import render_schema

    if args.out is not None:
        check_file_target(args.out, overwrite=args.overwrite)
    text = render_schema(load_priors_option(args.priors), "json" if args.json else "markdown")
    if args.out is None:
        sys.stdout.write(text)
        return 0
    with atomic_file(args.out, overwrite=args.overwrite, checked=True) as tmp:
        tmp.write_text(text, encoding="utf-8", newline="\n")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


def _demo(args) -> int:
    model = _model(args)
    from ..reporting.scenarios import DEMO_PATIENTS

    for patient in DEMO_PATIENTS:
        print(f"== {patient.title}")
        print(format_query(query_result(model, dict(patient.evidence), top=5)))
        print()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    handlers = {
        "query": _query,
        "validate": _validate,
        "nodes": _nodes,
        "causes": _causes,
        "demo": _demo,
        "schema": _schema,
    }
    for module, commands in EXTENSIONS:
        for command in commands:
            handlers[command] = getattr(import_module(f".{module}", __package__), f"run_{command}")
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return handlers[args.command](args)
    except PriorsError as err:
        for problem in err.problems:
            print(problem, file=sys.stderr)
        print(f"fasciculation-dx: error: the priors are invalid ({len(err.problems)} problems)", file=sys.stderr)
        return 1
    except FasciculationDxError as err:
        print(f"fasciculation-dx: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        return 0
