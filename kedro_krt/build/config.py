"""`krt-build.yml`: how `kedro-krt build` makes the nodes that come from Kedro projects.

The file sits beside krt.yml in the KRT source folder and is never shipped. Its schema is a
tree of frozen dataclasses whose fields carry their documentation (the reference page is
generated from it); unknown keys are errors naming the key, where it is and the closest known
key, because a typo in a build file must not build something else.

    nodes:
      price:                          # a node of krt.yml
        kedro:
          project: ../kedro_project   # relative to this file
          pipeline: inference
          inputs: {shuttles: etl.shuttles}        # message field -> pipeline free input
          outputs: {output.quotes: quotes}        # pipeline output -> message field
"""

from __future__ import annotations

import difflib
import typing
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, is_dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml

from kedro_krt.build.errors import BuildError

BUILD_FILE = "krt-build.yml"


def _doc(text: str, default: Any = MISSING, default_factory: Any = MISSING) -> Any:
    if default_factory is not MISSING:
        return field(default_factory=default_factory, metadata={"doc": text})
    return field(default=default, metadata={"doc": text})


@dataclass(frozen=True)
class KedroSource:
    """A node made from a Kedro project: a registered pipeline, optionally one namespace."""

    project: str = _doc(
        "The Kedro project's folder, relative to krt-build.yml (or absolute). Required."
    )
    pipeline: str = _doc("The registered pipeline the node runs.", "__default__")
    namespace: str | None = _doc(
        "Run only this namespace of the pipeline (dotted prefix match).", None
    )
    env: str = _doc("Conf env shipped with `base` (never `local`).", "base")
    folder: str = _doc(
        "Where the project goes inside the KRT; `kedro/<package name>` if empty. Nodes that "
        "share a project and a folder share one copy.",
        "",
    )
    input: str = _doc(
        "The message the node receives (`Name` or `entrypoint.Name`); taken from the rpc's "
        "request when the node comes first in its workflows. Generated nodes only.",
        "",
    )
    output: str = _doc(
        "The message the node sends on; taken from the rpc's response when the node comes "
        "last. Generated nodes only.",
        "",
    )
    inputs: dict[str, str] = _doc(
        "{field of the input message: free input of the pipeline}. A `params:` dataset is "
        "overridden per message (an unset `optional` field keeps the project's value). Free "
        "inputs not mapped are loaded once at init. Generated nodes only.",
        default_factory=dict,
    )
    outputs: dict[str, str] = _doc(
        "{free output of the pipeline: field of the output message}. Output fields not mapped "
        "are copied from the input message when it has a field of that name and type. "
        "Generated nodes only.",
        default_factory=dict,
    )
    artifacts: tuple[str, ...] = _doc(
        "Free inputs loaded once at init whatever inference says (as in krt.yml).",
        default_factory=tuple,
    )
    samples: dict[str, str] = _doc(
        "Sample files to type a dataset from: {dataset: path relative to the project}; over "
        "the project's own krt.yml.",
        default_factory=dict,
    )
    schemas: dict[str, Any] = _doc(
        "Explicit types: {dataset: type}, in krt.yml's type language; over the project's own.",
        default_factory=dict,
    )

    @property
    def generated(self) -> bool:
        """Whether this source asks for a generated main.py (it maps message fields)."""
        return bool(self.inputs or self.outputs or self.input or self.output)


@dataclass(frozen=True)
class NodeBuild:
    """How the build makes one node of krt.yml."""

    kedro: KedroSource | None = _doc(
        "The node runs a Kedro pipeline: with `inputs`/`outputs`, the build generates its "
        "main.py; without them, the node's own main.py uses KrtSession on the copied project.",
        None,
    )


@dataclass(frozen=True)
class BuildConfig:
    """The whole krt-build.yml."""

    nodes: dict[str, NodeBuild] = _doc(
        "{node name in krt.yml: how the build makes it}. Nodes not listed are packaged as "
        "they are in the folder.",
        default_factory=dict,
    )
    requirements: tuple[str, ...] = _doc(
        "Extra lines of the runner image's requirements.txt, merged with the projects' own.",
        default_factory=tuple,
    )


def load_build_config(folder: Path) -> BuildConfig:
    """``folder/krt-build.yml``, checked; an empty config when the file is absent.

    Raises:
        BuildError: for YAML that does not parse, an unknown key or a value of the wrong type.
    """
    path = Path(folder) / BUILD_FILE
    if not path.is_file():
        return BuildConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BuildError(f"{BUILD_FILE}: not valid YAML: {exc}") from None
    return parse_build_config(data or {})


def parse_build_config(data: Any) -> BuildConfig:
    """Check plain data (a parsed krt-build.yml) and build the config."""
    return _build(BuildConfig, data, "")  # type: ignore[no-any-return]


def _where(path: str) -> str:
    return f"'{path}'" if path else "the top level"


def _build(cls: type, data: Any, where: str) -> Any:
    if not isinstance(data, Mapping):
        raise BuildError(f"{BUILD_FILE}: {_where(where)} must be a mapping, found {_kind(data)}")
    known = {f.name: f for f in fields(cls)}
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise BuildError(
                f"{BUILD_FILE}: unknown key '{key}' at {_where(where)}{hint} "
                f"(known keys: {', '.join(known)})"
            )
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for name, f in known.items():
        path = f"{where}.{name}" if where else name
        if name not in data or data[name] is None:
            if f.default is MISSING and f.default_factory is MISSING:
                raise BuildError(f"{BUILD_FILE}: '{path}' is required: {f.metadata['doc']}")
            continue
        kwargs[name] = _coerce(hints[name], data[name], path)
    return cls(**kwargs)


_KINDS: dict[type, str] = {dict: "a mapping", list: "a list", str: "a string"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _coerce(tp: Any, value: Any, where: str) -> Any:
    args = get_args(tp)
    if type(None) in args:  # X | None
        tp = next(a for a in args if a is not type(None))
    origin = get_origin(tp)
    if is_dataclass(tp):
        return _build(tp, value, where)  # type: ignore[arg-type]
    if origin is tuple:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            raise BuildError(f"{BUILD_FILE}: '{where}' must be a list, found {_kind(value)}")
        return tuple(_coerce(get_args(tp)[0], v, f"{where}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, Mapping):
            raise BuildError(f"{BUILD_FILE}: '{where}' must be a mapping, found {_kind(value)}")
        val_tp = get_args(tp)[1]
        return {str(k): _coerce(val_tp, v, f"{where}.{k}") for k, v in value.items()}
    if tp is Any:
        return value
    if tp is str:
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise BuildError(f"{BUILD_FILE}: '{where}' must be text, found {_kind(value)}")
        return str(value)
    raise TypeError(f"unsupported type {tp!r} at {where}")  # pragma: no cover - our schema


def describe_build_schema(cls: type = BuildConfig, prefix: str = "") -> list[tuple[str, str, str]]:
    """(key path, type, doc) rows of krt-build.yml, for the reference page."""
    rows: list[tuple[str, str, str]] = []
    hints = typing.get_type_hints(cls)
    for f in fields(cls):
        tp = hints[f.name]
        args = get_args(tp)
        inner = next((a for a in args if a is not type(None)), tp) if type(None) in args else tp
        path = f"{prefix}{f.name}"
        if is_dataclass(inner):
            rows.append((path, "mapping", f.metadata["doc"]))
            rows.extend(describe_build_schema(inner, f"{path}."))  # type: ignore[arg-type]
        elif get_origin(inner) is dict and is_dataclass(get_args(inner)[1]):
            rows.append((path, "mapping", f.metadata["doc"]))
            rows.extend(
                describe_build_schema(get_args(inner)[1], f"{path}.<node>.")  # type: ignore[arg-type]
            )
        else:
            rows.append((path, _type_name(inner), f.metadata["doc"]))
    return rows


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is tuple:
        return "list of text"
    if origin is dict:
        return "mapping"
    return "text"
