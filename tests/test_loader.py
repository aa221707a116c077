"""The strict priors loader: every broken fixture is rejected with the right message and location."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from fasciculation_dx import (
    Priors,
    PriorsError,
    Problem,
    load_priors,
    shipped_priors_dir,
    validate_priors,
)
from fasciculation_dx.network.etiology import etiology_table
from fasciculation_dx.network.tables import cpt_array

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny"

# fixture folder -> (file, line, column, regex on the message) of its single problem.
BAD = {
    "bad_unknown_node_in_states": (
        "states.csv",
        13,
        1,
        r"node must be listed in nodes\.csv\. Got 'weaknes' instead\. Did you mean 'weakness'\?",
    ),
    "bad_unknown_state_in_cpt": (
        "cpts/weakness.csv",
        5,
        2,
        r"state of 'weakness' must be one of 'no', 'yes'\. Got 'yess' instead",
    ),
    "bad_cpt_header": (
        "cpts/weakness.csv",
        1,
        1,
        r"header must be 'motor_axon_loss,state,probability,low,high,source_id,note'\. "
        r"Got 'motor_axons,state,",
    ),
    "bad_duplicate_row": (
        "cpts/calcium.csv",
        8,
        2,
        r"state 'low' is given twice for parents \(hypocalcemia\) \(first on line 2\)",
    ),
    "bad_missing_row": (
        "cpts/calcium.csv",
        2,
        0,
        r"parents \(hypocalcemia\) must give every state of 'calcium'\. Missing: high$",
    ),
    "bad_uncovered_config": (
        "cpts/motor_axon_loss.csv",
        0,
        0,
        r"every configuration of the parents \(etiology\) must have a column\. "
        r"Missing: \(benign_fasciculation_syndrome\)$",
    ),
    "bad_ambiguous_wildcard": (
        "cpts/weakness.csv",
        6,
        0,
        r"parents \(present, male\) match several columns equally specifically: "
        r"\(present, \*\); \(\*, male\)$",
    ),
    "bad_probability_out_of_range": (
        "cpts/caffeine.csv",
        3,
        2,
        r"probability must be a probability in \[0, 1\]\. Got 1\.3 instead",
    ),
    "bad_negative_relative_risk": (
        "etiology_modifiers.csv",
        3,
        4,
        r"relative_risk must be a relative risk >= 0\. Got -1\.5 instead",
    ),
    "bad_column_sum": (
        "cpts/weakness.csv",
        2,
        0,
        r"probabilities for parents \(absent\) must sum to 1 within 1e-06\. Got 1\.01 instead",
    ),
    "bad_column_sum_just_over": (
        "cpts/weakness.csv",
        2,
        0,
        r"probabilities for parents \(absent\) must sum to 1 within 1e-06\. Got 1\.0000015 instead",
    ),
    "bad_low_above_value": ("cpts/caffeine.csv", 2, 3, r"low must be <= probability \(0\.7\)\. Got 0\.75 instead"),
    "bad_value_above_high": (
        "etiology_modifiers.csv",
        3,
        6,
        r"high must be >= relative_risk \(1\.5\)\. Got 1\.4 instead",
    ),
    "bad_unknown_source": (
        "cpts/sex.csv",
        2,
        5,
        r"source_id must name a row of sources\.csv\. "
        r"Got 'test_estimat' instead\. Did you mean 'test_estimate'\?",
    ),
    "bad_cycle": (
        "edges.csv",
        0,
        0,
        r"the network must be acyclic\. Got the cycle motor_axon_loss -> weakness -> motor_axon_loss$",
    ),
    "bad_missing_cpt": ("cpts/weakness.csv", 0, 0, r"node 'weakness' has no CPT: this file is missing"),
    "bad_non_numeric": ("cpts/sex.csv", 2, 2, r"probability must be a number\. Got 'half' instead"),
    "bad_nan": ("base_rates.csv", 3, 3, r"probability must be a number\. Got 'nan' instead"),
    "bad_number_format": (
        "cpts/caffeine.csv",
        2,
        2,
        r"probability must be written in shortest positional form '0\.7'\. Got '0\.70'",
    ),
    "bad_multiline_note": (
        # the record starts on line 2 and its quoted note runs on to line 3
        "cpts/sex.csv",
        2,
        2,
        r"probability must be a number\. Got 'half' instead",
    ),
    "bad_empty_file": ("cpts/calcium.csv", 1, 0, r"file is empty; it must start with a header row"),
    "bad_not_utf8": ("cpts/weakness.csv", 3, 43, r"file must be UTF-8 text\. Got byte 0xe9 instead"),
    "bad_top_header": (
        "nodes.csv",
        1,
        3,
        r"header must be 'node,layer,panel,description'\. Got 'node,layer,pane,description' instead",
    ),
    "bad_base_rate_sum": (
        "base_rates.csv",
        0,
        0,
        r"base rates of setting 'primary_care' must sum to 1 within 1e-06\. Got 1\.01 instead",
    ),
    "bad_missing_wildcard_modifier": ("etiology_modifiers.csv", 0, 0, r"\(caffeine, yes\) must have a '\*' row"),
    "bad_cpt_unknown_node": (
        "cpts/weaknes.csv",
        0,
        0,
        r"there is no node 'weaknes' in nodes\.csv for this CPT file\. Did you mean 'weakness'\?",
    ),
    "bad_etiology_cpt": ("cpts/etiology.csv", 0, 0, r"the etiology's table is derived from base_rates\.csv"),
    "bad_bom": ("states.csv", 1, 1, r"file must not start with a byte-order mark"),
}


def _problem_regex(file: str, line: int, column: int, message: str) -> str:
    return "^" + re.escape(f"{file}:{line}:{column}: ") + message


def test_every_fixture_folder_is_exercised():
    folders = {p.name for p in DATA.iterdir() if p.name.startswith("bad_")}
    assert folders == set(BAD) | {"bad_several", "bad_rr_zero_everywhere"}
    assert len(folders) >= 18


@pytest.mark.parametrize("fixture", sorted(BAD))
def test_bad_fixture_is_rejected_with_location(fixture):
    file, line, column, message = BAD[fixture]
    expected = re.compile(_problem_regex(file, line, column, message), re.M)
    with pytest.raises(PriorsError, match=expected) as info:
        load_priors(DATA / fixture)
    problems = info.value.problems
    # one defect, one problem: nothing cascades into spurious follow-up messages
    assert len(problems) == 1, problems
    (problem,) = problems
    assert (problem.file, problem.line, problem.column) == (file, line, column)
    assert re.search(message, problem.message)
    assert str(info.value).startswith("1 problem in the priors:\n")
    # validate_priors reports exactly the same problems without raising
    assert validate_priors(DATA / fixture) == problems


def test_several_defects_in_different_files_are_all_reported_at_once():
    with pytest.raises(PriorsError, match=r"^5 problems in the priors:") as info:
        load_priors(DATA / "bad_several")
    got = [(p.file, p.line, p.column) for p in info.value.problems]
    assert got == [
        ("base_rates.csv", 6, 6),
        ("cpts/caffeine.csv", 3, 2),
        ("cpts/calcium.csv", 2, 0),
        ("etiology_modifiers.csv", 0, 0),
        ("states.csv", 13, 1),
    ]
    messages = [p.message for p in info.value.problems]
    assert "Got 'nobody' instead" in messages[0]
    assert "Got 1.3 instead" in messages[1]
    assert "Missing: high" in messages[2]
    assert "(caffeine, yes) must have a '*' row" in messages[3]
    assert "Got 'weaknes' instead" in messages[4]


def test_relative_risk_of_zero_in_every_stratum_cannot_match_the_base_rates():
    problems = validate_priors(DATA / "bad_rr_zero_everywhere")
    assert [(p.file, p.line, p.column) for p in problems] == [("base_rates.csv", 0, 0)] * 2
    assert {re.search(r"setting '(\w+)'", p.message).group(1) for p in problems} == {
        "primary_care",
        "neuromuscular_clinic",
    }
    assert all("cannot be reproduced" in p.message for p in problems)


def test_missing_directory_is_a_problem_not_a_crash(tmp_path):
    problems = validate_priors(tmp_path / "nowhere")
    assert len(problems) == 1
    assert problems[0].line == 0 and "does not exist" in problems[0].message


def test_problem_str_is_file_line_column_message():
    assert str(Problem("cpts/a.csv", 3, 2, "bad")) == "cpts/a.csv:3:2: bad"


@pytest.mark.parametrize("folder", ["tiny", "tiny_rr_zero", "tiny_sum_within_tolerance"])
def test_valid_fixtures_validate(folder):
    assert validate_priors(DATA / folder) == []
    assert isinstance(load_priors(DATA / folder), Priors)


def test_shipped_priors_validate():
    problems = validate_priors(shipped_priors_dir())
    assert problems == [], "\n".join(map(str, problems[:20]))


def test_tiny_is_read_in_file_order():
    priors = load_priors(TINY)
    assert list(priors.nodes) == ["sex", "caffeine", "etiology", "motor_axon_loss", "weakness", "calcium"]
    assert priors.etiology_states == ("benign_fasciculation_syndrome", "als", "hypocalcemia")
    assert priors.nodes["calcium"].states == ("low", "normal", "high")
    assert priors.nodes["etiology"].parents == ("sex", "caffeine")
    assert priors.nodes["weakness"].parents == ("motor_axon_loss",)
    assert list(priors.settings) == ["primary_care", "neuromuscular_clinic"]
    assert priors.sources["no_effect"].kind == "convention"
    calcium = cpt_array(priors, "calcium")
    assert calcium.shape == (3, 3)
    # the '*' column serves every etiology without its own column
    np.testing.assert_array_equal(calcium[:, 0], [0.02, 0.96, 0.02])
    np.testing.assert_array_equal(calcium[:, 1], [0.02, 0.96, 0.02])
    np.testing.assert_array_equal(calcium[:, 2], [0.9, 0.1, 0.0])


def test_tolerance_boundary_is_accepted_and_not_renormalised():
    priors = load_priors(DATA / "tiny_sum_within_tolerance")
    (row,) = [p for p in priors.cpts["weakness"] if p.key == ("absent", "no")]
    assert row.value == 0.9500005
    column = cpt_array(priors, "weakness")[:, 0]
    assert column.tolist() == [0.9500005, 0.05]
    assert column.sum() == pytest.approx(1 + 5e-7, abs=1e-12)
    assert column.sum() != 1.0


def test_with_value_returns_a_new_object_and_leaves_the_original_unchanged():
    priors = load_priors(TINY)
    before = priors.parameters()
    for file, line, key_of in [
        ("cpts/sex.csv", 2, lambda p: p.cpts["sex"]),
        ("base_rates.csv", 3, lambda p: p.base_rates),
        ("etiology_modifiers.csv", 3, lambda p: p.modifiers),
    ]:
        changed = priors.with_value(file, line, 0.25)
        assert changed is not priors
        assert priors.parameters() == before
        new_rows = {(r.file, r.line): r for r in key_of(changed)}
        old_rows = {(r.file, r.line): r for r in key_of(priors)}
        assert new_rows[(file, line)].value == 0.25
        assert old_rows[(file, line)].value != 0.25
        # nothing else changed
        others = [r for r in changed.parameters() if (r.file, r.line) != (file, line)]
        assert others == [r for r in before if (r.file, r.line) != (file, line)]
    assert cpt_array(priors, "sex").tolist() == [0.5, 0.5]
    assert cpt_array(priors.with_value("cpts/sex.csv", 2, 0.25), "sex").tolist() == [0.25, 0.5]


def _marginal(priors: Priors, table: np.ndarray) -> np.ndarray:
    prior_c = np.multiply.outer(cpt_array(priors, "sex"), cpt_array(priors, "caffeine"))
    return np.tensordot(table, prior_c, axes=([1, 2], [0, 1]))


@pytest.mark.parametrize("folder", ["tiny", "tiny_rr_zero"])
def test_etiology_table_reproduces_the_base_rates(folder):
    priors = load_priors(DATA / folder)
    for setting in priors.settings:
        table = etiology_table(priors, setting)
        assert table.shape == (3, 2, 2)
        np.testing.assert_allclose(table.sum(axis=0), 1.0, rtol=0, atol=1e-12)
        base = np.array([p.value for p in priors.base_rates if p.key[0] == setting])
        np.testing.assert_allclose(_marginal(priors, table), base, rtol=0, atol=1e-12)


def test_etiology_table_applies_the_relative_risks():
    priors = load_priors(TINY)
    table = etiology_table(priors, "primary_care")
    als, bfs = 1, 0
    female, male, no, yes = 0, 1, 0, 1
    # odds of ALS against BFS are 1.5 times higher in men, and caffeine doubles BFS
    odds = table[als] / table[bfs]
    np.testing.assert_allclose(odds[male, no] / odds[female, no], 1.5, rtol=1e-12)
    np.testing.assert_allclose(odds[female, no] / odds[female, yes], 2.0, rtol=1e-12)


def test_relative_risk_of_zero_gives_exactly_zero():
    priors = load_priors(DATA / "tiny_rr_zero")
    als = priors.etiology_states.index("als")
    female = priors.nodes["sex"].states.index("female")
    for setting in priors.settings:
        table = etiology_table(priors, setting)
        assert np.all(table[als, female] == 0.0)
        assert np.all(table[als, 1 - female] > 0)


# -- sources.csv: verification label, DOI, PMID and the identifier rule ------------------------------
# Each row is appended to tiny's sources.csv as line 4; columns: source_id 1, kind 2, citation 3,
# year 4, url 5, doi 6, pmid 7, verification 8, note 9.
SOURCE_ROW_PROBLEMS = {
    "unknown label": (
        "s,cohort,A cohort,2020,,10.1/x,,checked,",
        8,
        r"verification must be one of 'primary', 'secondary', 'expert_estimate', 'convention'\. "
        r"Got 'checked' instead",
    ),
    "empty label": ("s,cohort,A cohort,2020,,10.1/x,,,", 8, r"verification must be one of 'primary'.*Got '' instead"),
    "expert estimate labelled primary": (
        "s,expert-estimate,Our judgement,,,,,primary,",
        8,
        r"verification of a source of kind 'expert-estimate' must be 'expert_estimate'\. Got 'primary' instead",
    ),
    "cohort labelled expert_estimate": (
        "s,cohort,A cohort,2020,,10.1/x,,expert_estimate,",
        8,
        r"verification of a source of kind 'cohort' must be 'primary' or 'secondary'; 'expert_estimate' is "
        r"allowed only with kind 'expert-estimate'\. Got 'expert_estimate' instead",
    ),
    "review labelled convention": (
        "s,review,A review,2020,,10.1/x,,convention,",
        8,
        r"must be 'primary' or 'secondary'; 'convention' is allowed only with kind 'convention'\. "
        r"Got 'convention' instead",
    ),
    "convention labelled secondary": (
        "s,convention,No effect,,,,,secondary,",
        8,
        r"verification of a source of kind 'convention' must be 'convention'\. Got 'secondary' instead",
    ),
    "doi given as a link": (
        "s,cohort,A cohort,2020,,https://doi.org/10.1002/mus.880151104,,primary,",
        6,
        r"doi must be a bare DOI: '10\.', the registrant number, '/', then the suffix.*"
        r"Got 'https://doi\.org/10\.1002/mus\.880151104' instead",
    ),
    "doi without a suffix": ("s,cohort,A cohort,2020,,10.1002,,primary,", 6, r"doi must be a bare DOI.*Got '10\.1002'"),
    "doi with a space": ("s,cohort,A cohort,2020,,10.1002/mus 88,,primary,", 6, r"Got '10\.1002/mus 88' instead"),
    "pmid with letters": (
        "s,cohort,A cohort,2020,,,PMC2788803,primary,",
        7,
        r"pmid must be a PubMed ID of digits only \(for example '1488061'\)\. Got 'PMC2788803' instead",
    ),
    "primary without an identifier": (
        "s,cohort,A cohort,2020,,,,primary,",
        6,
        r"a 'primary' source must have a doi or a pmid or, where neither exists, the url of the publication "
        r"\(guideline or publisher page\)\. Got all three empty instead",
    ),
    "secondary without an identifier": (
        "s,review,A review,2020,,,,secondary,",
        6,
        r"a 'secondary' source must have a doi or a pmid or, where neither exists, the url",
    ),
}


def _tiny_with_source_row(tmp_path: Path, row: str) -> Path:
    directory = tmp_path / "priors"
    shutil.copytree(TINY, directory)
    with (directory / "sources.csv").open("a", encoding="utf-8", newline="") as handle:
        handle.write(row + "\n")
    return directory


@pytest.mark.parametrize("case", sorted(SOURCE_ROW_PROBLEMS))
def test_bad_source_verification_and_identifiers_are_reported_with_location(case, tmp_path):
    row, column, message = SOURCE_ROW_PROBLEMS[case]
    problems = validate_priors(_tiny_with_source_row(tmp_path, row))
    assert len(problems) == 1, problems
    (problem,) = problems
    assert (problem.file, problem.line, problem.column) == ("sources.csv", 4, column)
    assert re.search(message, problem.message), problem.message
    assert str(problem).startswith(f"sources.csv:4:{column}: ")


@pytest.mark.parametrize(
    "row",
    [
        "s,cohort,A cohort,2020,,10.1002/mus.880151104,1488061,primary,",
        "s,cohort,A cohort,2020,,,1488061,primary,",
        "s,guideline,A guideline,2020,https://www.cdc.gov/mmwr/volumes/65/wr/mm6506a1.htm,,,primary,",
        "s,review,A review,2020,,10.1186/s13023-017-0671-8,,secondary,Figure read in the review",
        "s,expert-estimate,Our judgement,,,,,expert_estimate,",
    ],
)
def test_valid_source_rows_are_accepted_and_kept(row, tmp_path):
    directory = _tiny_with_source_row(tmp_path, row)
    assert validate_priors(directory) == []
    source = load_priors(directory).sources["s"]
    cells = row.split(",")
    assert (source.doi, source.pmid, source.verification) == (cells[5], cells[6], cells[7])


def test_sources_without_the_verification_columns_are_rejected(tmp_path):
    directory = tmp_path / "priors"
    shutil.copytree(TINY, directory)
    (directory / "sources.csv").write_text(
        "source_id,kind,citation,year,url,note\nno_effect,convention,Reference state,,,\n", encoding="utf-8"
    )
    (problem,) = [p for p in validate_priors(directory) if p.file == "sources.csv"]
    assert (problem.file, problem.line, problem.column) == ("sources.csv", 1, 6)
    assert "header must be 'source_id,kind,citation,year,url,doi,pmid,verification,note'" in problem.message


def test_every_shipped_source_has_a_checkable_identifier():
    priors = load_priors(shipped_priors_dir())
    for source in priors.sources.values():
        assert source.verification in ("primary", "secondary", "expert_estimate", "convention"), source.source_id
        if source.verification in ("primary", "secondary"):
            assert source.doi or source.pmid or source.url, source.source_id


# -- optional files: measurements.csv and red_flags.csv ------------------------------------------------

MEASUREMENTS_HEADER = "name,node,unit,interval,lower,upper,includes,source_id,note"
GOOD_CALCIUM = [
    "calcium,calcium,mmol/L,low,,2,none,test_estimate,",
    "calcium,calcium,mmol/L,normal,2,2.6,both,test_estimate,",
    "calcium,calcium,mmol/L,high,2.6,,none,test_estimate,",
    "calcium,calcium,mmol/L,reference,2.2,2.6,both,test_estimate,",
]


def _tiny_with(tmp_path: Path, files: dict[str, list[str]]) -> Path:
    directory = tmp_path / "priors"
    shutil.copytree(TINY, directory)
    for rel, lines in files.items():
        (directory / rel).write_text("\n".join(lines) + "\n", encoding="utf-8")
    return directory


def test_valid_measurements_and_red_flags_are_read(tmp_path):
    red = ["node,state,guideline,text,source_id", "weakness,yes,Test guideline,a test sentence,test_estimate"]
    priors = load_priors(
        _tiny_with(tmp_path, {"measurements.csv": [MEASUREMENTS_HEADER, *GOOD_CALCIUM], "red_flags.csv": red})
    )
    assert [(m.interval, m.lower, m.upper, m.includes) for m in priors.measurements] == [
        ("low", None, 2.0, "none"),
        ("normal", 2.0, 2.6, "both"),
        ("high", 2.6, None, "none"),
        ("reference", 2.2, 2.6, "both"),
    ]
    assert [(r.node, r.state, r.guideline) for r in priors.red_flags] == [("weakness", "yes", "Test guideline")]


def test_absent_optional_files_give_none():
    priors = load_priors(TINY)
    assert priors.measurements is None and priors.red_flags is None


MEASUREMENT_PROBLEMS = {
    # case: (line index in GOOD_CALCIUM to replace, new line, line, column, message regex)
    "gap": (1, "calcium,calcium,mmol/L,normal,2.1,2.6,both,test_estimate,", 3, 5, r"lower must equal the upper bound"),
    "cut_owned_twice": (1, "calcium,calcium,mmol/L,normal,2,2.6,both,test_estimate,", 4, 7, None),
    "unknown_state": (2, "calcium,calcium,mmol/L,very_high,2.6,,none,test_estimate,", 4, 4, r"interval of 'calcium'"),
    "bad_number": (0, "calcium,calcium,mmol/L,low,,2.0,none,test_estimate,", 2, 6, r"shortest positional form '2'"),
    "bad_unit": (0, "calcium,calcium,mmol L,low,,2,none,test_estimate,", 2, 3, r"unit must be a unit symbol"),
    "unknown_source": (0, "calcium,calcium,mmol/L,low,,2,none,nowhere,", 2, 8, r"source_id must name a row"),
    "unknown_node": (0, "calcium,calcum,mmol/L,low,,2,none,test_estimate,", 2, 2, r"Did you mean 'calcium'"),
    "include_unbounded": (0, "calcium,calcium,mmol/L,low,,2,lower,test_estimate,", 2, 7, r"unbounded end"),
}


@pytest.mark.parametrize("case", sorted(MEASUREMENT_PROBLEMS))
def test_bad_measurements_are_reported_with_location(case, tmp_path):
    index, line_text, line, column, message = MEASUREMENT_PROBLEMS[case]
    lines = list(GOOD_CALCIUM)
    lines[index] = line_text
    if case == "cut_owned_twice":
        lines[2] = "calcium,calcium,mmol/L,high,2.6,,lower,test_estimate,"
        message = r"must belong to exactly one of them\. Got 2 instead"
    problems = validate_priors(_tiny_with(tmp_path, {"measurements.csv": [MEASUREMENTS_HEADER, *lines]}))
    assert len(problems) == 1, problems
    (problem,) = problems
    assert (problem.file, problem.line, problem.column) == ("measurements.csv", line, column), problem
    assert re.search(message, problem.message), problem.message


@pytest.mark.parametrize(
    ("row", "column", "message"),
    [
        ("weakness,maybe,G,t,test_estimate", 2, r"state of 'weakness' must be one of"),
        ("etiology,als,G,t,test_estimate", 1, r"node must be an observable node"),
        ("weakness,yes,,t,test_estimate", 3, r"guideline must not be empty"),
        ("weakness,yes,G,t,nowhere", 5, r"source_id must name a row"),
    ],
)
def test_bad_red_flags_are_reported_with_location(row, column, message, tmp_path):
    directory = _tiny_with(tmp_path, {"red_flags.csv": ["node,state,guideline,text,source_id", row]})
    problems = validate_priors(directory)
    assert len(problems) == 1, problems
    assert (problems[0].file, problems[0].line, problems[0].column) == ("red_flags.csv", 2, column)
    assert re.search(message, problems[0].message), problems[0].message


def test_an_empty_optional_file_is_a_problem(tmp_path):
    directory = _tiny_with(tmp_path, {})
    (directory / "red_flags.csv").write_bytes(b"")
    problems = validate_priors(directory)
    assert [(p.file, p.line) for p in problems] == [("red_flags.csv", 1)]
