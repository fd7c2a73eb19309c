"""The `tradespace` CLI: targets, roofline, workloads, evaluate. Run in-process through
app.cli.main (fast) and once as a real console script (the installed entry point)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from app.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_targets_json_lists_every_number_with_source(capsys):
    code, out, _ = run(capsys, "targets", "--json")
    assert code == 0
    data = json.loads(out)["targets"]
    assert len(data) >= 18
    assert {t["class"] for t in data} == {"gpu", "cpu", "mcu", "npu", "pim"}
    for t in data:
        assert t["ridge_points_FLOP_per_B"]
        for path, f in t["fields"].items():
            assert f["source"], f"{t['name']}: {path} has no source"
            assert f["unit"]


def test_targets_text_and_class_filter(capsys):
    code, out, _ = run(capsys, "targets", "--class", "pim")
    assert code == 0
    assert "hbm-pim" in out and "h100-sxm" not in out


def test_roofline_json(capsys):
    code, out, _ = run(capsys, "roofline", "h100-sxm", "--json")
    assert code == 0
    ceilings = json.loads(out)["ceilings"]
    hbm_bf16 = [c for c in ceilings if c["dtype"] == "bf16" and c["level"] == "hbm"][0]
    assert hbm_bf16["ridge_FLOP_per_B"] == pytest.approx(295, rel=0.02)
    assert hbm_bf16["peak_source"] and hbm_bf16["bandwidth_source"]


def test_unknown_target_is_bad_input(capsys):
    code, _, err = run(capsys, "roofline", "no-such-device")
    assert code == 2
    assert "unknown target 'no-such-device'" in err and "available:" in err


def test_workloads_json(capsys):
    code, out, _ = run(capsys, "workloads", "--json")
    assert code == 0
    names = {w["name"] for w in json.loads(out)["workloads"]}
    assert {"llama-2-7b", "mixtral-8x7b", "resnet-50", "mobilenet-v1", "sesr-m5-x2", "ds-cnn",
            "tdnn-xvector", "vit-b16"} <= names


def test_evaluate_llm_decode_json(capsys):
    code, out, _ = run(capsys, "evaluate", "--target", "a100-80gb", "--workload", "llama-2-7b",
                       "--set", "phase=decode", "--set", "batch=1", "--json")
    assert code == 0
    d = json.loads(out)
    tt = d["totals"]
    assert d["result_kind"] == "calibrated estimate"
    for key in ("latency_s", "energy_J", "tokens_per_s", "energy_J_per_token", "peak_memory_B"):
        assert tt[key] > 0
    # decode at batch 1 streams the 13.5 GB of weights per token from HBM (2.04 TB/s):
    # more than 6.6 ms per token even at full bandwidth
    assert 1 / tt["tokens_per_s"] > 13.4e9 / 2.04e12
    bounds = {o["bound"] for o in d["operators"] if o["kind"] == "gemm"}
    assert bounds == {"hbm"}


def test_evaluate_prints_a_plans_unit_and_per_device_rates(capsys):
    args = ["evaluate", "--target", "h100-sxm", "--workload", "llama-2-13b", "--set", "tensor_parallel=2",
            "--set", "pipeline_parallel=2", "--top", "0"]
    _, out, _ = run(capsys, *args, "--json")
    tt = json.loads(out)["totals"]
    # four devices: the unit's rate is four times a device's
    assert tt["tokens_per_s"] == pytest.approx(4 * tt["tokens_per_s_per_device"], rel=1e-12)
    code, text, _ = run(capsys, *args)
    assert code == 0
    assert f"throughput   {tt['tokens_per_s']:.4g} tokens/s  ({tt['tokens_per_s_per_device']:.4g} per device)" in text
    assert "W per device)" in text
    _, text, _ = run(capsys, "evaluate", "--target", "h100-sxm", "--workload", "llama-2-13b", "--top", "0")
    assert "per device" not in text  # one device: one figure


def test_evaluate_bad_knob_and_unknown_workload(capsys):
    code, _, err = run(capsys, "evaluate", "--target", "h100-sxm", "--workload", "llama-2-7b", "--set", "batch=0")
    assert code == 2 and "knob 'batch'" in err and "allowed" in err
    code, _, err = run(capsys, "evaluate", "--target", "h100-sxm", "--workload", "gpt-5")
    assert code == 2 and "unknown workload 'gpt-5'" in err
    code, _, err = run(capsys, "evaluate", "--target", "h100-sxm", "--workload", "resnet-50", "--set", "colour=red")
    assert code == 2 and "unknown knob 'colour'" in err and "algorithm knobs" in err


def test_evaluate_ideal_is_never_slower_than_calibrated(capsys):
    args = ["evaluate", "--target", "raspberry-pi-5", "--workload", "ds-cnn", "--json"]
    _, out, _ = run(capsys, *args)
    cal = json.loads(out)["totals"]["latency_s"]
    _, out, _ = run(capsys, *args, "--mode", "ideal")
    d = json.loads(out)
    assert d["result_kind"] == "ideal roofline bound"
    assert d["totals"]["latency_s"] <= cal


def test_console_script_entry_point():
    exe = [sys.executable, "-m", "app.cli", "targets", "--class", "mcu"]
    p = subprocess.run(exe, capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    assert "gap9" in p.stdout


def test_evaluate_a_users_own_config_json(capsys, tmp_path):
    # a user's Hugging Face config.json by path: same numbers as the shipped preset
    from models.hardware import DATA_DIR

    cfg = tmp_path / "config.json"
    cfg.write_text((DATA_DIR / "workloads" / "llama-2-7b.json").read_text())
    args = ["--target", "h100-sxm", "--set", "phase=decode", "--json"]
    _, mine, _ = run(capsys, "evaluate", "--workload", str(cfg), *args)
    _, shipped, _ = run(capsys, "evaluate", "--workload", "llama-2-7b", *args)
    assert json.loads(mine)["totals"]["latency_s"] == pytest.approx(json.loads(shipped)["totals"]["latency_s"])
    bad = tmp_path / "bad.json"
    bad.write_text('{"model_type": "llama", "hidden_size": 4096}')
    code, _, err = run(capsys, "evaluate", "--workload", str(bad), *args)
    assert code == 2 and ("num_attention_heads" in err or "num_hidden_layers" in err), err


ALGORITHM_SETTINGS = [
    ("llama-2-7b", ["phase=decode", "n_generated=8", "weight_format=int4-g128"], {"weight_format": "int4-g128"}),
    ("llama-2-7b", ["phase=decode", "n_generated=8", "act_format=fp8_e4m3"], {"act_format": "fp8_e4m3"}),
    ("llama-2-7b", ["phase=decode", "n_generated=8", "kv_format=int8"], {"kv_format": "int8"}),
    ("llama-2-7b", ["phase=decode", "n_generated=8", "weight_format=int2-g64", "gemm_strategy=lut",
                    "gemm_act_format=int8"], {"gemm_strategy": "lut", "gemm_act_format": "int8"}),
    ("llama-2-7b", ["phase=prefill", "prompt_len=512", "attention_tiling=flash2", "attention_sram_B=64KiB"],
     {"attention_tiling": "flash2", "attention_sram_B": 65536.0}),
    ("llama-2-7b", ["phase=prefill", "prompt_len=512", "softmax_variant=two_pass", "softmax_stores=streaming"],
     {"softmax_variant": "two_pass", "softmax_stores": "streaming"}),
    ("regnetx-400mf", ["scaling_strategy=d", "scaling_factor=2"], {"scaling_strategy": "d", "scaling_factor": 2.0}),
]


@pytest.mark.parametrize(("workload", "sets", "applied"), ALGORITHM_SETTINGS)
def test_evaluate_takes_every_algorithm_knob(capsys, workload, sets, applied):
    args = ["evaluate", "--target", "h100-sxm", "--workload", workload, "--json"]
    for s in sets:
        args += ["--set", s]
    code, out, err = run(capsys, *args)
    assert code == 0, err
    d = json.loads(out)
    assert applied.items() <= d["algorithm"].items()
    base = json.loads(run(capsys, "evaluate", "--target", "h100-sxm", "--workload", workload, "--json",
                          *[x for s in sets if s.split("=")[0] not in applied for x in ("--set", s)])[1])
    # each knob changes what the model prices
    assert (d["totals"]["latency_s"], d["totals"]["energy_J"]) != (base["totals"]["latency_s"],
                                                                   base["totals"]["energy_J"])


def test_evaluate_group_size_and_target_fields(capsys):
    code, out, _ = run(capsys, "evaluate", "--target", "p100", "--workload", "mobilenet-v1", "--set", "group_size=8",
                       "--set", "target.memories.hbm.bandwidth=1.5TB/s", "--json")
    d = json.loads(out)
    assert code == 0 and d["knobs"]["group_size"] == 8 and d["overrides"] == {"memories.hbm.bandwidth": 1.5e12}


@pytest.mark.parametrize(("name", "bad"), [("gemm_strategy", "magic"), ("attention_tiling", "tiled"),
                                           ("weight_format", "int99"), ("scaling_factor", "100"),
                                           ("attention_sram_B", "1GiB")])
def test_evaluate_knob_errors_are_the_space_files(capsys, name, bad):
    # the same declaration checks --set and a design-space file: the same "allowed" text
    from models.dse import SpaceError, parse_space
    from models.point import ALGORITHM_KNOBS

    workload = "regnetx-400mf" if name.startswith("scaling") else "llama-2-7b"
    code, _, err = run(capsys, "evaluate", "--target", "h100-sxm", "--workload", workload, "--set", f"{name}={bad}")
    allowed = ALGORITHM_KNOBS[name].allowed()
    assert code == 2 and f"algorithm knob {name!r}" in err and allowed in err, err
    decl = ALGORITHM_KNOBS[name]
    if decl.numeric:
        value = float(bad.rstrip("GiB") or 0) * (2**30 if "GiB" in bad else 1)
        param = {"name": "x", "sets": f"algorithm.{name}", "kind": "float", "values": [value]}
    else:
        param = {"name": "x", "sets": f"algorithm.{name}", "kind": "categorical", "choices": [bad]}
    with pytest.raises(SpaceError) as info:
        parse_space({"name": "s", "workload": workload, "parameters": [param], "objectives": [{"metric": "latency_s"}]})
    assert allowed.split(", or ")[0] in str(info.value)


def test_evaluate_prints_a_system_models_figures_and_the_users_knobs(capsys):
    code, out, _ = run(capsys, "evaluate", "--target", "h100-sxm", "--workload", "llama-2-7b", "--top", "0",
                       "--set", "function_calling=sequential", "--set", "n_calls=2", "--set", "prompt_len=100",
                       "--set", "tool_latency_s=0.5")
    assert code == 0
    # the knobs line is the user's (not the last invocation's grown context)
    assert "prompt_len=100," in out.splitlines()[0]
    assert "function_calling:" in out and "tool_wait_s" in out
    # two tools of 0.5 s in turn
    assert "tool_wait_s                        1 s" in out
    js = json.loads(run(capsys, "evaluate", "--target", "h100-sxm", "--workload", "llama-2-7b", "--json",
                        "--set", "function_calling=sequential", "--set", "n_calls=2", "--set", "prompt_len=100")[1])
    assert js["item"] == "task" and js["totals"]["llm_invocations"] == 3.0


def test_compare_refuses_columns_of_another_item_by_name(capsys):
    code, out, _ = run(capsys, "compare", "--workload", "llama-2-7b", "--target", "h100-sxm",
                       "--set", "function_calling=sequential", "--set", "n_calls=2",
                       "--vs", "function_calling=parallel", "--vs", "function_calling=off")
    assert "function_calling=off: its rates are per token, the baseline's per task" in out
    assert "tasks/s" in out
