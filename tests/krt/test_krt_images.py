"""The image warnings: a node image KRE's cluster cannot pull (no registry) or cannot pin (latest).

KRE creates one pod per node with ``nodes[].image``; a name like ``kedro-krt-runtime:latest``
(how ``docker build -t`` names a local image) resolves to Docker Hub, and ``latest`` changes
under a version that should not.
"""

from __future__ import annotations

import pytest

from kedro_krt.formats.images import ImageName
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
        ("kedro-krt-runtime:latest", ["krt.image-registry", "krt.image-latest"]),
        ("kedro-krt-runtime", ["krt.image-registry", "krt.image-latest"]),
        ("my-team/runner:1.0", ["krt.image-registry"]),
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
        # Konstellation's stock images are on Docker Hub by convention.
        ("konstellation/kre-py:2.1.5", []),
        ("konstellation/kre-py:latest", ["krt.image-latest"]),
    ],
)
def test_node_image_warnings(image: str, rules: list[str]) -> None:
    problems = _with_images(image)
    assert _rules(problems) == rules
    assert all(p.severity == "warning" for p in problems)


def test_the_registry_warning_says_what_to_write() -> None:
    (registry, latest) = _with_images("kedro-krt-runtime:latest")
    # One warning per image, at the first node that uses it, naming every node.
    assert registry.location == "krt.yml:10 nodes[0].image"
    assert 'nodes "etl", "model"' in registry.message
    assert "docker.io/library/kedro-krt-runtime" in registry.message
    assert "registry.example.com/team/price-estimator-v1-runtime:0.1.0" in registry.message
    assert "images.runtime in conf/<env>/krt.yml" in registry.message
    assert 'uses the tag "latest"' in latest.message
    assert "registry.example.com/team/price-estimator-v1-runtime:0.1.0" in latest.message


def test_a_version_tag_is_kept_in_the_suggestion() -> None:
    (registry,) = _with_images("my-team/runner:2.0")
    assert "docker.io/my-team/runner" in registry.message
    assert "registry.example.com/team/price-estimator-v1-runtime:2.0" in registry.message


def test_the_entrypoint_image_is_checked_too() -> None:
    problems = _with_images("konstellation/kre-py:2.1.5", entrypoint_image="my-entrypoint")
    assert _rules(problems) == ["krt.image-registry", "krt.image-latest"]
    assert all(p.location.endswith("entrypoint.image") for p in problems)
    assert "images.entrypoint" in problems[0].message
    assert "registry.example.com/team/my-entrypoint:0.1.0" in problems[0].message


def test_validate_reports_the_warnings_and_stays_ok() -> None:
    files = good_files()
    files["krt.yml"] = files["krt.yml"].replace(
        b"konstellation/kre-py:2.1.5", b"kedro-krt-runtime:latest"
    )
    problems = validate_files(files)
    assert _rules(problems) == ["krt.image-registry", "krt.image-latest"]
    assert not [p for p in problems if p.severity == "error"]
