"""Helpers of the build tests (also used by tests/e2e): an example folder whose krt-build.yml
points at a given Kedro project, and protos compiled into classes of a private pool."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import yaml
from google.protobuf import descriptor_pool, message_factory

from kedro_krt.emit.protoc import descriptor_set

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def example_copy(name: str, dest: Path, project: Path) -> Path:
    """`examples/<name>` copied to `dest`, every `kedro.project` of its krt-build.yml set to
    `project` (the committed mapping is what is tested, only the path changes)."""
    shutil.copytree(EXAMPLES / name, dest, ignore=shutil.ignore_patterns("dist", "__pycache__"))
    build_file = dest / "krt-build.yml"
    data = yaml.safe_load(build_file.read_text(encoding="utf-8"))
    for node in data["nodes"].values():
        node["kedro"]["project"] = str(project)
    build_file.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return dest


def message_classes(sources: dict[str, str]) -> dict[str, Any]:
    """{full message name: class} of the protos, from a descriptor pool of their own."""
    pool = descriptor_pool.DescriptorPool()
    out = {}
    for file in descriptor_set(sources).file:
        pool.Add(file)
        described = pool.FindFileByName(file.name)
        for message in described.message_types_by_name.values():
            out[message.full_name] = message_factory.GetMessageClass(message)
    return out
