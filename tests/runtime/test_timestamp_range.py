"""A request Timestamp the example's nodes cannot decode is an InvalidRequest naming the row and
the field, through the real node runtime (the extracted .krt's `src/<node>/main.py`, driven as
kre-py drives it; see tests/runtime/test_node.py). Before, seconds = 2**63-1 crashed the etl node
(``Python int too large to convert to C long``: INTERNAL) and year 10000 or nanos = -1 went
through silently.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pandas as pd
import pytest

from kedro_krt.formats.archive import extract_krt
from kedro_krt.node.runtime.context_v1 import KreContext
from kedro_krt.node.runtime.errors import InvalidRequest
from tests.e2e.e2e_helpers import as_parsed, request_json
from tests.runtime.test_node import NODES, _load_worker, _pack, _request, _through

#: (seconds, nanos, what the refusal says) of launched_at values no node can decode.
BAD = {
    "seconds 2**63-1": (2**63 - 1, 0, "Seconds 9223372036854775807 must be in range"),
    "year 10000": (253_402_300_800, 0, "must be in range [-62135596800, 253402300799]"),
    "nanos -1": (1_600_000_000, -1, "Nanos -1 must be in range [0, 999999999]"),
    "nanos 10**9": (1_600_000_000, 10**9, "Nanos 1000000000 must be in range [0, 999999999]"),
    "year 1500": (-14_831_769_600, 0, "outside the range of pandas' nanosecond timestamps"),
}


@pytest.fixture(scope="module")
def workers(
    example_krt: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, ModuleType]]:
    krt = extract_krt(example_krt, tmp_path_factory.mktemp("ts-node") / "krt")
    before = list(sys.path)
    loaded = {node: _load_worker(krt, node) for node in NODES}
    for module in loaded.values():
        module.init(None)
    yield loaded
    sys.path[:] = before


@pytest.fixture(scope="module")
def ctxs(
    workers: dict[str, ModuleType], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, KreContext]:
    state = tmp_path_factory.mktemp("ts-state")
    return {
        node: KreContext(
            version="shuttle-prices", node=node, workflow="inference", base_path=state,
            state_dir=state,
        )
        for node in NODES
    }


@pytest.fixture(scope="module")
def sample(trained_project: Path) -> pd.DataFrame:
    return as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))


def test_out_of_range_launched_at_is_an_invalid_request_and_leaves_nothing_behind(
    workers: dict[str, ModuleType], ctxs: dict[str, KreContext], sample: pd.DataFrame
) -> None:
    valid = _request(workers, request_json(sample))
    before = _through(workers, ctxs, valid).SerializeToString()
    for case, (seconds, nanos, says) in BAD.items():
        request = _request(workers, request_json(sample))
        request.shuttles[1].launched_at.seconds = seconds
        request.shuttles[1].launched_at.nanos = nanos
        with pytest.raises(InvalidRequest) as info:
            asyncio.run(workers["etl"].handler(ctxs["etl"], _pack(request)))
        text = str(info.value)
        assert "InferenceRequest.shuttles: row 1, column 'launched_at'," in text, (case, text)
        assert says in text, (case, text)
    # The valid sample still answers, byte for byte as before.
    assert _through(workers, ctxs, valid).SerializeToString() == before
