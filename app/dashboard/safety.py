"""Checks at the dashboard boundary: what a URL or a widget may ask for, and what a page may show.

Everything a browser sends (URL query values, widget values) is untrusted. This module, which
imports neither Panel nor HoloViews, holds the checks the page states and views share:

- :func:`check_target_name` and :func:`check_workload_name` accept only names of the registries
  (built-in presets, targets saved on the Targets page, registered workloads): never a server path
  and never a probe of whether a file exists;
- :func:`check_knobs` checks a knob dict from a URL against the knob declarations;
- :func:`query_values` reads a URL query into typed parameter values, one clear message per bad
  value;
- :func:`error_message` turns an exception into what the browser may see: the message of an
  expected error (a ``ValueError`` or ``KeyError`` of bad input) with any absolute path cut to
  its last component, or ``internal error <id>`` for anything else, logged here with its
  traceback under that id;
- :func:`html_text` and :func:`markdown_text` make a string inert in an HTML or Markdown pane.
"""

from __future__ import annotations

import difflib
import html
import json
import logging
import math
import re
import secrets
import urllib.parse
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import param

__all__ = [
    "InputError",
    "MAX_QUERY_VALUE_CHARS",
    "check_knobs",
    "check_target_name",
    "check_targets",
    "check_workload_name",
    "error_message",
    "html_text",
    "internal_error",
    "logger",
    "markdown_text",
    "query_string",
    "query_values",
    "shown",
    "strip_paths",
]

logger = logging.getLogger("app.dashboard")

# A URL value longer than this is refused before it is parsed: the longest legitimate one (a knob
# dict) is a few hundred characters, and JSON parsing of a megabyte-long value costs CPU for nothing.
MAX_QUERY_VALUE_CHARS = 4000
# Values are quoted in messages up to this length (a long payload would hide the message).
_SHOWN_CHARS = 60
# An absolute path (POSIX, home-relative or Windows) of at least two components, not preceded by
# a word character or a dot, so that units such as "GB/s" or "J/item" are left alone.
_ABS_PATH = re.compile(r"""(?<![\w.])(?:~|[A-Za-z]:)?(?:[/\\][^\s'"`<>/\\|,;:()\[\]{}]+){2,}[/\\]?""")
_WORKLOAD_EXAMPLES = ("llama-2-7b", "gpt2", "mixtral-8x7b", "resnet-50", "mobilenet-v2", "vit-b16", "ds-cnn", "gemm")
_KNOB_NAME = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
_ELLIPSIS = "\u2026"


class InputError(ValueError):
    """A value from a browser that the dashboard does not accept; the message says what is allowed."""


# ---------------------------------------------------------------------------------- showing
def strip_paths(text: str) -> str:
    """``text`` with every absolute path cut to its last component (``/srv/x/a.toml`` -> ``…/a.toml``)."""

    def last(m: re.Match[str]) -> str:
        parts = [p for p in re.split(r"[/\\]", m.group(0)) if p]
        return f"{_ELLIPSIS}/{parts[-1]}" if parts else _ELLIPSIS

    return _ABS_PATH.sub(last, text)


_PATH_START = re.compile(r"^(?:~|\.{1,2})?[/\\]|^[A-Za-z]:[/\\]")


def _looks_like_path(text: str) -> bool:
    """Written like a file path (for the message only: a registry name is never one, and what is
    not a registry name is refused without a look at the file system)."""
    return bool(_PATH_START.match(text)) or text in (".", "..") or text.endswith((".toml", ".json"))


def shown(value: Any) -> str:
    """A short, quoted form of a received value for messages, without any server path.

    A string that starts like a path (``/``, ``~/``, ``../``, ``C:\\``) is shown by its last
    component only; a long value is cut.
    """
    if isinstance(value, str):
        text = value
        if _PATH_START.match(text):
            parts = [p for p in re.split(r"[/\\]", text) if p]
            text = f"{_ELLIPSIS}/{parts[-1]}" if parts else text
    else:
        try:
            text = json.dumps(value)
        except (TypeError, ValueError, RecursionError):
            text = type(value).__name__
    if len(text) > _SHOWN_CHARS:
        text = text[:_SHOWN_CHARS] + _ELLIPSIS
    return repr(text) if isinstance(value, str) else text


def html_text(text: str) -> str:
    """``text`` escaped for an HTML context (a notification, an HTML pane): it renders as itself."""
    return html.escape(str(text), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def markdown_text(text: str) -> str:
    """``text`` escaped for a Markdown pane: HTML escaped, Markdown punctuation backslashed."""
    return _MD_SPECIAL.sub(r"\\\1", html_text(text))


def internal_error(exc: BaseException) -> str:
    """Log ``exc`` with its traceback under a short random id; the message the browser may show."""
    ident = secrets.token_hex(4)
    logger.exception("internal error %s in the dashboard", ident, exc_info=exc)
    return f"internal error {ident}; the server log has the details"


def error_message(exc: BaseException) -> str:
    """What the browser is told about ``exc``.

    A ``ValueError`` or ``KeyError`` is an expected error of bad input: its message is shown,
    absolute paths cut to their last component. Anything else is unexpected: it is logged
    server-side with a traceback and an id (:func:`internal_error`), and only the id is shown.
    """
    if isinstance(exc, KeyError | ValueError):
        msg = exc.args[0] if isinstance(exc, KeyError) and exc.args else str(exc)
        return strip_paths(str(msg)) or type(exc).__name__
    return internal_error(exc)


# ---------------------------------------------------------------------------------- names
def _listing(names: Iterable[str]) -> str:
    return ", ".join(names)


_TARGETS_HINT = "a preset name or a target saved on the Targets page"


def _target_problem(name: Any, allowed: Sequence[str]) -> str | None:
    """Why ``name`` is not a target the dashboard opens (None when it is one)."""
    if not isinstance(name, str) or not name.strip():
        return f"target {shown(name)}: a target name is required"
    if _looks_like_path(name):
        return f"target {shown(name)}: file paths are not accepted"
    if name not in allowed:
        close = difflib.get_close_matches(name, allowed, n=1)
        return f"target {shown(name)}: unknown" + (f" (did you mean {close[0]!r}?)" if close else "")
    return None


def check_target_name(name: Any) -> str:
    """``name`` if it names a target the registry lists (a preset or a saved copy), else InputError.

    File paths are refused without looking at the file system: a link must not tell whether a
    server file exists, let alone show what it holds.
    """
    from models.hardware import available_targets

    allowed = available_targets()
    why = _target_problem(name, allowed)
    if why is not None:
        raise InputError(f"{why}; allowed: {_TARGETS_HINT}: {_listing(allowed)}")
    return name


def check_targets(names: Any) -> list[str]:
    """A list of distinct target names, each checked as by :func:`check_target_name`; every bad
    one is named in the one message."""
    from models.hardware import available_targets

    if not isinstance(names, list | tuple):
        raise InputError(f"targets {shown(names)}: a list of target names is required, e.g. [\"h100-sxm\"]")
    if not names:
        raise InputError("targets: got an empty selection; pick at least one target")
    allowed = available_targets()
    problems: list[str] = []
    out: list[str] = []
    for n in names:
        why = _target_problem(n, allowed)
        if why is not None:
            problems.append(why)
        elif n in out:
            problems.append(f"target {n!r}: listed twice; list each target once")
        else:
            out.append(n)
    if problems:
        raise InputError("; ".join(dict.fromkeys(problems)) + f"; allowed: {_TARGETS_HINT}: {_listing(allowed)}")
    return out


def check_workload_name(name: Any) -> str:
    """``name`` if it is a registered workload, else InputError (never a path, never a file read)."""
    from models.workloads import available_workloads

    allowed = available_workloads()
    if not isinstance(name, str) or name not in allowed:
        what = " (file paths are not accepted)" if isinstance(name, str) and _looks_like_path(name) else ""
        close = difflib.get_close_matches(name, allowed, n=1) if isinstance(name, str) and not what else []
        did = f" (did you mean {close[0]!r}?)" if close else ""
        # 40-odd names would fill the screen: a few, and where the full list is
        some = [w for w in _WORKLOAD_EXAMPLES if w in allowed]
        raise InputError(f"workload {shown(name)}: unknown{what}{did}; allowed: one of the {len(allowed)} "
                         f"names of the workload menu, such as {_listing(some)} (`tradespace workloads` lists "
                         "them with their knobs)")
    return name


# ---------------------------------------------------------------------------------- knobs
def _scalar_problem(value: Any) -> str | None:
    """Why ``value`` cannot be a knob value (None when it is a plain scalar)."""
    if isinstance(value, bool | str) or value is None:
        return None
    if isinstance(value, int):
        try:
            float(value)
        except OverflowError:
            return "a finite number is required"
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else "a finite number is required"
    return "one value is required (a number, a name, true or false)"


def check_knobs(workload: str, knobs: Any, declarations: Sequence[Any]) -> dict[str, Any]:
    """``knobs`` checked against the knob ``declarations`` of ``workload`` (its own knobs without
    ``phase``, and the algorithm knobs that apply to it).

    Returns the checked values (SI, integers as int); a ``None`` value means "not set" and is
    dropped. Raises InputError naming the knob, the value received and what is allowed.
    """
    if not isinstance(knobs, Mapping):
        raise InputError(f"knobs {shown(knobs)}: a JSON object of knob values is required, e.g. {{\"batch\": 8}}")
    by_name = {d.name: d for d in declarations}
    out: dict[str, Any] = {}
    problems: list[str] = []
    for name, value in knobs.items():
        if name == "phase":
            problems.append("knob 'phase': set it with the phase selector (URL parameter phase), not in knobs")
            continue
        if not isinstance(name, str) or not _KNOB_NAME.match(name) or name not in by_name:
            close = difflib.get_close_matches(name, list(by_name), n=1) if isinstance(name, str) else []
            did = f" (did you mean {close[0]!r}?)" if close else ""
            problems.append(f"knob {shown(name)}: unknown for workload {workload!r}{did}; allowed: "
                            f"{_listing(by_name) or 'none'}")
            continue
        decl = by_name[name]
        if value is None:
            continue
        why = _scalar_problem(value)
        if why is not None:
            problems.append(f"knob {name!r}: got {shown(value)}; {why}; {decl.allowed()}")
            continue
        try:
            out[name] = decl.check(value)
        except ValueError as exc:  # ParamError: names the knob, the value and the range
            problems.append(str(exc))
    if problems:
        raise InputError("; ".join(problems))
    return out


# ---------------------------------------------------------------------------------- URL query
def _selector_choices(p: param.Parameter) -> list[Any]:
    objs = p.objects
    return list(objs.values() if isinstance(objs, dict) else objs)


def _convert(p: param.Parameter, key: str, text: str) -> Any:
    """One query value as the type of parameter ``p`` (InputError naming ``key`` otherwise)."""
    if len(text) > MAX_QUERY_VALUE_CHARS:
        raise InputError(f"URL parameter {key}: a value of {len(text)} characters; at most "
                         f"{MAX_QUERY_VALUE_CHARS} are read")
    if isinstance(p, param.Selector):
        choices = _selector_choices(p)
        for c in choices:
            if str(c) == text:
                return c
        raise InputError(f"{key} {shown(text)}: allowed: {_listing(str(c) for c in choices)}")
    if isinstance(p, param.Boolean):
        low = text.strip().lower()
        if low in ("true", "1", "yes", "on"):
            return True
        if low in ("false", "0", "no", "off"):
            return False
        raise InputError(f"{key} {shown(text)}: allowed: true, false")
    if isinstance(p, param.Integer):
        try:
            v = int(text.strip())
        except ValueError:
            raise InputError(f"{key} {shown(text)}: an integer is required") from None
        lo, hi = p.bounds or (None, None)
        if (lo is not None and v < lo) or (hi is not None and v > hi):
            raise InputError(f"{key} {shown(text)}: allowed: [{'-inf' if lo is None else lo}, "
                             f"{'inf' if hi is None else hi}]")
        return v
    if isinstance(p, param.Number):
        try:
            x = float(text.strip())
        except ValueError:
            raise InputError(f"{key} {shown(text)}: a number is required") from None
        if not math.isfinite(x):
            raise InputError(f"{key} {shown(text)}: a finite number is required")
        return x
    if isinstance(p, param.List | param.Dict):
        want = "list" if isinstance(p, param.List) else "object"
        example = '["h100-sxm", "a100-80gb"]' if want == "list" else '{"batch": 8}'
        stripped = text.strip()
        if want == "list" and not stripped.startswith("["):
            return [stripped]  # one name without brackets
        try:
            v = json.loads(stripped)
        except RecursionError:
            raise InputError(f"{key}: the JSON value is nested too deeply; a flat JSON {want} is required, "
                             f"e.g. {example}") from None
        except ValueError:
            raise InputError(f"{key} {shown(text)}: not valid JSON; a JSON {want} is required, e.g. {example}") \
                from None
        if not isinstance(v, list if want == "list" else dict):
            raise InputError(f"{key} {shown(text)}: a JSON {want} is required, e.g. {example}")
        if want == "list" and not all(isinstance(x, str) for x in v):
            raise InputError(f"{key} {shown(text)}: a list of names (strings) is required, e.g. {example}")
        return v
    return text


def query_values(obj: param.Parameterized, mapping: Mapping[str, str], search: str
                 ) -> tuple[dict[str, Any], list[str]]:
    """The values of ``obj``'s parameters that the URL query ``search`` sets, and the messages
    of the values it could not read.

    ``mapping`` maps parameter names to query keys; other keys are ignored. Only the type is
    checked here (a number, a JSON list...); names and knob values are checked by the state.
    """
    inverse = {k: n for n, k in mapping.items()}
    values: dict[str, Any] = {}
    errors: list[str] = []
    for key, text in urllib.parse.parse_qsl(search.lstrip("?"), keep_blank_values=True):
        name = inverse.get(key)
        if name is None:
            continue
        try:
            values[name] = _convert(obj.param[name], key, text)
        except InputError as exc:
            values.pop(name, None)
            errors.append(str(exc))
    return values, errors


def _serialize(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple | dict):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def query_string(obj: param.Parameterized, mapping: Mapping[str, str]) -> str:
    """``?key=value&...`` of ``obj``'s current parameter values (the state the page shows)."""
    pairs = [(key, _serialize(getattr(obj, name))) for name, key in mapping.items()]
    return "?" + urllib.parse.urlencode(pairs, quote_via=urllib.parse.quote)
