"""Export to BIF, XMLBIF and Hugin NET; read back with pgmpy's readers and pyAgrum; same posteriors.

pgmpy's BIF and NET readers take from seconds to minutes on the full network (their parsers are
slow on the etiology's table of about 48,000 numbers), so the full network is read back with
pgmpy's XMLBIF reader and with pyAgrum (all three formats), and every pgmpy reader is exercised
on a small network written by the same code.
"""

from __future__ import annotations

import argparse
import random
import shutil
import warnings
from pathlib import Path

import pytest
from pgmpy.inference import VariableElimination
from pgmpy.readwrite import BIFReader, NETReader, XMLBIFReader

import fasciculation_dx as fdx
from fasciculation_dx.cli.tools import add_export_parser, run_export
from fasciculation_dx.inference.evidence import drop_undescribed
from fasciculation_dx.network.interchange import FORMATS, OutputExistsError, export_network

TOLERANCE = 1e-6
NET_TOLERANCE = 1e-5
"""pgmpy's NET writer prints six significant digits (numpy's scientific format), so the etiology's
derived table loses up to 5e-6 of each value; BIF and XMLBIF keep every digit."""
TINY = Path(__file__).parent / "data" / "tiny"
READERS = {"bif": BIFReader, "xmlbif": XMLBIFReader, "net": NETReader}


def _pyagrum():
    with warnings.catch_warnings():  # pyAgrum's SWIG bindings warn at import
        warnings.simplefilter("ignore", DeprecationWarning)
        import pyagrum

    return pyagrum


def _export_cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="fasciculation-dx")
    add_export_parser(parser.add_subparsers(dest="command"))
    return run_export(parser.parse_args(argv))


def random_evidence(model: fdx.Model, n: int, seed: int) -> list[dict[str, str]]:
    rng = random.Random(seed)
    nodes = list(model.states)
    cases = [{}]
    while len(cases) < n:
        chosen = rng.sample(nodes, rng.randint(1, 10))
        evidence = drop_undescribed({node: rng.choice(model.states[node]) for node in chosen})
        try:
            model.posterior(evidence)
        except fdx.ImpossibleEvidenceError:
            continue
        cases.append(evidence)
    return cases


def pgmpy_posteriors(network, cases) -> list[dict[str, float]]:
    engine = VariableElimination(network)
    out = []
    for evidence in cases:
        factor = engine.query(["etiology"], evidence=evidence, show_progress=False)
        out.append(dict(zip(factor.state_names["etiology"], factor.values.tolist())))
    return out


def pyagrum_posteriors(path: Path, cases) -> list[dict[str, float]]:
    gum = _pyagrum()
    bn = gum.loadBN(str(path))
    out = []
    for evidence in cases:
        engine = gum.LazyPropagation(bn)  # a new engine per case: no stale evidence
        engine.setEvidence(evidence)
        engine.makeInference()
        posterior = engine.posterior("etiology")
        variable = bn.variable("etiology")
        out.append({variable.label(i): posterior[i] for i in range(variable.domainSize())})
    return out


def assert_same(model: fdx.Model, cases, posteriors, tolerance: float = TOLERANCE) -> None:
    for evidence, theirs in zip(cases, posteriors, strict=True):
        ours = model.posterior(evidence)
        assert set(theirs) == set(ours.index)
        worst = max(abs(theirs[k] - ours[k]) for k in ours.index)
        assert worst < tolerance, (evidence, worst)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """The shipped network, neuromuscular-clinic setting, in every format (through the CLI)."""
    folder = tmp_path_factory.mktemp("export")
    paths = {}
    for fmt, suffix in (("bif", ".bif"), ("xmlbif", ".xml"), ("net", ".net")):
        paths[fmt] = folder / f"fdx{suffix}"
        assert _export_cli(["export", "--format", fmt, "--setting", "neuromuscular_clinic", "-o", str(paths[fmt])]) == 0
    return paths


@pytest.fixture(scope="module")
def clinic():
    return fdx.load_model(setting="neuromuscular_clinic")


@pytest.fixture(scope="module")
def cases(clinic):
    return random_evidence(clinic, 25, seed=6)


def test_full_network_xmlbif_read_by_pgmpy(exported, clinic, cases):
    network = XMLBIFReader(path=str(exported["xmlbif"])).get_model()
    assert network.name == "fasciculation_dx_neuromuscular_clinic"
    assert set(network.nodes) == set(clinic.priors.nodes)
    assert list(network.get_cpds("etiology").state_names["etiology"]) == list(clinic.etiologies)
    assert_same(clinic, cases, pgmpy_posteriors(network, cases))


@pytest.mark.parametrize("fmt", FORMATS)
def test_full_network_read_by_pyagrum(exported, clinic, cases, fmt, tmp_path):
    path = exported[fmt]
    if fmt == "xmlbif":  # pyAgrum knows XMLBIF by the suffix .bifxml
        path = shutil.copy(path, tmp_path / "fdx.bifxml")
    assert_same(clinic, cases, pyagrum_posteriors(Path(path), cases), NET_TOLERANCE if fmt == "net" else TOLERANCE)


def test_the_setting_is_in_the_file(exported, tmp_path, cases):
    primary = fdx.load_model()
    path = export_network(tmp_path / "primary.bif", "bif")
    assert_same(primary, cases[:8], pyagrum_posteriors(path, cases[:8]))
    clinic_prior = pyagrum_posteriors(exported["bif"], [{}])[0]
    assert abs(clinic_prior["als"] - primary.posterior({})["als"]) > 0.01


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_pgmpy_reader_on_a_small_network(fmt, tmp_path):
    model = fdx.load_model(TINY)
    path = export_network(tmp_path / f"tiny.{fmt}", fmt, priors=TINY)
    network = READERS[fmt](path=str(path)).get_model()
    cases = [{}] + [
        {"sex": s, "weakness": w, "calcium": c, "caffeine": k}
        for s in model.states["sex"]
        for w in model.states["weakness"]
        for c in model.states["calcium"]
        for k in model.states["caffeine"]
    ]
    assert_same(model, cases, pgmpy_posteriors(network, cases))


def test_export_refuses_to_overwrite(tmp_path, capsys):
    path = tmp_path / "tiny.net"
    path.write_text("keep me")
    with pytest.raises(OutputExistsError, match="already exists; choose another file name or pass --overwrite"):
        _export_cli(["export", "--format", "net", "--priors", str(TINY), "-o", str(path)])
    assert path.read_text() == "keep me"
    assert _export_cli(["export", "--format", "net", "--priors", str(TINY), "-o", str(path), "--force"]) == 0
    assert path.read_text().startswith("net {")
    assert "wrote" in capsys.readouterr().err
    assert [p.name for p in tmp_path.iterdir()] == ["tiny.net"]  # no temporary file left behind


def test_export_errors_are_clear(tmp_path, capsys):
    with pytest.raises(fdx.EvidenceError, match="unknown setting 'icu'. Valid settings: primary_care"):
        export_network(tmp_path / "x.bif", "bif", priors=TINY, setting="icu")
    with pytest.raises(fdx.EvidenceError, match="unknown export format 'uai'. Valid formats: bif, xmlbif, net"):
        export_network(tmp_path / "x.uai", "uai", priors=TINY)
    with pytest.raises(fdx.FasciculationDxError, match="output's folder .* does not exist"):
        export_network(tmp_path / "missing" / "x.bif", "bif", priors=TINY)
    with pytest.raises(fdx.FasciculationDxError, match="is a directory"):
        export_network(tmp_path, "bif", priors=TINY)
    with pytest.raises(SystemExit):
        _export_cli(["export", "--format", "uai", "-o", str(tmp_path / "x.uai")])
    assert "invalid choice: 'uai'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _export_cli(["export", "--format", "bif"])
    assert "-o/--output" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
