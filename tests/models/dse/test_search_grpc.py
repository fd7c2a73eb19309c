"""Optuna's gRPC storage proxy (the README's advice for hundreds of search workers): a study
served by ``run_grpc_proxy_server`` over a journal file takes batches of trials priced by the
sweep's evaluator through ``GrpcStorageProxy``. Skipped where the installed Optuna lacks the
proxy or grpcio/protobuf (the cluster extra) are not installed."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import pytest

optuna = pytest.importorskip("optuna")
if not hasattr(optuna.storages, "run_grpc_proxy_server") or not hasattr(optuna.storages, "GrpcStorageProxy"):
    pytest.skip(f"optuna {optuna.__version__} has no gRPC storage proxy", allow_module_level=True)
pytest.importorskip("grpc", reason="grpcio is not installed (pip install -e .[cluster])")
pytest.importorskip("google.protobuf", reason="protobuf is not installed (pip install -e .[cluster])")

from models.dse import evaluate_points, load_space  # noqa: E402

ROOT = Path(__file__).resolve().parents[3]


def test_trials_through_the_grpc_proxy(tmp_path):
    from optuna.storages import GrpcStorageProxy, JournalStorage, run_grpc_proxy_server
    from optuna.storages.journal import JournalFileBackend

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    backend = JournalStorage(JournalFileBackend(str(tmp_path / "study.log")))
    threading.Thread(target=run_grpc_proxy_server, args=(backend,), kwargs={"host": "127.0.0.1", "port": port},
                     daemon=True).start()
    storage = GrpcStorageProxy(host="127.0.0.1", port=port)
    storage.wait_server_ready(timeout=30)
    space = load_space(ROOT / "data" / "spaces" / "tdnn-h100-small.toml")
    study = optuna.create_study(storage=storage, study_name="grpc", directions=["minimize"] * 3)
    trials = [study.ask() for _ in range(8)]
    import polars as pl

    pts = pl.DataFrame({"batch": [float(t.suggest_int("batch", 1, 512)) for t in trials],
                        "frames": [float(t.suggest_categorical("frames", [100, 300, 1000])) for t in trials],
                        "hbm_bandwidth_B_per_s": [t.suggest_float("bw", 1e12, 8e12) for t in trials],
                        "act_format": [t.suggest_categorical("act", ["fp16", "int8"]) for t in trials]})
    res = evaluate_points(space, pts)
    for t, row in zip(trials, res.iter_rows(named=True), strict=True):
        study.tell(t, [row[o.metric] for o in space.objectives])
    assert len(study.trials) == 8 and all(t.state.is_finished() for t in study.trials)
    storage.close()
