"""The catalogue of the manifest checks: every rule id, its severity and its words, in one place.

A :class:`Rule` is a message template with named ``{placeholders}``; a check fills it with
:meth:`Rule.at`. ``kre.*`` rules are KRE's own (KRE refuses the manifest, in the words quoted
from KRE's code), ``krt.*`` rules are ours (KRE lets it through and it breaks later).

:data:`V1_SHAPE_RULES` says which rule a pydantic error of the KRT v1 schema becomes:
``(pydantic error type, path shape)``, with ``*`` for any shape. The errors page of the docs
(``docs/hooks.py``) lists :data:`CATALOGUE`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from kedro_krt.formats.problems import Problem, Severity, error, warning

__all__ = ["CATALOGUE", "V1_SHAPE_RULES", "Rule"]


@dataclass(frozen=True)
class Rule:
    """One check's rule id, severity and message template (``{name}``: what varies)."""

    id: str
    severity: Severity
    template: str

    def at(self, where: str, /, **values: object) -> Problem:
        """The problem at location ``where`` (``krt.yml:3 nodes[0].name``), the template filled
        with ``values``."""
        return (error if self.severity == "error" else warning)(where, self.text(**values), self.id)

    def text(self, **values: object) -> str:
        """The message, the template filled with ``values``."""
        return self.template.format(**values)

    def shown(self) -> str:
        """The template as the docs show it, ``<name>`` for what varies."""
        return re.sub(r"\{(\w+)\}", r"<\1>", self.template)


# -- what every mapping, list and scalar of a manifest is told ---------------------------------

UNKNOWN_KEY = Rule(
    "krt.unknown-key",
    "error",
    'Unknown key "{key}"{where}: {hint}KRE ignores unknown keys silently, so this value would '
    "be lost; known keys here: {known}",
)
V2_IN_V1 = Rule(
    "krt.unknown-key",
    "error",
    'Unknown key "krtVersion"{where}: this is a KRT v2 manifest, and only KRT v1 is supported; '
    "remove krtVersion and write a v1 krt.yml",
)
NOT_A_MAPPING = Rule("krt.type", "error", '"{path}" must be a mapping, found {found}')
NOT_A_LIST = Rule("krt.type", "error", '"{path}" must be a list, found {found}')
NOT_A_NAME_LIST = Rule(
    "krt.type",
    "error",
    '"{path}" must be a list, found {found}: write it as [{value}] or one "- item" per line',
)
NOT_A_NAME = Rule("krt.type", "error", '"{path}" must be a non-empty string, found {found}')
NOT_A_STRING = Rule("krt.type", "error", '"{path}" must be a string, found {found}: {hint}')
NOT_A_FLAG = Rule("krt.type", "error", '"{path}" must be true or false, found {found}')
SCHEMA_OTHER = Rule("krt.type", "error", '"{path}": {message}')
TOP_NOT_A_MAPPING = Rule(
    "krt.type", "error", "krt.yml must be a mapping with {keys}, found {found}"
)

# -- KRE 7's rules of KRT v1 (konstellation-io/kre @ kre-7.0.0: krt/types.go, validations.go) --

V1_REQUIRED = Rule("kre.required", "error", 'The field "{field}" is required: add {hint}')
V1_EMPTY = Rule("kre.required", "error", '"{path}" is empty: add {hint}')
V1_NAME = Rule(
    "kre.name",
    "error",
    'Invalid resource name "{name}" at "{field}": use only lowercase letters, digits and \'-\', '
    "starting and ending with a letter or digit{example}",
)
V1_NAME_LENGTH = Rule(
    "kre.name",
    "error",
    'Invalid resource name "{name}" at "{field}": it has {length} characters and KRE allows at '
    "most {limit}{example}",
)
V1_PROTO_SUFFIX = Rule(
    "kre.proto-suffix",
    "error",
    'The field "Entrypoint.Proto" must end with ".proto", found "{proto}": write "proto: '
    '{expected}"',
)
V1_VARIABLE_NAME = Rule(
    "kre.variable-name",
    "error",
    'Invalid variable name "{name}" at "{field}": use only uppercase letters, digits and \'_\', '
    "starting and ending with a letter or digit{example}",
)
V1_SEQUENTIAL_NODE = Rule(
    "kre.sequential-node",
    "error",
    "node in sequential not found: {step}: {hint}every name in sequential must be a "
    "nodes[].name (known: {known})",
)

# -- ours, for what KRE lets through --------------------------------------------------------------

DESCRIPTION_BLANK = Rule(
    "krt.description-empty",
    "error",
    'The field "Description" is blank: write one line saying what this version does',
)
PROTO_NAME = Rule(
    "krt.proto-name",
    "error",
    '"entrypoint.proto" is "{proto}", but KRE\'s entrypoint always reads "{expected}" (the name '
    'is hard-coded in its image): rename the file to {expected} and write "proto: {expected}"',
)
DUPLICATE_CONFIG_NAME = Rule(
    "krt.duplicate", "warning", '"{name}" is listed twice in {path}: remove one'
)
DUPLICATE_NODE = Rule(
    "krt.duplicate-node",
    "error",
    'Duplicate node name "{name}" (also nodes[{first}]): KRE would deploy both under one name; '
    "rename one of them",
)
DUPLICATE_WORKFLOW = Rule(
    "krt.duplicate-workflow",
    "error",
    'Duplicate workflow name "{name}" (also workflows[{first}]): rename one of them',
)
RPC_NAME = Rule(
    "krt.rpc-name",
    "error",
    '"{path}" is "{rpc}", which cannot be an rpc name: use the name of an rpc of "service '
    'Entrypoint" (letters, digits and "_", e.g. "Predict")',
)
DUPLICATE_RPC = Rule(
    "krt.duplicate-rpc",
    "error",
    'Duplicate rpc "{rpc}" (also workflows[{first}].entrypoint): the entrypoint routes each rpc '
    "to one workflow; give each workflow its own rpc",
)
SEQUENTIAL_EMPTY = Rule(
    "krt.sequential-empty",
    "error",
    '"{path}" is empty: list the nodes the request passes through, in order (known nodes: '
    "{known})",
)
SEQUENTIAL_REPEAT = Rule(
    "krt.sequential-repeat",
    "error",
    'Node "{step}" appears twice in "{path}": a node can run only once in a workflow; remove '
    "the repeat or declare a second node",
)
NODE_UNUSED = Rule(
    "krt.node-unused",
    "warning",
    'Node "{name}" is used by no workflow: KRE still starts it; add it to a workflow\'s '
    "sequential or remove it",
)

# -- images, every format (kedro_krt.formats.images) --------------------------------------------

IMAGE_REGISTRY = Rule(
    "krt.image-registry",
    "warning",
    'Image "{image}" of {used_by} names no registry, so the KRE cluster pulls it from Docker Hub '
    '("{hub}"), where your image is not: push it to the registry your KRE pulls from and name '
    'it with that registry\'s host, e.g. "{better}" {where}; write "docker.io/..." if Docker Hub '
    "is meant",
)
IMAGE_LATEST = Rule(
    "krt.image-latest",
    "warning",
    'Image "{image}" of {used_by} {said}: Kubernetes pulls it again whenever a pod starts, so '
    "this KRT version would run whatever the tag points to that day; give the image a version "
    'tag of its own, e.g. "{better}" {where}',
)

#: Every rule of this catalogue, for the docs' errors page.
CATALOGUE: tuple[Rule, ...] = tuple(v for v in dict(globals()).values() if isinstance(v, Rule))

#: The rule a pydantic error of the KRT v1 schema becomes: (error type, path shape) -> rule;
#: ``*`` matches any shape. What is not here is a type error, worded by the value found.
V1_SHAPE_RULES: dict[tuple[str, str], Rule] = {
    ("missing", "*"): V1_REQUIRED,
    ("string_too_short", "*"): V1_REQUIRED,
    ("too_short", "*"): V1_EMPTY,
    ("string_too_short", "config.variables[]"): NOT_A_NAME,
    ("string_too_short", "config.files[]"): NOT_A_NAME,
    ("string_too_short", "workflows[].sequential[]"): NOT_A_NAME,
    ("string_pattern_mismatch", "version"): V1_NAME,
    ("string_too_long", "version"): V1_NAME,
    ("string_pattern_mismatch", "nodes[].name"): V1_NAME,
    ("string_too_long", "nodes[].name"): V1_NAME,
    ("string_pattern_mismatch", "workflows[].name"): V1_NAME,
    ("string_too_long", "workflows[].name"): V1_NAME,
    ("string_pattern_mismatch", "description"): DESCRIPTION_BLANK,
    ("string_pattern_mismatch", "entrypoint.proto"): V1_PROTO_SUFFIX,
    ("string_pattern_mismatch", "config.variables[]"): V1_VARIABLE_NAME,
    ("string_pattern_mismatch", "config.files[]"): V1_VARIABLE_NAME,
    ("string_pattern_mismatch", "workflows[].entrypoint"): RPC_NAME,
    ("extra_forbidden", "*"): UNKNOWN_KEY,
    ("model_type", "*"): NOT_A_MAPPING,
    ("tuple_type", "*"): NOT_A_LIST,
    ("tuple_type", "config.variables"): NOT_A_NAME_LIST,
    ("tuple_type", "config.files"): NOT_A_NAME_LIST,
    ("tuple_type", "workflows[].sequential"): NOT_A_NAME_LIST,
    ("string_type", "*"): NOT_A_STRING,
    ("string_type", "config.variables[]"): NOT_A_NAME,
    ("string_type", "config.files[]"): NOT_A_NAME,
    ("string_type", "workflows[].sequential[]"): NOT_A_NAME,
    ("bool_type", "*"): NOT_A_FLAG,
}
