"""Helpers of the compiler tests: write a minimal Kedro project by hand.

`kedro new` takes seconds per project; the files Kedro 1.x needs to bootstrap a project are few,
so the tests write them directly.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path


def write_project(
    root: Path,
    *,
    package: str,
    modules: Mapping[str, str],
    catalog: str = "",
    parameters: str = "",
    krt_yml: str | None = None,
) -> Path:
    """A Kedro 1.x project: pyproject.toml, src/<package>/ with `modules`, conf/base, conf/local."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "pyproject.toml").write_text(
        textwrap.dedent(
            f"""\
            [project]
            name = "{package.replace('_', '-')}"
            version = "0.1"

            [tool.kedro]
            package_name = "{package}"
            project_name = "{package.replace('_', ' ').title()}"
            kedro_init_version = "1.7.0"
            source_dir = "src"
            """
        ),
        encoding="utf-8",
    )
    src = root / "src" / package
    src.mkdir(parents=True, exist_ok=True)
    files = {"__init__.py": '"""A test project."""\n', "settings.py": '"""Defaults."""\n'}
    files.update(modules)
    for name, text in files.items():
        (src / name).write_text(text, encoding="utf-8")
    base = root / "conf" / "base"
    base.mkdir(parents=True, exist_ok=True)
    (root / "conf" / "local").mkdir(parents=True, exist_ok=True)
    (base / "catalog.yml").write_text(catalog or "{}\n", encoding="utf-8")
    (base / "parameters.yml").write_text(parameters or "{}\n", encoding="utf-8")
    if krt_yml is not None:
        (base / "krt.yml").write_text(krt_yml, encoding="utf-8")
    return root
