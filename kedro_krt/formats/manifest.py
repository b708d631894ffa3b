"""The KRT v1 manifest (``krt.yml``): a typed model and its YAML form.

Build a :class:`Manifest` and write it with :meth:`Manifest.to_yaml`; read one with
:func:`kedro_krt.formats.manifest_checks.parse_manifest` or :meth:`Manifest.from_dict`, which run
every check of :mod:`kedro_krt.formats.manifest_checks` first.

This module knows nothing of Kedro, and nothing of the other files of a KRT.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from kedro_krt.formats.problems import Problem
from kedro_krt.node.errors import KrtError

#: KRE's resource-name rule for ``version``, ``nodes[].name`` and ``workflows[].name``.
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: KRE's rule for ``config.variables`` and ``config.files`` (they become env var names).
#: KRE's limit on resource names (they become parts of Kubernetes names).
MAX_NAME_LENGTH = 19
#: An rpc name as protoc accepts it.
RPC_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class ManifestError(KrtError, ValueError):
    """A manifest that breaks KRE's rules or ours; ``problems`` holds every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"] or list(self.problems)
        lines = "\n".join(f"  {p.location}: {p.message}" for p in errors)
        super().__init__(f"invalid krt.yml ({len(errors)} error(s)):\n{lines}")


@dataclass(frozen=True)
class Entrypoint:
    """``entrypoint:``: the public proto and the image of KRE's gRPC entrypoint."""

    proto: str
    image: str


@dataclass(frozen=True)
class NodeSpec:
    """One ``nodes[]`` entry: a process running ``src`` in ``image``."""

    name: str
    image: str
    src: str
    gpu: bool = False


@dataclass(frozen=True)
class WorkflowSpec:
    """One ``workflows[]`` entry: the rpc ``entrypoint`` served by the ``sequential`` nodes."""

    name: str
    entrypoint: str
    sequential: tuple[str, ...]


@dataclass(frozen=True)
class ConfigSpec:
    """``config:``: env var names set per version in KRE's UI (``files`` hold a file's text)."""

    variables: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``config:`` as plain data, empty lists left out (empty when there is nothing)."""
        config: dict[str, Any] = {}
        if self.variables:
            config["variables"] = list(self.variables)
        if self.files:
            config["files"] = list(self.files)
        return config


def krt_yaml(data: Mapping[str, Any]) -> str:
    """The ``krt.yml`` text of plain data: keys in their order, block style, deterministic."""
    return yaml.dump(
        dict(data),
        Dumper=_IndentedDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )


@dataclass(frozen=True)
class Manifest:
    """A KRT v1 ``krt.yml``.

    Build one directly (then :meth:`to_yaml`), or read one with
    :func:`~kedro_krt.formats.manifest_checks.parse_manifest` or :meth:`from_dict`, which check it.
    """

    version: str
    description: str
    entrypoint: Entrypoint
    nodes: tuple[NodeSpec, ...]
    workflows: tuple[WorkflowSpec, ...]
    config: ConfigSpec = field(default_factory=ConfigSpec)

    def to_dict(self) -> dict[str, Any]:
        """The manifest as plain data, keys in the order :meth:`to_yaml` writes them."""
        data: dict[str, Any] = {
            "version": self.version,
            "description": self.description,
            "entrypoint": {"proto": self.entrypoint.proto, "image": self.entrypoint.image},
        }
        config = self.config.to_dict()
        if config:
            data["config"] = config
        nodes = []
        for node in self.nodes:
            entry: dict[str, Any] = {"name": node.name, "image": node.image, "src": node.src}
            if node.gpu:
                entry["gpu"] = True
            nodes.append(entry)
        data["nodes"] = nodes
        data["workflows"] = [
            {"name": w.name, "entrypoint": w.entrypoint, "sequential": list(w.sequential)}
            for w in self.workflows
        ]
        return data

    def to_yaml(self) -> str:
        """The ``krt.yml`` text: the same manifest always gives the same text.

        Key order: version, description, entrypoint, config (left out when empty), nodes,
        workflows; ``gpu`` is written only when true.
        """
        return krt_yaml(self.to_dict())

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Manifest:
        """Check ``data`` (a parsed ``krt.yml``) and build the manifest.

        Raises:
            ManifestError: with every problem found, when there is at least one error.
        """
        # The checks build manifests: imported here, where the cycle is harmless.
        from kedro_krt.formats.manifest_checks import check_manifest

        parsed = check_manifest(data, {})
        if parsed.manifest is None or not parsed.ok:
            raise ManifestError(parsed.problems)
        return parsed.manifest


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as people write krt.yml by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def is_valid_name(name: object) -> bool:
    """Whether ``name`` is a valid KRE resource name (version, node or workflow name)."""
    return isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and bool(NAME_RE.match(name))


def to_valid_name(name: str, max_len: int = MAX_NAME_LENGTH) -> str:
    """Turn any text into a valid KRE resource name.

    Accents are dropped, letters lowercased, every other character becomes ``-`` (runs of
    ``-`` collapse to one), ``-`` is trimmed from both ends, and the result is cut to
    ``max_len`` characters without leaving a trailing ``-``.

    Raises:
        ValueError: when ``name`` has no ASCII letter or digit to build a name from.
    """
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    dashed = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    result = dashed[:max_len].rstrip("-")
    if not result:
        raise ValueError(
            f"cannot make a KRE resource name from {name!r}: it has no letter or digit; "
            "choose a name made of lowercase letters, digits and '-'"
        )
    return result
