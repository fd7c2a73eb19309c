"""Every setting of a design point, declared once: target fields, workload knobs, algorithm knobs.

A design point sets

- ``target.<field>``: a numeric field of the target (``target.memories.hbm.bandwidth``), declared
  by :data:`models.hardware.FIELD_SPECS`;
- ``workload.<knob>``: a knob of the workload (``batch``, ``prompt_len``, ``group_size``...),
  declared by its :class:`models.workloads.WorkloadSpec`;
- ``algorithm.<knob>``: an algorithm knob of :data:`ALGORITHM_KNOBS` (formats, GEMM strategy,
  attention tiling and SRAM, softmax variant, scaling), priced by :mod:`models.algorithms`;
- ``engine.<kind>``: the engine that runs every operator of a kind (``engine.gemv = "pim"``).

Each is a :class:`models.params.Param`. :func:`setting` finds the declaration of any of them;
:func:`knob` finds a bare name as typed on the command line (``--set weight_format=int4``).
The same declarations validate space files and ``--set``, build the dashboard's widgets and
bound Optuna's search.
"""

from __future__ import annotations

from collections.abc import Mapping

from models.algorithms import LAUNCH_MODES, SCALING_STRATEGIES, SOFTMAX_VARIANTS, STRATEGIES
from models.algorithms.conv_algo import CONV_ALGORITHMS
from models.algorithms.memory_mapping import MEMORY_MAPPINGS
from models.algorithms.shiftadd import VIT_PRIMITIVES
from models.algorithms.sparsity import SPARSITY_MODES
from models.algorithms.training_precision import TRAINING_KERNELS, TRAINING_PRECISIONS
from models.hardware import Target, field_spec
from models.parallel.collectives import ALL_TO_ALL_ALGORITHMS
from models.parallel.data_parallel import AGGREGATION_RULES
from models.parallel.links import load_links
from models.params import Param, did_you_mean
from models.workloads import WorkloadSpec, workload_spec
from models.workloads.kinds import OP_KINDS
from models.workloads.llm import ZC_SHARE_MAX
from models.workloads.registry import is_shipped

OUTPUT_BUFFERS = ("allocated", "preallocated")
"""Values of ``output_buffers``: each result a fresh allocation, or buffers planned ahead
(:attr:`models.workloads.OperatorTable.fresh_outputs`)."""

GEMM_EXTRA_WORK = ("separate", "fused")
"""Values of ``gemm_extra_work``: a low-bit GEMM strategy's extra work as its own pass after the
GEMM, or inside the GEMM's kernel (:func:`models.workloads.table.fused_name`)."""

PIM_CONCURRENCY = ("blocked", "interleaved")
"""Values of ``pim_concurrency`` (:func:`models.point.builder.build_point`)."""
FUNCTION_CALLING_MODES = ("off", "sequential", "parallel")
FEDERATED_ALGORITHMS = ("off", "fedavg", "async", "fedbuff", "fedfix")
"""Values of ``federated`` (:mod:`models.systems.federated`)."""
"""Values of ``function_calling`` (:mod:`models.systems.function_calling`)."""

__all__ = [
    "ALGORITHM_KNOBS",
    "ATTENTION_TILINGS",
    "applicable_knobs",
    "DATA_PARALLEL_KNOBS",
    "FEDERATED_ALGORITHMS",
    "FEDERATED_KNOBS",
    "FORMAT_CHOICES",
    "FUNCTION_CALLING_KNOBS",
    "FUNCTION_CALLING_MODES",
    "SCOPES",
    "LENGTH_DISTRIBUTIONS",
    "PIM_CONCURRENCY",
    "SERVING_KNOBS",
    "SERVING_MODES",
    "SettingError",
    "engine_param",
    "knob",
    "setting",
]

SCOPES = ("target", "workload", "algorithm", "engine")
SERVING_MODES = ("off", "aggregated", "disaggregated")
LENGTH_DISTRIBUTIONS = ("fixed", "uniform", "lognormal")  # models.serving.lengths
ATTENTION_TILINGS = ("fused", "standard", "flash1", "flash2", "flat", "fusemax")
# A curated set of registry names of models.algorithms.quant (each divides the error proxy's
# 16384-element tensor and the usual GEMM reductions).
FORMAT_CHOICES = (
    "fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "fp6", "fp6_e2m3", "fp4",
    "mxfp8", "mxfp6", "mxfp4", "mxint8", "nf4",
    "int8", "int4", "int3", "int2", "ternary", "binary",
    "int8-g128", "int4-g128", "int4-g64", "int4-g32", "int4-g128-zp", "int3-g128", "int2-g64",
    "int2-g128", "int2-g128-zp", "int4-g32-zp", "bfp16", "bfp12",
)  # fmt: skip


# Target fields the builder reads from the target (models.algorithms.sparsity) rather than the pricing
# kernel: an override (compiled into the kernel's arrays) would not reach the table, so none is taken.
BUILD_TIME_FIELDS = ("zero_skip_efficiency", "zero_skip_index_bits")


class SettingError(ValueError):
    """An unknown setting; the message names it and what is allowed."""


def _alg(**kw: object) -> Param:
    return Param(role="algorithm knob", **kw)  # type: ignore[arg-type]


def _format_problem(name: object) -> str | None:
    """None when the quantization registry parses ``name`` (any group size, bfp size...)."""
    from models.algorithms import get_format

    try:
        get_format(str(name))
    except KeyError as exc:
        return str(exc.args[0]) if exc.args else "unknown format"
    return None


def _call_graph_problem(text: object) -> str | None:
    """None when ``text`` is a call graph :func:`models.systems.dag.parse_call_graph` takes."""
    from models.systems.dag import CallGraphError, parse_call_graph

    try:
        parse_call_graph(str(text))
    except CallGraphError as exc:
        return str(exc)
    return None


_FORMATS = dict(accepts=_format_problem, accepts_help="any models.algorithms.quant format name "
                                                      "(<int format>-g<size>[-zp][-<scale dtype>], bfp<N>[-b<n>])")


ALGORITHM_KNOBS: dict[str, Param] = {
    p.name: p
    for p in (
        *(
            _alg(name=f"{t}_format", kind="categorical", choices=FORMAT_CHOICES, **_FORMATS,
                 applies_to="every workload (models.algorithms.apply_quant)" if t != "kv"
                 else "decoder LLM workloads (their KV cache)",
                 help=f"storage format of the {what} (a models.algorithms.quant registry name)")
            for t, what in (("weight", "weights"), ("act", "activations"), ("kv", "KV cache"))
        ),
        _alg(name="gemm_strategy", kind="categorical", choices=tuple(STRATEGIES),
             applies_to="weight-bearing GEMM/GEMV rows (models.algorithms.price_gemm)",
             help="mixed-precision GEMM kernel: dequantize-then-GEMM, native low-bit units, T-MAC table "
                  "lookup, bit-serial, MixPE per-group"),
        _alg(name="gemm_act_format", kind="categorical", choices=FORMAT_CHOICES, **_FORMATS,
             applies_to="weight-bearing GEMM/GEMV rows, with gemm_strategy",
             help="format the activations are quantized to at the input of each weight GEMM (llama.cpp "
                  "q8_0: int8); default: the activation format"),
        _alg(name="gemm_extra_work", kind="categorical", choices=GEMM_EXTRA_WORK, default="separate",
             applies_to="weight-bearing GEMM/GEMV rows, with gemm_strategy",
             help="where the strategy's extra work (dequantization, scales, tables) runs: separate = its own "
                  "elementwise pass after the GEMM (a dequantize-then-GEMM pipeline); fused = inside the GEMM's "
                  "kernel, in registers (TensorRT-LLM's weight-only kernels, tinygemm, Marlin, llama.cpp): its "
                  "compute time adds to the GEMM's (the same schedulers issue both) and the weight loads overlap "
                  "the sum"),
        _alg(name="attention_tiling", kind="categorical", choices=ATTENTION_TILINGS, default="fused",
             applies_to="self-attention rows (prefill / forward)",
             help="fused: as built (compulsory traffic); standard: S and P through main memory; "
                  "flash1 / flash2: FlashAttention-1/2 tiling for attention_sram_B; flat / fusemax: a spatial "
                  "array's mapping (scores on chip; softmax on a separate 1D array, or fused onto the 2D array)"),
        _alg(name="attention_sram_B", kind="float", low=4096.0, high=64.0 * 2**20, unit="B", dimension="bytes",
             log=True, applies_to="attention_tiling = flash1 / flash2",
             help="on-chip memory per unit for FlashAttention tiles; default: the preset's innermost memory "
                  "level capacity over the fewest units of an engine reading it (shared memory per SM)"),
        _alg(name="softmax_variant", kind="categorical", choices=tuple(SOFTMAX_VARIANTS),
             applies_to="attention rows (adds the softmax passes over the fp32 scores)",
             help="softmax pass structure (models.algorithms.softmax)"),
        _alg(name="softmax_stores", kind="categorical", choices=("write_allocate", "streaming"),
             applies_to="the softmax passes (softmax_variant)",
             help="write_allocate: each store first reads its line (ordinary stores to write-back caches); "
                  "streaming: non-temporal stores that do not; default: write_allocate on CPUs, streaming "
                  "elsewhere"),
        _alg(name="launch_mode", kind="categorical", choices=LAUNCH_MODES, default="graph",
             applies_to="every workload (host-launched targets: GPU, NPU, PIM; on CPUs and MCUs the host is "
                        "the device and dispatch never overlaps)",
             help="how the runtime launches each step's operators (models.algorithms.launch): graph = CUDA "
                  "graphs / compiled engine, no host cost per kernel (default, as MLPerf, TensorRT-LLM, vLLM "
                  "and gpt-fast run); async = C++ stream launches, ~3 us each, overlapped; eager = PyTorch "
                  "eager from Python, overlapped; serial = a sync after every kernel"),
        _alg(name="host_dispatch_s", kind="float", low=0.0, high=1e-3, unit="us", dimension="time",
             structural=True, applies_to="launch_mode = async / eager / serial",
             help="host time to dispatch one operator; default: the launch mode's sourced figure "
                  "(data/launch_modes.toml)"),
        _alg(name="output_buffers", kind="categorical", choices=OUTPUT_BUFFERS, default="allocated",
             applies_to="every workload (a cost only on targets that declare first_touch_threshold / "
                        "first_touch_bandwidth: a calibrated host)",
             help="allocated: each operator's result is a new buffer from the runtime's allocator (eager "
                  "PyTorch, numpy expressions; a result of at least first_touch_threshold is mapped fresh "
                  "from the OS and its pages faulted in at first_touch_bandwidth); preallocated: results go to "
                  "buffers planned ahead (a graph runtime's arena, out= arguments)"),
        # serving a request stream (models.serving): decoder LLM workloads; batch = requests in flight,
        # prompt_len / n_generated = mean prompt / output length
        _alg(name="serving", kind="categorical", choices=SERVING_MODES, default="off",
             applies_to="decoder LLM workloads (models.serving)",
             help="off: price one request; aggregated: continuous batching, prefill and decode on the same "
                  "devices; disaggregated: prefill and decode on separate device groups (prefill_fraction)"),
        _alg(name="length_dist", kind="categorical", choices=LENGTH_DISTRIBUTIONS, default="fixed",
             applies_to="serving", help="shape of the prompt and output length distributions (mean: prompt_len "
                                        "and n_generated; spread: prompt_p99 and output_p99)"),
        _alg(name="prompt_p99", kind="float", low=1.0, high=float(1 << 20), unit="tokens", log=True,
             applies_to="serving with length_dist = uniform / lognormal",
             help="99th percentile of the prompt length (>= prompt_len, the mean)"),
        _alg(name="output_p99", kind="float", low=1.0, high=float(1 << 20), unit="tokens", log=True,
             applies_to="serving with length_dist = uniform / lognormal",
             help="99th percentile of the output length (>= n_generated, the mean)"),
        _alg(name="chunk_tokens", kind="int", low=1.0, high=float(1 << 20), unit="tokens", log=True,
             applies_to="serving = aggregated",
             help="chunked prefill: prompt tokens carried by each step alongside the decodes (Sarathi-Serve); "
                  "default: none, a prompt is prefilled whole while decoding waits"),
        _alg(name="ttft_sla_s", kind="float", low=0.0, low_open=True, high=3600.0, unit="ms", dimension="time",
             log=True, applies_to="serving (goodput)",
             help="time-to-first-token limit of the SLA; default: none"),
        _alg(name="tpot_sla_s", kind="float", low=0.0, low_open=True, high=60.0, unit="ms", dimension="time",
             log=True, applies_to="serving (goodput)", help="time-per-output-token limit of the SLA; default: none"),
        _alg(name="serving_devices", kind="int", low=1.0, high=4096.0, default=1, unit="count",
             applies_to="serving", help="devices of the target serving the stream (aggregated: replicas; "
                                        "disaggregated: split by prefill_fraction)"),
        _alg(name="prefill_fraction", kind="float", low=0.0, low_open=True, high=1.0, default=0.5,
             applies_to="serving = disaggregated",
             help="share of serving_devices that run prefill (the rest decode); below 1"),
        _alg(name="scaling_strategy", kind="categorical", choices=tuple(SCALING_STRATEGIES), default="fast",
             applies_to="regnetx-* workloads (models.algorithms.scale_anynet)",
             help="which of depth (d), width (w), resolution (r) grow with the flops"),
        _alg(name="scaling_factor", kind="float", low=1.0 / 16.0, high=64.0, default=1.0, log=True,
             applies_to="regnetx-* workloads", help="flops scaling factor s of the base net"),
        _alg(name="scaling_alpha", kind="float", low=1.0 / 3.0, high=1.0, default=0.8,
             applies_to="regnetx-* workloads with scaling_strategy = fast",
             help="fast compound scaling alpha (1/3: dwr, 1: w)"),
        # activation sparsity (models.algorithms.sparsity) and convolution algorithms (models.algorithms.conv_algo)
        _alg(name="act_sparsity", kind="float", low=0.0, high=0.99, default=0.0,
             applies_to="weight-bearing GEMM/GEMV/conv rows, on engines that declare zero-skipping (none elsewhere)",
             help="fraction of each MAC row's input activations that are zero (spatial) or unchanged since the "
                  "previous frame (delta); skipped MACs and bytes only on zero-skipping engines"),
        _alg(name="sparsity_mode", kind="categorical", choices=SPARSITY_MODES, default="spatial",
             applies_to="act_sparsity",
             help="spatial: zero activations; delta: Delta Activation Layer temporal sparsity (keeps the previous "
                  "input and output of each layer: state memory and reads)"),
        _alg(name="conv_algorithm", kind="categorical", choices=CONV_ALGORITHMS, default="direct",
             applies_to="conv / depthwise conv rows",
             help="direct: as built (no transformed tensor, compulsory traffic); im2col: lowered matrix "
                  "K_h K_w C_in H_out W_out per image written and read; im2win: window tensor C_in H_out K_h W_in"),
        # ShiftAddViT multiplication primitives (models.algorithms.shiftadd): ViT workloads only
        _alg(name="vit_mult_primitive", kind="categorical", choices=VIT_PRIMITIVES, default="mult",
             applies_to="ViT workloads (models.algorithms.apply_shiftadd)",
             help="mult: as built; shift: linear layers as shift layers (power-of-two weights: a shift and an add "
                  "per MAC); add_attention: binary Q/K linear attention by additions (2 N d^2 adds per head); "
                  "shiftadd: both (ShiftAddViT)"),
        _alg(name="shift_expert_fraction", kind="float", low=0.0, high=1.0, default=1.0,
             applies_to="vit_mult_primitive = shift / shiftadd",
             help="share of the MLP tokens the latency-aware router sends to the shift expert (the rest to the "
                  "multiplication expert); 0: the MLP as built, 1: all shift"),
        # training steps (models.algorithms.training_precision): vision workloads with training = true
        _alg(name="training_precision", kind="categorical", choices=tuple(TRAINING_PRECISIONS),
             applies_to="training steps (vision workloads with training = true)",
             help="datatypes of the forward and backward passes: fp32 / fp16 / bf16 throughout, or int16_dfp "
                  "(INT16 GEMMs into INT32 with shared-exponent dynamic fixed point, FP32 elsewhere, plus the "
                  "quantize / dequantize passes); default: the workload's dtype"),
        _alg(name="training_kernels", kind="categorical", choices=TRAINING_KERNELS, default="auto",
             applies_to="training steps (vision workloads with training = true)",
             help="gemm: each pass one GEMM at the engine's efficiency; pulp_trainlib: PULP-TrainLib's im2row / "
                  "transpositions and MatMuls split over the cluster's worker cores (MCU clusters); auto: "
                  "pulp_trainlib on a multi-core MCU cluster (gap9), gemm elsewhere"),
        # multi-device plans (models.parallel.plan): decoder LLM workloads, priced on the target's interconnect
        *(_alg(name=f"{d}_parallel", kind="int", low=1, high=4096, default=1, unit="count", structural=True, log=True,
               applies_to="decoder LLM workloads (models.parallel.plan)" if d != "expert"
               else "mixture-of-experts LLM workloads (models.parallel.plan)", help=h)
          for d, h in (("tensor", "devices each layer is split over (Megatron tensor parallelism): heads, MLP and "
                                  "vocabulary sharded, two all-reduces per layer"),
                       ("pipeline", "pipeline stages (L / p layers each), the batch in micro-batches of ceil(B / p)"),
                       ("expert", "model instances whose MoE layers share the experts (E / e each), two all-to-alls "
                                  "per MoE layer"))),
        _alg(name="expert_skew", kind="float", low=0.0, high=64.0, default=0.0, structural=True,
             applies_to="expert_parallel > 1",
             help="load of the busiest expert-parallel unit over the mean, minus 1 (0: uniform routing); the "
                  "busiest unit sets the step"),
        _alg(name="zc_expert_share", kind="float", low=0.0, high=ZC_SHARE_MAX, default=0.0, structural=True,
             applies_to="mixture-of-experts LLM workloads (models.workloads.llm)",
             help="MoE++ zero-computation experts: share of each token's top-k routed slots taken by zero / copy / "
                  "constant experts instead of an FFN expert (0: a vanilla MoE); they cost an elementwise pass, "
                  "sit on every device and cross no all-to-all"),
        _alg(name="expert_capacity_factor", kind="float", low=1.0, high=64.0, structural=True,
             applies_to="mixture-of-experts LLM workloads (models.workloads.llm)",
             help="GShard / Switch expert capacity: every expert computes a padded buffer of ceil(gamma T k / E) "
                  "rows and drops what exceeds it (an expert-parallel group's busiest unit computes no more); "
                  "default: dropless, each expert computes the tokens routed to it"),
        _alg(name="comm_overlap", kind="float", low=0.0, high=1.0, default=0.0, structural=True,
             applies_to="multi-device plans",
             help="share of the shorter of compute and communication hidden under the other in each phase "
                  "(0: in series; 1: the longer of the two)"),
        _alg(name="allreduce_algorithm", kind="categorical", choices=("ring", "tree", "auto"), default="ring",
             applies_to="tensor_parallel > 1",
             help="ring: 2(N-1)/N x bytes / bandwidth + 2(N-1) latencies; tree: 2 x bytes / bandwidth + "
                  "2 log2 N latencies; auto: the faster at each point (as NCCL's tuner)"),
        _alg(name="collective_base_latency_s", kind="float", low=0.0, high=1e-3, unit="us", dimension="time",
             structural=True, applies_to="multi-device plans (ring / tree collectives)",
             help="fixed cost of one all-reduce / all-gather / reduce-scatter call; default: NCCL's tuning-model "
                  "base latency (LL protocol: ring 6.6 us, tree 6.8 us); 0 for none (a fused or custom "
                  "all-reduce kernel); all-to-all and sends carry none"),
        _alg(name="devices_per_node", kind="int", low=1, high=4096, unit="count", structural=True,
             applies_to="multi-device plans",
             help="devices one scale-up link joins (an NVSwitch node); groups that span nodes also use the "
                  "scale-out link; default: the interconnect's node in data/links.toml (8 for NVLink 3 / 4), else "
                  "one domain"),
        _alg(name="scaleout_link", kind="categorical", choices=tuple(load_links()), structural=True,
             applies_to="multi-device plans that span nodes",
             help="the data/links.toml link between nodes; default: the interconnect's (NVLink 3: ib-hdr, "
                  "NVLink 4: ib-ndr)"),
        _alg(name="all_to_all_algorithm", kind="categorical", choices=ALL_TO_ALL_ALGORITHMS, default="flat",
             structural=True, applies_to="expert_parallel > 1 across nodes",
             help="flat: pairwise exchange among all devices; hierarchical: Tutel's 2D all-to-all, within each "
                  "node first, then between nodes in fewer, larger messages"),
        # memory mapping (models.algorithms.memory_mapping): placement of tensor classes across memory levels
        _alg(name="memory_mapping", kind="categorical", choices=MEMORY_MAPPINGS, default="greedy",
             applies_to="every workload (models.algorithms.memory_mapping)",
             help="greedy: each operator's working set competes for every level's whole capacity (as always); "
                  "partitioned: weights + KV cache get weight_capacity_share of each level, activations the rest"),
        _alg(name="weight_capacity_share", kind="float", low=0.0, high=1.0, default=0.5,
             applies_to="memory_mapping = partitioned",
             help="fraction of each memory level's capacity pinned to weights and KV cache (the rest to "
                  "activations); a searchable placement"),
        # an LLM agent's function calls (models.systems.function_calling): ReAct against LLMCompiler
        _alg(name="function_calling", kind="categorical", choices=FUNCTION_CALLING_MODES, default="off",
             applies_to="decoder LLM workloads (models.systems.function_calling)",
             help="off: one request; sequential: a ReAct agent, one LLM invocation per tool call over the growing "
                  "history; parallel: LLMCompiler, a planner writes the call graph, calls run as soon as their "
                  "dependencies are done, a joiner answers"),
        _alg(name="n_calls", kind="int", low=1, high=256, default=1, unit="count", structural=True, log=True,
             applies_to="function_calling (call_graph = layered)", help="tool calls the task needs"),
        _alg(name="call_depth", kind="int", low=1, high=256, default=1, unit="count", structural=True,
             applies_to="function_calling (call_graph = layered)",
             help="levels of the layered call graph (1: every call independent; n_calls: a chain); each call "
                  "depends on every call of the level before"),
        _alg(name="call_graph", kind="categorical", choices=("layered",), default="layered", structural=True,
             accepts=_call_graph_problem, accepts_help="an edge list '<call>><call>,...' over calls numbered from 0 "
                                                       "(e.g. '0>2,1>2'), without cycles",
             applies_to="function_calling",
             help="layered: n_calls in call_depth levels; or an explicit DAG as an edge list ('0>2,1>2': calls 0 "
                  "and 1 before call 2)"),
        _alg(name="tool_latency_s", kind="float", low=0.0, high=3600.0, default=0.0, unit="s", dimension="time",
             applies_to="function_calling", help="latency of one tool call (a search API, a code run...)"),
        _alg(name="call_tokens", kind="int", low=1, high=65536, default=32, unit="tokens", log=True,
             applies_to="function_calling",
             help="tokens the LLM writes per call (ReAct's thought and action; one line of LLMCompiler's plan)"),
        _alg(name="observation_tokens", kind="int", low=0, high=1 << 20, default=64, unit="tokens",
             applies_to="function_calling", help="tokens a tool's result adds to the LLM's context"),
        *(_alg(name=f"{io}_price_usd_per_Mtok", kind="float", low=0.0, high=1e4, unit="1",
               applies_to="function_calling (cost_usd)",
               help=f"price of the LLM's {io} tokens, USD per million (an API price list); both prices or neither")
          for io in ("input", "output")),
        # data-parallel training steps with an aggregation rule (models.parallel.data_parallel)
        _alg(name="data_parallel", kind="int", low=1, high=4096, default=1, unit="count", structural=True, log=True,
             applies_to="training steps (workloads with training = true; models.parallel.data_parallel)",
             help="workers that each train on their own batch and combine their gradients every step"),
        _alg(name="aggregation_rule", kind="categorical", choices=AGGREGATION_RULES, default="mean", structural=True,
             applies_to="data_parallel", help="mean: a ring all-reduce; median / trimmed_mean: coordinate-wise over "
                                               "the all-gathered gradients; flag: Flag Aggregator's SVD-based subspace "
                                               "of the gradients"),
        _alg(name="failed_workers", kind="int", low=0, high=4095, default=0, unit="count", structural=True,
             applies_to="data_parallel", help="Byzantine workers (they send wrong gradients): the trimmed mean drops "
                                               "this many from each end; median and trimmed mean need 2f < n"),
        _alg(name="flag_rank", kind="int", low=1, high=4096, unit="count", structural=True,
             applies_to="aggregation_rule = flag",
             help="subspace dimension r of Flag Aggregator; default 2^ceil(log2(n / 2)) (the released scripts: 8, "
                  "16, 32 for 15, 30, 60 workers)"),
        _alg(name="flag_iterations", kind="int", low=1, high=1000, default=1, unit="count", structural=True,
             applies_to="aggregation_rule = flag", help="reweighting iterations of Flag Aggregator per step (one SVD "
                                                        "each; the released aggregator: 1)"),
        # federated training with heterogeneous clients (models.systems.federated): training steps
        _alg(name="federated", kind="categorical", choices=FEDERATED_ALGORITHMS, default="off",
             applies_to="training steps (workloads with training = true; models.systems.federated)",
             help="off: one training step; fedavg: synchronous rounds that wait for the slowest sampled client; "
                  "async: every client update applied on arrival; fedbuff: a server update per fl_buffer client "
                  "updates; fedfix: a server update every fl_period_s with the clients that finished"),
        _alg(name="fl_clients", kind="int", low=1, high=100_000, default=10, unit="count", structural=True, log=True,
             applies_to="federated", help="clients in the population"),
        _alg(name="fl_sampled", kind="int", low=1, high=100_000, unit="count", structural=True, log=True,
             applies_to="federated = fedavg", help="clients sampled per round (uniformly, without replacement); "
                                                    "default: all"),
        _alg(name="fl_buffer", kind="int", low=1, high=100_000, unit="count", structural=True, log=True,
             applies_to="federated = fedbuff", help="client updates the server buffers before each server update "
                                                    "(at most fl_clients); default: 1"),
        _alg(name="fl_period_s", kind="float", low=0.0, low_open=True, high=1e7, unit="s", dimension="time", log=True,
             applies_to="federated = fedfix", help="fixed time between FedFix aggregations (needed)"),
        _alg(name="fl_local_steps", kind="int", low=1, high=1e6, default=1, unit="count", log=True,
             applies_to="federated", help="local training steps (batches) per client update"),
        _alg(name="fl_server_updates", kind="int", low=1, high=1e9, default=100, unit="count", log=True,
             applies_to="federated", help="server updates (aggregations) the clock runs to"),
        _alg(name="fl_speed_sigma", kind="float", low=0.0, high=4.0, default=0.0,
             applies_to="federated", help="lognormal shape of the clients' slowdown factors (median 1; 0: identical "
                                          "clients)"),
        _alg(name="fl_speed_range", kind="float", low=0.0, high=0.99,
             applies_to="federated (instead of fl_speed_sigma)",
             help="FedFix's F-X population: update times evenly from the slowest client (1) to the fastest (1 - X)"),
        _alg(name="fl_slow_share", kind="float", low=0.0, high=1.0, default=0.0,
             applies_to="federated", help="share of the clients (the slowest) that are stragglers"),
        _alg(name="fl_slowdown", kind="float", low=1.0, high=1e4, default=1.0, log=True,
             applies_to="federated (fl_slow_share)", help="how many times slower a straggler computes"),
        _alg(name="fl_client_bandwidth", kind="float", low=0.0, low_open=True, high=1e12, unit="MB/s",
             dimension="bandwidth", log=True, applies_to="federated",
             help="each client's link to the server (the model goes down and back up every update); default: "
                  "no transfer time"),
        # NPU/PIM concurrency (NeuPIMs): two sub-batches pipelined on the PIM and the other engines
        _alg(name="pim_concurrency", kind="categorical", choices=PIM_CONCURRENCY, default="blocked", structural=True,
             applies_to="decoder LLM workloads on a target with a PIM engine beside another engine",
             help="blocked: the PIM and the other engines take turns, every operator in series (a naive "
                  "NPU + PIM); interleaved: NeuPIMs' dual row buffers and sub-batch interleaving, the batch in two "
                  "halves whose operators run on the PIM and on the other engines at the same time, so a phase "
                  "takes the larger side (a batch below 2 is not split)"),
    )
}
MEMORY_MAPPING_KNOBS = ("memory_mapping", "weight_capacity_share")
# the knobs of a multi-device plan (models.parallel.plan.plan_of)
PARALLEL_KNOB_NAMES = ("tensor_parallel", "pipeline_parallel", "expert_parallel", "expert_skew", "comm_overlap",
                       "allreduce_algorithm", "collective_base_latency_s", "devices_per_node", "scaleout_link",
                       "all_to_all_algorithm")
TRAINING_KNOBS = ("training_precision", "training_kernels")
SHIFTADD_KNOBS = ("vit_mult_primitive", "shift_expert_fraction")
SPARSITY_KNOBS = ("act_sparsity", "sparsity_mode")
SCALING_KNOBS = ("scaling_strategy", "scaling_factor", "scaling_alpha")
FUNCTION_CALLING_KNOBS = ("function_calling", "n_calls", "call_depth", "call_graph", "tool_latency_s", "call_tokens",
                          "observation_tokens", "input_price_usd_per_Mtok", "output_price_usd_per_Mtok")
DATA_PARALLEL_KNOBS = ("data_parallel", "aggregation_rule", "failed_workers", "flag_rank", "flag_iterations")
FEDERATED_KNOBS = ("federated", "fl_clients", "fl_sampled", "fl_buffer", "fl_period_s", "fl_local_steps",
                   "fl_server_updates", "fl_speed_sigma", "fl_speed_range", "fl_slow_share", "fl_slowdown",
                   "fl_client_bandwidth")
SERVING_KNOBS = ("serving", "length_dist", "prompt_p99", "output_p99", "chunk_tokens", "ttft_sla_s", "tpot_sla_s",
                 "serving_devices", "prefill_fraction")


def engine_param(target: Target, kind: str) -> Param:
    """The declaration of ``engine.<kind>``: the engines of ``target`` that run ``kind``."""
    if kind not in OP_KINDS:
        raise SettingError(f"engine.{kind}: unknown operator kind {kind!r}; allowed: {', '.join(OP_KINDS)}")
    names = tuple(e.name for e in target.engines if kind in e.runs)
    if not names:
        raise SettingError(f"engine.{kind}: no engine of target {target.name!r} runs {kind!r}")
    return Param(name=f"engine.{kind}", kind="categorical", choices=names, role="engine assignment",
                 applies_to=f"{kind} operators", help=f"the engine of {target.name} that runs every {kind} operator")


def _spec(workload: str | WorkloadSpec) -> WorkloadSpec:
    return workload if isinstance(workload, WorkloadSpec) else workload_spec(workload)


def setting(sets: str, *, workload: str | WorkloadSpec | None = None, target: Target | None = None) -> Param:
    """The declaration of a setting written as ``<scope>.<name>`` (see the module docstring).

    ``workload`` is needed for ``workload.<knob>``, ``target`` for ``engine.<kind>`` and to check
    that a ``target.<field>`` exists on that target.

    Raises
    ------
    SettingError
        Unknown scope or name; the message lists what is allowed.
    """
    head, _, name = sets.partition(".")
    if head not in SCOPES or not name:
        raise SettingError(f"setting {sets!r}: allowed: target.<field>, workload.<knob>, algorithm.<knob>, "
                           "engine.<kind>")
    if head == "target":
        if target is not None:
            from models.hardware.registry import _adds_entry

            fields = target.numeric_fields()
            # optional fields (stall power, a link) may be added to a target that lacks them
            if name not in fields and not _adds_entry(target, name):
                raise SettingError(f"setting {sets!r}: target {target.name!r} has no field {name!r}"
                                   f"{did_you_mean(name, fields)}; allowed: "
                                   f"target.<{', '.join(sorted(fields))}>")
        if name.rpartition(".")[2] in BUILD_TIME_FIELDS:
            raise SettingError(f"setting {sets!r}: the design-point builder reads zero-skipping from the target "
                               "itself (which rows lose MACs), so it is not an override; allowed: set it in a target "
                               "file, or in a saved copy on the Targets page")
        try:
            return field_spec(name)
        except KeyError:
            raise SettingError(f"setting {sets!r}: no target has a field {name!r}") from None
    if head == "workload":
        if workload is None:
            raise SettingError(f"setting {sets!r}: a workload is needed to look up its knobs")
        spec = _spec(workload)
        try:
            return spec.knob(name)
        except KeyError:
            raise SettingError(f"setting {sets!r}: workload {spec.name!r} has no knob {name!r}"
                               f"{did_you_mean(name, [k.name for k in spec.knobs])}; allowed: "
                               f"{', '.join(k.name for k in spec.knobs)}") from None
    if head == "algorithm":
        if name not in ALGORITHM_KNOBS:
            raise SettingError(f"setting {sets!r}: unknown algorithm knob {name!r}"
                               f"{did_you_mean(name, ALGORITHM_KNOBS)}; allowed: "
                               f"{', '.join(ALGORITHM_KNOBS)}")
        return ALGORITHM_KNOBS[name]
    if target is None:
        raise SettingError(f"setting {sets!r}: a target is needed to list its engines")
    return engine_param(target, name)


def knob(name: str, workload: str | WorkloadSpec) -> tuple[str, Param]:
    """``(qualified name, declaration)`` of a bare knob name: the workload's knob, else an algorithm knob.

    A qualified name (``algorithm.weight_format``, ``workload.batch``) is looked up as such.
    """
    spec = _spec(workload)
    if "." in name and name.partition(".")[0] in ("workload", "algorithm"):
        return name, setting(name, workload=spec)
    names = {k.name for k in spec.knobs}
    if name in names:
        return f"workload.{name}", spec.knob(name)
    if name in ALGORITHM_KNOBS:
        return f"algorithm.{name}", ALGORITHM_KNOBS[name]
    hint = did_you_mean(name, [*names, *ALGORITHM_KNOBS])
    raise SettingError(f"unknown knob {name!r} for workload {spec.name!r}{hint}; workload knobs: "
                       f"{', '.join(k.name for k in spec.knobs)}; algorithm knobs: {', '.join(ALGORITHM_KNOBS)}")


def applicable_knobs(workload: str | WorkloadSpec) -> list[Param]:
    """The algorithm knobs that apply to ``workload``, read off its table at the default knobs:
    formats always; the KV format where there is a KV cache; GEMM strategies where weight GEMMs
    are; attention and softmax knobs where attention or softmax rows are; scaling for RegNetX;
    serving and parallel plans for decoder LLMs (expert parallelism for MoE ones)."""
    spec = _spec(workload)
    shipped = is_shipped(spec)  # a shipped workload's table never changes: read it once
    if shipped and spec.name in _APPLICABLE:
        return list(_APPLICABLE[spec.name])
    out = _applicable(spec)
    if shipped:
        _APPLICABLE[spec.name] = tuple(out)
    return out


# the algorithm knobs of each shipped workload, by name (a user's config file is read every time)
_APPLICABLE: dict[str, tuple[Param, ...]] = {}


def _applicable(spec: WorkloadSpec) -> list[Param]:
    t = spec.build()
    kinds = set(t.meta["kind"].to_list())
    has_kv = any(t.meta["kv_dtype"].to_list())
    weight_gemm = any(k in ("gemm", "gemv") and w for k, w in zip(t.meta["kind"].to_list(),
                                                                  t.meta["weight_dtype"].to_list(), strict=True))
    moe = any(n.startswith("expert_") for n in t.meta["name"].to_list())
    out = []
    for name, p in ALGORITHM_KNOBS.items():
        if name == "kv_format" and not has_kv:
            continue
        if name.startswith("gemm_") and not weight_gemm:
            continue
        if name.startswith("attention_") and "attention" not in kinds:
            continue
        if name.startswith("softmax_") and not kinds & {"attention", "softmax"}:
            continue
        if name in SCALING_KNOBS and not spec.name.startswith("regnetx-"):
            continue
        if name in SERVING_KNOBS and spec.family != "llm":
            continue
        if name in FUNCTION_CALLING_KNOBS and spec.family != "llm":
            continue
        if name in (*FEDERATED_KNOBS, *DATA_PARALLEL_KNOBS) and "training" not in {k.name for k in spec.knobs}:
            continue
        if name in PARALLEL_KNOB_NAMES and spec.family != "llm":  # multi-device plans of decoder LLMs
            continue
        if name == "pim_concurrency" and spec.family != "llm":
            continue
        if name in ("expert_parallel", "expert_skew", "zc_expert_share", "expert_capacity_factor",
                    "all_to_all_algorithm") and not moe:
            continue
        if name in SHIFTADD_KNOBS and spec.family != "vit":
            continue
        if name == "conv_algorithm" and not kinds & {"conv", "dwconv"}:
            continue
        if name in SPARSITY_KNOBS and not kinds & {"gemm", "gemv", "conv", "dwconv"}:
            continue
        if name in TRAINING_KNOBS and "training" not in {k.name for k in spec.knobs}:
            continue
        out.append(p)
    return out


def split_settings(values: Mapping[str, object], workload: str | WorkloadSpec) -> tuple[dict, dict]:
    """Bare or qualified knob names split into ``(workload knobs, algorithm knobs)``, checked."""
    wk: dict[str, object] = {}
    ak: dict[str, object] = {}
    for name, v in values.items():
        q, p = knob(name, workload)
        (wk if q.startswith("workload.") else ak)[p.name] = p.check(v)
    return wk, ak
