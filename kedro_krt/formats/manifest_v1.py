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
through but breaks at run time (unknown keys, duplicate names, ...). The checks that need the
other files of a KRT (``src`` files, the proto) live in :mod:`kedro_krt.formats.validate`.
This module knows nothing of Kedro.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from kedro_krt.formats.checks_base import (
    Checker,
    ParsedManifest,
    read_lenient,
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
    to_valid_name,
)
from kedro_krt.formats.problems import Problem, error
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


# The keys KRE v1 reads, per mapping. Anything else is silently dropped by KRE, so a typo
# ("sequencial") loses the value without a word: we report it.
_KNOWN_KEYS: dict[str, tuple[str, ...]] = {
    "": ("version", "description", "entrypoint", "config", "nodes", "workflows"),
    "entrypoint": ("proto", "image"),
    "config": ("variables", "files"),
    "nodes[]": ("name", "image", "src", "gpu"),
    "workflows[]": ("name", "entrypoint", "sequential"),
}

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


class V1Checker(Checker):
    """The walk of :class:`~kedro_krt.formats.checks_base.Checker` with KRT v1's keys and
    KRE 7's words."""

    known_keys = _KNOWN_KEYS
    hints = _REQUIRED_HINTS
    blank_description = (
        'The field "Description" is blank: write one line saying what this version does'
    )

    def required(self, path: str) -> None:
        hint = self.hints.get(shape(path), "a value")
        self.error(path, f'The field "{go_path(path)}" is required: add {hint}', "kre.required")

    def special_key(self, data: Mapping[Any, Any], key: Any, path: str, where: str) -> bool:
        """Whether an unknown ``key`` was dealt with here (reported or accepted) rather than as
        a typo. v1: ``krtVersion``."""
        if path == "" and key == "krtVersion" and data[key] == KrtVersion.V1.value:
            return True  # KRE 8.0 reads it as v1 (krt/parser/parser.go); KRE 7 ignores it
        if path == "" and key == "krtVersion":
            self.error(
                "krtVersion",
                f'Unknown key "krtVersion"{where}: this is a KRT v2 manifest, and only '
                "KRT v1 is supported; remove krtVersion and write a v1 krt.yml",
                "krt.unknown-key",
            )
            return True
        return False

    def string(self, data: Mapping[Any, Any], key: str, path: str, required: bool = True) -> str:
        """The string at ``data[key]`` ("" when missing or mistyped, after reporting it)."""
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.required(path)
            return ""
        if not isinstance(value, str):
            if isinstance(value, (list, Mapping)):
                hint = "write a single text value"
            else:
                hint = f'quote it (e.g. {key}: "{short(value)}")'
            self.error(
                path, f'"{path}" must be a string, found {type_name(value)}: {hint}', "krt.type"
            )
            return ""
        return value

    def name(self, value: str, path: str) -> None:
        if not value:
            return
        fix = _name_suggestion(value)
        shown = short(value, 80)
        if not NAME_RE.match(value):
            self.error(
                path,
                f'Invalid resource name "{shown}" at "{go_path(path)}": use only lowercase '
                "letters, digits and '-', starting and ending with a letter or digit" + fix,
                "kre.name",
            )
        elif len(value) > MAX_NAME_LENGTH:
            self.error(
                path,
                f'Invalid resource name "{shown}" at "{go_path(path)}": it has {len(value)} '
                f"characters and KRE allows at most {MAX_NAME_LENGTH}" + fix,
                "kre.name",
            )


def _name_suggestion(value: str) -> str:
    try:
        return f' (for example "{to_valid_name(value)}")'
    except ValueError:
        return ""


def check_manifest(data: Any, marks: Mapping[str, int]) -> ParsedManifest[Manifest]:
    """Every manifest check, on parsed YAML; returns a best-effort manifest and the problems."""
    c = V1Checker(marks)
    if not isinstance(data, Mapping):
        c.error(
            "",
            f"krt.yml must be a mapping with version, description, entrypoint, nodes and "
            f"workflows, found {type_name(data)}",
            "krt.type",
        )
        return ParsedManifest(None, tuple(c.problems), marks=marks)
    c.unknown_keys(data, "")

    version, description = c.version_and_description(data)

    entrypoint = Entrypoint(proto="", image="")
    ep = c.mapping(data, "entrypoint", "entrypoint")
    if ep is not None:
        proto = c.string(ep, "proto", "entrypoint.proto")
        if proto and not proto.endswith(".proto"):
            c.error(
                "entrypoint.proto",
                f'The field "Entrypoint.Proto" must end with ".proto", found "{proto}": '
                f'write "proto: {PUBLIC_PROTO}"',
                "kre.proto-suffix",
            )
        else:
            c.proto_name(proto)
        entrypoint = Entrypoint(proto=proto, image=c.string(ep, "image", "entrypoint.image"))

    config = ConfigSpec()
    if data.get("config") is not None:
        cfg = c.mapping(data, "config", "config")
        if cfg is not None:
            config = ConfigSpec(
                variables=_config_names(c, cfg, "variables"),
                files=_config_names(c, cfg, "files"),
            )

    nodes = _check_nodes(c, data)
    workflows = _check_workflows(c, data, nodes)
    check_images(c, version, entrypoint, nodes)

    manifest = Manifest(
        version=version,
        description=description,
        entrypoint=entrypoint,
        nodes=tuple(n for _, n in nodes),
        workflows=tuple(w for _, w in workflows),
        config=config,
    )
    return ParsedManifest(
        manifest,
        tuple(c.problems),
        tuple(f"nodes[{i}]" for i, _ in nodes),
        tuple(f"workflows[{i}]" for i, _ in workflows),
        marks,
    )


def _config_names(c: V1Checker, cfg: Mapping[Any, Any], key: str) -> tuple[str, ...]:
    path = f"config.{key}"
    names = []
    seen: set[str] = set()
    for index, name in c.string_list(cfg, key, path):
        item_path = f"{path}[{index}]"
        if not VARIABLE_RE.match(name):
            fixed = re.sub(r"[^A-Z0-9]+", "_", name.upper()).strip("_")
            hint = f' (for example "{fixed}")' if fixed else ""
            c.error(
                item_path,
                f'Invalid variable name "{name}" at "{go_path(item_path)}": use only uppercase '
                "letters, digits and '_', starting and ending with a letter or digit" + hint,
                "kre.variable-name",
            )
        if name in seen:
            c.warning(item_path, f'"{name}" is listed twice in {path}: remove one', "krt.duplicate")
        seen.add(name)
        names.append(name)
    return tuple(names)


def _check_nodes(c: V1Checker, data: Mapping[Any, Any]) -> list[tuple[int, NodeSpec]]:
    nodes: list[tuple[int, NodeSpec]] = []
    first_index: dict[str, int] = {}
    for index, item in c.entries(data, "nodes", "nodes", required=True):
        path = f"nodes[{index}]"
        name = c.string(item, "name", f"{path}.name")
        c.name(name, f"{path}.name")
        if name in first_index:
            c.error(
                f"{path}.name",
                f'Duplicate node name "{name}" (also nodes[{first_index[name]}]): KRE would '
                "deploy both under one name; rename one of them",
                "krt.duplicate-node",
            )
        elif name:
            first_index[name] = index
        image = c.string(item, "image", f"{path}.image")
        src = c.string(item, "src", f"{path}.src")
        gpu = c.flag(item, "gpu", f"{path}.gpu")
        nodes.append((index, NodeSpec(name=name, image=image, src=src, gpu=gpu)))
    return nodes


def _check_workflows(
    c: V1Checker, data: Mapping[Any, Any], nodes: list[tuple[int, NodeSpec]]
) -> list[tuple[int, WorkflowSpec]]:
    node_names = [n.name for _, n in nodes if n.name]
    used: set[str] = set()
    workflows: list[tuple[int, WorkflowSpec]] = []
    first_name: dict[str, int] = {}
    first_rpc: dict[str, int] = {}
    for index, item in c.entries(data, "workflows", "workflows", required=True):
        path = f"workflows[{index}]"
        name = c.string(item, "name", f"{path}.name")
        c.name(name, f"{path}.name")
        if name in first_name:
            c.error(
                f"{path}.name",
                f'Duplicate workflow name "{name}" (also workflows[{first_name[name]}]): '
                "rename one of them",
                "krt.duplicate-workflow",
            )
        elif name:
            first_name[name] = index

        rpc = c.string(item, "entrypoint", f"{path}.entrypoint")
        if rpc and not RPC_RE.match(rpc):
            c.error(
                f"{path}.entrypoint",
                f'"{path}.entrypoint" is "{rpc}", which cannot be an rpc name: use the name of '
                'an rpc of "service Entrypoint" (letters, digits and "_", e.g. "Predict")',
                "krt.rpc-name",
            )
        elif rpc in first_rpc:
            c.error(
                f"{path}.entrypoint",
                f'Duplicate rpc "{rpc}" (also workflows[{first_rpc[rpc]}].entrypoint): the '
                "entrypoint routes each rpc to one workflow; give each workflow its own rpc",
                "krt.duplicate-rpc",
            )
        elif rpc:
            first_rpc[rpc] = index

        seq_path = f"{path}.sequential"
        sequential: list[str] = []
        if item.get("sequential") is None:
            c.required(seq_path)
        elif isinstance(item.get("sequential"), list) and not item["sequential"]:
            c.error(
                seq_path,
                f'"{seq_path}" is empty: list the nodes the request passes through, in order '
                f"(known nodes: {', '.join(node_names) or 'none'})",
                "krt.sequential-empty",
            )
        for step_index, step in c.string_list(item, "sequential", seq_path):
            step_path = f"{seq_path}[{step_index}]"
            if step not in node_names:
                close = difflib.get_close_matches(step, node_names, n=1)
                hint = f'did you mean "{close[0]}"? ' if close else ""
                c.error(
                    step_path,
                    f"node in sequential not found: {step}: {hint}every name in sequential "
                    f"must be a nodes[].name (known: {', '.join(node_names) or 'none'})",
                    "kre.sequential-node",
                )
            elif step in sequential:
                c.error(
                    step_path,
                    f'Node "{step}" appears twice in "{seq_path}": a node can run only once '
                    "in a workflow; remove the repeat or declare a second node",
                    "krt.sequential-repeat",
                )
            sequential.append(step)
            used.add(step)
        workflows.append(
            (index, WorkflowSpec(name=name, entrypoint=rpc, sequential=tuple(sequential)))
        )

    if workflows:
        for index, node in nodes:
            if node.name and node.name not in used:
                c.warning(
                    f"nodes[{index}].name",
                    f'Node "{node.name}" is used by no workflow: KRE still starts it; add it '
                    "to a workflow's sequential or remove it",
                    "krt.node-unused",
                )
    return workflows


class V1Format(ManifestFormat):
    """KRT v1 as the validator and the compiler ask it (see :class:`ManifestFormat`)."""

    krt_version = KrtVersion.V1
    manifest_class = Manifest
    #: KRE 8.0 still reads v1 (krt/parser/parser.go); KRE 8.1 dropped it (#706).
    kre_targets = ("7", "8.0")

    def check(self, data: Any, marks: Mapping[str, int]) -> ParsedManifest[Manifest]:
        return check_manifest(data, marks)

    def parse_lenient(self, text: str) -> ParsedManifest[Manifest]:
        return parse_manifest_lenient(text)

    def refused(self, kre: str, answer: list[str]) -> Problem:
        # KRE 8.1+ reads every krt.yml as v2 (types.go): what it answers, line by line.
        said = "\n".join(answer)
        return error(
            "krt.yml",
            f"KRE {kre} accepts only KRT v2 (krtVersion: v2; v1 was dropped in KRE 8.1, "
            f"konstellation-io/kre #706) and answers this v1 krt.yml with:\n{said}\n"
            "package it as v2: kedro krt package --krt-version v2 (or krt_version: v2 in "
            "conf/<env>/krt.yml); a hand-written KRT: nodes under each workflow, with "
            "subscriptions, and an exitpoint",
            "kre.krt-v1-refused",
            said,
        )

    def src_missing(self, where: str, src: str, node: str, hint: str) -> Problem:
        return error(
            where, f"error src File {src} for node {node} not exists: {hint}", "kre.src-missing"
        )


#: KRT v1, the entry of :data:`kedro_krt.formats.krt_formats.FORMATS`.
V1_FORMAT = V1Format()
