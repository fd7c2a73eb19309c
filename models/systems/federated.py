"""Wall clock of federated training with heterogeneous clients: FedAvg, asynchronous FedAvg, FedBuff, FedFix.

A population of ``n`` clients (``fl_clients``) trains the workload's model. A client's *update*
is ``K`` local steps (``fl_local_steps``) of the workload's training step, priced on the point's
target by the one path (:func:`models.point.build_point` with ``training = true``, priced by
:func:`models.perf.evaluate`: ``t_step``), slowed by the client's factor ``s_i``, plus the model
down and back up its link (``2 W / bw``, ``W`` the weights' bytes as stored, ``bw`` the client's
``fl_client_bandwidth``): ``tau_i = s_i K t_step + 2 W / bw``.

The factors are a deterministic population (so that a population is a design point and the
algebra is closed form), one of

- ``s_i = exp(sigma z_i)``, ``z_i = Phi^-1((i + 1/2) / n)``: the equal-probability quantiles of a
  lognormal of median 1 and shape ``sigma`` (``fl_speed_sigma``; 0: identical clients);
- ``s_i = 1 - (n - 1 - i) X / (n - 1)``: FedFix's own experiments' population (its code's
  ``F-X`` scenarios: the slowest client takes 1, the fastest ``1 - X``, the others evenly between;
  ``fl_speed_range`` ``X``, below 1);

each times ``fl_slowdown`` for the slowest ``fl_slow_share`` of the clients (stragglers: a slower
device class). With ``lambda_i = 1 / tau_i`` and ``Lambda = sum_i lambda_i``
(the rate at which updates arrive when every client works without pause), the time to ``R`` server
updates (``fl_server_updates``) and what it costs:

- **fedavg** (McMahan et al. 2017): each round samples ``m`` clients (``fl_sampled``, default
  ``n``) uniformly without replacement and waits for the slowest: a round takes ``E[max_{i in S}
  tau_i] = sum_k tau_(k) C(k - 1, m - 1) / C(n, m)`` over the sorted ``tau_(1) <= ... <=
  tau_(n)`` (``= tau_(n)`` when ``m = n``); ``T = R E[max]``; each round moves ``2 m W``; the
  sampled clients idle ``1 - E[tau] / E[max]`` of the round;
- **async** (asynchronous FedAvg, FedAsync): the server applies every update as it arrives and the
  client restarts from the new model at once: ``T = R / Lambda``, ``2 W`` per update, no idle time;
- **fedbuff** (Nguyen et al. 2022): the server applies a buffer of ``b`` updates (``fl_buffer``,
  ``b <= n``): ``T = R b / Lambda``, ``2 b W`` per server update, no idle time;
- **fedfix** (Fraboni et al. 2023): the server aggregates every ``Delta t`` (``fl_period_s``) the
  clients that have finished; a finished client waits for the next aggregation to receive the new
  model, so client ``i`` contributes once every ``ceil(tau_i / Delta t)`` periods: ``T = R Delta
  t``, ``2 W sum_i 1 / ceil(tau_i / Delta t)`` per server update, idle ``1 - sum_i tau_i /
  ceil(tau_i / Delta t) / (n Delta t)``. (The staleness an update carries is what the paper's
  convergence theory weighs; this model gives the clock, not the accuracy.)

Energy: the clients' compute (``s_i K`` steps each, at the step's dynamic energy, plus static
power while computing) for every update applied, and the link's bytes at the target's off-chip
energy per byte is not charged (a client's network is not part of the target). Every knob
broadcasts over design points; ``n`` is an axis of its own (a structural knob).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import replace
from statistics import NormalDist
from typing import Any

import numpy as np

from models.hardware import Target
from models.params import single_whole
from models.perf.compiled import CompiledTarget
from models.perf.roofline import PerfResult, evaluate
from models.point import BuiltPoint, build_point
from models.point.knobs import FEDERATED_KNOBS, split_settings
from models.workloads import WorkloadSpec, workload_spec

__all__ = ["FEDERATED_METRICS", "FederatedError", "client_factors", "evaluate_federated", "fedavg_round_s",
           "federated_clock"]

FEDERATED_METRICS = (
    "time_to_updates_s",
    "server_update_s",
    "client_updates_per_server_update",
    "bytes_per_server_update_B",
    "total_bytes_B",
    "client_idle_fraction",
    "client_update_s",
    "slowest_client_update_s",
)
MAX_CLIENTS = 100_000


class FederatedError(ValueError):
    """A federated setting that is not allowed; the message names the knob, the value and what is allowed."""

    def __init__(self, message: str, *, knob: str | None = None) -> None:
        super().__init__(message)
        self.knob = knob


def client_factors(n: int, sigma: Any = 0.0, slow_share: Any = 0.0, slowdown: Any = 1.0,
                   speed_range: Any = None) -> np.ndarray:
    """Slowdown factor of each of ``n`` clients, shape ``(n, *points)``, sorted ascending (module docstring).

    ``speed_range`` (FedFix's ``X``) replaces the lognormal ``sigma``: give one of them.
    """
    z = np.array([NormalDist().inv_cdf((i + 0.5) / n) for i in range(n)]) if n > 1 else np.zeros(1)
    sig = np.asarray(sigma, dtype=np.float64)
    share = np.asarray(slow_share, dtype=np.float64)
    X = np.asarray(0.0 if speed_range is None else speed_range, dtype=np.float64)
    lead = (n,) + (1,) * max(sig.ndim, share.ndim, np.ndim(slowdown), X.ndim)
    if speed_range is not None:
        if np.any(sig != 0):
            raise FederatedError("fl_speed_range with fl_speed_sigma: each sets the population's spread (linear "
                                 "or lognormal); allowed: one of them", knob="fl_speed_range")
        up = (n - 1.0 - np.arange(n, dtype=np.float64)) / max(n - 1.0, 1.0)  # 1 for the fastest, 0 the slowest
        s = 1.0 - up.reshape(lead) * X
    else:
        s = np.exp(sig * z.reshape(lead))
    # the slowest ceil(share n) clients (the top ranks) run slowdown times slower
    rank = np.arange(n, dtype=np.float64).reshape(lead)
    slow = rank >= n - np.ceil(share * n - 1e-9)
    return np.where(slow, s * np.asarray(slowdown, dtype=np.float64), s)


def fedavg_round_s(tau_s: np.ndarray, m: int) -> np.ndarray:
    """Expected FedAvg round time: the mean over uniform samples of ``m`` of the ``n`` clients of the
    slowest sampled client's update time. ``tau_s`` has the clients on its leading axis (any order)."""
    tau = np.sort(np.asarray(tau_s, dtype=np.float64), axis=0)
    n = tau.shape[0]
    if not 1 <= m <= n:
        raise FederatedError(f"fl_sampled = {m}; allowed: 1 to fl_clients = {n}", knob="fl_sampled")
    # P(the k-th smallest is the sample's maximum) = C(k - 1, m - 1) / C(n, m), in logs (large n):
    # log C(m - 1, m - 1) / C(n, m) at k = m, then each next k multiplies by k / (k - m + 1)
    log_first = -(math.lgamma(n + 1) - math.lgamma(m + 1) - math.lgamma(n - m + 1))
    j = np.arange(m, n, dtype=np.float64)
    logp = log_first + np.concatenate(([0.0], np.cumsum(np.log(j / (j - m + 1.0)))))
    w = np.concatenate((np.zeros(m - 1), np.exp(logp))).reshape((n,) + (1,) * (tau.ndim - 1))
    return np.sum(w * tau, axis=0)


def federated_clock(algorithm: str, tau_s: np.ndarray, *, updates: Any, sampled: int | None = None,
                    buffer: int | None = None, period_s: Any = None) -> dict[str, np.ndarray]:
    """Server-update clock of ``algorithm`` for clients of update times ``tau_s`` (clients leading).

    Returns ``time_to_updates_s``, ``server_update_s``, ``client_updates_per_server_update`` and
    ``client_idle_fraction`` (module docstring), broadcast over the points.
    """
    tau = np.asarray(tau_s, dtype=np.float64)
    n = tau.shape[0]
    R = np.asarray(updates, dtype=np.float64)
    rate = np.sum(1.0 / tau, axis=0)
    if algorithm == "fedavg":
        m = n if sampled is None else int(sampled)
        per = fedavg_round_s(tau, m)
        contrib = np.asarray(float(m))
        idle = 1.0 - np.mean(tau, axis=0) / per
    elif algorithm == "async":
        per, contrib, idle = 1.0 / rate, np.asarray(1.0), np.zeros(())
    elif algorithm == "fedbuff":
        b = int(buffer if buffer is not None else 1)
        if not 1 <= b <= n:
            raise FederatedError(f"fl_buffer = {b}: the server waits for {b} updates from {n} clients; allowed: 1 to "
                                 f"fl_clients = {n}", knob="fl_buffer")
        per, contrib, idle = b / rate, np.asarray(float(b)), np.zeros(())
    elif algorithm == "fedfix":
        if period_s is None:
            raise FederatedError("federated = fedfix needs fl_period_s (the fixed time between aggregations); "
                                 "allowed: a time > 0", knob="fl_period_s")
        dt = np.asarray(period_s, dtype=np.float64)
        cycles = np.ceil(tau / dt - 1e-12)
        per = dt + 0.0 * rate
        contrib = np.sum(1.0 / cycles, axis=0)
        idle = 1.0 - np.sum(tau / cycles, axis=0) / (n * dt)
    else:
        raise FederatedError(f"federated = {algorithm!r}; allowed: fedavg, async, fedbuff, fedfix", knob="federated")
    return {"time_to_updates_s": R * per, "server_update_s": per + 0.0 * R,
            "client_updates_per_server_update": contrib + 0.0 * per, "client_idle_fraction": idle + 0.0 * per}


def _whole(v: Any, name: str) -> int:
    return single_whole(v, name, lambda msg: FederatedError(msg, knob=name))


def evaluate_federated(ct: CompiledTarget, target: Target, workload: str | WorkloadSpec, knobs: Mapping[str, Any], *,
                       engine: str | Mapping[str, str] | None = None, policy: str = "time", mode: str = "calibrated",
                       detail: bool = False) -> tuple[PerfResult, BuiltPoint]:
    """Clock, traffic and energy of ``fl_server_updates`` server updates (module docstring) on ``ct``.

    Returns
    -------
    (PerfResult, BuiltPoint)
        ``latency_s`` the time to the server updates, ``energy_J`` the clients' energy for them,
        ``n_items`` the server updates (item ``update``); ``system`` holds
        :data:`FEDERATED_METRICS`; the built point and breakdown are one local training step's.

    Raises
    ------
    FederatedError, ValueError
        A bad federated setting (named), or a knob :func:`build_point` refuses.
    """
    spec = workload if isinstance(workload, WorkloadSpec) else workload_spec(workload)
    if "training" not in {k.name for k in spec.knobs}:
        raise FederatedError(f"algorithm knob 'federated': workload {spec.name!r} has no training step; allowed: off, "
                             "or a workload with a training knob (the vision and keyword-spotting nets)",
                             knob="federated")
    wk, ak = split_settings(dict(knobs), spec)
    fl = {k: ak.pop(k) for k in FEDERATED_KNOBS if k in ak}
    algorithm = str(fl.get("federated", "off"))
    user = {**spec.defaults(), **wk}
    if not user.get("training", False):
        raise FederatedError(f"algorithm knob 'federated' = {algorithm!r} needs workload knob training = true (a "
                             "client's update is local training steps)", knob="training")
    n = _whole(fl.get("fl_clients", 10), "fl_clients")
    if not 1 <= n <= MAX_CLIENTS:
        raise FederatedError(f"fl_clients = {n}; allowed: 1 to {MAX_CLIENTS:,} clients", knob="fl_clients")
    sampled = _whole(fl["fl_sampled"], "fl_sampled") if "fl_sampled" in fl else None
    if sampled is not None and algorithm != "fedavg":
        raise FederatedError(f"fl_sampled with federated = {algorithm!r}: sampling a round's clients is FedAvg's; "
                             "allowed: federated = fedavg", knob="fl_sampled")
    buffer = _whole(fl["fl_buffer"], "fl_buffer") if "fl_buffer" in fl else None
    if buffer is not None and algorithm != "fedbuff":
        raise FederatedError(f"fl_buffer with federated = {algorithm!r}; allowed: federated = fedbuff",
                             knob="fl_buffer")
    if "fl_period_s" in fl and algorithm != "fedfix":
        raise FederatedError(f"fl_period_s with federated = {algorithm!r}; allowed: federated = fedfix",
                             knob="fl_period_s")
    built = build_point(spec, {**wk, **ak}, target=target)
    r = evaluate(ct, built.table, engine=engine, policy=policy, mode=mode, detail=detail)
    t_step = r.latency_s
    K = np.asarray(fl.get("fl_local_steps", 1), dtype=np.float64)
    parts = next(iter(built.table.memory_parts_B.values()))
    W = np.asarray(parts.get("weights", 0.0), dtype=np.float64)
    bw = fl.get("fl_client_bandwidth")
    comm = 2.0 * W / np.asarray(bw, dtype=np.float64) if bw is not None else np.zeros(())
    s = client_factors(n, fl.get("fl_speed_sigma", 0.0), fl.get("fl_slow_share", 0.0), fl.get("fl_slowdown", 1.0),
                       fl.get("fl_speed_range"))
    lead = max(np.ndim(t_step), np.ndim(K), np.ndim(comm))
    s = s.reshape(s.shape + (1,) * max(lead - (s.ndim - 1), 0))
    compute = s * K * t_step
    tau = compute + comm
    clock = federated_clock(algorithm, tau, updates=fl.get("fl_server_updates", 100), sampled=sampled,
                            buffer=buffer, period_s=fl.get("fl_period_s"))
    R = np.asarray(fl.get("fl_server_updates", 100), dtype=np.float64)
    contrib = clock["client_updates_per_server_update"]
    per_update_B = 2.0 * W * contrib
    # a client update's energy: K steps' dynamic energy, static power over its (slowed) compute time
    mean_compute = np.mean(compute, axis=0)
    e_dyn = (r.dynamic_energy_J + r.stalled_energy_J) * K * R * contrib
    e_static = np.asarray(ct.static_power_W) * r.n_devices * mean_compute * R * contrib
    energy = e_dyn + e_static
    system = {**clock, "bytes_per_server_update_B": per_update_B, "total_bytes_B": per_update_B * R,
              "client_update_s": np.mean(tau, axis=0), "slowest_client_update_s": np.max(tau, axis=0)}
    shape = np.broadcast_shapes(r.shape, *(np.shape(v) for v in system.values()), np.shape(energy))

    def bc(v: Any) -> np.ndarray:
        return np.broadcast_to(np.asarray(v, dtype=np.float64), shape)

    result = replace(
        r, n_points=int(np.prod(shape)), latency_s=bc(clock["time_to_updates_s"]), energy_J=bc(energy),
        dynamic_energy_J=bc(r.dynamic_energy_J * K * R * contrib), static_energy_J=bc(e_static),
        stalled_energy_J=bc(r.stalled_energy_J * K * R * contrib), n_items=bc(R), item_name="update",
        peak_memory_B=bc(r.peak_memory_B), memory_capacity_B=bc(r.memory_capacity_B), host_wait_s=bc(0.0),
        phase_latency_s={}, phase_energy_J={}, system={k: bc(v) for k, v in system.items()})
    return result, replace(built, algorithm={**ak, **fl})
