"""The notebooks in notebooks/: committed clean, thin, and runnable top to bottom.

Each notebook is executed with nbclient in the ``python3`` kernel (the venv's own, installed by
ipykernel) with its working directory in a temporary folder, so files a notebook writes (exports,
study databases) never land in the repository.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NB_DIR = Path(__file__).resolve().parents[2] / "notebooks"
NOTEBOOKS = sorted(NB_DIR.glob("*.ipynb"))
EXPECTED = [
    "01-targets-and-rooflines",
    "02-llm-inference-across-targets",
    "03-quantization-and-low-bit-gemm",
    "04-attention-tiling-and-softmax",
    "05-cnn-scaling-group-size-super-resolution",
    "06-search-and-pareto-export",
    "07-edge-and-microcontrollers",
    "08-sparsity-and-convolution-algorithms",
    "09-training-on-mcus",
    "10-multiplier-free-arithmetic",
    "11-systems-of-many-devices",
]
CELL_TIMEOUT_S = 120


def _ids(p: Path) -> str:
    return p.stem


def test_the_numbered_notebooks_exist() -> None:
    assert [p.stem for p in NOTEBOOKS] == EXPECTED


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_committed_without_outputs(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells)
             if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; "
                       "clear them before committing")
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    assert kernel == "python3", f"{path.name}: kernelspec {kernel!r}, must be 'python3'"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_thin_with_a_knobs_cell(path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    src = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
    # a notebook uses the public models API and, of the app, only the dashboard's page
    # components (app.dashboard: Roofline, Compare, Targets, Explore); no model classes
    assert re.search(r"^from models(\.\w+)* import ", src, flags=re.M), \
        f"{path.name}: imports nothing from models"
    for m in re.finditer(r"^\s*(from|import) app\b.*$", src, flags=re.M):
        assert re.fullmatch(r"\s*from app\.dashboard import (Roofline|Compare|Targets|Explore)"
                            r"(, (Roofline|Compare|Targets|Explore))*\s*", m.group(0)), \
            f"{path.name}: imports the app beyond the dashboard components: {m.group(0).strip()!r}"
    assert not re.search(r"^class ", src, flags=re.M), \
        f"{path.name}: defines a class (model code belongs in models/)"
    knobs = [c for c in nb.cells
             if c.cell_type == "code" and c.source.lstrip().startswith("# --- Knobs")]
    assert len(knobs) == 1, f"{path.name}: needs exactly one code cell starting with '# --- Knobs'"
    assert all(c.cell_type != "code" or c.source.strip() for c in nb.cells), \
        f"{path.name}: empty code cell"


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids)
def test_runs_top_to_bottom(path: Path, tmp_path: Path) -> None:
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=CELL_TIMEOUT_S, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}})
    client.execute()  # raises CellExecutionError naming the failing cell
    errors = [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    # the answer is printed: the last code cell that prints says "Answer"
    printed = "".join(o.get("text", "") for c in nb.cells for o in c.get("outputs", [])
                      if o.get("output_type") == "stream" and o.get("name") == "stdout")
    assert "Answer" in printed, f"{path.name}: no computed answer printed"
