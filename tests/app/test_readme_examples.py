"""Every `tradespace` command shown in the README's "What you can ask" block runs and exits 0
(in a temporary folder, in the order given, so the pareto/export lines read what sweep/search
wrote)."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from app.cli import main

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[list[str]]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## What you can ask\s+```bash\n(.*?)```", text, re.S)
    assert block, "README lost its 'What you can ask' block"
    lines, cur = [], ""
    for raw in block.group(1).splitlines():
        line = raw.split(" #")[0].rstrip()
        cur += " " + line.rstrip("\\").strip()
        if not line.endswith("\\"):
            if cur.strip():
                lines.append(cur.strip())
            cur = ""
    cmds = []
    for ln in lines:
        words = shlex.split(ln.replace("data/", f"{ROOT}/data/"))
        assert words[0] == ".venv/bin/tradespace", ln
        cmds.append(words[1:])
    return cmds


def test_readme_examples_run(tmp_path, capsys):
    cmds = readme_commands()
    assert len(cmds) >= 8
    old = os.getcwd()
    os.chdir(tmp_path)
    try:
        for argv in cmds:
            code = main(argv)
            out, err = capsys.readouterr()
            assert code == 0, (argv, err[-2000:])
    finally:
        os.chdir(old)
    assert (tmp_path / "front.html").exists() and (tmp_path / "validation.html").exists()
    # search writes every trial and the search's front apart; the sweep's front is not overwritten
    assert (tmp_path / "trials.csv").exists() and (tmp_path / "search-front.csv").exists()


OUTPUT_FLAGS = ("--out", "--front-out", "--report")


def _outputs(argv: list[str]) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv[:-1]) if a in OUTPUT_FLAGS]


def test_readme_examples_never_overwrite_each_others_files():
    """A line that writes a file a later line overwrites would show the reader the wrong file
    (the README once had `search --out front.csv` followed by `pareto ... --out front.csv`)."""
    text = (ROOT / "README.md").read_text()
    written: dict[str, str] = {}
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        for line in re.sub(r"\\\n\s*", " ", block).splitlines():
            words = shlex.split(line.split(" #")[0]) if line.strip().startswith(".venv/bin/tradespace") else []
            for path in _outputs(words):
                assert path not in written, f"{path!r} is written by both {written[path]!r} and {line.strip()!r}"
                written[path] = line.strip()
    assert {"trials.csv", "search-front.csv", "front.csv"} <= set(written)
