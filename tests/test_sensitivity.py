"""One-way sensitivity functions, screening and thresholds, checked against brute-force recomputation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis import sensitivity as sens
from fasciculation_dx.inference.compiled import CompiledEngine
from fasciculation_dx.network.etiology import EtiologyFitError

DATA = Path(__file__).parent / "data"
SMALL = DATA / "sens_small"

SCENARIOS = [
    {"weakness": "yes", "calcium": "normal"},
    {"weakness": "yes", "calcium": "low", "sex": "male", "caffeine": "yes"},
    {},
    # soft evidence on a finding, a context node and a trigger
    {"weakness": "~yes", "calcium": {"low": 1.0, "normal": 3.0}, "sex": "male:0.9,female:0.1", "caffeine": "~yes"},
]


@pytest.fixture(scope="module")
def small():
    return fdx.load_model(SMALL)


@pytest.fixture(scope="module")
def shipped():
    return fdx.load_model()


def brute(model, ref, x, evidence, query="pathological"):
    """The query's posterior with the parameter really changed and a fresh engine."""
    priors = sens.with_covaried_value(model.priors, ref, x)
    try:
        joint = CompiledEngine(priors, model.setting).joint(model.check_evidence(evidence))
    except EtiologyFitError:
        return np.nan  # e.g. a relative risk of 0 for every etiology: the model is undefined
    _, mask = sens.resolve_query(model.priors, query)
    return joint[mask].sum() / joint.sum() if joint.sum() > 0 else np.nan


@pytest.mark.parametrize("evidence", SCENARIOS)
@pytest.mark.parametrize("query", ["pathological", "als", "hypocalcemia", "benign_fasciculation_syndrome"])
def test_every_parameter_matches_brute_force(small, evidence, query):
    for param in small.priors.parameters():
        fn = sens.sensitivity_function(small, param, evidence, query)
        assert fn.posterior == pytest.approx(brute(small, param, param.value, evidence, query), abs=1e-12)
        grid = [0.0, 0.37, 1.0] if param.file != "etiology_modifiers.csv" else [0.5, 3.0]
        for x in [*grid, param.low, param.high]:
            # NaN on both sides where the change makes the evidence impossible
            assert fn(x) == pytest.approx(brute(small, param, x, evidence, query), abs=1e-9, nan_ok=True), (param, x)


def test_linear_fractional_flags(small):
    with_roots = {"sex": "male", "weakness": "yes"}
    fn = sens.sensitivity_function(small, "cpts/weakness.csv:4", with_roots)
    assert fn.linear_fractional and fn.coefficients is not None
    assert not sens.sensitivity_function(small, "base_rates.csv:3", with_roots).linear_fractional
    assert not sens.sensitivity_function(small, "etiology_modifiers.csv:3", with_roots).linear_fractional
    assert not sens.sensitivity_function(small, "cpts/sex.csv:3", with_roots).linear_fractional
    # Without context or trigger evidence the base rates act linearly and modifiers not at all.
    fn = sens.sensitivity_function(small, "base_rates.csv:3", {"weakness": "yes"})
    assert fn.linear_fractional
    rr = sens.sensitivity_function(small, "etiology_modifiers.csv:3", {"weakness": "yes"})
    assert rr.at_low == pytest.approx(rr.at_high, abs=1e-12)


def test_derivative_and_vertex(small):
    ev = {"weakness": "yes", "calcium": "normal"}
    fn = sens.sensitivity_function(small, "cpts/motor_axon_loss.csv:3", ev, "als")
    h = 1e-6
    numeric = (
        brute(small, fn.parameter, fn.current + h, ev, "als") - brute(small, fn.parameter, fn.current - h, ev, "als")
    ) / (2 * h)
    assert fn.derivative == pytest.approx(numeric, rel=1e-5)
    a, b, c, d = fn.coefficients
    assert fn.vertical_asymptote == pytest.approx(-d / c)
    xv, yv = fn.vertex
    assert abs((a * d - b * c) / (c * xv + d) ** 2) == pytest.approx(1.0, rel=1e-9)
    assert yv == pytest.approx(fn(xv))
    assert fn.at_low == pytest.approx(fn(fn.low)) and fn.at_high == pytest.approx(fn(fn.high))


@pytest.mark.parametrize(
    "ref",
    [
        "cpts/weakness.csv:5",  # wildcard column of a finding with two mechanism parents
        "cpts/weakness.csv:6",  # a specific column of the same finding
        "cpts/motor_axon_loss.csv:5",  # wildcard column of a mechanism
        "cpts/calcium.csv:5",  # wildcard column of a direct finding, three states
        "base_rates.csv:3",
        "etiology_modifiers.csv:6",
    ],
)
def test_shipped_style_covariation_keeps_columns_summing_to_one(small, ref):
    values = sens.covaried_values(small.priors, ref, 0.3)
    param = sens.find_parameter(small.priors, ref)
    if param.file != "etiology_modifiers.csv":
        assert sum(values.values()) == pytest.approx(1.0, abs=1e-12)
    assert values[(param.file, param.line)] == 0.3


def test_shipped_priors_several_parameters(shipped):
    ev = {
        "age_group": "65_plus",
        "sex": "male",
        "weakness": "yes",
        "emg_fibrillations": "present",
        "tongue_fasciculations": "yes",
        "calcium": "normal",
    }
    priors = shipped.priors
    files = {}
    for p in priors.parameters():
        files.setdefault(p.file, []).append(p)
    chosen = [
        files["cpts/weakness.csv"][3],
        files["cpts/emg_fibrillations.csv"][1],
        files["cpts/motor_axon_loss.csv"][-1],
        files["cpts/tongue_fasciculations.csv"][1],
        files["cpts/calcium.csv"][-2],
        files["base_rates.csv"][10],
        files["etiology_modifiers.csv"][1],
    ]
    assert any("*" in p.key for p in chosen)
    for param in chosen:
        fn = sens.sensitivity_function(shipped, param, ev, "als")
        for x in (param.low, param.high, 0.5 * (param.low + param.high)):
            assert fn(x) == pytest.approx(brute(shipped, param, x, ev, "als"), abs=1e-9), param


def test_screen_ranks_agree_with_recomputation(shipped):
    ev = {"sex": "male", "age_group": "65_plus", "weakness": "yes", "emg_fibrillations": "present"}
    table = sens.screen(shipped, ev)
    assert len(table) == len(shipped.priors.parameters())
    assert (np.diff(table["swing"].to_numpy()) <= 1e-15).all()
    for row in table.head(4).itertuples():
        lo = brute(shipped, (row.file, row.line), row.low, ev)
        hi = brute(shipped, (row.file, row.line), row.high, ev)
        assert row.at_low == pytest.approx(lo, abs=1e-9)
        assert row.at_high == pytest.approx(hi, abs=1e-9)
    # an unobserved finding cannot matter
    unobserved = table[table["file"] == "cpts/ataxia.csv"]
    assert (unobserved["swing"] == 0).all()


def test_screen_small_matches_functions(small):
    ev = SCENARIOS[1]
    table = sens.screen(small, ev, "als")
    for row in table.itertuples():
        fn = sens.sensitivity_function(small, (row.file, row.line), ev, "als")
        assert row.at_low == pytest.approx(fn.at_low, abs=1e-12)
        assert row.at_high == pytest.approx(fn.at_high, abs=1e-12)


def test_screening_shows_progress_only_when_asked(small, capsys):
    ev = SCENARIOS[1]
    quiet = sens.screen(small, ev, "als")
    assert capsys.readouterr().err == ""
    shown = sens.screen(small, ev, "als", progress=True)
    assert "screening" in capsys.readouterr().err
    assert quiet.equals(shown)


@pytest.mark.parametrize("evidence", SCENARIOS[:2])
@pytest.mark.parametrize("ref", ["cpts/motor_axon_loss.csv:3", "cpts/weakness.csv:5", "base_rates.csv:3"])
def test_threshold_crossing(small, evidence, ref):
    for target in (0.05, 0.2, 0.5):
        t = sens.threshold(small, ref, evidence, "pathological", target)
        if t.value is None:
            assert t.reason == "none within [0, 1]"
            values = [brute(small, ref, x, evidence) for x in np.linspace(0, 1, 41)]
            assert all(v > target for v in values) or all(v < target for v in values)
            continue
        x = t.value
        below = brute(small, ref, max(x - 1e-6, 0), evidence)
        above = brute(small, ref, min(x + 1e-6, 1), evidence)
        assert (below - target) * (above - target) <= 0
        assert brute(small, ref, x, evidence) == pytest.approx(target, abs=1e-8)


def test_threshold_none_within_range(small):
    # weakness is not observed, so its table cannot move the posterior at all
    t = sens.threshold(small, "cpts/weakness.csv:3", {"calcium": "normal"}, "pathological", 0.5)
    assert t.value is None and t.reason == "none within [0, 1]"
    # the posterior of ALS given low calcium never reaches 0.9 whatever P(axon loss | ALS) is
    t = sens.threshold(small, "cpts/motor_axon_loss.csv:3", {"calcium": "low"}, "als", 0.9)
    assert t.value is None and t.reason == "none within [0, 1]" and t.exact


@pytest.mark.parametrize("evidence", SCENARIOS[:2])
@pytest.mark.parametrize(
    "ref", ["cpts/motor_axon_loss.csv:3", "cpts/calcium.csv:5", "base_rates.csv:2", "etiology_modifiers.csv:6"]
)
def test_leading_threshold(small, evidence, ref):
    t = sens.leading_threshold(small, ref, evidence)
    names = small.etiologies

    def leader(x):
        priors = sens.with_covaried_value(small.priors, ref, x)
        try:
            return names[int(np.argmax(CompiledEngine(priors, small.setting).joint(evidence)))]
        except EtiologyFitError:
            return current  # the model is undefined there (base rates unreachable)

    current = None
    current = leader(t.current)
    for bound, new in ((t.below, t.leader_below), (t.above, t.leader_above)):
        if bound is None:
            continue
        step = 1e-6 if bound > t.current else -1e-6
        assert leader(bound - step) == current
        assert leader(bound + step) == new != current
    if t.value is None:
        assert t.reason.startswith("none within")
        for x in np.linspace(*t.domain, 21):
            assert leader(x) == current


def test_base_rate_function_and_settings(small):
    fn = sens.base_rate_function(small, "als", {"weakness": "yes"})
    assert fn.linear_fractional
    assert fn(0.0) == 0.0 and fn(1.0) == pytest.approx(1.0)
    assert fn(0.5) == pytest.approx(brute(small, "base_rates.csv:3", 0.5, {"weakness": "yes"}, "als"), abs=1e-12)
    table = sens.compare_settings(small.priors, {"weakness": "yes"})
    assert list(table.columns) == ["primary_care", "neuromuscular_clinic"]
    assert table.sum().to_numpy() == pytest.approx([1.0, 1.0])
    assert table.loc["als", "neuromuscular_clinic"] > table.loc["als", "primary_care"]
    cats = sens.compare_settings(small.priors, {"weakness": "yes"}, level="category")
    assert set(cats.index) == {"benign", "pathological"}


def test_errors(small):
    with pytest.raises(fdx.EvidenceError, match="unknown query"):
        sens.sensitivity_function(small, "cpts/weakness.csv:2", {}, "alss")
    with pytest.raises(fdx.FasciculationDxError, match="no parameter row"):
        sens.sensitivity_function(small, "cpts/weakness.csv:99", {})
    with pytest.raises(fdx.EvidenceError):
        sens.screen(small, {"weaknes": "yes"})


def test_plots(small, tmp_path):
    matplotlib = pytest.importorskip("matplotlib")
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from fasciculation_dx.reporting import plots

    ev = SCENARIOS[1]
    ax = plots.tornado(sens.screen(small, ev), top=5)
    ax.figure.savefig(tmp_path / "tornado.png")
    ax = plots.sensitivity_curve(sens.sensitivity_function(small, "cpts/weakness.csv:5", ev))
    ax.figure.savefig(tmp_path / "curve.png")
    ax = plots.settings_plot(sens.compare_settings(small.priors, ev))
    assert (tmp_path / "tornado.png").stat().st_size > 0
    plt.close("all")
