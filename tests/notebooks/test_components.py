"""The dashboard pages as notebook components (issue 21): a Jupyter kernel builds each page,
sets a knob from code and reads the page's result table, which must follow.

Runs in the ``python3`` kernel with nbclient, like the notebooks, so the components work where
users put them: a cell that displays ``Roofline(...)`` and drives ``view.state``.
"""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[2]

CELL = '''
import json
import panel as pn
from app.dashboard import Compare, Roofline, Targets

pn.extension("tabulator")
out = {}

roof = Roofline(targets=["h100-sxm", "neupims"], workload="llama-2-7b", phase="decode")
display(roof)  # the page renders in the cell
t0 = roof.state.table
roof.state.set_knob("weight_dtype", "int4")
t1 = roof.state.table
out["roofline"] = {"label": roof.state.result_inputs.label(), "before": t0["latency_s"].to_list(),
                   "after": t1["latency_s"].to_list(), "reasons": t1["reason"].to_list()}

cmp = Compare(targets=["h100-sxm", "raspberry-pi-5"], workload="resnet-50")
display(cmp)
c0 = cmp.state.table
cmp.state.set_knob("batch", 8)
c1 = cmp.state.table
cmp.state.workload = "gpt2"
out["compare"] = {"batch1": c0["latency_s"].to_list(), "batch8": c1["latency_s"].to_list(),
                  "note": cmp.state.note, "phase": cmp.state.phase, "workload": cmp.state.result_inputs.workload}

tg = Targets(target="h100-sxm")
display(tg)
bw0 = tg.state.fields.filter(tg.state.fields["field"] == "memories.hbm.bandwidth")["value"][0]
ok = tg.state.edit("memories.hbm.bandwidth", 5000.0)
refused = tg.state.edit("engines.tensor.efficiency", 1.5)
bw1 = tg.state.fields.filter(tg.state.fields["field"] == "memories.hbm.bandwidth")["value"][0]
out["targets"] = {"bw0": bw0, "bw1": bw1, "ok": ok, "refused": refused, "error": tg.state.error,
                  "edits": tg.state.edits}
print("RESULT " + json.dumps(out))
'''


@pytest.mark.slow
def test_page_components_in_a_kernel_follow_knobs_set_from_code(tmp_path: Path) -> None:
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "python3", "display_name": "Python 3",
                                                           "language": "python"}})
    nb.cells = [nbformat.v4.new_code_cell(f"import sys; sys.path.insert(0, {str(ROOT)!r})"),
                nbformat.v4.new_code_cell(CELL)]
    NotebookClient(nb, timeout=180, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    outs = nb.cells[1].outputs
    text = "".join(o.get("text", "") for o in outs if o.get("output_type") == "stream")
    line = next(ln for ln in text.splitlines() if ln.startswith("RESULT "))
    got = json.loads(line[len("RESULT "):])
    # each page is displayed as a live Panel view (a HoloViews/Panel exec bundle), not as a repr
    views = [o for o in outs if o.get("output_type") == "display_data"
             and "application/vnd.holoviews_exec.v0+json" in o.get("data", {}) and "text/plain" in o["data"]]
    assert len(views) == 3

    r = got["roofline"]
    assert r["label"] == "llama-2-7b · decode · h100-sxm, neupims"
    # decode at batch 1 is weight-bound on H100 (13.5 of 14.7 GB resident are weights): 4x fewer
    # weight bytes cut the latency by well over a quarter
    assert r["after"][0] < 0.75 * r["before"][0]
    # neupims computes no bf16: its row has no numbers and says why, both times
    assert r["before"][1] is None and r["after"][1] is None and "neupims" in r["reasons"][1]

    c = got["compare"]
    # batch 8 costs more time per run than batch 1 on both targets
    assert all(b8 > b1 for b1, b8 in zip(c["batch1"], c["batch8"], strict=True))
    # resnet-50 has no decode phase: switching to gpt2 from "all" keeps "all" and no note
    assert c["workload"] == "gpt2" and c["phase"] == "all" and c["note"] == ""

    t = got["targets"]
    assert t["bw0"] == pytest.approx(3350.0) and t["bw1"] == pytest.approx(5000.0) and t["ok"]
    assert not t["refused"] and "engines.tensor.efficiency" in t["error"] and "(0, 1]" in t["error"]
    assert t["edits"] == {"memories.hbm.bandwidth": 5000.0}
