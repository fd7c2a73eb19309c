"""Packaging: environment.yml lists the same dependencies as pyproject.toml (conda is not
available here, so this is the check that the two agree), and the README keeps its two
newcomer commands pointing at scripts that exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _name(req: str) -> str:
    return re.split(r"[<>=!~;\[ ]", req.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _env_deps() -> dict[str, str]:
    deps = {}
    text = (ROOT / "environment.yml").read_text()
    for line in text.split("\ndependencies:", 1)[1].splitlines():
        m = re.match(r"^\s+-\s+([A-Za-z0-9_.\-]+)(.*)$", line)
        if m and m.group(1) not in ("python", "pip"):
            deps[m.group(1).lower()] = m.group(2).strip()
    return deps


def test_environment_yml_matches_pyproject():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    reqs = py["project"]["dependencies"] + py["dependency-groups"]["dev"]
    want = {_name(r): r[len(_name(r)):].strip() for r in reqs}
    for r in py["project"]["optional-dependencies"]["cluster"]:
        # "dask[distributed]>=V" is conda-forge's dask>=V and distributed>=V
        m = re.fullmatch(r"([A-Za-z0-9_.\-]+)\[([A-Za-z0-9_,\-]+)\](.*)", r.strip())
        names, spec = ([m.group(1), *m.group(2).split(",")], m.group(3).strip()) if m else ([_name(r)], "")
        for n in names:
            want[n.lower()] = spec or r[len(_name(r)):].strip()
    for r in py["project"]["optional-dependencies"]["measure"]:
        # conda-forge's name of a PyPI package, where they differ
        n = {"torch": "pytorch"}.get(_name(r), _name(r))
        want[n] = r[len(_name(r)):].strip()
    have = _env_deps()
    assert set(have) == set(want), (set(have) ^ set(want))
    for name, spec in want.items():
        assert have[name] == spec, f"{name}: environment.yml {have[name]!r} vs pyproject {spec!r}"


def test_python_version_agrees():
    py = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert py["project"]["requires-python"] == ">=3.11"
    assert "python>=3.11" in (ROOT / "environment.yml").read_text()


def test_readme_two_commands_exist():
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Two commands.*?```bash\n(.*?)```", text, re.S)
    assert block, "README lost its 'Two commands' block"
    cmds = [ln.split("#")[0].strip() for ln in block.group(1).splitlines() if ln.strip()]
    assert cmds == ["bash scripts/run.sh", "bash scripts/test.sh"]
    for c in cmds:
        assert (ROOT / c.split()[1]).is_file()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "bash scripts/test.sh" in ci
