"""Scoring a Dask DataFrame on a local dask.distributed cluster (two worker processes, so the scorer
is really serialised) gives the in-memory answer, bit for bit."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fasciculation_dx as fdx
from fasciculation_dx.analysis.cases import blank_undescribed
from fasciculation_dx.analysis.distributed import posterior_dask
from fasciculation_dx.inference.batch import CaseTableError, posterior_batch

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")


def cases_frame(model, n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    columns = {"case_id": [f"c{i}" for i in range(n)]}
    for node, states in model.states.items():
        values = np.array(states, dtype=object)[rng.integers(0, len(states), n)]
        values[rng.random(n) < 0.5] = ""
        columns[node] = values
    return blank_undescribed(pd.DataFrame(columns))


@pytest.fixture(scope="module")
def client():
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.mark.parametrize("setting", ["primary_care", "neuromuscular_clinic"])
def test_cluster_result_is_identical_to_in_memory(client, setting):
    model = fdx.load_model(setting=setting)
    cases = cases_frame(model, 2000, seed=11)
    ddf = dd.from_pandas(cases, npartitions=7)  # uneven partitions (286 or 285 rows)
    lazy = posterior_dask(model, ddf, passthrough=["case_id"])
    assert list(lazy.columns) == ["case_id", *model.etiologies, "p_benign", "p_pathological"]
    got = client.compute(lazy).result()
    want = posterior_batch(model.inference, model.priors, cases, passthrough=["case_id"])
    assert got.index.equals(want.index)
    np.testing.assert_array_equal(got.iloc[:, 1:].to_numpy(float), want.iloc[:, 1:].to_numpy(float))
    assert list(got["case_id"]) == list(want["case_id"])


def test_invalid_state_surfaces_from_the_cluster(client):
    model = fdx.load_model()
    cases = pd.DataFrame({"weakness": ["yes", "no", "Yes", "no"]})
    lazy = posterior_dask(model, dd.from_pandas(cases, npartitions=2))
    with pytest.raises(CaseTableError, match="invalid state 'Yes'"):
        client.compute(lazy).result()


def test_missing_passthrough_column_fails_early():
    model = fdx.load_model()
    ddf = dd.from_pandas(pd.DataFrame({"weakness": ["yes"]}), npartitions=1)
    with pytest.raises(CaseTableError, match="passthrough column 'case_id'"):
        posterior_dask(model, ddf, passthrough=["case_id"])
