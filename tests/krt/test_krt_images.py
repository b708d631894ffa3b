"""The images of a manifest: local ones are left alone, floating tags of pulled ones warned.

KRE creates one pod per node with ``nodes[].image``; a name like ``kedro-krt-runtime:latest``
(how ``docker build -t`` names a local image) is what a KRT has while it is served on one
machine, so validate says nothing of it (deploy refuses it: tests/deploy). An image a cluster
pulls whose tag is ``latest`` changes under a version that should not: a warning.
"""

from __future__ import annotations

import pytest

from kedro_krt.formats.images import ImageName, LocalImage, local_images
from kedro_krt.formats.manifest_base import Entrypoint
from kedro_krt.formats.manifest_v1 import parse_manifest
from kedro_krt.formats.validate import validate_files
from tests.krt.krt_helpers import GOOD_YML, good_files


def _with_images(node_image: str, entrypoint_image: str = "konstellation/kre-entrypoint:1.8.1"):
    text = GOOD_YML.replace(
        "image: konstellation/kre-entrypoint:1.8.1", f"image: {entrypoint_image}"
    ).replace("image: konstellation/kre-py:2.1.5", f"image: {node_image}")
    manifest, problems = parse_manifest(text)
    assert manifest is not None, problems  # warnings never make the manifest invalid
    return problems


def _rules(problems) -> list[str]:
    return [p.rule for p in problems]


@pytest.mark.parametrize(
    ("image", "registry", "repository", "tag", "digest"),
    [
        ("kedro-krt-runtime:latest", "", "kedro-krt-runtime", "latest", ""),
        ("kedro-krt-runtime", "", "kedro-krt-runtime", "", ""),
        ("konstellation/kre-py:2.1.5", "", "konstellation/kre-py", "2.1.5", ""),
        ("localhost:5000/runner", "localhost:5000", "runner", "", ""),
        ("localhost/runner:1", "localhost", "runner", "1", ""),
        ("registry.example.com:5000/team/x:1.0", "registry.example.com:5000", "team/x", "1.0", ""),
        ("docker.io/team/x:1.0", "docker.io", "team/x", "1.0", ""),
        ("reg.io/x@sha256:ab12", "reg.io", "x", "", "sha256:ab12"),
    ],
)
def test_image_names_split_as_docker_reads_them(
    image: str, registry: str, repository: str, tag: str, digest: str
) -> None:
    assert ImageName.parse(image) == ImageName(registry, repository, tag, digest)


@pytest.mark.parametrize(
    ("image", "rules"),
    [
        # Local names (no registry host): what a KRT has on one machine; nothing said.
        ("kedro-krt-runtime:latest", []),
        ("kedro-krt-runtime", []),
        ("my-team/runner:1.0", []),
        ("registry.example.com/team/runner:latest", ["krt.image-latest"]),
        ("registry.example.com/team/runner", ["krt.image-latest"]),
        ("localhost:5000/runner", ["krt.image-latest"]),
        # Pinned, on a registry: nothing to say.
        ("registry.example.com/team/shuttle-prices-runtime:0.1.0", []),
        ("registry.example.com:5000/team/runner:1.0", []),
        ("localhost/runner:1", []),
        ("registry.example.com/team/runner:latest@sha256:" + "a" * 64, []),
        # Docker Hub said explicitly is a choice, not a mistake.
        ("docker.io/my-team/runner:1.0", []),
        ("docker.io/my-team/runner", ["krt.image-latest"]),
        # Konstellation's stock images are on Docker Hub by convention.
        ("konstellation/kre-py:2.1.5", []),
        ("konstellation/kre-py:latest", ["krt.image-latest"]),
    ],
)
def test_node_image_warnings(image: str, rules: list[str]) -> None:
    problems = _with_images(image)
    assert _rules(problems) == rules
    assert all(p.severity == "warning" for p in problems)


def test_the_latest_warning_says_what_to_write() -> None:
    (latest,) = _with_images("registry.example.com/team/runner:latest")
    # One warning per image, at the first node that uses it, naming every node.
    assert latest.location == "krt.yml:10 nodes[0].image"
    assert 'nodes "etl", "model"' in latest.message
    assert 'uses the tag "latest"' in latest.message
    assert "registry.example.com/team/runner:0.1.0" in latest.message
    assert "images.runtime in conf/<env>/krt.yml" in latest.message


def test_the_entrypoint_image_is_checked_too() -> None:
    problems = _with_images("konstellation/kre-py:2.1.5", entrypoint_image="reg.io/entry")
    assert _rules(problems) == ["krt.image-latest"]
    assert problems[0].location.endswith("entrypoint.image")
    assert "images.entrypoint" in problems[0].message


def test_local_images_are_what_deploy_refuses() -> None:
    nodes = [
        (0, _Node("etl", "kedro-krt-runtime:latest")),
        (1, _Node("model", "kedro-krt-runtime:latest")),
        (2, _Node("hub", "docker.io/team/x:1")),
        (3, _Node("kre", "konstellation/kre-py:2.1.5")),
    ]
    found = local_images(Entrypoint("public_input.proto", "my-entrypoint:1"), nodes)
    assert found == [
        LocalImage("kedro-krt-runtime:latest", 'nodes "etl", "model"', "images.runtime"),
        LocalImage("my-entrypoint:1", "the entrypoint", "images.entrypoint"),
    ]


class _Node:
    def __init__(self, name: str, image: str) -> None:
        self.name, self.image = name, image


def test_validate_says_nothing_of_a_local_image() -> None:
    files = good_files()
    files["krt.yml"] = files["krt.yml"].replace(
        b"konstellation/kre-py:2.1.5", b"kedro-krt-runtime:latest"
    )
    problems = validate_files(files)
    assert problems == []
