"""The schema machinery of our YAML files (krt.yml, krt-build.yml), through pydantic.

A file's schema is a tree of frozen pydantic dataclasses whose fields carry their documentation
(:func:`doc`). From that one source come:

- the checks (:func:`parse`): pydantic validates; we only turn its errors into one message per
  file, in the user's terms (``'workflows[0].grouping' is 'namespaces'; expected one of ...``),
  and name the closest known key of an unknown one, because KRE itself silently ignores typos and
  a typo in a deployment config must never pass;
- the JSON Schema for editors (:func:`json_schema`, served by the YAML language server);
- the reference tables of the docs and the commented templates (:func:`describe`), read from that
  same JSON Schema, so the three can never disagree.

Two conveniences of the YAML files stay ours: a key written but left empty (``inputs:``) takes its
default, and one name where a list is expected is a list of one.
"""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import MISSING, fields, is_dataclass
from typing import Any, TypeVar, get_args, get_origin

import pydantic
from pydantic import ConfigDict, TypeAdapter, ValidationError
from typing_extensions import dataclass_transform

T = TypeVar("T")

#: The pydantic settings of every schema class: unknown keys are errors, and a number where text
#: is expected is text (YAML reads `version: 1.0` as a float). Otherwise pydantic's lax mode: a
#: quoted "3" is a number, but no bool is ever a number where the field says `StrictFloat`.
SCHEMA_CONFIG = ConfigDict(extra="forbid", coerce_numbers_to_str=True)


#: The JSON Schema keyword that names what the keys of a mapping field are (``node``): the
#: reference shows ``object_store.<node>.name``. Editors ignore keywords they do not know.
KEY_NAME = "x-key-name"


def doc(
    text: str, default: Any = MISSING, default_factory: Any = MISSING, key: str | None = None
) -> Any:
    """A field with its documentation; required when it has neither default. ``key`` names
    what the keys of a mapping field are, for the reference (else the field's name, singular)."""
    if default_factory is not MISSING:
        shown = default_factory()  # an empty container: shown as the default in the schema
        extra: dict[str, Any] = {"default": list(shown) if isinstance(shown, tuple) else shown}
        if key:
            extra[KEY_NAME] = key
        return pydantic.Field(
            default_factory=default_factory, description=text, json_schema_extra=extra
        )
    if default is MISSING:
        return pydantic.Field(description=text)
    return pydantic.Field(default=default, description=text)


@dataclass_transform(frozen_default=True)
def schema_class(cls: type[T]) -> type[T]:
    """Make `cls` a frozen pydantic dataclass of a config file's schema.

    Type checkers see a frozen dataclass; to them every `doc(...)` is a default, so a missing
    required key is caught when the file is read, with its message.
    """
    return pydantic.dataclasses.dataclass(frozen=True, config=SCHEMA_CONFIG)(cls)  # type: ignore[return-value]


def _unwrap_optional(tp: Any) -> Any:
    args = get_args(tp)
    if get_origin(tp) in (typing.Union, types.UnionType) and type(None) in args:
        return next(a for a in args if a is not type(None))
    return tp


def _prepare(cls: Any, data: Any, where: str, raw_check: RawCheck | None) -> Any:
    """Data as pydantic should see it: empty keys dropped, one name made a list of one."""
    if not is_dataclass(cls) or not isinstance(data, Mapping):
        return data
    if raw_check is not None:
        raw_check(cls, data, where)
    hints = typing.get_type_hints(cls)
    out: dict[Any, Any] = {}
    for key, value in data.items():
        if key not in hints:
            out[key] = value  # pydantic reports it, with our suggestion
            continue
        if value is None:
            continue  # `key:` left empty takes the default (a required key stays missing)
        tp = _unwrap_optional(hints[key])
        path = f"{where}.{key}" if where else str(key)
        origin = get_origin(tp)
        if origin is tuple:
            item = get_args(tp)[0]
            if isinstance(value, str):
                value = [value]
            if isinstance(value, list):
                value = [_prepare(item, v, f"{path}[{i}]", raw_check) for i, v in enumerate(value)]
        elif origin is dict and isinstance(value, Mapping):
            item = get_args(tp)[1]
            value = {k: _prepare(item, v, f"{path}.{k}", raw_check) for k, v in value.items()}
        else:
            value = _prepare(tp, value, path, raw_check)
        out[key] = value
    return out


#: A check of a class's raw mapping before validation: (class, data, where) -> raises.
RawCheck = Callable[[Any, Mapping[str, Any], str], None]


def parse(
    cls: type[T],
    data: Any,
    *,
    file: str,
    error: type[Exception],
    raw_check: RawCheck | None = None,
) -> T:
    """Validate plain data (as loaded from YAML) into `cls`.

    Raises:
        error: one message that names `file`, and for each problem where it is and what to change.
    """
    if not isinstance(data, Mapping):
        raise error(f"{file}: expected a mapping at the top level, found {_kind(data)}.")
    prepared = _prepare(cls, data, "", raw_check)
    try:
        return TypeAdapter(cls).validate_python(prepared)
    except ValidationError as exc:
        problems = _problems(cls, exc)
        raise error(f"{file}: " + "; ".join(problems)) from None


_KINDS: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _path(loc: tuple[Any, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text


def _type_at(cls: Any, loc: tuple[Any, ...]) -> Any:
    """The schema type found at `loc` (a dataclass, a tuple, a dict...), or None."""
    tp: Any = cls
    for part in loc:
        tp = _unwrap_optional(tp)
        if is_dataclass(tp):
            tp = typing.get_type_hints(tp).get(str(part))
        elif get_origin(tp) is tuple:
            tp = get_args(tp)[0]
        elif get_origin(tp) is dict:
            tp = get_args(tp)[1]
        else:
            return None
        if tp is None:
            return None
    return _unwrap_optional(tp)


_EXPECTED = {
    "string_type": "must be a string",
    "dict_type": "must be a mapping",
    "tuple_type": "must be a list",
    "list_type": "must be a list",
    "float_type": "must be a number",
    "float_parsing": "must be a number",
    "int_type": "must be a whole number",
    "int_parsing": "must be a whole number",
    "int_from_float": "must be a whole number",
    "bool_type": "must be true or false",
    "bool_parsing": "must be true or false",
}


def _problems(cls: Any, exc: ValidationError) -> list[str]:
    problems: list[str] = []
    for err in exc.errors(include_url=False):
        loc = tuple(err["loc"])
        kind, value = err["type"], err.get("input")
        path = _path(loc)
        if kind in ("extra_forbidden", "unexpected_keyword_argument"):
            parent = _type_at(cls, loc[:-1])
            known = [f.name for f in fields(parent)] if is_dataclass(parent) else []
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            where = f"at {_path(loc[:-1])}" if loc[:-1] else "at the top level"
            problems.append(
                f"unknown key '{loc[-1]}' {where}{hint} (known keys: {', '.join(known)})"
            )
        elif kind == "missing":
            owner = _type_at(cls, loc[:-1])
            about = ""
            if is_dataclass(owner):
                info = owner.__pydantic_fields__.get(str(loc[-1]))  # type: ignore[union-attr]
                about = f" ({info.description})" if info is not None and info.description else ""
            problems.append(f"'{path}' is required{about}")
        elif kind == "literal_error":
            allowed = get_args(_type_at(cls, loc))
            problems.append(
                f"'{path}' is {value!r}; expected one of {', '.join(map(str, allowed))}"
            )
        elif kind == "dataclass_type":
            problems.append(f"{path}: expected a mapping, found {_kind(value)}")
        elif kind in _EXPECTED:
            problems.append(f"'{path}' {_EXPECTED[kind]}, found {_kind(value)}")
        else:
            problems.append(f"'{path}': {err['msg']}")
    return problems


def json_schema(cls: type, title: str, schema_id: str | None = None) -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of `cls`, for editors and for :func:`describe`."""
    schema = TypeAdapter(cls).json_schema(mode="validation")
    head: dict[str, Any] = {"$schema": "https://json-schema.org/draft/2020-12/schema"}
    if schema_id:
        head["$id"] = schema_id
    head["title"] = title
    schema.pop("title", None)
    _drop_property_titles(schema)
    return {**head, **schema}


def _drop_property_titles(node: Any) -> None:
    """Pydantic titles each key after its name ("Token Env"); editors show the description."""
    if isinstance(node, dict):
        for prop in node.get("properties", {}).values():
            prop.pop("title", None)
        for value in node.values():
            _drop_property_titles(value)
    elif isinstance(node, list):
        for value in node:
            _drop_property_titles(value)


def describe(schema: Mapping[str, Any]) -> list[tuple[str, str, str, str]]:
    """(key path, type, default, doc) rows of a JSON Schema made by :func:`json_schema`.

    Nested mappings get a row of their own and then one row per key, as ``images.runtime``;
    items of a list of mappings are ``workflows[].name``; values of a mapping of mappings are
    ``nodes.<node>.kedro`` (what :data:`KEY_NAME` says the keys are, else the key's name,
    singular).
    """
    defs = schema.get("$defs", {})
    rows: list[tuple[str, str, str, str]] = []

    def resolve(node: Mapping[str, Any]) -> Mapping[str, Any]:
        ref = node.get("$ref")
        wrapped = node.get("allOf", ())
        if ref is None and len(wrapped) == 1:
            # pydantic before 2.9 wraps a reference that has a description in a one-item allOf
            ref = wrapped[0].get("$ref")
        return defs[ref.rsplit("/", 1)[-1]] if ref else node

    def walk(obj: Mapping[str, Any], prefix: str) -> None:
        required = set(obj.get("required", ()))
        for name, prop in obj.get("properties", {}).items():
            path = f"{prefix}{name}"
            text = prop.get("description", "")
            default = "(required)" if name in required else _show(prop.get("default"))
            target, optional = _non_null(prop)
            target = resolve(target)
            if "properties" in target:
                rows.append((path, "mapping", "", text))
                walk(target, f"{path}.")
                continue
            items = resolve(target.get("items", {})) if target.get("type") == "array" else {}
            values = target.get("additionalProperties")
            values = resolve(values) if isinstance(values, Mapping) else {}
            if "properties" in items:
                rows.append((path, "list of mappings", default, text))
                walk(items, f"{path}[].")
            elif "properties" in values:
                rows.append((path, "mapping", default, text))
                key = prop.get(KEY_NAME) or name.removesuffix("s")
                walk(values, f"{path}.<{key}>.")
            else:
                name_ = _type_name(target, resolve)
                rows.append((path, f"{name_} or null" if optional else name_, default, text))

    walk(resolve(schema), "")
    return rows


def _non_null(prop: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    options = prop.get("anyOf")
    if options and any(o.get("type") == "null" for o in options):
        rest = [o for o in options if o.get("type") != "null"]
        return (rest[0] if len(rest) == 1 else {"anyOf": rest}), True
    return prop, False


_JSON_TYPES = {
    "string": "str",
    "number": "float",
    "integer": "int",
    "boolean": "bool",
    "object": "mapping",
}


def _type_name(node: Mapping[str, Any], resolve: Callable[[Any], Mapping[str, Any]]) -> str:
    if "enum" in node:
        return " | ".join(map(str, node["enum"]))
    if "const" in node:
        return str(node["const"])
    kind = node.get("type")
    if kind == "array":
        return f"list of {_type_name(resolve(node.get('items', {})), resolve)}"
    if kind in _JSON_TYPES:
        return _JSON_TYPES[kind]
    return "any"


def _show(default: Any) -> str:
    if default is None:
        return "null"
    if isinstance(default, list):
        return "[]" if not default else str(default)
    if isinstance(default, dict):
        return "{}"
    if isinstance(default, bool):
        return str(default).lower()
    return str(default)
