"""Helpers of the compiler tests: write a minimal Kedro project by hand.

`kedro new` takes seconds per project; the files Kedro 1.x needs to bootstrap a project are few,
so the tests write them directly.
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

#: The golden files are written on pandas 3 (KRT_UPDATE_GOLDEN refuses another major).
PANDAS_3 = int(pd.__version__.split(".")[0]) >= 3


def golden_on_this_pandas(name: str, golden: str) -> str:
    """The golden text ``name`` as this pandas gives it.

    Only the compile report differs: it names each column's pandas dtype, which pandas itself
    chooses when the data is read. Text is ``str`` and a parsed date ``datetime64[us]`` on
    pandas 3; on pandas 2 they are ``object`` and ``datetime64[ns]`` (the codec decodes them
    so, as the user's own frames are). krt.yml, the protos and the docs are the same on both.
    """
    if name != "report.txt" or PANDAS_3:
        return golden
    text = str(pd.Series(["a"]).dtype)
    parsed = str(pd.to_datetime(["2020-01-01"]).dtype)
    return golden.replace("(str)", f"({text})").replace("(datetime64[us])", f"({parsed})")


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
