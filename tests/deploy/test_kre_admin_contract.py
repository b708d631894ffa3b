"""Contract test of kedro-krt's deploy against KRE's admin API, as KRE publishes it.

KRE cannot run here (it needs Kubernetes), so the contract is checked on both sides of the
wire: every GraphQL document kedro-krt can send is validated against KRE's own
schema.graphql at kre-7.0.0 and kre-8.0.0 (vendored in tests/fixtures/kre_admin_api/), and a
whole deployment runs against a server on 127.0.0.1 (kre_admin_fake.FakeKre) that executes
each request with graphql-core on that schema, checks the multipart upload against the
GraphQL multipart request spec and the token's whereabouts, and fails the test on any breach.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from graphql import OperationDefinitionNode, parse, validate

from kedro_krt.cli import main
from kedro_krt.deploy import operations as ops
from tests.deploy.kre_admin_fake import FIXTURES, TAGS, FakeKre, load_schema, parse_multipart


def _deploy(kre: FakeKre, krt: Path, *args: str) -> object:
    return CliRunner().invoke(
        main,
        ["deploy", str(krt), "--api", kre.url, "--runtime", "demo", *args],
        env={"KRE_API_TOKEN": kre.api_token},
        catch_exceptions=False,
    )


def test_the_vendored_schemas_are_kres() -> None:
    readme = (FIXTURES / "README.md").read_text(encoding="utf-8")
    for tag in TAGS:
        assert f"{tag}:engine/admin-api/schema.graphql" in readme
        schema = load_schema(tag)
        assert schema.mutation_type is not None
        assert "createVersion" in schema.mutation_type.fields


@pytest.mark.parametrize("tag", TAGS)
@pytest.mark.parametrize("operation", sorted(ops.DOCUMENTS))
def test_every_document_validates_against_kres_schema(tag: str, operation: str) -> None:
    document = parse(ops.DOCUMENTS[operation])
    assert validate(load_schema(tag), document) == []
    (definition,) = document.definitions
    assert isinstance(definition, OperationDefinitionNode)
    assert definition.name is not None and definition.name.value == operation


def test_the_schema_facts_the_client_relies_on() -> None:
    """The names read at both tags: argument and input fields, the statuses, the errors."""
    for tag in TAGS:
        schema = load_schema(tag)
        inputs = {
            name: sorted(schema.type_map[name].fields)  # type: ignore[union-attr]
            for name in (
                "CreateVersionInput",
                "UpdateConfigurationInput",
                "ConfigurationVariablesInput",
                "StartVersionInput",
                "PublishVersionInput",
            )
        }
        assert inputs == {
            "CreateVersionInput": ["file", "runtimeId"],
            "UpdateConfigurationInput": ["configurationVariables", "runtimeId", "versionName"],
            "ConfigurationVariablesInput": ["key", "value"],
            "StartVersionInput": ["comment", "runtimeId", "versionName"],
            "PublishVersionInput": ["comment", "runtimeId", "versionName"],
        }
        assert str(schema.type_map["CreateVersionInput"].fields["file"].type) == "Upload!"  # type: ignore[union-attr]
        version_args = schema.query_type.fields["version"].args  # type: ignore[union-attr]
        assert {k: str(a.type) for k, a in version_args.items()} == {
            "name": "String!",
            "runtimeId": "ID!",
        }
        statuses = set(schema.type_map["VersionStatus"].values)  # type: ignore[union-attr]
        assert statuses == {
            "CREATING", "CREATED", "STARTING", "STARTED",
            "PUBLISHED", "STOPPING", "STOPPED", "ERROR",
        }  # fmt: skip
        version = schema.type_map["Version"].fields  # type: ignore[union-attr]
        assert str(version["errors"].type) == "[String!]!"
        assert str(version["config"].type) == "VersionConfig!"


def test_a_whole_deployment_keeps_the_contract(kre: FakeKre, make_krt) -> None:  # type: ignore[no-untyped-def]
    krt = make_krt()
    result = _deploy(kre, krt, "--config", "OUTPUT_CURRENCY=EUR", "--publish", "--comment", "v1")
    assert result.exit_code == 0, result.output
    # Each operation, in order, validated and executed on KRE's schema (violations fail).
    assert kre.operation_names() == [
        "KedroKrtRuntime",
        "KedroKrtCreateVersion",
        "KedroKrtVersion",
        "KedroKrtVersion",
        "KedroKrtConfigure",
        "KedroKrtStart",
        "KedroKrtVersion",
        "KedroKrtVersion",
        "KedroKrtPublish",
        "KedroKrtVersion",
    ]
    assert kre.version("price-estimator-v1").status == "PUBLISHED"
    assert kre.config_values("price-estimator-v1") == {"OUTPUT_CURRENCY": "EUR"}


def test_the_upload_is_a_graphql_multipart_request(kre: FakeKre, make_krt) -> None:  # type: ignore[no-untyped-def]
    krt = make_krt()
    assert _deploy(kre, krt).exit_code == 0
    (upload,) = [r for r in kre.requests if r.operation == "KedroKrtCreateVersion"]
    assert upload.path == "/graphql"
    assert upload.headers["Authorization"] == f"Bearer {kre.jwt}"
    parts = parse_multipart(upload.body, upload.headers["Content-Type"])
    names = [p[0]["content-disposition"] for p in parts]
    assert names[0] == 'form-data; name="operations"'
    assert names[1] == 'form-data; name="map"'
    assert names[2] == f'form-data; name="0"; filename="{krt.name}"'
    operations = json.loads(parts[0][1])
    assert operations["variables"] == {"input": {"file": None, "runtimeId": "demo"}}
    assert operations["operationName"] == "KedroKrtCreateVersion"
    assert json.loads(parts[1][1]) == {"0": ["variables.input.file"]}
    # The server got the archive byte for byte.
    assert kre.uploads[0].content == krt.read_bytes()
    assert kre.uploads[0].filename == krt.name


def test_sign_in_is_kres_token_sign_in(kre: FakeKre, make_krt) -> None:  # type: ignore[no-untyped-def]
    assert _deploy(kre, make_krt()).exit_code == 0
    sign_in = kre.requests[0]
    assert sign_in.path == "/api/v1/auth/token/signin"
    assert sign_in.headers["Content-Type"] == "application/json"
    assert json.loads(sign_in.body) == {"apiToken": kre.api_token}
    # Every other request carries the JWT, and never the API token (checked by the fake).
    assert all(r.headers["Authorization"] == f"Bearer {kre.jwt}" for r in kre.requests[1:])


def test_the_fake_is_strict() -> None:
    """The stand-in catches what KRE would refuse: a field the schema lacks, a wrong
    variable type, a multipart body out of order."""
    import httpx

    with FakeKre("kre-7.0.0") as kre:
        client = httpx.Client(base_url=kre.url, headers={"Authorization": f"Bearer {kre.jwt}"})
        bad_field = "query Q($r: ID!) { versions(runtimeId: $r) { name krtVersion } }"
        assert (
            client.post(
                "/graphql",
                json={"query": bad_field, "operationName": "Q", "variables": {"r": "demo"}},
            ).status_code
            == 422
        )
        wrong_type = "query Q($r: Int!) { versions(runtimeId: $r) { name } }"
        client.post(
            "/graphql", json={"query": wrong_type, "operationName": "Q", "variables": {"r": "demo"}}
        )
        client.post(
            "/graphql",
            files={"0": ("x.krt", b"data")},
            data={"map": "{}", "operations": "{}"},
        )
        client.close()
        violations = "\n".join(kre.violations)
    assert "Cannot query field 'krtVersion' on type 'Version'" in violations
    assert "invalid against kre-7.0.0's schema" in violations
    assert "the parts must be operations, map, then the files" in violations
    assert len(kre.violations) >= 3
