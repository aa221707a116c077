"""Plain-text rendering of a query result for the terminal."""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from typing import Any

from ..inference.information import MIN_GAIN
from ..network.red_flags import group_red_flags

__all__ = ["PLAIN_TESTS", "SETTING_CHOICE", "format_query", "percent", "times"]

SETTING_CHOICE = (
    "Choose the setting the patient is seen in now: each has its own base rates (priors/base_rates.csv), "
    "so the same findings can rank the causes differently."
)
"""What the care setting is for, said in ``--help`` and in the text output."""

PLAIN_TESTS = 5
"""How many suggested tests the text output explains in plain words (the JSON has every one)."""


def percent(p: float) -> str:
    """Write a probability as the text output and the clinician page do: ``32.7%``, ``<0.1%``, ``>99.9%``."""
    if p >= 0.9995:
        return ">99.9%"
    if 0 < p < 0.0005:
        return "<0.1%"
    return f"{100 * p:.1f}%"


def times(value: float | None) -> str:
    """Write a likelihood ratio as a factor: ``x4.2``, ``x0.31``, ``x150``; ``certain`` when infinite."""
    if value is None or value != value:
        return "n/a"
    if value == float("inf"):
        return "certain"
    if value >= 99.5:
        return f"x{value:,.0f}"
    return f"x{value:.2g}"


ORDER_TITLES = {
    "tier": "Suggested next findings, cheapest useful tier first (history, bedside examination, blood tests, "
    "electrodiagnosis, antibodies, imaging, genetic tests) and by expected gain within a tier; findings "
    "expected to gain less than {min_gain:g} bits come last.",
    "gain": "Suggested next findings, by expected gain alone.",
    "gain_per_cost": "Suggested next findings, by expected gain per indicative relative cost of the test.",
}
WIDTH = 100


def _paragraph(text: str) -> list[str]:
    return textwrap.wrap(text, WIDTH, break_on_hyphens=False)


def _given(node: str, value) -> str:
    """One entered finding: ``node=state``, or ``node=yes:0.8,no:0.2`` for soft evidence."""
    if isinstance(value, str):
        return f"{node}={value}"
    return f"{node}=" + ",".join(f"{s}:{w:.3g}" for s, w in value.items() if w > 0)


def _setting(result: dict) -> list[str]:
    """Describe the setting, its base rate of a pathological cause, and the other settings."""
    setting = result["setting"]
    text = f"Setting: {setting}"
    if result.get("setting_description"):
        text += f": {result['setting_description']}."
    if result.get("prior_pathological") is not None:
        text += f" Before any finding, P(pathological) in this setting is {percent(result['prior_pathological'])}."
    others = {k: v for k, v in result.get("settings", {}).items() if k != setting}
    if others:
        text += " Other settings: " + "; ".join(f"{k} ({v})" for k, v in others.items()) + ". " + SETTING_CHOICE
    return _paragraph(text)


def _flag_finding(finding: Mapping[str, Any]) -> str:
    text = f"{finding['node']}={finding['state']}"
    if not finding["certain"]:
        text += ", entered as uncertain"
    return f"{text} ({finding['text']})" if finding["text"] else text


def _red_flags(result: dict) -> list[str]:
    """Name the entered findings a guideline lists as red flags, grouped by guideline, with its words once."""
    groups = result.get("red_flag_groups")
    if groups is None:  # a result built without the grouping
        groups = group_red_flags(result.get("red_flags") or [])
    if not groups:
        return []
    parts = []
    for group in groups:
        part = f"{group['guideline']}: " + ", ".join(_flag_finding(f) for f in group["findings"])
        if group["shared"]:
            part += f"; for each: {group['shared']}"
        parts.append(part + ".")
    return _paragraph("Red flags present, in the words of the guideline that lists each: " + " ".join(parts))


def _explanation(result: dict) -> list[str]:
    """Show each finding's likelihood ratios, what "counted after the other findings" means, and the notes."""
    lead = result["explanation"][0]["leading"]
    runner = result["explanation"][0]["runner_up"]
    lines = _paragraph(
        f"Why {lead}? The likelihood ratio (LR) of each finding, counted after the other findings: the factor "
        "by which adding it last multiplied the odds (x1 is no change, below 1 counts against), so a finding that "
        "repeats what the others already show counts little."
    )
    lines += _paragraph(f"vs rest: for {lead} against all other causes; vs runner-up: against {runner}.")
    lines.append("path. vs benign: for a pathological cause against a benign one (above 1 points to disease).")
    lines.append(f"  {'finding':40} {'vs rest':>9} {'vs runner-up':>13} {'path. vs benign':>16}")
    for row in result["explanation"]:
        finding = f"{row['node']}={row['state']}"
        lines.append(
            f"  {finding:40} {times(row.get('lr_vs_rest')):>9} {times(row.get('lr_vs_runner_up')):>13} "
            f"{times(row.get('lr_pathological_vs_benign')):>16}"
        )
    lines += _mechanism_notes(result.get("explanation_notes", ()))
    return lines


def _target(note: dict) -> str:
    if note["before_measure"] == "pathological_vs_benign":
        return "a pathological cause against a benign one"
    return f"{note['leading']} against the rest"


def _mechanism_notes(notes) -> list[str]:
    """Say which findings add little because the others already made their shared mechanism likely.

    When every finding of a set has a note naming the others of the set (weakness, wasting and
    fibrillations: any two establish motor axon loss), one sentence covers the set.
    """
    lines: list[str] = []
    done: set[str] = set()
    by_finding = {f"{n['node']}={n['state']}": n for n in notes}
    for finding, note in by_finding.items():
        if finding in done:
            continue
        members = [finding, *note["shared_with"]]
        group = [by_finding.get(m) for m in members]
        if (
            len(members) > 2
            and all(
                g is not None and set(members) == {m, *g["shared_with"]} for m, g in zip(members, group, strict=True)
            )
            and len({g["before_measure"] for g in group}) == 1  # one sentence names one comparison
        ):
            done.update(members)
            mechanisms = sorted({m for g in group for m in g["mechanisms"]})
            low = min(p for g in group for p in g["mechanisms"].values())
            high = max(p for g in group for p in g["mechanisms"].values())
            befores = ", ".join(f"{m} {times(g['lr_before'])}" for m, g in zip(members, group, strict=True))
            lines += _paragraph(
                f"{', '.join(members)} each add little counted after the others: they share "
                f"{', '.join(m.replace('_', ' ') for m in mechanisms)}, which the others already make likely "
                f"({percent(low)} to {percent(high)}). Counted before the others, each would multiply the odds of "
                f"{_target(note)} by: {befores}."
            )
            continue
        done.add(finding)
        mechanisms = ", ".join(f"{m.replace('_', ' ')} ({percent(p)})" for m, p in note["mechanisms"].items())
        lines += _paragraph(
            f"{finding} adds little now ({times(note['lr_vs_rest'])} vs rest, "
            f"{times(note['lr_pathological_vs_benign'])} path. vs benign) because "
            f"{', '.join(note['shared_with'])} already make the mechanism it shares with them likely: {mechanisms}. "
            f"Counted before them, it would multiply the odds of {_target(note)} by "
            f"{times(note['lr_before']).removeprefix('x')}."
        )
    return lines


def _result_at(outcome: dict, key: str) -> str:
    return f"{percent(outcome[key])} (if {outcome['state']}, {percent(outcome['probability'])} likely)"


def _plain_tests(tests: list[dict]) -> list[str]:
    """How far each of the first suggested tests could move P(pathological) and the leading cause, in words."""
    rows = [r for r in tests[:PLAIN_TESTS] if r.get("outcomes")]
    if not rows:
        return []
    lines = _paragraph(
        "What each of the first tests could change, from the model: the probability now and the lowest and highest "
        "it could become, with the result that gives each and how likely that result is now:"
    )
    for row in rows:
        parts = []
        for key, label, now in (
            ("p_pathological", "P(pathological)", row["p_pathological_now"]),
            ("p_leading", f"P({row['leading']})", row["p_leading_now"]),
        ):
            low = min(row["outcomes"], key=lambda o: o[key])
            high = max(row["outcomes"], key=lambda o: o[key])
            parts.append(f"{label} from {percent(now)} to between {_result_at(low, key)} and {_result_at(high, key)}")
        lines += textwrap.wrap(
            f"- {row['node']} could move {'; and '.join(parts)}.", WIDTH, subsequent_indent="  ", break_on_hyphens=False
        )
    return lines


def format_query(result: dict) -> str:
    """Format the output of :func:`fasciculation_dx.inference.query.query_result` as a readable report."""
    lines = []
    evidence = result["evidence"]
    given = ", ".join(_given(k, v) for k, v in evidence.items()) or "no findings entered"
    lines.append(f"Differential for: {given}")
    for value in result.get("values", []):  # how each number was binned, with the cut-offs' sources
        lines += _paragraph(f"Entered as a number: {value['text']}")
    lines += _setting(result)
    lines.append("")
    bounds = result.get("interval")
    head = f"  {'rank':>4}  {'etiology':36} {'probability':>11}"
    if bounds:
        head += f"  {str(round(100 * bounds['level'])) + '% credible interval':>26}"
    lines.append(head)
    for rank, (name, p) in enumerate(list(result["posterior"].items())[: result["top"]], start=1):
        line = f"  {rank:>4}  {name:36} {percent(p):>11}"
        if bounds:
            lo, hi = bounds["posterior"][name]
            line += f"  {percent(lo) + ' to ' + percent(hi):>26}"
        lines.append(line)
    cat = result["category"]
    lines.append("")
    split = f"Benign {percent(cat['benign'])}   Pathological {percent(cat['pathological'])}"
    if bounds:
        lo, hi = bounds["category"]["pathological"]
        split += f"  (pathological {percent(lo)} to {percent(hi)})"
    lines.append(split)
    groups = ", ".join(f"{g} {percent(p)}" for g, p in list(result["group"].items())[:4])
    lines.append(f"Groups: {groups}")
    for row in result.get("asked", ()):
        lines.append(
            f"Asked about: {row['cause']} ({row['group']}, {row['category']}): rank {row['rank']} of "
            f"{len(result['posterior'])}, {percent(row['probability'])}"
        )
    lines += _red_flags(result)
    if result["explanation"]:
        lines.append("")
        lines += _explanation(result)
    if result["next_tests"]:
        order = result.get("next_tests_order", "tier")
        min_gain = result.get("min_gain", MIN_GAIN)
        lines.append("")
        lines += _paragraph(ORDER_TITLES.get(order, order).format(min_gain=min_gain))
        if result.get("max_tier"):
            lines.append(f"Only tiers up to and including {result['max_tier']}.")
        gains = [r["info_gain_etiology"] for r in result["next_tests"]]
        if order == "tier" and max(gains) < min_gain:
            lines += _paragraph(
                f"No single unobserved finding is expected to gain {min_gain:g} bits or more about the cause."
            )
        lines.append("Expected information gain in bits, about the cause and about benign versus pathological:")
        lines.append(f"  {'finding':38} {'tier':20} {'cost':9} {'cause':>6} {'benign/path.':>12}")
        for row in result["next_tests"]:
            lines.append(
                f"  {row['node']:38} {row.get('tier', ''):20} {row.get('cost_band', ''):9} "
                f"{row['info_gain_etiology']:>6.3f} {row['info_gain_category']:>12.3f}"
            )
        lines += _plain_tests(result["next_tests"])
    lines.append("")
    lines.append(result["disclaimer"])
    return "\n".join(lines)
