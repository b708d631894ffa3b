"""The deploy guide, followed on the example project, works (issue 21): its deploy commands
parse, pass only config variables the project declares (or the block exports and says so), and
the steps it refers to exist."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from kedro_krt.cli.commands import deploy
from tests.docs.doc_blocks import read_blocks

ROOT = Path(__file__).parents[2]
PAGE = ROOT / "docs" / "how-to" / "deploy-to-kre.md"


def _deploy_commands() -> list[tuple[list[str], str]]:
    """(argv after `deploy`, the block's text) of every deploy command of the page."""
    out = []
    for block in read_blocks(PAGE):
        if block.lang != "bash":
            continue
        for command in block.commands:
            words = shlex.split(command)
            if words[:3] == ["kedro", "krt", "deploy"]:
                out.append((words[3:], block.body))
            elif words[:2] == ["kedro-krt", "deploy"]:
                out.append((words[2:], block.body))
    return out


def test_the_deploy_commands_use_known_flags() -> None:
    commands = _deploy_commands()
    assert len(commands) >= 3
    known = {opt for param in deploy.params for opt in param.opts}
    for argv, _ in commands:
        flags = {word.split("=")[0] for word in argv if word.startswith("--")}
        assert flags <= known, flags - known


def test_config_variables_are_declared_by_the_example_project_or_exported() -> None:
    """A reader who runs the commands on the example project is not refused for a --config
    the project does not declare (it declares none)."""
    conf = yaml.safe_load((ROOT / "example_project" / "conf" / "base" / "krt.yml").read_text())
    declared = set(conf.get("variables") or ())
    for argv, body in _deploy_commands():
        names = [argv[i + 1].split("=")[0] for i, w in enumerate(argv) if w == "--config"]
        for name in names:
            # Only in a block that exports the variable first: a project that declares it.
            assert name in declared or f"export {name}=" in body, (name, argv)


def test_the_steps_the_page_refers_to_exist() -> None:
    text = PAGE.read_text()
    headings = {int(n) for n in re.findall(r"^## (\d+)\.", text, re.M)}
    referred = {int(n) for n in re.findall(r"\bsteps? (\d+)\b", text, re.I)}
    for a, b in re.findall(r"\bsteps (\d+) to (\d+)\b", text):
        referred |= set(range(int(a), int(b) + 1))
    assert referred <= headings, referred - headings
