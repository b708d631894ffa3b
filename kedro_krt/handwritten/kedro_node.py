"""A node of a hand-written KRT made from a Kedro pipeline: the mapping checked, the plan made.

`krt-build.yml` maps fields of the node's input message to free inputs of the pipeline, and
its free outputs to fields of the output message. The datasets get their roles by the rules of
`kedro krt compile` (a mapped input is read per message, an unmapped free input is an artifact
loaded once, or an error where compile would read it from each request) and their types by the
same inference (schemas, samples, the catalog, a trial run, type hints). Each type is then
checked against protoc's descriptor of the hand-written field, and the node's runtime plan
(:class:`~kedro_krt.node.plan.NodeRuntimePlan`, the one compiled KRTs use) is written with
the hand-written names, so that kedro_krt's runtime runs the node as it runs a compiled one.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from google.protobuf import message_factory
from google.protobuf.descriptor import Descriptor

from kedro_krt.compiler.compile import _add_internal, decide_copy_modes
from kedro_krt.compiler.datatypes import TypeResolver
from kedro_krt.compiler.project import KedroProject, node_infos
from kedro_krt.formats.manifest_v1 import Manifest
from kedro_krt.handwritten.config import BUILD_FILE, KedroSource
from kedro_krt.handwritten.errors import BuildError
from kedro_krt.handwritten.protos import CompiledProtos, module_of
from kedro_krt.handwritten.typecheck import Fitted, Mismatch, describe_field, fit
from kedro_krt.node.analysis import (
    CompileError,
    Decision,
    Group,
    NodeInfo,
    classify,
    is_parameter,
    select_nodes,
    toposort,
)
from kedro_krt.node.plan import DatasetPlan, KrtNodePlan, NodeRuntimePlan
from kedro_krt.node.runtime.catalog import CatalogView
from kedro_krt.node.schema.relay import copyable
from kedro_krt.node.schema.types import Field, Message, SchemaError, TypeSpec


@dataclass(frozen=True)
class FieldMapping:
    """One line of `inputs`/`outputs`, checked: the field, the dataset and their types."""

    field: str
    dataset: str
    field_type: str
    dataset_type: str
    type_source: str
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class KedroNode:
    """What the build knows of a node made from a Kedro pipeline.

    ``plan`` is None for a node whose main.py is hand-written (it uses KrtSession): the build
    then only ships the project and the artifacts the pipeline loads.
    """

    name: str
    source: KedroSource
    project: KedroProject
    folder: str
    src: str
    kedro_nodes: tuple[str, ...]
    artifacts: tuple[str, ...]
    plan: NodeRuntimePlan | None = None
    input_message: str = ""
    output_message: str = ""
    inputs: tuple[FieldMapping, ...] = ()
    outputs: tuple[FieldMapping, ...] = ()
    carried: tuple[str, ...] = ()
    unset: tuple[str, ...] = ()
    datasets: tuple[DatasetPlan, ...] = ()
    warnings: tuple[str, ...] = ()

    @property
    def generated(self) -> bool:
        """Whether the build writes this node's main.py."""
        return self.plan is not None


def describe_type(spec: TypeSpec) -> str:
    """A dataset's type in Python's words, for the report: ``table (11 columns)``."""
    if spec.kind == "table":
        return f"table ({len(spec.columns)} column{'s' * (len(spec.columns) != 1)})"
    if spec.kind == "list":
        return f"list of {spec.scalar}"
    if spec.kind == "scalar":
        return f"{spec.scalar}{' or None' if spec.optional else ''}"
    if spec.kind == "record":
        return f"dict ({len(spec.fields)} key{'s' * (len(spec.fields) != 1)})"
    if spec.kind == "struct":
        return "dict (free-form)"
    return "unknown type"


def _where(node: str) -> str:
    return f"node '{node}' ({BUILD_FILE} nodes.{node}.kedro)"


def _closest(name: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


def node_messages(
    node: str, manifest: Manifest, protos: CompiledProtos
) -> tuple[set[str], set[str]]:
    """The messages the workflows imply the node receives and sends (rpc request of a first
    node, rpc response of a last one), as full names."""
    received: set[str] = set()
    sent: set[str] = set()
    for wf in manifest.workflows:
        if node not in wf.sequential:
            continue
        types = protos.rpc_types(wf.entrypoint)
        if types is None:
            continue
        if wf.sequential[0] == node:
            received.add(types[0])
        if wf.sequential[-1] == node:
            sent.add(types[1])
    return received, sent


def _message(
    node: str,
    key: str,
    given: str,
    implied: set[str],
    protos: CompiledProtos,
) -> tuple[Descriptor, str]:
    side = "receives" if key == "input" else "sends on"
    if given:
        try:
            descriptor, proto = protos.find_message(given)
        except BuildError as exc:
            raise BuildError(f"{_where(node)}: `{key}: {given}`: {exc}") from None
        if implied and descriptor.full_name not in implied:
            raise BuildError(
                f"{_where(node)}: `{key}: {given}`, but its workflows make it {side} "
                f"{', '.join(sorted(implied))}: remove `{key}:` or fix krt.yml"
            )
        return descriptor, proto
    if len(implied) == 1:
        return protos.find_message(next(iter(implied)))
    if implied:
        raise BuildError(
            f"{_where(node)}: its workflows make it {side} different messages "
            f"({', '.join(sorted(implied))}): one node has one {key} message"
        )
    position = "first" if key == "input" else "last"
    raise BuildError(
        f"{_where(node)}: which message it {side} is not known (it is not {position} in a "
        f"workflow): name it with `{key}: <Message>`"
    )


def plan_kedro_node(
    *,
    name: str,
    src: str,
    source: KedroSource,
    project: KedroProject,
    folder: str,
    manifest: Manifest,
    protos: CompiledProtos,
) -> KedroNode:
    """Check a Kedro source against its project and the KRT's protos; plan the node."""
    where = _where(name)
    try:
        pipeline = project.pipeline(source.pipeline)
        infos = toposort(select_nodes(node_infos(pipeline), source.namespace))
    except CompileError as exc:
        raise BuildError(f"{where}: {exc}") from None
    if not infos:
        raise BuildError(f"{where}: pipeline '{source.pipeline}' has no nodes")
    produced = {o for n in infos for o in n.outputs}
    consumed = {i for n in infos for i in n.inputs}
    free_inputs = sorted(consumed - produced)
    free_outputs = sorted(produced - consumed)
    catalog = CatalogView(project.catalog)
    kedro_nodes = tuple(n.name for n in infos)

    unknown_art = [d for d in source.artifacts if d not in free_inputs]
    if unknown_art:
        raise BuildError(
            f"{where}: artifacts: '{unknown_art[0]}' is not a free input of pipeline "
            f"'{source.pipeline}'{_closest(unknown_art[0], free_inputs)} (its free inputs: "
            f"{', '.join(free_inputs)})"
        )
    if not source.generated:
        decisions = classify(
            infos,
            source.namespace,
            artifacts=source.artifacts,
            artifact_reason=catalog.artifact_reason,
        )
        artifacts = tuple(sorted(d for d, x in decisions.items() if x.role == "artifact"))
        return KedroNode(
            name=name,
            source=source,
            project=project,
            folder=folder,
            src=src,
            kedro_nodes=kedro_nodes,
            artifacts=artifacts,
        )
    return _plan_generated(
        name=name,
        src=src,
        source=source,
        project=project,
        folder=folder,
        manifest=manifest,
        protos=protos,
        infos=infos,
        free_inputs=free_inputs,
        free_outputs=free_outputs,
        catalog=catalog,
        pipeline=pipeline,
    )


def _check_names(
    where: str,
    source: KedroSource,
    in_msg: Descriptor,
    out_msg: Descriptor,
    free_inputs: Sequence[str],
    free_outputs: Sequence[str],
) -> None:
    problems = []
    for field, dataset in source.inputs.items():
        if field not in in_msg.fields_by_name:
            problems.append(
                f"inputs: {in_msg.full_name} has no field '{field}'"
                f"{_closest(field, list(in_msg.fields_by_name))} (its fields: "
                f"{', '.join(in_msg.fields_by_name) or '(none)'})"
            )
        if dataset not in free_inputs:
            problems.append(
                f"inputs: '{dataset}' is not a free input of pipeline '{source.pipeline}'"
                f"{_closest(dataset, free_inputs)} (its free inputs: {', '.join(free_inputs)})"
            )
    datasets = list(source.inputs.values())
    twice = sorted({d for d in datasets if datasets.count(d) > 1})
    if twice:
        problems.append(f"inputs: '{twice[0]}' is mapped from more than one field; keep one")
    for dataset, field in source.outputs.items():
        if dataset not in free_outputs:
            problems.append(
                f"outputs: '{dataset}' is not a free output of pipeline '{source.pipeline}'"
                f"{_closest(dataset, free_outputs)} (its free outputs: "
                f"{', '.join(free_outputs)})"
            )
        if field not in out_msg.fields_by_name:
            problems.append(
                f"outputs: {out_msg.full_name} has no field '{field}'"
                f"{_closest(field, list(out_msg.fields_by_name))} (its fields: "
                f"{', '.join(out_msg.fields_by_name) or '(none)'})"
            )
    fields = list(source.outputs.values())
    twice = sorted({f for f in fields if fields.count(f) > 1})
    if twice:
        problems.append(f"outputs: field '{twice[0]}' is written from more than one dataset")
    both = sorted(set(source.artifacts) & set(source.inputs.values()))
    if both:
        problems.append(f"'{both[0]}' is both mapped under `inputs` and listed under `artifacts`")
    if not source.outputs:
        problems.append(
            "`outputs` maps no dataset: map a free output of the pipeline "
            f"({', '.join(free_outputs)}) to a field of {out_msg.full_name}"
        )
    if problems:
        raise BuildError(f"{where}:\n" + "\n".join(f"  - {p}" for p in problems))


def _plan_generated(
    *,
    name: str,
    src: str,
    source: KedroSource,
    project: KedroProject,
    folder: str,
    manifest: Manifest,
    protos: CompiledProtos,
    infos: list[NodeInfo],
    free_inputs: list[str],
    free_outputs: list[str],
    catalog: CatalogView,
    pipeline: Any,
) -> KedroNode:
    where = _where(name)
    implied_in, implied_out = node_messages(name, manifest, protos)
    in_msg, in_proto = _message(name, "input", source.input, implied_in, protos)
    out_msg, out_proto = _message(name, "output", source.output, implied_out, protos)
    _check_names(where, source, in_msg, out_msg, free_inputs, free_outputs)

    field_of_input = {d: f for f, d in source.inputs.items()}
    field_of_output = dict(source.outputs)
    try:
        decisions = classify(
            infos,
            source.namespace,
            inputs=list(field_of_input),
            artifacts=source.artifacts,
            outputs=list(field_of_output),
            artifact_reason=catalog.artifact_reason,
        )
    except CompileError as exc:
        raise BuildError(f"{where}: {exc}") from None
    unmapped = [d for d, x in decisions.items() if x.role == "request" and d not in field_of_input]
    if unmapped:
        lines = [f"'{d}' ({decisions[d].rule})" for d in unmapped]
        raise BuildError(
            f"{where}: compile's rules read {', '.join(lines)} from each message: map it under "
            f"`inputs:` to a field of {in_msg.full_name}, or list it under `artifacts:` to "
            "load it from the catalog once, at init"
        )
    decisions = _build_decisions(decisions, field_of_input, field_of_output, in_msg, out_msg)
    decisions = _add_internal(decisions, [Group(name, tuple(infos))])

    kedro_by_name = {n.name: n for n in pipeline.nodes}
    ordered = [kedro_by_name[n.name] for n in infos]
    preloaded = {
        d: catalog.value(d)
        for d, x in decisions.items()
        if x.role in ("artifact", "fixed-parameter", "parameter") and catalog.available(d)
    }
    requested = sorted(d for d, x in decisions.items() if x.role == "request")
    resolver = TypeResolver(
        schemas={**project.config.schemas, **source.schemas},
        samples={**project.config.samples, **source.samples},
        project_path=project.path,
        load_from_catalog=catalog.load,
        nodes=ordered,
        request=requested,
        preloaded=preloaded,
    )
    mapped = sorted({*field_of_input, *field_of_output})
    try:
        types = {d: resolver.resolve(d) for d in mapped}
    except (SchemaError, CompileError) as exc:
        raise BuildError(f"{where}: {exc}") from None
    opaque = sorted(d for d in field_of_output if d in resolver.opaque)
    if opaque:
        raise BuildError(
            f"{where}: outputs: '{opaque[0]}' holds a {resolver.opaque[opaque[0]]}, which no "
            "message can carry: map a dataset that holds data (a DataFrame, a dict, numbers)"
        )
    # A dataset nothing types is read as its field declares it (typecheck.spec_from_field).
    untyped = tuple(f"no type found for '{d}'" for d in mapped)
    warnings = [w for w in resolver.warnings if not w.startswith(untyped)]

    problems: list[str] = []
    fitted: dict[str, Fitted] = {}
    mappings: dict[str, FieldMapping] = {}
    for dataset in mapped:
        direction = "in" if dataset in field_of_input else "out"
        side = in_msg if direction == "in" else out_msg
        field = field_of_input.get(dataset) or field_of_output[dataset]
        fd = side.fields_by_name[field]
        spec, type_source = types[dataset]
        shown = describe_type(spec)
        try:
            fitted[dataset] = fit(spec, fd, direction)  # type: ignore[arg-type]
        except Mismatch as exc:
            problems.append(
                f"field '{field}' of {side.full_name} is {describe_field(fd)}, dataset "
                f"'{dataset}' is {shown} (typed from {type_source}): {exc}"
            )
            continue
        notes = list(fitted[dataset].notes)
        if is_parameter(dataset) and direction == "in" and not fd.has_presence:
            notes.append(
                f"{side.name}.{field} has no presence, so an unset field sends its default "
                f"({describe_field(fd)}) as '{dataset}': declare it `optional` to keep the "
                "project's value when the caller leaves it out"
            )
        mappings[dataset] = FieldMapping(
            field=field,
            dataset=dataset,
            field_type=describe_field(fd),
            dataset_type=describe_type(fitted[dataset].spec),
            type_source=type_source if spec.kind != "value" else f"field {side.name}.{field}",
            notes=tuple(notes),
        )
    if problems:
        raise BuildError(
            f"{where}: the mapping does not type-check:\n"
            + "\n".join(f"  - {p}" for p in problems)
            + "\nChange the field in the proto, map another dataset, or give the dataset's "
            f"type under `schemas:` of nodes.{name}.kedro"
        )

    def planned(descriptor: Descriptor, datasets: dict[str, str]) -> Message:
        flds = [
            Field(f, d, fitted[d].spec, descriptor.fields_by_name[f].number)
            for d, f in datasets.items()
        ]
        flds.sort(key=lambda f: f.number)
        return Message(name=descriptor.name, fields=tuple(flds))

    input_message = planned(in_msg, field_of_input)
    output_message = planned(out_msg, field_of_output)
    in_cls = message_factory.GetMessageClass(in_msg)
    out_cls = message_factory.GetMessageClass(out_msg)
    free_fields = [f.name for f in out_msg.fields if f.name not in field_of_output.values()]
    carried = tuple(f for f in free_fields if copyable(in_cls, out_cls, f))
    unset = tuple(f for f in free_fields if f not in carried)

    copies = decide_copy_modes(decisions, preloaded, resolver, project.config)
    node_ns = source.namespace or ""
    datasets = tuple(
        DatasetPlan(
            name=d,
            role=x.role,  # type: ignore[arg-type]
            rule=x.rule,
            field=field_of_input.get(d) or field_of_output.get(d),
            type=fitted[d].spec if d in fitted else None,
            type_source=types[d][1] if d in types else "",
            producer=name if d in {o for n in infos for o in n.outputs} else None,
            consumers=(name,) if d in {i for n in infos for i in n.inputs} else (),
            copy_mode=copies.get(d, ("", ""))[0],
            copy_rule=copies.get(d, ("", ""))[1],
        )
        for d, x in sorted(decisions.items())
    )
    roles = {d: x.role for d, x in decisions.items()}
    node_plan = KrtNodePlan(
        name=name,
        group=node_ns,
        kedro_nodes=tuple(n.name for n in infos),
        input_message=in_msg.name,
        input_proto=in_proto,
        output_message=out_msg.name,
        output_proto=out_proto,
        reads=tuple(sorted(field_of_input)),
        writes=tuple(sorted(field_of_output)),
        artifacts=tuple(sorted(d for d, r in roles.items() if r == "artifact")),
        # A parameter read from a field is loaded too: its value when the field is unset.
        fixed_parameters=tuple(
            sorted(d for d, r in roles.items() if r in ("fixed-parameter", "parameter"))
        ),
    )
    workflow = next((w.name for w in manifest.workflows if name in w.sequential), "")
    plan = NodeRuntimePlan(
        version=manifest.version,
        env=source.env,
        package_name=project.package_name,
        workflow=workflow,
        pipeline=source.pipeline,
        node=node_plan,
        input=input_message,
        output=output_message,
        input_module=module_of(in_proto),
        output_module=module_of(out_proto),
        datasets=datasets,
    )
    return KedroNode(
        name=name,
        source=source,
        project=project,
        folder=folder,
        src=src,
        kedro_nodes=node_plan.kedro_nodes,
        artifacts=node_plan.artifacts,
        plan=plan,
        input_message=in_msg.full_name,
        output_message=out_msg.full_name,
        inputs=tuple(mappings[d] for d in sorted(field_of_input, key=lambda d: field_of_input[d])),
        outputs=tuple(mappings[d] for d in sorted(field_of_output)),
        carried=carried,
        unset=unset,
        datasets=datasets,
        warnings=tuple(warnings),
    )


def _build_decisions(
    decisions: Mapping[str, Decision],
    field_of_input: Mapping[str, str],
    field_of_output: Mapping[str, str],
    in_msg: Descriptor,
    out_msg: Descriptor,
) -> dict[str, Decision]:
    """compile's decisions, told in the build's terms (a field of a message, not krt.yml)."""
    out: dict[str, Decision] = {}
    for d, x in decisions.items():
        if d in field_of_input:
            out[d] = Decision(x.role, f"from field '{field_of_input[d]}' of {in_msg.name}")
        elif d in field_of_output:
            out[d] = Decision("response", f"to field '{field_of_output[d]}' of {out_msg.name}")
        elif x.role == "parameter":
            out[d] = Decision("fixed-parameter", "not mapped from a field: the project's value")
        elif x.role == "intermediate":
            out[d] = Decision("intermediate", "free output not mapped under `outputs`: dropped")
        else:
            out[d] = x
    return out


__all__ = ["FieldMapping", "KedroNode", "describe_type", "node_messages", "plan_kedro_node"]
