"""One example request: docs/README.md of a .krt shows what /endpoints returns for it."""

from __future__ import annotations

import json
import re
from pathlib import Path

from google.protobuf import json_format, message_factory

from kedro_krt.formats.archive import read_krt
from kedro_krt.serve.loader import prepare_krt
from kedro_krt.serve.web import endpoints


def _readme_examples(readme: str) -> dict[str, object]:
    """The example request of each rpc in docs/README.md, by rpc name."""
    out = {}
    for section in re.split(r"^## Workflow ", readme, flags=re.M)[1:]:
        rpc = re.match(r"`[^`]+`: rpc `entrypoint\.Entrypoint/(\w+)`", section)
        example = re.search(r"### Example request\n\n```json\n(.*?)\n```", section, flags=re.S)
        assert rpc and example, section[:200]
        out[rpc.group(1)] = json.loads(example.group(1))
    return out


def test_docs_readme_and_endpoints_show_the_same_example(
    example_krt: Path, tmp_path: Path
) -> None:
    readme = read_krt(example_krt)["docs/README.md"].decode()
    prepared = prepare_krt(example_krt, work_dir=tmp_path)
    served = endpoints(prepared)["endpoints"]
    assert served and _readme_examples(readme) == {
        e["rpc"]: e["example_request"] for e in served
    }
    for e in served:
        example = e["example_request"]
        # proto3 JSON as json_format prints it: int64 as a string, nothing at its default.
        request_type, _ = prepared.rpc_types(e["rpc"])
        message = json_format.ParseDict(example, message_factory.GetMessageClass(request_type)())
        assert json_format.MessageToDict(message, preserving_proto_field_name=True) == example
        row = example["shuttles"][0]
        assert row["engines"] == "1" and row["shuttle_id"] == "shuttle_id"
        # The per-message parameters are left unset: the project's values hold.
        assert "parameters" not in example and "parameters" in e["request"]["fields"]
