"""Run a Kedro pipeline in-process, per request, the way a KRT node does.

    from kedro_krt.node.runtime import KrtSession

    session = KrtSession("example_project", pipeline="inference")   # boots once, loads artifacts
    outputs = session.run(inputs={"etl.shuttles": df}, parameters={"output.markup": 0.0})
    quotes = outputs["output.quotes"]

The same rules as `kedro krt compile`, with the same catalog facts
(:class:`~kedro_krt.node.runtime.catalog.CatalogView`), decide which datasets are request inputs,
artifacts and parameters, and :meth:`KrtSession.report` says why, in the compile report's words;
artifacts are loaded once and shared; nothing is written to disk per run. Use it in
tests, in a notebook, or inside a hand-written KRT node (see docs: "a Kedro project as one node").
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kedro_krt.node.analysis import NodeInfo, classify, select_nodes, text_table, toposort
from kedro_krt.node.plan import ROLE_LABELS, HooksPlan
from kedro_krt.node.runtime.catalog import CatalogView
from kedro_krt.node.runtime.engine import CallList, boot_project
from kedro_krt.node.runtime.errors import InvalidRequest, RuntimeSetupError


class KrtSession:
    """A Kedro pipeline (optionally one namespace of it) ready to run many times in-process.

    The project's Kedro hooks run as in a served node (``hooks``: which of them; all but the
    plugins of :data:`~kedro_krt.node.runtime.hooks.OFF_IN_NODES` by default).
    """

    def __init__(
        self,
        project_path: Path | str,
        pipeline: str = "__default__",
        *,
        namespace: str | None = None,
        env: str = "base",
        artifacts: tuple[str, ...] = (),
        inputs: tuple[str, ...] = (),
        hooks: HooksPlan | None = None,
    ) -> None:
        project = boot_project(Path(project_path), env, [pipeline], hooks)
        if pipeline not in project.pipelines:
            raise RuntimeSetupError(
                f"pipeline '{pipeline}' is not registered; registered: "
                f"{', '.join(sorted(project.pipelines))}"
            )
        nodes = project.pipelines[pipeline].nodes
        infos = [NodeInfo(n.name, n.namespace, tuple(n.inputs), tuple(n.outputs)) for n in nodes]
        chosen = toposort(select_nodes(infos, namespace))
        decisions = classify(
            chosen,
            namespace,
            inputs=inputs,
            artifacts=artifacts,
            artifact_reason=CatalogView(project.catalog).artifact_reason,
        )
        #: {dataset: (role, the rule that gave it)}, as `kedro krt compile` reports them.
        self.decisions = {d: (x.role, x.rule) for d, x in sorted(decisions.items())}
        self.inputs = tuple(sorted(d for d, x in decisions.items() if x.role == "request"))
        self.outputs = tuple(sorted(d for d, x in decisions.items() if x.role == "response"))
        self.parameters = tuple(sorted(d for d, x in decisions.items() if x.role == "parameter"))
        self.artifacts = tuple(
            sorted(d for d, x in decisions.items() if x.role in ("artifact", "fixed-parameter"))
        )
        by_name = {n.name: n for n in nodes}
        kedro_nodes = [by_name[i.name] for i in chosen]
        files = [d for d in self.artifacts if decisions[d].role == "artifact"]
        self._shared = project.load(files, readers=kedro_nodes)
        self._shared.update(
            project.load([d for d in (*self.artifacts, *self.parameters) if d not in files])
        )
        # The caller sees its inputs and the outputs again: Kedro's runner copies, so do we.
        self._calls = CallList(
            kedro_nodes,
            observed=(*self.inputs, *self.outputs),
            shared=self._shared,
            hooks=project.hooks,
        )

    def report(self) -> str:
        """Each dataset's role and the rule behind it, as the compile report words them."""
        rows = [["dataset", "role", "rule"]]
        rows += [[d, ROLE_LABELS[role], rule] for d, (role, rule) in self.decisions.items()]
        return "\n".join(text_table(rows, indent="")) + "\n"

    def run(
        self,
        inputs: Mapping[str, Any],
        parameters: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Run once. `parameters` maps `ns.key` (or `params:ns.key`) to a value; falsy values
        (`0`, `False`, `""`) are values. Returns the response outputs by dataset name."""
        missing = [d for d in self.inputs if d not in inputs]
        unknown = [d for d in inputs if d not in self.inputs]
        if missing or unknown:
            raise InvalidRequest(
                f"inputs: expected {', '.join(self.inputs)}"
                + (f"; missing {', '.join(missing)}" if missing else "")
                + (f"; unknown {', '.join(unknown)}" if unknown else "")
            )
        values = dict(self._shared)
        values.update(inputs)
        for key, value in (parameters or {}).items():
            name = key if key.startswith("params:") else f"params:{key}"
            if name not in self.parameters:
                raise InvalidRequest(
                    f"parameter '{key}' cannot be set per run; these can: "
                    f"{', '.join(self.parameters) or '(none)'}"
                )
            values[name] = value
        self._calls.run(values)
        return {d: values[d] for d in self.outputs}
