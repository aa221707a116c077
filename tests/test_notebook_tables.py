"""The tables the teaching notebooks show: ordered, explained and free of rounding noise.

The notebooks' code cells run here in-process (up to the cell that builds the table), so these tests
check the tables the notebooks actually build; ``tests/test_notebooks.py`` runs every notebook whole.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.reporting.teaching import (
    FLOAT_NOISE,
    REFERENCE_CLASSES,
    reference_class_table,
    without_float_noise,
)

NOTEBOOKS = Path(__file__).parents[1] / "notebooks"


def _notebook(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / name, as_version=4)


def _run_until(name: str, cell_id: str, skip: tuple[str, ...] = ()) -> dict:
    """Execute a notebook's code cells in order up to and including ``cell_id``; return the namespace."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    namespace: dict = {"__name__": "__notebook__"}
    nb = _notebook(name)
    assert any(c.get("id") == cell_id for c in nb.cells), f"{name} has no cell {cell_id}"
    try:
        for cell in nb.cells:
            if cell.cell_type == "code" and cell.id not in skip:
                exec(compile(cell.source, f"{name}:{cell.id}", "exec"), namespace)
            if cell.get("id") == cell_id:
                return namespace
    finally:
        plt.close("all")
    raise AssertionError("unreachable")


def _noise(frame: pd.DataFrame) -> int:
    numbers = frame.select_dtypes("number").to_numpy(dtype=float)
    return int(((np.abs(numbers) < FLOAT_NOISE) & (numbers != 0)).sum())


# -- 01: the care-setting comparison ---------------------------------------------------------------------
def test_quickstart_setting_comparison_keeps_the_first_settings_order():
    ns = _run_until("01-quickstart.ipynb", "54e2c780")
    table, model, clinic, young = ns["by_setting"], ns["model"], ns["clinic"], ns["young"]
    assert list(table.columns) == ["primary_care", "neuromuscular_clinic"]
    primary = model.posterior(young)
    assert list(table.index[:6]) == list(primary.index[:6])  # the first setting's six leaders, in its order
    assert table["primary_care"].is_monotonic_decreasing
    assert "physiological" in table.head(6).index and table.index[0] == primary.index[0]
    assert set(clinic.posterior(young).index[:6]) <= set(table.index)  # the clinic's leaders are shown too
    np.testing.assert_allclose(table["neuromuscular_clinic"], clinic.posterior(young)[table.index])


# -- 05: recorded findings and convergence ---------------------------------------------------------------
def test_calibration_notebook_simulates_recording_by_tier():
    ns = _run_until("05-calibrating-priors.ipynb", "recorded-by-tier")
    share = ns["recorded_by_tier"]
    assert share["history"] > 0.8 and share["genetic"] < 0.3
    assert share["electrodiagnosis"] > share["genetic"]


def test_calibration_notebook_explains_convergence():
    nb = _notebook("05-calibrating-priors.ipynb")
    ids = [c.get("id") for c in nb.cells]
    calibrating = nb.cells[ids.index("c5986d90")]
    assert "calibrate(" in calibrating.source and "print(result.stopped)" in calibrating.source
    note = nb.cells[ids.index("c5986d90") + 1]
    assert note.cell_type == "markdown"
    for words in ("converged", "`False`", "max_iter", "--max-iter", "tol"):
        assert words in note.source, words
    # and the sentence the notebook prints says why when the EM stops early
    from fasciculation_dx.analysis.calibration import calibrate
    from fasciculation_dx.analysis.simulate import simulate

    priors = fdx.load_priors(fdx.shipped_priors_dir())
    result = calibrate(simulate(priors, 60, missing=0.3, seed=1), priors, max_iter=1, tol=1e-12)
    assert not result.converged
    assert "without converging" in result.stopped and "--max-iter" in result.stopped


# -- 06: exercise 2's reference classes, and no rounding noise -------------------------------------------
def test_benign_or_not_exercise_two_explains_its_reference_class():
    ns = _run_until("06-benign-or-not.ipynb", "ee0c5b16")
    table = ns["emg_weights"]
    assert set(REFERENCE_CLASSES.values()) <= set(table.columns)
    assert _noise(table) == 0
    alone, neurogenic = table.loc["fasciculation potentials alone"], table.loc["with neurogenic change"]
    fp, fib = "emg_fasciculation_potentials = present", "emg_fibrillations = present"
    # against a benign cause, denervation outweighs fasciculation potentials...
    assert neurogenic.loc[fib, "pathological vs benign"] > neurogenic.loc[fp, "pathological vs benign"]
    assert neurogenic["pathological vs benign"].is_monotonic_decreasing
    # ...while against every other cause the ranking can differ: the reason the columns are named
    assert neurogenic.loc[fp, "leading cause vs every other cause"] != neurogenic.loc[fp, "pathological vs benign"]
    assert (alone["pathological vs benign"] < 0).all()  # the prose: potentials alone point to a benign cause
    nb = _notebook("06-benign-or-not.ipynb")
    ids = [c.get("id") for c in nb.cells]
    note = nb.cells[ids.index("ee0c5b16") + 1]
    assert note.cell_type == "markdown" and "reference class" in note.source
    for name in REFERENCE_CLASSES.values():
        assert name in note.source


def test_benign_or_not_explanations_show_no_rounding_noise():
    ns = _run_until("06-benign-or-not.ipynb", "d859dd63")
    clinic, primary = ns["clinic"], ns["primary"]
    tongue_normal = {**ns["tongue"], **ns["normal_exam"]}
    triggers = {**ns["student"], "caffeine": "yes", "stress_anxiety": "yes", "sleep_deprivation": "yes"}
    for model, evidence in ((clinic, tongue_normal), (primary, triggers)):
        raw = model.explain(evidence)
        cleaned = without_float_noise(raw)
        assert _noise(cleaned) == 0
        numbers = raw.select_dtypes("number").columns
        # only noise changed: every other value is untouched
        before, after = raw[numbers].to_numpy(dtype=float), cleaned[numbers].to_numpy(dtype=float)
        big = np.abs(before) >= FLOAT_NOISE
        assert np.array_equal(after[big], before[big]) and (after[~big] == 0).all()
    sources = {c.get("id"): c.source for c in _notebook("06-benign-or-not.ipynb").cells}
    assert "without_float_noise(clinic.explain(" in sources["2330f468"]
    assert "without_float_noise(primary.explain(" in sources["d859dd63"]


# -- the helpers themselves ------------------------------------------------------------------------------
def test_without_float_noise_zeroes_only_tiny_numbers():
    frame = pd.DataFrame({"x": [-4.4e-16, 2.8e-15, 1e-6, -0.5, 0.0], "name": ["a", "b", "c", "d", "e"]})
    cleaned = without_float_noise(frame)
    assert cleaned["x"].tolist() == [0.0, 0.0, 1e-6, -0.5, 0.0]
    assert not np.signbit(cleaned["x"].iloc[0])  # 0, not -0
    assert cleaned["name"].tolist() == frame["name"].tolist()
    assert frame["x"].iloc[0] == -4.4e-16  # the input is not changed


def test_reference_class_table_sorts_each_block_and_refuses_an_unknown_column():
    model = fdx.load_model(setting="neuromuscular_clinic")
    evidence = {"emg_fasciculation_potentials": "present", "emg_fibrillations": "present", "weakness": "yes"}
    by_rest = reference_class_table(model, {"a": evidence}, sort_by="woe_vs_rest").loc["a"]
    assert by_rest["leading cause vs every other cause"].is_monotonic_decreasing
    explained = model.explain(evidence).set_index("node")
    for finding, row in by_rest.iterrows():
        node = finding.split(" = ")[0]
        assert row["pathological vs benign"] == pytest.approx(explained.loc[node, "woe_pathological_vs_benign"])
        assert row["leading cause"] == explained.loc[node, "leading"]
    with pytest.raises(fdx.errors.ArgumentError, match="woe_vs_rest"):
        reference_class_table(model, {"a": evidence}, sort_by="lr_vs_rest")


# -- 06: side-by-side posterior panels share their probability axis --------------------------------------
def test_benign_or_not_side_by_side_panels_share_their_scale():
    ns = _run_until("06-benign-or-not.ipynb", "fada99b0")
    for name in ("emg_panels", "setting_panels"):
        fig = ns[name]
        left, right = fig.axes
        assert left.get_shared_x_axes().joined(left, right), name
        assert left.get_xlim() == right.get_xlim(), name
        longest = max(bar.get_width() for ax in fig.axes for bar in ax.patches)
        assert longest <= left.get_xlim()[1], name  # no bar runs off the shared axis
        assert "same probability scale" in fig.get_suptitle(), name
        assert all(ax.get_xlabel() == "posterior probability" for ax in fig.axes), name
