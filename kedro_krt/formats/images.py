"""The image names of a manifest, checked as a KRE cluster will pull them (every format).

A warning, never an error: the names work where a registry is configured otherwise, but most
often they end in ``ImagePullBackOff`` or in a version that runs another image tomorrow.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kedro_krt.formats.checks_base import Report
from kedro_krt.formats.manifest_base import Entrypoint
from kedro_krt.formats.rules import IMAGE_LATEST, IMAGE_REGISTRY

__all__ = ["EXAMPLE_REGISTRY", "STOCK_IMAGE_PREFIX", "ImageName", "check_images"]

#: Konstellation's own images (kre-py, kre-entrypoint, ...): KRE's docs and templates name them
#: without a registry because they are on Docker Hub, where every KRE cluster finds them.
STOCK_IMAGE_PREFIX = "konstellation/kre-"
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
    def floats(self) -> bool:
        """Whether the reference may name another image tomorrow: tag ``latest`` or no tag, and
        no digest."""
        return not self.digest and self.tag in ("", "latest")

    def hub_name(self) -> str:
        """Where Docker Hub would look for it: ``docker.io/library/x`` for a one-part name."""
        path = self.repository if "/" in self.repository else f"library/{self.repository}"
        return f"docker.io/{path}"


def check_images(
    c: Report,
    version: str,
    entrypoint: Entrypoint,
    nodes: Sequence[tuple[int | str, Any]],
) -> None:
    """Warnings about images a KRE cluster cannot pull, or pulls anew on every pod start.

    KRE creates a pod per node with ``nodes[].image`` (and one with ``entrypoint.image``), and
    the cluster pulls that image. Two habits break it; each image gets each warning once, at the
    first place it is used, with the name to write instead:

    * ``krt.image-registry``: no registry host in the name (``kedro-krt-runtime:latest``, the
      way ``docker build -t`` names a local image). The cluster then pulls it from Docker Hub,
      where a team's image almost never is: the pods end in ``ImagePullBackOff``. Exempt:
      Konstellation's images (``konstellation/kre-...``, published on Docker Hub, as every KRE
      example names them), and a name that says ``docker.io/`` explicitly (Docker Hub is meant).
    * ``krt.image-latest``: the tag ``latest``, or no tag (which means ``latest``). Kubernetes
      pulls such an image again on every pod start, so one KRT version would run whatever the
      tag points to that day. A digest (``@sha256:...``) pins the image and is never warned.
    """
    used: dict[str, list[tuple[str, str]]] = {}
    for index, node in nodes:
        # v1: the index in nodes[]; v2: the node's YAML path (workflows[0].nodes[1]).
        where = f"nodes[{index}]" if isinstance(index, int) else index
        if node.image:
            used.setdefault(node.image, []).append((f"{where}.image", node.name))
    checks: list[tuple[str, str, str, str, str]] = []  # image, path, used by, example, setting
    for image, places in used.items():
        names = [f'"{name}"' for _, name in places if name]
        used_by = f"node {names[0]}" if len(names) == 1 else f"nodes {', '.join(names)}"
        example = f"{version or 'my-version'}-runtime"
        checks.append((image, places[0][0], used_by, example, "images.runtime"))
    if entrypoint.image:
        example = ImageName.parse(entrypoint.image).repository.rsplit("/", 1)[-1]
        checks.append(
            (entrypoint.image, "entrypoint.image", "the entrypoint", example, "images.entrypoint")
        )
    for image, path, used_by, example, setting in checks:
        name = ImageName.parse(image)
        tag = "0.1.0" if name.floats else name.tag or "0.1.0"
        better = f"{EXAMPLE_REGISTRY}/{example}:{tag}"
        where = f"(kedro-krt: set {setting} in conf/<env>/krt.yml and package again)"
        if not name.registry and not name.is_stock:
            hub = name.hub_name()
            c.add(
                path,
                IMAGE_REGISTRY,
                image=image,
                used_by=used_by,
                hub=hub,
                better=better,
                where=where,
            )
        if name.floats:
            said = 'uses the tag "latest"' if name.tag else 'has no tag, which means "latest"'
            c.add(
                path,
                IMAGE_LATEST,
                image=image,
                used_by=used_by,
                said=said,
                better=better,
                where=where,
            )
