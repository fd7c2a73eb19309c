"""EfficientTDNN supernet: the published operating points' MAC counts from their configurations,
the table against the closed form, the workload knobs, and a search under a MAC budget."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest

from models.dse import evaluate_points, load_space, parse_space, search
from models.dse.space import SpaceError
from models.params import ParamError
from models.workloads import build_workload, workload_spec
from models.workloads.tdnn import EFFICIENT_TDNN_SUBNETS, efficient_tdnn, efficient_tdnn_mac_count

ROOT = Path(__file__).resolve().parents[3]
SPACE = ROOT / "data" / "spaces" / "efficienttdnn-supernet.toml"


def _bn_terms(depth: int, widths: tuple[int, ...], cat: int, t: int = 301) -> int:
    """The paper's 2-per-element BatchNorm terms (not MAC rows of a table)."""
    c0 = widths[0]
    n = 2 * c0 * t
    for ci in widths[1 : depth + 1]:
        n += 2 * ci * t + 7 * 2 * (ci // 8) * t + 2 * c0 * t
    return n + 2 * 2 * cat + 2 * 192


# --------------------------------------------------------------------- published MAC counts
@pytest.mark.parametrize(
    ("name", "published", "half_digit"),
    [
        # huggingface.co/mechanicalsea/efficient-tdnn README, "MACs (3s)" column (and the abstract);
        # within half a unit of the last printed digit
        ("base", 1.45e9, 0.005e9),  # "1.45G"
        ("mobile", 570.98e6, 0.005e6),  # "570.98M"
        ("small", 204.07e6, 0.005e6),  # "204.07M"
    ],
)
def test_published_operating_points(name: str, published: float, half_digit: float) -> None:
    depth, widths, kernels, cat = EFFICIENT_TDNN_SUBNETS[name]
    assert efficient_tdnn_mac_count(depth, widths, kernels, cat) == pytest.approx(published, abs=half_digit)


def test_small_by_hand() -> None:
    # Small = (2, [256, 256, 256], [3, 3, 3], 400), T = 301 frames, 80 features:
    # layer1 301*256*80*3 + BN 2*256*301; per block: 1x1 301*256*256 + BN 2*256*301, Res2Net
    # 7*(301*32*32*3 + BN 2*32*301), 1x1 301*256*256 + BN 2*256*301, SE 2*256*64;
    # catconv 301*400*512; pooling 2*301*128*400; BN 2*800; linear 800*192; BN 2*192.
    t = 301
    block = (t * 256 * 256 + 2 * 256 * t + 7 * (t * 32 * 32 * 3 + 2 * 32 * t) + t * 256 * 256 + 2 * 256 * t
             + 2 * 256 * 64)
    n = t * 256 * 80 * 3 + 2 * 256 * t + 2 * block + t * 400 * 512 + 2 * t * 128 * 400 + 4 * 400 + 800 * 192 + 2 * 192
    assert n == 204_072_768
    assert efficient_tdnn_mac_count(2, (256, 256, 256), (3, 3, 3), 400) == n


@pytest.mark.parametrize("name", list(EFFICIENT_TDNN_SUBNETS))
def test_table_macs_are_the_count_less_batchnorm(name: str) -> None:
    depth, widths, kernels, cat = EFFICIENT_TDNN_SUBNETS[name]
    t = efficient_tdnn(depth=depth, widths=widths, kernels=kernels, cat_channels=cat)
    assert t.total("mac")[0] == efficient_tdnn_mac_count(depth, widths, kernels, cat) - _bn_terms(depth, widths, cat)


def test_three_seconds_is_301_frames() -> None:
    # 48,000 samples / hop 160 + 1 centred frame: 300 frames would give 569.09 M, not the published 570.98 M
    d, w, k, c = EFFICIENT_TDNN_SUBNETS["mobile"]
    assert efficient_tdnn_mac_count(d, w, k, c, frames=300) == pytest.approx(569.09e6, rel=1e-5)


def test_kernel_adds_res2net_taps_only() -> None:
    # kernel1 3 -> 5 adds 2 taps to block 1's 7 Res2Net convs: 7 * 2 * T * (w1/8)^2 MACs per utterance
    d, w, k, c = EFFICIENT_TDNN_SUBNETS["base"]
    a = efficient_tdnn(depth=d, widths=w, kernels=k, cat_channels=c).total("mac")[0]
    b = efficient_tdnn(depth=d, widths=w, kernels=(5, 5, 3, 3), cat_channels=c).total("mac")[0]
    assert b - a == 7 * 2 * 301 * 64 * 64


def test_batch_and_frames_scale() -> None:
    d, w, k, c = EFFICIENT_TDNN_SUBNETS["small"]
    one = efficient_tdnn(1, 301, depth=d, widths=w, kernels=k, cat_channels=c)
    four = efficient_tdnn(4, 301, depth=d, widths=w, kernels=k, cat_channels=c)
    assert four.total("mac")[0] == pytest.approx(4 * one.total("mac")[0], rel=1e-12)
    assert four.n_items == pytest.approx(4)


# --------------------------------------------------------------------- the workload and its knobs
def test_registered_workload_matches_the_builder() -> None:
    d, w, k, c = EFFICIENT_TDNN_SUBNETS["mobile"]
    knobs = {"depth": d, "cat_channels": c, **{f"width{i}": v for i, v in enumerate(w)},
             **{f"kernel{i}": v for i, v in enumerate(k)}}
    t = build_workload("efficienttdnn", **knobs)
    assert t.total("mac")[0] == efficient_tdnn(depth=d, widths=w, kernels=k, cat_channels=c).total("mac")[0]
    assert t.item_name == "utterance"


def test_defaults_are_the_largest_subnet() -> None:
    # tdnn8m2g: 4 blocks of 512, kernels 5, catconv 1536
    t = build_workload("efficienttdnn")
    full = efficient_tdnn_mac_count(4, (512,) * 5, (5,) * 5, 1536)
    assert t.total("mac")[0] == full - _bn_terms(4, (512,) * 5, 1536)


def test_widths_vectorize() -> None:
    t = build_workload("efficienttdnn", depth=2, width1=np.array([128.0, 256.0, 512.0]))
    one = [build_workload("efficienttdnn", depth=2, width1=v).total("mac")[0] for v in (128, 256, 512)]
    assert t.total("mac") == pytest.approx(one, rel=1e-12)
    assert np.all(np.diff(t.total("mac")) > 0)  # wider blocks, more MACs


def test_knobs_declared_with_units_and_ranges() -> None:
    spec = workload_spec("efficienttdnn")
    assert spec.knob("depth").structural  # depth changes the rows
    for name, lo, hi in (("depth", 2, 4), ("width3", 128, 512), ("kernel2", 1, 5), ("cat_channels", 384, 1536)):
        k = spec.knob(name)
        assert (k.low, k.high) == (lo, hi)
        assert k.unit not in ("", "1")
        assert k.help


def test_dashboard_lists_the_knobs() -> None:
    from app.dashboard.state import RooflineState

    names = [k.name for k in RooflineState(workload="efficienttdnn", targets=["v100-sxm2"]).knob_specs()]
    assert {"depth", "width0", "width4", "kernel0", "kernel4", "cat_channels", "frames"} <= set(names)
    assert "kv_format" not in names and "scaling_factor" not in names


@pytest.mark.parametrize(
    ("knobs", "match"),
    [
        ({"width2": 100}, "width2.*allowed: \\[128, 512\\]"),
        ({"width2": 130}, "width2 must be a multiple of the Res2Net scale 8"),
        ({"width0": 130}, "width0 must be a multiple of the SE reduction 4"),
        ({"kernel1": 2}, "kernel1 must be odd"),
        ({"kernel1": 7}, "kernel1.*allowed: \\[1, 5\\]"),
        ({"depth": 5}, "depth.*allowed: \\[2, 4\\]"),
        ({"cat_channels": 2048}, "cat_channels.*allowed"),
    ],
)
def test_bad_knobs_named(knobs: dict[str, int], match: str) -> None:
    with pytest.raises((ParamError, ValueError), match=match):
        build_workload("efficienttdnn", **knobs)


def test_builder_errors() -> None:
    with pytest.raises(ValueError, match="depth 3 needs 4 widths"):
        efficient_tdnn(depth=3, widths=(512, 512), kernels=(5, 5, 5, 5))
    with pytest.raises(ValueError, match="depth must be"):
        efficient_tdnn(depth=0)


# --------------------------------------------------------------------- search under a MAC budget
def _mobile_and_base_points() -> pl.DataFrame:
    rows = []
    for name in ("mobile", "base"):
        d, w, k, c = EFFICIENT_TDNN_SUBNETS[name]
        rows.append({"depth": d, **{f"width{i}": (w + (128,) * 5)[i] for i in range(5)},
                     **{f"kernel{i}": (k + (1,) * 5)[i] for i in range(5)}, "cat_channels": c})
    return pl.DataFrame(rows)


def test_space_budget_separates_published_subnets() -> None:
    space = load_space(SPACE)
    df = evaluate_points(space, _mobile_and_base_points())
    limit = 600e6
    # mac_per_item = the paper's count less its BatchNorm terms
    mobile, base = df.row(0, named=True), df.row(1, named=True)
    d, w, k, c = EFFICIENT_TDNN_SUBNETS["mobile"]
    assert mobile["mac_per_item"] == efficient_tdnn_mac_count(d, w, k, c) - _bn_terms(d, w, c)
    assert mobile["constraint_macs"] == pytest.approx(mobile["mac_per_item"] / limit - 1.0)
    assert mobile["feasible"] and not base["feasible"]  # 569 M fits 600 M, 1.44 G does not


def test_search_under_mac_budget_end_to_end(tmp_path: Path) -> None:
    space = load_space(SPACE)
    df = search(space, 8, storage=f"journal:{tmp_path / 's.log'}", seed=3, batch_size=4, progress=False)
    assert df.height == 8
    feas = df.filter(pl.col("feasible"))
    assert feas.height >= 1
    assert (feas["mac_per_item"] <= 600e6).all()
    assert (df.filter(~pl.col("feasible"))["mac_per_item"] > 600e6).all()
    # the MAC column is the table's: rebuild one trial's subnet
    r = df.row(0, named=True)
    t = build_workload("efficienttdnn", batch=64, **{k: r[k] for k in ("depth", "cat_channels",
                                                                       *(f"width{i}" for i in range(5)),
                                                                       *(f"kernel{i}" for i in range(5)))})
    assert r["mac_per_item"] == pytest.approx(t.total("mac")[0] / 64, rel=1e-12)


def test_cli_search(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from app.cli import main

    out = tmp_path / "trials.csv"
    code = main(["search", str(SPACE), "--trials", "4", "--batch-size", "4", "--storage",
                 f"journal:{tmp_path / 'cli.log'}", "--out", str(out)])
    assert code == 0
    df = pl.read_csv(out)
    assert df.height == 4 and "constraint_macs" in df.columns


def test_small_sweep_with_budget() -> None:
    from models.dse import sweep

    space = parse_space({
        "name": "etdnn-sweep", "target": "v100-sxm2", "workload": "efficienttdnn",
        "workload_knobs": {"depth": 2},
        "parameters": [
            {"name": "w1", "sets": "workload.width1", "kind": "int", "values": [128, 256, 512]},
            {"name": "k1", "sets": "workload.kernel1", "kind": "int", "values": [1, 3, 5]},
        ],
        "constraints": [{"kind": "macs", "limit": 1.2e9}],
        "objectives": [{"metric": "latency_s"}],
    })
    df = sweep(space)
    assert df.height == 9
    assert (df["feasible"] == (df["mac_per_item"] <= 1.2e9)).all()
    # at fixed kernel, more width means more MACs
    for k in (1, 3, 5):
        macs = df.filter(pl.col("k1") == k).sort("w1")["mac_per_item"].to_numpy()
        assert np.all(np.diff(macs) > 0)


def test_macs_constraint_needs_a_limit() -> None:
    with pytest.raises(SpaceError, match="macs.*positive"):
        parse_space({"name": "x", "workload": "efficienttdnn",
                     "parameters": [{"name": "d", "sets": "workload.depth", "kind": "int", "values": [2, 3]}],
                     "constraints": [{"kind": "macs"}], "objectives": [{"metric": "latency_s"}]})


def test_mac_per_item_is_an_objective_without_a_budget() -> None:
    """The Explore page plots ``mac_per_item`` (the supernet search maximises it): a space that
    names it as an objective gets the column, equal to the built table's MACs per utterance."""
    from models.dse import sweep
    from models.hardware import get_target
    from models.point import build_point

    space = parse_space({"name": "etdnn-obj", "target": "v100-sxm2", "workload": "efficienttdnn",
                         "parameters": [{"name": "depth", "sets": "workload.depth", "kind": "int", "values": [2, 3]}],
                         "objectives": [{"metric": "latency_s"}, {"metric": "mac_per_item", "direction": "max"}]})
    df = sweep(space).sort("depth")
    for d, got in zip(df["depth"].to_list(), df["mac_per_item"].to_list(), strict=True):
        t = build_point("efficienttdnn", {"depth": d}, target=get_target("v100-sxm2")).table
        assert got == pytest.approx(float(t.total("mac").reshape(-1)[0]) / float(np.asarray(t.n_items).reshape(-1)[0]))
    assert df["mac_per_item"][1] > df["mac_per_item"][0]
    plain = parse_space({"name": "etdnn-plain", "target": "v100-sxm2", "workload": "efficienttdnn",
                         "parameters": [{"name": "depth", "sets": "workload.depth", "kind": "int", "values": [2]}],
                         "objectives": [{"metric": "latency_s"}]})
    assert "mac_per_item" not in sweep(plain).columns  # other spaces' outputs are unchanged
