"""Numeric values with units (calcium=1.9mmol/L, age=58) binned by the cut-offs of priors/measurements.csv."""

from __future__ import annotations

from pathlib import Path

import pytest

import fasciculation_dx as fdx
from fasciculation_dx.cli import main as cli
from fasciculation_dx.inference.evidence import EvidenceChecker
from fasciculation_dx.inference.measurements import MeasurementTable, bin_measurements, parse_quantity
from fasciculation_dx.network.priors import MEASUREMENT_REFERENCE

TINY = Path(__file__).parent / "data" / "tiny"


@pytest.fixture(scope="module")
def model():
    return fdx.load_model()


@pytest.fixture(scope="module")
def checker(model):
    return EvidenceChecker(model.priors)


def _scale(priors, name, unit):
    return [m for m in priors.measurements if m.name == name and m.unit == unit]


def _cut(priors, name, unit, state, bound):
    """A cut-off as the priors give it, so that the tests follow the CSV rather than restate it."""
    return getattr(next(m for m in _scale(priors, name, unit) if m.interval == state), bound)


@pytest.mark.parametrize(
    ("text", "expected"),
    [("1.9mmol/L", (1.9, "mmol/L")), (" 7.6 mg/dL ", (7.6, "mg/dL")), ("58", (58.0, "")), (".5", (0.5, ""))],
)
def test_parse_quantity_reads_number_and_unit(text, expected):
    assert parse_quantity(text) == expected


@pytest.mark.parametrize("text", ["yes", "40_to_64", "3_or_more", "~yes", "yes:0.8,no:0.2", ""])
def test_parse_quantity_leaves_states_and_soft_evidence_alone(text):
    assert parse_quantity(text) is None


def test_issue_examples_bin_into_states(checker, model):
    priors = model.priors
    evidence, binned = checker.check_binned(
        {"calcium": "1.9mmol/L", "sodium": "128", "tsh": "0.01", "age": "58", "weakness": "yes"}
    )
    assert evidence == {"calcium": "low", "sodium": "low", "tsh": "low", "age_group": "40_to_64", "weakness": "yes"}
    assert list(binned) == ["calcium", "sodium", "tsh", "age_group"]
    calcium = binned["calcium"]
    assert (calcium.name, calcium.node, calcium.value, calcium.unit, calcium.state) == (
        "calcium",
        "calcium",
        1.9,
        "mmol/L",
        "low",
    )
    assert calcium.unit_given and not binned["sodium"].unit_given
    text = calcium.describe()
    assert text.startswith("calcium 1.9 mmol/L -> low (")
    low_cut = _cut(priors, "calcium", "mmol/L", "low", "upper")
    assert f"below {low_cut:g} mmol/L" in text
    reference = next(m for m in _scale(priors, "calcium", "mmol/L") if m.interval == MEASUREMENT_REFERENCE)
    assert f"reference interval {reference.lower:g}-{reference.upper:g} mmol/L" in text
    for source_id in calcium.source_ids:
        assert source_id in priors.sources and source_id in text
    assert binned["age_group"].as_dict()["text"].startswith("age 58 years -> 40_to_64")


def test_each_unit_bins_each_state_by_the_csv_cut_offs(checker, model):
    """Walk every scale of measurements.csv: a value inside each state's interval bins to that state."""
    priors = model.priors
    table = MeasurementTable(priors)
    scales = {(m.name, m.unit) for m in priors.measurements}
    assert len(scales) >= 10
    for name, unit in sorted(scales):
        rows = [m for m in _scale(priors, name, unit) if m.interval != MEASUREMENT_REFERENCE]
        for row in rows:
            if row.lower is None:
                value = row.upper / 2
            elif row.upper is None:
                value = row.lower * 1.5 + 1
            else:
                value = (row.lower + row.upper) / 2
            found = table.bin(name, f"{value:g}{unit}")
            assert found.state == row.interval, (name, unit, value)
            assert checker({name: f"{value:g} {unit}"}) == {row.node: row.interval}


def test_a_cut_off_belongs_to_the_state_the_csv_says(model):
    priors = model.priors
    table = MeasurementTable(priors)
    age_cut = _cut(priors, "age", "years", "40_to_64", "lower")
    assert table.bin("age", age_cut).state == "40_to_64"  # 40 is in 40_to_64, not under_40
    assert table.bin("age", age_cut - 0.5).state == "under_40"
    low_cut = _cut(priors, "calcium", "mmol/L", "low", "upper")
    high_cut = _cut(priors, "calcium", "mmol/L", "high", "lower")
    assert table.bin("calcium", f"{low_cut:g}mmol/L").state == "normal"
    assert table.bin("calcium", f"{high_cut:g}mmol/L").state == "normal"  # the upper reference limit is normal
    assert table.bin("calcium", f"{high_cut + 0.01:g}mmol/L").state == "high"


def test_mildly_low_value_is_normal_and_says_it_is_below_the_reference(model):
    table = MeasurementTable(model.priors)
    reference_low = _cut(model.priors, "calcium", "mmol/L", MEASUREMENT_REFERENCE, "lower")
    low_cut = _cut(model.priors, "calcium", "mmol/L", "low", "upper")
    value = (reference_low + low_cut) / 2
    found = table.bin("calcium", f"{value:g}mmol/L")
    assert found.state == "normal" and found.position == "below"
    assert "below reference interval" in found.describe()


def test_units_match_regardless_of_case_and_spaces(checker):
    assert checker({"calcium": "1.9 MMOL/l"}) == {"calcium": "low"}
    assert checker({"calcium": "7.6mg/dl"}) == {"calcium": "low"}


def test_mg_dl_and_mmol_l_agree_on_the_same_value(checker):
    assert checker({"calcium": "1.9mmol/L"}) == checker({"calcium": "7.6 mg/dL"})


@pytest.mark.parametrize("name", ["calcium", "magnesium"])
def test_bare_number_is_refused_where_units_disagree(checker, name):
    with pytest.raises(fdx.EvidenceError) as info:
        checker({name: "1.9"})
    message = str(info.value)
    assert "needs its unit" in message and "mmol/L" in message and "mg/dL" in message


def test_unknown_unit_lists_the_valid_ones(checker):
    with pytest.raises(fdx.EvidenceError, match=r"unknown unit 'mg' for 'calcium'\. Valid units: mmol/L, mg/dL"):
        checker({"calcium": "1.9 mg"})


@pytest.mark.parametrize("value", ["-1mmol/L", "inf mmol/L"])
def test_negative_or_infinite_values_are_refused(checker, value):
    with pytest.raises(fdx.EvidenceError, match="calcium"):
        checker({"calcium": value})


def test_number_for_a_node_without_cut_offs_says_so(checker):
    with pytest.raises(fdx.EvidenceError) as info:
        checker({"ck": "250"})
    message = str(info.value)
    assert "takes a state, not a number" in message and "Valid states: normal, elevated" in message


def test_python_numbers_and_alias_states(checker):
    assert checker({"age": 70}) == {"age_group": "65_plus"}
    assert checker({"age": "under_40"}) == {"age_group": "under_40"}
    assert checker({"age_group": 30}) == {"age_group": "under_40"}
    with pytest.raises(fdx.EvidenceError, match="needs its unit"):
        checker({"calcium": 1.9})


def test_alias_and_node_together_are_refused(checker):
    with pytest.raises(fdx.EvidenceError, match="'age_group' is given twice"):
        checker({"age": 58, "age_group": "65_plus"})


def test_binned_query_equals_the_state_query(model):
    assert model.posterior({"calcium": "1.9mmol/L", "age": 58}).equals(
        model.posterior({"calcium": "low", "age_group": "40_to_64"})
    )


def test_bin_measurements_leaves_states_out(model):
    binned = bin_measurements(model.priors, {"weakness": "yes", "potassium": "2.5 mmol/L"})
    assert list(binned) == ["potassium"] and binned["potassium"].state == "low"


def test_command_line_accepts_values_with_units(capsys):
    code = cli.main(["query", "--json", "calcium = 1.9 mmol/L", "age=58", "weakness=yes"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"calcium": "low"' in out and '"age_group": "40_to_64"' in out


def test_command_line_refuses_a_bare_calcium_in_one_line(capsys):
    code = cli.main(["query", "calcium=1.9"])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and "needs its unit" in err and "Traceback" not in err


def test_priors_without_the_file_accept_no_numbers(tmp_path):
    priors = fdx.load_priors(TINY)
    assert priors.measurements is None
    checker = EvidenceChecker(priors)
    with pytest.raises(fdx.EvidenceError, match="unknown state '1.9mmol/L'"):
        checker({"calcium": "1.9mmol/L"})


def test_shipped_labs_and_age_have_cut_offs(model):
    measured = {m.node for m in model.priors.measurements}
    assert {"magnesium", "calcium", "potassium", "sodium", "tsh", "age_group"} <= measured


@pytest.mark.parametrize("unit", ["\u00b5IU/mL", "\u03bcIU/mL"])
def test_the_micro_sign_reads_as_u(model, unit):
    assert model.read_evidence({"tsh": f"0.01{unit}"})[0] == model.read_evidence({"tsh": "0.01uIU/mL"})[0]


def test_a_huge_integer_is_refused_in_one_line(model):
    with pytest.raises(fdx.EvidenceError, match="finite number"):
        model.posterior({"age": 10**400})


def test_mg_per_dl_and_mmol_per_l_bin_alike_at_the_upper_reference_limit(model):
    for node, mg_dl, factor in (("calcium", 10.41, 4.008), ("magnesium", 2.7, 2.431)):
        in_mg = model.read_evidence({node: f"{mg_dl}mg/dL"})[0][node]
        in_mmol = model.read_evidence({node: f"{mg_dl / factor:.4f}mmol/L"})[0][node]
        assert in_mg == in_mmol, node
