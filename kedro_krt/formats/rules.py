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

__all__ = ["CATALOGUE", "V1_SHAPE_RULES", "V2_SHAPE_RULES", "Rule"]


@dataclass(frozen=True)
class Rule:
    """One check's rule id, severity and message template (``{name}``: what varies).

    A rule of KRE's whose words we know has them in ``kre`` (a template too): the problem's
    :attr:`~kedro_krt.formats.problems.Problem.kre`, and ``{kre}`` in ``template``.
    """

    id: str
    severity: Severity
    template: str
    kre: str = ""

    def at(self, where: str, /, **values: object) -> Problem:
        """The problem at location ``where`` (``krt.yml:3 nodes[0].name``), the template filled
        with ``values``."""
        kre = self.kre.format(**values)
        message = self.template.format(**values, kre=kre)
        if self.severity == "warning":
            return warning(where, message, self.id)
        return error(where, message, self.id, kre)

    def shown(self) -> str:
        """The template as the docs show it, ``<name>`` for what varies."""
        text = self.template.replace("{kre}", self.kre)
        return re.sub(r"\{(\w+)\}", r"<\1>", text)


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
    '"{path}" is empty: list the nodes the request passes through, in order (known nodes: {known})',
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

IMAGE_LATEST = Rule(
    "krt.image-latest",
    "warning",
    'Image "{image}" of {used_by} {said}: Kubernetes pulls it again whenever a pod starts, so '
    "this KRT version would run whatever the tag points to that day; give the image a version "
    'tag of its own, e.g. "{better}" {where}',
)

# -- a manifest of another platform (kedro_krt.formats.validate) ------------------------------

KAI_MANIFEST = Rule(
    "krt.kai-manifest",
    "error",
    "{file} is a product manifest of Konstellation's KAI platform (workflows with processes), "
    "not a KRT of KRE: kedro-krt reads KRT v1 and v2 (KRE 6.x to 8.2) and does not check, "
    "build or serve KAI products",
)

# -- the compiled plans of kedro-krt's nodes (kedro_krt.formats.validate, every format) ---------

PLAN_FORMAT = Rule(
    "krt.plan-format",
    "warning",
    "{advice}. On KRE, and under `kedro-krt serve --nats`, the node runs with the kedro-krt "
    "vendored in the KRT's lib/, which reads it; `kedro-krt serve` in process refuses it",
)
PLAN_UNREADABLE = Rule(
    "krt.plan-format",
    "error",
    "plan.json is not a kedro-krt plan ({error}): the node cannot start; package the KRT again",
)

# -- KRE 8.2's rules of KRT v2 (konstellation-io/kre @ v8.2.0: engine/admin-api/domain/usecase/
# krt/types.go as validator/fields_validator.go words them, then validator/validator.go) --------

#: version_interactor.go, ``Create``: a manifest without krtVersion that passes the checks.
KRE_KRT_VERSION_MISSING = "error krtVersion input from krt.yml not valid: "

V2_REQUIRED = Rule(
    "kre.required", "error", "{kre}: add {hint}", kre='the field "{field}" is required'
)
V2_NAME = Rule(
    "kre.name",
    "error",
    "{kre}: use only lowercase letters, digits and '-', starting and ending with a letter or "
    "digit{example}",
    kre='invalid resource name "{name}" at "{field}"',
)
V2_NAME_LENGTH = Rule(
    "kre.name-length",
    "error",
    "{kre}: it has {length} characters; KRE allows at most {limit}{example}",
    kre='invalid length "{name}" at "{field}" must be lower than {limit_plus_one}',
)
V2_KRT_VERSION_MISSING = Rule(
    "kre.krt-version",
    "error",
    'add "krtVersion: {expected}" at the top of krt.yml: it is written as KRT {expected} (nodes '
    "under each workflow, with subscriptions and an exitpoint) but does not say so. Without "
    'it KRE 8.1 and later answer "{kre}", and KRE 8.0 reads it as KRT v1 and refuses it (\'the '
    'field "workflow.exitpoint" is incompatible with version v1\')',
    kre=KRE_KRT_VERSION_MISSING,
)
V2_KRT_VERSION = Rule(
    "kre.krt-version",
    "error",
    '{kre}: write "krtVersion: {expected}" (the only value KRE 8.1 and later accept)',
    kre='invalid value "{value}" at krtVersion "KrtVersion"',
)
V2_PROTO_SUFFIX = Rule(
    "kre.proto-suffix",
    "error",
    '{kre}: write "proto: {expected}"',
    kre='invalid value "{proto}" at "Entrypoint.Proto" must end with .proto',
)
V2_VARIABLE_NAME = Rule(
    "kre.variable-name",
    "error",
    "{kre}: start and end with a letter or digit{example}",
    kre='invalid value "{name}" at env var "{field}" must contain only capital letters, numbers, '
    "and underscores",
)
V2_OBJECT_STORE_SCOPE = Rule(
    "kre.object-store-scope",
    "error",
    '{kre}: the scope is {said}; write "scope: workflow" (one store per workflow) or "scope: '
    'project" (one for the whole version)',
    kre="Key: 'Krt.{field}.Scope' Error:Field validation for 'Scope' failed on the 'oneof' tag",
)
V2_NODE_NAME_REPEATED = Rule(
    "kre.node-name-repeated",
    "error",
    '{kre}: "{name}" is used twice in workflow "{workflow}": rename one',
    kre="node names should be unique per workflows",
)
V2_SUBSCRIPTIONS_REQUIRED = Rule(
    "kre.subscriptions-required",
    "error",
    '{kre}: add "subscriptions: [entrypoint]" to receive the request, or the names of the nodes '
    "whose output it reads",
    kre='node "{name}" requires at least one subscription',
)
V2_EXITPOINT_MISSING = Rule(
    "kre.exitpoint",
    "error",
    "{kre}: name the node whose output answers the caller (exitpoint: <node>)",
    kre='missing exitpoint in workflow "{workflow}"',
)
V2_EXITPOINT_NOT_FOUND = Rule(
    "kre.exitpoint",
    "error",
    "{kre}: {hint}the exitpoint must be one of the workflow's nodes ({known})",
    kre='exitpoint node "{exitpoint}" not found in workflow "{workflow}" nodes',
)

# -- ours, KRT v2 ---------------------------------------------------------------------------------

V1_KEY = Rule(
    "krt.v1-key",
    "error",
    '"{key}"{where} is a KRT v1 key, which KRE 8 ignores in a v2 krt.yml: {v1}; remove it',
)
V2_DESCRIPTION_BLANK = Rule(
    "krt.description-empty",
    "error",
    '"description" is blank: write one line saying what this version does',
)
NUMBER_AS_TEXT = Rule(
    "krt.type",
    "warning",
    '"{path}" is the number {number}; KRE reads it as the text "{value}": quote it',
)
WORKFLOWS_EMPTY = Rule("krt.workflows-empty", "error", '"workflows" is empty: add a workflow')
NODES_EMPTY = Rule(
    "krt.nodes-empty",
    "error",
    'workflow "{workflow}" has no nodes: list them under "nodes", each with name, image, src and '
    "subscriptions",
)
REPLICAS_TYPE = Rule(
    "krt.replicas",
    "error",
    '"{path}" must be a whole number, found {found}: KRE cannot read it (yaml: cannot unmarshal '
    'into int32); write e.g. "replicas: 2"',
)
REPLICAS_RANGE = Rule(
    "krt.replicas",
    "error",
    '"{path}" is {replicas}: Kubernetes refuses a deployment with that many replicas; write a '
    "number of pods from 1 up",
)
REPLICAS_ZERO = Rule(
    "krt.replicas",
    "warning",
    '"{path}" is 0, which KRE reads as 1 (version_interactor.go): write 1, or leave it out',
)
OBJECT_STORE_NAME_MISSING = Rule(
    "krt.object-store-name",
    "error",
    "\"{path}\" is missing: name the object store (lowercase letters, digits and '-'); KRE's "
    "nats-manager refuses an empty name when the version starts (invalid object store name)",
)
OBJECT_STORE_NAME = Rule(
    "krt.object-store-name",
    "error",
    '"{name}" at "{path}" is not a valid object store name: KRE accepts the upload, then its '
    'nats-manager refuses to start the version with "invalid object store name" (nats-manager '
    "entity/object_store.go); use only lowercase letters, digits and '-'",
)
IMAGE_KRT_VERSION = Rule(
    "krt.image-krt-version",
    "warning",
    "Image \"{image}\" is KRE 7's {short_name}, which speaks only KRT v1's messages: a KRT v2 "
    "needs {repository}:3.x (KRE 8), e.g. {repository}:{example}",
)
SUBSCRIPTION_REPEATED = Rule(
    "krt.subscription-repeated",
    "warning",
    'node "{node}" subscribes to "{text}" twice: it would get every message twice; remove one',
)
SUBSCRIPTION_SUBTOPIC = Rule(
    "krt.subscription-unknown",
    "error",
    'subscription "{text}" of node "{node}": the entrypoint publishes only to "entrypoint", '
    'never to a subtopic; write "entrypoint"',
)
SUBSCRIPTION_UNKNOWN = Rule(
    "krt.subscription-unknown",
    "error",
    'subscription "{text}" of node "{node}" names no node of workflow "{workflow}": {hint}a '
    'subscription is "entrypoint", a node of the same workflow ({known}) or <node>.<subtopic>; '
    "KRE accepts it and the node never gets a message",
)
SUBSCRIPTION_SELF = Rule(
    "krt.subscription-cycle",
    "error",
    'node "{node}" subscribes to itself ("{text}"): every message it sends would come back to '
    "it; remove the subscription",
)
SUBSCRIPTION_CYCLE = Rule(
    "krt.subscription-cycle",
    "error",
    'the subscriptions of workflow "{workflow}" make a cycle: {cycle} (each arrow: a node whose '
    "output the next one subscribes to); a message would go round forever: remove one of those "
    "subscriptions",
)
ENTRYPOINT_UNUSED = Rule(
    "krt.entrypoint-unused",
    "error",
    'no node of workflow "{workflow}" subscribes to "entrypoint": the request would reach no '
    'node; add "entrypoint" to the subscriptions of the first node',
)
EXITPOINT_UNREACHABLE = Rule(
    "krt.exitpoint-unreachable",
    "error",
    'the exitpoint "{exitpoint}" of workflow "{workflow}" cannot be reached from "entrypoint" '
    "through the subscriptions, so no request would be answered; subscribe it (or a node "
    "before it) to a node the request reaches",
)
REPLICAS_JOIN = Rule(
    "krt.replicas-join",
    "warning",
    'node "{node}" has {replicas} replicas and subscribes to several nodes: each subscription is '
    "a queue group of its own, so the messages of one request may reach different pods; a node "
    "that joins them by request id needs replicas: 1",
)
NODE_UNREACHED = Rule(
    "krt.node-unreached",
    "warning",
    'node "{node}" is never reached from "entrypoint" through the subscriptions: it would never '
    "get a message; subscribe it to a node the request reaches, or remove it",
)

# -- reading krt.yml, every format (kedro_krt.formats.checks_base) ----------------------------

YAML_SYNTAX = Rule("krt.yaml-syntax", "error", "krt.yml is not valid YAML: {error}")
YAML_SYNTAX_AT = Rule(
    "krt.yaml-syntax",
    "error",
    "krt.yml is not valid YAML{where}: {what}; fix the YAML syntax there (indentation, a missing "
    "':' or an unclosed quote or bracket)",
)
YAML_EMPTY = Rule("kre.required", "error", "krt.yml is empty: write {what}")
DUPLICATE_KEY = Rule(
    "krt.duplicate-key",
    "error",
    'Key "{key}" is written twice in this mapping (first at line {first}); YAML keeps only the '
    "last one: remove one of them",
)

# -- what a KRE answers for a whole KRT (kedro_krt.formats.manifest_v1/v2, V1Format/V2Format) --

V1_REFUSED = Rule(
    "kre.krt-v1-refused",
    "error",
    "KRE {kre_version} accepts only KRT v2 (krtVersion: v2; v1 was dropped in KRE 8.1, "
    "konstellation-io/kre #706) and answers this v1 krt.yml with:\n{kre}\npackage it as v2: "
    "kedro krt package --krt-version v2 (or krt_version: v2 in conf/<env>/krt.yml); a "
    "hand-written KRT: nodes under each workflow, with subscriptions, and an exitpoint",
    kre="{said}",
)
V1_SRC_MISSING = Rule(
    "kre.src-missing", "error", "error src File {src} for node {node} not exists: {hint}"
)
V2_REFUSED = Rule(
    "kre.krt-v2-unknown",
    "error",
    "KRE {kre_version} reads only KRT v1: krtVersion: v2 needs KRE 8.0 or later; for KRE "
    "{kre_version} package it as v1 (kedro krt package --krt-version v1)",
)
V2_FIELD_IGNORED = Rule(
    "kre.v2-field-ignored",
    "warning",
    'KRE 8.0 reads no {ignored} (they came with KRE 8.1 and 8.2, types.go): node "{node}" '
    "would run one pod without an object store",
)
# KRE 8.2: validator/fields_validator.go, ValidateSrcPaths (its trailing space too).
V2_SRC_MISSING = Rule(
    "kre.src-missing",
    "error",
    'error src file "{src}" for node "{node}" does not exists: {hint}',
    kre='error src file "{src}" for node "{node}" does not exists ',
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

#: The same for the KRT v2 schema (KRE 8.2's words where KRE has a rule).
V2_SHAPE_RULES: dict[tuple[str, str], Rule] = {
    **{k: v for k, v in V1_SHAPE_RULES.items() if k[1] == "*"},
    ("missing", "*"): V2_REQUIRED,
    ("string_too_short", "*"): V2_REQUIRED,
    ("too_short", "workflows"): WORKFLOWS_EMPTY,
    ("string_too_short", "config.variables[]"): NOT_A_NAME,
    ("string_too_short", "config.files[]"): NOT_A_NAME,
    ("string_too_short", "workflows[].nodes[].subscriptions[]"): NOT_A_NAME,
    ("string_type", "config.variables[]"): NOT_A_NAME,
    ("string_type", "config.files[]"): NOT_A_NAME,
    ("string_type", "workflows[].nodes[].subscriptions[]"): NOT_A_NAME,
    ("tuple_type", "config.variables"): NOT_A_NAME_LIST,
    ("tuple_type", "config.files"): NOT_A_NAME_LIST,
    ("tuple_type", "workflows[].nodes[].subscriptions"): NOT_A_NAME_LIST,
    ("string_pattern_mismatch", "version"): V2_NAME,
    ("string_too_long", "version"): V2_NAME,
    ("string_pattern_mismatch", "workflows[].name"): V2_NAME,
    ("string_too_long", "workflows[].name"): V2_NAME,
    ("string_pattern_mismatch", "workflows[].nodes[].name"): V2_NAME,
    ("string_too_long", "workflows[].nodes[].name"): V2_NAME,
    ("string_pattern_mismatch", "description"): V2_DESCRIPTION_BLANK,
    ("string_pattern_mismatch", "entrypoint.proto"): V2_PROTO_SUFFIX,
    ("string_pattern_mismatch", "config.variables[]"): V2_VARIABLE_NAME,
    ("string_pattern_mismatch", "workflows[].entrypoint"): RPC_NAME,
}
