"""The kedro_krt copy under lib/ in a .krt is enough for its nodes: no kedro-krt in the image."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from kedro_krt.formats.archive import extract_krt

PROBE = """
import sys
# The test env's editable install of kedro-krt adds a finder of its own, which would find any
# module lib/ lacks in the checkout (as it did kedro_krt.scratch): the image has no such finder.
sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in f.__module__]
sys.path.insert(0, sys.argv[1])
import kedro_krt
from kedro_krt.node.runtime.node_v1 import KrtNode
from kedro_krt.node.runtime.session import KrtSession
assert kedro_krt.__file__.startswith(sys.argv[1]), kedro_krt.__file__
loaded = sorted(m for m in sys.modules if m.startswith("kedro_krt"))
# Nothing of the compiler's Kedro side, the server, grpc or click is needed to run a node.
assert not [
    m for m in loaded if m.startswith(("kedro_krt.serve", "kedro_krt.cli", "kedro_krt.compiler"))
], loaded
assert "grpc" not in sys.modules and "click" not in sys.modules
print(len(loaded))
"""


def test_a_node_imports_from_the_vendored_runtime_only(example_krt: Path, tmp_path: Path) -> None:
    root = extract_krt(example_krt, tmp_path / "krt")
    lib = root / "lib"
    assert (lib / "kedro_krt" / "node" / "runtime" / "node_v1.py").is_file()
    assert (lib / "kedro_krt" / "node" / "plan.py").is_file()
    # The node package and the package root, nothing else of kedro_krt.
    assert sorted(p.name for p in (lib / "kedro_krt").iterdir()) == [
        "__init__.py", "node", "py.typed"
    ]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(lib)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) > 5


SHADOW_PROBE = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("worker", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
import kedro_krt
print(kedro_krt.__file__)
"""


def test_main_py_puts_the_krts_runtime_before_an_installed_one(
    example_krt: Path, tmp_path: Path
) -> None:
    """An installed kedro-krt (here a decoy first on PYTHONPATH) must not run the KRT's nodes."""
    import os

    root = extract_krt(example_krt, tmp_path / "krt")
    decoy = tmp_path / "installed" / "kedro_krt"
    (decoy / "node" / "runtime").mkdir(parents=True)
    (decoy / "__init__.py").write_text("")
    (decoy / "node" / "__init__.py").write_text("")
    (decoy / "node" / "runtime" / "__init__.py").write_text("")
    (decoy / "node" / "runtime" / "node_v1.py").write_text(
        "raise ImportError('the installed kedro_krt')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(tmp_path / "installed")}
    proc = subprocess.run(
        [sys.executable, "-c", SHADOW_PROBE, str(root / "src" / "etl" / "main.py")],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().startswith(str(root / "lib"))


def test_a_plan_of_another_format_is_a_clear_error(example_krt: Path, tmp_path: Path) -> None:
    import json

    import pytest

    from kedro_krt.node.runtime.errors import RuntimeSetupError
    from kedro_krt.node.runtime.node_v1 import KrtNode

    root = extract_krt(example_krt, tmp_path / "krt")
    plan = root / "src" / "etl" / "plan.json"
    data = json.loads(plan.read_text())
    del data["format"]  # as kedro-krt 0.1 wrote it
    plan.write_text(json.dumps(data))
    from kedro_krt.node.plan import PLAN_FORMATS

    reads = re.escape(f"reads plan formats {', '.join(map(str, PLAN_FORMATS))}")
    older = rf"plan format 0 \(kedro-krt 0.1\), written by an older kedro-krt.*{reads}.*package"
    with pytest.raises(RuntimeSetupError, match=older):
        KrtNode(root / "src" / "etl")
    # A plan of a newer format (as a later kedro-krt writes): newer, not "older" (issue 21).
    data["format"] = max(PLAN_FORMATS) + 1
    plan.write_text(json.dumps(data))
    newer = rf"plan format {max(PLAN_FORMATS) + 1}, written by a newer kedro-krt.*{reads}.*upgrade"
    with pytest.raises(RuntimeSetupError, match=newer):
        KrtNode(root / "src" / "etl")
