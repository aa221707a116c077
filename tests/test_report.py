"""The reports: files exist, every parameter's source is cited, the stamp is right, bytes are reproducible."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

import fasciculation_dx as fdx
from fasciculation_dx.errors import EvidenceError, FasciculationDxError
from fasciculation_dx.reporting import report
from fasciculation_dx.reporting.scenarios import SCENARIOS, get_scenario

pytest.importorskip("matplotlib")

# small settings keep the two full builds quick; the content checked does not depend on them
FAST = {"draws": 200, "thresholds": 1, "top": 8}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    first = tmp_path_factory.mktemp("reports_a")
    second = tmp_path_factory.mktemp("reports_b")
    commit = report.git_commit()
    # other work may commit to this checkout between the two builds; the stamp must not race
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(report, "git_commit", lambda directory=None: commit)
        files_a = report.build_reports(first, seed=0, **FAST)
        files_b = report.build_reports(second, seed=0, **FAST)
    return first, second, files_a, files_b


def test_every_report_file_exists(built):
    out, _, files, _ = built
    for name in report.REPORT_FILES:
        assert (out / name).is_file(), name
    for stem in ("structure", *(f"{s.name}_tornado" for s in SCENARIOS), *(f"{s.name}_intervals" for s in SCENARIOS)):
        for suffix in (".png", ".svg"):
            assert (out / "figures" / f"{stem}{suffix}").stat().st_size > 0, stem + suffix
    for s in SCENARIOS:
        assert (out / "tables" / f"{s.name}_top_parameters.csv").is_file()
        assert (out / "tables" / f"{s.name}_intervals.csv").is_file()
    assert all(Path(f).is_file() for f in files)


def test_model_card_lists_every_node_parameter_and_source(built):
    out = built[0]
    card = (out / "model_card.md").read_text(encoding="utf-8")
    priors = fdx.load_priors(fdx.shipped_priors_dir())
    for node, spec in priors.nodes.items():
        assert f"| {node} | {spec.layer} |" in card, node
    missing = sorted({p.source_id for p in priors.parameters() if f"`{p.source_id}`" not in card})
    assert not missing, f"source ids missing from the model card: {missing}"
    for p in priors.parameters():
        assert f"| {p.line} | {'/'.join(p.key)} |" in card, f"{p.file}:{p.line}"
    assert "figures/structure.svg" in card


def test_stamped_hashes_match_the_priors_files(built):
    out = built[0]
    stamp = json.loads((out / "provenance.json").read_text(encoding="utf-8"))
    directory = fdx.shipped_priors_dir()
    on_disk = {
        p.relative_to(directory).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in directory.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert stamp["priors_sha256"] == on_disk
    assert stamp["version"] == fdx.__version__
    assert stamp["commit"] == "unknown" or len(stamp["commit"]) == 40
    for name in ("README.md", "model_card.md", "sensitivity.md", "clinical_cases.md"):
        text = (out / name).read_text(encoding="utf-8")
        assert stamp["commit"] in text and fdx.__version__ in text, name
        for file, digest in on_disk.items():
            assert f"| `{file}` | `{digest}` |" in text, (name, file)


def test_two_runs_produce_identical_bytes(built):
    first, second, files_a, files_b = built
    rel_a = sorted(Path(f).relative_to(first).as_posix() for f in files_a)
    rel_b = sorted(Path(f).relative_to(second).as_posix() for f in files_b)
    assert rel_a == rel_b
    differ = [r for r in rel_a if (first / r).read_bytes() != (second / r).read_bytes()]
    assert not differ, f"not reproducible: {differ}"


def test_sensitivity_report_covers_each_scenario(built):
    text = (built[0] / "sensitivity.md").read_text(encoding="utf-8")
    for s in SCENARIOS:
        assert s.title in text and f"figures/{s.name}_tornado.svg" in text
        for node, state in s.evidence.items():
            assert f"`{node}={state}`" in text


def test_clinical_report_ranks_every_case(built):
    out = built[0]
    clinical = Path(__file__).resolve().parent / "clinical" / "cases.csv"
    lines = clinical.read_text(encoding="utf-8").strip().splitlines()
    ranked = (out / "tables" / "clinical_cases.csv").read_text(encoding="utf-8").strip().splitlines()
    assert len(ranked) == len(lines)
    text = (out / "clinical_cases.md").read_text(encoding="utf-8")
    assert "| setting | cases | etiologies | top-1 | top-3 | benign/pathological |" in text
    for setting in ("all settings", "primary_care", "neuromuscular_clinic"):
        assert f"| {setting} |" in text


def test_a_changed_priors_file_changes_the_stamp(tmp_path):
    priors = tmp_path / "priors"
    shutil.copytree(fdx.shipped_priors_dir(), priors)
    before = report.priors_hashes(priors)
    with (priors / "sources.csv").open("a", encoding="utf-8") as f:
        f.write("")
    note = priors / "README.md"
    note.write_text(note.read_text(encoding="utf-8") + "\nedited\n", encoding="utf-8")
    after = report.priors_hashes(priors)
    assert before["README.md"] != after["README.md"]
    assert {k: v for k, v in before.items() if k != "README.md"} == {k: v for k, v in after.items() if k != "README.md"}


def test_bad_arguments_are_clear_errors(tmp_path):
    with pytest.raises(FasciculationDxError, match="draws"):
        report.build_reports(tmp_path, draws=1)
    with pytest.raises(EvidenceError, match="worried_young_adult"):
        get_scenario("worried_young_adlt")


def test_scenarios_use_valid_evidence():
    model = fdx.load_model()
    for s in SCENARIOS:
        post = model.posterior(dict(s.evidence))
        assert abs(float(post.sum()) - 1) < 1e-9
        with pytest.raises(TypeError):
            s.evidence["weakness"] = "yes"  # read-only


def test_report_command(tmp_path, capsys, monkeypatch):
    import argparse

    from fasciculation_dx.cli.report import add_report_parser, run_report

    parser = argparse.ArgumentParser()
    add_report_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["report", "--out", str(tmp_path / "r"), "--seed", "1", "--draws", "50"])
    calls = []

    def fake(out_dir, priors_dir=None, seed=0, draws=2000, progress=False):
        calls.append((Path(out_dir), priors_dir, seed, draws, progress))
        return [Path(out_dir) / "README.md"]

    monkeypatch.setattr(report, "build_reports", fake)
    assert run_report(args) == 0
    assert calls == [(tmp_path / "r", None, 1, 50, True)]
    assert run_report(parser.parse_args(["report", "--out", str(tmp_path / "r"), "--quiet"])) == 0
    assert calls[-1][-1] is False
    assert "1 files written" in capsys.readouterr().out
    defaults = parser.parse_args(["report"])
    assert (defaults.out, defaults.seed, defaults.draws) == (Path("reports"), 0, 2000)
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "--draws", "1"])


def test_model_card_counts_sources_and_parameter_rows_by_verification(tmp_path):
    from fasciculation_dx.reporting.model_card import verification_counts, write_model_card

    priors = fdx.load_priors(Path(__file__).parent / "data" / "tiny")
    counts = verification_counts(priors).set_index("verification")
    assert list(counts.index) == ["primary", "secondary", "expert_estimate", "convention", "total"]
    rows = priors.parameters()
    by_convention = sum(p.source_id == "no_effect" for p in rows)
    assert 0 < by_convention < len(rows)
    assert counts.loc["primary"].tolist() == [0, 0] and counts.loc["secondary"].tolist() == [0, 0]
    assert counts.loc["expert_estimate"].tolist() == [1, len(rows) - by_convention]
    assert counts.loc["convention"].tolist() == [1, by_convention]
    assert counts.loc["total"].tolist() == [2, len(rows)]

    stamp = {"package": "fasciculation_dx", "version": "0", "commit": "unknown", "priors": "tiny", "seed": 0}
    write_model_card(priors, {**stamp, "priors_sha256": {}}, tmp_path)
    card = (tmp_path / "model_card.md").read_text(encoding="utf-8")
    assert "| verification | sources | parameter rows |" in card
    assert f"| expert_estimate | 1 | {len(rows) - by_convention} |" in card
    assert f"| convention | 1 | {by_convention} |" in card
    assert "| `test_estimate` | expert-estimate | expert_estimate |" in card
    table = (tmp_path / "tables" / "parameters.csv").read_text(encoding="utf-8")
    assert "verification" in table.splitlines()[0].split(",")


def test_shipped_model_card_counts_cover_every_source_and_parameter_row():
    from fasciculation_dx.reporting.model_card import verification_counts

    priors = fdx.load_priors(fdx.shipped_priors_dir())
    counts = verification_counts(priors).set_index("verification")
    assert counts.loc["total", "sources"] == len(priors.sources)
    assert counts.loc["total", "parameters"] == len(priors.parameters())
    assert counts.drop("total")["sources"].sum() == len(priors.sources)
    assert counts.drop("total")["parameters"].sum() == len(priors.parameters())
    # conventions are deliberate and few: the no-effect relative risk and the names of the age bands
    conventions = {k for k, src in priors.sources.items() if src.verification == "convention"}
    assert conventions == {"convention_no_effect", "age_group_state_names"}
    assert counts.loc["convention", "sources"] == len(conventions)


def test_accuracy_by_setting_counts_ranks_and_categories():
    import pandas as pd

    from fasciculation_dx.reporting.clinical_report import accuracy_by_setting

    scored = pd.DataFrame(
        {
            "setting": ["primary_care", "primary_care", "neuromuscular_clinic", "neuromuscular_clinic"],
            "etiology": ["als", "physiological", "als", "lambert_eaton"],
            "rank": [1, 4, 2, 3],
            "category_correct": [True, False, True, True],
        }
    )
    summary = accuracy_by_setting(scored).set_index("setting")
    assert list(summary.index) == ["all settings", "neuromuscular_clinic", "primary_care"]
    assert summary.loc["all settings", "top_1"] == 0.25
    assert summary.loc["all settings", "top_3"] == 0.75
    assert summary.loc["primary_care", "top_3"] == 0.5
    assert summary.loc["neuromuscular_clinic", "benign_pathological"] == 1.0
    assert summary.loc["all settings", "etiologies"] == 3
