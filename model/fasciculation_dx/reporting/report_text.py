"""Plain-text rendering of a query result for the terminal."""

from __future__ import annotations

import textwrap

from ..inference.information import MIN_GAIN

__all__ = ["format_query"]


def _pct(p: float) -> str:
    if p >= 0.9995:
        return ">99.9%"
    if 0 < p < 0.0005:
        return "<0.1%"
    return f"{100 * p:.1f}%"


def _woe(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:+.2f}"


def _lr(value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.3g}"


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


def format_query(result: dict) -> str:
    """Format the output of :func:`fasciculation_dx.inference.query.query_result` as a readable report."""
    lines = []
    evidence = result["evidence"]
    given = ", ".join(_given(k, v) for k, v in evidence.items()) or "no findings entered"
    lines.append(f"Differential for: {given}")
    lines.append(f"Setting: {result['setting']}")
    lines.append("")
    bounds = result.get("interval")
    head = f"  {'rank':>4}  {'etiology':36} {'probability':>11}"
    if bounds:
        head += f"  {str(round(100 * bounds['level'])) + '% credible interval':>26}"
    lines.append(head)
    for rank, (name, p) in enumerate(list(result["posterior"].items())[: result["top"]], start=1):
        line = f"  {rank:>4}  {name:36} {_pct(p):>11}"
        if bounds:
            lo, hi = bounds["posterior"][name]
            line += f"  {_pct(lo) + ' to ' + _pct(hi):>26}"
        lines.append(line)
    cat = result["category"]
    lines.append("")
    split = f"Benign {_pct(cat['benign'])}   Pathological {_pct(cat['pathological'])}"
    if bounds:
        lo, hi = bounds["category"]["pathological"]
        split += f"  (pathological {_pct(lo)} to {_pct(hi)})"
    lines.append(split)
    groups = ", ".join(f"{g} {_pct(p)}" for g, p in list(result["group"].items())[:4])
    lines.append(f"Groups: {groups}")
    if result["explanation"]:
        lead = result["explanation"][0]["leading"]
        runner = result["explanation"][0]["runner_up"]
        lines.append("")
        lines += _paragraph(
            f"Why {lead}? Weight of evidence of each finding: the natural log of its likelihood ratio for "
            f"{lead}, counted after the other findings (positive favours it), against the rest and against "
            f"the runner-up, {runner}; and for a pathological cause against a benign one (path. vs benign: "
            "positive points to disease, whichever cause leads), with that likelihood ratio (LR):"
        )
        lines.append(f"  {'finding':40} {'vs rest':>9} {'vs runner-up':>13} {'path. vs benign':>16} {'LR':>7}")
        for row in result["explanation"]:
            finding = f"{row['node']}={row['state']}"
            lines.append(
                f"  {finding:40} {_woe(row['woe_vs_rest']):>9} {_woe(row['woe_vs_runner_up']):>13} "
                f"{_woe(row.get('woe_pathological_vs_benign')):>16} {_lr(row.get('lr_pathological_vs_benign')):>7}"
            )
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
    lines.append("")
    lines.append(result["disclaimer"])
    return "\n".join(lines)
