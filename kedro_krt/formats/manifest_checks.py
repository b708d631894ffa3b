"""The checks of a KRT v1 manifest (``krt.yml``), and its parsing with them.

The checks are KRE's own (konstellation-io/kre @ kre-7.0.0, ``krt/types.go`` and
``krt/validations.go``), with KRE's wording where KRE has one, plus ours for what KRE lets
through but breaks at run time (unknown keys, duplicate names, ...). Every check runs: a
manifest with three faults gets three problems, never only the first.

This module knows nothing of Kedro, and nothing of the other files of a KRT: the checks that
need them (``src`` files, the proto) live in :mod:`kedro_krt.formats.validate`. The model they
build is :mod:`kedro_krt.formats.manifest`.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import yaml

from kedro_krt.formats.manifest import (
    MAX_NAME_LENGTH,
    NAME_RE,
    RPC_RE,
    ConfigSpec,
    Entrypoint,
    Manifest,
    NodeSpec,
    WorkflowSpec,
    to_valid_name,
)
from kedro_krt.formats.problems import Problem, error, warning
from kedro_krt.node.plan import PUBLIC_PROTO

#: KRE's rule for ``config.variables`` and ``config.files`` (they become env var names).
VARIABLE_RE = re.compile(r"^[A-Z0-9]([_A-Z0-9]*[A-Z0-9])?$")

#: Konstellation's own images (kre-py, kre-entrypoint, ...): KRE's docs and templates name them
#: without a registry because they are on Docker Hub, where every KRE cluster finds them.
STOCK_IMAGE_PREFIX = "konstellation/kre-"
#: The registry host used in the image warnings' examples.
EXAMPLE_REGISTRY = "registry.example.com/team"

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


def parse_manifest(text: str) -> tuple[Manifest | None, list[Problem]]:
    """Parse and check ``krt.yml`` text.

    Returns:
        The manifest (``None`` when there is any error) and every problem found, with the
        line of each in its location.
    """
    return parse_manifest_lenient(text).strict()


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
        return _Checker(self.marks).loc(path)

    def strict(self) -> tuple[M | None, list[Problem]]:
        """The manifest only when no problem is an error, and every problem."""
        problems = list(self.problems)
        if any(p.severity == "error" for p in problems):
            return None, problems
        return self.manifest, problems


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


P = TypeVar("P", bound=ParsedManifest[Any])


def read_lenient(
    text: str, check: Callable[[Any, Mapping[str, int]], P], what: str, parsed: type[P]
) -> P:
    """Read krt.yml text with the line of each YAML path, and run `check` (v1's or v2's) on it;
    a text that is not YAML, or empty, is one problem (`what` says what to write)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        return parsed(None, (_yaml_problem(exc),))
    except yaml.YAMLError as exc:
        return parsed(
            None, (error("krt.yml", f"krt.yml is not valid YAML: {exc}", "krt.yaml-syntax"),)
        )
    finally:
        loader.dispose()
    if node is None:
        return parsed(None, (error("krt.yml", f"krt.yml is empty: write {what}", "kre.required"),))
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
    return error(
        location,
        f"krt.yml is not valid YAML{where}: {what}; fix the YAML syntax there "
        "(indentation, a missing ':' or an unclosed quote or bracket)",
        "krt.yaml-syntax",
    )


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
                problems.append(
                    error(
                        f"krt.yml:{line} {child}",
                        f'Key "{key}" is written twice in this mapping (first at line '
                        f"{seen[key]}); YAML keeps only the last one: remove one of them",
                        "krt.duplicate-key",
                    )
                )
            seen[key] = line
            marks[child] = line
            problems += _collect_marks(value_node, child, marks, seen_nodes)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            problems += _collect_marks(item, f"{path}[{index}]", marks, seen_nodes)
    return problems


def _go_path(path: str) -> str:
    """``nodes[0].name`` -> ``Nodes[0].Name``, the way KRE names fields in its messages."""
    return re.sub(r"[a-z]+", lambda m: _GO_NAMES.get(m.group(0), m.group(0)), path)


def _shape(path: str) -> str:
    """``nodes[3].name`` -> ``nodes[].name``: the path with its indexes removed."""
    return re.sub(r"\[\d+\]", "[]", path)


def _short(value: object, limit: int = 60) -> str:
    """``str(value)`` cut to ``limit`` characters, so a huge value cannot flood a message."""
    text = str(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _type_name(value: object) -> str:
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
    return f"{type(value).__name__} {_short(repr(value))}"


class _Checker:
    """Walks the parsed YAML once, collecting problems and a best-effort manifest.

    The KRT v1 rules; the v2 checker (manifest_v2_checks.py) keeps the walk and changes the
    keys, the hints and KRE 8's words.
    """

    #: {path shape: the keys KRE reads there}, and what to add where a value is missing.
    known_keys: Mapping[str, Sequence[str]] = _KNOWN_KEYS
    hints: Mapping[str, str] = _REQUIRED_HINTS

    def __init__(self, marks: Mapping[str, int]) -> None:
        self.marks = marks
        self.problems: list[Problem] = []

    def loc(self, path: str) -> str:
        line = self.marks.get(path)
        if not path:
            return f"krt.yml:{line}" if line else "krt.yml"
        return f"krt.yml:{line} {path}" if line else f"krt.yml {path}"

    def error(self, path: str, message: str, rule: str, kre: str = "") -> None:
        self.problems.append(error(self.loc(path), message, rule, kre))

    def warning(self, path: str, message: str, rule: str) -> None:
        self.problems.append(warning(self.loc(path), message, rule))

    def required(self, path: str) -> None:
        hint = self.hints.get(_shape(path), "a value")
        self.error(path, f'The field "{_go_path(path)}" is required: add {hint}', "kre.required")

    #: What a blank description gets told (KRE takes it; the admin UI then shows nothing).
    blank_description = (
        'The field "Description" is blank: write one line saying what this version does'
    )

    def version_and_description(self, data: Mapping[Any, Any]) -> tuple[str, str]:
        """``version`` (a valid resource name) and ``description`` (not blank), checked."""
        version = self.string(data, "version", "version")
        self.name(version, "version")
        description = self.string(data, "description", "description")
        if description and not description.strip():
            self.error("description", self.blank_description, "krt.description-empty")
        return version, description

    def flag(self, data: Mapping[Any, Any], key: str, path: str) -> bool:
        """The true/false at ``data[key]`` (false when missing or mistyped, after reporting)."""
        value = data.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.error(
                path, f'"{path}" must be true or false, found {_type_name(value)}', "krt.type"
            )
            return False
        return value

    def proto_name(self, proto: str) -> None:
        """KRE's entrypoint image reads public_input.proto whatever krt.yml names."""
        if proto and proto != PUBLIC_PROTO:
            self.error(
                "entrypoint.proto",
                f'"entrypoint.proto" is "{proto}", but KRE\'s entrypoint always reads '
                f'"{PUBLIC_PROTO}" (the name is hard-coded in its image): rename the file to '
                f'{PUBLIC_PROTO} and write "proto: {PUBLIC_PROTO}"',
                "krt.proto-name",
            )

    def special_key(self, data: Mapping[Any, Any], key: Any, path: str, where: str) -> bool:
        """Whether an unknown ``key`` was dealt with here (reported or accepted) rather than as
        a typo. v1: ``krtVersion``."""
        if path == "" and key == "krtVersion" and data[key] == "v1":
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

    def unknown_keys(self, data: Mapping[Any, Any], path: str) -> None:
        known = self.known_keys[_shape(path)]
        where = f' at "{path}"' if path else " at the top level"
        for key in data:
            if key in known or self.special_key(data, key, path, where):
                continue
            child = f"{path}.{key}" if path else str(key)
            close = difflib.get_close_matches(str(key).lower(), known, n=1, cutoff=0.6)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            self.error(
                child,
                f'Unknown key "{key}"{where}: {hint}KRE ignores unknown keys silently, so this '
                f"value would be lost; known keys here: {', '.join(known)}",
                "krt.unknown-key",
            )

    def mapping(
        self, data: Mapping[Any, Any], key: str, path: str, required: bool = True
    ) -> Mapping[Any, Any] | None:
        """The mapping at ``data[key]``; reports a mistyped value, and a missing one if
        `required`."""
        value = data.get(key)
        if value is None:
            if required:
                self.required(path)
            return None
        if not isinstance(value, Mapping):
            self.error(path, f'"{path}" must be a mapping, found {_type_name(value)}', "krt.type")
            return None
        self.unknown_keys(value, path)
        return value

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
                hint = f'quote it (e.g. {key}: "{_short(value)}")'
            self.error(
                path, f'"{path}" must be a string, found {_type_name(value)}: {hint}', "krt.type"
            )
            return ""
        return value

    def name(self, value: str, path: str) -> None:
        if not value:
            return
        fix = _name_suggestion(value)
        shown = _short(value, 80)
        if not NAME_RE.match(value):
            self.error(
                path,
                f'Invalid resource name "{shown}" at "{_go_path(path)}": use only lowercase '
                "letters, digits and '-', starting and ending with a letter or digit" + fix,
                "kre.name",
            )
        elif len(value) > MAX_NAME_LENGTH:
            self.error(
                path,
                f'Invalid resource name "{shown}" at "{_go_path(path)}": it has {len(value)} '
                f"characters and KRE allows at most {MAX_NAME_LENGTH}" + fix,
                "kre.name",
            )

    def string_list(self, data: Mapping[Any, Any], key: str, path: str) -> list[tuple[int, str]]:
        """(index, item) of the string items of the list at ``data[key]``, reporting others."""
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(
                path,
                f'"{path}" must be a list, found {_type_name(value)}: write it as '
                f'[{_short(value)}] or one "- item" per line',
                "krt.type",
            )
            return []
        items = []
        for index, item in enumerate(value):
            if isinstance(item, str) and item:
                items.append((index, item))
            else:
                self.error(
                    f"{path}[{index}]",
                    f'"{path}[{index}]" must be a non-empty string, found {_type_name(item)}',
                    "krt.type",
                )
        return items

    def entries(
        self, data: Mapping[Any, Any], key: str, path: str, required: bool = False
    ) -> list[tuple[int, Mapping]]:
        """(index, mapping) of the entries of the list ``data[key]``, each checked for unknown
        keys; a `required` list must be there and not be empty."""
        value = data.get(key)
        if value is None:
            if required:
                self.required(path)
            return []
        if not isinstance(value, list):
            self.error(path, f'"{path}" must be a list, found {_type_name(value)}', "krt.type")
            return []
        if required and not value:
            self.error(path, f'"{path}" is empty: add {self.hints[_shape(path)]}', "kre.required")
        entries = []
        for index, item in enumerate(value):
            item_path = f"{path}[{index}]"
            if not isinstance(item, Mapping):
                self.error(
                    item_path,
                    f'"{item_path}" must be a mapping, found {_type_name(item)}',
                    "krt.type",
                )
                continue
            self.unknown_keys(item, item_path)
            entries.append((index, item))
        return entries


def _name_suggestion(value: str) -> str:
    try:
        return f' (for example "{to_valid_name(value)}")'
    except ValueError:
        return ""


def check_manifest(data: Any, marks: Mapping[str, int]) -> ParsedManifest[Manifest]:
    """Every manifest check, on parsed YAML; returns a best-effort manifest and the problems."""
    c = _Checker(marks)
    if not isinstance(data, Mapping):
        c.error(
            "",
            f"krt.yml must be a mapping with version, description, entrypoint, nodes and "
            f"workflows, found {_type_name(data)}",
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
    _check_images(c, version, entrypoint, nodes)

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


def _config_names(c: _Checker, cfg: Mapping[Any, Any], key: str) -> tuple[str, ...]:
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
                f'Invalid variable name "{name}" at "{_go_path(item_path)}": use only uppercase '
                "letters, digits and '_', starting and ending with a letter or digit" + hint,
                "kre.variable-name",
            )
        if name in seen:
            c.warning(item_path, f'"{name}" is listed twice in {path}: remove one', "krt.duplicate")
        seen.add(name)
        names.append(name)
    return tuple(names)


def _check_nodes(c: _Checker, data: Mapping[Any, Any]) -> list[tuple[int, NodeSpec]]:
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
    c: _Checker, data: Mapping[Any, Any], nodes: list[tuple[int, NodeSpec]]
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


@dataclass(frozen=True)
class ImageName:
    """A container image reference split the way Docker and Kubernetes read it:
    ``[registry/]repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str
    digest: str

    @classmethod
    def parse(cls, image: str) -> ImageName:
        """Split ``image``. The first ``/``-separated part is a registry host only when it has a
        ``.`` or a ``:`` or is ``localhost`` (Docker's rule); otherwise the image is on Docker
        Hub and ``registry`` is empty."""
        rest, _, digest = image.partition("@")
        registry = ""
        first, slash, remainder = rest.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, rest = first, remainder
        repository, colon, tag = rest.rpartition(":")
        if not colon or "/" in tag:  # no tag: the colon, if any, was a registry port
            repository, tag = rest, ""
        return cls(registry=registry, repository=repository, tag=tag, digest=digest)

    @property
    def is_stock(self) -> bool:
        """One of Konstellation's own images, which KRE's clusters pull from Docker Hub."""
        return not self.registry and self.repository.startswith(STOCK_IMAGE_PREFIX)

    @property
    def floats(self) -> bool:
        """Whether the reference may name another image tomorrow: tag ``latest`` or no tag, and
        no digest."""
        return not self.digest and self.tag in ("", "latest")

    def hub_name(self) -> str:
        """Where Docker Hub would look for it: ``docker.io/library/x`` for a one-part name."""
        path = self.repository if "/" in self.repository else f"library/{self.repository}"
        return f"docker.io/{path}"


def _check_images(
    c: _Checker,
    version: str,
    entrypoint: Entrypoint,
    nodes: Sequence[tuple[int | str, Any]],
) -> None:
    """Warnings about images a KRE cluster cannot pull, or pulls anew on every pod start.

    KRE creates a pod per node with ``nodes[].image`` (and one with ``entrypoint.image``), and
    the cluster pulls that image. Two habits break it; each image gets each warning once, at the
    first place it is used, with the name to write instead:

    * ``krt.image-registry``: no registry host in the name (``kedro-krt-runtime:latest``, the
      way ``docker build -t`` names a local image). The cluster then pulls it from Docker Hub,
      where a team's image almost never is: the pods end in ``ImagePullBackOff``. Exempt:
      Konstellation's images (``konstellation/kre-...``, published on Docker Hub, as every KRE
      example names them), and a name that says ``docker.io/`` explicitly (Docker Hub is meant).
    * ``krt.image-latest``: the tag ``latest``, or no tag (which means ``latest``). Kubernetes
      pulls such an image again on every pod start, so one KRT version would run whatever the
      tag points to that day. A digest (``@sha256:...``) pins the image and is never warned.
    """
    used: dict[str, list[tuple[str, str]]] = {}
    for index, node in nodes:
        # v1: the index in nodes[]; v2: the node's YAML path (workflows[0].nodes[1]).
        where = f"nodes[{index}]" if isinstance(index, int) else index
        if node.image:
            used.setdefault(node.image, []).append((f"{where}.image", node.name))
    checks: list[tuple[str, str, str, str, str]] = []  # image, path, used by, example, setting
    for image, places in used.items():
        names = [f'"{name}"' for _, name in places if name]
        used_by = f"node {names[0]}" if len(names) == 1 else f"nodes {', '.join(names)}"
        example = f"{version or 'my-version'}-runtime"
        checks.append((image, places[0][0], used_by, example, "images.runtime"))
    if entrypoint.image:
        example = ImageName.parse(entrypoint.image).repository.rsplit("/", 1)[-1]
        checks.append(
            (entrypoint.image, "entrypoint.image", "the entrypoint", example, "images.entrypoint")
        )
    for image, path, used_by, example, setting in checks:
        name = ImageName.parse(image)
        tag = "0.1.0" if name.floats else name.tag or "0.1.0"
        better = f"{EXAMPLE_REGISTRY}/{example}:{tag}"
        where = f"(kedro-krt: set {setting} in conf/<env>/krt.yml and package again)"
        if not name.registry and not name.is_stock:
            c.warning(
                path,
                f'Image "{image}" of {used_by} names no registry, so the KRE cluster pulls it '
                f'from Docker Hub ("{name.hub_name()}"), where your image is not: push it to '
                f"the registry your KRE pulls from and name it with that registry's host, e.g. "
                f'"{better}" {where}; write "docker.io/..." if Docker Hub is meant',
                "krt.image-registry",
            )
        if name.floats:
            said = 'uses the tag "latest"' if name.tag else 'has no tag, which means "latest"'
            c.warning(
                path,
                f'Image "{image}" of {used_by} {said}: Kubernetes pulls it again whenever a '
                "pod starts, so this KRT version would run whatever the tag points to that "
                f'day; give the image a version tag of its own, e.g. "{better}" {where}',
                "krt.image-latest",
            )
