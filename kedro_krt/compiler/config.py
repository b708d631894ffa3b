"""The `conf/<env>/krt.yml` file: its schema, its defaults, and loading it through Kedro.

The schema is a tree of frozen pydantic dataclasses (:mod:`kedro_krt.confschema`). Every field
carries its documentation: the checks, the JSON Schema for editors (`kedro krt schema`), the
commented template written by `kedro krt init` and the reference page all come from it, so they
can never disagree. Unknown keys are errors that name the key, where it is and the closest known
key, because KRE itself silently ignores typos and a typo in a deployment config should never pass.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import StrictFloat

from kedro_krt import confschema
from kedro_krt.confschema import doc as _doc
from kedro_krt.confschema import schema_class
from kedro_krt.formats.manifest_base import NAME_RE
from kedro_krt.node.errors import KrtError

CONFIG_NAME = "krt"
CONFIG_PATTERNS = ["krt*", "krt*/**"]
DEFAULT_ENTRYPOINT_IMAGE = "konstellation/kre-entrypoint:1.8.1"
DEFAULT_RUNTIME_IMAGE = "kedro-krt-runtime:latest"

Grouping = Literal["namespace", "single", "node"]
GROUPINGS: tuple[str, ...] = ("namespace", "single", "node")
#: How a table dataset travels in a message: one message per row, or one repeated field per column.
Layout = Literal["rows", "columns"]
#: The KRT format `package` writes, as krt.yml spells it: the values of
#: :class:`kedro_krt.node.krt_version.KrtVersion` (a test keeps the two equal).
KrtVersionName = Literal["v1", "v2"]


class ConfigError(KrtError, ValueError):
    """A problem in krt.yml that the user must fix; the message says where and what to change."""


#: Where KRE 8.2 shares an object store (types.go: ``oneof=workflow project``).
ObjectStoreScope = Literal["workflow", "project"]
#: The most pods KRE can ask for: ``replicas`` is an int32 in KRE 8.2's types.go.
MAX_REPLICAS = 2**31 - 1


@schema_class
class ObjectStoreConfig:
    """A KRT node's JetStream object store (KRT v2: ``objectStore`` of the node in krt.yml)."""

    name: str = _doc(
        "The store's name: lowercase letters, digits and '-' (KRE's nats-manager refuses any "
        "other name when the version starts)."
    )
    scope: ObjectStoreScope = _doc(
        "`workflow`: one store per workflow; `project`: one store for the whole version, "
        "shared by every workflow's nodes that name it.",
        "workflow",
    )


@schema_class
class HooksConfig:
    """Which of the project's Kedro hooks the KRT nodes run, per message and at init."""

    enabled: bool = _doc(
        "false: the nodes run no Kedro hook at all (no cost per message).", True
    )
    keep: tuple[str, ...] = _doc(
        "Run only these hooks: class names of the hooks in settings.py's HOOKS "
        "(`ProjectHooks`) and distribution names of plugins (`kedro-mlflow`). Empty: every "
        "hook `kedro run` registers but kedro-telemetry, kedro-viz and kedro-mlflow, which a "
        "node leaves out unless named here. `compile` lists the hooks each workflow runs.",
        default_factory=tuple,
    )


@schema_class
class WorkflowConfig:
    """One KRT workflow: a registered pipeline, optionally one namespace of it."""

    name: str = _doc("KRT workflow name: lowercase letters, digits and '-', at most 19 chars.")
    pipeline: str = _doc(
        "The registered Kedro pipeline compiled into this workflow; the workflow's name if empty.",
        "",
    )
    namespace: str | None = _doc(
        "Compile only this namespace of the pipeline (dotted prefix match).", None
    )
    rpc: str | None = _doc("The rpc in `service Entrypoint`; CamelCase of the name if unset.", None)
    grouping: Grouping = _doc(
        "How Kedro nodes become KRT nodes: `namespace` (one KRT node per top-level namespace), "
        "`single` (the whole workflow is one KRT node) or `node` (one per Kedro node).",
        "namespace",
    )
    inputs: tuple[str, ...] = _doc(
        "Datasets taken from each request, whatever inference says.", default_factory=tuple
    )
    artifacts: tuple[str, ...] = _doc(
        "Datasets loaded once in init and shared by every request, whatever inference says.",
        default_factory=tuple,
    )
    outputs: tuple[str, ...] = _doc(
        "Datasets returned in the response; all free outputs if empty.", default_factory=tuple
    )
    nodes: dict[str, str] = _doc(
        "Rename KRT nodes: {group (namespace or Kedro node name): KRT node name}.",
        default_factory=dict,
    )
    replicas: dict[str, int] = _doc(
        "KRT v2 only: pods per KRT node, {KRT node name: replicas} (1 when unset); the "
        "generated exitpoint is named `exitpoint`. A node that joins several subscriptions "
        "keeps 1.",
        default_factory=dict,
    )
    gpu: tuple[str, ...] = _doc(
        "KRT nodes whose pods get one GPU each (KRE asks Kubernetes for `nvidia.com/gpu: 1` "
        "and schedules them on its GPU nodes); KRT v1 and v2.",
        default_factory=tuple,
    )
    object_store: dict[str, ObjectStoreConfig] = _doc(
        "KRT v2 only: a JetStream object store per KRT node, {KRT node name: {name, scope}}; "
        "the node's `ctx.object_store` saves and reads objects in it.",
        default_factory=dict,
        key="node",
    )
    hooks: HooksConfig | None = _doc(
        "The Kedro hooks of this workflow's nodes, instead of the version's `hooks:`.", None
    )


@schema_class
class ImagesConfig:
    """Container images written into krt.yml."""

    entrypoint: str = _doc("The KRE entrypoint image.", DEFAULT_ENTRYPOINT_IMAGE)
    runtime: str = _doc(
        "The runner image of Kedro nodes, built from the .krt's Dockerfile (Python 3.10+) and "
        "pushed where KRE pulls images: name it with your registry's host and a version tag, "
        "e.g. registry.example.com/team/shuttle-prices-runtime:0.1.0 (validate warns otherwise).",
        DEFAULT_RUNTIME_IMAGE,
    )


#: The environment variable that holds KRE's API token unless `deploy.token_env` names another.
DEFAULT_TOKEN_ENV = "KRE_API_TOKEN"

#: Keys refused under `deploy:` with the reason: a secret never goes in conf/ (it is committed
#: with the project), however it is spelled.
_SECRET_DEPLOY_KEYS = ("token", "api_token", "apitoken", "jwt", "password", "secret")


@schema_class
class DeployConfig:
    """Where `kedro krt deploy` uploads: KRE's admin API and a runtime. Never the token."""

    api: str = _doc(
        "URL of KRE's admin API, e.g. https://api.kre.example.com (the address kli's "
        "`server add` takes). `--api` wins.",
        "",
    )
    runtime: str = _doc(
        "Id of the KRE runtime the version goes to, as in the admin UI's address "
        "/runtimes/ID/versions. `--runtime` wins.",
        "",
    )
    token_env: str = _doc(
        "Name of the environment variable that holds the API token (the token itself never "
        "goes in krt.yml: a `token` key is refused). `--token-env` wins.",
        DEFAULT_TOKEN_ENV,
    )
    ca_file: str | None = _doc(
        "PEM file of a private CA that signed the API's certificate, trusted besides the "
        "system's trust store; relative to the project. `--ca-file` wins.",
        None,
    )
    ui: str = _doc(
        "Base URL of KRE's admin UI, when it is not the API's address with its first host "
        "label `api` changed to `admin` (KRE's chart serves api.DOMAIN and admin.DOMAIN).",
        "",
    )
    wait: StrictFloat = _doc(
        "Seconds to wait for each status of the version (CREATED, STARTED, PUBLISHED). "
        "`--wait` wins.",
        600.0,
    )
    kre_version: str = _doc(
        "The KRE version deployed to, e.g. `8.2`: `package` then writes the KRT format it "
        "accepts (v2 from 8.1 on) and refuses one it would not, and `deploy` checks the .krt "
        "for it (as `kedro-krt validate --kre`). `--kre` wins.",
        "",
    )


@schema_class
class KrtConfig:
    """The whole `conf/<env>/krt.yml`."""

    version: str = _doc("KRT version name (lowercase, digits, '-', at most 19 chars).", "")
    krt_version: KrtVersionName | None = _doc(
        "The KRT format `package` writes: `v1` (a `sequential` chain; KRE 6.x to 8.0) or `v2` "
        "(nodes subscribe to the nodes they read from, branches run in parallel; KRE 8.0 and "
        "later, the only one KRE 8.1+ accepts). Unset: `v2` when `deploy.kre_version` is 8.1 "
        "or later, else `v1`. `--krt-version` wins.",
        None,
    )
    description: str = _doc("The version's description shown by KRE.", "")
    workflows: tuple[WorkflowConfig, ...] = _doc(
        "The workflows of the version; one per `--pipeline` when given on the command line.",
        default_factory=tuple,
    )
    images: ImagesConfig = _doc("Images of the entrypoint and of the Kedro nodes.", ImagesConfig())
    samples: dict[str, str] = _doc(
        "Sample files (CSV, Parquet, JSON, Excel) used to infer the type of a dataset: "
        "{dataset: path relative to the project}.",
        default_factory=dict,
    )
    schemas: dict[str, Any] = _doc(
        "Explicit types of datasets, which win over inference: {dataset: type}. "
        "See the schema reference for the type language.",
        default_factory=dict,
    )
    variables: tuple[str, ...] = _doc(
        "`config.variables` of krt.yml: env vars set per version in KRE (UPPER_SNAKE).",
        default_factory=tuple,
    )
    exclude: tuple[str, ...] = _doc(
        "Extra glob patterns (relative to the project) of files of the project's package "
        "and of the conf envs never copied into the .krt. Data is never copied but for the "
        "artifacts the nodes load, which exclude does not touch.",
        default_factory=tuple,
    )
    requirements: tuple[str, ...] = _doc(
        "Extra pip requirements of the runner image.", default_factory=tuple
    )
    deploy: DeployConfig = _doc(
        "Connection settings of `kedro krt deploy`: KRE's admin API and runtime. The API "
        "token comes from the environment only.",
        DeployConfig(),
    )
    copy_mode: dict[str, str] = _doc(
        "How a node gets a dataset that someone sees again after it (a later node, the "
        "response, a later request), as Kedro's MemoryDataset copy_mode: {dataset: assign | "
        "copy | deepcopy}. Wins over what compile infers; `assign` shares it by reference.",
        default_factory=dict,
    )
    hooks: HooksConfig = _doc(
        "The project's Kedro hooks in the served nodes (a workflow's `hooks:` wins).",
        HooksConfig(),
    )
    layout: dict[str, Layout] = _doc(
        "How a table dataset travels in its messages: {dataset: rows | columns}. `rows` (the "
        "default) is one message per row, readable as JSON; `columns` is one repeated field per "
        "column, decoded into arrays at C speed: for bulk tables. See the schema reference.",
        default_factory=dict,
    )


def _refuse_secrets(cls: Any, data: Mapping[str, Any], where: str) -> None:
    if cls is not DeployConfig:
        return
    for key in data:
        if str(key) == "token_env":
            continue
        folded = str(key).lower().replace("-", "_")
        if any(secret in folded for secret in _SECRET_DEPLOY_KEYS):
            raise ConfigError(
                f"krt.yml: '{where}.{key}' is refused: an API token never goes in conf/, which "
                "is committed with the project. Export it in the environment instead, as "
                f"{DEFAULT_TOKEN_ENV} (or the variable that `{where}.token_env` or "
                "--token-env names)."
            )


def parse_config(data: Mapping[str, Any] | None) -> KrtConfig:
    """Validate plain data (as loaded from YAML) against the schema, then the values KRE
    refuses in a node's settings (``replicas``, ``object_store``)."""
    config = confschema.parse(
        KrtConfig, dict(data or {}), file="krt.yml", error=ConfigError, raw_check=_refuse_secrets
    )
    problems = [p for i, w in enumerate(config.workflows) for p in _node_settings_problems(i, w)]
    if problems:
        raise ConfigError("krt.yml: " + "; ".join(problems))
    return config


def _node_settings_problems(index: int, wf: WorkflowConfig) -> list[str]:
    """What KRE 8.2 would refuse, or Kubernetes or its nats-manager fail on later, in the node
    settings of workflow ``index``. Whether each node exists is known once compiled."""
    where = f"workflows[{index}]"
    problems = []
    for node, count in wf.replicas.items():
        if count < 1 or count > MAX_REPLICAS:
            problems.append(
                f"'{where}.replicas.{node}' is {count}: write a whole number of pods, 1 or more"
                + (" (KRE reads 0 as 1: write 1, or leave the node out)" if count == 0 else "")
            )
    for node, store in wf.object_store.items():
        if not NAME_RE.match(store.name):
            problems.append(
                f"'{where}.object_store.{node}.name' is {store.name!r}, which KRE's "
                "nats-manager refuses when the version starts (invalid object store name): use "
                "only lowercase letters, digits and '-', starting and ending with a letter or "
                "digit"
            )
    return problems


def load_config(config_loader: Any) -> KrtConfig:
    """Load `krt.yml` through the project's Kedro config loader (base merged with the env).

    The `krt` pattern is added when the project's settings do not declare it, as kedro-airflow
    does, so that projects need no settings change.
    """
    try:
        if CONFIG_NAME not in config_loader.config_patterns:
            config_loader.config_patterns[CONFIG_NAME] = CONFIG_PATTERNS
        raw = config_loader[CONFIG_NAME]
    except KeyError:
        raw = {}
    except Exception as exc:  # Kedro raises several types for unreadable YAML
        if exc.__class__.__name__ == "MissingConfigException":
            raw = {}
        else:
            raise ConfigError(f"krt.yml could not be read: {exc}") from exc
    return parse_config(raw)


#: Where the JSON Schema of krt.yml is published with the docs (`kedro krt schema` prints it).
SCHEMA_FILE = "krt.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of krt.yml, for editors (the YAML language server) and the reference."""
    return confschema.json_schema(KrtConfig, "krt.yml (kedro-krt)")


def describe_schema() -> list[tuple[str, str, str, str]]:
    """(key path, type, default, doc) rows of the schema, for the template and the reference."""
    return confschema.describe(json_schema())


def render_template(version: str, description: str, workflows: Sequence[Mapping[str, Any]]) -> str:
    """The commented `krt.yml` written by `kedro krt init`."""
    wf_lines = []
    for wf in workflows:
        wf_lines.append(f"  - name: {wf['name']}")
        wf_lines.append(f"    pipeline: {wf['pipeline']}")
        wf_lines.append(f"    rpc: {wf['rpc']}")
        wf_lines.append(f"    grouping: {wf.get('grouping', 'namespace')}")
        for key in ("inputs", "artifacts"):
            values = wf.get(key) or []
            wf_lines.append(
                f"    {key}: {yaml.safe_dump(list(values), default_flow_style=True).strip()}"
            )
    if not wf_lines:
        wf_lines.append("  []")
    return TEMPLATE.format(
        version=version,
        description=yaml.safe_dump(description, default_style='"').strip(),
        workflows="\n".join(wf_lines),
        entrypoint=DEFAULT_ENTRYPOINT_IMAGE,
        runtime=DEFAULT_RUNTIME_IMAGE,
    )


TEMPLATE = """\
# kedro-krt: how this project becomes a KRT version for KRE.
# Written by `kedro krt init`; every key is optional unless noted. Unknown keys are errors.
# `kedro krt compile` shows what each setting does; the reference lists every key.

# The version's name: lowercase letters, digits and '-', at most 19 characters.
version: {version}
description: {description}

# The KRT format: v1 (KRE 6.x to 8.0) or v2 (KRE 8.0 and later, the only one of KRE 8.1+;
# independent branches run in parallel). Unset: v2 if deploy.kre_version is 8.1+, else v1.
# krt_version: v2

# One workflow per registered pipeline (or per namespace of one). The rpc is its name in
# `service Entrypoint`. grouping: namespace (one KRT node per top-level namespace), single, node.
# inputs / artifacts override what the compiler infers for a dataset.
workflows:
{workflows}

images:
  entrypoint: {entrypoint}
  # The Kedro nodes need Python 3.10+: build this image from the .krt's Dockerfile.
  runtime: {runtime}

# Sample files to infer a dataset's type from, when the catalog cannot load it:
# samples:
#   etl.shuttles: data/01_raw/sample_shuttles.csv
samples: {{}}

# Explicit types, which win over inference. Scalars: double int64 bool string bytes timestamp
# struct value (suffix ? for optional); list[double]; {{table: {{column: type}}}};
# {{record: {{key: type}}}}; {{series: double}}.
# schemas:
#   output.quotes: {{table: {{shuttle_id: string, price: double}}}}
schemas: {{}}

# Environment variables KRE sets per version (config.variables in krt.yml); never put secrets
# in conf/: read them from these variables.
variables: []

# Extra glob patterns never copied into the .krt (conf/local and credentials never are).
exclude: []

# Where `kedro krt deploy` uploads. The API token is read from the environment variable
# KRE_API_TOKEN (or the one token_env names), never from this file.
# deploy:
#   api: https://api.kre.example.com
#   runtime: demo
#   kre_version: "8.2"
"""


def config_path(project_path: Path, env: str) -> Path:
    """Where `kedro krt init` writes the config for `env`."""
    return project_path / "conf" / env / "krt.yml"
