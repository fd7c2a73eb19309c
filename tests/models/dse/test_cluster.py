"""Sweeps on a Dask cluster (models.dse.cluster) and the range evaluator they share with the local
sweep (models.dse.sweep.sweep_rows): the same rows and front as a local sweep, every part exactly
once when a worker is killed mid-sweep, resume, and the refusals (bad spec, unreachable
scheduler, a folder of another space, a file)."""

from __future__ import annotations

import json
import os
import random
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.dse import load_space, parse_space, sweep
from models.dse.cluster import (
    FRONT,
    ClusterError,
    DatasetError,
    _front_path,
    _part_name,
    parse_cluster,
    part_bounds,
    read_dataset,
    sweep_cluster,
)
from models.dse.sweep import _chunks, _grid, sweep_layout, sweep_rows

ROOT = Path(__file__).resolve().parents[3]
TDNN = ROOT / "data" / "spaces" / "tdnn-h100-small.toml"
CHUNK, PART = 50, 150  # small on purpose: many blocks and parts, and parts that cross groups


def _space(batch_n: int = 10):
    """tdnn-h100-small with ``batch_n`` batch values: 90 * batch_n points, in 3 groups."""
    import dataclasses

    s = load_space(TDNN)
    return dataclasses.replace(s, parameters=tuple(dataclasses.replace(p, n_grid=batch_n) if p.name == "batch"
                                                   else p for p in s.parameters))


def _other_space():
    return parse_space({"name": "other", "target": "h100-sxm", "workload": "gemm",
                        "parameters": [{"name": "bw", "sets": "target.memories.hbm.bandwidth", "kind": "float",
                                        "bounds": [1, 8], "unit": "TB/s", "n_grid": 30}],
                        "objectives": [{"metric": "latency_s"}, {"metric": "energy_J"}]})


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ------------------------------------------------------------------ the shared range evaluator
def test_the_layout_is_the_local_sweeps_cut():
    s = _space()
    for cs in (1, 7, 30, 50, 64, 301, 1 << 16):
        layout = sweep_layout(s, cs)
        assert [layout._slices(j) for j in range(layout.blocks_per_group)] == list(_chunks(_grid(s).dims, cs))
        starts = [layout.block_start(b) for b in range(layout.n_blocks + 1)]
        assert starts[0] == 0 and starts[-1] == s.n_grid_points and all(np.diff(starts) > 0)
        assert max(np.diff(starts)) <= cs


@pytest.mark.parametrize("cs", [7, 50, 301])
def test_rows_cut_at_block_starts_are_the_local_sweeps_rows_bit_for_bit(cs):
    s = _space()
    full = sweep(s, chunk_size=cs, progress=False)
    layout = sweep_layout(s, cs)
    rng = random.Random(cs)
    cuts = sorted({layout.block_start(b) for b in rng.sample(range(1, layout.n_blocks), min(6, layout.n_blocks - 1))})
    edges = [0, *cuts, s.n_grid_points]
    got = pl.concat([df for a, b in zip(edges[:-1], edges[1:], strict=True)
                     for df in sweep_rows(s, a, b, chunk_size=cs)])
    assert got.equals(full)


def test_rows_cut_anywhere_are_the_same_points_in_the_same_order():
    s = _space()
    full = sweep(s, chunk_size=CHUNK, progress=False)
    edges = [0, 1, 29, 31, 299, 300, 301, 437, 899, 900]  # inside blocks and across groups
    got = pl.concat([df for a, b in zip(edges[:-1], edges[1:], strict=True)
                     for df in sweep_rows(s, a, b, chunk_size=CHUNK)])
    assert got.height == full.height
    assert got.select(s.names).equals(full.select(s.names))
    for c in ("latency_s", "energy_J", "error_proxy"):  # smaller blocks: the same numbers to rounding
        np.testing.assert_allclose(got[c].to_numpy(), full[c].to_numpy(), rtol=1e-12)
    with pytest.raises(ValueError, match=r"rows \[5, 901\) of a sweep of 900 points"):
        list(sweep_rows(s, 5, 901))


def test_parts_cover_the_grid_once_at_block_starts():
    s = _space()
    layout = sweep_layout(s, CHUNK)
    starts = {layout.block_start(b) for b in range(layout.n_blocks + 1)}
    n, rows = part_bounds(s, chunk_size=CHUNK, part_size=PART)
    bounds = [rows(i) for i in range(n)]
    assert bounds[0][0] == 0 and bounds[-1][1] == s.n_grid_points
    assert all(a[1] == b[0] for a, b in zip(bounds[:-1], bounds[1:], strict=True))  # no gap, no overlap
    assert all(a in starts and b in starts for a, b in bounds)
    assert any(a // 300 != (b - 1) // 300 for a, b in bounds)  # some part crosses a group boundary


# ------------------------------------------------------------------ specs and refusals
@pytest.mark.parametrize("spec", ["local", "local:", "local:0", "local:x", "locl:2", "tcp://host",
                                  "http://127.0.0.1:8786", "tcp://127.0.0.1:99999", "tcp://a b:1", ""])
def test_a_cluster_spec_that_does_not_parse_lists_the_allowed_forms(spec):
    with pytest.raises(ClusterError, match=r"allowed: local:N .*; tcp://HOST:PORT"):
        parse_cluster(spec)


def test_cluster_specs_that_parse():
    assert parse_cluster("local:3").n_workers == 3
    assert parse_cluster("tcp://10.0.0.5:8786").address == "tcp://10.0.0.5:8786"
    assert parse_cluster("tcp://node-7.cluster:8786").kind == "tcp"


def test_an_unreachable_scheduler_is_named_and_nothing_is_written(tmp_path):
    pytest.importorskip("distributed")
    addr = f"tcp://127.0.0.1:{_free_port()}"
    out = tmp_path / "o.parquet"
    with pytest.raises(ClusterError, match=rf"cannot reach the Dask scheduler at {addr} within 1 s"):
        sweep_cluster(_space(), out, cluster=addr, connect_timeout_s=1, progress=False)
    assert not out.exists()


def test_missing_dask_names_the_extra(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # what an install without the extra sees
    with pytest.raises(ClusterError, match=r"pip install -e \.\[cluster\]"):
        sweep_cluster(_space(), tmp_path / "o.parquet", cluster="local:2", progress=False)
    assert not (tmp_path / "o.parquet").exists()


def test_a_file_or_a_foreign_folder_is_refused(tmp_path):
    f = tmp_path / "sweep.parquet"
    f.write_bytes(b"PAR1 a local sweep's file")
    with pytest.raises(DatasetError, match="it is a file; a cluster sweep writes a Parquet dataset folder"):
        sweep_cluster(_space(), f, cluster="local:1", progress=False)
    d = tmp_path / "d"
    d.mkdir()
    (d / "notes.txt").write_text("mine")
    with pytest.raises(DatasetError, match="not a Tradespace sweep dataset"):
        sweep_cluster(_space(), d, cluster="local:1", progress=False)
    assert f.read_bytes() == b"PAR1 a local sweep's file" and os.listdir(d) == ["notes.txt"]


# ------------------------------------------------------------------ on a 2-worker LocalCluster
@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("distributed")
    import logging

    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


def _reference(space_batch_n: int, tmp: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The local sweep and its front, in a fresh process with one BLAS thread, as a Dask worker has
    (the nanny sets OMP/OPENBLAS/MKL_NUM_THREADS=1; a multi-threaded BLAS may round a reduction
    differently in the last bit)."""
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); sys.path.insert(0, sys.argv[2])\n"
        "from test_cluster import _space, CHUNK\n"
        "from models.dse import sweep\n"
        "s = _space(int(sys.argv[3]))\n"
        "sweep(s, chunk_size=CHUNK, progress=False).write_parquet(sys.argv[4])\n"
        "sweep(s, chunk_size=CHUNK, progress=False, keep='front').write_parquet(sys.argv[5])\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    a, f = tmp / "ref.parquet", tmp / "ref_front.parquet"
    subprocess.run([sys.executable, "-c", code, str(ROOT), str(Path(__file__).parent), str(space_batch_n), str(a),
                    str(f)], check=True, env=env, cwd=ROOT, timeout=300)
    return pl.read_parquet(a), pl.read_parquet(f)


def _sorted(df: pl.DataFrame, space) -> pl.DataFrame:
    return df.sort(list(space.names))


def test_a_cluster_sweep_gives_the_local_sweeps_rows_and_front(client, tmp_path):
    s = _space()
    out = tmp_path / "sweep.parquet"
    r = sweep_cluster(s, out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False)
    ref, ref_front = _reference(10, tmp_path)
    got = read_dataset(out).collect()
    assert got.height == s.n_grid_points == r.n_rows_run
    assert _sorted(got, s).equals(_sorted(ref, s))
    assert got.equals(ref)  # parts in order are the sweep's row order
    assert r.front.equals(ref_front) and r.front.height > 0  # the same front, the same row order
    assert pl.read_parquet(out / FRONT).equals(ref_front)
    # a plain Parquet dataset: readers that know nothing of Tradespace see every point once
    import pyarrow.dataset as ds
    import pyarrow.parquet as pq

    assert ds.dataset(out, format="parquet").count_rows() == s.n_grid_points
    assert pq.read_metadata(out / "_metadata").num_rows == s.n_grid_points
    manifest = json.loads((out / "_manifest.json").read_text())
    assert manifest["complete"] and manifest["finished_parts"] == [[0, r.n_parts]]
    from models.dse.search import space_digest

    assert manifest["space_digest"] == space_digest(s)


def test_feasible_only_parts_hold_the_feasible_rows(client, tmp_path):
    import dataclasses

    from models.dse.space import Constraint

    s = dataclasses.replace(_space(), constraints=(Constraint(kind="accuracy", limit=0.01),))  # fp8 infeasible
    out = tmp_path / "f.parquet"
    sweep_cluster(s, out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False, out_rows="feasible")
    ref = sweep(s, chunk_size=CHUNK, progress=False)
    got = read_dataset(out).collect()
    assert got.height == int(ref["feasible"].sum()) < ref.height
    assert got.select(s.names).equals(ref.filter(pl.col("feasible")).select(s.names))


def _stamp(out: Path, n: int) -> dict[int, tuple[int, int]]:
    return {i: ((st := (out / _part_name(i)).stat()).st_ino, st.st_mtime_ns) for i in range(n)
            if (out / _part_name(i)).exists()}


def test_resume_runs_only_the_parts_not_finished(client, tmp_path):
    s = _space()
    out = tmp_path / "r.parquet"
    first = sweep_cluster(s, out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False)
    ref = read_dataset(out).collect()
    n = first.n_parts
    # a part lost with its front, another lost alone, one whose front never got written
    (out / _part_name(1)).unlink()
    _front_path(out, 1).unlink()
    (out / _part_name(4)).unlink()
    _front_path(out, 6).unlink()
    kept = {i: v for i, v in _stamp(out, n).items() if i not in (1, 4, 6)}
    again = sweep_cluster(s, out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False)
    rows = part_bounds(s, chunk_size=CHUNK, part_size=PART)[1]
    assert again.n_parts_run == 3 and again.n_rows_run == sum(rows(i)[1] - rows(i)[0] for i in (1, 4, 6))
    assert {i: v for i, v in _stamp(out, n).items() if i in kept} == kept  # finished parts untouched
    assert read_dataset(out).collect().equals(ref)
    assert again.front.equals(first.front)
    # nothing left: a rerun runs nothing and returns the same front
    third = sweep_cluster(s, out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False)
    assert third.n_parts_run == 0 and third.front.equals(first.front)


def test_an_interrupted_sweep_records_its_finished_parts_and_resumes(client, tmp_path):
    s = _space()
    out = tmp_path / "i.parquet"

    def stop(n_done: int, n_parts: int) -> None:
        if n_done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sweep_cluster(s, out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False, on_part=stop)
    manifest = json.loads((out / "_manifest.json").read_text())
    finished = {i for a, b in manifest["finished_parts"] for i in range(a, b)}
    assert not manifest["complete"] and len(finished) >= 3
    assert not (out / "_metadata").exists() and not (out / FRONT).exists()
    r = sweep_cluster(s, out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False)
    assert r.n_parts_run <= r.n_parts - 3
    got = read_dataset(out).collect()
    assert got.select(s.names).equals(sweep(s, chunk_size=CHUNK, progress=False).select(s.names))


def test_another_spaces_folder_is_refused_and_left_as_it_was(client, tmp_path):
    out = tmp_path / "o.parquet"
    sweep_cluster(_space(), out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False)
    before = {p.name: p.stat().st_mtime_ns for p in out.rglob("*")}
    with pytest.raises(DatasetError, match=r"holds the parts of another space \('tdnn-h100-small'.*this is 'other'"):
        sweep_cluster(_other_space(), out, cluster=client, chunk_size=CHUNK, part_size=PART, progress=False)
    with pytest.raises(DatasetError, match=r"cut with chunk_size = 50 \(this run: 10\)"):
        sweep_cluster(_space(), out, cluster=client, chunk_size=10, part_size=PART, progress=False)
    assert {p.name: p.stat().st_mtime_ns for p in out.rglob("*")} == before


def test_a_killed_worker_leaves_every_part_exactly_once(tmp_path):
    """One of two worker processes is SIGKILLed while parts are in flight; the scheduler runs its
    parts again elsewhere (the nanny restarts the process); each part is written once, under its
    own name, atomically."""
    distributed = pytest.importorskip("distributed")
    import logging
    import signal

    s = _space(30)  # about 2,500 points (a log grid of batches merges a few), 27 parts
    out = tmp_path / "k.parquet"
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                       silence_logs=logging.CRITICAL)
    killed: list[int] = []
    with distributed.Client(cluster) as c:
        pids_before = set(c.run(os.getpid).values())

        def kill(n_done: int, n_parts: int) -> None:
            if n_done == 2 and not killed:
                busy = c.processing()
                addr = max(busy, key=lambda a: len(busy[a]))  # the worker holding the most parts
                assert busy[addr], "no part in flight to lose"
                pid = c.run(os.getpid, workers=[addr])[addr]
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)

        r = sweep_cluster(s, out, cluster=c, chunk_size=CHUNK, part_size=PART, progress=False, on_part=kill)
        pids_after = set(c.run(os.getpid).values())
    cluster.close()
    assert killed and killed[0] in pids_before and killed[0] not in pids_after
    n = r.n_parts
    assert n == part_bounds(s, chunk_size=CHUNK, part_size=PART)[0] >= 20 and r.n_parts_run == n
    assert sorted(p.name for p in out.glob("part-*.parquet")) == [_part_name(i) for i in range(n)]
    assert not [p for p in out.rglob(".*") if p.is_file()]  # no temporary file of the killed worker left
    got = read_dataset(out).collect()
    assert got.height == s.n_grid_points  # every row once ...
    assert got.select(s.names).unique().height == s.n_grid_points  # ... and no point twice
    assert got.select(s.names).equals(sweep(s, chunk_size=CHUNK, progress=False).select(s.names))
