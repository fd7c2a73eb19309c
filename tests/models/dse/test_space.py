"""Design spaces: TOML parsing, grids, and errors that name file, field, value and what is allowed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from models.dse import SpaceError, load_space, parse_space

ROOT = Path(__file__).resolve().parents[3]


def _space(**over):
    d = {
        "name": "t",
        "workload": "llama-2-7b",
        "parameters": [
            {
                "name": "batch",
                "sets": "workload.batch",
                "kind": "int",
                "bounds": [1, 8],
                "log": True,
                "n_grid": 4,
            },
            {
                "name": "bw",
                "sets": "target.memories.hbm.bandwidth",
                "kind": "float",
                "bounds": [1, 4],
                "unit": "TB/s",
                "n_grid": 3,
            },
        ],
        "objectives": [{"metric": "latency_s"}, {"metric": "energy_J", "direction": "min"}],
    }
    d.update(over)
    return d


def test_units_are_converted_to_si_and_grid_is_the_product():
    s = parse_space(_space())
    bw = s.parameter("bw")
    assert bw.low == 1e12 and bw.high == 4e12  # 1 TB/s = 1e12 B/s (decimal)
    assert bw.log is True  # default from FIELD_SPECS["bandwidth"]
    np.testing.assert_allclose(bw.grid(), [1e12, 2e12, 4e12])  # geometric
    assert list(s.parameter("batch").grid()) == [1.0, 2.0, 4.0, 8.0]
    assert s.n_grid_points == 12 and s.grid_frame().height == 12


def test_example_space_files_load():
    for f in sorted((ROOT / "data" / "spaces").glob("*.toml")):
        s = load_space(f)
        assert s.objectives and s.parameters


@pytest.mark.parametrize("path", sorted((ROOT / "data" / "spaces").glob("*.toml")), ids=lambda p: p.stem)
def test_example_spaces_evaluate(path):
    """Every shipped space evaluates on a random sample: finite objectives, some feasible."""
    from models.dse import sample

    s = load_space(path)
    df = sample(s, 24, seed=0, progress=False)
    assert df.height == 24 and df["feasible"].sum() > 0
    for o in s.objectives:
        vals = df.filter(df["feasible"])[o.metric].to_numpy()
        assert (vals == vals).all() and (vals > -float("inf")).all(), o.metric


@pytest.mark.parametrize(
    "change, words",
    [
        (
            {
                "parameters": [
                    {
                        "name": "x",
                        "sets": "workload.batch",
                        "kind": "int",
                        "bounds": [1, 4],
                        "colour": 1,
                    }
                ]
            },
            ["parameters[0]", "'colour'", "allowed"],
        ),
        (
            {
                "parameters": [
                    {"name": "x", "sets": "workload.nonsense", "kind": "int", "bounds": [1, 4]}
                ]
            },
            ["'x'", "nonsense", "allowed", "batch"],
        ),
        (
            {
                "parameters": [
                    {
                        "name": "x",
                        "sets": "target.memories.dram.bandwidth",
                        "kind": "float",
                        "bounds": [1, 2],
                    }
                ]
            },
            ["target.memories.dram.bandwidth", "has no field", "memories.hbm.bandwidth"],
        ),
        (
            {
                "parameters": [
                    {"name": "x", "sets": "workload.batch", "kind": "int", "bounds": [8, 1]}
                ]
            },
            ["'x'", "empty range", "[8, 1]"],
        ),
        (
            {
                "parameters": [
                    {
                        "name": "x",
                        "sets": "workload.weight_dtype",
                        "kind": "categorical",
                        "choices": [],
                    }
                ]
            },
            ["'x'", "empty range"],
        ),
        (
            {
                "parameters": [
                    {
                        "name": "x",
                        "sets": "workload.weight_dtype",
                        "kind": "categorical",
                        "choices": ["fp9"],
                    }
                ]
            },
            ["'fp9'", "allowed", "int4"],
        ),
        (
            {
                "parameters": [
                    {"name": "x", "sets": "target", "kind": "categorical", "choices": ["tpu-v9"]}
                ]
            },
            ["unknown target", "'tpu-v9'", "h100-sxm"],
        ),
        (
            {"objectives": [{"metric": "latency_s", "direction": "smallest"}]},
            ["'smallest'", "allowed", "minimize"],
        ),
        ({"objectives": [{"metric": "speed"}]}, ["'speed'", "unknown metric", "latency_s"]),
        ({"constraints": [{"kind": "power"}]}, ["power", "limit"]),
        ({"colour": 1}, ["'colour'", "allowed"]),
    ],
)
def test_invalid_space_names_field_value_and_allowed(tmp_path, change, words):
    path = _write(tmp_path, _space(**change))
    with pytest.raises(SpaceError) as ei:
        load_space(path)
    msg = str(ei.value)
    assert str(path) in msg  # the file is named
    for w in words:
        assert w in msg, (w, msg)


def _write(tmp_path: Path, d: dict) -> Path:
    """Minimal TOML writer for the dicts above (strings, numbers, lists, arrays of tables)."""

    def val(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v + '"'
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        return repr(v)

    lines = [
        f"{k} = {val(v)}"
        for k, v in d.items()
        if not (isinstance(v, list) and v and isinstance(v[0], dict))
    ]
    for k, v in d.items():
        if isinstance(v, list) and v and isinstance(v[0], dict):
            for t in v:
                lines.append(f"[[{k}]]")
                lines += [f"{kk} = {val(vv)}" for kk, vv in t.items()]
    p = tmp_path / "space.toml"
    p.write_text("\n".join(lines) + "\n")
    return p


@pytest.mark.parametrize(("spec", "typed", "meant"), [
    ({"target": "h100"}, "'h100'", "'h100-sxm'"),
    ({"target": "h100-sxm", "parameters": [{"name": "t", "sets": "target", "kind": "categorical",
                                            "choices": ["a100-80gbb"]}]}, "'a100-80gbb'", "'a100-80gb'"),
])
def test_a_misspelt_target_in_a_space_gets_a_suggestion(spec, typed, meant):
    raw = {"name": "x", "workload": "gemm", "objectives": [{"metric": "latency_s"}],
           "parameters": [{"name": "m", "sets": "workload.m", "kind": "int", "bounds": [1, 10]}]} | spec
    with pytest.raises(SpaceError) as e:
        parse_space(raw)
    assert f"{typed}" in str(e.value) and f"did you mean {meant}?" in str(e.value)
