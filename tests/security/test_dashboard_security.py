"""Links cannot run script, read server files or show tracebacks (issue 13, points 1, 2 and 7).

Real ``tradespace serve`` subprocess, real Debian Chromium. Every URL field of every page and the
Targets page's save box get the script payloads; the file-path probes and the inputs that used to
give tracebacks are opened as links. For each: no script runs (no dialog, ``window.__xss`` unset,
no element injected), no file content or server path is on the page or in a notification, and one
clear message is shown. One server for the module and one reused browser page keep it fast.
"""

from __future__ import annotations

import json
import os
import re
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.ui.conftest import ROOT, SCREENSHOTS, Server, serve

pytestmark = pytest.mark.browser

DOC_READY = "() => window.Bokeh && Bokeh.documents.length > 0 && Bokeh.documents[0].roots().length > 0"
SCRIPT = "<script>alert(1)</script>"
IMG_ALERT = "<img src=x onerror=alert(document.domain)>"
IMG_GLOBAL = '<img src=x onerror="window.__xss=1">'
PAYLOADS = (SCRIPT, IMG_ALERT, IMG_GLOBAL)
ALL = "".join(PAYLOADS)  # one value carrying every payload (each field gets them all at once)
# what must never be shown: server paths, file contents, Python tracebacks
LEAKS = ("/work/", str(ROOT), "build-system", "[project]", "root:x:0", "Traceback", 'File "', "site-packages")
# every text of the page, shadow roots (Panel's components) and input values included
PAGE_TEXT_JS = """() => {
  const out = [];
  const walk = (n) => {
    if (n.shadowRoot) walk(n.shadowRoot);
    for (const c of n.childNodes) {
      if (c.nodeType === 3) out.push(c.textContent);
      else if (c.nodeType === 1 && c.tagName !== 'STYLE') {
        if (c.tagName === 'INPUT' || c.tagName === 'TEXTAREA') out.push(c.value);
        walk(c);
      }
    }
  };
  walk(document.body);
  return out.join(' ');
}"""
# elements a payload would inject, searched in shadow roots too
INJECTED_JS = """() => {
  let n = 0;
  const walk = (root) => {
    n += root.querySelectorAll('img[src="x"]').length;
    n += [...root.querySelectorAll('script')].filter(s => s.textContent.includes('alert(')).length;
    for (const el of root.querySelectorAll('*')) if (el.shadowRoot) walk(el.shadowRoot);
  };
  walk(document);
  return n;
}"""


def _target_with_payload_sources() -> str:
    """A valid target file (the Cortex-M4 preset renamed) whose texts are script payloads."""
    text = (ROOT / "data" / "targets" / "cortex-m4.toml").read_text()
    text = text.replace('name = "cortex-m4"', 'name = "xss-source"')
    text = text.replace('display_name = "Arm Cortex-M4F (STM32F4-class, 168 MHz)"',
                        f"display_name = '{IMG_GLOBAL}'")
    text = text.replace('source = "single core"', f"source = '{ALL}'")
    assert ALL in text
    return text


# Faults injected into the server process from outside (a sitecustomize module on its
# PYTHONPATH): an unexpected exception while computing one Compare page and while building one
# Explore page, with a server path and a payload in their text. Nothing in the app provides them.
FAULT = f"injected fault in {ROOT}/models/secret.py {IMG_GLOBAL}"
SITECUSTOMIZE = f"""
def _install():
    from app.dashboard import state as st
    from app.dashboard.views import explore as ex

    compare = st.CompareState._data_fn

    def faulty_compare(targets, *args, **kwargs):
        if list(targets) == ["h200"]:
            raise RuntimeError({FAULT!r})
        return compare(targets, *args, **kwargs)

    st.CompareState._data_fn = staticmethod(faulty_compare)
    sync_url = ex.sync_url

    def faulty_sync(state, mapping):
        sync_url(state, mapping)
        if state.seed == 4242:
            raise RuntimeError({FAULT!r})

    ex.sync_url = faulty_sync


_install()
"""


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    d = tmp_path_factory.mktemp("serve-security")
    user = d / "user-targets"
    user.mkdir()
    (user / "xss-source.toml").write_text(_target_with_payload_sources())
    (user / "broken.toml").write_text('name = "broken"\nclass = [unclosed\n')
    inject = d / "inject"
    inject.mkdir()
    (inject / "sitecustomize.py").write_text(SITECUSTOMIZE)
    path = os.pathsep.join(p for p in (str(inject), os.environ.get("PYTHONPATH", "")) if p)
    with serve(d, {"PYTHONPATH": path}) as s:
        yield s


@dataclass
class Tab:
    """One browser page reused by every test of the module, with what it saw."""

    page: Page
    dialogs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def tab(browser: Browser) -> Iterator[Tab]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = ctx.new_page()
    t = Tab(page=page)

    def on_dialog(d: Any) -> None:  # alert() from a payload would land here
        t.dialogs.append(d.message)
        d.dismiss()

    page.on("dialog", on_dialog)
    page.on("pageerror", lambda e: t.errors.append(str(e)))
    page.route("**/fonts.googleapis.com/**", lambda r: r.abort())
    yield t
    ctx.close()


def q(**params: Any) -> str:
    """A query string; lists and dicts as JSON (how the dashboard writes them)."""
    return "?" + urllib.parse.urlencode(
        {k: json.dumps(v) if isinstance(v, list | dict) else str(v) for k, v in params.items()})


@dataclass
class Seen:
    toasts: list[str]
    text: str
    url: str


def toasts(page: Page) -> list[str]:
    return page.locator(".notyf__message").all_inner_texts()


def visit(tab: Tab, srv: Server, path: str, *, n_toasts: int = 1) -> Seen:
    """Open ``path``, wait for its notification(s) and for the page to settle; check that no
    script ran, nothing was injected and nothing leaked."""
    page = tab.page
    tab.dialogs.clear()
    page.goto(srv.url + path)
    page.wait_for_function(DOC_READY, timeout=30_000)
    if n_toasts:
        expect(page.locator(".notyf__message")).to_have_count(n_toasts, timeout=15_000)
    page.wait_for_timeout(500)  # a looping URL or a repeated notification would show by now
    seen = Seen(toasts=toasts(page), text=page.evaluate(PAGE_TEXT_JS), url=page.url)
    assert_inert(tab, seen, srv)
    assert len(seen.toasts) == n_toasts, seen.toasts
    return seen


def assert_inert(tab: Tab, seen: Seen, srv: Server) -> None:
    page = tab.page
    assert tab.dialogs == [], f"a script ran: dialog {tab.dialogs}"
    assert page.evaluate("() => window.__xss") is None, "a script ran: window.__xss is set"
    assert page.evaluate(INJECTED_JS) == 0, "an element of a payload was injected"
    shown = seen.text + " ".join(seen.toasts)
    # the server's own folders (its user target folder lives in a temporary folder) count too
    for leak in (*LEAKS, str(srv.user_targets.parent), "/tmp/"):
        assert leak not in shown, f"{leak!r} shown: {shown[:2000]}"


def query_of(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlparse(url).query))


def assert_no_server_traceback(srv: Server) -> None:
    # every input here but the injected faults is an expected error: no traceback in the log either
    tbs = [t for t in srv.tracebacks() if "injected fault" not in t]
    assert tbs == [], tbs[0][:3000]


def shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"security-{name}.png"), full_page=True)


# ---------------------------------------------------------------------------------- script payloads
# Each link sets several fields to the payloads at once: the page names every rejected field in
# one message, so each field's value is echoed (and must stay inert).
EXPLORE_CHOICES = {k: ALL for k in ("x_metric", "y_metric", "x_direction", "y_direction", "method", "axis1_low",
                                    "axis1_high", "axis1_n", "axis2_low", "axis2_high", "axis2_n", "axis3_low",
                                    "axis3_high", "axis3_n", "memory_constraint", "n_trials", "seed")}
CASES = [
    # (case, link, fields the one message must name)
    ("roofline names and choices", "/roofline" + q(targets=["h100-sxm", ALL], workload=ALL, phase=ALL, mode=ALL),
     ["target '<", "workload '<", "phase '<", "mode '<"]),
    ("roofline knob keys and values", "/roofline" + q(knobs={"batch": ALL, ALL: 1, "weight_dtype": ALL}),
     ["knob 'batch': got '<", "knob '<", "knob 'weight_dtype': got '<"]),
    # the issue's own links, each payload alone
    ("roofline payloads alone", "/roofline" + q(targets=[IMG_GLOBAL], workload=IMG_ALERT, phase=SCRIPT),
     [f"target {IMG_GLOBAL!r}", f"workload {IMG_ALERT!r}", f"phase {SCRIPT!r}"]),
    ("roofline knob payload alone", "/roofline" + q(knobs={"batch": SCRIPT}), [f"knob 'batch': got {SCRIPT!r}"]),
    ("compare names", "/compare" + q(targets=[ALL], workload=ALL), ["target '<", "workload '<"]),
    ("explore names and axes", "/explore" + q(target=ALL, workload=ALL, axis1=ALL, axis2=ALL, axis3=ALL),
     ["target '<", "workload '<", "axis1 '<", "axis2 '<", "axis3 '<"]),
    ("explore choices and numbers", "/explore" + q(**EXPLORE_CHOICES), [f"{k} '<" for k in EXPLORE_CHOICES]),
    ("targets target", "/targets" + q(target=ALL), ["target '<"]),
]


@pytest.mark.parametrize(("case", "path", "names"), CASES, ids=[c for c, _, _ in CASES])
def test_script_payloads_in_the_url_run_nothing(tab: Tab, srv: Server, case: str, path: str,
                                                names: list[str]) -> None:
    seen = visit(tab, srv, path)
    msg = seen.toasts[0]
    assert msg.startswith("URL query: ") and ("allowed" in msg or "required" in msg), msg
    assert "not applied" in msg
    for n in names:  # each field named, its payload echoed as text (escaped, not dropped)
        assert n in msg, (n, msg)
    # the URL settles on the valid state the page shows
    query = query_of(seen.url)
    assert not any("<" in v for v in query.values()), query
    if case.startswith("roofline"):
        assert query["workload"] == "llama-2-7b" and json.loads(query["knobs"]) == {}
    if case == "roofline payloads alone":
        shot(tab.page, "workload-payload")
    assert tab.errors == []


def test_targets_page_save_box_and_payload_sources_run_nothing(tab: Tab, srv: Server) -> None:
    page = tab.page
    # a saved target (in the user folder) whose display name and sources are payloads: shown as text
    seen = visit(tab, srv, "/targets" + q(target="xss-source"), n_toasts=0)
    expect(page.locator(".fields-table")).to_contain_text("n_units", timeout=15_000)
    assert ALL in page.evaluate(PAGE_TEXT_JS)  # the source is displayed, as text
    assert_inert(tab, seen, srv)
    for i, payload in enumerate(PAYLOADS):
        page.locator(".w-name input").fill(payload)
        page.locator(".w-name input").press("Enter")
        page.locator(".w-save button").click()
        expect(page.locator(".notyf__message")).to_have_count(i + 1, timeout=10_000)
        msgs = toasts(page)
        # one message per click, echoing the name as text
        assert sum(f"name {payload!r}: allowed: 1-64 characters" in m for m in msgs) == 1, msgs
        assert_inert(tab, Seen(toasts=msgs, text=page.evaluate(PAGE_TEXT_JS), url=page.url), srv)
    shot(page, "save-box-payload")
    assert not any(srv.user_targets.glob("*img*")) and not any(srv.user_targets.glob("*script*"))


# ---------------------------------------------------------------------------------- file-path probes
CHECKOUT_FILE = f"{ROOT}/pyproject.toml"
PROBES = [
    ("roofline", "/roofline" + q(targets=[CHECKOUT_FILE, "../../pyproject.toml", "pyproject.toml"],
                                 workload="/etc/passwd"),
     ["target '…/pyproject.toml': file paths", "target 'pyproject.toml'",
      "workload '…/passwd': unknown (file paths are not accepted)"]),
    ("compare", "/compare" + q(targets=[f"{ROOT}/no-such-file.toml"], workload=str(ROOT)),
     ["target '…/no-such-file.toml': file paths", f"workload '…/{ROOT.name}': unknown (file paths"]),
    ("explore", "/explore" + q(target=CHECKOUT_FILE, workload="../../../etc/passwd", axis1_n=0),
     ["target '…/pyproject.toml'", "workload '…/passwd'", "axis1_n '0': allowed: [1, 10000]"]),
    ("targets", "/targets" + q(target=CHECKOUT_FILE), ["target '…/pyproject.toml': file paths"]),
]


@pytest.mark.parametrize(("case", "path", "names"), PROBES, ids=[c for c, _, _ in PROBES])
def test_file_paths_in_the_url_read_nothing(tab: Tab, srv: Server, case: str, path: str, names: list[str]) -> None:
    seen = visit(tab, srv, path)
    msg = seen.toasts[0]
    for n in names:
        assert n in msg, (n, msg)
    assert "h100-sxm" in msg or "llama-2-7b" in msg  # what is allowed
    if case == "roofline":
        shot(tab.page, "path-probe")


def test_an_existing_and_a_missing_file_look_the_same(tab: Tab, srv: Server) -> None:
    # the message must not tell whether the file exists (same names, existing vs missing folders)
    a = visit(tab, srv, "/roofline" + q(targets=[CHECKOUT_FILE], workload="/etc/passwd")).toasts
    b = visit(tab, srv, "/roofline" + q(targets=["/no/such/folder/pyproject.toml"],
                                        workload="/no/such/folder/passwd")).toasts
    assert a == b


# ---------------------------------------------------------------------------------- traceback triggers
TRIGGERS = [
    ("knob values", "/roofline?knobs=" + urllib.parse.quote(
        '{"batch":"abc","prompt_len":[1,2],"batchsize":8,"n_generated":1e400,"phase":"decode",'
        '"weight_dtype":{"a":{"b":[1,{"c":2}]}}}'),
     ["knob 'batch': got 'abc'; a number is required", "knob 'prompt_len': got [1, 2]; one value is required",
      "knob 'batchsize': unknown for workload 'llama-2-7b' (did you mean 'batch'?)",
      "knob 'n_generated': got Infinity; a finite number is required", "phase selector",
      "knob 'weight_dtype': got {"]),
    ("unreadable values", "/roofline?knobs=batch%3D4&targets=" + "%5B" * 1500 + "%5D" * 1500,
     ["knobs 'batch=4': not valid JSON", "targets: the JSON value is nested too deeply"]),
    ("not an object", "/compare?knobs=%5B1%2C2%5D", ["knobs '[1,2]': a JSON object is required"]),
    ("broken user target", "/roofline" + q(targets=["broken"]), ["broken.toml"]),
]


@pytest.mark.parametrize(("case", "path", "want"), TRIGGERS, ids=[c for c, _, _ in TRIGGERS])
def test_bad_values_give_one_clear_message(tab: Tab, srv: Server, case: str, path: str, want: list[str]) -> None:
    seen = visit(tab, srv, path)
    for w in want:
        assert w in seen.toasts[0], (w, seen.toasts[0])
    assert_no_server_traceback(srv)


def test_rejected_batch_is_not_shown_while_another_is_evaluated(tab: Tab, srv: Server) -> None:
    page = tab.page
    visit(tab, srv, "/roofline" + q(knobs={"batch": 8}), n_toasts=0)
    flop8 = page.evaluate(CDS_MAX_FLOP)
    # a change the model refuses, made in the page: the widget goes back, the plot stays batch 8's
    page.locator(".knob-gemm_act_format select").select_option("int8")
    expect(page.locator(".notyf__message")).to_have_count(1, timeout=10_000)
    assert "needs a gemm_strategy" in toasts(page)[0] and "not applied" in toasts(page)[0]
    expect(page.locator(".knob-gemm_act_format select")).to_have_value("(as built)")
    page.wait_for_timeout(300)
    assert json.loads(query_of(page.url)["knobs"]) == {"batch": 8}
    assert page.evaluate(CDS_MAX_FLOP) == flop8
    for bad in (-1, 1e308):
        seen = visit(tab, srv, "/roofline" + q(knobs={"batch": bad}))
        assert "knob 'batch'" in seen.toasts[0] and "not applied" in seen.toasts[0]
        # the widget, the URL and the plot agree: batch 1 (the default, the last valid state)
        expect(page.locator(".knob-batch input")).to_have_value("1")
        assert json.loads(query_of(seen.url)["knobs"]) == {}
        # decode GEMM FLOPs scale with the batch: what is drawn is batch 1's
        assert page.evaluate(CDS_MAX_FLOP) == pytest.approx(flop8 / 8, rel=1e-9)
    shot(page, "batch-rejected")


CDS_MAX_FLOP = """() => Math.max(...[...Bokeh.documents[0].all_models]
   .filter(m => m.type === 'ColumnDataSource' && 'flop' in m.data).flatMap(m => Array.from(m.data.flop)))"""


def test_unknown_workload_gives_one_message_and_a_stable_url(tab: Tab, srv: Server) -> None:
    page = tab.page
    seen = visit(tab, srv, "/roofline?workload=nope")
    assert "workload 'nope': unknown" in seen.toasts[0]
    first = page.url
    page.wait_for_timeout(1000)  # a flipping URL raised dozens of notifications within a second
    assert page.url == first and query_of(first)["workload"] == "llama-2-7b"
    assert len(toasts(page)) == 1
    expect(page.locator(".w-workload select")).to_have_value("llama-2-7b")
    shot(page, "unknown-workload")


def test_grid_over_the_budget_is_refused_with_a_message(tab: Tab, srv: Server) -> None:
    page = tab.page
    visit(tab, srv, "/explore?axis1_n=10000&axis2_n=10000&axis3_n=10000", n_toasts=0)
    page.locator(".w-run button").click()
    expect(page.locator(".notyf__message")).to_have_count(1, timeout=15_000)
    msg = toasts(page)[0]
    assert "points: the dashboard sweeps at most 100,000,000 (models.dse.DEFAULT_MAX_POINTS)" in msg, msg
    expect(page.locator(".w-status")).to_contain_text("refused")
    shot(page, "grid-over-budget")
    assert_no_server_traceback(srv)


def test_an_unexpected_error_shows_only_an_id(tab: Tab, srv: Server) -> None:
    seen = visit(tab, srv, "/compare" + q(targets=["h200"]))
    m = re.search(r"internal error ([0-9a-f]{8}); the server log has the details", seen.toasts[0])
    assert m and "injected" not in seen.toasts[0], seen.toasts[0]
    # the server log has the id with the traceback and the exception's text
    log = srv.log.read_text()
    at = log.index(f"internal error {m.group(1)}")
    assert "Traceback" in log[at:at + 5000] and "injected fault" in log[at:at + 5000]
    shot(tab.page, "internal-error")
    # a page that cannot be built shows only the id too
    seen = visit(tab, srv, "/explore?seed=4242", n_toasts=0)
    m = re.search(r"This page could not be built: internal error ([0-9a-f]{8}); the server log has the details",
                  seen.text)
    assert m, seen.text[:2000]
    assert f"internal error {m.group(1)}" in srv.log.read_text()


def test_no_traceback_reached_the_server_log(srv: Server) -> None:
    assert_no_server_traceback(srv)
