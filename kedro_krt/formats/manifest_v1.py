"""The KRT v1 format (KRE 6.x to 8.0): the ``krt.yml`` model, KRE's checks of it, and its
:class:`~kedro_krt.formats.format_base.ManifestFormat` (:data:`V1_FORMAT`).

A v1 manifest lists its nodes once, and each workflow runs a ``sequential`` chain of them::

    version: price-estimator-v1
    description: Price estimator
    entrypoint: {proto: public_input.proto, image: konstellation/kre-entrypoint:1.8.1}
    nodes:
      - {name: etl, image: konstellation/kre-py:2.1.5, src: src/etl/main.py}
    workflows:
      - {name: inference, entrypoint: Predict, sequential: [etl]}

Build a :class:`Manifest` and write it with :meth:`Manifest.to_yaml`; read one with
:func:`parse_manifest` or :meth:`Manifest.from_dict`, which run every check first.

The checks are KRE's own (konstellation-io/kre @ kre-7.0.0, ``krt/types.go`` and
``krt/validations.go``), with KRE's wording where KRE has one, plus ours for what KRE lets
through but breaks at run time (unknown keys, duplicate names, ...). The shape of each field
(required, a string, KRE's name rule, ...) is a pydantic schema, ``_ManifestSchema``; the
checks across fields (names written twice, ``sequential``) are functions on the best-effort
manifest; both word their problems from the catalogue :mod:`kedro_krt.formats.rules`. The
checks that need the other files of a KRT (``src`` files, the proto) live in
:mod:`kedro_krt.formats.validate`. This module knows nothing of Kedro.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictStr, StringConstraints

from kedro_krt.formats import rules
from kedro_krt.formats.checks_base import (
    ParsedManifest,
    Report,
    prepare,
    read_lenient,
    schema_problems,
    shape,
    short,
    type_name,
)
from kedro_krt.formats.format_base import ManifestFormat
from kedro_krt.formats.images import check_images
from kedro_krt.formats.manifest_base import (
    MAX_NAME_LENGTH,
    NAME_RE,
    RPC_RE,
    VARIABLE_RE,
    ConfigSpec,
    Entrypoint,
    ManifestError,
    krt_yaml,
    name_suggestion,
    variable_suggestion,
)
from kedro_krt.formats.problems import Problem
from kedro_krt.formats.rules import Rule
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import PUBLIC_PROTO

__all__ = [
    "V1_FORMAT",
    "Manifest",
    "NodeSpec",
    "V1Format",
    "WorkflowSpec",
    "check_manifest",
    "go_path",
    "parse_manifest",
    "parse_manifest_lenient",
]


@dataclass(frozen=True)
class NodeSpec:
    """One ``nodes[]`` entry: a process running ``src`` in ``image``."""

    name: str
    image: str
    src: str
    gpu: bool = False


@dataclass(frozen=True)
class WorkflowSpec:
    """One ``workflows[]`` entry: the rpc ``entrypoint`` served by the ``sequential`` nodes."""

    name: str
    entrypoint: str
    sequential: tuple[str, ...]


@dataclass(frozen=True)
class Manifest:
    """A KRT v1 ``krt.yml``.

    Build one directly (then :meth:`to_yaml`), or read one with :func:`parse_manifest` or
    :meth:`from_dict`, which check it.
    """

    krt_version: ClassVar[KrtVersion] = KrtVersion.V1

    version: str
    description: str
    entrypoint: Entrypoint
    nodes: tuple[NodeSpec, ...]
    workflows: tuple[WorkflowSpec, ...]
    config: ConfigSpec = field(default_factory=ConfigSpec)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain data, keys in the order :meth:`to_yaml` writes them."""
        data: dict[str, Any] = {
            "version": self.version,
            "description": self.description,
            "entrypoint": {"proto": self.entrypoint.proto, "image": self.entrypoint.image},
        }
        config = self.config.to_dict()
        if config:
            data["config"] = config
        nodes = []
        for node in self.nodes:
            entry: dict[str, Any] = {"name": node.name, "image": node.image, "src": node.src}
            if node.gpu:
                entry["gpu"] = True
            nodes.append(entry)
        data["nodes"] = nodes
        data["workflows"] = [
            {"name": w.name, "entrypoint": w.entrypoint, "sequential": list(w.sequential)}
            for w in self.workflows
        ]
        return data

    def to_yaml(self) -> str:
        """The ``krt.yml`` text: the same manifest always gives the same text.

        Key order: version, description, entrypoint, config (left out when empty), nodes,
        workflows; ``gpu`` is written only when true.
        """
        return krt_yaml(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Check ``data`` (a parsed ``krt.yml``) and build the manifest.

        Raises:
            ManifestError: with every problem found, when there is at least one error.
        """
        parsed = check_manifest(data, {})
        if parsed.manifest is None or not parsed.ok:
            raise ManifestError(parsed.problems)
        return parsed.manifest


def parse_manifest(text: str) -> tuple[Manifest | None, list[Problem]]:
    """Parse and check ``krt.yml`` text.

    Returns:
        The manifest (``None`` when there is any error) and every problem found, with the
        line of each in its location.
    """
    return parse_manifest_lenient(text).strict()


def parse_manifest_lenient(text: str) -> ParsedManifest[Manifest]:
    """Like :func:`parse_manifest`, but keeps a best-effort manifest even with errors.

    This lets the file checks (``src`` exists, the rpc exists) run on a manifest that also
    breaks a naming rule, so that every problem is reported at once.
    """
    return read_lenient(
        text,
        check_manifest,
        "version, description, entrypoint, nodes and workflows",
        ParsedManifest,
    )


# KRE's messages name fields by their Go struct path ("Nodes[0].Name").
_GO_NAMES = {
    "version": "Version",
    "description": "Description",
    "entrypoint": "Entrypoint",
    "proto": "Proto",
    "image": "Image",
    "config": "Config",
    "variables": "Variables",
    "files": "Files",
    "nodes": "Nodes",
    "name": "Name",
    "src": "Src",
    "gpu": "GPU",
    "workflows": "Workflows",
    "sequential": "Sequential",
}

# What to write when a required field is missing, keyed by the path with indexes removed.
_REQUIRED_HINTS = {
    "version": 'a lowercase name for this version, e.g. "version: price-estimator-v1"',
    "description": 'one line saying what this version does, e.g. "description: Price estimator"',
    "entrypoint": 'a mapping with "proto: public_input.proto" and "image: <entrypoint image>"',
    "entrypoint.proto": '"proto: public_input.proto"',
    "entrypoint.image": 'the entrypoint image, e.g. "image: konstellation/kre-entrypoint:1.8.1"',
    "nodes": "a list of nodes, each with name, image and src",
    "nodes[].name": 'a lowercase node name, e.g. "name: etl"',
    "nodes[].image": 'the runner image, e.g. "image: konstellation/kre-py:2.1.5"',
    "nodes[].src": 'the node\'s main file inside the KRT, e.g. "src: src/etl/main.py"',
    "workflows": "a list of workflows, each with name, entrypoint and sequential",
    "workflows[].name": 'a lowercase workflow name, e.g. "name: inference"',
    "workflows[].entrypoint": 'the rpc name in "service Entrypoint" of public_input.proto',
    "workflows[].sequential": "the list of node names the request passes through, in order",
}


def go_path(path: str) -> str:
    """``nodes[0].name`` -> ``Nodes[0].Name``, the way KRE names fields in its messages."""
    return re.sub(r"[a-z]+", lambda m: _GO_NAMES.get(m.group(0), m.group(0)), path)


# -- the shape of a v1 krt.yml: KRE 7's struct tags (krt/types.go) as a pydantic schema --------
# KRE's yaml.v2 drops unknown keys silently, so a typo ("sequencial") loses the value without a
# word: the schema forbids them. A number is not text here (`version: 1.10` is the float 1.1).

_Text = Annotated[StrictStr, StringConstraints(min_length=1)]
_ResourceName = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=MAX_NAME_LENGTH, pattern=NAME_RE.pattern)
]


class _Schema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _EntrypointSchema(_Schema):
    proto: Annotated[StrictStr, StringConstraints(min_length=1, pattern=r"\.proto$")]
    image: _Text


class _ConfigSchema(_Schema):
    variables: tuple[Annotated[_Text, StringConstraints(pattern=VARIABLE_RE.pattern)], ...] = ()
    files: tuple[Annotated[_Text, StringConstraints(pattern=VARIABLE_RE.pattern)], ...] = ()


class _NodeSchema(_Schema):
    name: _ResourceName
    image: _Text
    src: _Text
    gpu: StrictBool = False


class _WorkflowSchema(_Schema):
    name: _ResourceName
    entrypoint: Annotated[StrictStr, StringConstraints(min_length=1, pattern=RPC_RE.pattern)]
    # An empty list is reported with the node names it could hold (_check_workflows).
    sequential: tuple[_Text, ...]


class _ManifestSchema(_Schema):
    version: _ResourceName
    description: Annotated[StrictStr, StringConstraints(min_length=1, pattern=r"\S")]
    entrypoint: _EntrypointSchema
    config: _ConfigSchema = _ConfigSchema()
    nodes: Annotated[tuple[_NodeSchema, ...], Field(min_length=1)]
    workflows: Annotated[tuple[_WorkflowSchema, ...], Field(min_length=1)]


def _refine(rule: Rule, path: str, value: Any, owner: Any) -> tuple[Rule, dict[str, object]]:
    """KRE 7's words for a schema error (see :func:`~kedro_krt.formats.checks_base.
    schema_problems`): the Go field path, and what to write instead."""
    values: dict[str, object] = {
        "field": go_path(path),
        "hint": _REQUIRED_HINTS.get(shape(path), "a value"),
        "proto": value,
        "rpc": value,
        "expected": PUBLIC_PROTO,
    }
    if rule is rules.UNKNOWN_KEY:
        values.pop("hint")
        if path == "krtVersion":
            rule = rules.V2_IN_V1
    elif rule is rules.NOT_A_STRING:
        key = path.rsplit(".", 1)[-1]
        write = "write a single text value"
        values["hint"] = (
            write
            if isinstance(value, (list, Mapping))
            else (f'quote it (e.g. {key}: "{short(value)}")')
        )
    elif rule is rules.NOT_A_NAME_LIST:
        values["value"] = short(value)  # a scalar: a list or mapping is a shape error above it
    elif rule is rules.V1_NAME:
        values.update(name=short(value, 80), example=name_suggestion(value))
        if NAME_RE.match(value):
            rule = rules.V1_NAME_LENGTH
            values.update(length=len(value), limit=MAX_NAME_LENGTH)
    elif rule is rules.V1_VARIABLE_NAME:
        values.update(name=value, example=variable_suggestion(value))
    return rule, values


def check_manifest(data: Any, marks: Mapping[str, int]) -> ParsedManifest[Manifest]:
    """Every manifest check, on parsed YAML; returns a best-effort manifest and the problems."""
    report = Report(marks)
    if not isinstance(data, Mapping):
        report.add(
            "",
            rules.TOP_NOT_A_MAPPING,
            keys="version, description, entrypoint, nodes and workflows",
            found=type_name(data),
        )
        return ParsedManifest(None, report.problems(_ManifestSchema, data), marks=marks)
    data = prepare(_ManifestSchema, data)
    if data.get("krtVersion") == KrtVersion.V1.value:
        # KRE 8.0 reads it as v1 (krt/parser/parser.go); KRE 7 ignores it.
        data = {k: v for k, v in data.items() if k != "krtVersion"}
    schema_problems(_ManifestSchema, data, report, rules.V1_SHAPE_RULES, _refine)

    manifest, nodes, workflows = _lenient(data)
    _check_names(report, manifest, nodes, workflows)
    used = _check_workflows(report, data, nodes, workflows)
    report.phase = 1  # after every workflow, as KRE's walk
    if workflows:
        for index, node in nodes:
            if node.name and node.name not in used:
                report.add(f"nodes[{index}].name", rules.NODE_UNUSED, name=node.name)
    report.phase = 2
    check_images(report, manifest.version, manifest.entrypoint, nodes)
    return ParsedManifest(
        manifest,
        report.problems(_ManifestSchema, data),
        tuple(f"nodes[{i}]" for i, _ in nodes),
        tuple(f"workflows[{i}]" for i, _ in workflows),
        marks,
    )


def _lenient(
    data: Mapping[Any, Any],
) -> tuple[Manifest, list[tuple[int, NodeSpec]], list[tuple[int, WorkflowSpec]]]:
    """The manifest as far as it can be read, for the checks across fields and the file checks
    after a shape error: a value of the wrong type is left empty, an entry that is not a
    mapping is left out (hence the index of each node and workflow in the file)."""

    def text(m: Mapping[Any, Any], key: str) -> str:
        value = m.get(key)
        return value if isinstance(value, str) else ""

    def names(m: Mapping[Any, Any], key: str) -> tuple[str, ...]:
        value = m.get(key)
        items = value if isinstance(value, list) else []
        return tuple(v for v in items if isinstance(v, str) and v)

    def entries(key: str) -> list[tuple[int, Mapping[Any, Any]]]:
        value = data.get(key)
        items = value if isinstance(value, list) else []
        return [(i, item) for i, item in enumerate(items) if isinstance(item, Mapping)]

    ep = data.get("entrypoint")
    ep = ep if isinstance(ep, Mapping) else {}
    cfg = data.get("config")
    cfg = cfg if isinstance(cfg, Mapping) else {}
    nodes = [
        (i, NodeSpec(text(n, "name"), text(n, "image"), text(n, "src"), n.get("gpu") is True))
        for i, n in entries("nodes")
    ]
    workflows = [
        (i, WorkflowSpec(text(w, "name"), text(w, "entrypoint"), names(w, "sequential")))
        for i, w in entries("workflows")
    ]
    manifest = Manifest(
        version=text(data, "version"),
        description=text(data, "description"),
        entrypoint=Entrypoint(proto=text(ep, "proto"), image=text(ep, "image")),
        nodes=tuple(n for _, n in nodes),
        workflows=tuple(w for _, w in workflows),
        config=ConfigSpec(variables=names(cfg, "variables"), files=names(cfg, "files")),
    )
    return manifest, nodes, workflows


def _check_names(
    report: Report,
    manifest: Manifest,
    nodes: list[tuple[int, NodeSpec]],
    workflows: list[tuple[int, WorkflowSpec]],
) -> None:
    """The proto's name, and names written twice (config, nodes, workflows, rpcs)."""
    proto = manifest.entrypoint.proto
    if proto.endswith(".proto") and proto != PUBLIC_PROTO:
        report.add("entrypoint.proto", rules.PROTO_NAME, proto=proto, expected=PUBLIC_PROTO)
    for key, listed in (
        ("variables", manifest.config.variables),
        ("files", manifest.config.files),
    ):
        seen: set[str] = set()
        for index, name in enumerate(listed):
            if name in seen:
                path = f"config.{key}"
                report.add(f"{path}[{index}]", rules.DUPLICATE_CONFIG_NAME, name=name, path=path)
            seen.add(name)
    first_node: dict[str, int] = {}
    for index, node in nodes:
        if node.name in first_node:
            first = first_node[node.name]
            report.add(f"nodes[{index}].name", rules.DUPLICATE_NODE, name=node.name, first=first)
        elif node.name:
            first_node[node.name] = index
    first_name: dict[str, int] = {}
    first_rpc: dict[str, int] = {}
    for index, wf in workflows:
        path = f"workflows[{index}]"
        if wf.name in first_name:
            first = first_name[wf.name]
            report.add(f"{path}.name", rules.DUPLICATE_WORKFLOW, name=wf.name, first=first)
        elif wf.name:
            first_name[wf.name] = index
        if not RPC_RE.match(wf.entrypoint):
            continue  # reported by the schema, or missing
        if wf.entrypoint in first_rpc:
            first = first_rpc[wf.entrypoint]
            report.add(f"{path}.entrypoint", rules.DUPLICATE_RPC, rpc=wf.entrypoint, first=first)
        else:
            first_rpc[wf.entrypoint] = index


def _check_workflows(
    report: Report,
    data: Mapping[Any, Any],
    nodes: list[tuple[int, NodeSpec]],
    workflows: list[tuple[int, WorkflowSpec]],
) -> set[str]:
    """Each ``sequential`` names declared nodes, once; the names of the nodes they use."""
    node_names = [n.name for _, n in nodes if n.name]
    known = ", ".join(node_names) or "none"
    used: set[str] = set()
    for index, _ in workflows:
        seq_path = f"workflows[{index}].sequential"
        steps = data["workflows"][index].get("sequential")
        if steps == []:
            report.add(seq_path, rules.SEQUENTIAL_EMPTY, known=known)
        seen: set[str] = set()
        for step_index, step in enumerate(steps if isinstance(steps, list) else []):
            if not (isinstance(step, str) and step):
                continue  # reported by the schema
            step_path = f"{seq_path}[{step_index}]"
            if step not in node_names:
                close = difflib.get_close_matches(step, node_names, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                report.add(step_path, rules.V1_SEQUENTIAL_NODE, step=step, hint=hint, known=known)
            elif step in seen:
                report.add(step_path, rules.SEQUENTIAL_REPEAT, step=step, path=seq_path)
            seen.add(step)
            used.add(step)
    return used


class V1Format(ManifestFormat):
    """KRT v1 as the validator and the compiler ask it (see :class:`ManifestFormat`)."""

    krt_version = KrtVersion.V1
    manifest_class = Manifest
    #: KRE 8.0 still reads v1 (krt/parser/parser.go); KRE 8.1 dropped it (#706).
    kre_targets = ("7", "8.0")

    def written_as(self, data: Mapping[Any, Any]) -> bool:
        workflows = data.get("workflows")
        steps = (
            [w for w in workflows if isinstance(w, Mapping)] if isinstance(workflows, list) else []
        )
        return "nodes" in data or any("sequential" in w for w in steps)

    def check(self, data: Any, marks: Mapping[str, int]) -> ParsedManifest[Manifest]:
        return check_manifest(data, marks)

    def parse_lenient(self, text: str) -> ParsedManifest[Manifest]:
        return parse_manifest_lenient(text)

    def refused(self, kre: str, answer: list[str]) -> Problem:
        # KRE 8.1+ reads every krt.yml as v2 (types.go): what it answers, line by line.
        return rules.V1_REFUSED.at("krt.yml", kre_version=kre, said="\n".join(answer))

    def src_missing(self, where: str, src: str, node: str, hint: str) -> Problem:
        return rules.V1_SRC_MISSING.at(where, src=src, node=node, hint=hint)


#: KRT v1, the entry of :data:`kedro_krt.formats.krt_formats.FORMATS`.
V1_FORMAT = V1Format()
