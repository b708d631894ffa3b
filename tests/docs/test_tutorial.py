"""The tutorial cannot rot: its commands are run and its files created, in page order.

`docs/tutorial/index.md` (and the how-to pages in `RUNNABLE_PAGES`) are read with the
conventions of `doc_blocks`; the commands run in a temporary folder with this venv's `kedro`
and `kedro-krt` first on PATH. Two liberties are taken, both about ports: `serve` runs in the
background on free ports (gRPC and web, read as 9000 and 8080 in the page's output), and
`call` is pointed at that port. Everything else runs exactly as printed, in the environment a
user has (warnings on).

The tutorial promises that what it shows is what you get: each output block is the whole output
of its commands (stdout and stderr interleaved as a terminal shows them), up to the
normalisations of `doc_blocks.shown_output_matches`. The one excerpt is the compile report,
which the page says it shortens. The how-to pages show excerpts: their lines appear in order.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.docs.doc_blocks import (
    Block,
    Step,
    missing_lines,
    read_blocks,
    shown_output_matches,
    steps,
)
from tests.helpers import free_port

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
TUTORIAL = REPO / "docs" / "tutorial" / "index.md"
RUNNABLE_PAGES = [
    TUTORIAL,
    REPO / "docs" / "how-to" / "serve-handwritten.md",
    REPO / "docs" / "how-to" / "serve-handwritten-v2.md",
]
BIN = Path(sys.executable).parent
DOC_PORT = "9000"
#: Where the pages' shown paths start: the reader's home folder, for the test's temporary one.
DOC_HOME = "/home/you"
#: Pages whose output blocks are the whole output (the others show excerpts).
WHOLE_OUTPUT = {TUTORIAL}
#: Commands whose output the whole-output pages shorten, and say so.
EXCERPTED = ("kedro krt compile",)
DOC_WEB_PORT = "8080"


def _env() -> dict[str, str]:
    return {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",
        "KEDRO_DISABLE_TELEMETRY": "true",
        "PYTHONDONTWRITEBYTECODE": "1",
        # stdout and stderr in the order a terminal shows them
        "PYTHONUNBUFFERED": "1",
    }


class _Server:
    """A `serve` command of the page, in the background, with its output collected."""

    def __init__(self, command: str, cwd: Path, port: int, web_port: int) -> None:
        self.output = ""
        self.proc = subprocess.Popen(
            [*shlex.split(command), "--port", str(port), "--web-port", str(web_port)],
            cwd=cwd, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.output += line

    def wait_ready(self, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if "Serving " in self.output and "Web port: " in self.output:
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise AssertionError(f"the served KRT did not come up:\n{self.output}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _is_serve(command: str) -> bool:
    words = shlex.split(command)
    return words[:2] == ["kedro-krt", "serve"] or words[:3] == ["kedro", "krt", "serve"]


def _is_call(command: str) -> bool:
    words = shlex.split(command)
    return words[:2] == ["kedro-krt", "call"] or words[:3] == ["kedro", "krt", "call"]


def _reply_json(stdout: str) -> object:
    # Kedro's own log lines may come first; the reply starts at the first line that opens JSON.
    lines = stdout.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("{"))
    return json.loads("\n".join(lines[start:]))


def _same(got: object, want: object) -> bool:
    """JSON equality, with floats compared to 1e-9 relative."""
    if isinstance(want, dict):
        return isinstance(got, dict) and got.keys() == want.keys() and all(
            _same(got[k], want[k]) for k in want
        )
    if isinstance(want, list):
        return isinstance(got, list) and len(got) == len(want) and all(
            _same(g, w) for g, w in zip(got, want, strict=True)
        )
    if isinstance(want, float) and isinstance(got, int | float):
        return math.isclose(got, want, rel_tol=1e-9)
    return got == want


def _check_output(
    page: Path,
    step: Step,
    stdout: str,
    combined: str,
    port: int,
    web_port: int,
    home: Path,
) -> None:
    expected = step.expected
    if expected is None:
        return
    where = f"{page.name}:{expected.line}"
    whole = page in WHOLE_OUTPUT and not any(
        c.startswith(EXCERPTED) for c in step.block.commands
    )
    if expected.lang == "json":
        got, want = _reply_json(stdout), json.loads(expected.body)
        assert _same(got, want), f"{where}: the reply differs from the page:\n{got}"
        if whole:
            rest = shown_output_matches(expected.body, combined)
            assert rest is None, f"{where}: the output is more than the reply:\n{rest}"
    elif whole:
        replacements = {
            str(home.resolve()): DOC_HOME,
            str(home): DOC_HOME,
            f":{port}": f":{DOC_PORT}",
            f":{web_port}": f":{DOC_WEB_PORT}",
        }
        diff = shown_output_matches(expected.body, combined, replacements)
        assert diff is None, f"{where}: the page does not show the real output:\n{diff}"
    else:
        body = expected.body.replace(f":{DOC_PORT}", f":{port}")
        body = body.replace(f":{DOC_WEB_PORT}", f":{web_port}")
        missing = missing_lines(body, combined)
        assert not missing, f"{where}: not in the output: {missing}\n--- output:\n{combined}"


def test_page_follows_the_conventions() -> None:
    blocks = read_blocks(TUTORIAL)
    titled = [b.title for b in blocks if b.title]
    assert "src/tutorial/pipelines/pricing/pipeline.py" in titled
    commands = [c for b in blocks if b.lang == "bash" for c in b.commands]
    for wanted in ("kedro new", "kedro krt init", "kedro krt compile", "kedro krt package"):
        assert any(c.startswith(wanted) for c in commands), wanted
    assert any(_is_serve(c) for c in commands) and any(_is_call(c) for c in commands)


@pytest.mark.slow
@pytest.mark.e2e  # the pages serve a KRT and call it
@pytest.mark.parametrize("page", RUNNABLE_PAGES, ids=lambda p: p.stem)
def test_page_runs_as_written(page: Path, tmp_path: Path) -> None:
    if not (BIN / "kedro").exists() or not (BIN / "kedro-krt").exists():
        pytest.skip(f"kedro and kedro-krt are not installed in {BIN}")
    cwd = tmp_path
    port, web_port = free_port(), free_port()
    server: _Server | None = None
    calls = 0
    try:
        for item in steps(read_blocks(page)):
            if isinstance(item, Block):
                target = cwd / str(item.title)
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_text(item.body, encoding="utf-8")
                continue
            stdout = combined = ""
            for command in item.block.commands:
                if command.startswith("cd "):
                    cwd = (cwd / command[3:].strip()).resolve()
                    continue
                if _is_serve(command):
                    assert server is None, f"{page.name} serves twice"
                    server = _Server(command, cwd, port, web_port)
                    server.wait_ready()
                    stdout = combined = server.output
                    continue
                args = command
                if _is_call(command):
                    args += f" --address 127.0.0.1:{port}"
                    calls += 1
                # stderr into stdout: the two streams as a terminal interleaves them
                proc = subprocess.run(
                    args, shell=True, cwd=cwd, env=_env(), stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT, text=True, timeout=180,
                )
                assert proc.returncode == 0, (
                    f"{page.name}:{item.block.line}: `{command}` failed "
                    f"({proc.returncode}):\n{proc.stdout}"
                )
                stdout = proc.stdout
                combined += proc.stdout
            _check_output(page, item, stdout, combined, port, web_port, tmp_path)
    finally:
        if server is not None:
            server.stop()
    assert server is not None and calls >= 1
