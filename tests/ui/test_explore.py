"""The Explore page in real headless Chromium against ``tradespace serve`` (issue 21, defects 3 and 5).

Each test reproduces one reported defect: it failed on the page before the fix (status stayed
idle, parameter 2 stayed ``target.memories.hbm.bandwidth``, nothing drawn until the end, Cancel
dropped the finished trials, the front counted repeated designs).
"""

from __future__ import annotations

import random
import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.ui.conftest import Server
from tests.ui.test_dashboard import CDS_JS, cds, no_server_traceback, open_page, shot, wait_cds

pytestmark = pytest.mark.browser

# "<workload> on <target>: ..." as the result header and the plot title write it (from the result)
RESULT_NAMES = re.compile(r"Result: (\S+) on (\S+?):")


def status_text(page: Page) -> str:
    return " ".join(page.locator(".w-status pre").all_inner_texts())


def text_of(page: Page, css: str) -> str:
    """The text of a pane (inside its shadow root: the host's own inner text is empty)."""
    return " ".join(page.locator(css).evaluate_all(
        "els => els.map(e => (e.shadowRoot || e).textContent)"))


def result_text(page: Page) -> str:
    return text_of(page, ".w-result")


def select_value(page: Page, css: str) -> str:
    return str(page.locator(f"{css} select").input_value())


def settle(page: Page, server: Server) -> None:
    """Let the server finish pushing the last change before the page closes (a write to a closed
    websocket is logged as a traceback by tornado), then check its log."""
    page.wait_for_timeout(2000)
    no_server_traceback(server)


def wait_options(page: Page, css: str, text: str, timeout_s: float = 20.0) -> list[str]:
    """Wait until an option of the select ``css`` contains ``text`` (locators pierce shadow roots)."""
    deadline = time.time() + timeout_s
    while True:
        options = page.locator(f"{css} select option").all_inner_texts()
        if any(text in o for o in options) or time.time() > deadline:
            assert any(text in o for o in options), options
            return options
        page.wait_for_timeout(200)


def wait_status(page: Page, pattern: str, timeout_s: float = 60.0) -> str:
    """Wait until the status text matches the regular expression ``pattern``; returns the text."""
    deadline = time.time() + timeout_s
    while True:
        text = status_text(page)
        if re.search(pattern, text):
            return text
        assert time.time() < deadline, f"status {text!r} never matched {pattern!r}"
        page.wait_for_timeout(100)


def test_target_without_hbm_gets_its_own_parameters_bounds_and_infeasible_points(page: Page, server: Server) -> None:
    # defect 3: /explore?target=cortex-m4&workload=resnet-50 kept parameter 2 on the HBM
    # bandwidth (which a Cortex-M4 lacks) and Run did nothing
    open_page(page, f"{server.url}/explore?target=cortex-m4&workload=resnet-50")
    expect(page.locator(".w-axis2-unit")).to_contain_text("target.memories.", timeout=20_000)
    axis2 = text_of(page, ".w-axis2-unit")
    assert "target.memories." in axis2 and "bandwidth" in axis2 and "hbm" not in axis2, axis2
    # bounds from the preset: the Cortex-M4's own memory (far below the 1000-8000 GB/s of an HBM part)
    hi = float(page.locator(".w-axis2-high input").input_value())
    assert 0 < hi < 17, hi
    # the option list was rebuilt for this target: no HBM setting is offered
    options = page.locator(".w-axis2 select option").all_inner_texts()
    assert not any("HBM" in o for o in options) and any("SRAM" in o or "flash" in o for o in options), options
    page.locator(".w-run button").click()
    # ResNet-50 does not fit a Cortex-M4: every point is infeasible, drawn grey with its reason
    expect(page.locator(".w-status")).to_contain_text("none of them is feasible", timeout=60_000)
    expect(page.locator(".w-status")).to_contain_text("does not fit memory")
    wait_cds(page, "reason", "a.length == 1000 && a.every(r => r.startsWith('does not fit memory'))")
    expect(page.locator(".w-result")).to_contain_text("resnet-50 on cortex-m4")
    expect(page.locator(".w-result")).to_contain_text("1000 infeasible")
    # the progress bar does not report a success
    klass = page.locator(".w-progress progress").evaluate("e => e.className")
    assert "warning" in klass and "success" not in klass, klass
    shot(page, "explore-cortex-m4-infeasible")
    # switching the target rebuilds the list and resets the bounds to the new preset
    page.locator(".w-target select").select_option("h100-sxm")
    expect(page.locator(".w-result")).to_contain_text("No result for these inputs", timeout=20_000)
    wait_options(page, ".w-axis2", "HBM")
    clock_hi = float(page.locator(".w-axis3-high input").input_value())
    assert clock_hi > 1.0, clock_hi  # GHz of an H100 (the Cortex-M4 runs at 0.168 GHz)
    settle(page, server)


def test_search_draws_while_running_cancel_keeps_trials_front_is_distinct(page: Page, server: Server) -> None:
    # defect 5: nothing was drawn until the end, Cancel dropped the finished trials, the front
    # counted a design once per trial that asked it. Far more trials than run before Cancel lands
    # (3000 could finish on an idle machine while a loaded browser waited to click)
    n = 30_000
    open_page(page, f"{server.url}/explore?method=search&n_trials={n}&axis1_high=32")
    page.locator(".w-run button").click()
    # points drawn while the search runs (the status still says "search: N of n")
    text = wait_status(page, rf"search: [1-9][0-9]* of {n}")
    n_shown = int(re.search(rf"search: (\d+) of {n}", text).group(1))  # type: ignore[union-attr]
    # the trials so far are drawn (a placeholder would be one point at 1, 1)
    wait_cds(page, "energy_J_per_item", "a.length >= 2 && a.every(v => v > 0 && v < 1)", timeout=60_000)
    assert "search:" in status_text(page), status_text(page)
    assert n_shown < n
    page.wait_for_timeout(1500)
    page.locator(".w-cancel button").click(timeout=90_000)  # the page redraws as trials arrive
    expect(page.locator(".w-status")).to_contain_text("cancelled after", timeout=60_000)
    m = re.search(rf"cancelled after (\d+) of {n} trials", status_text(page))
    assert m, status_text(page)
    n_done = int(m.group(1))
    assert 0 < n_done < n
    expect(page.locator(".w-result")).to_contain_text(f"cancelled after {n_done} of {n} trials")
    # every front drawn (this one and those drawn while it ran) holds each design once; the
    # front sources are the glyphs with the parameters but no `reason` (the trial table has one)
    fronts = page.evaluate("""() => [...Bokeh.documents[0].all_models]
        .filter(m => m.type === 'ColumnDataSource' && 'memories_hbm_bandwidth' in m.data && !('reason' in m.data))
        .map(m => ['batch', 'memories_hbm_bandwidth', 'clock'].map(c => Array.from(m.data[c])))""")
    assert fronts
    for cols in fronts:
        designs = list(zip(*cols, strict=True))
        assert len(set(designs)) == len(designs), designs
    n_front = int(re.search(r"; (\d+) on the Pareto front", status_text(page)).group(1))  # type: ignore[union-attr]
    assert n_front >= 2 and n_front in [len(c[0]) for c in fronts]
    # the trial table lists the finished trials
    expect(page.locator(".explore-trials")).to_contain_text("trial")
    shot(page, "explore-search-cancelled")
    settle(page, server)


TARGETS = ["h100-sxm", "a100-80gb", "cortex-m4", "raspberry-pi-5", "hbm-pim"]
WORKLOADS = ["llama-2-7b", "resnet-50", "gpt2", "mobilenet-v1"]


def test_random_changes_always_show_the_result_of_the_inputs(page: Page, server: Server) -> None:
    """20 seeded random changes (target, workload, grid sizes, objectives); after each the page
    shows no result (a message) until Run, then the result whose names are the sidebar's."""
    rng = random.Random(21)
    open_page(page, f"{server.url}/explore?axis1_n=2&axis2_n=2&axis3_n=2")
    for step in range(20):
        kind = rng.choice(["target", "workload", "target", "workload", "n", "metric"])
        # a change is a new value (the same one changes nothing, and the result stays)
        if kind == "target":
            cur = select_value(page, ".w-target")
            page.locator(".w-target select").select_option(rng.choice([t for t in TARGETS if t != cur]))
        elif kind == "workload":
            cur = select_value(page, ".w-workload")
            page.locator(".w-workload select").select_option(rng.choice([w for w in WORKLOADS if w != cur]))
        elif kind == "n":
            box = page.locator(f".w-axis{rng.randint(1, 3)}-n input")
            cur = box.input_value()
            box.fill(rng.choice([v for v in ("1", "2", "3") if v != cur]))
            box.press("Enter")
        else:
            cur = select_value(page, ".w-ym")
            page.locator(".w-ym select").select_option(
                rng.choice([m for m in ("energy_J", "edp_J_s", "energy_J_per_item") if m != cur]))
        # no older result: a message until this space is computed
        expect(page.locator(".w-result")).to_contain_text("No result for these inputs", timeout=20_000)
        page.wait_for_timeout(300)  # let the server settle the parameter lists of a new target
        page.locator(".w-run button").click()
        expect(page.locator(".w-status")).to_contain_text("done:", timeout=60_000)
        expect(page.locator(".w-result")).to_contain_text("Result:")
        m = RESULT_NAMES.search(result_text(page))
        assert m, (step, result_text(page))
        want = (select_value(page, ".w-workload"), select_value(page, ".w-target"))
        assert m.groups() == want, (step, kind, m.groups(), want)
        # the plot's title says the same (drawn from the result, not the widgets)
        page.wait_for_function("(w) => [...Bokeh.documents[0].all_models].some(m => typeof m.text === 'string'"
                               " && m.text.startsWith(w))", arg=f"{want[0]} on {want[1]}:", timeout=20_000)
    settle(page, server)


def test_space_file_loads_and_its_errors_show(page: Page, server: Server, tmp_path: object) -> None:
    open_page(page, f"{server.url}/explore")
    page.locator(".w-space-file select").select_option("tdnn-h100-small")
    page.locator(".w-space-load button").click()
    expect(page.locator(".w-workload select")).to_have_value("tdnn-xvector", timeout=20_000)
    expect(page.locator(".w-message")).to_contain_text("loaded tdnn-h100-small")
    expect(page.locator(".w-axis4-unit")).to_contain_text("algorithm.act_format")
    # a broken file: load_space's message is shown, the page keeps its inputs
    bad = tmp_path / "broken.toml"  # type: ignore[operator]
    bad.write_text('name = "x"\nworkload = "tdnn-xvector"\n[[parameters]]\nname = "b"\nsets = "workload.batch"\n'
                   'kind = "int"\nbounds = [8, 1]\n')
    page.locator(".w-space-upload input").set_input_files(str(bad))
    expect(page.get_by_text("is an empty range").first).to_be_visible(timeout=20_000)
    expect(page.locator(".w-workload select")).to_have_value("tdnn-xvector")
    t0 = time.time()
    page.locator(".w-run button").click()
    expect(page.locator(".w-status")).to_contain_text("done:", timeout=60_000)
    assert time.time() - t0 < 60
    wait_cds(page, "act_format", "a.length >= 1")
    assert cds(page, "act_format") and page.evaluate(CDS_JS, "frames")
    settle(page, server)


def test_a_plan_space_of_mixtral_on_8_h100_sweeps_with_serving_objectives(page: Page, server: Server) -> None:
    """The multi-device plan space (TP x PP x EP x batch): loads with its serving objectives, runs,
    draws feasible points, and says which plans were infeasible."""
    open_page(page, f"{server.url}/explore")
    page.locator(".w-space-file select").select_option("mixtral-8xh100-plans")
    page.locator(".w-space-load button").click()
    expect(page.locator(".w-workload select")).to_have_value("mixtral-8x7b", timeout=20_000)
    expect(page.locator(".w-message")).to_contain_text("loaded mixtral-8xh100-plans")
    # the degrees' lists 1, 2, 4, 8 are the page's own log grids: nothing is lost in loading
    assert "grid points over their range" not in text_of(page, ".w-message")
    assert select_value(page, ".w-xm") == "output_tokens_per_s_per_device"
    assert select_value(page, ".w-ym") == "output_tokens_per_s_per_user"
    page.locator(".w-run button").click()
    expect(page.locator(".w-status")).to_contain_text("done:", timeout=120_000)
    m = RESULT_NAMES.search(result_text(page))
    assert m and m.groups() == ("mixtral-8x7b", "h100-sxm")
    wait_cds(page, "tensor_parallel", "a.length >= 1")
    # 640 points; the plans over 8 GPUs are counted infeasible (no objectives to draw)
    assert re.search(r"640 points; \d+ distinct designs on the Pareto front, \d+ infeasible", result_text(page))
    shot(page, "explore-mixtral-plans")
    settle(page, server)
