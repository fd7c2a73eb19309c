"""Every efficiency factor of every preset is listed, with its source, in docs/models.md."""

from __future__ import annotations

from pathlib import Path

from models.hardware.factors import factor_rows, factor_table_markdown

DOCS = Path(__file__).resolve().parents[3] / "docs" / "models.md"


def test_docs_factor_table_is_current():
    text = DOCS.read_text()
    assert factor_table_markdown() in text, "run: .venv/bin/python scripts/update_docs.py"


def test_every_factor_has_a_source_and_a_sane_value():
    rows = factor_rows()
    assert len(rows) > 20
    for target, path, value, source in rows:
        assert source and len(source) > 10, (target, path)
        assert value > 0, (target, path)
        if path.endswith("efficiency") or ".efficiency_by_kind." in path:
            assert value <= 1.0, (target, path, value)


def test_user_targets_stay_out_of_the_docs_table(tmp_path, monkeypatch):
    # a calibrated host target in the user's folder differs per machine: the docs list the presets
    from models.hardware.registry import TARGETS_DIR

    text = (TARGETS_DIR / "jetson-orin-cpu.toml").read_text()
    (tmp_path / "my-orin.toml").write_text(text.replace('name = "jetson-orin-cpu"', 'name = "my-orin"', 1))
    monkeypatch.setenv("TRADESPACE_TARGETS_PATH", str(tmp_path))
    assert "my-orin" not in {r[0] for r in factor_rows()}
    assert "jetson-orin-cpu" in {r[0] for r in factor_rows()}
