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
