"""Fuzzing the three loaders of user files: target TOML, design-space TOML, Hugging Face config.json.

Each example starts from a real file of ``data/`` (parsed), applies a few structural mutations
(drop or add a key, a value of another type, NaN/inf/negative/huge numbers, strings where
numbers go, wrong nesting, deep nesting), writes it back (TOML or JSON), and may then damage the
bytes (invalid UTF-8, truncation). Every input must either load or raise the project's own error
type (:class:`TargetFileError`, :class:`SpaceError`, :class:`LLMConfigError`) whose message
names the file and a field; any other exception is a bug.
"""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import re
import tomllib
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from models.dse import SpaceError, load_space
from models.hardware import TargetFileError, load_target_file
from models.workloads import LLMConfigError, load_llm_config

ROOT = Path(__file__).resolve().parents[2]
TARGETS = sorted((ROOT / "data" / "targets").glob("*.toml"))
SPACES = sorted((ROOT / "data" / "spaces").glob("*.toml"))
CONFIGS = sorted((ROOT / "data" / "workloads").glob("*.json"))

# derandomized: the same inputs on every run; no shrinking phase (a failure prints every draw, and
# shrinking inputs this large takes minutes)
FUZZ = settings(max_examples=150, deadline=None, derandomize=True, report_multiple_bugs=False,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture,
                                       HealthCheck.data_too_large])

# what a mutated value may become: every kind of wrong value the issue lists
_BAD_VALUES: list[Any] = [
    math.nan, math.inf, -math.inf, -1, -1.5, 0, 0.5, 1.5, 10**400, 10**30, 1e308, -(10**400), True, False,
    "abc", "8", "", "\u202e\x00", [], [1, 2], [[[]]], {}, {"value": 1}, {"a": {"b": {"c": 1}}},
]


# ------------------------------------------------------------------------------ serialisers
def _toml_key(k: str) -> str:
    return json.dumps(k)


def _toml_value(v: Any) -> str:
    """An inline TOML value (nested tables inline, arrays of tables as arrays of inline tables)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, float):
        if math.isnan(v):
            return "nan"
        if math.isinf(v):
            return "inf" if v > 0 else "-inf"
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v)  # JSON string escapes are TOML basic-string escapes
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{_toml_key(k)} = {_toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(type(v))


def to_toml(doc: dict[str, Any]) -> str:
    return "".join(f"{_toml_key(k)} = {_toml_value(v)}\n" for k, v in doc.items())


# ------------------------------------------------------------------------------ mutations
def _containers(node: Any, path: tuple = ()) -> list[tuple]:
    """Paths of every dict and list inside ``node`` (the root included)."""
    out = []
    if isinstance(node, dict | list):
        out.append(path)
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            out += _containers(v, (*path, k))
    return out


def _at(node: Any, path: tuple) -> Any:
    for k in path:
        node = node[k]
    return node


def mutate(data: st.DataObject, doc: dict[str, Any], json_ok: bool) -> dict[str, Any]:
    """1 to 4 structural mutations of a copy of ``doc``."""
    doc = json.loads(json.dumps(doc))
    for _ in range(data.draw(st.integers(1, 4), label="n_mutations")):
        paths = _containers(doc)
        where = _at(doc, data.draw(st.sampled_from(paths), label="container"))
        keys = list(where) if isinstance(where, dict) else list(range(len(where)))
        op = data.draw(st.sampled_from(["drop", "add", "replace", "replace", "replace", "wrap", "deep"]), label="op")
        # a copy: the values are lists and tables that later mutations may change
        bad = copy.deepcopy(data.draw(st.sampled_from(_BAD_VALUES + ([None] if json_ok else [])), label="value"))
        if op == "add" or not keys:
            if isinstance(where, dict):
                where[data.draw(st.sampled_from(["extra", "value", "unit", "n_grid", "head_dim", "name"]))] = bad
            else:
                where.append(bad)
            continue
        k = data.draw(st.sampled_from(keys), label="key")
        if op == "drop":
            del where[k]
        elif op == "replace":
            where[k] = bad
        elif op == "wrap":
            where[k] = data.draw(st.sampled_from([[where[k]], {"value": where[k]}, {"x": where[k]}]))
        else:  # a number where a deeply nested structure goes, and the reverse
            where[k] = _deep(data.draw(st.sampled_from([5, 50, 300])))
    return doc


def _deep(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


def damage(data: st.DataObject, raw: bytes) -> bytes:
    """Maybe break the bytes: invalid UTF-8, truncation, or a document nested thousands deep."""
    op = data.draw(st.sampled_from(["none"] * 7 + ["utf8", "truncate", "nest"]), label="damage")
    if op == "utf8" and raw:
        i = data.draw(st.integers(0, len(raw) - 1), label="at")
        return raw[:i] + data.draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"])) + raw[i:]
    if op == "truncate" and raw:
        return raw[: data.draw(st.integers(0, len(raw) - 1), label="cut")]
    if op == "nest":
        deep = b"[" * 20000 + b"]" * 20000
        if raw.rstrip().endswith(b"}"):  # JSON: one more key of the object
            return raw.rstrip()[:-1] + b', "zz": ' + deep + b"}"
        return raw + b'\n"zz" = ' + deep + b"\n"
    return raw


def _check_message(exc: BaseException, path: Path, fields: set[str]) -> None:
    msg = str(exc)
    assert str(path) in msg, f"the message does not name the file: {msg}"
    named = {f for f in fields if re.search(rf"(?<![A-Za-z_]){re.escape(f)}(?![A-Za-z_])", msg)}
    assert named, f"the message names no field: {msg}"
    assert "Traceback" not in msg


def _keys(node: Any) -> set[str]:
    out: set[str] = set()
    if isinstance(node, dict):
        for k, v in node.items():
            out.add(str(k))
            out |= _keys(v)
    elif isinstance(node, list):
        for v in node:
            out |= _keys(v)
    return out


# what names "where" in a message besides a key of the document: TOML/JSON syntax errors name a
# line, encoding errors the encoding, loaders the file as a whole
_WHOLE_FILE = {"line", "UTF-8", "<file>", "<toml>", "JSON", "TOML", "object", "table"}


# ------------------------------------------------------------------------------ the tests
@FUZZ
@given(data=st.data())
def test_target_files_load_or_raise_target_file_error(tmp_path_factory: Any, data: st.DataObject) -> None:
    src = data.draw(st.sampled_from(TARGETS), label="file")
    doc = tomllib.loads(src.read_text(encoding="utf-8"))
    mutated = mutate(data, doc, json_ok=False)
    raw = damage(data, to_toml(mutated).encode("utf-8"))
    path = tmp_path_factory.mktemp("t") / src.name
    path.write_bytes(raw)
    try:
        load_target_file(path)
    except TargetFileError as exc:
        assert exc.field, str(exc)
        _check_message(exc, path, _keys(doc) | _keys(mutated) | _WHOLE_FILE | {"engines", "memories"})


@FUZZ
@given(data=st.data())
def test_space_files_load_or_raise_space_error(tmp_path_factory: Any, data: st.DataObject) -> None:
    src = data.draw(st.sampled_from(SPACES), label="file")
    doc = tomllib.loads(src.read_text(encoding="utf-8"))
    mutated = mutate(data, doc, json_ok=False)
    raw = damage(data, to_toml(mutated).encode("utf-8"))
    path = tmp_path_factory.mktemp("s") / src.name
    path.write_bytes(raw)
    try:
        load_space(path)
    except SpaceError as exc:
        fields = _keys(doc) | _keys(mutated) | _WHOLE_FILE | {"parameters", "objectives", "constraints", "parameter",
                                                              "objective", "constraint", "bounds", "values"}
        _check_message(exc, path, fields)


@FUZZ
@given(data=st.data())
def test_hf_configs_load_or_raise_llm_config_error(tmp_path_factory: Any, data: st.DataObject) -> None:
    src = data.draw(st.sampled_from(CONFIGS), label="file")
    doc = json.loads(src.read_text(encoding="utf-8"))
    mutated = mutate(data, doc, json_ok=True)
    text = json.dumps(mutated, allow_nan=True)
    raw = damage(data, text.encode("utf-8"))
    path = tmp_path_factory.mktemp("w") / "config.json"
    path.write_bytes(raw)
    try:
        load_llm_config(path)
    except LLMConfigError as exc:
        _check_message(exc, path, _keys(doc) | _keys(mutated) | _WHOLE_FILE)


@pytest.mark.parametrize("src", [TARGETS[0], SPACES[0], CONFIGS[0]], ids=["target", "space", "config"])
def test_the_unmutated_files_load_through_the_serialisers(tmp_path: Path, src: Path) -> None:
    """The fuzzers' writers are faithful: a file written back unchanged loads (else every
    mutation would only test a syntax error)."""
    if src.suffix == ".json":
        path = tmp_path / "config.json"
        path.write_text(json.dumps(json.loads(src.read_text())))
        # the same config, field for field (the name comes from the folder)
        assert dataclasses.replace(load_llm_config(path), name="") == dataclasses.replace(load_llm_config(src), name="")
        return
    path = tmp_path / src.name
    doc = tomllib.loads(src.read_text(encoding="utf-8"))
    path.write_text(to_toml(doc))
    assert tomllib.loads(path.read_text()) == doc
    if src.parent.name == "targets":
        assert load_target_file(path).name == doc["name"]
    else:
        assert load_space(path).name == doc["name"]
