"""The *_pb2.py a `kedro-krt build` writes for nodes on a stock kre-py image imports under
protobuf 3.20.1 (the version kre-py 2.1.5's and 3.4.1's locks pin) and under the newest.

Unlike tests/e2e/test_stock_kre_py.py, which runs kre-py itself from a local mirror of
kre-runners and is skipped without it, this needs only the package registry: a virtualenv
with ``protobuf==3.20.1`` alone, and this project's own virtualenv (the newest protobuf that
pyproject.toml allows). It runs in CI.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from kedro_krt.formats.archive import extract_krt
from kedro_krt.handwritten import build_krt
from tests.e2e.kre_py_envs import cached_venv, protobuf_version
from tests.e2e.test_stock_kre_py import FLEET, STOCK_NODES, _probe
from tests.handwritten.build_helpers import example_copy

pytestmark = [pytest.mark.e2e]


@pytest.fixture(scope="module")
def fleet(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("portable-fleet")
    source = example_copy(FLEET, work / FLEET, trained_project)
    return extract_krt(build_krt(source, work / "shuttle-fleet.krt").path, work / "krt")


@pytest.mark.parametrize("protobuf", ["3.20.1", "newest"])
def test_the_stock_nodes_code_imports_under_old_and_new_protobuf(
    protobuf: str, fleet: Path
) -> None:
    if protobuf == "newest":
        python = Path(sys.executable)
    else:
        python = cached_venv("protobuf-3.20.1", "protobuf==3.20.1\n", upgrade=True)
    version = protobuf_version(python)
    assert protobuf == "newest" or version == protobuf
    for node in STOCK_NODES:
        done = _probe(python, fleet / "src" / node)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"imported under protobuf {version}"
    # The Kedro node keeps protoc's own code, which needs a protobuf of protoc's major version:
    # the control that shows this test can fail.
    price = _probe(python, fleet / "src" / "price")
    if protobuf == "3.20.1":
        assert "cannot import name 'runtime_version' from 'google.protobuf'" in price.stderr
    else:
        assert price.returncode == 0, price.stderr
