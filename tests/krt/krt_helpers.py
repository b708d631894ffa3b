"""Hand-made KRTs for the krt/ tests (imported by them as ``krt_helpers``).

Archives are built with :mod:`tarfile` directly, never with ``write_krt``, so that a test can
make exactly the bad archive it needs (a ``./`` entry, a file before its folder, a symlink).
"""

from __future__ import annotations

import io
import tarfile
from collections.abc import Callable, Iterable
from pathlib import Path

#: The `make_krt` fixture of tests/krt/conftest.py: entries (default: the good KRT) -> a .krt.
MakeKrt = Callable[..., Path]

GOOD_YML = """\
version: price-estimator-v1
description: Estimates prices
entrypoint:
  proto: public_input.proto
  image: konstellation/kre-entrypoint:1.8.1
config:
  variables: [OUTPUT_CURRENCY]
nodes:
  - name: etl
    image: konstellation/kre-py:2.1.5
    src: src/etl/main.py
  - name: model
    image: konstellation/kre-py:2.1.5
    src: src/model/main.py
workflows:
  - name: estimate
    entrypoint: Predict
    sequential: [etl, model]
"""

GOOD_PROTO = """\
syntax = "proto3";
package entrypoint;

import "google/protobuf/timestamp.proto";

message Request {
  double surface = 1;
  google.protobuf.Timestamp when = 2;
}

message Response {
  double price = 1;
}

service Entrypoint {
  rpc Predict (Request) returns (Response) {};
}
"""


def good_files() -> dict[str, bytes]:
    """A valid KRT as {path: content}: two nodes, one workflow."""
    return {
        "krt.yml": GOOD_YML.encode(),
        "public_input.proto": GOOD_PROTO.encode(),
        "src/etl/main.py": b"async def handler(ctx, data):\n    return data\n",
        "src/model/main.py": b"async def handler(ctx, data):\n    return data\n",
    }


# (name as stored, type, content); type is "file", "dir", "symlink", "hardlink", "chardev",
# "fifo"; for links, content is the link target.
Entry = tuple[str, str, bytes]

_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
    "chardev": tarfile.CHRTYPE,
    "fifo": tarfile.FIFOTYPE,
}


def entries_for(files: dict[str, bytes]) -> list[Entry]:
    """Entries KRE accepts for ``files``: each folder's entry before the files in it."""
    entries: list[Entry] = []
    folders: set[str] = set()
    for name in sorted(files):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            folder = "/".join(parts[:depth])
            if folder not in folders:
                folders.add(folder)
                entries.append((folder, "dir", b""))
        entries.append((name, "file", files[name]))
    return entries


def make_tar(path: Path, entries: Iterable[Entry], *, gzip: bool = True) -> Path:
    """Write exactly ``entries``, in order, as a (gzip) tar at ``path``."""
    with tarfile.open(path, "w:gz" if gzip else "w", format=tarfile.GNU_FORMAT) as tar:
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            info.type = _TYPES[kind]
            info.mode = 0o755 if kind == "dir" else 0o644
            if kind == "file":
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                if kind in ("symlink", "hardlink"):
                    info.linkname = data.decode()
                tar.addfile(info)
    return path


#: The krt.yml of KRE's own KRT v2 example, byte for byte (konstellation-io/kre @ v8.2.0:
#: engine/admin-api/test_assets/classificator-v1.krt): three Go nodes, two Python nodes, a
#: subtopic subscription and an exitpoint subscribed to two nodes.
CLASSIFICATOR_YML = """\
version: classificator-v1
krtVersion: v2
description: Demo email classificator for branching features.
entrypoint:
  proto: public_input.proto
  image: konstellation/kre-entrypoint:latest
config:
  variables:
workflows:
  - name: classificator
    entrypoint: Classificator
    exitpoint: exitpoint
    nodes:
      - name: etl
        image: konstellation/kre-py:latest
        src: src/etl/main.py
        subscriptions:
          - "entrypoint"
      - name: email-classificator
        image: konstellation/kre-py:latest
        src: src/email_classificator/main.py
        subscriptions:
          - "etl"
      - name: repairs-handler
        image: konstellation/kre-go:latest
        src: bin/repairs_handler
        subscriptions:
          - "email-classificator.repairs"
      - name: stats-storer
        image: konstellation/kre-go:latest
        src: bin/stats_storer
        subscriptions:
          - "email-classificator"
      - name: exitpoint
        image: konstellation/kre-go:latest
        src: bin/exitpoint
        subscriptions:
          - "etl"
          - "stats-storer"
"""
