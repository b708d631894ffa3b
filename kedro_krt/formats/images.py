"""The image names of a manifest, as a KRE cluster will pull them (every format).

An image named without a registry host (``kedro-krt-runtime:latest``, the way ``docker build
-t`` names a local image) is what a KRT has while it is built and served on one machine: nothing
is said of it here. It matters only when the KRT goes to a cluster, which would pull it from
Docker Hub: ``kedro krt deploy`` refuses it (:func:`local_images`), and ``package`` says once how
to push the image and name it. An image that a cluster pulls (a registry host, ``docker.io/``,
or Konstellation's own) gets a warning when its tag floats (``krt.image-latest``).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kedro_krt.formats.checks_base import Report
from kedro_krt.formats.manifest_base import Entrypoint
from kedro_krt.formats.rules import IMAGE_LATEST

__all__ = [
    "EXAMPLE_REGISTRY",
    "STOCK_IMAGE_PREFIX",
    "STOCK_PYTHON_IMAGE",
    "ImageName",
    "LocalImage",
    "check_images",
    "local_images",
]

#: Konstellation's own images (kre-py, kre-entrypoint, ...): KRE's docs and templates name them
#: without a registry because they are on Docker Hub, where every KRE cluster finds them.
STOCK_IMAGE_PREFIX = "konstellation/kre-"
#: KRE's own Python runner (kre-py): Python 3.9 and the protobuf its Pipfile.lock pins.
STOCK_PYTHON_IMAGE = "konstellation/kre-py"
#: The protobuf that kre-py's Pipfile.lock pins, where it is older than 3.20.1 (kre-runners,
#: ``kre-py/Pipfile.lock`` at each tag): ``(first tag, tag after the last) -> protobuf``.
_KRE_PY_OLD_PROTOBUF = (
    ((1, 23, 0), (1, 29, 0), "3.13.0"),
    ((1, 29, 0), (2, 1, 0), "3.19.4"),
    ((3, 1, 0), (3, 2, 1), "3.18.3"),
)
#: The registry host used in the image warnings' examples.
EXAMPLE_REGISTRY = "registry.example.com/team"


@dataclass(frozen=True)
class ImageName:
    """A container image reference split the way Docker and Kubernetes read it:
    ``[registry/]repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str
    digest: str

    @classmethod
    def parse(cls, image: str) -> ImageName:
        """Split ``image``. The first ``/``-separated part is a registry host only when it has a
        ``.`` or a ``:`` or is ``localhost`` (Docker's rule); otherwise the image is on Docker
        Hub and ``registry`` is empty."""
        rest, _, digest = image.partition("@")
        registry = ""
        first, slash, remainder = rest.partition("/")
        if slash and ("." in first or ":" in first or first == "localhost"):
            registry, rest = first, remainder
        repository, colon, tag = rest.rpartition(":")
        if not colon or "/" in tag:  # no tag: the colon, if any, was a registry port
            repository, tag = rest, ""
        return cls(registry=registry, repository=repository, tag=tag, digest=digest)

    @property
    def is_stock(self) -> bool:
        """One of Konstellation's own images, which KRE's clusters pull from Docker Hub."""
        return not self.registry and self.repository.startswith(STOCK_IMAGE_PREFIX)

    @property
    def is_local(self) -> bool:
        """Named as a local build is (no registry host) and not one of Konstellation's images:
        a cluster would look for it on Docker Hub, where a team's image almost never is.
        ``docker.io/...`` says Docker Hub is meant."""
        return not self.registry and not self.is_stock

    @property
    def is_stock_python(self) -> bool:
        """KRE's stock Python runner image, kre-py (protobuf 3.20.1 from 2.1.0 on)."""
        return self.is_stock and self.repository == STOCK_PYTHON_IMAGE

    def old_protobuf(self) -> str | None:
        """For a kre-py tag whose Pipfile.lock pins a protobuf older than 3.20: that protobuf.

        None for any other image, an unknown tag, or a kre-py with protobuf 3.20.1.
        """
        if not self.is_stock_python:
            return None
        match = re.fullmatch(r"v?(\d+)\.(\d+)\.(\d+)", self.tag)
        if match is None:
            return None
        version = tuple(int(g) for g in match.groups())
        return next((pb for lo, hi, pb in _KRE_PY_OLD_PROTOBUF if lo <= version < hi), None)

    @property
    def floats(self) -> bool:
        """Whether the reference may name another image tomorrow: tag ``latest`` or no tag, and
        no digest."""
        return not self.digest and self.tag in ("", "latest")

    def hub_name(self) -> str:
        """Where Docker Hub would look for it: ``docker.io/library/x`` for a one-part name."""
        path = self.repository if "/" in self.repository else f"library/{self.repository}"
        return f"docker.io/{path}"


@dataclass(frozen=True)
class LocalImage:
    """An image of a manifest named without a registry host: the ``image``, who uses it
    (``node "etl"``, ``the entrypoint``) and the kedro-krt setting that names it."""

    image: str
    used_by: str
    setting: str


def _images(
    entrypoint: Entrypoint, nodes: Sequence[tuple[int | str, Any]]
) -> list[tuple[str, str, str, str]]:
    """(image, YAML path of its first use, who uses it, kedro-krt setting), one per image."""
    used: dict[str, list[tuple[str, str]]] = {}
    for index, node in nodes:
        # v1: the index in nodes[]; v2: the node's YAML path (workflows[0].nodes[1]).
        where = f"nodes[{index}]" if isinstance(index, int) else index
        if node.image:
            used.setdefault(node.image, []).append((f"{where}.image", node.name))
    out: list[tuple[str, str, str, str]] = []
    for image, places in used.items():
        names = [f'"{name}"' for _, name in places if name]
        used_by = f"node {names[0]}" if len(names) == 1 else f"nodes {', '.join(names)}"
        out.append((image, places[0][0], used_by, "images.runtime"))
    if entrypoint.image:
        out.append((entrypoint.image, "entrypoint.image", "the entrypoint", "images.entrypoint"))
    return out


def local_images(
    entrypoint: Entrypoint, nodes: Sequence[tuple[int | str, Any]]
) -> list[LocalImage]:
    """The images a cluster could not pull: named without a registry host (see
    :attr:`ImageName.is_local`), in the order of the manifest."""
    return [
        LocalImage(image, used_by, setting)
        for image, _, used_by, setting in _images(entrypoint, nodes)
        if ImageName.parse(image).is_local
    ]


def check_images(
    c: Report,
    version: str,
    entrypoint: Entrypoint,
    nodes: Sequence[tuple[int | str, Any]],
) -> None:
    """``krt.image-latest``: an image a cluster pulls whose tag floats.

    KRE creates a pod per node with ``nodes[].image`` (and one with ``entrypoint.image``), and
    the cluster pulls that image. With the tag ``latest``, or no tag (which means ``latest``),
    Kubernetes pulls it again on every pod start, so one KRT version would run whatever the tag
    points to that day; each such image is warned once, at its first use, with a name to write
    instead. A digest (``@sha256:...``) pins the image and is never warned. A local image (no
    registry host) is not: it is not pulled by anyone yet (see the module's docstring).
    """
    for image, path, used_by, setting in _images(entrypoint, nodes):
        name = ImageName.parse(image)
        if name.is_local or not name.floats:
            continue
        # The same image with a version tag of its own.
        better = f"{name.registry + '/' if name.registry else ''}{name.repository}:0.1.0"
        said = 'uses the tag "latest"' if name.tag else 'has no tag, which means "latest"'
        c.add(
            path,
            IMAGE_LATEST,
            image=image,
            used_by=used_by,
            said=said,
            better=better,
            where=f"(kedro-krt: set {setting} in conf/<env>/krt.yml and package again)",
        )
