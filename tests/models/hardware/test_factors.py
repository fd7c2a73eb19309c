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


def test_a_broken_user_file_does_not_stop_the_table(tmp_path, monkeypatch):
    # a host.toml written by another version of the schema: the presets' table is still listed,
    # and a listing of every target still names the broken file
    import pytest

    from models.hardware.loader import TargetFileError
    from models.hardware.registry import load_all_targets

    (tmp_path / "host.toml").write_text('name = "host"\nbogus = 1\n')
    monkeypatch.setenv("TRADESPACE_USER_TARGETS", str(tmp_path))
    assert factor_table_markdown() == _table_without_user_folder(monkeypatch)
    with pytest.raises(TargetFileError, match="host.toml"):
        load_all_targets()


def _table_without_user_folder(monkeypatch) -> str:
    with monkeypatch.context() as m:
        m.delenv("TRADESPACE_USER_TARGETS")
        m.setenv("TRADESPACE_USER_TARGETS", "/nonexistent-user-targets")
        return factor_table_markdown()
