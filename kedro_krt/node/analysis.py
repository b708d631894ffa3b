"""The compilation rules on plain node descriptions: grouping, order, dataset roles, liveness.

Nothing here imports Kedro, so every rule is tested on small hand-written graphs. Namespace
matching is always by dotted prefix component (`etl` covers `etl.x` and `etl`, never `etlx`),
which is where kedro-boot goes wrong.
"""

from __future__ import annotations

import difflib
import graphlib
import heapq
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kedro_krt.node.errors import KrtError


class CompileError(KrtError, ValueError):
    """A pipeline or config that cannot become a KRT workflow; says what to change."""


@dataclass(frozen=True)
class NodeInfo:
    """The parts of a Kedro node that compilation needs."""

    name: str
    namespace: str | None
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]


@dataclass(frozen=True)
class Decision:
    """The role of one dataset and the rule that decided it."""

    role: str
    rule: str


@dataclass(frozen=True)
class Group:
    """Kedro nodes that become one KRT node."""

    key: str
    nodes: tuple[NodeInfo, ...]

    @property
    def inputs(self) -> set[str]:
        produced = {o for n in self.nodes for o in n.outputs}
        return {i for n in self.nodes for i in n.inputs if i not in produced}

    @property
    def outputs(self) -> set[str]:
        return {o for n in self.nodes for o in n.outputs}


@dataclass(frozen=True)
class Liveness:
    """Per group (in order): datasets read from the incoming message and written to the next."""

    reads: tuple[tuple[str, ...], ...]
    writes: tuple[tuple[str, ...], ...]
    reads_parameters: tuple[bool, ...] = field(default=())
    writes_parameters: tuple[bool, ...] = field(default=())


def is_under(name: str, namespace: str) -> bool:
    """True when dataset or namespace `name` lies in `namespace`, by dotted component."""
    return name == namespace or name.startswith(namespace + ".")


def param_path(dataset: str) -> str | None:
    """`params:a.b` -> `a.b`; None for a dataset that is not a single parameter."""
    return dataset[len("params:") :] if dataset.startswith("params:") else None


def is_parameter(dataset: str) -> bool:
    """Parameters are `params:<path>` and the whole `parameters` dict."""
    return dataset == "parameters" or dataset.startswith("params:")


def select_nodes(nodes: Sequence[NodeInfo], namespace: str | None) -> list[NodeInfo]:
    """The nodes of one namespace of a pipeline (dotted prefix), or all of them."""
    if not namespace:
        return list(nodes)
    chosen = [n for n in nodes if n.namespace and is_under(n.namespace, namespace)]
    if not chosen:
        known = sorted({n.namespace.split(".")[0] for n in nodes if n.namespace})
        raise CompileError(
            f"namespace '{namespace}' has no node in this pipeline; "
            f"its namespaces are: {', '.join(known) or '(none)'}"
        )
    return chosen


def toposort(nodes: Sequence[NodeInfo]) -> list[NodeInfo]:
    """Kedro nodes in dependency order, ties broken by name (deterministic)."""
    producer = {o: n.name for n in nodes for o in n.outputs}
    by_name = {n.name: n for n in nodes}
    deps = {n.name: {producer[i] for i in n.inputs if i in producer} for n in nodes}
    return [by_name[k] for k in _kahn(deps, lambda cycle: _node_cycle_error(cycle, by_name))]


def _node_cycle_error(stuck: Iterable[str], by_name: Mapping[str, NodeInfo]) -> CompileError:
    return CompileError(f"the nodes {', '.join(sorted(stuck))} depend on each other in a cycle")


def _kahn(deps: Mapping[str, set[str]], on_cycle: Callable[[set[str]], Exception]) -> list[str]:
    """A topological order (graphlib), the smallest ready name first, so it is deterministic."""
    sorter = graphlib.TopologicalSorter(deps)
    try:
        sorter.prepare()
    except graphlib.CycleError as exc:
        raise on_cycle(set(exc.args[1])) from None
    ready = list(sorter.get_ready())
    heapq.heapify(ready)
    order: list[str] = []
    while ready:
        k = heapq.heappop(ready)
        order.append(k)
        sorter.done(k)
        for new in sorter.get_ready():
            heapq.heappush(ready, new)
    return order


def group_key(node: NodeInfo, grouping: str, root: str | None) -> str:
    """Which group a node falls in: its namespace component below `root`, or itself."""
    if grouping == "single":
        return root or ""
    if grouping == "node":
        return node.name
    ns = node.namespace or ""
    if root:
        ns = ns[len(root) + 1 :] if ns != root else ""
    return ns.split(".")[0] if ns else node.name


def make_groups(nodes: Sequence[NodeInfo], grouping: str, root: str | None) -> list[Group]:
    """Group nodes and order the groups topologically (ties by name).

    Refuses a grouping that makes a cycle between groups, and groups that form disconnected
    parts, naming the datasets involved.
    """
    ordered = toposort(nodes)
    members: dict[str, list[NodeInfo]] = {}
    for n in ordered:
        members.setdefault(group_key(n, grouping, root), []).append(n)
    groups = {k: Group(k, tuple(v)) for k, v in members.items()}
    producer = {o: k for k, g in groups.items() for o in g.outputs}
    deps: dict[str, set[str]] = {k: set() for k in groups}
    links: dict[tuple[str, str], set[str]] = {}
    for k, g in groups.items():
        for i in g.inputs:
            if i in producer and producer[i] != k:
                deps[k].add(producer[i])
                links.setdefault((producer[i], k), set()).add(i)

    def cycle_error(stuck: set[str]) -> CompileError:
        involved = sorted(
            f"{ds} ({a} -> {b})"
            for (a, b), dss in links.items()
            if a in stuck and b in stuck
            for ds in dss
        )
        return CompileError(
            f"grouping '{grouping}' makes a cycle between the KRT nodes {', '.join(sorted(stuck))} "
            f"through the datasets {', '.join(involved)}. KRT v1 runs nodes in sequence, so data "
            "cannot flow back: move those nodes into one namespace, or use `grouping: single` "
            "or `grouping: node` for this workflow in conf/<env>/krt.yml"
        )

    order = _kahn(deps, cycle_error)
    _check_connected(groups, links)
    return [groups[k] for k in order]


def _check_connected(
    groups: Mapping[str, Group], links: Mapping[tuple[str, str], set[str]]
) -> None:
    if len(groups) < 2:
        return
    # Groups are linked by data they pass on, or by reading the same free input.
    parent = {k: k for k in groups}

    def find(k: str) -> str:
        while parent[k] != k:
            k = parent[k]
        return k

    for a, b in links:
        parent[find(a)] = find(b)
    produced = {o for g in groups.values() for o in g.outputs}
    readers: dict[str, list[str]] = {}
    for k, g in groups.items():
        for i in g.inputs:
            if i not in produced and not is_parameter(i):
                readers.setdefault(i, []).append(k)
    for ks in readers.values():
        for k in ks[1:]:
            parent[find(k)] = find(ks[0])
    parts: dict[str, list[str]] = {}
    for k in sorted(groups):
        parts.setdefault(find(k), []).append(k)
    if len(parts) > 1:
        described = "; ".join(
            "[" + ", ".join(p) + "] reading " + ", ".join(
                sorted({i for k in p for i in groups[k].inputs if not is_parameter(i)}) or ["-"]
            )
            for p in parts.values()
        )
        raise CompileError(
            f"the KRT nodes of this workflow form {len(parts)} disconnected parts: {described}. "
            "A KRT workflow is one chain of nodes: make one workflow per part (a `namespace:` "
            "per workflow in conf/<env>/krt.yml), or use `grouping: single`"
        )


def workflow_namespaces(nodes: Sequence[NodeInfo], root: str | None) -> list[str]:
    """The namespaces whose datasets are per-message data: the root, else each top level."""
    if root:
        return [root]
    return sorted({n.namespace.split(".")[0] for n in nodes if n.namespace})


def classify(
    nodes: Sequence[NodeInfo],
    root: str | None,
    *,
    inputs: Sequence[str] = (),
    artifacts: Sequence[str] = (),
    outputs: Sequence[str] = (),
    artifact_reason: Callable[[str], str | None] = lambda _: None,
) -> dict[str, Decision]:
    """Decide the role of every dataset of a workflow, with the rule behind each decision.

    `artifact_reason(name)` lets the catalog mark a namespaced free input as an artifact (a
    versioned dataset, or data that cannot travel in a message) - kedro-boot would demand
    such a dataset with every request.
    """
    produced = {o for n in nodes for o in n.outputs}
    consumed = {i for n in nodes for i in n.inputs}
    free_inputs = consumed - produced
    free_outputs = produced - consumed
    everything = consumed | produced
    _check_named(inputs, everything, "inputs")
    _check_named(artifacts, everything, "artifacts")
    _check_named(outputs, free_outputs, "outputs")
    both = sorted(set(inputs) & set(artifacts))
    if both:
        raise CompileError(
            f"{', '.join(both)} listed under both `inputs` and `artifacts` in krt.yml: keep one"
        )
    namespaces = workflow_namespaces(nodes, root)

    def namespace_of(name: str) -> str | None:
        path = param_path(name)
        if path is not None:
            return next((ns for ns in namespaces if is_under(path, ns)), None)
        # Kedro names a namespaced dataset `<ns>.<name>`: a dataset called just `model` is a
        # global one even when a namespace is also called `model`.
        return next((ns for ns in namespaces if name.startswith(ns + ".")), None)

    datasets_namespaced = any(
        namespace_of(d) for d in everything if not is_parameter(d)
    )
    decisions: dict[str, Decision] = {}
    for name in sorted(free_inputs):
        ns = namespace_of(name)
        if name in artifacts:
            decisions[name] = Decision("artifact", "listed under `artifacts` in krt.yml")
        elif name in inputs:
            role = "parameter" if is_parameter(name) else "request"
            decisions[name] = Decision(role, "listed under `inputs` in krt.yml")
        elif name == "parameters":
            decisions[name] = Decision("fixed-parameter", "the whole parameters dictionary")
        elif is_parameter(name):
            if ns:
                decisions[name] = Decision("parameter", f"parameter under namespace '{ns}'")
            else:
                decisions[name] = Decision(
                    "fixed-parameter", "parameter outside the workflow's namespaces"
                )
        elif ns:
            reason = artifact_reason(name)
            if reason:
                decisions[name] = Decision("artifact", f"under namespace '{ns}' but {reason}")
            else:
                decisions[name] = Decision("request", f"free input under namespace '{ns}'")
        elif datasets_namespaced:
            decisions[name] = Decision("artifact", "free input outside the workflow's namespaces")
        else:
            decisions[name] = Decision(
                "request", "no dataset is namespaced: every free input is a request input"
            )
    for name in sorted(free_outputs):
        if outputs and name not in outputs:
            decisions[name] = Decision("intermediate", "not listed under `outputs` in krt.yml")
        elif outputs:
            decisions[name] = Decision("response", "listed under `outputs` in krt.yml")
        else:
            decisions[name] = Decision("response", "free output of the workflow")
    return decisions


def _check_named(names: Sequence[str], known: set[str], key: str) -> None:
    for name in names:
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else ""
            raise CompileError(
                f"'{name}' is listed under `{key}` in krt.yml but is not "
                f"{'a free output' if key == 'outputs' else 'a dataset'} of this workflow{hint}"
            )


def liveness(
    groups: Sequence[Group],
    decisions: Mapping[str, Decision],
) -> Liveness:
    """What each KRT node reads from its incoming message and writes to the next one.

    A message between nodes carries everything still needed downstream, request fields
    included, and response outputs produced early; artifacts and parameters never travel
    (parameters travel as the one `parameters` field).
    """
    request = {d for d, dec in decisions.items() if dec.role == "request"}
    response = {d for d, dec in decisions.items() if dec.role == "response"}
    per_message = {d for d, dec in decisions.items() if dec.role == "parameter"}
    reads: list[tuple[str, ...]] = []
    writes: list[tuple[str, ...]] = []
    reads_p: list[bool] = []
    writes_p: list[bool] = []
    available = set(request)
    last = len(groups) - 1
    for i, g in enumerate(groups):
        later_inputs = {x for h in groups[i + 1 :] for x in h.inputs}
        later_params = {x for h in groups[i:] for x in h.inputs if x in per_message}
        incoming = sorted(available)
        produced_here = g.outputs
        available = available | produced_here
        if i == last:
            out = sorted(response)
        else:
            out = sorted(
                d for d in available if d in later_inputs or d in response
            )
        needed_here = g.inputs | set(out)
        reads.append(tuple(d for d in incoming if d in needed_here))
        writes.append(tuple(out))
        reads_p.append(bool(later_params))
        writes_p.append(
            i != last and any(x in per_message for h in groups[i + 1 :] for x in h.inputs)
        )
        available = set(out)
    return Liveness(tuple(reads), tuple(writes), tuple(reads_p), tuple(writes_p))


def text_table(rows: Sequence[Sequence[str]], indent: str = "    ") -> list[str]:
    """Rows as aligned text lines, the format of every table in the compile report."""
    if not rows:
        return []
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return [
        (indent + "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True))).rstrip()
        for r in rows
    ]
