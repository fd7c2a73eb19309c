"""Landing page (``/``): what Tradespace is, and one line per page on the question it answers."""

from __future__ import annotations

from typing import Any

import panel as pn

from app.dashboard import fmt
from app.dashboard.safety import html_text
from app.dashboard.state import PAGES
from app.dashboard.views.common import HEADER_STYLES, nav, title_pane

# what each page answers (a page of PAGES without a line is still linked)
PAGE_LINES = {
    "roofline": "Where does one workload sit under each target's compute and memory ceilings? Time, energy, "
                "what bounds every operator, memory footprint against capacity, for any algorithm knob.",
    "compare": "How do targets of every class (GPU, CPU, MCU, NPU, PIM) compare on one workload: latency, "
               "energy per item, memory, normalised to a baseline target.",
    "explore": "Which designs are on the Pareto front? Sweep or search hardware and algorithm parameters and "
               "plot latency, energy, memory and accuracy loss against each other.",
    "targets": "Which numbers describe a target, and from which datasheet or paper? Edit a copy within the "
               "declared ranges, compare two targets, download the TOML.",
    "fidelity": "How close are the models to published measurements? Predicted vs published per paper, "
                "the median error and the known gaps with their reasons.",
}


def _fidelity_line() -> str:
    """The headline figures of the validation suite (cached per process), for the landing text."""
    from app.dashboard.fidelity_state import suite_result

    s = suite_result().summary()
    return (f"Checked against {s['n_measured']} published measurements from {s['n_sources']} sources: median "
            f"|error| {fmt.pct(s['median_abs_error_measured'], signed=False)}, 90th percentile "
            f"{fmt.pct(s['p90_abs_error_measured'], signed=False)}, gaps included.")


def body_html() -> str:
    """The landing text: what the tool is, then a link and a line for every page."""
    items = "".join(
        f'<li style="margin:8px 0"><a class="ts-page-link" href="/{p}" style="font-size:17px;font-weight:600">'
        f"{p.title()}</a> — {html_text(PAGE_LINES.get(p, ''))}</li>" for p in PAGES)
    return (
        '<div class="ts-landing" style="max-width:900px;font-size:15px;line-height:1.5;padding:10px 24px">'
        "<p style='font-size:17px'><b>Tradespace</b> explores hardware × algorithm trade-offs of ML workloads "
        "with analytical roofline and energy models: GPU, CPU, MCU, NPU and processing-in-memory targets, and "
        "the cost models of quantization, attention tiling, softmax passes, group size and more. Every page "
        "answers a <i>what if</i> in milliseconds, from one model path that the CLI, notebooks and the "
        "validation suite also use; every hardware number carries its source.</p>"
        f"<ul style='padding-left:20px'>{items}</ul>"
        f"<p class='ts-landing-fidelity' style='color:#333'>{html_text(_fidelity_line())} "
        "<a href='/fidelity'>See the fidelity page</a>.</p>"
        "<p style='color:#555'>The same pages are components in Jupyter "
        "(<code>from app.dashboard.views.roofline import Roofline</code>), and "
        "<code>tradespace --help</code> lists the command-line tools.</p></div>"
    )


def create(**params: Any) -> pn.Column:
    """The landing page: the header (title and navigation, as on every page) and the text."""
    if params:
        raise ValueError(f"the landing page takes no inputs; got {', '.join(params)}")
    header = pn.Row(title_pane("dashboard"), nav(""), styles=HEADER_STYLES, sizing_mode="stretch_width",
                    css_classes=["ts-header"])
    return pn.Column(header, pn.pane.HTML(body_html(), sizing_mode="stretch_width"), sizing_mode="stretch_width")
