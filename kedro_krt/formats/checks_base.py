"""What the checks of every KRT manifest format share: reading ``krt.yml`` with the line of
each field, the best-effort result, the shape checks of a pydantic schema in KRE's words and
order, and the walk over the parsed YAML.

A format's shape checks are a pydantic schema whose errors :func:`schema_problems` turns into
the rules of :mod:`kedro_krt.formats.rules`; its checks across fields add to the same
:class:`Report`, which sorts every problem in the order KRE reports them. Every check runs, so a
manifest with three faults gets three problems, never only the first.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import pydantic
import yaml

from kedro_krt.formats import rules
from kedro_krt.formats.problems import Problem
from kedro_krt.formats.rules import Rule

__all__ = [
    "ParsedManifest",
    "Report",
    "fields_present",
    "location",
    "read_lenient",
    "schema_problems",
    "shape",
    "short",
    "type_name",
]

M = TypeVar("M")


@dataclass(frozen=True)
class ParsedManifest(Generic[M]):
    """A best-effort reading of ``krt.yml``, for checks that go on after an error.

    ``manifest`` is ``None`` only when the text is not a YAML mapping; fields of the wrong
    type are left empty in it. ``node_paths[i]``/``workflow_paths[i]`` give the YAML path of
    ``manifest.nodes[i]``/``manifest.workflows[i]`` (entries that are not mappings are
    skipped, so indexes may differ). Never use this manifest for anything but more checks.
    """

    manifest: M | None
    problems: tuple[Problem, ...]
    node_paths: tuple[str, ...] = ()
    workflow_paths: tuple[str, ...] = ()
    marks: Mapping[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether no problem is an error."""
        return self.manifest is not None and all(p.severity != "error" for p in self.problems)

    def location(self, path: str) -> str:
        """The location string of a YAML path, with its line when known."""
        return location(self.marks, path)

    def strict(self) -> tuple[M | None, list[Problem]]:
        """The manifest only when no problem is an error, and every problem."""
        problems = list(self.problems)
        if any(p.severity == "error" for p in problems):
            return None, problems
        return self.manifest, problems


def location(marks: Mapping[str, int], path: str) -> str:
    """``krt.yml:<line> <path>``: where a YAML path is, with its line when known."""
    line = marks.get(path)
    if not path:
        return f"krt.yml:{line}" if line else "krt.yml"
    return f"krt.yml:{line} {path}" if line else f"krt.yml {path}"


P = TypeVar("P", bound=ParsedManifest[Any])


def read_lenient(
    text: str, check: Callable[[Any, Mapping[str, int]], P], what: str, parsed: type[P]
) -> P:
    """Read krt.yml text with the line of each YAML path, and run `check` (v1's or v2's) on it;
    a text that is not YAML, or empty, is one problem (`what` says what to write)."""
    try:
        loader = yaml.SafeLoader(text)  # reads the text: a character YAML forbids fails here
    except yaml.YAMLError as exc:
        return parsed(None, (rules.YAML_SYNTAX.at("krt.yml", error=exc),))
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        return parsed(None, (_yaml_problem(exc),))
    except yaml.YAMLError as exc:
        return parsed(None, (rules.YAML_SYNTAX.at("krt.yml", error=exc),))
    finally:
        loader.dispose()
    if node is None:
        return parsed(None, (rules.YAML_EMPTY.at("krt.yml", what=what),))
    marks: dict[str, int] = {}
    problems = _collect_marks(node, "", marks)
    checked = check(data, marks)
    return parsed(
        checked.manifest,
        tuple(problems) + checked.problems,
        checked.node_paths,
        checked.workflow_paths,
        marks,
    )


def _yaml_problem(exc: yaml.MarkedYAMLError) -> Problem:
    mark = exc.problem_mark or exc.context_mark
    where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
    what = " ".join(part for part in (exc.context, exc.problem) if part)
    location = f"krt.yml:{mark.line + 1}" if mark else "krt.yml"
    return rules.YAML_SYNTAX_AT.at(location, where=where, what=what)


def _collect_marks(
    node: yaml.Node, path: str, marks: dict[str, int], seen_nodes: set[int] | None = None
) -> list[Problem]:
    """Record the line of every field path, and report keys written twice in one mapping."""
    problems: list[Problem] = []
    # An alias shares its node: walking it again would recurse forever on a self-reference
    # and take exponential time on "billion laughs" YAML. The first occurrence is enough.
    seen_nodes = set() if seen_nodes is None else seen_nodes
    if id(node) in seen_nodes:
        return problems
    seen_nodes.add(id(node))
    marks.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(key_node.value)
            child = f"{path}.{key}" if path else key
            line = key_node.start_mark.line + 1
            if key in seen:
                where = f"krt.yml:{line} {child}"
                problems.append(rules.DUPLICATE_KEY.at(where, key=key, first=seen[key]))
            seen[key] = line
            marks[child] = line
            problems += _collect_marks(value_node, child, marks, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _collect_marks(item, f"{path}[{index}]", marks, seen_nodes)
    return problems


def shape(path: str) -> str:
    """``nodes[3].name`` -> ``nodes[].name``: the path with its indexes removed."""
    return re.sub(r"\[\d+\]", "[]", path)


def short(value: object, limit: int = 60) -> str:
    """``str(value)`` cut to ``limit`` characters, so a huge value cannot flood a message."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def type_name(value: object) -> str:
    if value is None:
        return "nothing"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return f"the boolean {value!r}"
    if isinstance(value, (int, float)):
        return f"the number {value!r}"
    return f"{type(value).__name__} {short(repr(value))}"


# -- the shape checks of a pydantic schema, in KRE's words and order ----------------------------


def yaml_path(loc: Sequence[Any]) -> str:
    """``("nodes", 0, "name")`` -> ``nodes[0].name``."""
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _loc(path: str) -> tuple[str | int, ...]:
    """``nodes[0].name`` -> ``("nodes", 0, "name")``."""
    return tuple(
        int(part[1:-1]) if part.startswith("[") else part
        for part in re.findall(r"\[\d+\]|[^.\[\]]+", path)
    )


def _model_at(model: Any, part: str) -> Any:
    """The schema class of field `part` of `model` (through ``tuple[X, ...]``), or None."""
    info = model.model_fields.get(part) if _is_model(model) else None
    if info is None:
        return None
    tp = info.annotation
    if getattr(tp, "__origin__", None) is tuple:
        tp = tp.__args__[0]
    # `X | None`: the schema class X.
    tp = next((arg for arg in getattr(tp, "__args__", ()) if _is_model(arg)), tp)
    return tp if _is_model(tp) else None


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


def prepare(model: Any, data: Any) -> Any:
    """`data` as the schema should see it: a known key written but left empty (``gpu:``) is
    left out, so it takes its default or is reported missing, as KRE reads it; a key that YAML
    read as a number or a boolean is text (``true:`` is the unknown key "True")."""
    if not (_is_model(model) and isinstance(data, Mapping)):
        return data
    out: dict[str, Any] = {}
    for key, value in ((str(k), v) for k, v in data.items()):
        if key in model.model_fields and value is None:
            continue
        child = _model_at(model, key)
        if child is not None and isinstance(value, list):
            value = [prepare(child, item) for item in value]
        elif child is not None:
            value = prepare(child, value)
        out[key] = value
    return out


class Report:
    """The problems of one manifest, each with the YAML path it is about, sorted at the end in
    the order KRE reports them (:meth:`problems`).

    Problems of phase 0 (the walk of the fields) are sorted by where they are; a problem added in
    a later ``phase`` comes after every problem of the earlier ones, in the order reported (the
    checks across the whole manifest run after the walk of its fields).
    """

    def __init__(self, marks: Mapping[str, int]) -> None:
        self.marks = marks
        self.phase = 0
        self._found: list[tuple[int, str, Problem]] = []

    def add(self, path: str, rule: Rule, /, order: str = "", **values: Any) -> None:
        """Report `rule` at YAML path `path`, its template filled with `values` (and ``path``);
        sorted as if at YAML path `order` when given (KRE reports it with another field)."""
        values.setdefault("path", path)
        problem = rule.at(location(self.marks, path), **values)
        self._found.append((self.phase, order or path, problem))

    def problems(self, model: Any, data: Any) -> tuple[Problem, ...]:
        """Every problem: by phase, then by where it is in the schema of `model`, as KRE walks it
        (a mapping's unknown keys first, in the order written, then its fields in the schema's
        order, then each list item in turn); the same place keeps the order of reporting."""

        def key(entry: tuple[int, str, Problem]) -> list[tuple[int, ...]]:
            parts: list[tuple[int, ...]] = []
            current_model, current_data = model, data
            loc = _loc(entry[1])
            for depth, part in enumerate(loc):
                if isinstance(part, int):
                    # A list's items are first each checked as an item (a mapping with known
                    # keys, a string), then each one's content, in turn.
                    rest = loc[depth + 1 :]
                    item_model = current_model
                    as_item = (not rest and entry[2].rule == rules.NOT_A_MAPPING.id) or (
                        len(rest) == 1
                        and not (_is_model(item_model) and rest[0] in item_model.model_fields)
                    )
                    parts.append((2, 0 if as_item else 1, part))
                    current_data = (
                        current_data[part]
                        if isinstance(current_data, list) and part < len(current_data)
                        else None
                    )
                    continue
                fields = list(current_model.model_fields) if _is_model(current_model) else []
                if part in fields:
                    parts.append((1, fields.index(part), 0))
                else:
                    keys = list(current_data) if isinstance(current_data, Mapping) else []
                    parts.append((0, keys.index(part) if part in keys else len(keys), 0))
                current_data = (
                    current_data.get(part) if isinstance(current_data, Mapping) else None
                )
                current_model = _model_at(current_model, part)
            return parts

        walk = sorted((e for e in self._found if e[0] == 0), key=key)
        later = sorted((e for e in self._found if e[0] > 0), key=lambda e: e[0])
        return tuple(p for _, _, p in walk + later)


#: What a rule's template is filled with for a pydantic error: (rule, path, value found, the
#: schema class owning the field) -> (the rule to report, after a closer look, and its values).
Refine = Callable[[Rule, str, Any, Any], tuple[Rule, dict[str, object]]]


def schema_problems(
    model: Any,
    data: Any,
    report: Report,
    shape_rules: Mapping[tuple[str, str], Rule],
    refine: Refine,
) -> Any | None:
    """Validate `data` with the pydantic `model` and report each error as the rule
    ``shape_rules[(error type, path shape)]`` (or ``(error type, "*")``) names; the model,
    or None when there is an error."""
    try:
        return model.model_validate(data)
    except pydantic.ValidationError as exc:
        errors = exc.errors(include_url=False, include_context=False)
    for err in errors:
        loc = tuple(err["loc"])
        path = yaml_path(loc)
        kind = err["type"]
        if kind == "too_short" and err.get("input"):
            continue  # pydantic measures a list after its items: every item failed, not empty
        rule = shape_rules.get((kind, shape(path))) or shape_rules.get((kind, "*"))
        owner: Any = model
        for part in loc[:-1]:
            owner = owner if isinstance(part, int) else _model_at(owner, str(part))
        value = err.get("input")
        values: dict[str, object] = {"found": type_name(value), "message": err["msg"]}
        if rule is None:
            rule = rules.SCHEMA_OTHER
        elif rule is rules.UNKNOWN_KEY:
            values.update(_unknown_key(owner, loc))
        rule, more = refine(rule, path, value, owner)
        merged: dict[str, Any] = {**values, **more}
        report.add(path, rule, **merged)
    return None


def _unknown_key(owner: Any, loc: tuple[Any, ...]) -> dict[str, object]:
    known = [
        info.alias or name for name, info in owner.model_fields.items()
    ] if _is_model(owner) else []
    key = str(loc[-1])
    parent = yaml_path(loc[:-1])
    close = difflib.get_close_matches(key.lower(), known, n=1, cutoff=0.6)
    return {
        "key": key,
        "where": f' at "{parent}"' if parent else " at the top level",
        "hint": f'did you mean "{close[0]}"? ' if close else "",
        "known": ", ".join(known),
    }


def fields_present(model: Any, data: Any, path: str = "") -> Iterator[tuple[str, Any, Any]]:
    """(YAML path, pydantic field info, value) of every field of `model` written in `data`,
    through nested schemas and lists of them (for checks pydantic cannot make, as warnings)."""
    if not (_is_model(model) and isinstance(data, Mapping)):
        return
    for name, info in model.model_fields.items():
        if name not in data:
            continue
        value = data[name]
        child_path = f"{path}.{name}" if path else name
        yield child_path, info, value
        child = _model_at(model, name)
        if child is None:
            continue
        if isinstance(value, list):
            for index, item in enumerate(value):
                yield from fields_present(child, item, f"{child_path}[{index}]")
        else:
            yield from fields_present(child, value, child_path)
