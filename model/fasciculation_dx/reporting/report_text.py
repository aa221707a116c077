"""Plain-text rendering of a query result for the terminal."""

from __future__ import annotations

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


def format_query(result: dict) -> str:
    """Format the output of :func:`fasciculation_dx.inference.query.query_result` as a readable report."""
    lines = []
    evidence = result["evidence"]
    given = ", ".join(f"{k}={v}" for k, v in evidence.items()) or "no findings entered"
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
        lines.append(f"Why {lead}? Weight of evidence of each finding: the natural log of its likelihood ratio")
        lines.append(f"for {lead}, counted after the other findings (positive favours it), against the rest")
        lines.append(f"and against the runner-up, {runner}:")
        lines.append(f"  {'finding':40} {'vs rest':>9} {'vs runner-up':>13}")
        for row in result["explanation"]:
            finding = f"{row['node']}={row['state']}"
            lines.append(f"  {finding:40} {_woe(row['woe_vs_rest']):>9} {_woe(row['woe_vs_runner_up']):>13}")
    if result["next_tests"]:
        lines.append("")
        lines.append("Most informative next findings (expected information gain, bits):")
        lines.append(f"  {'finding':34} {'panel':17} {'cause':>6} {'benign/path.':>12}")
        for row in result["next_tests"]:
            lines.append(
                f"  {row['node']:34} {row['panel']:17} {row['info_gain_etiology']:>6.3f} "
                f"{row['info_gain_category']:>12.3f}"
            )
    lines.append("")
    lines.append(result["disclaimer"])
    return "\n".join(lines)
