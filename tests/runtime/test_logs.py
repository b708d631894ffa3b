"""What a Kedro project's own logging config does inside a node runner: its levels, nothing else.

The runner's line format itself is checked on real runner processes in
tests/nats/test_runner_logs.py; here, the rules that decide what of ``conf/logging.yml`` counts.
"""

from __future__ import annotations

import logging
import logging.config
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from kedro_krt.node.logs import KEDRO_LOGGING, keep_runner_logging, project_levels
from kedro_krt.node.runtime.engine import quiet_kedro_start

LOGGING_YML = """\
version: 1
handlers:
  rich:
    class: kedro.logging.RichHandler
loggers:
  kedro:
    level: info
  my_project.nodes:
    level: DEBUG
  no_level:
    handlers: [rich]
root:
  handlers: [rich]
  level: WARNING
"""


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "logging.yml").write_text(LOGGING_YML, encoding="utf-8")
    return tmp_path


@pytest.fixture
def restored_levels() -> Iterator[None]:
    names = ("", "kedro", "my_project.nodes")
    before = {n: logging.getLogger(n or None).level for n in names}
    yield
    for name, level in before.items():
        logging.getLogger(name or None).setLevel(level)


def test_project_levels_are_the_levels_only(project: Path) -> None:
    assert project_levels(project) == {"": "WARNING", "kedro": "INFO", "my_project.nodes": "DEBUG"}


@pytest.mark.parametrize(
    "text", ["", "- a list\n", "version: 1\nloggers: [kedro]\n", "root: {level: [1]}\n", ":\n  -"]
)
def test_what_is_not_a_logging_config_gives_no_level(tmp_path: Path, text: str) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "logging.yaml").write_text(text, encoding="utf-8")
    assert project_levels(tmp_path) == {}
    assert project_levels(tmp_path / "elsewhere") == {}


def test_under_the_runner_the_levels_apply_and_no_handler(
    project: Path, monkeypatch: pytest.MonkeyPatch, restored_levels: None
) -> None:
    monkeypatch.setenv("KEDRO_LOGGING_CONFIG", str(KEDRO_LOGGING))
    root_handlers = list(logging.getLogger().handlers)
    keep_runner_logging(project)
    assert logging.getLogger("my_project.nodes").level == logging.DEBUG
    assert logging.getLogger("kedro").level == logging.INFO
    assert logging.getLogger().level == logging.WARNING
    assert logging.getLogger().handlers == root_handlers


def test_outside_the_runner_nothing_changes(
    project: Path, monkeypatch: pytest.MonkeyPatch, restored_levels: None
) -> None:
    monkeypatch.delenv("KEDRO_LOGGING_CONFIG", raising=False)
    logging.getLogger("my_project.nodes").setLevel(logging.ERROR)
    keep_runner_logging(project)
    assert logging.getLogger("my_project.nodes").level == logging.ERROR


def test_the_runner_s_kedro_config_is_incremental() -> None:
    """dictConfig with it replaces no handler: the runner's stay on the root logger."""
    config = yaml.safe_load(KEDRO_LOGGING.read_text(encoding="utf-8"))
    assert config["incremental"] is True
    assert not {"handlers", "formatters", "filters", "root"} & set(config)
    root = logging.getLogger()
    before = list(root.handlers)
    marker = logging.NullHandler()
    root.addHandler(marker)
    kedro_project = logging.getLogger("kedro.framework.project")
    level = kedro_project.level
    try:
        logging.config.dictConfig(config)
        assert root.handlers == [*before, marker]
        assert kedro_project.level == logging.WARNING  # Kedro's "Using '...'" line
    finally:
        root.removeHandler(marker)
        kedro_project.setLevel(level)


def test_kedro_start_warnings_are_ignored_and_only_them() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        quiet_kedro_start()
        for module, message in (
            ("kedro.config.omegaconf_config", "register_new_resolver() is deprecated and ..."),
            ("kedro.pipeline.node", "One or more dataset names contain '.' characters, ..."),
            ("my_project.settings", "register_new_resolver() is deprecated and ..."),
            ("kedro.pipeline.node", "another warning"),
        ):
            warnings.warn_explicit(message, UserWarning, "x.py", 1, module=module)
    assert [str(w.message) for w in caught] == [
        "register_new_resolver() is deprecated and ...",
        "another warning",
    ]
