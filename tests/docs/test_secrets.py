"""The secrets page works as printed: its settings.py, exactly as the page shows it, lets Kedro 1.x
resolve `${env:NAME}` in parameters, which `${oc.env:NAME}` cannot outside credentials files."""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.compiler.compiler_helpers import write_project
from tests.docs.doc_blocks import Block, read_blocks

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "docs" / "how-to" / "secrets.md"


def _block(title_end: str) -> Block:
    found = [b for b in read_blocks(PAGE) if (b.title or "").endswith(title_end)]
    assert len(found) == 1, f"{PAGE.name} should show one {title_end}"
    return found[0]


@pytest.fixture
def variables(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("KEDRO_DISABLE_TELEMETRY", "true")
    monkeypatch.setenv("PRICE_API_TOKEN", "s3cret")
    monkeypatch.delenv("PRICE_API_REGION", raising=False)
    yield


def test_the_settings_snippet_resolves_env_in_parameters(
    tmp_path: Path, variables: None
) -> None:
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project

    settings = _block("settings.py").body
    parameters = _block("parameters.yml").body
    package = f"secrets_{uuid.uuid4().hex[:8]}"
    root = write_project(
        tmp_path / "project",
        package=package,
        modules={
            "settings.py": settings,
            "pipeline_registry.py": "def register_pipelines():\n    return {}\n",
        },
        parameters=parameters,
    )
    bootstrap_project(root)
    try:
        with KedroSession.create(project_path=root) as session:
            params = session.load_context().params
    finally:
        for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")]:
            del sys.modules[name]
    assert params["price_api"] == {"token": "s3cret", "region": "eu"}


def test_the_page_declares_what_the_parameters_read() -> None:
    """The variables of krt.yml are the ones the parameters read, and they are valid names."""
    from kedro_krt.compiler.config import parse_config

    config = parse_config(yaml.safe_load(_block("krt.yml").body))
    parameters = _block("parameters.yml").body
    for name in config.variables:
        assert f"${{env:{name}" in parameters, f"{name} is declared but never read"
    assert "${oc.env:" not in parameters


def test_oc_env_is_refused_outside_credentials(tmp_path: Path, variables: None) -> None:
    """What the page says of `${oc.env:...}` is still Kedro's behaviour."""
    from kedro.config import OmegaConfigLoader

    conf = tmp_path / "conf"
    (conf / "base").mkdir(parents=True)
    (conf / "local").mkdir()
    (conf / "base" / "parameters.yml").write_text("token: ${oc.env:PRICE_API_TOKEN}\n")
    (conf / "base" / "credentials.yml").write_text("token: ${oc.env:PRICE_API_TOKEN}\n")
    loader = OmegaConfigLoader(str(conf), base_env="base", default_run_env="local")
    assert loader["credentials"] == {"token": "s3cret"}
    with pytest.raises(Exception, match=r"oc\.env"):
        loader["parameters"]
