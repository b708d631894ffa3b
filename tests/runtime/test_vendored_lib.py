"""The kedro_krt copy under lib/ in a .krt is enough for its nodes: no kedro-krt in the image."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from kedro_krt.krt.archive import extract_krt

PROBE = """
import sys
sys.path.insert(0, sys.argv[1])
import kedro_krt
from kedro_krt.runtime.node import KrtNode
from kedro_krt.runtime.session import KrtSession
assert kedro_krt.__file__.startswith(sys.argv[1]), kedro_krt.__file__
loaded = sorted(m for m in sys.modules if m.startswith("kedro_krt"))
# Nothing of the compiler's Kedro side, the server, grpc or click is needed to run a node.
assert not [m for m in loaded if m.startswith(("kedro_krt.serve", "kedro_krt.cli"))], loaded
assert "grpc" not in sys.modules and "click" not in sys.modules
print(len(loaded))
"""


def test_a_node_imports_from_the_vendored_runtime_only(example_krt: Path, tmp_path: Path) -> None:
    root = extract_krt(example_krt, tmp_path / "krt")
    lib = root / "lib"
    assert (lib / "kedro_krt" / "runtime" / "node.py").is_file()
    assert (
        not (lib / "kedro_krt" / "serve").exists() and not (lib / "kedro_krt" / "cli.py").exists()
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(lib)], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert int(proc.stdout.strip()) > 5
