"""Kedro's hooks in a served KRT: the same hook log as `kedro run`, init hooks once, and the
error policy of a validation hook.

A test copy of the trained example registers two hooks in its settings.py (the shipped
example registers none): one that logs every node, dataset, context and catalog hook to the
file that ``KRT_HOOK_LOG`` names (with the process id), and one that validates the request's
DataFrame in ``before_node_run``, as a validation plugin does. The copy runs ``kedro run
--pipelines inference`` (the reference log), then is packaged and served, in-process and with
``--nats`` (one runner process per node, as on KRE), and called with the same rows.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pandas as pd
import pytest

from tests.e2e.e2e_helpers import ReflectedRpc, ServedKrt, as_parsed, request_json, rpc_error
from tests.helpers import copy_project, run_cli

HOOKS_MODULE = '''
"""Test hooks (kedro-krt's tests add them to a copy of the example)."""

import json
import os

from kedro.framework.hooks import hook_impl

from kedro_krt.node.runtime.errors import InvalidRequest


def _log(*entry):
    path = os.environ.get("KRT_HOOK_LOG")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(json.dumps([os.getpid(), *entry]) + "\\n")


class RecordingHooks:
    @hook_impl
    def after_context_created(self, context):
        _log("after_context_created")

    @hook_impl
    def after_catalog_created(self, catalog):
        _log("after_catalog_created")

    @hook_impl
    def before_dataset_loaded(self, dataset_name, node):
        _log("before_dataset_loaded", node.name, dataset_name)

    @hook_impl
    def after_dataset_loaded(self, dataset_name, data, node):
        _log("after_dataset_loaded", node.name, dataset_name)

    @hook_impl
    def before_node_run(self, node, inputs, is_async):
        _log("before_node_run", node.name, sorted(inputs), is_async)

    @hook_impl
    def after_node_run(self, node, inputs, outputs):
        _log("after_node_run", node.name, sorted(outputs))

    @hook_impl
    def on_node_error(self, error, node):
        _log("on_node_error", node.name, str(error))

    @hook_impl
    def before_dataset_saved(self, dataset_name, data, node):
        _log("before_dataset_saved", node.name, dataset_name)

    @hook_impl
    def after_dataset_saved(self, dataset_name, data, node):
        _log("after_dataset_saved", node.name, dataset_name)


class ShuttleChecks:
    """Checks the request's table before the first node reads it."""

    @hook_impl
    def before_node_run(self, node, inputs):
        shuttles = inputs.get("etl.shuttles")
        if shuttles is None:
            return None
        if (shuttles["engines"] < 0).any():
            # The caller's mistake: kedro-krt answers INVALID_ARGUMENT.
            raise InvalidRequest("etl.shuttles: engines must be 0 or more")
        if (shuttles["passenger_capacity"] > 100000).any():
            raise ValueError("passenger_capacity over 100000: the capacity check failed")
        if (shuttles["shuttle_id"] == "swap-me").any():
            return {"etl.shuttles": "not a table"}  # replaces the input: the node fails
        return None
'''

NODE_HOOKS = {
    "before_dataset_loaded", "after_dataset_loaded", "before_node_run", "after_node_run",
    "on_node_error", "before_dataset_saved", "after_dataset_saved",
}


def _read(log: Path) -> list[list[Any]]:
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def hooked_copy(trained_project: Path, dest: Path, *hooks: str) -> Path:
    """A copy of the trained example whose settings register ``hooks`` (classes of
    :data:`HOOKS_MODULE`, written into its package)."""
    project = copy_project(trained_project, dest)
    package = project / "src" / "shuttle_prices"
    (package / "krt_test_hooks.py").write_text(HOOKS_MODULE, encoding="utf-8")
    with open(package / "settings.py", "a", encoding="utf-8") as settings:
        settings.write(
            f"\nfrom shuttle_prices.krt_test_hooks import {', '.join(hooks)}\n\n"
            f"HOOKS = ({''.join(f'{h}(), ' for h in hooks)})\n"
        )
    return project


@pytest.fixture(scope="module")
def hooked(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The hooked copy, its `kedro run` log and its .krt."""
    work = tmp_path_factory.mktemp("hooked")
    project = hooked_copy(trained_project, work / "project", "RecordingHooks", "ShuttleChecks")
    reference = work / "kedro-run.jsonl"
    os.environ["KRT_HOOK_LOG"] = str(reference)
    try:
        run_cli(["kedro", "run", "--pipelines", "inference"], cwd=project)
    finally:
        os.environ.pop("KRT_HOOK_LOG", None)
    out = work / "dist"
    run_cli(["kedro", "krt", "package", "--pipeline", "inference", "--output", str(out)],
            cwd=project)
    (krt,) = out.glob("*.krt")
    sample = as_parsed(pd.read_csv(project / "data" / "01_raw" / "sample_shuttles.csv"))
    return {"project": project, "reference": _read(reference), "krt": krt, "sample": sample}


@pytest.fixture(scope="module", params=["in-process", "nats"])
def served(
    request: pytest.FixtureRequest, hooked: dict[str, Any],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, Path, ServedKrt]]:
    mode = str(request.param)
    work = tmp_path_factory.mktemp(f"hooked-serve-{mode}")
    log = work / "hooks.jsonl"
    os.environ["KRT_HOOK_LOG"] = str(log)
    try:
        server = ServedKrt(hooked["krt"], work, *(("--nats",) if mode == "nats" else ()))
    finally:
        os.environ.pop("KRT_HOOK_LOG", None)
    try:
        yield mode, log, server.wait_serving()
    finally:
        server.stop()


def _node_entries(entries: list[list[Any]]) -> list[list[Any]]:
    """(hook, node, dataset or what the hook saw) of the node and dataset hooks, pid left out."""
    return [entry[1:] for entry in entries if entry[1] in NODE_HOOKS]


def _wait_for(log: Path, count: int) -> list[list[Any]]:
    """The log once it has `count` entries (a runner process may write after the answer)."""
    deadline = time.monotonic() + 10
    entries = _read(log)
    while len(entries) < count and time.monotonic() < deadline:
        time.sleep(0.05)
        entries = _read(log)
    return entries


def test_served_hook_log_equals_kedro_run(
    served: tuple[str, Path, ServedKrt], hooked: dict[str, Any]
) -> None:
    mode, log, server = served
    at_init = _read(log)
    expected = _node_entries(hooked["reference"])
    assert [e[0] for e in expected].count("before_node_run") == 3  # etl, model, output
    rpc = ReflectedRpc(server.address, "Inference")
    try:
        for _ in range(3):
            before = len(_read(log))
            reply = rpc.call(request_json(hooked["sample"]))
            assert len(reply.quotes) == len(hooked["sample"])  # type: ignore[attr-defined]
            entries = _wait_for(log, before + len(expected))
            assert _node_entries(entries[before:]) == expected
    finally:
        rpc.close()
    # Init hooks: once per process that boots the project (one in-process; one per runner
    # process under --nats), never again per message; the artifact loaded once each, between
    # the dataset hooks, for the node that reads it.
    entries = _read(log)
    pids = {e[0] for e in at_init}
    per_pid = {pid: [e[1:] for e in at_init if e[0] == pid] for pid in pids}
    assert len(pids) == (3 if mode == "nats" else 1), at_init
    for got in per_pid.values():
        assert got[:2] == [["after_context_created"], ["after_catalog_created"]]
    loads = [e[1:] for e in at_init if e[1] in NODE_HOOKS]
    assert loads == [
        ["before_dataset_loaded", "model.predict_price", "price_model"],
        ["after_dataset_loaded", "model.predict_price", "price_model"],
    ]
    later = [e for e in entries[len(at_init):] if e[1] not in NODE_HOOKS]
    assert later == []


def test_validation_hook_error_policy(
    served: tuple[str, Path, ServedKrt], hooked: dict[str, Any]
) -> None:
    _mode, log, server = served
    rpc = ReflectedRpc(server.address, "Inference")
    try:
        def ask(**changes: Any) -> grpc.RpcError:
            rows = hooked["sample"].copy()
            for column, value in changes.items():
                rows.loc[0, column] = value
            request = rpc.request_cls()
            from google.protobuf import json_format

            json_format.ParseDict(request_json(rows), request)
            return rpc_error(rpc, request.SerializeToString())

        # The hook says the caller is wrong: INVALID_ARGUMENT in both modes (under --nats the
        # runner carries the refusal to the front; on KRE its entrypoint answers INTERNAL).
        error = ask(engines=-1)
        assert error.code() == grpc.StatusCode.INVALID_ARGUMENT, error
        assert "etl.shuttles: engines must be 0 or more" in str(error.details())
        # Any other error of a hook: INTERNAL, as KRE reports node errors, with its message.
        error = ask(passenger_capacity=10**6)
        assert error.code() == grpc.StatusCode.INTERNAL
        assert re.search(r"'etl'.*capacity check failed", str(error.details())), error.details()
        # before_node_run's new input breaks the node: on_node_error sees it before the answer.
        before = len(_read(log))
        error = ask(shuttle_id="swap-me")
        assert error.code() == grpc.StatusCode.INTERNAL
        seen = [e[1:] for e in _read(log)[before:] if e[1] == "on_node_error"]
        assert [e[:2] for e in seen] == [["on_node_error", "etl.make_features"]]
        assert seen[0][2] and seen[0][2] in str(error.details())
    finally:
        rpc.close()
