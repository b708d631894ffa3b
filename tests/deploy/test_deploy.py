"""`kedro-krt deploy FILE` and `kedro krt deploy` against KRE's admin API on 127.0.0.1.

Each test runs against the schema of kre-7.0.0 and of kre-8.0.0 (the ``kre`` fixture), and
fails if a request breaks KRE's contract.
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner, Result

from kedro_krt.cli import commands, main
from kedro_krt.compiler.config import ConfigError, parse_config
from kedro_krt.deploy.addresses import admin_ui_base, entrypoint_address, version_page
from kedro_krt.deploy.flow import free_name
from tests.deploy.kre_admin_fake import TAGS, FakeKre, Fault


def deploy(kre: FakeKre, *args: Any, env: dict[str, str | None] | None = None) -> Result:
    """`kedro-krt deploy ARGS --api <fake> --runtime demo`, the token in the environment."""
    return CliRunner().invoke(
        main,
        ["deploy", *map(str, args), "--api", kre.url, "--runtime", "demo"],
        env={"KRE_API_TOKEN": kre.api_token, **(env or {})},
        catch_exceptions=False,
    )


def ops(kre: FakeKre, name: str) -> int:
    return kre.operation_names().count(name)


# --- the happy paths -----------------------------------------------------------------------------


def test_signs_in_with_the_token_from_the_env_uploads_and_waits_for_created(
    kre: FakeKre, make_krt: Any
) -> None:
    kre.polls_to_finish = 3
    result = deploy(kre, make_krt(variables=()))
    assert result.exit_code == 0, result.output
    assert kre.requests[0].path == "/api/v1/auth/token/signin"
    assert kre.version("price-estimator-v1").status == "CREATED"
    assert ops(kre, "KedroKrtVersion") == 4  # CREATING three times, then CREATED
    assert "version price-estimator-v1: CREATED in runtime demo" in result.stdout
    assert "waiting for CREATED" in result.stderr
    # Where it is: the admin UI's page (unknown for a bare IP: a path and how to fix it) and
    # the runtime's entrypoint, from KRE's entrypointAddress.
    assert "/runtimes/demo/versions/price-estimator-v1/status" in result.stdout
    assert "entrypoint: demo-entrypoint.kre.example.test:80" in result.stdout
    assert ops(kre, "KedroKrtStart") == 0


def test_start_and_publish_are_waited_for(kre: FakeKre, make_krt: Any) -> None:
    kre.polls_to_finish = 2
    kre.add_version("price-estimator-v0", status="PUBLISHED")
    result = deploy(
        kre, make_krt(), "--config", "OUTPUT_CURRENCY=EUR", "--publish", "--comment", "go"
    )
    assert result.exit_code == 0, result.output
    names = kre.operation_names()
    start, publish = names.index("KedroKrtStart"), names.index("KedroKrtPublish")
    # Polled until STARTED (STARTING twice) before publishing, then until PUBLISHED.
    assert names[start + 1 : publish] == ["KedroKrtVersion"] * 3
    assert names[publish + 1 :] == ["KedroKrtVersion"]
    assert kre.version("price-estimator-v1").status == "PUBLISHED"
    assert kre.version("price-estimator-v0").status == "STARTED"
    assert "version price-estimator-v1: PUBLISHED in runtime demo" in result.stdout
    assert "waiting for STARTED" in result.stderr


def test_publish_needs_a_comment(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(kre, make_krt(), "--publish")
    assert result.exit_code == 2
    assert "--publish needs --comment TEXT" in result.stderr
    assert kre.requests == []


def test_a_config_value_can_come_from_the_environment(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(
        kre, make_krt(), "--config", "OUTPUT_CURRENCY", "--start",
        env={"OUTPUT_CURRENCY": "secret-eur"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert kre.config_values("price-estimator-v1") == {"OUTPUT_CURRENCY": "secret-eur"}
    assert "secret-eur" not in result.output
    assert kre.version("price-estimator-v1").status == "STARTED"


# --- what KRE says goes to the user as KRE said it ----------------------------------------------


def test_an_error_status_prints_kres_errors_as_they_are(kre: FakeKre, make_krt: Any) -> None:
    errors = [
        "error processing krt",
        "error src File src/etl/main.py for node etl not exists",
        'error creating dashboard: "x" \\ 100% <weird>',
    ]
    kre.create_outcome = ("ERROR", errors)
    result = deploy(kre, make_krt(), "--start")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    for error in errors:
        assert error in lines, f"{error!r} not printed on a line of its own, as KRE wrote it"
    assert "status ERROR" in result.stderr
    assert "Traceback" not in result.output
    assert ops(kre, "KedroKrtStart") == 0


def test_missing_config_variables_are_named(kre: FakeKre, make_krt: Any) -> None:
    # KRE fills a variable from an earlier version of the runtime: that one is not missing.
    kre.add_version("price-estimator-v0", status="STOPPED", config={"REGION": "eu"})
    krt = make_krt(variables=("OUTPUT_CURRENCY", "REGION", "API_KEY", "THRESHOLD"))
    result = deploy(kre, krt, "--config", "THRESHOLD=0.5")
    assert result.exit_code == 0, result.output
    assert "config variables without a value: OUTPUT_CURRENCY, API_KEY." in result.stderr
    assert "config set: THRESHOLD" in result.stdout
    assert "config kept from an earlier version: REGION" in result.stdout
    assert kre.version("price-estimator-v1").status == "CREATED"


def test_start_is_refused_while_config_variables_are_missing(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(kre, make_krt(variables=("OUTPUT_CURRENCY", "API_KEY")), "--start")
    assert result.exit_code == 1
    assert "these have none: OUTPUT_CURRENCY, API_KEY" in result.stderr
    assert "/runtimes/demo/versions/price-estimator-v1/configuration" in result.stderr
    assert ops(kre, "KedroKrtStart") == 0


def test_an_unknown_config_name_is_refused_before_the_upload(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(kre, make_krt(), "--config", "OUTPUT_CURENCY=EUR")
    assert result.exit_code == 1
    assert "--config OUTPUT_CURENCY: version 'price-estimator-v1' has no such" in result.stderr
    assert "declares: OUTPUT_CURRENCY" in result.stderr
    assert kre.requests == []


def test_an_existing_version_is_refused_before_the_upload(kre: FakeKre, make_krt: Any) -> None:
    kre.add_version("price-estimator-v1", status="STARTED")
    result = deploy(kre, make_krt())
    assert result.exit_code == 1
    message = result.stderr
    assert "version 'price-estimator-v1' already exists in runtime 'demo' (status STARTED)" in (
        message
    )
    assert "nothing was uploaded" in message
    # For a .krt, the name lives in its krt.yml; a free name is proposed.
    assert "`version:` in the .krt's krt.yml" in message
    assert "kedro krt package --version price-estimator-v2" in message
    assert ops(kre, "KedroKrtCreateVersion") == 0
    assert kre.uploads == []


def test_a_local_image_is_refused_before_any_network_call(
    kre: FakeKre, make_krt: Any, tmp_path: Path
) -> None:
    """An image without a registry host (`kedro krt init`'s default) would be pulled from
    Docker Hub by the cluster: refused, with what to set, unless --allow-local-image."""
    from kedro_krt.formats.archive import read_krt, write_krt

    files = read_krt(make_krt(variables=()))
    files["krt.yml"] = files["krt.yml"].replace(
        b"registry.example.com/team/kre-py:2.1.5", b"kedro-krt-runtime:latest"
    )
    krt = write_krt(files, tmp_path / "local.krt")
    result = deploy(kre, krt)
    assert result.exit_code == 1
    message = result.stderr
    assert "names image(s) without a registry host" in message
    assert 'kedro-krt-runtime:latest (node "etl"; images.runtime in conf/<env>/krt.yml)' in (
        message
    )
    assert '"docker.io/library/kedro-krt-runtime"' in message
    assert "images.runtime: registry.example.com/team/price-estimator-v1-runtime:0.1.0" in (
        message
    )
    assert "--allow-local-image" in message
    assert "Traceback" not in result.output
    assert kre.requests == []

    allowed = deploy(kre, krt, "--allow-local-image")
    assert allowed.exit_code == 0, allowed.output
    assert kre.version("price-estimator-v1").status == "CREATED"
    # Locally the name is fine: no warning about registries on the way either.
    assert "registry" not in allowed.stderr


def test_the_validators_warnings_are_said_once_each(
    kre: FakeKre, make_krt: Any, tmp_path: Path
) -> None:
    from kedro_krt.formats.archive import read_krt, write_krt

    files = read_krt(make_krt(variables=()))
    files["krt.yml"] = files["krt.yml"].replace(b"kre-py:2.1.5", b"kre-py:latest")
    krt = write_krt(files, tmp_path / "latest.krt")
    result = deploy(kre, krt)
    assert result.exit_code == 0, result.output
    assert "warning: warning:" not in result.stderr
    (line,) = [ln for ln in result.stderr.splitlines() if "image-latest" in ln]
    assert line.startswith("warning: krt.yml:") and line.endswith("[krt.image-latest]")


def test_an_invalid_krt_is_refused_before_any_network_call(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(kre, make_krt(sequential="etl, model"))
    assert result.exit_code == 1
    assert "is not uploaded: KRE would refuse it" in result.stderr
    assert "node in sequential not found: model" in result.stderr
    assert kre.requests == []


def test_a_folder_is_not_uploaded(kre: FakeKre, tmp_path: Path) -> None:
    result = deploy(kre, tmp_path)
    assert result.exit_code == 1
    assert "deploy uploads a .krt archive" in result.stderr
    assert kre.requests == []


# --- failures: retried when transient, never when KRE answered ------------------------------------


def test_a_503_is_retried_then_succeeds(kre: FakeKre, make_krt: Any) -> None:
    kre.faults = [
        Fault("/api/v1/auth/token/signin", 503),
        Fault("/graphql", 503, operation="KedroKrtCreateVersion", times=2),
        Fault("/graphql", 502, operation="KedroKrtVersion"),
        Fault("/graphql", "reset", operation="KedroKrtRuntime"),
    ]
    result = deploy(kre, make_krt(variables=()))
    assert result.exit_code == 0, result.output
    uploads = [r for r in kre.requests if r.operation == "KedroKrtCreateVersion"]
    assert len(uploads) == 3  # two 503s, then the upload KRE handled
    assert len(kre.uploads) == 1
    assert "HTTP 503; trying again in" in result.stderr
    assert "ReadError" in result.stderr or "RemoteProtocolError" in result.stderr
    assert kre.version("price-estimator-v1").status == "CREATED"


def test_an_upload_that_reached_kre_is_not_made_twice(kre: FakeKre, make_krt: Any) -> None:
    # KRE handles the upload, then the connection drops before its answer.
    kre.faults = [Fault("/graphql", "reset-after", operation="KedroKrtCreateVersion")]
    result = deploy(kre, make_krt(variables=()))
    assert result.exit_code == 0, result.output
    assert len(kre.uploads) == 1
    assert ops(kre, "KedroKrtCreateVersion") == 1
    assert kre.version("price-estimator-v1").status == "CREATED"


def test_a_refused_upload_is_not_retried(kre: FakeKre, make_krt: Any) -> None:
    details_7 = (
        "The krt.yml file contains the following validation errors:\n"
        '  - The field "Workflows[0].Entrypoint" is required'
    )
    details = (
        details_7 if kre.tag == "kre-7.0.0" else ['the field "Workflows[0].Entrypoint" is required']
    )
    kre.create_refusal = (
        "the krt.yml file contains errors",
        {"code": "krt_validation_error", "details": details},
    )
    result = deploy(kre, make_krt())
    assert result.exit_code == 1
    assert ops(kre, "KedroKrtCreateVersion") == 1
    assert "KRE refused the upload (createVersion):" in result.stderr
    assert "the krt.yml file contains errors" in result.stderr.splitlines()
    for line in details_7.splitlines() if isinstance(details, str) else details:
        assert line in result.stderr.splitlines()
    assert "trying again" not in result.stderr


def test_transient_failures_give_up_with_one_message(kre: FakeKre, make_krt: Any) -> None:
    kre.faults = [Fault("/api/v1/auth/token/signin", 503, times=50)]
    result = deploy(kre, make_krt())
    assert result.exit_code == 1
    assert "sign-in: KRE's admin API at" in result.stderr
    assert "still fails after 5 tries (HTTP 503)" in result.stderr
    assert "Traceback" not in result.output


def test_a_wrong_token_is_one_clear_message(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(kre, make_krt(), env={"KRE_API_TOKEN": "not-the-token"})
    assert result.exit_code == 1
    (line,) = result.stderr.strip().splitlines()[-1:]
    assert line.startswith(
        "Error: KRE refused the API token in $KRE_API_TOKEN (HTTP 401 unauthorized: Unauthorized)"
    )
    assert "Traceback" not in result.output
    assert "not-the-token" not in result.output
    assert len([r for r in kre.requests if r.path == "/api/v1/auth/token/signin"]) == 1
    assert ops(kre, "KedroKrtCreateVersion") == 0


def test_no_token_in_the_env_stops_before_any_network_call(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(kre, make_krt(), env={"KRE_API_TOKEN": None})
    assert result.exit_code == 1
    assert "no API token: the environment variable KRE_API_TOKEN is not set" in result.stderr
    assert kre.requests == []
    result = deploy(kre, make_krt(), "--token-env", "MY_KRE_TOKEN",
                    env={"KRE_API_TOKEN": None, "MY_KRE_TOKEN": kre.api_token})  # fmt: skip
    assert result.exit_code == 0, result.output


def test_an_unknown_runtime_is_kres_message(kre: FakeKre, make_krt: Any) -> None:
    result = CliRunner().invoke(
        main,
        ["deploy", str(make_krt()), "--api", kre.url, "--runtime", "prod"],
        env={"KRE_API_TOKEN": kre.api_token},
    )
    assert result.exit_code == 1
    assert "error runtime not found" in result.stderr.splitlines()
    assert "Check --runtime 'prod'" in result.stderr
    assert kre.uploads == []


def test_a_wait_that_runs_out_says_where_to_follow(kre: FakeKre, make_krt: Any) -> None:
    kre.polls_to_finish = 10_000
    result = deploy(kre, make_krt(variables=()), "--wait", "0.1")
    assert result.exit_code == 1
    assert "version 'price-estimator-v1' is still CREATING after 0.1 s" in result.stderr


# --- the token: from the environment, and nowhere else -------------------------------------------


def test_the_token_is_never_in_argv_in_the_krt_or_in_logs(
    kre: FakeKre, make_krt: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    krt = make_krt()
    args = [
        "deploy",
        str(krt),
        "--api",
        kre.url,
        "--runtime",
        "demo",
        "--config",
        "OUTPUT_CURRENCY=x",
    ]
    result = CliRunner().invoke(
        main, [*args, "--start"], env={"KRE_API_TOKEN": kre.api_token}, catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    assert kre.api_token not in " ".join(args)
    for secret in (kre.api_token, kre.jwt):
        assert secret not in result.output
        assert secret not in caplog.text
        assert secret.encode() not in kre.uploads[0].content
        assert secret.encode() not in krt.read_bytes()
    assert caplog.records, "httpx's debug logs were not captured: the check would be empty"
    # No option takes the token itself.
    for group, name in ((main, "deploy"), (commands.commands["krt"], "deploy")):
        options = [o for p in group.commands[name].params for o in p.opts]  # type: ignore[attr-defined]
        assert [o for o in options if "token" in o] == ["--token-env"]
    result = CliRunner().invoke(main, ["deploy", str(krt), "--token", "abc"])
    # click's wording: "No such option '--token'" (8.3 and later), "No such option: --token" (8.2)
    assert result.exit_code == 2
    assert re.search(r"No such option:? '?--token\b", result.stderr), result.stderr


def test_token_env_must_be_a_name_and_is_never_echoed(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(kre, make_krt(), "--token-env", "kre-7f3a9-secret!")
    assert result.exit_code == 1
    assert "takes the NAME of the environment variable" in result.stderr
    assert "kre-7f3a9-secret!" not in result.output


@pytest.mark.parametrize("key", ["token", "api_token", "apiToken", "KRE_TOKEN"])
def test_a_token_in_krt_yml_is_refused(key: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config({"deploy": {"api": "https://api.kre.example.com", key: "abc"}})
    message = str(err.value)
    assert f"'deploy.{key}' is refused: an API token never goes in conf/" in message
    assert "KRE_API_TOKEN" in message and "abc" not in message


def test_deploy_settings_parse() -> None:
    config = parse_config(
        {"deploy": {"api": "https://api.kre.example.com", "runtime": "demo", "wait": 60}}
    )
    assert config.deploy.api == "https://api.kre.example.com"
    assert config.deploy.runtime == "demo"
    assert config.deploy.wait == 60.0
    assert config.deploy.token_env == "KRE_API_TOKEN"
    with pytest.raises(ConfigError, match=r"'deploy\.wait' must be a number"):
        parse_config({"deploy": {"wait": "soon"}})
    with pytest.raises(
        ConfigError, match=r"unknown key 'runtim' at deploy; did you mean 'runtime'\?"
    ):
        parse_config({"deploy": {"runtim": "demo"}})


# --- HTTPS --------------------------------------------------------------------------------------


def _make_ca(tmp: Path) -> tuple[Path, Path, Path]:
    """A CA and a certificate for 127.0.0.1 signed by it, made with the openssl CLI."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=tmp, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=kedro-krt test CA")  # fmt: skip
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key", "-out", "server.csr",
        "-subj", "/CN=127.0.0.1")  # fmt: skip
    (tmp / "san.ext").write_text("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")  # fmt: skip
    return tmp / "ca.pem", tmp / "server.pem", tmp / "server.key"


@pytest.mark.integration
def test_https_with_a_private_ca(make_krt: Any, tmp_path: Path) -> None:
    import ssl

    ca, cert, key = _make_ca(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    kre = FakeKre("kre-8.0.0").start(ssl_context=context)
    try:
        assert kre.url.startswith("https://127.0.0.1:")
        # The system's trust store does not know the CA: one clear message, no retry.
        result = deploy(kre, make_krt(variables=()))
        assert result.exit_code == 1
        assert "cannot verify the TLS certificate" in result.stderr
        assert "--ca-file" in result.stderr
        assert "trying again" not in result.stderr
        result = deploy(kre, make_krt(variables=()), "--ca-file", ca)
        assert result.exit_code == 0, result.output
        assert "entrypoint: demo-entrypoint.kre.example.test:443" in result.stdout
    finally:
        kre.stop()
    assert kre.violations == []


def test_plain_http_to_another_host_is_warned_about() -> None:
    from kedro_krt.deploy.settings import cleartext_warning

    assert cleartext_warning("http://127.0.0.1:8080") is None
    assert cleartext_warning("https://api.kre.example.com") is None
    warning = cleartext_warning("http://api.kre.example.com")
    assert warning and "unencrypted" in warning


# --- addresses ----------------------------------------------------------------------------------


def test_where_the_version_shows() -> None:
    assert admin_ui_base("https://api.kre.example.com") == "https://admin.kre.example.com"
    assert (
        admin_ui_base("https://api.kre.example.com:8443/") == "https://admin.kre.example.com:8443"
    )
    assert admin_ui_base("https://kre-api.example.com") is None
    assert admin_ui_base("https://kre-api.example.com", "https://ui.example.com/") == (
        "https://ui.example.com"
    )
    assert version_page("https://admin.x.io", "demo", "status-v1") == (
        "https://admin.x.io/runtimes/demo/versions/status-v1/status"
    )
    # KRE's entrypointAddress gives the base domain; k8s-manager's Ingress adds the runtime.
    assert entrypoint_address("https://api.kre.example.com", "demo", "entrypoint.kre.io") == (
        "demo-entrypoint.kre.io:443"
    )
    assert entrypoint_address("http://api.kre.example.com", "demo") == (
        "demo-entrypoint.kre.example.com:80"
    )
    assert entrypoint_address("http://127.0.0.1:8080", "demo") is None
    # A base domain reported with its port keeps that port, once (was `...:443:80`).
    assert entrypoint_address(
        "http://api.kre-rt.example.org", "kre-rt", "entrypoint.kre-rt.example.org:443"
    ) == "kre-rt-entrypoint.kre-rt.example.org:443"
    assert entrypoint_address("https://api.x.io", "demo", "entrypoint.x.io:8443") == (
        "demo-entrypoint.x.io:8443"
    )


def test_a_free_name_is_proposed() -> None:
    assert free_name("price-estimator-v1", {"price-estimator-v1"}) == "price-estimator-v2"
    assert free_name("shuttle-prices", {"shuttle-prices", "shuttle-prices-2"}) == (
        "shuttle-prices-3"
    )
    assert free_name("a-nineteen-chars-x9", set()) == "a-nineteen-chars-10"


# --- from a Kedro project -----------------------------------------------------------------------


@pytest.fixture
def project(trained_project: Path, tmp_path: Path) -> Path:
    """A copy of the trained example project whose krt.yml says where to deploy."""
    copy = Path(
        shutil.copytree(
            trained_project, tmp_path / "project", ignore=shutil.ignore_patterns("dist")
        )
    )
    return copy


def _kedro(project: Path, *args: str, token: str) -> subprocess.CompletedProcess[str]:
    import os

    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true", "PYTHONWARNINGS": "ignore",
           "KRE_API_TOKEN": token}  # fmt: skip
    return subprocess.run(
        [str(Path(sys.executable).parent / "kedro"), "krt", "deploy", *args],
        cwd=project, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def _deploy_conf(project: Path, kre: FakeKre) -> dict[str, Any]:
    """krt.yml of `project` with a config variable and a deploy section aimed at `kre`."""
    conf = project / "conf" / "base" / "krt.yml"
    data = yaml.safe_load(conf.read_text())
    data["variables"] = ["PRICE_CURRENCY"]
    data["deploy"] = {"api": kre.url, "runtime": "demo", "token_env": "KRE_API_TOKEN"}
    conf.write_text(yaml.safe_dump(data))
    kre.add_version("shuttle-prices", status="PUBLISHED")
    return data


@pytest.mark.slow
def test_kedro_krt_deploy_refuses_before_any_request(project: Path, example_krt: Path) -> None:
    """The refusals that send no request: the same whatever KRE's schema, so against one fake
    (the project's deploy runs against each schema below)."""
    kre = FakeKre(tag=TAGS[0])
    kre.start()
    try:
        conf = project / "conf" / "base" / "krt.yml"
        data = _deploy_conf(project, kre)

        # What deploy would refuse is found before the project is packaged (issue 21): no .krt
        # is written. A --config name krt.yml does not declare: no request at all.
        proc = _kedro(project, "-p", "inference", "--config", "PRICE_CURENCY=EUR", token="t")
        assert proc.returncode == 1, proc.stderr
        assert "--config PRICE_CURENCY: version 'shuttle-prices' has no such config" in proc.stderr
        assert "conf/base/krt.yml declares: PRICE_CURRENCY; add the name to `variables:`" in (
            proc.stderr
        )
        assert kre.requests == []
        # An image without a registry host: no request either.
        local = {**data, "images": {"runtime": "kedro-krt-runtime:latest"}}
        conf.write_text(yaml.safe_dump(local))
        proc = _kedro(project, "-p", "inference", token=kre.api_token)
        assert proc.returncode == 1, proc.stderr
        assert "kedro-krt-runtime:latest (the Kedro nodes; images.runtime in" in proc.stderr
        assert kre.requests == []

        # --krt deploys a .krt as it is: it cannot be renamed on the way.
        proc = _kedro(project, "--krt", str(example_krt), "--version", "x", token=kre.api_token)
        assert proc.returncode == 2
        assert "--krt deploys the .krt as it is" in proc.stderr
        assert kre.requests == []
    finally:
        kre.stop()
    assert kre.violations == []


@pytest.mark.slow
def test_kedro_krt_deploy_packages_the_project_and_deploys_it(kre: FakeKre, project: Path) -> None:
    _deploy_conf(project, kre)

    # The name is taken: refused before packaging, with --version proposed.
    proc = _kedro(project, "--pipeline", "inference", token=kre.api_token)
    assert proc.returncode == 1, proc.stderr
    assert "already exists in runtime 'demo'" in proc.stderr
    assert "add --version shuttle-prices-2 (the project is packaged under it)" in proc.stderr
    assert kre.uploads == []
    assert not list((project / "dist").glob("*.krt")), "packaged before the checks"

    proc = _kedro(project, "--pipeline", "inference", "--version", "shuttle-prices-2",
                  "--config", "PRICE_CURRENCY=EUR", "--publish", "--comment", "v2",
                  token=kre.api_token)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert (project / "dist" / "shuttle-prices-2.krt").is_file()
    assert "version shuttle-prices-2: PUBLISHED in runtime demo" in proc.stdout
    assert kre.version("shuttle-prices-2").status == "PUBLISHED"
    assert kre.version("shuttle-prices").status == "STARTED"
    (upload,) = kre.uploads
    assert upload.content == (project / "dist" / "shuttle-prices-2.krt").read_bytes()
    assert kre.api_token.encode() not in upload.content
    assert kre.api_token not in proc.stdout + proc.stderr
    # kedro-krt's own config, with its deploy section, is never packaged.
    from kedro_krt.formats.archive import read_krt

    shipped = read_krt(project / "dist" / "shuttle-prices-2.krt")
    assert "conf/base/krt.yml" not in shipped
    assert not any(b"deploy:" in content for name, content in shipped.items() if "conf/" in name)


def test_a_krt_v2_is_deployed_too(kre: FakeKre, make_krt: Any, tmp_path: Path) -> None:
    """A KRT v2 (issue 14) goes through the same checks and upload; its config variables are
    read from its v2 manifest."""
    from kedro_krt.formats.archive import read_krt, write_krt

    files = read_krt(make_krt(variables=()))
    files["krt.yml"] = (
        b"version: price-estimator-v2\nkrtVersion: v2\ndescription: Prices\n"
        b"entrypoint: {proto: public_input.proto, image: konstellation/kre-entrypoint:3.3.6}\n"
        b"config: {variables: [OUTPUT_CURRENCY]}\n"
        b"workflows:\n"
        b"  - name: estimate\n    entrypoint: Predict\n    exitpoint: etl\n    nodes:\n"
        b"      - {name: etl, image: konstellation/kre-py:3.4.1, src: src/etl/main.py,"
        b" subscriptions: [entrypoint]}\n"
    )
    krt = write_krt(files, tmp_path / "v2.krt")
    refused = deploy(kre, krt, "--config", "NOT_DECLARED=1")
    assert refused.exit_code == 1 and "Its krt.yml declares: OUTPUT_CURRENCY" in refused.output
    result = deploy(kre, krt)
    assert result.exit_code == 0, result.output
    assert kre.version("price-estimator-v2").status == "CREATED"


def test_a_v1_krt_is_not_uploaded_to_a_kre_8_2_runtime(kre: FakeKre, make_krt: Any) -> None:
    result = deploy(kre, make_krt(variables=()), "--kre", "8.2")
    assert result.exit_code == 1
    assert "is not uploaded" in result.output
    assert 'the field "Workflows[0].Exitpoint" is required' in result.output
    assert kre.requests == [], "nothing reaches KRE"
