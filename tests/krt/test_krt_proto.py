"""proto_services / proto_package / describe_proto with the real protoc of grpcio-tools."""

from __future__ import annotations

from pathlib import Path

import pytest

from kedro_krt.formats.proto import ProtoError, describe_proto, proto_package, proto_services
from tests.krt.krt_helpers import GOOD_PROTO


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_services_with_well_known_import(tmp_path: Path) -> None:
    proto = write(tmp_path / "public_input.proto", GOOD_PROTO)
    assert proto_services(proto) == {
        "Entrypoint": {"Predict": ("entrypoint.Request", "entrypoint.Response")}
    }
    assert proto_package(proto) == "entrypoint"


def test_imports_from_include_dir_and_foreign_types(tmp_path: Path) -> None:
    write(
        tmp_path / "shared/types.proto",
        'syntax = "proto3";\npackage shared;\nmessage Row { int64 a = 1; }\n',
    )
    proto = write(
        tmp_path / "public_input.proto",
        'syntax = "proto3";\npackage entrypoint;\n'
        'import "shared/types.proto";\nimport "google/protobuf/empty.proto";\n'
        "message Req { repeated shared.Row rows = 1; }\n"
        "service Entrypoint {\n"
        "  rpc A (Req) returns (google.protobuf.Empty);\n"
        "  rpc B (stream Req) returns (shared.Row);\n"
        "}\nservice Other { rpc C (Req) returns (Req); }\n",
    )
    services = proto_services(proto, [tmp_path])
    assert services["Entrypoint"] == {
        "A": ("entrypoint.Req", "google.protobuf.Empty"),
        "B": ("entrypoint.Req", "shared.Row"),
    }
    assert list(services["Other"]) == ["C"]
    description = describe_proto(proto, [tmp_path])
    assert description.messages == ("entrypoint.Req",)
    stream = next(r for r in description.services["Entrypoint"] if r.name == "B")
    assert stream.client_streaming and not stream.server_streaming


def test_proto_in_a_subfolder_of_the_include_dir(tmp_path: Path) -> None:
    write(tmp_path / "protos/a.proto", 'syntax = "proto3";\nmessage A { int32 x = 1; }\n')
    proto = write(
        tmp_path / "protos/b.proto",
        'syntax = "proto3";\nimport "protos/a.proto";\nservice S { rpc R (A) returns (A); }\n',
    )
    assert proto_services(proto, [tmp_path]) == {"S": {"R": ("A", "A")}}
    assert proto_package(proto, [tmp_path]) == ""


def test_protoc_error_is_raised_with_its_report(tmp_path: Path) -> None:
    proto = write(tmp_path / "bad.proto", 'syntax = "proto3";\nmessage M { strin x = 1; }\n')
    with pytest.raises(ProtoError, match=r"bad.proto:2:\d+: .*strin"):
        proto_services(proto)


def test_missing_import_is_a_proto_error(tmp_path: Path) -> None:
    proto = write(tmp_path / "p.proto", 'syntax = "proto3";\nimport "nope.proto";\n')
    with pytest.raises(ProtoError, match=r"nope\.proto"):
        proto_services(proto)


def test_missing_file_is_a_proto_error(tmp_path: Path) -> None:
    with pytest.raises(ProtoError, match="no such proto file"):
        proto_services(tmp_path / "absent.proto")
