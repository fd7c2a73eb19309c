"""Real workloads timed on this host, to check a calibrated target against: ``validate --host``.

None of them is a calibration benchmark: whole decoder LLMs (prefill and decode, fp32 and bf16,
batch 1..8), a ResNet-18 and a MobileNet-V1 forward pass, two-pass vs three-pass softmax,
standard vs fused (tiled) attention, rectangular GEMMs in fp32 and int8. Every model is built
here from its architecture with random weights (nothing is downloaded): the LLM from a shipped
Hugging Face config scaled down to fit (the same ``LLMConfig`` fields the operator table is
built from), the CNNs from the layer lists of :mod:`models.workloads.cnn`.

Each :class:`HostCase` pairs a timed run with the design point that prices it through the one
evaluation path (:func:`models.perf.evaluate_point`); :func:`run_host_validation` compares them.
"""

from __future__ import annotations

import json
import math
import statistics
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from models.calibrate.bench import best_time

# seconds of timed batches per workload (at least ``repeats`` runs each): the least run is the
# one other processes disturbed least
_MIN_S = {True: 0.4, False: 1.0}
# sizes of the host workloads, by quick: LLM prompt and generated tokens, the scaled LLM, CNN
# resolution, softmax length, attention tokens, GEMM m x n x k
SIZES: dict[bool, dict[str, Any]] = {
    True: {"prompt": 64, "n_gen": 8, "llm": {"hidden": 512, "n_layers": 4, "n_heads": 8, "intermediate": 1376},
           "resolution": 160, "softmax_n": 1 << 23, "attention_L": 512, "gemm": (256, 1536, 1536)},
    False: {"prompt": 128, "n_gen": 16, "llm": {"hidden": 512, "n_layers": 4, "n_heads": 8, "intermediate": 1376},
            "resolution": 224, "softmax_n": 1 << 24, "attention_L": 1024, "gemm": (256, 3072, 2048)},
}

__all__ = ["HostCase", "HostCaseResult", "HostValidation", "host_cases", "run_host_validation", "scaled_llm_config"]


@dataclass(frozen=True, kw_only=True)
class HostCase:
    """One workload: how to time it and which design point predicts it.

    ``run`` returns the measured seconds of the run the design point describes (its whole
    ``latency_s``); ``workload`` and ``settings`` go to :func:`models.perf.evaluate_point`.
    """

    id: str
    description: str
    workload: str
    settings: Mapping[str, Any]
    run: Callable[[], float]
    group: str


@dataclass(frozen=True, kw_only=True)
class HostCaseResult:
    id: str
    description: str
    group: str
    workload: str
    settings: Mapping[str, Any]
    measured_s: float
    predicted_s: float
    bound: str
    # the least time of each pass over the workload list; measured_s is their least
    measured_passes_s: tuple[float, ...] = ()

    @property
    def relative_error(self) -> float:
        """``predicted / measured - 1``."""
        return self.predicted_s / self.measured_s - 1.0

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "description": self.description, "group": self.group, "workload": self.workload,
                "settings": dict(self.settings), "measured_s": self.measured_s,
                "measured_passes_s": list(self.measured_passes_s), "predicted_s": self.predicted_s,
                "relative_error": self.relative_error, "bound": self.bound}


@dataclass(frozen=True, kw_only=True)
class HostValidation:
    target: str
    provenance: str
    results: tuple[HostCaseResult, ...]
    elapsed_s: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def median_abs_error(self) -> float:
        return float(statistics.median(abs(r.relative_error) for r in self.results))

    @property
    def worst(self) -> HostCaseResult:
        return max(self.results, key=lambda r: abs(r.relative_error))

    def as_dict(self) -> dict[str, Any]:
        w = self.worst
        return {"target": self.target, "provenance": self.provenance, "n_workloads": len(self.results),
                "median_abs_error": self.median_abs_error, "worst_abs_error": abs(w.relative_error),
                "worst_id": w.id, "elapsed_s": self.elapsed_s, "notes": list(self.notes),
                "workloads": [r.as_dict() for r in self.results]}


# ---------------------------------------------------------------------- the LLM
def scaled_llm_config(base: str = "llama-2-7b", *, hidden: int = 512, n_layers: int = 4, n_heads: int = 8,
                      intermediate: int = 1376) -> dict[str, Any]:
    """A shipped Hugging Face config with fewer layers and a smaller width (same architecture)."""
    from models.workloads.llm import load_llm_config

    src = Path(__file__).resolve().parents[2] / "data" / "workloads" / f"{base}.json"
    raw = json.loads(src.read_text())
    load_llm_config(src)  # the shipped config is valid
    raw = {k: v for k, v in raw.items() if not k.startswith("_")}
    raw.update({"hidden_size": hidden, "num_hidden_layers": n_layers, "num_attention_heads": n_heads,
                "num_key_value_heads": n_heads, "intermediate_size": intermediate})
    raw["_source"] = (f"{base}.json scaled down by tradespace validate --host: hidden {hidden}, {n_layers} layers, "
                      f"{n_heads} heads, intermediate {intermediate}")
    return raw


def _llm_module(cfg: Any, dtype: Any, seed: int) -> Any:
    """A Llama-architecture decoder in PyTorch from an :class:`~models.workloads.LLMConfig`:
    RMSNorm, RoPE, (GQA) attention through ``scaled_dot_product_attention``, SwiGLU MLP, LM
    head; random weights. ``forward(ids, cache, pos)`` fills the KV cache in place and returns
    the logits of the last position."""
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(seed)
    H, L, nh, nkv, hd, ff, V = (cfg.hidden, cfg.n_layers, cfg.n_heads, cfg.n_kv_heads, cfg.head_dim,
                                cfg.intermediate, cfg.vocab)

    def w(*shape: int) -> Any:
        return (torch.randn(*shape, generator=g) * 0.02).to(dtype)

    layers = [{"ln1": torch.ones(H, dtype=dtype), "wq": w(nh * hd, H), "wk": w(nkv * hd, H), "wv": w(nkv * hd, H),
               "wo": w(H, nh * hd), "ln2": torch.ones(H, dtype=dtype), "wg": w(ff, H), "wu": w(ff, H),
               "wd": w(H, ff)} for _ in range(L)]
    emb, ln_f, head = w(V, H), torch.ones(H, dtype=dtype), w(V, H)
    inv = 1.0 / (10000.0 ** (torch.arange(0, hd, 2, dtype=torch.float32) / hd))

    def rms(x: Any, gain: Any) -> Any:
        return x * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + 1e-5).to(x.dtype) * gain

    def rope(x: Any, pos: Any) -> Any:
        f = torch.outer(pos.float(), inv)
        cos, sin = f.cos().to(x.dtype), f.sin().to(x.dtype)
        x1, x2 = x[..., ::2], x[..., 1::2]
        return torch.stack((x1 * cos - x2 * sin, x1 * sin + x2 * cos), -1).flatten(-2)

    def forward(ids: Any, cache: list[tuple[Any, Any]], start: int) -> Any:
        b, t = ids.shape
        pos = torch.arange(start, start + t)
        x = F.embedding(ids, emb)
        for lw, (kc, vc) in zip(layers, cache, strict=True):
            h = rms(x, lw["ln1"])
            q = F.linear(h, lw["wq"]).view(b, t, nh, hd).transpose(1, 2)
            k = F.linear(h, lw["wk"]).view(b, t, nkv, hd).transpose(1, 2)
            v = F.linear(h, lw["wv"]).view(b, t, nkv, hd).transpose(1, 2)
            q, k = rope(q, pos), rope(k, pos)
            kc[:, :, start:start + t] = k
            vc[:, :, start:start + t] = v
            kk, vv = kc[:, :, :start + t], vc[:, :, :start + t]
            if nkv != nh:
                kk, vv = kk.repeat_interleave(nh // nkv, 1), vv.repeat_interleave(nh // nkv, 1)
            a = F.scaled_dot_product_attention(q, kk, vv, is_causal=t > 1)
            x = x + F.linear(a.transpose(1, 2).reshape(b, t, nh * hd), lw["wo"])
            h = rms(x, lw["ln2"])
            x = x + F.linear(F.silu(F.linear(h, lw["wg"])) * F.linear(h, lw["wu"]), lw["wd"])
        return F.linear(rms(x[:, -1:], ln_f), head)

    def new_cache(batch: int, ctx: int) -> list[tuple[Any, Any]]:
        return [(torch.zeros(batch, nkv, ctx, hd, dtype=dtype), torch.zeros(batch, nkv, ctx, hd, dtype=dtype))
                for _ in range(L)]

    forward.new_cache = new_cache  # type: ignore[attr-defined]
    forward.n_params = (sum(int(t.numel()) for lw in layers for t in lw.values())  # type: ignore[attr-defined]
                        + emb.numel() + ln_f.numel() + head.numel())
    return forward


def _llm_cases(config_path: Path, quick: bool, repeats: int) -> list[HostCase]:
    import torch

    from models.workloads.llm import load_llm_config

    cfg = load_llm_config(config_path)
    prompt, n_gen = SIZES[quick]["prompt"], SIZES[quick]["n_gen"]
    models: dict[str, Any] = {}
    cases: list[HostCase] = []
    rng = np.random.default_rng(7)

    def model(d: str) -> Any:
        if d not in models:
            models[d] = _llm_module(cfg, torch.float32 if d == "fp32" else torch.bfloat16, seed=3)
        return models[d]

    def prefill(d: str, b: int) -> Callable[[], float]:
        def run() -> float:
            f = model(d)
            ids = torch.from_numpy(rng.integers(0, cfg.vocab, (b, prompt)))
            cache = f.new_cache(b, prompt)
            with torch.inference_mode():
                return best_time(lambda: f(ids, cache, 0), min_s=_MIN_S[quick], repeats=repeats)

        return run

    def decode(d: str, b: int) -> Callable[[], float]:
        def run() -> float:
            f = model(d)
            ids = torch.from_numpy(rng.integers(0, cfg.vocab, (b, prompt)))
            cache = f.new_cache(b, prompt + n_gen)
            with torch.inference_mode():
                f(ids, cache, 0)
                tok = torch.zeros((b, 1), dtype=torch.long)

                def steps() -> None:
                    for i in range(n_gen):
                        f(tok, cache, prompt + i)

                return best_time(steps, min_s=_MIN_S[quick], repeats=repeats)

        return run

    batches = (1, 8) if quick else (1, 4, 8)
    for d in ("fp32", "bf16"):
        kn = {"weight_dtype": d, "act_dtype": d, "kv_dtype": d}
        for b in ((1,) if quick else (1, 4)):
            cases.append(HostCase(id=f"llm-prefill-{d}-b{b}", group="llm",
                                  description=f"scaled llama-2-7b prefill of {prompt} tokens, batch {b}, {d} (torch)",
                                  workload=str(config_path), run=prefill(d, b),
                                  settings={"phase": "prefill", "batch": b, "prompt_len": prompt, **kn}))
        for b in batches:
            cases.append(HostCase(id=f"llm-decode-{d}-b{b}", group="llm",
                                  description=f"scaled llama-2-7b decode of {n_gen} tokens after {prompt}, batch {b}, "
                                              f"{d} (torch)",
                                  workload=str(config_path), run=decode(d, b),
                                  settings={"phase": "decode", "batch": b, "prompt_len": prompt,
                                            "n_generated": n_gen, **kn}))
    return cases


# ---------------------------------------------------------------------- CNNs
def _resnet18(res: int) -> Any:
    import torch
    import torch.nn.functional as F

    g = torch.Generator().manual_seed(5)

    def conv_w(co: int, ci: int, k: int) -> tuple[Any, Any]:
        return torch.randn(co, ci, k, k, generator=g) * (2.0 / (ci * k * k)) ** 0.5, torch.zeros(co)

    # batch norm folded into each conv's weight and bias (the table's fold_bn=True)
    stem = conv_w(64, 3, 7)
    blocks = []
    c_in = 64
    for c, s in ((64, 1), (64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1)):
        down = conv_w(c, c_in, 1) if (s != 1 or c != c_in) else None
        blocks.append((conv_w(c, c_in, 3), conv_w(c, c, 3), down, s))
        c_in = c
    fc = torch.randn(1000, 512, generator=g) * 0.02

    def forward(x: Any) -> Any:
        x = F.relu(F.conv2d(x, *stem, stride=2, padding=3))
        x = F.max_pool2d(x, 3, 2, 1)
        for (w1, b1), (w2, b2), down, s in blocks:
            y = F.relu(F.conv2d(x, w1, b1, stride=s, padding=1))
            y = F.conv2d(y, w2, b2, padding=1)
            sc = F.conv2d(x, down[0], down[1], stride=s) if down is not None else x
            x = F.relu(y + sc)
        return F.linear(x.mean((2, 3)), fc)

    return forward


def _mobilenet_v1() -> Any:
    import torch
    import torch.nn.functional as F

    from models.workloads.cnn import _MBV1_LAYERS

    g = torch.Generator().manual_seed(6)
    stem = torch.randn(32, 3, 3, 3, generator=g) * 0.1
    layers = []
    c = 32
    for c_out, s, cnt in _MBV1_LAYERS:
        for j in range(int(cnt)):
            stride = int(s) if j == 0 else 1
            layers.append((torch.randn(c, 1, 3, 3, generator=g) * 0.3, torch.zeros(c), stride,
                           torch.randn(int(c_out), c, 1, 1, generator=g) * (2.0 / c) ** 0.5, torch.zeros(int(c_out))))
            c = int(c_out)
    fc = torch.randn(1000, c, generator=g) * 0.02

    def forward(x: Any) -> Any:
        x = F.relu(F.conv2d(x, stem, stride=2, padding=1))
        for dw, dwb, s, pw, pwb in layers:
            x = F.relu(F.conv2d(x, dw, dwb, stride=s, padding=1, groups=x.shape[1]))
            x = F.relu(F.conv2d(x, pw, pwb))
        return F.linear(x.mean((2, 3)), fc)

    return forward


def _cnn_cases(quick: bool, repeats: int) -> list[HostCase]:
    import torch

    res = SIZES[quick]["resolution"]

    def timed(make: Callable[[], Any], batch: int) -> Callable[[], float]:
        def run() -> float:
            f = make()
            x = torch.randn(batch, 3, res, res, generator=torch.Generator().manual_seed(1))
            with torch.inference_mode():
                return best_time(lambda: f(x), min_s=_MIN_S[quick], repeats=repeats)

        return run

    kn = {"batch": 1, "resolution": res, "dtype": "fp32", "fold_bn": True}
    return [HostCase(id="resnet18-fp32-b1", group="cnn", workload="resnet-18", settings=kn,
                     description=f"ResNet-18 forward, {res} px, batch 1, fp32, BN folded (torch)",
                     run=timed(lambda: _resnet18(res), 1)),
            HostCase(id="mobilenet-v1-fp32-b1", group="cnn", workload="mobilenet-v1", settings=kn,
                     description=f"MobileNet-V1 forward, {res} px, batch 1, fp32, BN folded (torch)",
                     run=timed(_mobilenet_v1, 1))]


# ---------------------------------------------------------------------- kernels
def softmax_two_pass(x: np.ndarray, y: np.ndarray, chunk: int) -> None:
    """Online-normalizer softmax (Milakov & Gimelshein 2018): pass 1 reads ``x`` once for the
    running max and rescaled sum (chunk by chunk, each chunk's exponentials in cache), pass 2
    reads ``x`` and writes ``y``."""
    m, s = -np.inf, 0.0
    for i in range(0, x.size, chunk):
        c = x[i:i + chunk]
        cm = float(c.max())
        nm = max(m, cm)
        t = np.subtract(c, nm)
        np.exp(t, out=t)
        s = s * math.exp(m - nm) + float(t.sum())
        m = nm
    for i in range(0, x.size, chunk):
        o = y[i:i + chunk]
        np.subtract(x[i:i + chunk], m, out=o)
        np.exp(o, out=o)
        o *= 1.0 / s


def softmax_three_pass(x: np.ndarray, y: np.ndarray, chunk: int) -> None:
    """Three-pass softmax that stores the exponentials: max (read ``x``), exp and sum (read
    ``x``, write ``y``), normalize (read and write ``y``)."""
    m = float(x.max())
    s = 0.0
    for i in range(0, x.size, chunk):
        o = y[i:i + chunk]
        np.subtract(x[i:i + chunk], m, out=o)
        np.exp(o, out=o)
        s += float(o.sum())
    y *= 1.0 / s


def _kernel_cases(quick: bool, repeats: int) -> list[HostCase]:
    import torch
    import torch.nn.functional as F

    n = SIZES[quick]["softmax_n"]
    rng = np.random.default_rng(11)
    chunk = 1 << 16
    cases: list[HostCase] = []

    def soft(fn: Callable[[np.ndarray, np.ndarray, int], None]) -> Callable[[], float]:
        def run() -> float:
            x = rng.standard_normal(n).astype(np.float32)
            y = np.empty_like(x)
            return best_time(lambda: fn(x, y, chunk), min_s=_MIN_S[quick], repeats=repeats)

        return run

    for name, fn, variant in (("two-pass", softmax_two_pass, "two_pass"),
                              ("three-pass", softmax_three_pass, "three_pass_reload")):
        cases.append(HostCase(id=f"softmax-{name}", group="kernel", workload="softmax", run=soft(fn),
                              description=f"{name} softmax of {n} fp32 elements (numpy)",
                              settings={"rows": 1, "n_elements": n, "dtype": "fp32", "softmax_variant": variant,
                                        # written into y, allocated once before the timing
                                        "output_buffers": "preallocated"}))
    b, h, L, d = 1, 8, SIZES[quick]["attention_L"], 64

    def attn(kind: str) -> Callable[[], float]:
        def run() -> float:
            g = torch.Generator().manual_seed(2)
            q, k, v = (torch.randn(b, h, L, d, generator=g) for _ in range(3))

            def standard() -> Any:
                # the 1/sqrt(d) scale on Q (L x d), not on S (L x L): the design point's operators are
                # S = Q K^T, P = softmax(S), O = P V, with no pass over S for the scale
                s = torch.matmul(q * (d ** -0.5), k.transpose(-1, -2))
                return torch.matmul(torch.softmax(s, -1), v)

            def fused() -> Any:
                return F.scaled_dot_product_attention(q, k, v)

            with torch.inference_mode():
                return best_time(standard if kind == "standard" else fused, min_s=_MIN_S[quick], repeats=repeats)

        return run

    for kind in ("standard", "fused"):
        cases.append(HostCase(id=f"attention-{kind}", group="kernel", workload="attention", run=attn(kind),
                              description=f"{'materialized S and P' if kind == 'standard' else 'fused (tiled) SDPA'}"
                                          f" attention, {h} heads x {L} tokens x {d}, fp32 (torch)",
                              settings={"batch": b, "n_heads": h, "seq_len": L, "head_dim": d, "dtype": "fp32",
                                        "attention_tiling": kind}))
    m, nn_, kk = SIZES[quick]["gemm"]

    def int8_gemm() -> float:
        g = torch.Generator().manual_seed(4)
        a = torch.randint(-128, 127, (m, kk), dtype=torch.int8, generator=g)
        w = torch.randint(-128, 127, (kk, nn_), dtype=torch.int8, generator=g)
        return best_time(lambda: torch._int_mm(a, w), min_s=_MIN_S[quick], repeats=repeats)

    def fp32_gemm() -> float:
        a = rng.standard_normal((m, kk)).astype(np.float32)
        w = rng.standard_normal((kk, nn_)).astype(np.float32)
        return best_time(lambda: a @ w, min_s=_MIN_S[quick], repeats=repeats)

    for d_, fn_ in (("int8", int8_gemm), ("fp32", fp32_gemm)):
        cases.append(HostCase(id=f"gemm-{d_}-{m}x{nn_}x{kk}", group="kernel", workload="gemm", run=fn_,
                              description=f"GEMM {m} x {kk} @ {kk} x {nn_}, {d_} "
                                          f"({'torch._int_mm' if d_ == 'int8' else 'numpy'})",
                              settings={"m": m, "n": nn_, "k": kk, "dtype": d_, "weight_dtype": d_}))
    return cases


def host_cases(workdir: Path, *, quick: bool = False, repeats: int = 3) -> list[HostCase]:
    """Every host workload (>= 12), the scaled LLM config written into ``workdir``."""
    cfg = workdir / "llama-2-7b-scaled.json"
    cfg.write_text(json.dumps(scaled_llm_config(**SIZES[quick]["llm"]), indent=1))
    return _llm_cases(cfg, quick, repeats) + _cnn_cases(quick, repeats) + _kernel_cases(quick, repeats)


# passes over the whole workload list; each workload keeps its least time (the calibration's
# short benchmarks run twice too, each keeping its better pass)
HOST_PASSES = {True: 1, False: 2}


def run_host_validation(target: str | Any = "host", *, quick: bool = False, only: list[str] | None = None,
                        progress: Callable[[str], None] | None = None) -> HostValidation:
    """Time every host workload and price its design point on ``target``.

    The full run times the whole list twice, a minute apart, and keeps each workload's least
    time (both are reported, ``measured_passes_s``): on a shared host a co-tenant slows whole
    phases of a minute, which the least of one pass's repeats does not remove, and the
    calibration it is compared with keeps the better of two passes of its benchmarks.

    Raises
    ------
    models.calibrate.CalibrationError
        PyTorch is missing (the message names the extra).
    KeyError
        An unknown target (``tradespace calibrate`` writes ``host``) or case id in ``only``.
    """
    from models.calibrate.calibration import require_torch
    from models.hardware import get_target
    from models.perf import evaluate_point

    torch = require_torch()
    try:
        t = get_target(target) if isinstance(target, str) else target
    except KeyError as exc:
        hint = "; `tradespace calibrate` writes the target 'host'" if target == "host" else ""
        raise KeyError(f"{exc.args[0] if exc.args else exc}{hint}") from None
    say = progress or (lambda s: None)
    t0 = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="tradespace-host-") as tmp:
        cases = host_cases(Path(tmp), quick=quick, repeats=2 if quick else 3)
        if only:
            known = {c.id for c in cases}
            bad = [o for o in only if o not in known]
            if bad:
                raise KeyError(f"unknown host workload(s) {', '.join(bad)}; available: {', '.join(sorted(known))}")
            cases = [c for c in cases if c.id in only]
        torch.set_num_threads(int(t.engines[0].n_units) if t.target_class == "cpu" else torch.get_num_threads())
        passes: dict[str, list[float]] = {c.id: [] for c in cases}
        n_pass = HOST_PASSES[quick]
        for k in range(n_pass):
            for c in cases:
                say(f"{c.id}: {c.description}" + (f" (pass {k + 1} of {n_pass})" if n_pass > 1 else ""))
                passes[c.id].append(c.run())
        for c in cases:
            measured = min(passes[c.id])
            r = evaluate_point(t, c.workload, dict(c.settings), detail=True)
            pred = float(r.summary()["totals"]["latency_s"])
            bd = r.perf.breakdown()
            top = bd.sort("total_latency_s", descending=True).row(0, named=True) if bd.height else {}
            results.append(HostCaseResult(id=c.id, description=c.description, group=c.group,
                                          workload=Path(c.workload).name, settings=dict(c.settings),
                                          measured_s=measured, predicted_s=pred, bound=str(top.get("bound", "")),
                                          measured_passes_s=tuple(passes[c.id])))
    return HostValidation(target=t.name, provenance=t.provenance, results=tuple(results),
                          elapsed_s=time.perf_counter() - t0)
