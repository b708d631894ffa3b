"""Hand-written nodes calling protobuf APIs that a current protobuf removed: found before they run,
with the file, the line and the replacement; and the catalogue holds for the protobuf installed."""

from __future__ import annotations

import importlib
import shutil
from pathlib import Path

import pytest
from google.protobuf import __version__ as PROTOBUF_VERSION
from google.protobuf import json_format, message_factory, struct_pb2, symbol_database
from packaging.version import Version

from kedro_krt.formats.protobuf_api import (
    REMOVED,
    REMOVED_KEYWORDS,
    REMOVED_METHODS,
    REMOVED_MODULES,
    check_protobuf_api,
    removed_uses,
)

HANDWRITTEN = Path(__file__).resolve().parents[1] / "fixtures" / "handwritten_krt"

# As KRE's ny-house-price-estimator writes its nodes for kre-py 2.x (protobuf 3.20.1).
KRE_STYLE_NODE = b'''\
from google.protobuf.json_format import MessageToDict


async def handler(ctx, data):
    req = ctx.get_request_message(data)
    values = MessageToDict(
        req, including_default_value_fields=True, preserving_proto_field_name=True
    )
    return values
'''


def test_the_kre_example_call_is_found_with_its_line_and_replacement() -> None:
    (problem,) = check_protobuf_api({"src/etl/main.py": KRE_STYLE_NODE})
    assert problem.severity == "warning" and problem.rule == "krt.protobuf-removed-api"
    assert problem.location == "src/etl/main.py:6"
    assert "including_default_value_fields= is not in protobuf 5.26.0" in problem.message
    assert "use always_print_fields_with_no_presence=" in problem.message


def test_each_kind_of_use_is_found() -> None:
    source = (
        "import google.protobuf.service\n"
        "from google.protobuf import service\n"
        "from google.protobuf import json_format as jf\n"
        "jf.MessageToJson(m, float_precision=3)\n"
        "factory.GetPrototype(descriptor)\n"
    )
    found = [(line, api.removed_in) for line, api in removed_uses(source)]
    assert found == [(1, "6.30.0"), (2, "6.30.0"), (4, "7.34.0"), (5, "6.30.0")]


def test_code_that_keeps_to_current_apis_and_generated_code_are_left_alone() -> None:
    current = b"from google.protobuf.json_format import MessageToDict\n" + (
        b"MessageToDict(m, always_print_fields_with_no_presence=True)\n"
    )
    files = {
        "src/etl/main.py": current,
        "src/etl/public_input_pb2.py": KRE_STYLE_NODE,
        "lib/kedro_krt/x.py": KRE_STYLE_NODE,
        "src/etl/broken.py": b"def (:\n",
    }
    assert check_protobuf_api(files) == []


@pytest.mark.parametrize("keyword", sorted(REMOVED_KEYWORDS))
def test_the_installed_protobuf_agrees_on_each_keyword(keyword: str) -> None:
    removed = Version(PROTOBUF_VERSION) >= Version(REMOVED_KEYWORDS[keyword].removed_in)
    for call in (json_format.MessageToJson, json_format.MessageToDict):
        if removed:
            with pytest.raises(TypeError, match=keyword):
                call(struct_pb2.Struct(), **{keyword: 3})
        else:
            call(struct_pb2.Struct(), **{keyword: 3})


@pytest.mark.parametrize("module", sorted(REMOVED_MODULES))
def test_the_installed_protobuf_agrees_on_each_module(module: str) -> None:
    removed = Version(PROTOBUF_VERSION) >= Version(REMOVED_MODULES[module].removed_in)
    if removed:
        with pytest.raises(ModuleNotFoundError):
            importlib.import_module(module)
    else:
        importlib.import_module(module)


@pytest.mark.parametrize("method", sorted(REMOVED_METHODS))
def test_the_installed_protobuf_agrees_on_each_method(method: str) -> None:
    removed = Version(PROTOBUF_VERSION) >= Version(REMOVED_METHODS[method].removed_in)
    owners = (message_factory.MessageFactory, type(symbol_database.Default()))
    assert all(hasattr(owner, method) != removed for owner in owners)


def test_the_catalogue_is_the_three_tables() -> None:
    assert set(REMOVED) == {*REMOVED_KEYWORDS, *REMOVED_MODULES, *REMOVED_METHODS}


def test_validate_warns_before_anything_runs(tmp_path: Path) -> None:
    from kedro_krt.formats.validate import validate_path

    krt = tmp_path / "krt"
    shutil.copytree(HANDWRITTEN, krt)
    main = krt / "src" / "prep" / "main.py"
    main.write_text(main.read_text(encoding="utf-8") + "\n" + KRE_STYLE_NODE.decode())
    report = validate_path(krt)
    found = [p for p in report.problems if p.rule == "krt.protobuf-removed-api"]
    assert [p.location.split(":")[0] for p in found] == ["src/prep/main.py"]
    assert report.ok  # a warning: the stock kre-py images still run it
