"""ONNX graphs as workloads (issue 16): graphs built in code with onnx.helper, no downloads.

Hand counts are written from first principles: a conv is one multiply-accumulate (2 FLOP) per
output element per input channel of its group per kernel tap; a matrix product A[m, k] B[k, n]
2 m n k FLOP; bytes are the tensors' elements x 4 (fp32). Softmax and LayerNorm (5 FLOP per
element), BN + ReLU (3), sigmoid (3) and pooling (window area per output) follow the project's
documented counts (models/workloads/ops.py, cnn.py, docs/models.md).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto
from onnx import helper as oh
from onnx import numpy_helper as nph

from app.cli import main
from models.workloads import OnnxModelError, build_workload, onnx_workload, read_onnx, resnet18, workload_spec

F32 = 4  # bytes per fp32 element


def _w(name: str, *shape: int) -> onnx.TensorProto:
    return nph.from_array(np.full(shape, 0.01, dtype=np.float32), name)


def _i64(name: str, values: list[int]) -> onnx.TensorProto:
    return nph.from_array(np.asarray(values, dtype=np.int64), name)


def _save(model: onnx.ModelProto, path: Path) -> str:
    onnx.save(model, str(path))
    return str(path)


# ---------------------------------------------------------------------------------- graph 1
def attention_graph(batch: str | int = "N") -> onnx.ModelProto:
    """x[N,16,8,8] -> grouped conv (4 groups, bias) -> ReLU -> depthwise 3x3/2 -> dilated grouped
    conv (2 groups) -> 16 tokens of 64 -> Q, K, V projections (MatMul + bias) -> 2 heads of 32 ->
    Q K^T -> x 0.25 -> softmax -> . V -> output projection -> residual add -> LayerNorm -> a
    custom-domain op; and a NonMaxSuppression on two more inputs."""
    nodes = [
        oh.make_node("Conv", ["x", "w1", "b1"], ["c1"], name="conv_g4", group=4, pads=[1, 1, 1, 1]),
        oh.make_node("Relu", ["c1"], ["r1"], name="relu1"),
        oh.make_node("Conv", ["r1", "wdw"], ["c2"], name="conv_dw", group=32, strides=[2, 2], pads=[1, 1, 1, 1]),
        oh.make_node("Conv", ["c2", "w3"], ["c3"], name="conv_g2_dil", group=2, dilations=[2, 2], pads=[2, 2, 2, 2]),
        oh.make_node("Reshape", ["c3", "shp_tok"], ["t0"], name="to_tokens"),
        oh.make_node("Transpose", ["t0"], ["t"], name="tok_t", perm=[0, 2, 1]),
    ]
    inits = [_w("w1", 32, 4, 3, 3), _w("b1", 32), _w("wdw", 32, 1, 3, 3), _w("w3", 64, 16, 3, 3),
             _i64("shp_tok", [0, 64, 16]), _i64("shp_heads", [0, 16, 2, 32]), _i64("shp_back", [0, 16, 64]),
             nph.from_array(np.asarray(0.25, dtype=np.float32), "scale"), _w("wo", 64, 64), _w("bo", 64),
             _w("ln_g", 64), _w("ln_b", 64)]
    for p in "qkv":
        inits += [_w(f"w{p}", 64, 64), _w(f"b{p}", 64)]
        nodes += [oh.make_node("MatMul", ["t", f"w{p}"], [f"{p}0"], name=f"{p}_proj"),
                  oh.make_node("Add", [f"{p}0", f"b{p}"], [f"{p}1"], name=f"{p}_bias"),
                  oh.make_node("Reshape", [f"{p}1", "shp_heads"], [f"{p}2"], name=f"{p}_heads")]
    nodes += [
        oh.make_node("Transpose", ["q2"], ["q"], perm=[0, 2, 1, 3], name="q_t"),
        oh.make_node("Transpose", ["k2"], ["kt"], perm=[0, 2, 3, 1], name="k_t"),
        oh.make_node("Transpose", ["v2"], ["v"], perm=[0, 2, 1, 3], name="v_t"),
        oh.make_node("MatMul", ["q", "kt"], ["s"], name="qk"),
        oh.make_node("Mul", ["s", "scale"], ["s2"], name="scale"),
        oh.make_node("Softmax", ["s2"], ["pr"], name="softmax", axis=-1),
        oh.make_node("MatMul", ["pr", "v"], ["o"], name="pv"),
        oh.make_node("Transpose", ["o"], ["o2"], perm=[0, 2, 1, 3], name="o_t"),
        oh.make_node("Reshape", ["o2", "shp_back"], ["o3"], name="o_merge"),
        oh.make_node("MatMul", ["o3", "wo"], ["p0"], name="out_proj"),
        oh.make_node("Add", ["p0", "bo"], ["p1"], name="out_bias"),
        oh.make_node("Add", ["t", "p1"], ["res"], name="residual"),
        oh.make_node("LayerNormalization", ["res", "ln_g", "ln_b"], ["y"], name="ln", axis=-1),
        oh.make_node("NonMaxSuppression", ["boxes", "scores"], ["sel"], name="nms"),
        oh.make_node("Fancy", ["y"], ["z"], name="fancy", domain="com.acme"),
    ]
    inputs = [oh.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 16, 8, 8]),
              oh.make_tensor_value_info("boxes", TensorProto.FLOAT, [batch, 8, 4]),
              oh.make_tensor_value_info("scores", TensorProto.FLOAT, [batch, 1, 8])]
    outputs = [oh.make_tensor_value_info("z", TensorProto.FLOAT, [batch, 16, 64]),
               oh.make_tensor_value_info("sel", TensorProto.INT64, ["n_selected", 3])]
    graph = oh.make_graph(nodes, "attention_block", inputs, outputs, inits)
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("com.acme", 1)])


@pytest.fixture
def attn_path(tmp_path: Path) -> str:
    return _save(attention_graph(), tmp_path / "attn.onnx")


def _rows(table) -> dict[str, dict[str, float]]:  # type: ignore[no-untyped-def]
    return {r["name"]: r for r in table.frame().to_dicts()}


def test_hand_built_graph_matches_hand_counts_per_row(attn_path: str) -> None:
    imp = onnx_workload(attn_path, batch=2)
    rows = _rows(imp.table)
    N = 2
    # what the model does not know is listed with its count
    assert dict(imp.unknown_ops) == {"NonMaxSuppression": 1, "com.acme.Fancy": 1}
    assert imp.dtype == "fp32"
    # ReLU after a conv is fused (fold_bn); the bias Adds are the projections'; layout ops are free
    assert set(rows) == {"conv_g4", "conv_dw", "conv_g2_dil", "q_proj", "qk", "scale", "softmax", "pv", "residual",
                         "ln"}

    # conv_g4: 16 -> 32 channels in 4 groups (4 in-channels per group), 3x3, 8x8 output, bias
    r = rows["conv_g4"]
    assert r["kind"] == "conv" and r["count"] == 1
    assert r["flop"] == 2 * (N * 8 * 8) * 32 * (4 * 3 * 3)
    assert r["n_params"] == 32 * 4 * 3 * 3 + 32
    assert r["weight_read_B"] == (32 * 4 * 3 * 3 + 32) * F32
    assert r["act_read_B"] == N * 16 * 8 * 8 * F32
    assert r["act_write_B"] == N * 32 * 8 * 8 * F32

    # conv_dw: depthwise 3x3 stride 2 over 32 channels, 8x8 -> 4x4
    r = rows["conv_dw"]
    assert r["kind"] == "dwconv"
    assert r["flop"] == 2 * (N * 4 * 4) * 32 * 9
    assert r["n_params"] == 32 * 9
    assert r["act_read_B"] == N * 32 * 8 * 8 * F32
    assert r["act_write_B"] == N * 32 * 4 * 4 * F32

    # conv_g2_dil: 32 -> 64 in 2 groups (16 in-channels each), 3x3 dilated 2 (pads 2): 4x4 stays 4x4
    r = rows["conv_g2_dil"]
    assert r["kind"] == "conv"
    assert r["flop"] == 2 * (N * 4 * 4) * 64 * (16 * 9)
    assert r["weight_read_B"] == 64 * 16 * 9 * F32
    assert r["act_read_B"] == N * 32 * 4 * 4 * F32 and r["act_write_B"] == N * 64 * 4 * 4 * F32

    # Q, K, V and the output projection: identical [N*16, 64] x [64, 64] + bias: one row, count 4
    r = rows["q_proj"]
    assert r["kind"] == "gemm" and r["count"] == 4
    assert r["flop"] == 2 * (N * 16) * 64 * 64
    assert r["n_params"] == 64 * 64 + 64
    assert r["weight_read_B"] == (64 * 64 + 64) * F32
    assert r["act_read_B"] == N * 16 * 64 * F32 and r["act_write_B"] == N * 16 * 64 * F32

    # Q K^T: per (sample, head) a [16, 32] x [32, 16] product; 2 x 2 of them, both operands activations
    r = rows["qk"]
    assert r["kind"] == "gemm" and r["count"] == N * 2
    assert r["flop"] == 2 * 16 * 16 * 32
    assert r["n_params"] == 0 and r["weight_read_B"] == 0
    assert r["act_read_B"] == (16 * 32 + 32 * 16) * F32 and r["act_write_B"] == 16 * 16 * F32

    # P V: [16, 16] x [16, 32] per (sample, head)
    r = rows["pv"]
    assert r["count"] == N * 2 and r["flop"] == 2 * 16 * 32 * 16
    assert r["act_read_B"] == (16 * 16 + 16 * 32) * F32 and r["act_write_B"] == 16 * 32 * F32

    scores = N * 2 * 16 * 16  # elements of the attention scores
    # scale: a scalar constant is not a parameter; one read, one write, one multiply per element
    r = rows["scale"]
    assert r["kind"] == "elementwise" and r["flop"] == scores and r["n_params"] == 0
    assert r["act_read_B"] == scores * F32 and r["act_write_B"] == scores * F32
    # softmax over the last axis: N*2*16 rows of 16
    r = rows["softmax"]
    assert r["kind"] == "softmax" and r["m"] == N * 2 * 16 and r["n"] == 16 and r["flop"] == 5 * scores
    assert r["act_read_B"] == scores * F32 and r["act_write_B"] == scores * F32
    # residual: two activations in, one out
    r = rows["residual"]
    assert r["flop"] == N * 16 * 64
    assert r["act_read_B"] == 2 * N * 16 * 64 * F32 and r["act_write_B"] == N * 16 * 64 * F32
    # LayerNorm over 64 with gain and bias
    r = rows["ln"]
    assert r["kind"] == "norm" and r["m"] == N * 16 and r["n"] == 64 and r["flop"] == 5 * N * 16 * 64
    assert r["n_params"] == 2 * 64 and r["weight_read_B"] == 2 * 64 * F32

    macs = (N * 64 * 32 * 36 + N * 16 * 32 * 9 + N * 16 * 64 * 144 + 4 * N * 16 * 64 * 64
            + 2 * N * 2 * 16 * 16 * 32)
    assert imp.table.total("mac")[0] == macs
    assert imp.table.total_params()[0] == (32 * 36 + 32) + 32 * 9 + 64 * 144 + 4 * (64 * 64 + 64) + 2 * 64
    assert imp.table.n_items[0] == N and imp.table.item_name == "sample"


def test_unfolded_graph_keeps_the_relu_and_dtype_override_scales_bytes(attn_path: str) -> None:
    eager = _rows(onnx_workload(attn_path, batch=2, fold_bn=False).table)
    assert eager["relu1"]["kind"] == "elementwise" and eager["relu1"]["flop"] == 2 * 32 * 8 * 8
    half = _rows(onnx_workload(attn_path, batch=2, dtype="fp16").table)
    full = _rows(onnx_workload(attn_path, batch=2).table)
    assert half["conv_g4"]["compute_dtype"] == "fp16"
    assert half["conv_g4"]["weight_read_B"] == full["conv_g4"]["weight_read_B"] / 2
    assert half["qk"]["act_read_B"] == full["qk"]["act_read_B"] / 2
    assert half["qk"]["flop"] == full["qk"]["flop"]


def test_symbolic_batch_is_vectorised_over_design_points(attn_path: str) -> None:
    batches = np.array([1.0, 2.0, 8.0])
    many = onnx_workload(attn_path, batch=batches).table
    for i, b in enumerate(batches):
        one = onnx_workload(attn_path, batch=int(b)).table
        for fld in ("flop", "bytes_B", "weight_read_B", "act_read_B"):
            assert many.total(fld)[i] == pytest.approx(one.total(fld)[0])
    # weights do not grow with the batch; activations do
    w = many.total("weight_read_B")
    assert w[0] == w[2]
    a = many.total("act_read_B")
    assert a[2] == pytest.approx(8 * a[0])


def test_registry_and_knobs(attn_path: str) -> None:
    spec = workload_spec(attn_path)
    assert spec.family == "onnx" and spec.item_name == "sample"
    assert {k.name for k in spec.knobs} == {"batch", "dtype", "fold_bn"}
    assert spec.knob("dtype").default == "fp32"
    t = build_workload(attn_path, batch=3)
    assert t.n_items[0] == 3
    assert t.total("flop")[0] == pytest.approx(onnx_workload(attn_path, batch=3).table.total("flop")[0])


def test_fixed_batch_graph_takes_only_its_batch(tmp_path: Path) -> None:
    path = _save(attention_graph(batch=4), tmp_path / "fixed.onnx")
    assert read_onnx(path).fixed_batch == 4
    assert workload_spec(path).knob("batch").default == 4
    t = build_workload(path)
    assert t.n_items[0] == 4
    assert t.total("flop")[0] == pytest.approx(onnx_workload_total(tmp_path, 4))
    with pytest.raises(OnnxModelError, match=r"fixed batch of 4; allowed: 4"):
        build_workload(path, batch=8)


def onnx_workload_total(tmp_path: Path, batch: int) -> float:
    path = _save(attention_graph(), tmp_path / "sym.onnx")
    return float(onnx_workload(path, batch=batch).table.total("flop")[0])


# ---------------------------------------------------------------------------------- graph 2
def resnet18_graph(batch: str | int = "N") -> onnx.ModelProto:
    """The built-in ResNet-18 builder's layers as an ONNX graph, read from its own table.

    Every conv row gives its output channels (n), its kernel (k / c_in = kernel area) and its
    output size (m / batch = h_out^2), so the stride is h_in / h_out and "same" padding
    kernel // 2; each conv gets BatchNormalization (and ReLU where the block has one), as an
    exported torchvision model does; the pool, the residual adds and the classifier follow.
    """
    table = resnet18(batch=1, dtype="fp32", fold_bn=True).frame().to_dicts()
    nodes: list[onnx.NodeProto] = []
    inits: list[onnx.TensorProto] = []
    state = {"c": 3, "h": 224}
    uid = iter(range(10_000))

    def conv(x: str, c_in: int, h_in: int, row: dict, relu: bool) -> tuple[str, int, int]:
        c_out, kernel = int(row["n"]), math.isqrt(int(row["k"]) // c_in)
        h_out = math.isqrt(int(row["m"]))
        stride = h_in // h_out
        i = next(uid)
        inits.append(_w(f"w{i}", c_out, c_in, kernel, kernel))
        nodes.append(oh.make_node("Conv", [x, f"w{i}"], [f"c{i}"], name=row["name"], strides=[stride, stride],
                                  pads=[kernel // 2] * 4))
        inits.extend(_w(f"bn{i}_{p}", c_out) for p in ("g", "b", "m", "v"))
        nodes.append(oh.make_node("BatchNormalization", [f"c{i}"] + [f"bn{i}_{p}" for p in ("g", "b", "m", "v")],
                                  [f"n{i}"], name=row["name"] + ".bn"))
        y = f"n{i}"
        if relu:
            nodes.append(oh.make_node("Relu", [y], [f"r{i}"], name=row["name"] + ".relu"))
            y = f"r{i}"
        return y, c_out, h_out

    x = "x"
    blocks: dict[str, list[dict]] = {}
    for row in table:
        blocks.setdefault(row["name"].rsplit(".", 1)[0], []).append(row)
    for tag, rows in blocks.items():
        by = {r["name"].rsplit(".", 1)[1]: r for r in rows}
        if tag == "stem":
            x, state["c"], state["h"] = conv(x, state["c"], state["h"], by["conv7x7"], relu=True)
            pool = by["maxpool"]
            kernel = math.isqrt(int(pool["flop"] // pool["m"]))
            h_out = math.isqrt(int(pool["m"]) // state["c"])
            s = state["h"] // h_out
            nodes.append(oh.make_node("MaxPool", [x], ["pool"], name="stem.maxpool", kernel_shape=[kernel] * 2,
                                      strides=[s, s], pads=[kernel // 2] * 4))
            x, state["h"] = "pool", h_out
        elif tag == "head":
            nodes += [oh.make_node("GlobalAveragePool", [x], ["gap"], name="head.avgpool"),
                      oh.make_node("Flatten", ["gap"], ["flat"], name="flatten")]
            fc = by["fc"]
            inits += [_w("fc_w", int(fc["n"]), int(fc["k"])), _w("fc_b", int(fc["n"]))]
            nodes.append(oh.make_node("Gemm", ["flat", "fc_w", "fc_b"], ["logits"], name="head.fc", transB=1))
        else:
            for _ in range(int(rows[0]["count"])):
                c_in, h_in = state["c"], state["h"]
                a, c, h = conv(x, c_in, h_in, by["conv3x3a"], relu=True)
                b, c, h = conv(a, c, h, by["conv3x3b"], relu=False)
                sc = conv(x, c_in, h_in, by["shortcut"], relu=False)[0] if "shortcut" in by else x
                i = next(uid)
                nodes += [oh.make_node("Add", [b, sc], [f"add{i}"], name=f"{tag}.add"),
                          oh.make_node("Relu", [f"add{i}"], [f"out{i}"], name=f"{tag}.add_relu")]
                x, state["c"], state["h"] = f"out{i}", c, h
    graph = oh.make_graph(nodes, "resnet18", [oh.make_tensor_value_info("x", TensorProto.FLOAT, [batch, 3, 224, 224])],
                          [oh.make_tensor_value_info("logits", TensorProto.FLOAT, [batch, 1000])], inits)
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])


def _by_kind(table, fld: str) -> dict[str, np.ndarray]:  # type: ignore[no-untyped-def]
    kinds = table.meta["kind"].to_list()
    out: dict[str, np.ndarray] = {}
    for k in set(kinds):
        out[k] = table.select(np.array(kinds) == k).total(fld)
    return out


@pytest.fixture(scope="module")
def resnet18_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    return _save(resnet18_graph(), tmp_path_factory.mktemp("onnx") / "resnet18.onnx")


@pytest.mark.parametrize("fold_bn", [True, False])
def test_resnet18_exported_from_the_builder_imports_to_the_same_costs(resnet18_path: str, fold_bn: bool) -> None:
    path = resnet18_path
    batch = np.array([1.0, 3.0])
    imp = onnx_workload(path, batch=batch, fold_bn=fold_bn)
    ref = resnet18(batch=batch, dtype="fp32", fold_bn=fold_bn)
    assert not imp.unknown_ops
    got, want = imp.table, ref
    for fld in ("flop", "mac", "weight_read_B", "n_params", "bytes_B", "act_read_B", "act_write_B"):
        np.testing.assert_allclose(got.total(fld), want.total(fld), rtol=1e-12, err_msg=fld)
    assert set(got.meta["kind"].to_list()) == set(want.meta["kind"].to_list())
    for fld in ("flop", "bytes_B", "weight_read_B"):
        g, w = _by_kind(got, fld), _by_kind(want, fld)
        assert g.keys() == w.keys()
        for k in w:
            np.testing.assert_allclose(g[k], w[k], rtol=1e-12, err_msg=f"{k} {fld}")
    # identical blocks (stage 1's two blocks) are one row with count 2
    rows = _rows(imp.table)
    assert rows["s1.b1.conv3x3a"]["count"] == 4  # conv3x3a and conv3x3b of both stage-1 blocks are alike
    assert imp.table.n_ops < ref.n_ops


# ---------------------------------------------------------------------------------- CLI
def test_cli_evaluate_onnx_prints_the_unknown_op_note(attn_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["evaluate", "--workload", attn_path, "--target", "h100-sxm", "--set", "batch=4"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "batch=4" in out and "dtype=fp32" in out
    assert "note" in out and "NonMaxSuppression x1" in out and "com.acme.Fancy x1" in out
    assert "qk" in out  # the per-operator breakdown lists the graph's rows
    code = main(["evaluate", "--workload", attn_path, "--target", "h100-sxm", "--json"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert json.loads(out)["unknown_onnx_ops"] == {"NonMaxSuppression": 1, "com.acme.Fancy": 1}


# ---------------------------------------------------------------------------------- bad input
def test_not_an_onnx_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.onnx"
    bad.write_text("this is a text file, not a protobuf\n")
    with pytest.raises(OnnxModelError, match=r"notes\.onnx: not an ONNX model"):
        workload_spec(str(bad))
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(OnnxModelError, match=r"empty\.onnx: not an ONNX model"):
        onnx_workload(empty)
    code = main(["evaluate", "--workload", str(bad), "--target", "h100-sxm"])
    _, err = capsys.readouterr()
    assert code == 2 and "notes.onnx: not an ONNX model" in err


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(OnnxModelError, match=r"nowhere\.onnx: no such file"):
        workload_spec(str(tmp_path / "nowhere.onnx"))
    (tmp_path / "dir.onnx").mkdir()
    with pytest.raises(OnnxModelError, match=r"dir\.onnx: is a folder"):
        read_onnx(tmp_path / "dir.onnx")


def _reshape_by_input_graph() -> onnx.ModelProto:
    """A Reshape whose target shape is a graph input: no static shape for what follows."""
    nodes = [oh.make_node("Reshape", ["x", "shape"], ["r"], name="reshape"),
             oh.make_node("Relu", ["r"], ["y"], name="relu")]
    graph = oh.make_graph(nodes, "g", [oh.make_tensor_value_info("x", TensorProto.FLOAT, [2, 12]),
                                       oh.make_tensor_value_info("shape", TensorProto.INT64, [2])],
                          [oh.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    graph.output[0].type.tensor_type.elem_type = TensorProto.FLOAT
    graph.output[0].type.tensor_type.shape.SetInParent()
    graph.output[0].type.tensor_type.shape.dim.add().dim_param = "a"
    graph.output[0].type.tensor_type.shape.dim.add().dim_param = "b"
    return oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)])


def test_unresolved_shapes_name_the_node(tmp_path: Path) -> None:
    path = _save(_reshape_by_input_graph(), tmp_path / "dyn.onnx")
    with pytest.raises(OnnxModelError, match=r"dyn\.onnx: unresolved shapes: tensor '[ry]' of node 'relu' \(Relu\)"):
        onnx_workload(path)


def test_shape_inference_failure_and_other_symbolic_dims(tmp_path: Path) -> None:
    mm = oh.make_graph([oh.make_node("MatMul", ["x", "w"], ["y"], name="mm")], "g",
                       [oh.make_tensor_value_info("x", TensorProto.FLOAT, [2, 3])],
                       [oh.make_tensor_value_info("y", TensorProto.FLOAT, [2, 5])], [_w("w", 4, 5)])
    path = _save(oh.make_model(mm, opset_imports=[oh.make_opsetid("", 17)]), tmp_path / "mismatch.onnx")
    with pytest.raises(OnnxModelError, match=r"mismatch\.onnx: shape inference failed"):
        onnx_workload(path)
    seq = oh.make_graph([oh.make_node("Relu", ["x"], ["y"], name="relu")], "g",
                        [oh.make_tensor_value_info("x", TensorProto.FLOAT, ["N", "seq", 8])],
                        [oh.make_tensor_value_info("y", TensorProto.FLOAT, ["N", "seq", 8])])
    path = _save(oh.make_model(seq, opset_imports=[oh.make_opsetid("", 17)]), tmp_path / "seq.onnx")
    with pytest.raises(OnnxModelError, match=r"input 'x' axis 1 is symbolic \('seq'\); only axis 0"):
        workload_spec(path)


def test_a_graph_of_only_unknown_ops_is_refused_with_their_names(tmp_path: Path) -> None:
    g = oh.make_graph([oh.make_node("Fancy", ["x"], ["y"], name="f", domain="com.acme")], "g",
                      [oh.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [oh.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])])
    path = _save(oh.make_model(g, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("com.acme", 1)]),
                 tmp_path / "custom.onnx")
    with pytest.raises(OnnxModelError, match=r"no node the model can price \(not priced: com\.acme\.Fancy x1\)"):
        onnx_workload(path)


def test_valid_padding_conv_and_pool_read_their_real_inputs(tmp_path: Path) -> None:
    """A 3x3 conv without padding (8x8 -> 6x6) and a 2x2/2 max pool on 7x7 (floor: 3x3): the
    input read is the tensor fed in, not output x stride."""
    nodes = [oh.make_node("Conv", ["x", "w"], ["c"], name="valid_conv"),
             oh.make_node("Relu", ["c"], ["r"], name="relu"),
             oh.make_node("MaxPool", ["x7"], ["p"], name="pool2", kernel_shape=[2, 2], strides=[2, 2])]
    graph = oh.make_graph(nodes, "g", [oh.make_tensor_value_info("x", TensorProto.FLOAT, [1, 8, 8, 8]),
                                       oh.make_tensor_value_info("x7", TensorProto.FLOAT, [1, 4, 7, 7])],
                          [oh.make_tensor_value_info("r", TensorProto.FLOAT, [1, 16, 6, 6]),
                           oh.make_tensor_value_info("p", TensorProto.FLOAT, [1, 4, 3, 3])], [_w("w", 16, 8, 3, 3)])
    path = _save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 17)]), tmp_path / "valid.onnx")
    rows = _rows(onnx_workload(path).table)
    r = rows["valid_conv"]
    assert r["flop"] == 2 * (6 * 6) * 16 * (8 * 9)
    assert r["act_read_B"] == 8 * 8 * 8 * F32 and r["act_write_B"] == 16 * 6 * 6 * F32
    assert r["footprint_B"] == (8 * 8 * 8 + 16 * 6 * 6 + 16 * 8 * 9) * F32
    r = rows["pool2"]
    assert r["flop"] == 4 * (4 * 3 * 3)  # a 2x2 window per output element
    assert r["act_read_B"] == 4 * 7 * 7 * F32 and r["act_write_B"] == 4 * 3 * 3 * F32


def test_a_priced_node_fed_by_an_unknown_op_names_that_op(tmp_path: Path) -> None:
    g = oh.make_graph([oh.make_node("Fancy", ["x"], ["f"], name="fancy", domain="com.acme"),
                       oh.make_node("MatMul", ["f", "w"], ["y"], name="fc")], "g",
                      [oh.make_tensor_value_info("x", TensorProto.FLOAT, [1, 4])],
                      [oh.make_tensor_value_info("y", TensorProto.FLOAT, [1, 4])], [_w("w", 4, 4)])
    path = _save(oh.make_model(g, opset_imports=[oh.make_opsetid("", 17), oh.make_opsetid("com.acme", 1)]),
                 tmp_path / "mid.onnx")
    with pytest.raises(OnnxModelError, match=r"tensor 'f' of node 'fc' \(MatMul\) .* comes from node 'fancy' "
                                             r"of op type com\.acme\.Fancy"):
        onnx_workload(path)


def test_norms_reductions_and_old_opset_softmax_hand_counts(tmp_path: Path) -> None:
    """x[2,8,4,4]: BN (on a graph input: nothing to fold it into) + ReLU as one row, InstanceNorm,
    Sigmoid, ReduceMean over H, W, and an opset-11 Softmax (axis 1 flattens the tail: 2 rows
    of 8*4*4)."""
    nodes = [oh.make_node("BatchNormalization", ["x", "g", "b", "m", "v"], ["bn"], name="bn"),
             oh.make_node("Relu", ["bn"], ["r"], name="relu"),
             oh.make_node("InstanceNormalization", ["r", "g", "b"], ["inorm"], name="inorm"),
             oh.make_node("Sigmoid", ["inorm"], ["sg"], name="sigmoid"),
             oh.make_node("ReduceMean", ["sg"], ["red"], name="mean", axes=[2, 3], keepdims=1),
             oh.make_node("Softmax", ["sg"], ["sm"], name="softmax", axis=1)]
    graph = oh.make_graph(nodes, "g", [oh.make_tensor_value_info("x", TensorProto.FLOAT, [2, 8, 4, 4])],
                          [oh.make_tensor_value_info("red", TensorProto.FLOAT, [2, 8, 1, 1]),
                           oh.make_tensor_value_info("sm", TensorProto.FLOAT, [2, 8, 4, 4])],
                          [_w(n, 8) for n in "gbmv"])
    path = _save(oh.make_model(graph, opset_imports=[oh.make_opsetid("", 11)]), tmp_path / "misc.onnx")
    rows = _rows(onnx_workload(path).table)
    e = 2 * 8 * 4 * 4  # elements of every full tensor
    assert set(rows) == {"bn", "inorm", "sigmoid", "mean", "softmax"}  # the ReLU is in the BN row
    r = rows["bn"]
    assert r["kind"] == "norm" and r["flop"] == 3 * e  # scale, shift, ReLU
    assert r["n_params"] == 2 * 8 and r["act_read_B"] == e * F32 and r["act_write_B"] == e * F32
    r = rows["inorm"]  # 2*8 instances of 16 elements, 2 parameters per channel
    assert r["m"] == 2 * 8 and r["n"] == 16 and r["n_params"] == 2 * 8
    assert rows["sigmoid"]["flop"] == 3 * e  # exp, add, divide
    r = rows["mean"]  # one add per input element, 16 inputs per output
    assert r["flop"] == e and r["act_read_B"] == e * F32 and r["act_write_B"] == 2 * 8 * F32
    r = rows["softmax"]
    assert r["m"] == 2 and r["n"] == 8 * 4 * 4


def test_a_design_space_names_an_onnx_graph_and_sweeps_it(attn_path: str) -> None:
    """A space file's workload may be an ONNX path: the sweep prices the imported table, so each
    batch's latency equals `evaluate_point` on the same graph (one path)."""
    from models.dse import parse_space, sweep
    from models.perf import evaluate_point

    space = parse_space({"name": "onnx-space", "target": "h100-sxm", "workload": attn_path,
                         "parameters": [{"name": "batch", "sets": "workload.batch", "kind": "int",
                                         "values": [1, 4]}],
                         "objectives": [{"metric": "latency_s"}]})
    res = sweep(space)
    for b in (1, 4):
        want = float(evaluate_point("h100-sxm", attn_path, {"batch": b}).perf.latency_s[0])
        got = float(res.filter(res["batch"] == b)["latency_s"][0])
        assert got == pytest.approx(want, rel=1e-12)
    bad = Path(attn_path).with_name("missing.onnx")
    with pytest.raises(ValueError, match="missing.onnx"):
        parse_space({"name": "onnx-space", "target": "h100-sxm", "workload": str(bad),
                     "parameters": [{"name": "batch", "sets": "workload.batch", "kind": "int", "values": [1]}],
                     "objectives": [{"metric": "latency_s"}]})
