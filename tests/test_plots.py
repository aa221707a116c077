"""The sensitivity figures say what they show: parameters in words, bars in frame, lines in legends.

Drawn with the Agg backend on figures not attached to pyplot; nothing is displayed.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

import fasciculation_dx as fdx  # noqa: E402
from fasciculation_dx.analysis import sensitivity as sens  # noqa: E402
from fasciculation_dx.analysis.decision_curve import decision_curve  # noqa: E402
from fasciculation_dx.analysis.uncertainty import posterior_interval  # noqa: E402
from fasciculation_dx.reporting import plots  # noqa: E402
from fasciculation_dx.reporting.scenarios import get_scenario  # noqa: E402

ROOT = Path(__file__).parents[1]
SMALL = ROOT / "tests" / "data" / "sens_small"
SMALL_EVIDENCE = {"weakness": "yes", "calcium": "low", "sex": "male", "caffeine": "yes"}
CODES = re.compile(r"\b\w+/\w+/")  # a bare key such as absent/absent/absent/yes


@pytest.fixture(scope="module")
def shipped():
    return fdx.load_model()


@pytest.fixture(scope="module")
def small():
    return fdx.load_model(SMALL)


@pytest.fixture(scope="module")
def weak_table(shipped):
    """The screening of the scenario whose tornado the issue showed clipped."""
    return sens.screen(shipped, dict(get_scenario("subtle_weakness").evidence))


def new_axes():
    return Figure(layout="constrained").subplots()


def drawn(ax):
    ax.figure.canvas.draw()
    return ax


def reference_lines(ax) -> list[Line2D]:
    """Lines that are vertical or horizontal: constant x or constant y over two or more points."""
    lines = []
    for line in ax.get_lines():
        x, y = np.asarray(line.get_xdata(), float), np.asarray(line.get_ydata(), float)
        if len(x) >= 2 and (np.ptp(x) == 0 or np.ptp(y) == 0):
            lines.append(line)
    return lines


def legend_texts(ax) -> list[str]:
    legend = ax.get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def tick_labels(ax) -> list[str]:
    return [t.get_text() for t in ax.get_yticklabels()]


# -- tornado ---------------------------------------------------------------------------------------
def test_screening_table_names_each_parameter_in_words(shipped, weak_table):
    cpt = weak_table[weak_table["file"].str.startswith("cpts/")]
    assert len(cpt) > 0
    node_of_file = {rows[0].file: node for node, rows in shipped.priors.cpts.items() if rows}
    for row in cpt.head(20).itertuples():
        node = node_of_file[row.file]
        *values, state = row.key.split("/")
        assert row.description.startswith(f"{node}={state}")
        for parent, value in zip(shipped.priors.nodes[node].parents, values):
            assert f"{parent}={'any' if value == '*' else value}" in row.description


def test_tornado_labels_are_words_with_parent_names(shipped, weak_table):
    top = 15
    ax = drawn(plots.tornado(weak_table, top=top, ax=new_axes()))
    labels = tick_labels(ax)
    rows = weak_table.head(top).iloc[::-1]
    assert len(labels) == len(rows)
    for label, row in zip(labels, rows.itertuples()):
        assert not CODES.search(label), label
        assert label.replace("\n", " ") == row.description  # wrapped at spaces only: no word split
        if row.file.startswith("cpts/"):
            node = next(n for n, r in shipped.priors.cpts.items() if r and r[0].file == row.file)
            for parent in shipped.priors.nodes[node].parents:
                assert f"{parent}=" in label
    assert any(f"{p}=" in "".join(labels) for p in shipped.priors.nodes["weakness"].parents)


def test_tornado_long_labels_wrap_and_stay_readable(weak_table):
    ax = drawn(plots.tornado(weak_table, top=15, ax=new_axes()))
    labels = tick_labels(ax)
    assert any("\n" in label for label in labels), "the longest labels should wrap"
    for label in labels:
        for line in label.split("\n"):
            assert len(line) <= plots.LABEL_WIDTH or " " not in line
    sizes = [t.get_fontsize() for t in ax.get_yticklabels()] + [t.get_fontsize() for t in ax.texts]
    assert min(sizes) >= 8


def test_tornado_keeps_range_and_source_on_a_second_line(weak_table):
    top = 6
    ax = plots.tornado(weak_table, top=top, ax=new_axes())
    details = [t.get_text() for t in ax.texts]
    rows = weak_table.head(top).iloc[::-1]
    assert details == [f"range {r.low:g} to {r.high:g} · {r.file}:{r.line}" for r in rows.itertuples()]


@pytest.mark.parametrize("top", [1, 5, 15])
def test_every_tornado_bar_and_marker_lies_inside_the_x_limits(weak_table, top):
    ax = drawn(plots.tornado(weak_table, top=top, ax=new_axes()))
    left, right = ax.get_xlim()
    bars = ax.patches
    assert len(bars) == min(top, len(weak_table))
    for bar in bars:
        x0, x1 = bar.get_x(), bar.get_x() + bar.get_width()
        assert left < x0 <= x1 < right, (left, x0, x1, right)
    for line in ax.get_lines():
        for x in np.asarray(line.get_xdata(), float):
            assert left < x < right


def test_tornado_legend_names_the_current_posterior_and_the_markers(weak_table):
    ax = plots.tornado(weak_table, top=5, ax=new_axes())
    texts = legend_texts(ax)
    current = weak_table.attrs["posterior"]
    assert f"current P(pathological) = {current:.3g}" in texts
    assert "parameter at low end" in texts and "parameter at high end" in texts
    assert "<" not in ax.get_xlabel() and ax.get_xlabel() == "P(pathological | evidence)"
    (vertical,) = reference_lines(ax)
    assert vertical.get_xdata()[0] == pytest.approx(current)


def test_tornado_height_grows_with_rows(weak_table):
    heights = [plots.tornado_size(weak_table, top)[1] for top in (1, 5, 15, 30)]
    assert heights == sorted(heights) and len(set(heights)) == len(heights)


def test_tornado_falls_back_to_the_key_without_a_description(weak_table):
    ax = plots.tornado(weak_table.drop(columns=["description"]), top=3, ax=new_axes())
    assert tick_labels(ax) == [plots.wrap_words(k) for k in weak_table.head(3)["key"].iloc[::-1]]


def test_wrap_words_never_splits_a_word():
    word = "presynaptic_nmj_failure=absent,"
    wrapped = plots.wrap_words(f"weakness=yes | {word} {word} {word}", 20)
    assert wrapped.split("\n")[1:] == [word] * 3
    assert plots.wrap_words("x" * 80, 20) == "x" * 80


# -- every figure of plots.py ----------------------------------------------------------------------
def figures(small):
    fn = sens.sensitivity_function(small, "cpts/weakness.csv:5", SMALL_EVIDENCE)
    curve = decision_curve([0.9, 0.6, 0.3, 0.1], [True, False, True, False])
    return {
        "tornado": plots.tornado(sens.screen(small, SMALL_EVIDENCE), top=5, ax=new_axes()),
        "sensitivity_curve": plots.sensitivity_curve(fn, ax=new_axes()),
        "interval_plot": plots.interval_plot(posterior_interval(small, SMALL_EVIDENCE, draws=100), ax=new_axes()),
        "settings_plot": plots.settings_plot(sens.compare_settings(small.priors, SMALL_EVIDENCE), ax=new_axes()),
        "decision_curve_plot": plots.decision_curve_plot(curve, ax=new_axes()),
    }


def test_every_plot_labels_both_axes(small):
    for name, ax in figures(small).items():
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), name


def test_every_reference_line_is_in_the_legend(small):
    found = 0
    for name, ax in figures(small).items():
        texts = legend_texts(ax)
        for line in reference_lines(ax):
            found += 1
            label = line.get_label()
            assert not label.startswith("_"), (name, label)
            assert label in texts, (name, label)
    assert found >= 2  # the tornado's current posterior and the decision curve's "refer none"


def test_sensitivity_curve_names_the_parameter_in_words(small):
    fn = sens.sensitivity_function(small, "cpts/weakness.csv:5", SMALL_EVIDENCE)
    ax = plots.sensitivity_curve(fn, ax=new_axes())
    xlabel = ax.get_xlabel()
    assert fn.description and fn.description.split(" | ")[0] in xlabel.replace("\n", " ")
    for parent in small.priors.nodes["weakness"].parents:
        assert f"{parent}=" in xlabel
    assert "cpts/weakness.csv:5" in xlabel and not CODES.search(xlabel)


# -- notebook 03 -----------------------------------------------------------------------------------
def test_notebook_03_labels_its_reference_lines():
    nb = json.loads((ROOT / "notebooks" / "03-threshold-analysis.ipynb").read_text())
    calls = [
        line
        for cell in nb["cells"]
        if cell["cell_type"] == "code"
        for line in "".join(cell["source"]).splitlines()
        if re.search(r"\.ax[hv](line|span)\(", line)
    ]
    assert calls
    assert all("label=" in line for line in calls), calls
