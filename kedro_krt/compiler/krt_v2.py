"""A compiled plan -> the same plan as a KRT v2 version: subscriptions instead of a chain.

The v1 plan runs a workflow's KRT nodes one after the other, each message carrying everything
still needed downstream. In KRT v2 (KRE 8) a node *subscribes* to the nodes whose output it
reads, so this pass rewires the same KRT nodes, Kedro nodes, datasets and types:

- a node subscribes to the KRT node that produces each dataset it reads, and to
  ``entrypoint`` when it reads a request input or a per-message parameter (or reads nothing
  from a message at all: the request is its trigger). Independent branches of the Kedro DAG
  therefore run at the same time;
- a node's output message carries what it produces that another node, or the response, reads;
  every subscriber of a node receives that one message;
- a generated exitpoint node (no Kedro node) subscribes to the nodes that produce the response
  datasets, joins their messages by request id and sends the response message;
- ``replicas`` per KRT node come from the workflow's config. A node with two subscriptions or
  more keeps one replica: each subscription is a queue group of its own in KRE, so the messages
  of one request could reach different pods and never be joined (refused with a message);
- ``gpu`` and ``objectStore`` per KRT node come from the workflow's config too
  (:meth:`~kedro_krt.compiler.format_base.CompileFormat.apply_settings`), the exitpoint's
  included.

The request and response messages (and so ``public_input.proto`` and the schema lock) are the
v1 ones; only the messages between nodes differ.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from kedro_krt.compiler.format_base import CompileFormat, Settings, unknown_node
from kedro_krt.formats.manifest_base import MAX_NAME_LENGTH
from kedro_krt.node.analysis import CompileError
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import (
    ENTRYPOINT_SOURCE,
    INTERNAL_PROTO,
    PARAMETERS_FIELD,
    PUBLIC_PROTO,
    KrtNodePlan,
    NodeInputPlan,
    Plan,
    WorkflowPlan,
)
from kedro_krt.node.schema.types import Field, Message, to_message_name

#: The name of the generated exitpoint, as in KRE's own example (classificator-v1.krt).
EXITPOINT = "exitpoint"

#: Roles that never travel in a message: loaded once at init.
_LOADED = ("artifact", "fixed-parameter")

#: KRE 8's entrypoint: kre-entrypoint 3.3.6 was released with kre-py 3.4.1
#: (konstellation-io/kre-runners, one commit for both tags). 1.x is KRE 7's, for KRT v1.
ENTRYPOINT_IMAGE_V2 = "konstellation/kre-entrypoint:3.3.6"
_STOCK_ENTRYPOINT = "konstellation/kre-entrypoint:"


def _entrypoint_image(image: str) -> tuple[str, str | None]:
    """The entrypoint image of a v2 version, and a warning when KRE 7's was configured."""
    if not image.startswith(_STOCK_ENTRYPOINT):
        return image, None
    tag = image.removeprefix(_STOCK_ENTRYPOINT)
    major = tag.split(".", 1)[0]
    if major.isdigit() and int(major) < 3:
        return ENTRYPOINT_IMAGE_V2, (
            f"images.entrypoint is {image}, KRE 7's entrypoint, which speaks KRT v1 only: "
            f"the v2 version names {ENTRYPOINT_IMAGE_V2} (KRE 8's); set images.entrypoint to "
            "a kre-entrypoint 3.x in krt.yml to silence this"
        )
    return image, None


def to_v2(plan: Plan, replicas: Mapping[str, Mapping[str, int]] | None = None) -> Plan:
    """The v2 form of a compiled v1 plan.

    ``replicas`` is ``{workflow: {KRT node: replicas}}`` (``replicas:`` of each workflow in
    krt.yml).

    Raises:
        CompileError: a replicas entry names no node of the workflow, is not a whole number
            from 1, or asks several replicas of a node that joins several subscriptions.
    """
    replicas = replicas or {}
    used = {n.name for w in plan.workflows for n in w.nodes}
    workflows = tuple(_workflow_v2(w, dict(replicas.get(w.name, {})), used) for w in plan.workflows)
    image, warning = _entrypoint_image(plan.entrypoint_image)
    warnings = (*plan.warnings, warning) if warning else plan.warnings
    return replace(
        plan,
        workflows=workflows,
        krt_version=KrtVersion.V2,
        entrypoint_image=image,
        warnings=warnings,
    )


def _exitpoint_name(wf: WorkflowPlan, used: set[str]) -> str:
    """``exitpoint``, or ``<workflow>-exitpoint`` (cut to KRE's 19 characters) when taken."""
    names = [EXITPOINT, f"{wf.name}-{EXITPOINT}"[:MAX_NAME_LENGTH].rstrip("-")]
    names += [f"{EXITPOINT}-{i}" for i in range(2, 100)]
    for name in names:
        if name not in used:
            used.add(name)
            return name
    raise CompileError(
        f"no free name for the exitpoint of workflow '{wf.name}'"
    )  # pragma: no cover


def _workflow_v2(wf: WorkflowPlan, replicas: dict[str, int], used: set[str]) -> WorkflowPlan:
    datasets = {d.name: d for d in wf.datasets}
    response = [f.original for f in wf.response.fields]
    order = [n.name for n in wf.nodes]
    exitpoint = _exitpoint_name(wf, used)

    # What each node produces that someone else reads, in a message of its own.
    sends: dict[str, list[str]] = {n: [] for n in order}
    for d in wf.datasets:
        if d.producer is None or d.producer not in sends:
            continue
        readers = set(d.consumers) - {d.producer}
        if readers or d.name in response:
            sends[d.producer].append(d.name)

    def output_message(node: str) -> Message:
        names = sorted(sends[node], key=lambda d: datasets[d].field or d)
        flds = []
        for i, name in enumerate(names):
            d = datasets[name]
            assert d.field is not None and d.type is not None, name
            flds.append(Field(name=d.field, original=name, type=d.type, number=i + 1))
        return Message(
            name=f"{wf.rpc}{to_message_name(node)}Output",
            fields=tuple(flds),
            doc=f"The output of KRT node {node} of workflow {wf.name}, to the nodes that "
            "subscribe to it.",
        )

    outputs = {n: output_message(n) for n in order}
    for name, count in replicas.items():
        if name not in order and name != exitpoint:
            raise unknown_node("replicas", wf.name, name, [*order, exitpoint])
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise CompileError(
                f"`replicas:` of node '{name}' in workflow '{wf.name}' is {count!r}: write a "
                "whole number of pods, 1 or more"
            )

    nodes: list[KrtNodePlan] = []
    for node in wf.nodes:
        inputs = _inputs(wf, node, outputs)
        nodes.append(_node_v2(wf, node, inputs, outputs[node.name], INTERNAL_PROTO, replicas))

    # The exitpoint: the response datasets, from the nodes that make them.
    by_source: dict[str, list[str]] = {}
    for name in response:
        producer = datasets[name].producer
        if producer is None:
            raise CompileError(  # pragma: no cover - classify never makes such a response
                f"response output '{name}' of workflow '{wf.name}' is made by no KRT node"
            )
        by_source.setdefault(producer, []).append(name)
    exit_inputs = tuple(
        NodeInputPlan(
            source=source,
            message=outputs[source].name,
            proto=INTERNAL_PROTO,
            datasets=tuple(sorted(by_source[source])),
        )
        for source in order
        if source in by_source
    )
    exit_plan = KrtNodePlan(
        name=exitpoint,
        group="",
        kedro_nodes=(),
        input_message=exit_inputs[0].message if exit_inputs else wf.request.name,
        input_proto=INTERNAL_PROTO if exit_inputs else PUBLIC_PROTO,
        output_message=wf.response.name,
        output_proto=PUBLIC_PROTO,
        reads=tuple(sorted(response)),
        writes=tuple(sorted(response)),
    )
    if not exit_inputs:  # a response made of nothing: answer each request at once
        exit_inputs = (NodeInputPlan(ENTRYPOINT_SOURCE, wf.request.name, PUBLIC_PROTO),)
    nodes.append(_node_v2(wf, exit_plan, exit_inputs, wf.response, PUBLIC_PROTO, replicas))

    internal = [outputs[n] for n in order]
    return replace(wf, nodes=tuple(nodes), internal=tuple(internal), exitpoint=exitpoint)


def _inputs(
    wf: WorkflowPlan,
    node: KrtNodePlan,
    outputs: Mapping[str, Message],
) -> tuple[NodeInputPlan, ...]:
    """One input per source of what ``node`` reads: the entrypoint first, then the nodes in
    the workflow's order."""
    from_request: list[str] = []
    from_node: dict[str, list[str]] = {}
    for d in wf.datasets:
        if node.name not in d.consumers or d.role in _LOADED or d.role == "parameter":
            continue
        if d.role == "request":
            from_request.append(d.name)
        elif d.producer is not None and d.producer != node.name:
            from_node.setdefault(d.producer, []).append(d.name)
    parameters = bool(node.parameters)
    out: list[NodeInputPlan] = []
    if from_request or parameters or not from_node:
        out.append(
            NodeInputPlan(
                source=ENTRYPOINT_SOURCE,
                message=wf.request.name,
                proto=PUBLIC_PROTO,
                datasets=tuple(sorted(from_request)),
                parameters=parameters,
            )
        )
    for source in (n.name for n in wf.nodes):
        if source in from_node:
            out.append(
                NodeInputPlan(
                    source=source,
                    message=outputs[source].name,
                    proto=INTERNAL_PROTO,
                    datasets=tuple(sorted(from_node[source])),
                )
            )
    return tuple(out)


def _node_v2(
    wf: WorkflowPlan,
    node: KrtNodePlan,
    inputs: tuple[NodeInputPlan, ...],
    output: Message,
    output_proto: str,
    replicas: Mapping[str, int],
) -> KrtNodePlan:
    count = replicas.get(node.name, 1)
    if count > 1 and len(inputs) > 1:
        sources = ", ".join(i.source for i in inputs)
        raise CompileError(
            f"`replicas:` asks {count} pods of node '{node.name}' (workflow '{wf.name}'), which "
            f"joins the messages of {len(inputs)} subscriptions ({sources}) by request id: in "
            "KRE each subscription is a queue group of its own, so the messages of one request "
            "could reach different pods and never be joined. Keep it at 1, or scale the nodes "
            "before it"
        )
    reads = sorted({d for i in inputs for d in i.datasets})
    if any(i.parameters for i in inputs):
        reads.append(PARAMETERS_FIELD)
    return replace(
        node,
        input_message=inputs[0].message,
        input_proto=inputs[0].proto,
        output_message=output.name,
        output_proto=output_proto,
        reads=tuple(reads) if node.kedro_nodes else node.reads,
        writes=tuple(f.original for f in output.fields),
        reads_parameters=bool(node.parameters),
        writes_parameters=False,
        inputs=inputs,
        subscriptions=tuple(i.source for i in inputs),
        replicas=count,
    )


class V2Compile(CompileFormat):
    """KRT v2: the plan rewired by :func:`to_v2`."""

    krt_version = KrtVersion.V2
    node_settings = ("replicas", "gpu", "object_store")

    def finish(self, plan: Plan, settings: Settings) -> Plan:
        replicas = {
            wf: {node: s.replicas for node, s in nodes.items() if s.replicas is not None}
            for wf, nodes in settings.items()
        }
        return self.apply_settings(to_v2(plan, replicas), settings)

    def refusal(self, said: str, kre_version: str) -> str:
        return (
            f"{said} is v2, but deploy.kre_version is {kre_version}, and KRE 7 reads only KRT "
            "v1: package with --krt-version v1, or leave krt_version out of krt.yml"
        )


#: KRT v2, the entry of :data:`kedro_krt.compiler.krt_formats.COMPILE_FORMATS`.
V2_COMPILE = V2Compile()
