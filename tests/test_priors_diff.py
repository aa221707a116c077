"""``diff PRIORS_A PRIORS_B``: rows matched by key, notes ignored, changes ranked by their effect."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.covariation import with_covaried_value
from fasciculation_dx.analysis.parameter_words import describe_parameter
from fasciculation_dx.analysis.priors_diff import diff_priors
from fasciculation_dx.cli.main import main as cli_main
from fasciculation_dx.inference.compiled import CompiledEngine
from fasciculation_dx.reporting.scenarios import get_scenario

TONGUE = {"tongue_fasciculations_at_60": dict(get_scenario("tongue_fasciculations_at_60").evidence)}


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


def _edit(directory, file, edits):
    """Set cells of a priors CSV: ``edits`` is ``[(row_index, column, value), ...]`` (0 = first data row)."""
    path = directory / file
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    for row, column, value in edits:
        table.loc[row, column] = value
    table.to_csv(path, index=False, lineterminator="\n")


@pytest.fixture(scope="module")
def edited(tmp_path_factory):
    """A copy of the shipped priors with one value change (a two-state column), one note change,
    one range change, and one file's rows reordered."""
    b = tmp_path_factory.mktemp("diff") / "b"
    shutil.copytree(fdx.shipped_priors_dir(), b)
    # tongue fasciculations without bulbar LMN involvement (the leak): 0.02 -> 0.05, complement 0.98 -> 0.95
    _edit(b, "cpts/tongue_fasciculations.csv", [(0, "probability", "0.95"), (1, "probability", "0.05")])
    _edit(b, "cpts/caffeine.csv", [(1, "note", "a reworded note")])
    _edit(b, "cpts/caffeine.csv", [(0, "low", "0.2")])
    table = pd.read_csv(b / "cpts/weakness.csv", dtype=str, keep_default_na=False)
    table.iloc[::-1].to_csv(b / "cpts/weakness.csv", index=False, lineterminator="\n")
    assert fdx.validate_priors(b) == []
    return b


def test_diff_matches_rows_by_key_and_ignores_notes(priors, edited):
    result = diff_priors(priors, edited, TONGUE, settings=["primary_care"])
    assert [c.file for c in result.changed] == ["cpts/tongue_fasciculations.csv"] * 2  # weakness.csv reordered only
    assert result.notes_only == 1
    assert [(c.file, c.key) for c in result.metadata_only] == [("cpts/caffeine.csv", ("no",))]
    assert result.added == () and result.removed == ()
    words = {c.parameter: (c.a, c.b) for c in result.changed}
    assert words == {
        "tongue_fasciculations=yes | bulbar_lmn_involvement=absent": (0.02, 0.05),
        "tongue_fasciculations=no | bulbar_lmn_involvement=absent": (0.98, 0.95),
    }


def test_diff_effect_is_the_largest_posterior_change_of_that_row_alone(priors, edited):
    result = diff_priors(priors, edited, TONGUE, settings=["primary_care"])
    evidence = TONGUE["tongue_fasciculations_at_60"]
    before = CompiledEngine(priors, "primary_care").posterior(evidence)
    for change in result.changed:
        after = CompiledEngine(with_covaried_value(priors, (change.file, change.line_a), change.b), "primary_care")
        delta = np.abs(after.posterior(evidence) - before)
        assert change.effect == pytest.approx(delta.max(), abs=1e-9)
        assert change.etiology == priors.etiology_states[int(delta.argmax())]
        assert change.effect > 1e-4  # a more common leak lowers the bulbar causes' share
    # a two-state column: the whole change is the change of either row
    assert result.overall["effect"] == pytest.approx(result.changed[0].effect, abs=1e-9)


def test_diff_ranks_by_effect_and_a_finding_outside_the_scenarios_has_none(priors, tmp_path):
    b = tmp_path / "b"
    shutil.copytree(fdx.shipped_priors_dir(), b)
    _edit(b, "cpts/tongue_fasciculations.csv", [(0, "probability", "0.95"), (1, "probability", "0.05")])
    rows = pd.read_csv(b / "cpts/weakness.csv", dtype=str, keep_default_na=False)
    assert (rows.loc[0, "state"], rows.loc[1, "state"]) == ("no", "yes")
    _edit(b, "cpts/weakness.csv", [(0, "probability", "0.98"), (1, "probability", "0.02")])
    result = diff_priors(priors, b, TONGUE, settings=["primary_care"])
    effects = [c.effect for c in result.changed]
    assert effects == sorted(effects, reverse=True)
    weakness = [c for c in result.changed if c.file == "cpts/weakness.csv"]
    assert len(weakness) == 2 and all(c.effect == 0 for c in weakness)  # weakness is not in this scenario
    assert result.changed[0].file == "cpts/tongue_fasciculations.csv"


def test_identical_priors_have_no_differences(priors):
    result = diff_priors(priors, priors)
    assert result.changed == result.metadata_only == result.added == result.removed == ()
    assert result.notes_only == 0
    assert result.overall["effect"] == 0


def test_parameters_in_words(priors):
    base = next(r for r in priors.base_rates if r.key == ("primary_care", "als"))
    assert describe_parameter(priors, base) == "base rate of als in primary_care"
    rr = next(r for r in priors.modifiers if r.key[2] == "*")
    assert describe_parameter(priors, rr) == f"relative risk of every other etiology given {rr.key[0]}={rr.key[1]}"
    weakness = priors.cpts["weakness"][1]
    parents = priors.nodes["weakness"].parents
    expected = "weakness=yes | " + ", ".join(f"{p}={v}" for p, v in zip(parents, weakness.key[:-1]))
    assert describe_parameter(priors, weakness) == expected


def test_diff_rejects_an_unknown_setting(priors):
    with pytest.raises(fdx.errors.ArgumentError, match="unknown setting 'clinic'. Valid settings"):
        diff_priors(priors, priors, settings=["clinic"])


def test_cli_diff_prints_words_and_json(edited, capsys):
    shipped = str(fdx.shipped_priors_dir())
    assert cli_main(["diff", shipped, str(edited), "--setting", "primary_care", "--top", "1"]) == 0
    out = capsys.readouterr().out
    assert "2 parameter values changed, 1 range or source only, 0 added, 0 removed; 1 notes-only" in out
    assert "largest 1 of 2" in out
    assert "tongue_fasciculations=" in out and "| bulbar_lmn_involvement=absent" in out
    assert "present,absent" not in out
    assert cli_main(["diff", shipped, str(edited), "--setting", "primary_care", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["counts"]["changed"] == 2 and data["counts"]["notes_only_ignored"] == 1
    assert data["changed"][0]["effect"] >= data["changed"][1]["effect"] > 0
    assert data["changed"][0]["scenario"] == "tongue_fasciculations_at_60"


def test_cli_diff_refuses_missing_and_invalid_directories(tmp_path, capsys):
    shipped = str(fdx.shipped_priors_dir())
    assert cli_main(["diff", shipped, str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert "PRIORS_B" in err and "does not exist" in err and "Traceback" not in err
    broken = tmp_path / "broken"
    shutil.copytree(fdx.shipped_priors_dir(), broken)
    _edit(broken, "cpts/caffeine.csv", [(0, "probability", "1.5")])
    assert cli_main(["diff", str(broken), shipped]) == 2
    err = capsys.readouterr().err
    assert "PRIORS_A" in err and "is not a valid priors directory" in err and "validate" in err
    assert len(err.strip().splitlines()) == 1
    assert cli_main(["diff", shipped, shipped, "--setting", "clinic"]) == 2
    assert "Valid settings" in capsys.readouterr().err
