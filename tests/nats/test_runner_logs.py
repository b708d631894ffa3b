"""The runners' log lines under `serve --nats`, as KRE's log sidecar reads them.

KRE's fluent-bit starts a record at a line matching the first-line pattern of its `parsers.conf`
(konstellation-io/kre @ kre-7.0.0 and @ v8.2.0, `engine/k8s-manager/kubernetes/version/config.go`,
the same regex in both) and appends every other line to the record before it. A Kedro project
started inside a runner must not switch its lines to Rich's boxes (Kedro's default
`rich_logging.yml`) nor to the project's own `conf/logging.yml` format, and Kedro's two start-up
warnings (omegaconf's `register_new_resolver`, dotted dataset names) must not show on every start.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

import pytest

from tests.serve.serve_helpers import ServerProcess

#: parsers.conf's `multiline_pattern`, its named groups written the Python way.
FIRST_LINE = re.compile(
    r"^(?P<logtime>\d{4}\-\d{2}\-\d{2}T\d{1,2}\:\d{1,2}\:\d{1,2}(\.\d+Z|\+0000)) "
    r"(?P<level>(ERROR|WARN|INFO|DEBUG)) (?P<capture>.*)"
)

#: A project logging.yml as a Kedro user may have it: Kedro's Rich handler on the root logger,
#: and the project's own logger at DEBUG.
PROJECT_LOGGING = """\
version: 1
disable_existing_loggers: False
handlers:
  rich:
    class: kedro.logging.RichHandler
loggers:
  kedro:
    level: INFO
  shuttle_prices:
    level: DEBUG
root:
  handlers: [rich]
"""

#: What the project's code logs when its pipelines are imported, at each level.
NODE_LOGS = """
import logging as _logging
import warnings as _warnings

_log = _logging.getLogger(__name__)
_log.debug("krt-logs debug from the project")
_log.warning("krt-logs warning from the project")
_log.critical("krt-logs critical from the project")
_warnings.warn("krt-logs python warning from the project", stacklevel=1)
"""


def _project_krt(krt: Path, folder: Path) -> Path:
    """The .krt unpacked, with the project's logging.yml and node code above."""
    with tarfile.open(krt) as tar:
        tar.extractall(folder, filter="data")
    (folder / "conf" / "logging.yml").write_text(PROJECT_LOGGING, encoding="utf-8")
    nodes = folder / "src" / "shuttle_prices" / "pipelines" / "inference" / "nodes.py"
    nodes.write_text(nodes.read_text(encoding="utf-8") + NODE_LOGS, encoding="utf-8")
    return folder


def records(stdout: str) -> list[tuple[str, str]]:
    """(level, message) of each record, as fluent-bit cuts them; a line that neither starts a
    record nor continues one (indented or empty) fails the test."""
    out = []
    for line in stdout.splitlines():
        if line.startswith("Serving "):  # the front's banner, not a runner's
            continue
        match = FIRST_LINE.match(line)
        if match:
            out.append((match["level"], match["capture"]))
        else:
            assert not line.strip() or line[0].isspace(), f"not a log line KRE reads: {line!r}"
            assert out, f"a continuation line before any record: {line!r}"
    return out


@pytest.mark.parametrize("krt_version", ["v1", "v2"])
def test_runner_lines_parse_with_kre_s_first_line_pattern(
    krt_version: str,
    example_krt: Path,
    example_krt_v2: Path,
    tmp_path: Path,
    start_nats_server: object,
) -> None:
    krt = {"v1": example_krt, "v2": example_krt_v2}[krt_version]
    folder = _project_krt(krt, tmp_path / "krt")
    server = start_nats_server(folder)  # type: ignore[operator]
    server.terminate()
    server.wait_exit(timeout=60)
    found = records(server.stdout)
    runners = 3  # etl, model, output: each imports the project's pipelines
    for level, text in [
        ("DEBUG", "krt-logs debug from the project"),  # the project's level is honoured
        ("WARN", "krt-logs warning from the project"),
        ("ERROR", "krt-logs critical from the project"),  # kre-py: CRITICAL is ERROR
    ]:
        assert found.count((level, text)) == runners, (level, text, server.stdout)
    warned = [m for lvl, m in found if "krt-logs python warning from the project" in m]
    assert len(warned) == runners and all(
        lvl == "WARN" for lvl, m in found if m in warned
    ), server.stdout
    assert any(lvl == "INFO" and "ready" in m for lvl, m in found), server.stdout
    # A warning's record ends at its source line, with no empty line after it.
    assert all(line.strip() for line in server.stdout.splitlines()), server.stdout
    both = server.stdout + server.stderr
    assert "logging configuration" not in both  # Kedro's "Using '...' as logging configuration"
    assert "register_new_resolver" not in both
    assert "dataset names contain" not in both


@pytest.mark.e2e
def test_an_in_process_start_shows_neither_kedro_start_warning(
    example_krt: Path, tmp_path: Path
) -> None:
    """The in-process server keeps a developer's console (docs/explanation/runner.md, "Logs"),
    but without Kedro's two start-up warnings either."""
    folder = _project_krt(example_krt, tmp_path / "krt")
    server = ServerProcess(folder, tmp_path)
    try:
        server.wait_status("SERVING", timeout=90)
    finally:
        server.kill()
    both = server.stdout + server.stderr
    assert "UserWarning" in both  # the project's own warning does show
    assert "register_new_resolver" not in both, both
    assert "dataset names contain" not in both, both
