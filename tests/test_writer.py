"""Writing priors back out: byte-for-byte round trips, refusal to clobber, row order irrelevant."""

from __future__ import annotations

import random
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fasciculation_dx import load_priors, shipped_priors_dir, write_priors
from fasciculation_dx.network.etiology import etiology_table
from fasciculation_dx.network.priors import HEADERS, OPTIONAL_HEADERS
from fasciculation_dx.network.tables import cpt_array
from fasciculation_dx.network.writer import format_number

DATA = Path(__file__).parent / "data"
TINY = DATA / "tiny"


def _schema_files(directory: Path) -> set[str]:
    """The files of a priors directory that the schema defines (what the writer writes)."""
    files = set(HEADERS) | {f"cpts/{p.name}" for p in (directory / "cpts").glob("*.csv")}
    files |= {rel for rel in OPTIONAL_HEADERS if (directory / rel).is_file()}
    if (directory / "README.md").is_file():
        files.add("README.md")
    return files


def _files(directory: Path) -> set[str]:
    return {p.relative_to(directory).as_posix() for p in directory.rglob("*") if p.is_file()}


@pytest.mark.parametrize(
    "source",
    [TINY, DATA / "tiny_rr_zero", DATA / "tiny_sum_within_tolerance", "shipped"],
    ids=["tiny", "tiny_rr_zero", "tolerance", "shipped"],
)
def test_round_trip_is_byte_for_byte(source, tmp_path):
    source = shipped_priors_dir() if source == "shipped" else source
    out = write_priors(load_priors(source), tmp_path / "out")
    assert out == tmp_path / "out"
    expected = _schema_files(source)
    assert _files(out) == expected
    for rel in sorted(expected):
        assert (out / rel).read_bytes() == (source / rel).read_bytes(), rel
    # no staging folder is left behind
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    # and what was written loads back to the same parameters
    again = load_priors(out)
    assert again.parameters() == load_priors(source).parameters()


def test_written_values_follow_with_value(tmp_path):
    priors = load_priors(TINY).with_value("cpts/sex.csv", 2, 0.45)
    out = write_priors(priors, tmp_path / "out")
    text = (out / "cpts/sex.csv").read_text(encoding="utf-8")
    assert text.splitlines()[1] == "female,0.45,0.4,0.6,test_estimate,prior"
    # the file is still written even though the column no longer sums to one (no validation)
    assert (out / "cpts/caffeine.csv").read_bytes() == (TINY / "cpts/caffeine.csv").read_bytes()


def test_refuses_an_existing_non_empty_directory(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_bytes(b"precious\n")
    with pytest.raises(FileExistsError, match="already exists and is not empty"):
        write_priors(load_priors(TINY), target)
    assert _files(target) == {"keep.txt"}
    assert (target / "keep.txt").read_bytes() == b"precious\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_overwrite_replaces_the_priors_files(tmp_path):
    target = tmp_path / "out"
    shutil.copytree(DATA / "bad_column_sum", target)
    write_priors(load_priors(TINY), target, overwrite=True)
    for rel in _schema_files(TINY):
        assert (target / rel).read_bytes() == (TINY / rel).read_bytes(), rel


def test_an_existing_empty_directory_is_fine(tmp_path):
    target = tmp_path / "out"
    target.mkdir()
    write_priors(load_priors(TINY), target)
    assert _files(target) == _schema_files(TINY)


@pytest.mark.parametrize(
    "value, text",
    [
        (0.05, "0.05"),
        (1.0, "1"),
        (0.0, "0"),
        (1e-7, "0.0000001"),
        (0.9500005, "0.9500005"),
        (12.5, "12.5"),
        (0.1 + 0.2, "0.30000000000000004"),
    ],
)
def test_format_number_is_shortest_positional(value, text):
    assert format_number(value) == text
    assert float(text) == value


SHUFFLED = [
    "base_rates.csv",
    "etiology_modifiers.csv",
    *sorted(f"cpts/{p.name}" for p in (TINY / "cpts").glob("*.csv")),
]


def _dense(priors):
    cpts = {n: cpt_array(priors, n) for n in priors.nodes if n != "etiology"}
    eti = {s: etiology_table(priors, s) for s in priors.settings}
    return cpts, eti


TINY_DENSE = _dense(load_priors(TINY))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seeds=st.lists(st.integers(0, 2**32 - 1), min_size=len(SHUFFLED), max_size=len(SHUFFLED)))
def test_row_order_changes_nothing(seeds):
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "tiny"
        shutil.copytree(TINY, copy)
        for rel, seed in zip(SHUFFLED, seeds, strict=True):
            header, *rows = (copy / rel).read_text(encoding="utf-8").splitlines(keepends=True)
            random.Random(seed).shuffle(rows)
            (copy / rel).write_text(header + "".join(rows), encoding="utf-8")
        cpts, eti = _dense(load_priors(copy))
    expected_cpts, expected_eti = TINY_DENSE
    assert cpts.keys() == expected_cpts.keys()
    for node, table in cpts.items():
        np.testing.assert_array_equal(table, expected_cpts[node], err_msg=node)
    for setting, table in eti.items():
        np.testing.assert_allclose(table, expected_eti[setting], rtol=0, atol=1e-14, err_msg=setting)


def test_shipped_measurements_and_red_flags_round_trip(tmp_path):
    source = shipped_priors_dir()
    priors = load_priors(source)
    assert priors.measurements and priors.red_flags
    out = write_priors(priors, tmp_path / "out")
    for rel in OPTIONAL_HEADERS:
        assert (out / rel).read_bytes() == (source / rel).read_bytes(), rel
    again = load_priors(out)
    assert (again.measurements, again.red_flags) == (priors.measurements, priors.red_flags)


def test_absent_optional_files_are_not_written(tmp_path):
    out = write_priors(load_priors(TINY), tmp_path / "out")
    assert not any((out / rel).exists() for rel in OPTIONAL_HEADERS)
