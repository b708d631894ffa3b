"""Field numbers stay stable across versions, and breaking changes are reported."""

from __future__ import annotations

import json
import tempfile
from dataclasses import replace
from pathlib import Path

import pytest

from kedro_krt.compiler.lock import LOCK_FILE, apply_lock, read_lock, write_lock
from kedro_krt.emit.files import protos
from kedro_krt.emit.protoc import compile_protos
from kedro_krt.node.analysis import CompileError
from kedro_krt.node.plan import Plan, WorkflowPlan
from kedro_krt.node.schema.types import Column, Field, Message, TypeSpec
from tests.helpers import copy_example, run_cli


def _table(*cols: tuple[str, str]) -> TypeSpec:
    return TypeSpec(
        kind="table",
        columns=tuple(Column(n, n, k, False, "float64") for n, k in cols),  # type: ignore[arg-type]
        container="dataframe",
    )


def _plan(request: list[Field], response: list[Field]) -> Plan:
    wf = WorkflowPlan(
        name="inference",
        rpc="Inference",
        pipeline="inference",
        namespace=None,
        grouping="single",
        nodes=(),
        datasets=(),
        request=Message("InferenceRequest", tuple(request)),
        response=Message("InferenceResponse", tuple(response)),
    )
    return Plan("v", "d", "base", "pkg", "Pkg", "e:1", "r:1", (wf,))


def _scalar(kind: str) -> TypeSpec:
    return TypeSpec(kind="scalar", scalar=kind)  # type: ignore[arg-type]


def _numbers(msg: Message) -> dict[str, int]:
    return {f.name: f.number for f in msg.fields}


def test_first_compile_numbers_by_position_and_writes_a_lock(tmp_path: Path) -> None:
    plan = _plan(
        [Field("rows", "etl.rows", _table(("a", "double"), ("b", "int64")), 1)],
        [Field("price", "out.price", _scalar("double"), 1)],
    )
    locked, lock, changes = apply_lock(plan, {})
    assert changes == []
    assert _numbers(locked.workflows[0].request) == {"rows": 1}
    write_lock(tmp_path / LOCK_FILE, lock)
    assert read_lock(tmp_path / LOCK_FILE) == json.loads(json.dumps(lock))
    assert lock["InferenceRequest.rows[]"]["fields"]["b"] == {"number": 2, "type": "int64"}


def test_numbers_survive_reordering_removal_and_are_never_reused() -> None:
    v1 = _plan(
        [
            Field("a", "a", _scalar("double"), 1),
            Field("b", "b", _scalar("string"), 2),
            Field("rows", "rows", _table(("x", "double"), ("y", "double")), 3),
        ],
        [Field("price", "price", _scalar("double"), 1)],
    )
    _, lock, _ = apply_lock(v1, {})
    # v2: `a` removed, `c` added before `b`, column `x` removed and `z` added.
    v2 = _plan(
        [
            Field("c", "c", _scalar("bool"), 1),
            Field("b", "b", _scalar("string"), 2),
            Field("rows", "rows", _table(("z", "int64"), ("y", "double")), 3),
        ],
        [Field("price", "price", _scalar("double"), 1)],
    )
    locked, lock2, changes = apply_lock(v2, lock)
    request = locked.workflows[0].request
    assert _numbers(request) == {"c": 4, "b": 2, "rows": 3}  # 1 (a) is retired, not reused
    cols = {c.name: c.number for c in request.fields[2].type.columns}
    assert cols == {"z": 3, "y": 2}
    assert 1 in lock2["InferenceRequest"]["retired"]
    assert not any(c.breaking for c in changes)  # request removals and additions are safe
    # The renumbered messages render and compile with protoc.
    with tempfile.TemporaryDirectory() as tmp:
        compile_protos(protos(locked), Path(tmp), pyi=False)
    text = protos(locked)["public_input.proto"]
    assert "bool c = 4;" in text and "int64 z = 3;" in text


def test_type_changes_and_removed_response_fields_are_breaking() -> None:
    v1 = _plan(
        [Field("a", "a", _scalar("double"), 1)],
        [
            Field("price", "price", _scalar("double"), 1),
            Field("band", "band", _scalar("string"), 2),
        ],
    )
    _, lock, _ = apply_lock(v1, {})
    v2 = _plan(
        [Field("a", "a", _scalar("string"), 1)], [Field("price", "price", _scalar("double"), 1)]
    )
    locked, _, changes = apply_lock(v2, lock)
    breaking = sorted(c.where for c in changes if c.breaking)
    assert breaking == ["InferenceRequest.a", "InferenceResponse.band"]
    assert any("type changed from double to string" in w for w in locked.warnings)
    assert any("InferenceResponse.band" in w and "removed" in w for w in locked.warnings)


def test_lock_entries_of_other_rpcs_are_kept() -> None:
    plan = _plan([Field("a", "a", _scalar("double"), 1)], [Field("p", "p", _scalar("double"), 1)])
    old = {"OtherRequest": {"fields": {"q": {"number": 1, "type": "double"}}, "retired": []}}
    _, lock, _ = apply_lock(replace(plan), old)
    assert lock["OtherRequest"] == old["OtherRequest"]


@pytest.mark.parametrize(
    ("text", "says"),
    [("{not json", "is not valid JSON"), ('["a list"]', "no 'messages' mapping")],
)
def test_a_corrupt_lock_is_one_line_saying_what_to_do(
    tmp_path: Path, text: str, says: str
) -> None:
    lock = tmp_path / "krt.lock.json"
    lock.write_text(text)
    with pytest.raises(CompileError, match=says) as info:
        read_lock(lock)
    assert "restore it from git" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.integration
def test_a_corrupt_lock_fails_compile_without_a_traceback(tmp_path: Path) -> None:
    project = copy_example(tmp_path / "project")
    (project / "krt.lock.json").write_text("{not json")
    proc = run_cli(["kedro", "krt", "compile", "-p", "inference"], cwd=project, check=False)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "Error: krt.lock.json is not valid JSON" in proc.stderr
