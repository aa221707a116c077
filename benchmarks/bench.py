"""Benchmark of fasciculation_dx on the shipped network (not part of the test suite).

Run from the repository root::

    .venv/bin/python benchmarks/bench.py            # everything (a few minutes)
    .venv/bin/python benchmarks/bench.py --quick    # fewer repetitions, 200,000-row stream

Measured in the same run and printed as a table with ratios:

1. single-query latency: the compiled engine (raw and through ``Model.posterior``), pgmpy
   VariableElimination (engine reused), pgmpy BeliefPropagation (junction tree from a MinFill
   elimination order, calibrated once) and pyAgrum LazyPropagation on the same network; every
   engine's answers are checked against the compiled engine's first;
   the same with about 30% of the entered findings soft (likelihood evidence: pgmpy's
   ``virtual_evidence``, pyAgrum's likelihood lists);
2. batch throughput of ``posterior_batch`` on 100,000 random cases, and on the same cases with a
   tenth, then a fifth, of the recorded findings soft (``~state`` or ``state:0.7,other:0.3``), then
   with a fifth of the context and trigger cells soft too;
3. whole-process wall time of one ``python -m fasciculation_dx query weakness=yes``;
4. peak resident memory of a process streaming a 1,000,000-row CSV through ``score_file``;
5. with ``--previous-priors DIR``: the compiled engine's single-query latency and batch throughput on
   another priors directory (for example the previous release's network), beside the shipped one.
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

import fasciculation_dx as fdx
from fasciculation_dx.analysis.cases import blank_undescribed
from fasciculation_dx.inference.batch import posterior_batch
from fasciculation_dx.inference.evidence import drop_undescribed
from fasciculation_dx.network.pgmpy_adapter import ReferenceEngine, node_table
from fasciculation_dx.network.priors import ETIOLOGY

ROOT = Path(__file__).resolve().parents[1]


def machine() -> str:
    """Describe the machine: CPUs, CPU model, RAM, versions and the load average."""
    cpu = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = "unknown"
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal"):
            mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    load = os.getloadavg()
    return (
        f"nproc={os.cpu_count()}, CPU={cpu}, RAM={mem}, Python {platform.python_version()}, "
        f"numpy {np.__version__}, pandas {pd.__version__}, load average at start "
        f"{load[0]:.2f}/{load[1]:.2f}/{load[2]:.2f}"
    )


def random_evidence(model: fdx.Model, n: int, seed: int, p_observed: float = 0.25) -> list[dict[str, str]]:
    """Random evidence sets: each node observed with probability p_observed, uniform state."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        ev = {}
        for node, states in model.states.items():
            if rng.random() < p_observed:
                ev[node] = states[rng.integers(len(states))]
        out.append(drop_undescribed(ev))
    return out


def random_cases(model: fdx.Model, n: int, seed: int, p_missing: float = 0.5) -> pd.DataFrame:
    """Return a case table of random states, each cell empty with probability ``p_missing``."""
    rng = np.random.default_rng(seed)
    columns = {"case_id": np.char.add("c", np.arange(n).astype(str)).astype(object)}
    for node, states in model.states.items():
        values = np.array(states, dtype=object)[rng.integers(0, len(states), n)]
        values[rng.random(n) < p_missing] = ""
        columns[node] = values
    return blank_undescribed(pd.DataFrame(columns))


def soften(model: fdx.Model, evidence: list[dict[str, str]], seed: int, p_soft: float = 0.3) -> list[dict]:
    """Make each entered finding soft with probability ``p_soft``: random weights on its states.

    The result is checked by the model, so engines receive the normalised likelihoods they are
    given by ``Model.posterior``.
    """
    rng = np.random.default_rng(seed)
    out = []
    for ev in evidence:
        soft = {
            node: (
                {s: float(w) for s, w in zip(model.states[node], rng.uniform(0.05, 1.0, len(model.states[node])))}
                if rng.random() < p_soft and node != "weakness"  # weakness stays certain: its pattern needs it
                else state
            )
            for node, state in ev.items()
        }
        out.append(model.check_evidence(soft))
    return out


def soften_cases(
    cases: pd.DataFrame, model: fdx.Model, seed: int, p_soft: float = 0.2, skip: set | tuple = ()
) -> pd.DataFrame:
    """Turn each recorded cell into soft evidence with probability ``p_soft`` (``~state`` or ``state:0.7,...``).

    The nodes in ``skip`` (and ``weakness``, whose pattern needs it certain) stay as they are.
    """
    rng = np.random.default_rng(seed)
    out = cases.copy()
    for node, states in model.states.items():
        if node == "weakness" or node in skip or node not in out:
            continue
        values = out[node].to_numpy(dtype=object).copy()
        pick = (values != "") & (rng.random(len(values)) < p_soft)
        probably = pick & (rng.random(len(values)) < 0.5)
        values[probably] = np.char.add("~", values[probably].astype(str)).astype(object)
        weighted = pick & ~probably
        other = np.array(states, dtype=object)[0]
        values[weighted] = [f"{v}:0.7,{other if v != other else states[-1]}:0.3" for v in values[weighted]]
        out[node] = values
    return out


def per_query(fn, evidence: list[dict[str, str]], min_time: float = 1.0) -> float:
    """Median seconds per query over repeated passes through the evidence sets."""
    times = []
    start = time.perf_counter()
    while True:
        for ev in evidence:
            t = time.perf_counter()
            fn(ev)
            times.append(time.perf_counter() - t)
        if time.perf_counter() - start > min_time:
            break
    return statistics.median(times)


def possible(model: fdx.Model, evidence: list[dict[str, str]]) -> list[dict[str, str]]:
    """Keep the evidence sets that have positive probability."""
    return [ev for ev in evidence if np.isfinite(model.inference.posterior(ev)).all()]


# -- other engines ---------------------------------------------------------------------------------
def pgmpy_belief_propagation(network):
    """BeliefPropagation on a junction tree triangulated along a MinFill elimination order."""
    from pgmpy.inference import BeliefPropagation
    from pgmpy.inference.EliminationOrder import MinFill
    from pgmpy.models import DiscreteMarkovNetwork

    order = MinFill(network).get_elimination_order(show_progress=False)
    markov = network.to_markov_model()
    markov.triangulate = lambda *a, **k: DiscreteMarkovNetwork.triangulate(markov, order=order)
    tree = markov.to_junction_tree()
    width = max(len(c) for c in tree.nodes())
    bp = BeliefPropagation(tree)
    bp.calibrate()
    return bp, width, len(tree.nodes())


def pyagrum_network(priors, setting: str):
    """Build the same network with pyAgrum's API (states, arcs in parent order, CPTs)."""
    import pyagrum as gum

    bn = gum.BayesNet("fasciculation_dx")
    for name, node in priors.nodes.items():
        bn.add(gum.LabelizedVariable(name, name, list(node.states)))
    for name, node in priors.nodes.items():
        for parent in node.parents:
            bn.addArc(parent, name)
    for name, node in priors.nodes.items():
        table = node_table(priors, name, setting)  # (states, *parents)
        axes = (name, *node.parents)
        cpt = bn.cpt(name)
        order = [axes.index(v) for v in cpt.names]  # cpt.names: pyAgrum's dimension order
        # fillWith takes values with the first variable of cpt.names varying fastest
        cpt.fillWith(np.transpose(table, order[::-1]).reshape(-1).tolist())
    return bn


def pyagrum_engine(bn):
    """Return a query function: LazyPropagation posterior of the etiology given evidence."""
    import pyagrum as gum

    ie = gum.LazyPropagation(bn)

    def query(ev: dict) -> np.ndarray:
        ie.eraseAllEvidence()
        # soft evidence is passed as a likelihood list over the variable's labels, in its order
        ie.setEvidence({k: v if isinstance(v, str) else [float(v[s]) for s in v] for k, v in ev.items()})
        ie.makeInference()
        return np.asarray(ie.posterior(ETIOLOGY).toarray())

    return query


# -- subprocess measurements -------------------------------------------------------------------------
def cli_wall_time(repeats: int) -> list[float]:
    """Wall times of fresh ``python -m fasciculation_dx query weakness=yes`` processes."""
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "fasciculation_dx", "query", "weakness=yes"], capture_output=True, text=True
        )
        times.append(time.perf_counter() - t)
        if done.returncode != 0:
            raise RuntimeError(done.stderr)
    return times


STREAM_CHILD = """
import resource, subprocess, sys, time
t = time.perf_counter()
done = subprocess.run([sys.executable, "-c", sys.argv[1], *sys.argv[2:]])
wall = time.perf_counter() - t
print(done.returncode, wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""

STREAM_SCORE = """
import sys
import fasciculation_dx as fdx
from fasciculation_dx.analysis.scoring import score_file
print(score_file(fdx.load_model(), sys.argv[1], sys.argv[2], progress=False))
"""


def stream_peak_memory(model: fdx.Model, rows: int, directory: Path) -> tuple[float, float, float]:
    """Write a random CSV of ``rows`` cases, score it in a fresh process; (MiB peak RSS, s, MB file)."""
    src, dst = directory / "cases.csv", directory / "posteriors.csv"
    block = 100_000
    for i, start in enumerate(range(0, rows, block)):
        frame = random_cases(model, min(block, rows - start), seed=100 + i)
        frame["case_id"] = [f"c{start + j}" for j in range(len(frame))]
        frame.to_csv(src, mode="w" if i == 0 else "a", header=i == 0, index=False)
    out = subprocess.run(
        [sys.executable, "-c", STREAM_CHILD, STREAM_SCORE, str(src), str(dst)],
        capture_output=True,
        text=True,
        check=True,
    )
    code, wall, maxrss_kib = out.stdout.splitlines()[-1].split()
    if code != "0":
        raise RuntimeError(out.stderr)
    return int(maxrss_kib) / 1024, float(wall), src.stat().st_size / 1e6


# -- main ------------------------------------------------------------------------------------------
def network_speed(model: fdx.Model, min_time: float, repeats: int) -> tuple[float, float]:
    """``(seconds per single compiled query, batch cases per second)`` of one network."""
    evidence = possible(model, random_evidence(model, 200, seed=1))
    single = per_query(model.inference.posterior, evidence, min_time)
    cases = random_cases(model, 100_000, seed=2)
    posterior_batch(model.inference, model.priors, cases.iloc[:10])
    runs = []
    for _ in range(repeats):
        t = time.perf_counter()
        posterior_batch(model.inference, model.priors, cases, passthrough=["case_id"])
        runs.append(time.perf_counter() - t)
    return single, 100_000 / min(runs)


def compare_networks(model: fdx.Model, previous: str, min_time: float, repeats: int) -> None:
    """Print the compiled engine's speed on the shipped network beside another priors directory's."""
    t = time.perf_counter()
    old = fdx.load_model(previous, setting=model.setting)
    old_load = time.perf_counter() - t
    t = time.perf_counter()
    fdx.load_model(setting=model.setting)
    new_load = time.perf_counter() - t
    rows = []
    for name, m, load in (("previous network", old, old_load), ("shipped network", model, new_load)):
        single, rate = network_speed(m, min_time, repeats)
        rows.append((name, len(m.priors.nodes), len(m.etiologies), load, single, rate))
    print(f"\n{'network':18} {'nodes':>6} {'causes':>7} {'load':>8} {'single query':>13} {'batch':>16}")
    for name, nodes, causes, load, single, rate in rows:
        print(f"{name:18} {nodes:6d} {causes:7d} {load:6.2f} s {single * 1e6:10.1f} us {rate:10,.0f} cases/s")
    print(f"previous priors: {previous}")


def main() -> None:
    """Run every measurement and print the results."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="shorter timing loops and a 200,000-row stream")
    parser.add_argument(
        "--previous-priors",
        metavar="DIR",
        help="also time the compiled engine and batch scoring on this priors directory, beside the shipped network",
    )
    args = parser.parse_args()
    min_time = 0.3 if args.quick else 1.0
    stream_rows = 200_000 if args.quick else 1_000_000

    print("machine:", machine())
    model = fdx.load_model()
    priors, setting = model.priors, model.setting
    print(f"network: {len(priors.nodes)} nodes, {len(model.etiologies)} etiologies, setting {setting}")
    evidence = possible(model, random_evidence(model, 200, seed=1))
    sizes = [len(e) for e in evidence]
    print(
        f"single queries: {len(evidence)} random evidence sets, {min(sizes)}-{max(sizes)} findings "
        f"(median {int(statistics.median(sizes))})\n"
    )

    compiled = model.inference
    results: dict[str, float | None] = {}
    notes: dict[str, str] = {}
    results["compiled engine (CompiledEngine.posterior)"] = per_query(compiled.posterior, evidence, min_time)
    results["compiled, through Model.posterior (checks, pandas Series)"] = per_query(
        model.posterior, evidence, min_time
    )

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        reference = ReferenceEngine(priors, setting)
        for ev in evidence[:20]:
            np.testing.assert_allclose(reference.posterior(ev), compiled.posterior(ev), atol=1e-10)
        results["pgmpy VariableElimination (reused)"] = per_query(reference.posterior, evidence[:50], min_time)

        try:
            t = time.perf_counter()
            bp, width, n_cliques = pgmpy_belief_propagation(reference.network)
            build = time.perf_counter() - t

            def bp_query(ev):
                return bp.query([ETIOLOGY], evidence=ev, show_progress=False)

            for ev in evidence[:3]:
                factor = bp_query(ev)
                names = factor.state_names[ETIOLOGY]
                got = np.asarray(factor.values)[[names.index(e) for e in model.etiologies]]
                np.testing.assert_allclose(got, compiled.posterior(ev), atol=1e-10)
            results["pgmpy BeliefPropagation (MinFill junction tree, calibrated once)"] = per_query(
                bp_query, evidence[:10], min_time
            )
            notes["bp"] = (
                f"junction tree from a MinFill order: {n_cliques} cliques, largest {width} "
                f"variables; built and calibrated in {build:.1f} s"
            )
        except Exception as err:  # report honestly, keep benchmarking
            results["pgmpy BeliefPropagation (MinFill junction tree, calibrated once)"] = None
            notes["bp"] = f"BeliefPropagation failed: {type(err).__name__}: {err}"[:300]

    try:
        bn = pyagrum_network(priors, setting)
        agrum = pyagrum_engine(bn)
        for ev in evidence[:20]:
            np.testing.assert_allclose(agrum(ev), compiled.posterior(ev), atol=1e-10)
        results["pyAgrum LazyPropagation (same network)"] = per_query(agrum, evidence, min_time)
    except Exception as err:
        results["pyAgrum LazyPropagation (same network)"] = None
        notes["agrum"] = f"pyAgrum failed: {type(err).__name__}: {err}"[:300]

    # soft evidence: the same evidence sets with about 30% of the entered findings made uncertain
    soft = soften(model, evidence, seed=3)
    n_soft = [sum(not isinstance(v, str) for v in ev.values()) for ev in soft]
    print(f"soft evidence: {statistics.median(n_soft):.0f} soft findings per set (median), up to {max(n_soft)}")
    results["soft evidence: compiled engine"] = per_query(compiled.posterior, soft, min_time)
    results["soft evidence: Model.posterior"] = per_query(model.posterior, soft, min_time)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for ev in soft[:5]:
            np.testing.assert_allclose(reference.posterior(ev), compiled.posterior(ev), atol=1e-10)
        results["soft evidence: pgmpy VariableElimination (virtual_evidence)"] = per_query(
            reference.posterior, soft[:10], min_time
        )
    if results["pyAgrum LazyPropagation (same network)"] is not None:
        for ev in soft[:20]:
            np.testing.assert_allclose(agrum(ev), compiled.posterior(ev), atol=1e-10)
        results["soft evidence: pyAgrum LazyPropagation (likelihood evidence)"] = per_query(agrum, soft, min_time)

    base = results["compiled engine (CompiledEngine.posterior)"]
    print(f"{'single posterior, median per query':66} {'time':>10} {'x compiled':>11}")
    for name, value in results.items():
        if value is None:
            print(f"{name:66} {'n/a':>10}")
        else:
            print(f"{name:66} {value * 1e6:8.1f} us {value / base:10.1f}x")
    for note in notes.values():
        print("  note:", note)

    # batch
    cases = random_cases(model, 100_000, seed=2)
    posterior_batch(compiled, priors, cases.iloc[:10])  # build the scorer's tables once
    repeats = 3 if args.quick else 5

    def batch_runs(table: pd.DataFrame) -> str:
        """Score ``table`` ``repeats`` times; describe the best run."""
        runs = []
        for _ in range(repeats):
            t = time.perf_counter()
            posterior_batch(compiled, priors, table, passthrough=["case_id"])
            runs.append(time.perf_counter() - t)
        best = min(runs)
        return (
            f"in {best:.3f} s (best of {len(runs)}; all {', '.join(f'{r:.3f}' for r in runs)}) "
            f"= {len(table) / best:,.0f} cases/s"
        )

    print(f"\nbatch: 100,000 random cases (half the nodes observed) {batch_runs(cases)}")
    roots = set(compiled.roots)
    for label, p_soft, skip in (
        ("a tenth of the recorded findings", 0.1, roots),
        ("a fifth of the recorded findings", 0.2, roots),
        ("a fifth of the recorded findings, context and triggers", 0.2, ()),
    ):
        soft_cases = soften_cases(cases, model, seed=4, p_soft=p_soft, skip=skip)
        cells = sum(soft_cases[c].astype(str).str.contains("~|:", regex=True).sum() for c in model.states)
        print(f"batch, soft {label}: {cells / len(soft_cases):.1f} soft cells per case, {batch_runs(soft_cases)}")

    # CLI
    times = cli_wall_time(3 if args.quick else 5)
    print(
        f"CLI: 'python -m fasciculation_dx query weakness=yes' wall time: median {statistics.median(times):.3f} s, "
        f"min {min(times):.3f} s"
    )
    import_time = subprocess.run(
        [
            sys.executable,
            "-c",
            "import time; t=time.perf_counter(); import fasciculation_dx; print(time.perf_counter()-t)",
        ],
        capture_output=True,
        text=True,
    )
    print(f"     of which 'import fasciculation_dx' alone: {float(import_time.stdout):.3f} s")

    # streaming
    with tempfile.TemporaryDirectory(dir=ROOT / "benchmarks") as tmp:
        peak, wall, size = stream_peak_memory(model, stream_rows, Path(tmp))
    print(
        f"stream: score_file on a {stream_rows:,}-row CSV ({size:.0f} MB, default chunksize): "
        f"peak RSS {peak:.0f} MiB, wall {wall:.1f} s ({stream_rows / wall:,.0f} rows/s)"
    )
    if args.previous_priors:
        compare_networks(model, args.previous_priors, min_time, 2 if args.quick else 3)
    print(
        f"\nload average at end: {os.getloadavg()[0]:.2f}; own peak RSS "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB"
    )


if __name__ == "__main__":
    main()
