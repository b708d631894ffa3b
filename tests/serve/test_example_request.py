"""The example request: made of the sample rows, the same in docs/README.md, docs/examples/ and
``/endpoints``, and it answers when sent unchanged. ``/endpoints`` says which columns are
required as the plan (and so the server) does.

Before: every field was filled from its type and name (``"shuttle_id": "shuttle_id"``), which a
spaceflights model refused with ``INTERNAL: could not convert string to float``, and
``/endpoints`` marked every request column ``"optional": true`` where the server refuses a row
without one of them.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf import json_format, message_factory

from kedro_krt.emit.examples import example_path
from kedro_krt.formats.archive import read_krt
from kedro_krt.serve.client import CallError, call
from kedro_krt.serve.loader import prepare_krt
from kedro_krt.serve.web import endpoints
from tests.serve.serve_helpers import ServerProcess

GOLDEN = Path(__file__).resolve().parents[1] / "golden"


def _readme_examples(readme: str) -> dict[str, object]:
    """The example request of each rpc in docs/README.md, by rpc name."""
    out = {}
    for section in re.split(r"^## Workflow ", readme, flags=re.M)[1:]:
        rpc = re.match(r"`[^`]+`: rpc `entrypoint\.Entrypoint/(\w+)`", section)
        example = re.search(r"### Example request\n\n(.*?)\n\n```json\n(.*?)\n```", section, re.S)
        assert rpc and example, section[:200]
        # It says where it comes from, and where the .krt keeps it.
        assert example.group(1).startswith("Made of the project's sample rows"), example.group(1)
        assert f"docs/examples/{rpc.group(1)}.json" in example.group(1)
        out[rpc.group(1)] = json.loads(example.group(2))
    return out


def _readme_presence(readme: str) -> dict[str, str]:
    """``{column: "required" | "optional" | ""}`` of the request table in docs/README.md."""
    rows = re.findall(r"^\|\s+`shuttles\[\]\.(\w+)` \| (required |optional )?\w+", readme, re.M)
    return {column: word.strip() for column, word in rows}


def test_docs_readme_examples_and_endpoints_show_the_same_example(
    example_krt: Path, tmp_path: Path
) -> None:
    members = read_krt(example_krt)
    readme = members["docs/README.md"].decode()
    prepared = prepare_krt(example_krt, work_dir=tmp_path)
    served = endpoints(prepared)["endpoints"]
    assert served and _readme_examples(readme) == {
        e["rpc"]: e["example_request"] for e in served
    }
    for e in served:
        example = e["example_request"]
        assert json.loads(members[example_path(e["rpc"])]) == example
        # proto3 JSON as json_format prints it: int64 as a string, nothing at its default.
        request_type, _ = prepared.rpc_types(e["rpc"])
        message = json_format.ParseDict(example, message_factory.GetMessageClass(request_type)())
        assert json_format.MessageToDict(message, preserving_proto_field_name=True) == example
        # The committed sample rows (data/01_raw/sample_shuttles.csv), not made-up values; the
        # second row's company_rating is null there, so the example leaves it out.
        first, second = example["shuttles"]
        assert first["shuttle_id"] == "SH-90001" and first["engines"] == "2"
        assert first["launched_at"] == "2021-06-01T00:00:00Z"
        assert "company_rating" not in second and second["shuttle_id"] == "SH-90002"
        # The per-message parameters are left unset: the project's values hold.
        assert "parameters" not in example and "parameters" in e["request"]["fields"]


def test_endpoints_required_columns_are_the_readmes(example_krt: Path, tmp_path: Path) -> None:
    readme = read_krt(example_krt)["docs/README.md"].decode()
    (served,) = endpoints(prepare_krt(example_krt, work_dir=tmp_path))["endpoints"]
    columns = served["request"]["fields"]["shuttles"]["fields"]
    shown = {
        name: "required" if c.get("required") else "optional" if c.get("optional") else ""
        for name, c in columns.items()
    }
    assert shown == _readme_presence(readme)
    assert shown["shuttle_id"] == "required" and shown["company_rating"] == "optional"
    assert not any(c.get("required") and c.get("optional") for c in columns.values())


@pytest.fixture(scope="module", params=["v1", "v2"])
def served(
    request: pytest.FixtureRequest,
    example_krt: Path,
    example_krt_v2: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[ServerProcess]:
    """The packaged example (KRT v1, and v2) served in-process with its web port."""
    krt = example_krt if request.param == "v1" else example_krt_v2
    proc = ServerProcess(krt, tmp_path_factory.mktemp(f"example-{request.param}"), web=True)
    try:
        proc.wait_status("SERVING", timeout=90)
        yield proc
    finally:
        proc.kill()


def _endpoint(server: ServerProcess) -> dict[str, object]:
    url = f"http://127.0.0.1:{server.web_port}/endpoints"
    (endpoint,) = json.loads(urllib.request.urlopen(url, timeout=5).read())["endpoints"]
    return dict(endpoint)


@pytest.mark.e2e
def test_the_example_sent_unchanged_answers(served: ServerProcess) -> None:
    example = _endpoint(served)["example_request"]
    reply = json.loads(call("Inference", json.dumps(example), address=served.address))
    quotes = reply["quotes"]
    assert [q["shuttle_id"] for q in quotes] == ["SH-90001", "SH-90002"]
    assert all(q["price"] > 0 for q in quotes)


@pytest.mark.e2e
def test_a_column_left_out_is_refused_exactly_when_endpoints_says_required(
    served: ServerProcess,
) -> None:
    endpoint = _endpoint(served)
    example: dict[str, list[dict[str, object]]] = endpoint["example_request"]  # type: ignore[assignment]
    columns = endpoint["request"]["fields"]["shuttles"]["fields"]  # type: ignore[index]
    for name, column in columns.items():
        request = {"shuttles": [{k: v for k, v in example["shuttles"][0].items() if k != name}]}
        try:
            call("Inference", json.dumps(request), address=served.address)
        except CallError as exc:
            assert column.get("required") and exc.code == "INVALID_ARGUMENT", (name, exc)
            assert name in exc.details
        else:
            assert not column.get("required"), f"{name} is required, yet a row without it answered"
