"""Kedro project -> plan: workflows, KRT nodes, dataset roles, messages."""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from kedro_krt.compiler.config import KrtConfig, WorkflowConfig
from kedro_krt.compiler.datatypes import TypeResolver
from kedro_krt.compiler.examples import EXAMPLE_ROWS, example_request, sample_rows
from kedro_krt.compiler.project import KedroProject, node_infos
from kedro_krt.formats.manifest_base import RPC_RE, is_valid_name, readable_name, to_valid_name
from kedro_krt.node.analysis import (
    CompileError,
    Decision,
    Group,
    classify,
    liveness,
    make_groups,
    param_path,
    select_nodes,
    workflow_namespaces,
)
from kedro_krt.node.plan import (
    INTERNAL_PROTO,
    PARAMETERS_FIELD,
    PUBLIC_PROTO,
    ROLE_LABELS,
    DatasetPlan,
    HooksPlan,
    KrtNodePlan,
    ParameterPlan,
    Plan,
    WorkflowPlan,
)
from kedro_krt.node.runtime.catalog import CatalogView
from kedro_krt.node.runtime.copies import COPY_MODES, infer_copy_mode
from kedro_krt.node.runtime.hooks import select_hooks
from kedro_krt.node.schema.infer import infer_type
from kedro_krt.node.schema.types import (
    Field,
    Message,
    SchemaError,
    TableLayout,
    TypeSpec,
    to_identifier,
    to_message_name,
    validity_fields,
)

Progress = Callable[[str], None]


@dataclass(frozen=True)
class DefaultChoice:
    """What `init` (and `compile` without krt.yml) takes from the registered pipelines.

    Attributes:
        pipelines: every registered pipeline but ``__default__``, sorted.
        namespaced: those whose every node is in a namespace (each becomes a workflow).
        workflows: the workflows chosen: the namespaced pipelines with ``grouping:
            namespace``; when there are none, the first pipeline as one KRT node
            (``grouping: single``), since one KRT node per Kedro node (a pod each on KRE,
            a message between each two) is rarely what a first deployment wants.
    """

    pipelines: tuple[str, ...]
    namespaced: tuple[str, ...]
    workflows: tuple[WorkflowConfig, ...]


def default_choice(project: KedroProject) -> DefaultChoice:
    """The workflows inferred from the registered pipelines (see :class:`DefaultChoice`)."""
    registered = project.load_pipelines(None)
    names = sorted(p for p in registered if p != "__default__")
    namespaced = [
        p for p in names if registered[p].nodes and all(n.namespace for n in registered[p].nodes)
    ]
    if namespaced:
        workflows = [WorkflowConfig(name=readable_name(p), pipeline=p) for p in namespaced]
    else:
        workflows = [
            WorkflowConfig(name=readable_name(p), pipeline=p, grouping="single") for p in names[:1]
        ]
    return DefaultChoice(tuple(names), tuple(namespaced), tuple(workflows))


def default_workflows(project: KedroProject) -> list[WorkflowConfig]:
    """The workflows of :func:`default_choice`."""
    return list(default_choice(project).workflows)


def workflow_configs(config: KrtConfig, pipelines: Sequence[str] | None) -> list[WorkflowConfig]:
    """The workflows to compile: `--pipeline` names (with their config, if any), else the config."""
    if pipelines:
        chosen = []
        for p in pipelines:
            match = [w for w in config.workflows if p in (w.pipeline or w.name, w.name)]
            chosen.extend(match or [WorkflowConfig(name=readable_name(p), pipeline=p)])
        return chosen
    if not config.workflows:
        raise CompileError(
            "no workflow to compile: pass --pipeline NAME, or list workflows in "
            "conf/base/krt.yml (`kedro krt init` writes one)"
        )
    return list(config.workflows)


def version_of(project: KedroProject, version: str | None = None) -> str:
    """The name the version gets: ``version`` (``--version``), else krt.yml's ``version:``,
    else the package name made valid. Known before anything is compiled (deploy checks it
    against KRE first).

    Raises:
        CompileError: a name KRE would refuse.
    """
    name = version or project.config.version or readable_name(project.package_name)
    if not is_valid_name(name):
        raise CompileError(
            f"version name '{name}' is not valid for KRE: use lowercase letters, digits "
            f"and '-', at most 19 characters (e.g. '{readable_name(name)}'); set it with "
            "--version or `version:` in krt.yml"
        )
    return name


def rpc_name(workflow: WorkflowConfig) -> str:
    """The rpc of a workflow: configured, else CamelCase of its name."""
    rpc = workflow.rpc or to_message_name(workflow.name)
    if not RPC_RE.match(rpc):
        raise CompileError(
            f"rpc name '{rpc}' of workflow '{workflow.name}' is not a proto identifier"
        )
    return rpc


def compile_project(
    project: KedroProject,
    pipelines: Sequence[str] | None = None,
    *,
    version: str | None = None,
    progress: Progress | None = None,
) -> Plan:
    """Compile the chosen pipelines of a project into a plan."""
    config = project.config
    plan_warnings: list[str] = []
    if pipelines or config.workflows:
        workflows = workflow_configs(config, pipelines)
        project.load_pipelines(sorted({w.pipeline or w.name for w in workflows}))
    else:
        # Nothing chosen: take what `kedro krt init` would write, and say so.
        choice = default_choice(project)
        workflows = list(choice.workflows)
        if not workflows:
            workflow_configs(config, pipelines)  # raises the "no workflow" error
        why = (
            "the namespaced ones"
            if choice.namespaced
            else "no pipeline is namespaced: the first, as one KRT node"
        )
        plan_warnings.append(
            "no workflow in krt.yml and no --pipeline: compiled "
            + ", ".join(f"pipeline '{w.pipeline}'" for w in workflows)
            + f" ({why}); run `kedro krt init` to choose"
        )
    version_name = version_of(project, version)
    names = [w.name for w in workflows]
    for name in names:
        if not is_valid_name(name):
            raise CompileError(
                f"workflow name '{name}' is not valid for KRE: use lowercase letters, digits and "
                f"'-', at most 19 characters (e.g. '{readable_name(name)}')"
            )
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise CompileError(f"workflow names must be unique; repeated: {', '.join(dup)}")
    used_node_names: set[str] = set()
    compiled: list[WorkflowPlan] = []
    for wf in workflows:
        if progress:
            progress(f"compiling workflow '{wf.name}' from pipeline '{wf.pipeline or wf.name}'")
        compiled.append(_with_hooks(config, wf, _compile_workflow(project, wf, used_node_names)))
    _check_layouts(config, compiled)
    rpcs = [w.rpc for w in compiled]
    dup_rpc = sorted({r for r in rpcs if rpcs.count(r) > 1})
    if dup_rpc:
        raise CompileError(
            f"two workflows share the rpc {', '.join(dup_rpc)}: set `rpc:` for one of them"
        )
    return Plan(
        version=version_name,
        description=config.description or f"{project.project_name} (Kedro pipelines)",
        env=project.env,
        package_name=project.package_name,
        project_name=project.project_name,
        entrypoint_image=config.images.entrypoint,
        runtime_image=config.images.runtime,
        workflows=tuple(compiled),
        variables=tuple(config.variables),
        warnings=tuple(plan_warnings),
    )


_SHARED_ROLES = ("artifact", "fixed-parameter", "parameter")


def _with_hooks(config: KrtConfig, wf: WorkflowConfig, plan: WorkflowPlan) -> WorkflowPlan:
    """The workflow's hook selection (its own ``hooks:``, else the version's), checked against
    the hooks the project registers, and the report's lines about them: none when the
    workflow runs no hook and krt.yml says nothing (the plain case reads as before)."""
    from kedro.framework.project import settings

    chosen = wf.hooks or config.hooks
    hooks = HooksPlan(enabled=chosen.enabled, keep=tuple(chosen.keep))
    selection = select_hooks(settings, hooks)
    lines = tuple(selection.describe()) if selection.kept or hooks != HooksPlan() else ()
    return replace(plan, hooks=hooks, hook_report=lines)


def _with_layout(dataset: str, spec: TypeSpec, layout: TableLayout) -> TypeSpec:
    """The table type of ``dataset`` in the ``layout`` that krt.yml's `layout:` chose."""
    if spec.kind != "table":
        raise CompileError(
            f"layout of '{dataset}' in krt.yml is {layout!r}, but '{dataset}' is not a table "
            f"(its type is {spec.describe()}): `layout:` applies to DataFrames only; remove it"
        )
    try:
        out = replace(spec, layout=layout)
        if layout == "columns":
            validity_fields(out.columns)  # the validity fields must have numbers
    except SchemaError as exc:
        raise CompileError(f"layout of '{dataset}' in krt.yml: {exc}") from None
    return out


def _check_layouts(config: KrtConfig, compiled: Sequence[WorkflowPlan]) -> None:
    """Every dataset under `layout:` is a table that travels in a message of some workflow."""
    known: dict[str, list[DatasetPlan]] = {}
    for w in compiled:
        for d in w.datasets:
            known.setdefault(d.name, []).append(d)
    for name, layout in config.layout.items():
        plans = known.get(name)
        if not plans:
            close = difflib.get_close_matches(name, list(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise CompileError(
                f"layout of '{name}' in krt.yml: no compiled workflow has a dataset '{name}'"
                f"{hint} (write the full dataset name, namespace included)"
            )
        if not any(p.type is not None and p.type.kind == "table" for p in plans):
            role = ROLE_LABELS.get(plans[0].role, plans[0].role)
            raise CompileError(
                f"layout of '{name}' in krt.yml is {layout!r}, but '{name}' is a {role} that no "
                "message carries as a table: `layout:` applies to request, response and carried "
                "DataFrames; remove it"
            )


def decide_copy_modes(
    decisions: Mapping[str, Any],
    preloaded: Mapping[str, Any],
    resolver: TypeResolver,
    config: KrtConfig,
) -> dict[str, tuple[str, str]]:
    """How each dataset's readers get it, and why (Kedro's copy semantics at the lowest cost).

    Values loaded once and kept for every message (artifacts, parameters) are copied for a
    reader only where a node changes them in place: the trial run tells which do. Where it
    could not run, the runtime copies them in the mode their type calls for. ``copy_mode`` in
    krt.yml wins over both.
    """
    chosen = dict(config.copy_mode)
    for d, mode in chosen.items():
        if mode not in COPY_MODES:
            raise CompileError(
                f"copy_mode of '{d}' in krt.yml is {mode!r}: write one of "
                f"{', '.join(COPY_MODES)} (Kedro's MemoryDataset copy modes)"
            )
    out: dict[str, tuple[str, str]] = {
        d: (str(mode), "copy_mode in krt.yml") for d, mode in chosen.items() if d in decisions
    }
    shared = [
        d
        for d, dec in decisions.items()
        if dec.role in _SHARED_ROLES
        and d not in out
        # Numbers, text and other immutable values need nothing.
        and not (d in preloaded and infer_copy_mode(preloaded[d]) == "assign")
    ]
    if not shared:
        return out
    resolver.trial_values()
    for d in shared:
        if d in resolver.mutated:
            mode = infer_copy_mode(preloaded[d]) if d in preloaded else "deepcopy"
            who = ", ".join(f"'{n}'" for n in resolver.mutated[d])
            out[d] = (
                mode if mode != "assign" else "deepcopy",
                f"node {who} changes it in place (trial run): each message gets a copy",
            )
        elif resolver.trial_complete and d in preloaded:
            out[d] = ("assign", "shared: no node changed it in the trial run")
    return out


def _compile_workflow(
    project: KedroProject, wf: WorkflowConfig, used_node_names: set[str]
) -> WorkflowPlan:
    pipeline_name = wf.pipeline or wf.name
    pipeline = project.pipeline(pipeline_name)
    infos = select_nodes(node_infos(pipeline), wf.namespace)
    if not infos:
        raise CompileError(f"pipeline '{pipeline_name}' has no nodes")
    kedro_nodes = {n.name: n for n in pipeline.nodes}
    groups = make_groups(infos, wf.grouping, wf.namespace)
    catalog_loads = CatalogView(project.catalog)
    decisions = classify(
        infos,
        wf.namespace,
        inputs=wf.inputs,
        artifacts=wf.artifacts,
        outputs=wf.outputs,
        artifact_reason=catalog_loads.artifact_reason,
    )
    decisions = _add_internal(decisions, groups)
    rpc = rpc_name(wf)
    node_names = _krt_node_names(wf, groups, used_node_names)
    warnings: list[str] = []
    live = liveness(groups, decisions)

    # Types of everything that travels in a message.
    request = sorted(d for d, dec in decisions.items() if dec.role == "request")
    travelling = sorted({d for w in live.writes for d in w} | set(request))
    ordered_nodes = [kedro_nodes[n.name] for g in groups for n in g.nodes]
    preloaded = {
        d: catalog_loads.value(d)
        for d, dec in decisions.items()
        if dec.role in ("artifact", "fixed-parameter", "parameter") and catalog_loads.available(d)
    }
    resolver = TypeResolver(
        schemas=project.config.schemas,
        samples=project.config.samples,
        project_path=project.path,
        load_from_catalog=catalog_loads.load,
        nodes=ordered_nodes,
        request=request,
        preloaded=preloaded,
    )
    types: dict[str, tuple[TypeSpec, str]] = {d: resolver.resolve(d) for d in travelling}
    for d, layout in project.config.layout.items():
        if d in types and layout != types[d][0].layout:
            types[d] = (_with_layout(d, types[d][0], layout), types[d][1])
    if resolver.opaque:
        _refuse_opaque(resolver.opaque, decisions, groups)
    warnings.extend(resolver.warnings)
    for d, dec in decisions.items():
        if dec.role == "request" and dec.rule.startswith("no dataset is namespaced"):
            cfg = project.dataset_config(d)
            if cfg and "filepath" in cfg and types[d][0].kind == "value":
                warnings.append(
                    f"request input '{d}' is a {cfg.get('type')} in the catalog: if it is an "
                    "artifact loaded once, list it under `artifacts:` of this workflow in krt.yml"
                )

    fields = _field_names(travelling, wf.namespace)
    parameters = _parameter_plans(decisions, workflow_namespaces(infos, wf.namespace))
    params_type = _parameters_type(parameters, preloaded)

    def message(name: str, datasets: Sequence[str], with_params: bool, doc: str) -> Message:
        flds = [
            Field(name=fields[d], original=d, type=types[d][0], number=i + 1)
            for i, d in enumerate(sorted(datasets, key=lambda d: fields[d]))
        ]
        if with_params and params_type is not None:
            flds.append(
                Field(
                    name=PARAMETERS_FIELD,
                    original=PARAMETERS_FIELD,
                    type=params_type,
                    number=len(flds) + 1,
                )
            )
        return Message(name=name, fields=tuple(flds), doc=doc)

    req_msg = _require_columns(
        message(
            f"{rpc}Request",
            request,
            bool(parameters),
            f"The request of rpc {rpc} (workflow {wf.name}).",
        )
    )
    response = sorted(d for d, dec in decisions.items() if dec.role == "response")
    resp_msg = message(f"{rpc}Response", response, False, f"The response of rpc {rpc}.")
    internal: list[Message] = []
    node_plans: list[KrtNodePlan] = []
    incoming, incoming_proto = req_msg, PUBLIC_PROTO
    for i, g in enumerate(groups):
        name = node_names[g.key]
        last = i == len(groups) - 1
        if last:
            outgoing, outgoing_proto = resp_msg, PUBLIC_PROTO
        else:
            outgoing = message(
                f"{rpc}{to_message_name(_message_label(wf, g.key, name))}Output",
                live.writes[i],
                live.writes_parameters[i],
                f"From KRT node {name} to the next node of workflow {wf.name}.",
            )
            outgoing_proto = INTERNAL_PROTO
            internal.append(outgoing)
        used = g.inputs
        node_plans.append(
            KrtNodePlan(
                name=name,
                group=g.key,
                kedro_nodes=tuple(n.name for n in g.nodes),
                input_message=incoming.name,
                input_proto=incoming_proto,
                output_message=outgoing.name,
                output_proto=outgoing_proto,
                reads=live.reads[i],
                writes=live.writes[i],
                artifacts=tuple(sorted(d for d in used if decisions[d].role == "artifact")),
                fixed_parameters=tuple(
                    sorted(d for d in used if decisions[d].role == "fixed-parameter")
                ),
                parameters=tuple(p for p in parameters if p.dataset in used),
                reads_parameters=bool(parameters) and live.reads_parameters[i],
                writes_parameters=bool(parameters) and live.writes_parameters[i],
            )
        )
        incoming, incoming_proto = outgoing, outgoing_proto

    copies = decide_copy_modes(decisions, preloaded, resolver, project.config)
    producer = {o: node_names[g.key] for g in groups for o in g.outputs}
    consumers: dict[str, list[str]] = {}
    for g in groups:
        for d in sorted(g.inputs):
            consumers.setdefault(d, []).append(node_names[g.key])
    for path, spec in _parameter_leaves(parameters, params_type):
        types[path[0]] = (spec, "parameters.yml value")
        fields[path[0]] = path[1]
    datasets = tuple(
        DatasetPlan(
            name=d,
            role=dec.role,  # type: ignore[arg-type]
            rule=dec.rule,
            field=fields.get(d),
            type=types[d][0] if d in types else None,
            type_source=types[d][1] if d in types else "",
            producer=producer.get(d),
            consumers=tuple(consumers.get(d, ())),
            copy_mode=copies.get(d, ("", ""))[0],
            copy_rule=copies.get(d, ("", ""))[1],
        )
        for d, dec in sorted(decisions.items())
    )
    return WorkflowPlan(
        name=wf.name,
        rpc=rpc,
        pipeline=pipeline_name,
        namespace=wf.namespace,
        grouping=wf.grouping,
        nodes=tuple(node_plans),
        datasets=datasets,
        request=req_msg,
        response=resp_msg,
        internal=tuple(internal),
        parameters=tuple(parameters),
        example=_example(req_msg, request, resolver, warnings),
        warnings=tuple(warnings),
    )


def _example(
    request: Message, datasets: Sequence[str], resolver: TypeResolver, warnings: list[str]
) -> str:
    """The example request, as proto3 JSON text, from the sample rows when the workflow answers
    them (see :mod:`kedro_krt.compiler.examples`); "" when there are none or it does not (the
    emitter then makes one from the types: a warning says so when rows did not answer)."""
    import pandas as pd

    values: dict[str, Any] = {}
    for f in request.fields:
        if f.original not in datasets:
            continue
        found, value, _ = resolver.data(f.original)
        if not found:
            return ""
        if f.type.kind == "table" and isinstance(value, pd.DataFrame):
            value = sample_rows(f.type, value)
            if value.empty:
                return ""
        values[f.original] = value
    if not values:
        return ""
    failure = resolver.fails_on(values)
    if failure is not None:
        tables = ", ".join(f"'{d}'" for d, v in values.items() if isinstance(v, pd.DataFrame))
        warnings.append(
            f"the example request is made from the types, not from sample rows: the first "
            f"{EXAMPLE_ROWS} rows of {tables or 'the request'} do not answer ({failure}); name "
            "sample files whose first rows answer under `samples:` in krt.yml (rows that join, "
            "for a request of several tables)"
        )
        return ""
    example = example_request(request, values, skip=(PARAMETERS_FIELD,))
    return "" if example is None else json.dumps(example)


def _refuse_opaque(
    opaque: dict[str, str], decisions: dict[str, Decision], groups: Sequence[Group]
) -> None:
    """A dataset holding a Python object (a model, a client) cannot travel in a message."""
    where = {o: g.key for g in groups for o in g.outputs}
    lines = []
    for name, kind in sorted(opaque.items()):
        role = decisions[name].role
        if role == "carried":
            fix = (
                f"it is made in '{where.get(name) or 'the workflow'}' and read in a later KRT "
                "node: keep its producer and its readers in one namespace, or use "
                "`grouping: single` for this workflow"
            )
        elif role == "request":
            fix = (
                "it is a request input here (a free input the workflow's namespaces hold, or "
                "any free input of a workflow with no namespace): list it under `artifacts:` "
                "of this workflow in krt.yml to load it once from the catalog"
            )
        else:
            fix = (
                "it is a response output: return data (a DataFrame, a dict, numbers) instead, "
                "or leave it out with `outputs:` in krt.yml"
            )
        lines.append(f"'{name}' holds a {kind}, which no message can carry; {fix}")
    raise CompileError("; ".join(lines))


def _require_columns(msg: Message) -> Message:
    """Request rows must carry every non-nullable column: proto3 would read a forgotten one as
    0, false or "" and the model would answer for the wrong input. The runtime refuses it."""
    fields = []
    for f in msg.fields:
        spec = f.type
        if spec.kind == "table":
            columns = tuple(c if c.optional else replace(c, required=True) for c in spec.columns)
            spec = replace(spec, columns=columns)
        fields.append(Field(f.name, f.original, spec, f.number))
    return Message(msg.name, tuple(fields), msg.doc)


def _add_internal(decisions: dict[str, Decision], groups: Sequence[Group]) -> dict[str, Decision]:
    """Datasets produced and consumed inside the workflow: carried or in memory."""
    out = dict(decisions)
    producer = {o: g.key for g in groups for o in g.outputs}
    for g in groups:
        for d in sorted(g.inputs):
            if d in producer and d not in out:
                out[d] = Decision("carried", f"made in '{producer[d]}', read in '{g.key}'")
    for g in groups:
        for n in g.nodes:
            for o in n.outputs:
                out.setdefault(
                    o, Decision("intermediate", f"made and read inside '{g.key or 'the node'}'")
                )
    return out


def _message_label(wf: WorkflowConfig, key: str, name: str) -> str:
    """What a KRT node's output message is named after: its KRT node name, or the whole name
    it was abbreviated from (``PreprocessCompaniesNode``, not ``PreprocCompanies``); message
    names have no length limit."""
    base = key.split(".")[-1] if key else wf.name
    if name == readable_name(base) and name != to_valid_name(base, max_len=10**6):
        return base
    return name


def _krt_node_names(wf: WorkflowConfig, groups: Sequence[Group], used: set[str]) -> dict[str, str]:
    names: dict[str, str] = {}
    # The one group of `grouping: single` (outside a namespace) has no key: it is renamed by
    # the workflow's name.
    keys = {g.key: g.key or wf.name for g in groups}
    unknown = sorted(set(wf.nodes) - set(keys.values()))
    if unknown:
        raise CompileError(
            f"`nodes:` of workflow '{wf.name}' renames {', '.join(unknown)}, which are not groups "
            f"of it; its groups are: {', '.join(keys[g.key] for g in groups)}"
        )
    for g in groups:
        if keys[g.key] in wf.nodes:
            name = wf.nodes[keys[g.key]]
            if not is_valid_name(name):
                raise CompileError(
                    f"KRT node name '{name}' (workflow '{wf.name}', `nodes:`) is not valid for "
                    "KRE: lowercase letters, digits and '-', at most 19 characters"
                )
        else:
            base = g.key.split(".")[-1] if g.key else wf.name
            # Readable within KRE's 19 characters: `preprocess_companies_node` becomes
            # `preproc-companies`, not `preprocess-companie` (see readable_name).
            name = readable_name(base)
            if name in used:
                name = readable_name(f"{wf.name}-{base}")
            n = 2
            while name in used:
                suffix = f"-{n}"
                name = readable_name(base, max_len=19 - len(suffix)) + suffix
                n += 1
        if name in used:
            raise CompileError(f"KRT node name '{name}' is used twice: rename one under `nodes:`")
        used.add(name)
        names[g.key] = name
    return names


def _field_names(datasets: Sequence[str], root: str | None) -> dict[str, str]:
    """Field names: the dataset's last name component, or more of it where that collides."""

    def relative(d: str) -> str:
        return d[len(root) + 1 :] if root and d.startswith(root + ".") else d

    short = {d: relative(d).split(".")[-1] for d in datasets}
    counts: dict[str, int] = {}
    for s in short.values():
        counts[s] = counts.get(s, 0) + 1
    out: dict[str, str] = {}
    taken = {PARAMETERS_FIELD}
    for d in sorted(datasets):
        base = short[d] if counts[short[d]] == 1 else relative(d)
        name = to_identifier(base)
        while name in taken:
            name += "_"
        taken.add(name)
        out[d] = name
    return out


def _parameter_plans(
    decisions: dict[str, Decision], namespaces: Sequence[str]
) -> list[ParameterPlan]:
    plans = []
    for d, dec in sorted(decisions.items()):
        if dec.role != "parameter":
            continue
        path = param_path(d)
        if path is None:
            raise CompileError(f"'{d}' is not a `params:` dataset and cannot be a parameter")
        ns = next((n for n in namespaces if path == n or path.startswith(n + ".")), "")
        key = path[len(ns) + 1 :] if ns and path != ns else path
        plans.append(ParameterPlan(dataset=d, namespace=ns, key=key, field=to_identifier(key)))
    return plans


def _parameter_leaves(
    plans: Sequence[ParameterPlan], params_type: TypeSpec | None
) -> list[tuple[tuple[str, str], TypeSpec]]:
    """((dataset, "parameters.<ns>.<field>"), leaf type) of each per-message parameter."""
    if params_type is None:
        return []
    out = []
    top = {f.original: f for f in params_type.fields}
    for p in plans:
        if p.namespace:
            record = top[p.namespace]
            leaf = next(f for f in record.type.fields if f.original == p.key)
            path = f"{PARAMETERS_FIELD}.{record.name}.{leaf.name}"
        else:
            leaf = top[p.key]
            path = f"{PARAMETERS_FIELD}.{leaf.name}"
        out.append(((p.dataset, path), leaf.type))
    return out


def _parameters_type(plans: Sequence[ParameterPlan], values: dict[str, Any]) -> TypeSpec | None:
    """The optional `parameters` record: one nested record per namespace, optional leaves."""
    if not plans:
        return None
    by_ns: dict[str, list[Field]] = {}
    for p in plans:
        spec = infer_type(values.get(p.dataset)) if p.dataset in values else None
        if spec is None:
            spec = TypeSpec(kind="value")
        if spec.kind == "scalar":
            spec = TypeSpec(kind="scalar", scalar=spec.scalar, optional=True)
        fields = by_ns.setdefault(p.namespace, [])
        fields.append(Field(name=p.field, original=p.key, type=spec, number=len(fields) + 1))
    top: list[Field] = []
    for ns in sorted(by_ns):
        if ns == "":
            for f in by_ns[ns]:
                top.append(Field(f.name, f.original, f.type, len(top) + 1))
        else:
            record = TypeSpec(kind="record", fields=tuple(by_ns[ns]), container="dict")
            top.append(Field(to_identifier(ns), ns, record, len(top) + 1))
    return TypeSpec(kind="record", fields=tuple(top), container="dict")
