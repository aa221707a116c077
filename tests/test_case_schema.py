"""The case-file schema: built from the priors, valid JSON Schema, in step with the readers and the committed page."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from jsonschema import Draft202012Validator

import fasciculation_dx as fdx
from fasciculation_dx.analysis.cases import CaseFileError, read_cases, write_cases
from fasciculation_dx.analysis.simulate import simulate
from fasciculation_dx.atomic import KILL_ENV
from fasciculation_dx.cli.main import main
from fasciculation_dx.errors import ArgumentError
from fasciculation_dx.reporting.case_schema import (
    REGENERATE,
    case_rows,
    json_schema,
    markdown_schema,
    render_schema,
    schema_columns,
)

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "case-file-schema.md"
CLINICAL = ROOT / "tests" / "clinical" / "cases.csv"
EVIDENCE_LAYERS = ("context", "trigger", "finding")


@pytest.fixture(scope="module")
def priors():
    return fdx.load_priors(fdx.shipped_priors_dir())


@pytest.fixture(scope="module")
def schema(priors):
    return json_schema(priors)


@pytest.fixture(scope="module")
def validator(schema):
    return Draft202012Validator(schema)


def _enum(prop: dict) -> list:
    """The enumerated values of a property, whether given directly or as the first branch of anyOf."""
    return prop["enum"] if "enum" in prop else prop["anyOf"][0]["enum"]


def _read(path: Path) -> pd.DataFrame:
    return pd.read_csv(path, dtype=str, keep_default_na=False)


def _rejects_reader(frame: pd.DataFrame, priors) -> bool:
    try:
        read_cases(frame, priors)
    except CaseFileError:
        return True
    return False


# -- content ---------------------------------------------------------------------------------------
def test_every_evidence_node_appears_with_exactly_its_states(priors, schema):
    evidence = {name: node.states for name, node in priors.nodes.items() if node.layer in EVIDENCE_LAYERS}
    props = schema["properties"]
    for name, states in evidence.items():
        assert _enum(props[name]) == [None, "", *states], name
    columns = {c["column"]: c for c in schema_columns(priors)}
    assert {c for c, r in columns.items() if r["kind"] == "evidence"} == set(evidence)
    mechanisms = [n for n, node in priors.nodes.items() if node.layer == "mechanism"]
    assert mechanisms and not set(mechanisms) & set(props)
    page = markdown_schema(priors)
    for name, states in evidence.items():
        row = next(line for line in page.splitlines() if line.startswith(f"| `{name}` |"))
        assert row.split(" | ")[1] == ", ".join(f"`{s}`" for s in states), name


def test_etiology_setting_and_case_id_take_their_values_from_the_priors(priors, schema):
    props = schema["properties"]
    assert _enum(props["etiology"]) == [None, "", *priors.etiologies]
    assert props["etiology"]["x-value-descriptions"] == {k: e.description for k, e in priors.etiologies.items()}
    assert _enum(props["setting"]) == [None, "", *priors.settings]
    assert props["setting"]["x-value-descriptions"] == dict(priors.settings)
    assert props["case_id"]["type"] == ["string", "null"]
    extra = dataclasses.replace(priors, settings={**priors.settings, "emergency_department": "A test setting"})
    assert "emergency_department" in _enum(json_schema(extra)["properties"]["setting"])
    assert "| `emergency_department` | A test setting |" in markdown_schema(extra)


def test_measured_nodes_list_every_cut_off_with_its_source(priors, schema):
    measured = {m.node for m in priors.measurements}
    assert measured
    for node in measured:
        listed = schema["properties"][node]["x-measurements"]
        rows = [m for m in priors.measurements if m.node == node]
        assert sum(len(s["states"]) + (s["reference"] is not None) for s in listed) == len(rows)
        for scale in listed:
            assert {s["state"] for s in scale["states"]} == set(priors.nodes[node].states)
            assert all(s["source_id"] in priors.sources for s in scale["states"])
    unmeasured = next(n for n, node in priors.nodes.items() if node.layer == "finding" and n not in measured)
    assert "x-measurements" not in schema["properties"][unmeasured]


# -- JSON Schema -----------------------------------------------------------------------------------
def test_the_json_is_a_valid_draft_2020_12_schema(priors, schema):
    Draft202012Validator.check_schema(schema)
    text = render_schema(priors, "json")
    assert text.endswith("\n") and json.loads(text) == schema


def test_the_clinical_case_file_validates(priors, validator):
    frame = _read(CLINICAL)
    rows = case_rows(frame)
    assert len(rows) == len(frame) > 0
    for row in rows:
        errors = [e.message for e in validator.iter_errors(row)]
        assert not errors, (row.get("case_id"), errors)


def test_a_simulated_case_file_validates_and_the_reader_agrees(priors, validator, tmp_path):
    cohort = simulate(priors, 300, seed=3, missingness="tiers")
    path = write_cases(cohort, tmp_path / "sim.csv")
    frame = _read(path)
    frame.loc[0, "weakness"] = "~yes"
    frame.loc[1, "ck"] = "elevated:0.7, normal:0.3"
    frame.loc[2, "setting"] = "neuromuscular_clinic"
    read_cases(frame, priors)  # the reader accepts the file
    for row in case_rows(frame):
        assert validator.is_valid(row), list(validator.iter_errors(row))[:3]


def test_a_bad_state_does_not_validate(validator):
    assert validator.is_valid({"weakness": "yes"})
    for bad in ({"weakness": "Yes"}, {"weakness": "maybe"}, {"etiology": "MND"}, {"setting": "hospital"}):
        assert not validator.is_valid(bad), bad
    assert not validator.is_valid({"weakness": "yes", "weaknes": "yes"})  # an unknown column


@pytest.mark.parametrize(
    "node, value",
    [
        ("weakness", "yes"),
        ("weakness", "Yes"),
        ("weakness", "~yes"),
        ("weakness", "~ yes"),
        ("weakness", "~maybe"),
        ("weakness", "yes:0.8,no:0.2"),
        ("weakness", "yes : 0.8 , no : 0.2"),
        ("weakness", "yes:0.8,maybe:0.2"),
        ("weakness", "yes:high"),
        ("weakness", "yes=0.8"),
        ("calcium", "low"),
        ("calcium", "1.9mmol/L"),
        ("age_group", "58"),
        ("lmn_regions", "3_or_more"),
        ("lmn_regions", "3"),
        ("etiology", "als"),
        ("etiology", "MND"),
        ("setting", "neuromuscular_clinic"),
        ("setting", "clinic"),
    ],
)
def test_the_schema_and_the_reader_agree_on_a_cell(priors, validator, node, value):
    frame = pd.DataFrame({node: [value]})
    assert validator.is_valid(case_rows(frame)[0]) == (not _rejects_reader(frame, priors))


def test_rules_across_columns_are_in_the_schema(priors, validator):
    pattern = {"weakness_pattern": "distal"}
    assert not validator.is_valid(pattern)
    assert not validator.is_valid({**pattern, "weakness": "~yes"})
    assert validator.is_valid({**pattern, "weakness": "yes"})
    for row, valid in [(pattern, False), ({**pattern, "weakness": "yes"}, True)]:
        assert _rejects_reader(pd.DataFrame({k: [v] for k, v in row.items()}), priors) == (not valid)
    assert validator.is_valid({"stimulant_use": "yes"})
    both = {"stimulant_use": "yes", "beta_agonist_or_stimulant": "no"}
    assert not validator.is_valid(both)
    assert _rejects_reader(pd.DataFrame({k: [v] for k, v in both.items()}), priors)


def test_case_rows_strips_and_reads_nulls_as_empty():
    frame = pd.DataFrame({" weakness ": [" yes ", None], "lmn_regions": pd.Series([0, None], dtype=object)})
    assert case_rows(frame) == [{"weakness": "yes", "lmn_regions": "0"}, {"weakness": "", "lmn_regions": ""}]


# -- Markdown and the committed page ---------------------------------------------------------------
def test_the_committed_page_is_what_the_command_writes_now(priors):
    assert DOC.is_file(), f"{DOC} is missing; regenerate it with: {REGENERATE}"
    assert DOC.read_text(encoding="utf-8") == markdown_schema(priors), (
        f"{DOC.relative_to(ROOT)} is out of date with the priors; regenerate it with: {REGENERATE}"
    )


def test_an_unknown_format_is_refused(priors):
    with pytest.raises(ArgumentError, match="'markdown' or 'json'"):
        render_schema(priors, "yaml")


# -- command line ------------------------------------------------------------------------------------
def test_the_command_prints_markdown_or_json(priors, capsys):
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == markdown_schema(priors)
    assert main(["schema", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == json_schema(priors)


def test_the_command_writes_a_file_and_refuses_to_overwrite_it(priors, tmp_path, capsys):
    out = tmp_path / "schema.md"
    assert main(["schema", "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == markdown_schema(priors)
    assert capsys.readouterr().err == f"wrote {out}\n"
    out.write_text("old", encoding="utf-8")
    assert main(["schema", "--json", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "already exists" in err and "--overwrite" in err
    assert out.read_text(encoding="utf-8") == "old"
    assert main(["schema", "--json", "--out", str(out), "--overwrite"]) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == json_schema(priors)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["schema.md"]  # no temporary file left


def test_a_killed_write_leaves_the_old_file_whole(tmp_path):
    out = tmp_path / "schema.json"
    out.write_text("old", encoding="utf-8")
    env = {**os.environ, KILL_ENV: "atomic:before-rename"}
    command = [sys.executable, "-m", "fasciculation_dx", "schema", "--json", "--out", str(out), "--overwrite"]
    run = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode < 0  # killed by the test hook
    assert out.read_text(encoding="utf-8") == "old"
    new = tmp_path / "new.md"
    run = subprocess.run([*command[:-4], "--out", str(new)], env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode < 0 and not new.exists()


@pytest.mark.parametrize("value", ["1.9mmol/L", "58", "7.6 mg/dL"])
def test_a_number_in_a_case_file_points_to_the_schema_cut_offs(priors, value):
    frame = pd.DataFrame({"calcium": [value], "weakness": ["no"]})
    with pytest.raises(CaseFileError) as err:
        read_cases(frame, priors)
    assert "not numbers" in str(err.value) and "fasciculation-dx schema" in str(err.value)


def test_a_misspelt_state_gets_no_number_hint(priors):
    frame = pd.DataFrame({"calcium": ["lowish"]})
    with pytest.raises(CaseFileError) as err:
        read_cases(frame, priors)
    assert "Got 'lowish' instead" in str(err.value) and "not numbers" not in str(err.value)


def test_batch_scoring_gives_the_same_number_hint():
    model = fdx.load_model()
    with pytest.raises(fdx.EvidenceError) as err:
        model.posterior_batch(pd.DataFrame({"calcium": ["1.9mmol/L"]}))
    assert "not numbers" in str(err.value) and "fasciculation-dx schema" in str(err.value)
