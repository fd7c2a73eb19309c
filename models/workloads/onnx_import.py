"""ONNX graphs as workloads: a user's ``model.onnx`` as an operator table.

The graph is read with the ``onnx`` package, checked (``onnx.checker``), its shapes inferred
(``onnx.shape_inference.infer_shapes``, strict, with data propagation so ``Shape -> Gather ->
Concat -> Reshape`` chains resolve), and every node becomes a row built by the same operator
constructors as the built-in builders (:mod:`models.workloads.ops` and
:class:`models.workloads.cnn.NetBuilder`): there is no second FLOP or byte formula here.

What each node becomes
----------------------
- ``Conv``: :func:`~models.workloads.ops.conv` with the node's groups (``dwconv`` when
  groups = in = out channels), stride, kernel and the output size shape inference gives (pads
  and dilations act through it). 1-D and 3-D convs fold their extra axis into the GEMM view.
  Input bytes are the real input tensor's (``conv`` assumes "same" padding, ``h_in = h_out x
  stride``; the two agree for every same-padded layer). A bias input adds one parameter per
  output channel, as the builders' ``bias=True``.
- ``Gemm`` and ``MatMul`` with a constant weight: a linear layer (``NetBuilder.linear``); a
  ``MatMul`` whose sole consumer adds a constant vector of ``n`` elements takes it as its bias.
  ``MatMul`` of two activations (attention's ``Q K^T`` and ``P V``): a :func:`gemm` without
  weights per matrix of the broadcast batch dims, which multiply the row's ``count``.
- ``Softmax``/``LogSoftmax``: :func:`softmax` over its axis (opset < 13: the flattened tail).
- ``MaxPool``/``AveragePool``/``LpPool``: ``NetBuilder.pool`` (kernel-area FLOP per output),
  ``GlobalAveragePool``/``GlobalMaxPool`` and ``Reduce*``: ``NetBuilder.global_pool`` (one FLOP
  per input element).
- ``BatchNormalization``: ``NetBuilder.bn_act`` (2 parameters per channel, the running
  statistics are buffers); ``LayerNormalization``, ``RMSNormalization``,
  ``InstanceNormalization``, ``GroupNormalization``: :func:`norm` with their scale and bias as
  parameters.
- Elementwise nodes: :func:`elementwise` reading each non-constant input and writing the output,
  with FLOP per element from :data:`ELEMENTWISE_FLOP`; a constant input of more than one element
  (a bias, a position embedding, a PReLU slope) is a parameter read as weights.
- Shape and layout nodes (:data:`FREE_OPS`), and any node whose inputs are all constant (folded at
  load time, as every runtime does), cost nothing.

Fusions follow the builders' conventions (:mod:`models.workloads.cnn`): with ``fold_bn`` a
``BatchNormalization`` right after a conv or linear layer is folded into it and the activation
after a conv is fused into its epilogue (both rows dropped); without it ``BN -> activation`` is
one ``bn_act`` row. ``Add -> Relu`` is always one residual row (2 FLOP per element).

Identical nodes (same operation, shapes and attributes) are one row whose ``count`` is their
number. Nodes of an op type not listed here, or of a non-default domain, are not priced: they are
returned in :attr:`OnnxImport.unknown_ops` with their counts, never silently dropped.

Batch: a symbolic axis-0 dimension of the graph inputs is the batch, set by the ``batch``
argument (a scalar or an array over design points). Shapes are inferred at batch 1 and 2; each
dimension is then either fixed or proportional to the batch, so one import serves every batch of
a sweep. Other symbolic dimensions are refused with a clear error.

The datatype is the graph's (the element type most weights have, else the first floating input's),
or the ``dtype`` argument.
"""

from __future__ import annotations

import functools
import os
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from models.hardware.dtypes import check_dtype
from models.workloads.cnn import NetBuilder, check_positive, patch
from models.workloads.ops import Op, conv, elementwise, gemm, norm, softmax
from models.workloads.table import OperatorTable

__all__ = ["ELEMENTWISE_FLOP", "FREE_OPS", "OnnxImport", "OnnxModelError", "OnnxModelInfo", "is_onnx_path",
           "onnx_workload", "read_onnx"]

ArrayLike = float | int | np.ndarray

# FLOP per output element of elementwise nodes. Conventions of the builders: a transcendental
# (exp, erf, tanh, log, sqrt) counts as one FLOP (ops.softmax does the same); GELU 8 (vit.py,
# tanh form); SiLU 4 in llm.py, so sigmoid 3 (exp, add, divide) and HardSwish 4 (HardSigmoid's
# multiply, add, clip + the multiply); Clip 2 (max, min); LeakyReLU/PReLU 2 (compare, multiply);
# Softplus 3 (exp, add, log); ELU 3 (compare, exp, multiply-add); a cast or (de)quantization is
# one conversion (+1 for the scale).
ELEMENTWISE_FLOP: dict[str, float] = {
    **dict.fromkeys(("Relu", "Tanh", "Erf", "Exp", "Log", "Sqrt", "Reciprocal", "Neg", "Abs", "Sin", "Cos",
                     "Floor", "Ceil", "Round", "Sign", "Not", "Cast", "IsNaN", "IsInf"), 1.0),
    **dict.fromkeys(("Add", "Sub", "Mul", "Div", "Pow", "Max", "Min", "Mean", "Sum", "Mod", "Where", "Equal",
                     "Less", "LessOrEqual", "Greater", "GreaterOrEqual", "And", "Or", "Xor"), 1.0),
    "Sigmoid": 3.0, "HardSigmoid": 3.0, "HardSwish": 4.0, "Clip": 2.0, "LeakyRelu": 2.0, "PRelu": 2.0,
    "Softplus": 3.0, "Elu": 3.0, "Selu": 4.0, "Celu": 4.0, "Gelu": 8.0, "Mish": 5.0,
    "QuantizeLinear": 2.0, "DequantizeLinear": 2.0,
}
# Shape and layout nodes: metadata, or views and copies a compiler folds into their neighbours.
FREE_OPS = frozenset(("Reshape", "Transpose", "Flatten", "Concat", "Squeeze", "Unsqueeze", "Constant", "Shape",
                      "Size", "Identity", "Dropout", "Slice", "Split", "Expand", "ConstantOfShape", "Range", "Pad",
                      "Tile", "CastLike", "DepthToSpace", "SpaceToDepth"))
_POOLS = frozenset(("MaxPool", "AveragePool", "LpPool"))
_GLOBAL_POOLS = frozenset(("GlobalAveragePool", "GlobalMaxPool", "GlobalLpPool"))
_REDUCTIONS = frozenset(("ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceL2", "ReduceL1",
                         "ReduceProd", "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin"))
_NORMS = frozenset(("BatchNormalization", "LayerNormalization", "RMSNormalization", "InstanceNormalization",
                    "GroupNormalization"))
_PRICED = frozenset(("Conv", "Gemm", "MatMul", "Softmax", "LogSoftmax", "Gather")) | _POOLS | _GLOBAL_POOLS \
    | _REDUCTIONS | _NORMS | frozenset(ELEMENTWISE_FLOP)
KNOWN_OPS = _PRICED | FREE_OPS
# Activations a conv epilogue (fold_bn) or a BN + activation row (bn_act) absorbs.
_FUSABLE_ACTS = frozenset(("Relu", "Clip", "LeakyRelu", "HardSigmoid", "HardSwish", "Sigmoid", "Tanh"))
_DEFAULT_DOMAINS = ("", "ai.onnx")

# ONNX TensorProto element types -> project datatypes (those the project has).
_ELEM_DTYPE = {1: "fp32", 10: "fp16", 16: "bf16", 11: "fp64", 3: "int8", 2: "int8", 5: "int16", 4: "int16",
               6: "int32", 12: "int32", 17: "fp8", 18: "fp8", 19: "fp8", 20: "fp8", 21: "int4", 22: "int4",
               23: "fp4"}

Dim = tuple[int, int]  # (c, p): the dimension is c x batch**p (p is 0 or 1)
Shape = tuple[Dim, ...]


class OnnxModelError(ValueError):
    """An ONNX file that cannot be turned into a workload; the message names the file and the fault."""

    def __init__(self, path: str | Path, why: str) -> None:
        self.path, self.why = str(path), why
        super().__init__(f"ONNX model {self.path}: {why}")


def is_onnx_path(name: str | Path) -> bool:
    """Whether a workload name is a path to an ONNX file (it ends in ``.onnx``)."""
    return str(name).lower().endswith(".onnx")


@dataclass(frozen=True, kw_only=True)
class OnnxModelInfo:
    """What a workload spec needs to know of an ONNX file, read without inferring shapes.

    Attributes
    ----------
    path
        The file.
    n_nodes
        Nodes of the main graph.
    dtype
        The graph's datatype (element type of most weights, else of the first floating input).
    batch_symbols
        Names of the symbolic axis-0 dims of the inputs (empty: a fixed batch).
    fixed_batch
        Axis-0 size of the first input when the batch is not symbolic, else ``None``.
    unknown_ops
        ``op type -> nodes`` the model does not price (``domain.op`` outside the default domain).
    """

    path: str
    n_nodes: int
    dtype: str
    batch_symbols: tuple[str, ...]
    fixed_batch: int | None
    unknown_ops: Mapping[str, int]


@dataclass(frozen=True, kw_only=True)
class OnnxImport:
    """An imported ONNX graph: its operator table and what was not priced.

    Attributes
    ----------
    table
        The operator table (phase ``forward``, ``n_items`` = the batch).
    unknown_ops
        ``op type -> nodes`` left out (see :attr:`OnnxModelInfo.unknown_ops`).
    dtype
        Datatype of every row.
    n_nodes, n_priced, n_free
        Nodes of the graph, nodes priced (before identical ones merge into rows), and nodes that
        cost nothing (shape ops, constant-folded, fused into a neighbour).
    """

    table: OperatorTable
    unknown_ops: Mapping[str, int]
    dtype: str
    n_nodes: int
    n_priced: int
    n_free: int


# ---------------------------------------------------------------------------------- reading
def _op_key(node: Any) -> str:
    return node.op_type if node.domain in _DEFAULT_DOMAINS else f"{node.domain}.{node.op_type}"


def _is_known(node: Any) -> bool:
    return node.domain in _DEFAULT_DOMAINS and node.op_type in KNOWN_OPS


@functools.lru_cache(maxsize=4)  # a model holds its weights: keep few
def _load_cached(path: str, mtime_ns: int, size: int) -> Any:
    import onnx

    try:
        model = onnx.load(path, load_external_data=False)
    except Exception as exc:  # whatever fails to parse is not ONNX
        raise OnnxModelError(path, f"not an ONNX model (the file does not parse as one: {exc})") from None
    if model.ir_version <= 0 or not model.graph.node:
        raise OnnxModelError(path, "not an ONNX model (no IR version or no graph nodes)")
    try:
        onnx.checker.check_model(model)
    except onnx.checker.ValidationError as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OnnxModelError(path, f"invalid ONNX model: {first}") from None
    return model


def _load(path: str | Path) -> tuple[str, Any]:
    p = Path(path)
    if not p.exists():
        raise OnnxModelError(p, "no such file")
    if p.is_dir():
        raise OnnxModelError(p, "is a folder; expected an .onnx file")
    try:
        st = p.stat()
    except OSError as exc:
        raise OnnxModelError(p, f"cannot read it: {exc.strerror or exc}") from None
    key = str(p.resolve())
    if not os.access(key, os.R_OK):
        raise OnnxModelError(p, "cannot read it: permission denied")
    try:
        return key, _load_cached(key, st.st_mtime_ns, st.st_size)
    except OnnxModelError as exc:  # name the file as the user gave it
        raise OnnxModelError(p, exc.why) from None


def _graph_inputs(model: Any) -> list[Any]:
    inits = {t.name for t in model.graph.initializer}
    return [v for v in model.graph.input if v.name not in inits]


def _graph_dtype(model: Any) -> str:
    weights = Counter(t.data_type for t in model.graph.initializer if len(t.dims) >= 2)
    for elem, _ in weights.most_common():
        if elem in _ELEM_DTYPE:
            return _ELEM_DTYPE[elem]
    for v in _graph_inputs(model):
        d = _ELEM_DTYPE.get(v.type.tensor_type.elem_type)
        if d is not None:
            return d
    return "fp32"


def _batch_symbols(path: str, model: Any) -> tuple[tuple[str, ...], int | None]:
    """The symbolic axis-0 dims of the inputs, and the fixed batch when there are none."""
    symbols: list[str] = []
    for v in _graph_inputs(model):
        tt = v.type.tensor_type
        if not tt.HasField("shape"):
            raise OnnxModelError(path, f"graph input {v.name!r} has no shape; give every input a shape "
                                       "(its axis 0 may be a symbolic batch)")
        for axis, d in enumerate(tt.shape.dim):
            if d.HasField("dim_value"):
                continue
            if axis == 0:
                if d.dim_param and d.dim_param not in symbols:
                    symbols.append(d.dim_param)
                elif not d.dim_param:
                    symbols.append(f"<{v.name}:0>")
                continue
            what = f"symbolic ({d.dim_param!r})" if d.dim_param else "unknown"
            raise OnnxModelError(path, f"graph input {v.name!r} axis {axis} is {what}; only axis 0 (the batch) may "
                                       "be symbolic: fix the others, e.g. with "
                                       "onnx.tools.update_model_dims.update_inputs_outputs_dims")
    if symbols:
        return tuple(symbols), None
    ins = _graph_inputs(model)
    dims = list(ins[0].type.tensor_type.shape.dim) if ins else []
    return (), (int(dims[0].dim_value) if dims else 1)


def read_onnx(path: str | Path) -> OnnxModelInfo:
    """Read an ONNX file's facts (datatype, batch, ops it cannot price); no shape inference.

    Raises
    ------
    OnnxModelError
        A missing or unreadable file, a file that is not ONNX, an invalid graph, or an input with
        a symbolic dim other than the batch.
    """
    key, model = _load(path)
    unknown = Counter(_op_key(n) for n in model.graph.node if not _is_known(n))
    symbols, fixed = _batch_symbols(str(path), model)
    return OnnxModelInfo(path=str(path), n_nodes=len(model.graph.node), dtype=_graph_dtype(model),
                         batch_symbols=symbols, fixed_batch=fixed, unknown_ops=dict(unknown))


@functools.lru_cache(maxsize=16)  # shapes only (the inferred copy is dropped)
def _inferred_shapes(key: str, mtime_ns: int, size: int, batch: int | None,
                     symbols: tuple[str, ...]) -> dict[str, tuple[int, ...] | None]:
    """``tensor -> static shape`` (``None`` where inference left it open) with the batch set."""
    import onnx

    model = onnx.ModelProto()
    model.CopyFrom(_load_cached(key, mtime_ns, size))
    g = model.graph
    inits = {t.name for t in g.initializer}
    if batch is not None:
        # Set the batch symbol wherever the file declares it (inputs, outputs, value_info).
        for v in (*g.input, *g.output, *g.value_info):
            for axis, d in enumerate(v.type.tensor_type.shape.dim):
                anon = not d.HasField("dim_value") and not d.dim_param and f"<{v.name}:{axis}>" in symbols
                if d.dim_param in symbols or anon:
                    d.dim_value = batch
    try:
        inf = onnx.shape_inference.infer_shapes(model, check_type=True, strict_mode=True, data_prop=True)
    except (onnx.shape_inference.InferenceError, onnx.checker.ValidationError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise OnnxModelError(key, f"shape inference failed: {first}") from None
    shapes: dict[str, tuple[int, ...] | None] = {}
    for v in (*inf.graph.input, *inf.graph.value_info, *inf.graph.output):
        if v.name in inits:
            continue
        tt = v.type.tensor_type
        dims = tt.shape.dim if tt.HasField("shape") else None
        if dims is None or not all(d.HasField("dim_value") for d in dims):
            shapes.setdefault(v.name, None)
        else:
            shapes[v.name] = tuple(int(d.dim_value) for d in dims)
    for t in g.initializer:
        shapes[t.name] = tuple(int(x) for x in t.dims)
    return shapes


def _shapes(path: str, key: str, symbols: tuple[str, ...]) -> dict[str, Shape | None]:
    """``tensor -> dims as (c, p)``: inferred at batch 1 and 2 when the batch is symbolic."""
    st = Path(key).stat()
    try:
        return _dims(path, key, st.st_mtime_ns, st.st_size, symbols)
    except OnnxModelError as exc:  # name the file as the user gave it
        raise OnnxModelError(path, exc.why) from None


def _dims(path: str, key: str, mtime_ns: int, size: int, symbols: tuple[str, ...]) -> dict[str, Shape | None]:
    if not symbols:
        one = _inferred_shapes(key, mtime_ns, size, None, symbols)
        return {k: None if s is None else tuple((d, 0) for d in s) for k, s in one.items()}
    s1 = _inferred_shapes(key, mtime_ns, size, 1, symbols)
    s2 = _inferred_shapes(key, mtime_ns, size, 2, symbols)
    out: dict[str, Shape | None] = {}
    for name, a in s1.items():
        b = s2.get(name)
        if a is None or b is None or len(a) != len(b):
            out[name] = None
            continue
        dims: list[Dim] = []
        for x, y in zip(a, b, strict=True):
            if x == y:
                dims.append((x, 0))
            elif y == 2 * x:
                dims.append((x, 1))
            else:
                raise OnnxModelError(path, f"tensor {name!r} has a dim that is neither fixed nor proportional to "
                                           f"the batch ({x} at batch 1, {y} at batch 2)")
        out[name] = tuple(dims)
    return out


# ---------------------------------------------------------------------------------- import
def _prod(dims: Sequence[Dim]) -> Dim:
    c, p = 1, 0
    for dc, dp in dims:
        c, p = c * dc, p + dp
    return c, p


def _bcast(a: Sequence[Dim], b: Sequence[Dim]) -> list[Dim]:
    """Numpy broadcasting of two shapes of (c, p) dims."""
    n = max(len(a), len(b))
    a = [(1, 0)] * (n - len(a)) + list(a)
    b = [(1, 0)] * (n - len(b)) + list(b)
    return [y if x == (1, 0) else x for x, y in zip(a, b, strict=True)]


def _div(a: Dim, b: Dim) -> Dim:
    """``a / b`` of two sizes where ``b`` divides ``a`` (rows = elements / width)."""
    return a[0] // b[0], a[1] - b[1]


class _Graph:
    """Lookups over one graph: shapes, constants, consumers, attributes."""

    def __init__(self, path: str, model: Any, shapes: Mapping[str, Shape | None]) -> None:
        import onnx

        self.path, self.model, self.shapes = path, model, shapes
        g = model.graph
        self.nodes = list(g.node)  # one wrapper object per node: identities are stable
        self.outputs = {v.name for v in g.output}
        self.consumers: dict[str, list[int]] = {}
        self.producer: dict[str, Any] = {}
        for i, n in enumerate(self.nodes):
            for t in n.input:
                if t:
                    self.consumers.setdefault(t, []).append(i)
            for t in n.output:
                self.producer[t] = n
        self.opset = next((o.version for o in model.opset_import if o.domain in _DEFAULT_DOMAINS), 21)
        self.const = {t.name for t in g.initializer}
        self._attr = onnx.helper.get_attribute_value

    def attr(self, node: Any, name: str, default: Any) -> Any:
        for a in node.attribute:
            if a.name == name:
                return self._attr(a)
        return default

    def shape(self, node: Any, tensor: str) -> Shape:
        s = self.shapes.get(tensor)
        if s is None:
            src = self.producer.get(tensor)
            why = (f" (it comes from node {src.name or '?'!r} of op type {_op_key(src)}, which the model does not "
                   "know and shape inference cannot see through)") if src is not None and not _is_known(src) else ""
            raise OnnxModelError(self.path, f"unresolved shapes: tensor {tensor!r} of node {node.name or '?'!r} "
                                            f"({node.op_type}) has no static shape after shape inference{why}; export "
                                            "with static shapes (or a symbolic batch only), or simplify the graph "
                                            "(e.g. onnxsim)")
        return s

    def sole_consumer(self, tensor: str) -> Any | None:
        users = self.consumers.get(tensor, [])
        if len(users) != 1 or tensor in self.outputs:
            return None
        return self.nodes[users[0]]

    def is_const(self, tensor: str) -> bool:
        return tensor in self.const


Builder = Callable[[NetBuilder, str, ArrayLike], None]


def onnx_workload(path: str | Path, *, batch: ArrayLike | None = None, dtype: str | None = None,
                  fold_bn: bool = True) -> OnnxImport:
    """Import an ONNX graph as an operator table.

    Parameters
    ----------
    path
        The ``.onnx`` file (weights inline; external data files are not read: shapes suffice).
    batch
        The symbolic batch (scalar or ``(P,)`` array over design points). ``None``: 1, or the
        graph's own fixed batch. A graph with a fixed batch accepts only that value.
    dtype
        Datatype of weights and activations; ``None``: the graph's (:attr:`OnnxModelInfo.dtype`).
    fold_bn
        Fold a BatchNormalization into the conv or linear layer before it and fuse the activation
        after a conv into its epilogue, as inference compilers do.

    Returns
    -------
    OnnxImport
        The table (phase ``forward``, ``n_items`` = the batch) and the ops left out.

    Raises
    ------
    OnnxModelError
        A bad file (missing, not ONNX, invalid), a bad batch, or shapes that cannot be resolved.
    """
    info = read_onnx(path)
    key, model = _load(path)
    spath = str(path)
    if info.batch_symbols:
        bt = check_positive("batch", 1 if batch is None else batch, integer=True)
    else:
        bt = np.asarray(float(info.fixed_batch or 1))
        if batch is not None and np.any(np.asarray(batch, dtype=np.float64) != bt):
            raise OnnxModelError(spath, f"batch={batch!r}: the graph's inputs have a fixed batch of "
                                        f"{info.fixed_batch}; allowed: {info.fixed_batch} (export with a symbolic "
                                        "axis 0 to vary it)")
    dt = check_dtype(dtype or info.dtype, where=f"ONNX model {spath}")
    g = _Graph(spath, model, _shapes(spath, key, info.batch_symbols))
    nb = NetBuilder(1.0, dt)  # batch 1: every row below passes its real sizes, batch included

    def val(d: Dim) -> np.ndarray:
        return np.asarray(float(d[0])) if d[1] == 0 else d[0] * bt ** d[1]

    rows: dict[tuple[Any, ...], list[Any]] = {}  # signature -> [first node name, count, builder]
    fused: set[int] = set()
    index = {id(n): i for i, n in enumerate(g.nodes)}
    n_priced = n_free = 0

    def absorb(node: Any | None) -> Any | None:
        if node is not None:
            fused.add(index[id(node)])
        return node

    for i, node in enumerate(g.nodes):
        if not _is_known(node):
            continue
        ins = [t for t in node.input if t]
        op = node.op_type
        if i in fused:  # folded or fused into a neighbour's row
            n_free += 1
            continue
        if op in ("Shape", "Size") or all(g.is_const(t) for t in ins):
            # shapes are static, so a Shape's value is a constant; nodes of constants fold at load time
            g.const.update(t for t in node.output if t)
            n_free += 1
            continue
        if op in FREE_OPS:
            n_free += 1
            continue
        built = _row(g, node, ins, fold_bn, absorb, val)
        if built is None:
            n_free += 1
            continue
        n_priced += 1
        sig, fn = built
        row = rows.get(sig)
        if row is None:
            rows[sig] = [node.name or f"{op}_{i}", 1, fn]
        else:
            row[1] += 1
    if not rows:
        raise OnnxModelError(spath, "no node the model can price" + (
            f" (not priced: {', '.join(f'{k} x{v}' for k, v in info.unknown_ops.items())})"
            if info.unknown_ops else ""))
    for name, count, fn in rows.values():
        fn(nb, name, float(count))
    ins0 = _graph_inputs(model)
    first = g.shapes.get(ins0[0].name) if ins0 else None
    n_items = val(first[0]) if first else np.asarray(1.0)
    table = nb.table(Path(spath).stem, item_name="sample", n_items=n_items, knobs={"batch": bt})
    return OnnxImport(table=table, unknown_ops=info.unknown_ops, dtype=dt, n_nodes=info.n_nodes, n_priced=n_priced,
                      n_free=n_free)


def _row(g: _Graph, node: Any, ins: list[str], fold_bn: bool, absorb: Callable[[Any | None], Any | None],
         val: Callable[[Dim], np.ndarray]) -> tuple[tuple[Any, ...], Builder] | None:
    """The signature and the row builder of one node (``None``: it costs nothing)."""
    op = node.op_type
    out = node.output[0]
    if op == "Conv":
        return _conv(g, node, ins, fold_bn, absorb, val)
    if op == "Gemm" or (op == "MatMul" and g.is_const(ins[1]) and len(g.shape(node, ins[1])) == 2):
        return _linear(g, node, ins, fold_bn, absorb, val)
    if op == "MatMul":
        a, b = g.shape(node, ins[0]), g.shape(node, ins[1])
        a2 = [(1, 0), *a] if len(a) == 1 else list(a)
        b2 = [*b, (1, 0)] if len(b) == 1 else list(b)
        m, k, n = a2[-2], a2[-1], b2[-1]
        mats = _prod(_bcast(a2[:-2], b2[:-2]))

        def bmm(nb: NetBuilder, name: str, count: ArrayLike) -> None:
            # one GEMM per matrix of the batch dims: the count multiplies, each instance is one matrix
            nb.add(gemm(name, val(m), val(n), val(k), dtype=nb.dtype, weights=False, count=count * val(mats)))

        return ("bmm", m, n, k, mats), bmm
    if op in ("Softmax", "LogSoftmax"):
        x = g.shape(node, ins[0])
        axis = int(g.attr(node, "axis", -1 if g.opset >= 13 else 1)) % max(len(x), 1)
        width = _prod(x[axis:]) if g.opset < 13 else x[axis]
        rows = _div(_prod(x), width)

        def sm(nb: NetBuilder, name: str, count: ArrayLike) -> None:
            nb.add(softmax(name, val(rows), val(width), dtype=nb.dtype, count=count))

        return (op, rows, width), sm
    if op in _POOLS:
        return _pool(g, node, ins, val)
    if op in _GLOBAL_POOLS or op in _REDUCTIONS:
        n_in, n_out = _prod(g.shape(node, ins[0])), _prod(g.shape(node, out))

        def red(nb: NetBuilder, name: str, count: ArrayLike) -> None:
            # global_pool reads batch x h x w x c and writes batch x c: here batch 1, h = n_in / n_out
            nb.global_pool(name, val(n_in) / val(n_out), 1.0, val(n_out))
            if count != 1.0:
                nb.ops[-1] = patch(nb.ops[-1], count=count)

        return ("reduce", n_in, n_out), red
    if op in _NORMS:
        return _norm(g, node, ins, fold_bn, absorb, val)
    if op == "Gather":
        return _gather(g, node, ins, val)
    return _elementwise(g, node, ins, absorb, val)


def _act_after(g: _Graph, tensor: str) -> Any | None:
    """The activation that is the sole consumer of ``tensor``, if it can be fused."""
    c = g.sole_consumer(tensor)
    return c if c is not None and c.domain in _DEFAULT_DOMAINS and c.op_type in _FUSABLE_ACTS else None


def _bn_after(g: _Graph, tensor: str) -> Any | None:
    c = g.sole_consumer(tensor)
    return c if c is not None and c.domain in _DEFAULT_DOMAINS and c.op_type == "BatchNormalization" else None


def _conv(g: _Graph, node: Any, ins: list[str], fold_bn: bool, absorb: Callable[[Any | None], Any | None],
          val: Callable[[Dim], np.ndarray]) -> tuple[tuple[Any, ...], Builder]:
    x, w, y = g.shape(node, ins[0]), g.shape(node, ins[1]), g.shape(node, node.output[0])
    if len(x) < 3 or len(x) > 5:
        raise OnnxModelError(g.path, f"Conv {node.name!r}: input of rank {len(x)}; allowed: 1-D, 2-D and 3-D convs "
                                     "(rank 3 to 5)")
    groups = int(g.attr(node, "group", 1))
    strides = [int(s) for s in g.attr(node, "strides", [1] * (len(x) - 2))]
    n, ci, sp = x[0], x[1], x[2:]
    co, osp, ks = y[1], y[2:], w[2:]
    # the GEMM view folds the leading spatial axes into h (1-D: h = 1)
    ho, wo = (_prod(osp[:-1]) if len(osp) > 1 else (1, 0)), osp[-1]
    kh, kw = (_prod(ks[:-1]) if len(ks) > 1 else (1, 0)), ks[-1]
    bias = len(ins) > 2
    out = node.output[0]
    if fold_bn:
        bn = absorb(_bn_after(g, out))
        absorb(_act_after(g, bn.output[0] if bn is not None else out))

    def build(nb: NetBuilder, name: str, count: ArrayLike) -> None:
        op = conv(name, val(n), val(ho), val(wo), val(ci), val(co), val(kh), kernel_w=val(kw), groups=groups,
                  stride=strides[0], dtype=nb.dtype, count=count)
        if bias:
            op = nb._with_bias(op, val(co))
        a_in = val(n) * val(ci) * val(_prod(sp)) * nb.b
        if not np.array_equal(a_in, op.values["act_read_B"]):  # not "same" padding: the real input
            op = patch(op, act_read_B=a_in,
                       footprint_B=np.asarray(op.values["footprint_B"]) - op.values["act_read_B"] + a_in)
        nb.add(op)

    return ("conv", n, ci, sp, co, osp, ks, groups, tuple(strides), bias), build


def _linear(g: _Graph, node: Any, ins: list[str], fold_bn: bool, absorb: Callable[[Any | None], Any | None],
            val: Callable[[Dim], np.ndarray]) -> tuple[tuple[Any, ...], Builder]:
    a, b = g.shape(node, ins[0]), g.shape(node, ins[1])
    out = node.output[0]
    if node.op_type == "Gemm":
        ta, tb = int(g.attr(node, "transA", 0)), int(g.attr(node, "transB", 0))
        m, k = (a[1], a[0]) if ta else (a[0], a[1])
        n = b[0] if tb else b[1]
        bias = len(ins) > 2
        weights = g.is_const(ins[1])
    else:
        m, k, n = _prod(a[:-1]), a[-1], b[-1]
        weights = True
        add = g.sole_consumer(out)
        bias = False
        if add is not None and add.op_type == "Add" and add.domain in _DEFAULT_DOMAINS:
            other = [t for t in add.input if t and t != out]
            if len(other) == 1 and g.is_const(other[0]) and _prod(g.shape(add, other[0])) == n:
                absorb(add)  # MatMul + Add of a constant vector: a linear layer with its bias
                bias = True
                out = add.output[0]
    if fold_bn and weights:
        absorb(_bn_after(g, out))

    def build(nb: NetBuilder, name: str, count: ArrayLike) -> None:
        if weights:
            nb.linear(name, val(m), val(k), val(n), bias=bias, count=count)
        else:
            nb.add(gemm(name, val(m), val(n), val(k), dtype=nb.dtype, weights=False, count=count))

    return ("linear", m, k, n, bias, weights), build


def _pool(g: _Graph, node: Any, ins: list[str],
          val: Callable[[Dim], np.ndarray]) -> tuple[tuple[Any, ...], Builder]:
    x, y = g.shape(node, ins[0]), g.shape(node, node.output[0])
    ks = [int(k) for k in g.attr(node, "kernel_shape", [])]
    strides = [int(s) for s in g.attr(node, "strides", [1] * len(ks))]
    n, c, sp, osp = x[0], x[1], x[2:], y[2:]
    same = (len(ks) == 2 and ks[0] == ks[1] and strides[0] == strides[1]
            and all(-(-d[0] // strides[0]) == o[0] and d[1] == o[1] for d, o in zip(sp, osp, strict=True)))
    n_in, n_out = _prod(x), _prod(y)
    area = float(np.prod(ks))

    def build(nb: NetBuilder, name: str, count: ArrayLike) -> None:
        if same:  # NetBuilder.pool's "same" padding: its own sizes are the node's (batch folded into channels)
            nb.pool(name, val(sp[0]), val(sp[1]), val(n) * val(c), ks[0], strides[0], count=count)
        else:
            # windows NetBuilder.pool cannot express (valid padding, non-square): its convention,
            # kernel-area FLOP per output element, the input read and the output written
            op = elementwise(name, val(n_out), dtype=nb.dtype, flop_per_element=area, count=count)
            nb.add(patch(op, act_read_B=val(n_in) * nb.b, footprint_B=(val(n_in) + val(n_out)) * nb.b))

    return ("pool", n_in, n_out, tuple(ks), tuple(strides), same), build


def _norm(g: _Graph, node: Any, ins: list[str], fold_bn: bool, absorb: Callable[[Any | None], Any | None],
          val: Callable[[Dim], np.ndarray]) -> tuple[tuple[Any, ...], Builder] | None:
    op = node.op_type
    x = g.shape(node, ins[0])
    if op == "BatchNormalization":  # (one after a conv or linear layer was absorbed by it under fold_bn)
        act = absorb(_act_after(g, node.output[0]))
        rows = _prod([x[0], *x[2:]])
        c = x[1]
        act_name = None if act is None else act.op_type.lower()

        def bn(nb: NetBuilder, name: str, count: ArrayLike) -> None:
            nb.bn_act(name, val(rows), val(c), act=act_name, count=count)

        return ("bn", rows, c, act_name), bn
    params = sum(_prod(g.shape(node, t))[0] for t in ins[1:])  # scale and bias
    if op in ("LayerNormalization", "RMSNormalization"):
        axis = int(g.attr(node, "axis", -1)) % len(x)
        rows, width = _prod(x[:axis]), _prod(x[axis:])
    elif op == "InstanceNormalization":
        rows, width = _prod(x[:2]), _prod(x[2:])
    else:  # GroupNormalization
        ng = int(g.attr(node, "num_groups", 1))
        rows = (x[0][0] * ng, x[0][1])
        width = _div(_prod(x[1:]), (ng, 0))

    def nm(nb: NetBuilder, name: str, count: ArrayLike) -> None:
        nb.add(norm(name, val(rows), val(width), dtype=nb.dtype, count=count, n_params=float(params)))

    return (op, rows, width, params), nm


def _gather(g: _Graph, node: Any, ins: list[str],
            val: Callable[[Dim], np.ndarray]) -> tuple[tuple[Any, ...], Builder]:
    y = _prod(g.shape(node, node.output[0]))
    table = _prod(g.shape(node, ins[0])) if g.is_const(ins[0]) else None

    def gather(nb: NetBuilder, name: str, count: ArrayLike) -> None:
        # a gather is a copy, one op per element written (as llm.py's embedding rows)
        op = elementwise(name, val(y), dtype=nb.dtype, count=count,
                         kind="embedding" if table is not None else "elementwise")
        nb.add(op if table is None else patch(op, n_params=float(table[0])))

    return ("gather", y, table), gather


def _elementwise(g: _Graph, node: Any, ins: list[str], absorb: Callable[[Any | None], Any | None],
                 val: Callable[[Dim], np.ndarray]) -> tuple[tuple[Any, ...], Builder]:
    op = node.op_type
    out = node.output[0]
    e = _prod(g.shape(node, out))
    acts = [t for t in ins if not g.is_const(t)]
    # constants of more than one element are parameters (bias, position embedding, PReLU slope)
    p = sum(_prod(g.shape(node, t))[0] for t in ins if g.is_const(t) and _prod(g.shape(node, t))[0] > 1)
    if op == "Add" and len(acts) == 2 and p == 0:
        relu = g.sole_consumer(out)
        if relu is not None and relu.op_type == "Relu" and relu.domain in _DEFAULT_DOMAINS:
            absorb(relu)

            def residual(nb: NetBuilder, name: str, count: ArrayLike) -> None:
                nb.add_residual(name, val(e), relu=True, count=count)

            return ("add_relu", e), residual
    flop = ELEMENTWISE_FLOP[op]
    n_in = max(len(acts), 1)

    def ew(nb: NetBuilder, name: str, count: ArrayLike) -> None:
        o: Op = elementwise(name, val(e), dtype=nb.dtype, flop_per_element=flop, n_inputs=n_in, count=count)
        nb.add(nb._with_bias(o, float(p)) if p else o)

    return ("ew", op, e, n_in, p), ew
