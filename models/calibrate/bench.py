"""Micro-benchmarks of the host CPU: what a target file needs, measured.

Each benchmark returns plain dicts (JSON-ready) of what it timed: the sizes, the best time of
several repeats (the least-disturbed run: other processes only ever add time) and the rate it
implies. :mod:`models.calibrate.fit` turns them into target fields.

- :func:`stream`: STREAM-style copy, scale, add and triad in numpy, and a read-only ``dot`` (the
  traffic of a weight-streaming GEMV), at working sets inside each
  cache level and beyond the last, for 1..N threads, each thread on its own arrays (numpy's
  ufuncs release the GIL, so the threads run in parallel). Bandwidth is the slope of time
  against bytes between two sizes inside a level, so the fixed cost of a call (measured on its
  own by :func:`overhead`) is not counted as slow memory. Bytes are counted as STREAM does: the
  arrays read plus the arrays written, no write-allocate.
- :func:`gemm`: GEMM rate per datatype over a range of square sizes: numpy BLAS for fp32 and
  fp64, PyTorch for bf16, fp16 and int8 (``torch._int_mm``) when it is installed.
- :func:`gemv`: matrix-vector rate per datatype at sizes inside and beyond the caches.
- :func:`conv_k_curve`: pointwise convolutions over a range of channel counts: a convolution's
  size curve against its reduction length.
- :func:`weight_stream`: skinny GEMMs (``torch.nn.functional.linear``) whose weights stream from a
  shared cache level or main memory: the bandwidth a GEMV-class kernel really draws there.
- :func:`exp_rate`: ``numpy.exp`` throughput on an in-cache fp32 vector.
- :func:`overhead`: the fixed time of one tiny call, numpy and PyTorch.
- :func:`first_touch`: a PyTorch operator into a fresh result against one into a given buffer
  (``out=``): what a new buffer costs, below and above the C library's mmap threshold.

Benchmarks do I/O-free work only; randomness comes from an explicit generator.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["best_time", "conv_k_curve", "exp_rate", "first_touch", "gemm", "gemm_m_curve", "gemv", "kind_rates",
           "overhead", "stream", "weight_stream"]

STREAM_KERNELS = ("copy", "scale", "add", "triad", "dot")
# arrays read + written per element by each kernel as numpy runs it (triad is two passes:
# c = s*b (read b, write c), then c += a (read c and a, write c)); dot reads a and b
_STREAM_ARRAYS = {"copy": 2, "scale": 2, "add": 3, "triad": 5, "dot": 2}


def best_time(fn: Callable[[], object], *, min_s: float, repeats: int) -> float:
    """The least mean time of one call of ``fn`` (s) over batches of calls.

    A batch is enough calls to last about 20 us (so the timer's resolution does not matter);
    there are at least ``repeats`` batches and as many as fit in ``repeats x min_s`` seconds
    (at most 200). On a loaded machine a multi-threaded call can wait a scheduler slice for
    one of its threads; the least batch is the one no other process disturbed.
    """
    fn()  # warm: page faults, thread-pool start, BLAS packing buffers
    s = time.perf_counter()
    fn()
    one = max(time.perf_counter() - s, 1e-9)
    k = max(1, int(20e-6 / one))
    n_batches = min(200, max(repeats, int(repeats * min_s / (k * one))))
    best = float("inf")
    for _ in range(n_batches):
        s = time.perf_counter()
        for _ in range(k):
            fn()
        best = min(best, (time.perf_counter() - s) / k)
    return best


def _kernel(name: str, a: np.ndarray, b: np.ndarray, c: np.ndarray) -> Callable[[], object]:
    if name == "copy":
        return lambda: np.copyto(c, a)
    if name == "scale":
        return lambda: np.multiply(a, 3.0, out=c)
    if name == "add":
        return lambda: np.add(a, b, out=c)
    if name == "dot":
        return lambda: np.dot(a, b)

    def triad() -> None:
        np.multiply(b, 3.0, out=c)
        np.add(c, a, out=c)

    return triad


def _threaded_time(kernels: list[Callable[[], object]], *, min_s: float, repeats: int) -> float:
    """Wall time of one call of every kernel at once, one thread each (best of ``repeats``)."""
    if len(kernels) == 1:
        return best_time(kernels[0], min_s=min_s, repeats=repeats)
    one = best_time(kernels[0], min_s=min_s / 4, repeats=1)
    n = max(1, int(min_s / one))
    best = float("inf")
    for _ in range(repeats):
        barrier = threading.Barrier(len(kernels) + 1)
        errors: list[BaseException] = []

        def work(k: Callable[[], object], bar: threading.Barrier = barrier,
                 errs: list[BaseException] = errors) -> None:
            try:
                bar.wait()
                for _ in range(n):
                    k()
            except BaseException as exc:  # re-raised in the caller's thread
                errs.append(exc)

        threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in kernels]
        for t in threads:
            t.start()
        barrier.wait()
        s = time.perf_counter()
        for t in threads:
            t.join()
        dt = (time.perf_counter() - s) / n
        if errors:
            raise errors[0]
        best = min(best, dt)
    return best


def stream(levels: dict[str, tuple[float, float]], threads: list[int], *, split: bool = False, min_s: float = 0.02,
           repeats: int = 3) -> list[dict[str, Any]]:
    """STREAM kernels at two working sets per level and thread count.

    Parameters
    ----------
    levels
        ``{level name: (small, large)}`` working sets (B, all arrays of a kernel together), both
        inside the level: of each thread, or with ``split`` of all threads together (a shared
        level: each thread gets a ``1 / threads`` share).
    threads
        Thread counts to run (each thread has its own arrays).

    Returns
    -------
    list of dict
        One row per (level, threads, kernel): the two working sets of one thread, their best
        times, and ``bandwidth_B_per_s``: the aggregate slope ``threads x (bytes_large -
        bytes_small) / (t_large - t_small)``, or with ``split`` (or a slope that is not
        positive) the large size's ``threads x bytes / time``.
    """
    rows = []
    for level, sizes in levels.items():
        for n_thr in threads:
            times: dict[str, list[float]] = {k: [] for k in STREAM_KERNELS}
            n_els = []
            for ws in sizes:
                per = ws / n_thr if split else ws
                n_el = max(64, int(per / (3 * 8)))  # three fp64 arrays a, b, c per thread
                n_els.append(n_el)
                arrays = [(np.full(n_el, 1.0), np.full(n_el, 2.0), np.zeros(n_el)) for _ in range(n_thr)]
                for kern in STREAM_KERNELS:
                    calls = [_kernel(kern, *abc) for abc in arrays]
                    times[kern].append(_threaded_time(calls, min_s=min_s, repeats=repeats))
                del arrays
            for kern in STREAM_KERNELS:
                ts = times[kern]
                bs = [_STREAM_ARRAYS[kern] * n * 8.0 for n in n_els]
                # a shared level's working sets are large enough that a call's fixed cost is
                # nothing: the large size's own figure is steadier than a slope between two
                slope_ok = not split and ts[1] > ts[0] and bs[1] > bs[0]
                bw = n_thr * (bs[1] - bs[0]) / (ts[1] - ts[0]) if slope_ok else n_thr * bs[1] / ts[1]
                rows.append({"level": level, "threads": n_thr, "kernel": kern, "bytes_per_thread_B": bs,
                             "time_s": ts, "bandwidth_B_per_s": bw, "slope": slope_ok})
    return rows


def _torch() -> Any:
    import torch

    return torch


def gemm(sizes: list[int], dtypes: list[str], *, min_s: float = 0.05, repeats: int = 3,
         seed: int = 0) -> list[dict[str, Any]]:
    """Square GEMM ``C = A B`` (``n x n``) per datatype and size: ``2 n^3`` operations.

    fp32/fp64 through numpy's BLAS; bf16/fp16 through ``torch.nn.functional.linear``; int8 through
    ``torch._int_mm`` (int32 accumulate). A datatype the host cannot run is left out.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for d in dtypes:
        for n in sizes:
            fn = _gemm_call(d, n, rng)
            if fn is None:
                break
            t = best_time(fn, min_s=min_s, repeats=repeats)
            rows.append({"dtype": d, "m": n, "n": n, "k": n, "time_s": t, "op_per_s": 2.0 * n ** 3 / t,
                         "library": "numpy" if d in ("fp32", "fp64") else "torch"})
    return rows


def _gemm_call(d: str, n: int, rng: np.random.Generator, m: int | None = None) -> Callable[[], object] | None:
    m = n if m is None else m
    if d in ("fp32", "fp64"):
        dt = np.float32 if d == "fp32" else np.float64
        a: np.ndarray = rng.standard_normal((m, n)).astype(dt)
        b: np.ndarray = rng.standard_normal((n, n)).astype(dt)
        return lambda: np.matmul(a, b)
    torch = _torch()
    g = torch.Generator().manual_seed(int(rng.integers(1 << 31)))
    if d in ("bf16", "fp16"):
        tdt = torch.bfloat16 if d == "bf16" else torch.float16
        import torch.nn.functional as F

        # F.linear (x W^T, W stored out x in) is the call inference runtimes make; on a CPU
        # without a native instruction PyTorch's plain matmul of the same datatype is far slower
        ta = torch.randn((m, n), generator=g).to(tdt)
        tb = torch.randn((n, n), generator=g).to(tdt)
        return lambda: F.linear(ta, tb)
    if d == "int8":
        ia = torch.randint(-128, 127, (max(m, 32), n), dtype=torch.int8, generator=g)
        ib = torch.randint(-128, 127, (n, n), dtype=torch.int8, generator=g)
        try:
            torch._int_mm(ia, ib)
        except RuntimeError:  # no int8 GEMM kernel on this build or CPU
            return None
        return lambda: torch._int_mm(ia, ib)
    raise ValueError(f"gemm benchmark: unknown datatype {d!r}; allowed: fp32, fp64, bf16, fp16, int8")


def gemv(sizes: list[int], dtypes: list[str], *, min_s: float = 0.03, repeats: int = 3,
         seed: int = 1) -> list[dict[str, Any]]:
    """``y = x W`` with ``W`` of ``n x n`` per datatype and size: ``2 n^2`` operations, ``n^2``
    weights read (their bytes in ``weight_B``)."""
    rng = np.random.default_rng(seed)
    rows = []
    for d in dtypes:
        if d == "int8":
            continue  # torch._int_mm needs m > 16: an int8 GEMV is not one call
        for n in sizes:
            fn = _gemm_call(d, n, rng, m=1)
            if fn is None:
                break
            t = best_time(fn, min_s=min_s, repeats=repeats)
            width = {"fp64": 8, "fp32": 4, "bf16": 2, "fp16": 2}[d]
            rows.append({"dtype": d, "n": n, "k": n, "time_s": t, "op_per_s": 2.0 * n * n / t,
                         "weight_B": float(n * n * width)})
    return rows


def weight_stream(working_sets: dict[str, float], dtypes: list[str], ms: list[int], *, k: int = 1024,
                  min_s: float = 0.05, repeats: int = 3, seed: int = 4) -> list[dict[str, Any]]:
    """Skinny GEMMs that stream their weights from one memory level: ``torch.nn.functional.linear``
    (the call an inference runtime makes for a decode step) of ``m x k`` activations by ``n x k``
    weights, ``n`` chosen so that the weights fill the level's working set (``working_sets``:
    level name -> bytes; a shared cache level or main memory), for each datatype (fp32, bf16,
    fp16) and output rows ``m``. Each row has the weights' bytes over the time in
    ``bytes_per_s``: what a GEMV-class kernel draws from that level, set against what a STREAM
    loop draws there (:func:`stream`)."""
    torch = _torch()
    import torch.nn.functional as F

    tdts = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}
    g = torch.Generator().manual_seed(seed)
    rows = []
    with torch.inference_mode():
        for level, ws in working_sets.items():
            for d in dtypes:
                if d not in tdts:
                    raise ValueError(f"weight_stream: datatype {d!r}; allowed: {', '.join(tdts)}")
                width = 4 if d == "fp32" else 2
                n = max(1, int(ws // (k * width)))
                w = torch.randn((n, k), generator=g).to(tdts[d])
                for m in ms:
                    x = torch.randn((m, k), generator=g).to(tdts[d])

                    def call(x: Any = x, w: Any = w) -> Any:
                        return F.linear(x, w)

                    t = best_time(call, min_s=min_s, repeats=repeats)
                    rows.append({"level": level, "dtype": d, "m": m, "k": k, "n": n, "weight_B": float(n * k * width),
                                 "time_s": t, "bytes_per_s": n * k * width / t, "library": "torch"})
                del w
    return rows


def exp_rate(n_elements: int = 4096, *, min_s: float = 0.05, repeats: int = 3) -> dict[str, Any]:
    """``numpy.exp`` of an in-cache fp32 vector: exponentials per second (fixed call cost removed
    by the slope between ``n`` and ``4 n`` elements)."""
    out: dict[str, Any] = {}
    ts = []

    def exp_call(x: np.ndarray, y: np.ndarray) -> Callable[[], object]:
        return lambda: np.exp(x, out=y)

    for n in (n_elements, 4 * n_elements):
        x = np.linspace(-4.0, 4.0, n, dtype=np.float32)
        ts.append(best_time(exp_call(x, np.empty_like(x)), min_s=min_s, repeats=repeats))
    dn = 3 * n_elements
    slope_ok = ts[1] > ts[0]
    out["exp_per_s"] = dn / (ts[1] - ts[0]) if slope_ok else 4 * n_elements / ts[1]
    out.update({"n_elements": [n_elements, 4 * n_elements], "time_s": ts, "dtype": "fp32"})
    return out


def overhead(*, with_torch: bool, min_s: float = 0.05, repeats: int = 5) -> dict[str, Any]:
    """Fixed time of one tiny call (16 elements): numpy ``add`` and, with PyTorch, ``torch.add``."""
    a, b, c = np.ones(16), np.ones(16), np.empty(16)
    out: dict[str, Any] = {"numpy_s": best_time(lambda: np.add(a, b, out=c), min_s=min_s, repeats=repeats)}
    if with_torch:
        torch = _torch()
        x, y = torch.ones(16), torch.ones(16)
        z = torch.empty(16)
        out["torch_s"] = best_time(lambda: torch.add(x, y, out=z), min_s=min_s, repeats=repeats)
    return out


def first_touch(sizes_B: list[int], *, min_s: float = 0.05, repeats: int = 3, seed: int = 5) -> list[dict[str, Any]]:
    """An fp32 scale (``torch.mul(x, 1.5)``) into a fresh result and into a buffer given with
    ``out=``, at each working set: the difference is what a new buffer costs the runtime (its
    allocation, and for a buffer the allocator maps from the OS on every call the page faults
    and zeroing of its first write). Each row: the bytes written, both times and their
    difference."""
    torch = _torch()
    g = torch.Generator().manual_seed(seed)
    out = []
    for size in sizes_B:
        n = int(size) // 4
        x = torch.randn(n, generator=g)
        y = torch.empty(n)
        fresh = best_time(functools.partial(torch.mul, x, 1.5), min_s=min_s, repeats=repeats)
        given = best_time(functools.partial(torch.mul, x, 1.5, out=y), min_s=min_s, repeats=repeats)
        out.append({"bytes_B": float(4 * n), "fresh_s": fresh, "out_s": given, "extra_s": fresh - given,
                    "library": "torch"})
        del x, y
    return out


def gemm_m_curve(ms: list[int], k: int = 512, n: int = 512, *, dtype: str = "fp32", min_s: float = 0.03,
                 repeats: int = 3, seed: int = 2) -> list[dict[str, Any]]:
    """Skinny GEMMs ``(m x k) @ (k x n)`` in PyTorch ``dtype`` (fp32, bf16 or fp16) through
    ``torch.nn.functional.linear`` (the call an inference runtime makes) at output rows ``m``, the
    weights in cache (``k x n`` elements, 1 MiB in fp32): the tile-fill
    curve ``rate(m)`` of small batches, measured rather than assumed."""
    torch = _torch()
    import torch.nn.functional as F

    tdt = {"fp32": torch.float32, "bf16": torch.bfloat16, "fp16": torch.float16}.get(dtype)
    if tdt is None:
        raise ValueError(f"gemm_m_curve: datatype {dtype!r}; allowed: fp32, bf16, fp16")
    g = torch.Generator().manual_seed(seed)
    w = torch.randn((n, k), generator=g).to(tdt)
    rows = []
    with torch.inference_mode():
        for m in ms:
            x = torch.randn((m, k), generator=g).to(tdt)
            def call(x: Any = x) -> Any:
                return F.linear(x, w)

            t = best_time(call, min_s=min_s, repeats=repeats)
            rows.append({"dtype": dtype, "m": m, "k": k, "n": n, "time_s": t, "op_per_s": 2.0 * m * k * n / t,
                         "library": "torch"})
    return rows


def conv_k_curve(channels: list[int], hw: int = 28, *, min_s: float = 0.03, repeats: int = 3,
                 seed: int = 5) -> list[dict[str, Any]]:
    """Pointwise (1x1) PyTorch fp32 convolutions of ``c -> c`` channels at ``hw x hw`` for each
    ``c`` in ``channels``: the reduction length of the implicit GEMM is ``k = c``, so the rows
    trace a convolution's size curve (``rate(k)``) the way :func:`gemm` traces a GEMM's. Each
    row: ``k``, the operations the tables count (``2 c^2 hw^2``), the best time, their rate."""
    torch = _torch()
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    rows = []
    with torch.inference_mode():
        for c in channels:
            x = torch.randn((1, c, hw, hw), generator=g)
            w = torch.randn((c, c, 1, 1), generator=g)

            def call(x: Any = x, w: Any = w) -> Any:
                return F.conv2d(x, w)

            t = best_time(call, min_s=min_s, repeats=repeats)
            ops = 2.0 * c * c * hw * hw
            rows.append({"what": f"conv2d 1x1, {c} -> {c} channels, {hw} x {hw}", "k": c, "dtype": "fp32",
                         "op": ops, "time_s": t, "op_per_s": ops / t, "library": "torch"})
    return rows


def kind_rates(*, min_s: float = 0.05, repeats: int = 3, seed: int = 3) -> dict[str, dict[str, Any]]:
    """One PyTorch fp32 operator of each kind the GEMM benchmark does not cover, at a generic size:
    a 3x3 convolution (128 -> 128 channels, 28 x 28), a depthwise 3x3 convolution (256 channels,
    28 x 28) and fused attention (``scaled_dot_product_attention``, 4 heads x 256 tokens x 64).
    Each row: the operations the project's tables count for it, the best time, their rate."""
    torch = _torch()
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    c, hw, cd, h, L, d = 128, 28, 256, 4, 256, 64
    x = torch.randn((1, c, hw, hw), generator=g)
    w = torch.randn((c, c, 3, 3), generator=g)
    xd = torch.randn((1, cd, hw, hw), generator=g)
    wd = torch.randn((cd, 1, 3, 3), generator=g)
    q, kk, v = (torch.randn((1, h, L, d), generator=g) for _ in range(3))
    calls = {
        "conv": (lambda: F.conv2d(x, w, padding=1), 2.0 * c * c * 9 * hw * hw,
                 f"conv2d 3x3, {c} -> {c} channels, {hw} x {hw}"),
        "dwconv": (lambda: F.conv2d(xd, wd, padding=1, groups=cd), 2.0 * cd * 9 * hw * hw,
                   f"depthwise conv2d 3x3, {cd} channels, {hw} x {hw}"),
        "attention": (lambda: F.scaled_dot_product_attention(q, kk, v), 4.0 * h * L * L * d,
                      f"scaled_dot_product_attention, {h} heads x {L} tokens x {d}"),
    }
    out: dict[str, dict[str, Any]] = {}
    with torch.inference_mode():
        for kind, (fn, ops, what) in calls.items():
            t = best_time(fn, min_s=min_s, repeats=repeats)
            out[kind] = {"what": what, "dtype": "fp32", "op": ops, "time_s": t, "op_per_s": ops / t,
                         "library": "torch", **({"k": 9 * c} if kind == "conv" else {})}
    return out
