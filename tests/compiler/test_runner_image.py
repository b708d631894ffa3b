"""The runner image's Dockerfile in a .krt: a complete image from the .krt folder alone, that
runs `python -m kedro_krt.node.runner` as KRE starts it; and the build and push commands `package`
prints.

The example's Dockerfile is a golden file (tests/golden/example/Dockerfile); regenerate it with
`KRT_UPDATE_GOLDEN=1 pytest tests/compiler` after an intended change, then read the diff.
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
from pathlib import Path

import pytest

from kedro_krt.emit import files as generate
from kedro_krt.package import image_commands
from tests.helpers import run_cli

GOLDEN = Path(__file__).resolve().parents[1] / "golden" / "example" / "Dockerfile"


def _members(krt: Path) -> dict[str, bytes]:
    with tarfile.open(krt) as tar:
        return {
            m.name: tar.extractfile(m).read()  # type: ignore[union-attr]
            for m in tar.getmembers()
            if m.isfile()
        }


@pytest.fixture(scope="module")
def files(example_krt: Path) -> dict[str, bytes]:
    return _members(example_krt)


# --- the Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_matches_golden(files: dict[str, bytes]) -> None:
    text = files["Dockerfile"].decode()
    if os.environ.get("KRT_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "the Dockerfile differs from tests/golden/example/Dockerfile; if intended, rerun with "
        "KRT_UPDATE_GOLDEN=1"
    )


def _instructions(dockerfile: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    joined = re.sub(r"\\\n\s*", " ", dockerfile)
    out = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            word, _, rest = line.strip().partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def test_dockerfile_builds_a_complete_runner_image_from_the_krt(files: dict[str, bytes]) -> None:
    steps = _instructions(files["Dockerfile"].decode())
    kinds = [k for k, _ in steps]
    assert steps[0] == ("FROM", "python:3.11-slim")
    assert steps[-1] == ("CMD", '["python", "-m", "kedro_krt.node.runner"]')
    assert kinds.count("CMD") == 1 and "ENTRYPOINT" not in kinds  # KRE sets no command
    # Every COPY source is in the .krt (the build context) and nothing goes under /krt-files,
    # which KRE's emptyDir hides at run time.
    for kind, args in steps:
        if kind in ("COPY", "ADD"):
            assert kind == "COPY"
            source, dest = args.split()
            assert any(n == source or n.startswith(source) for n in files), source
            assert not dest.startswith("/krt-files"), dest
    env = dict(re.findall(r"(\w+)=(\S+)", " ".join(a for k, a in steps if k == "ENV")))
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PYTHONPATH"] == generate.IMAGE_LIB
    assert ("COPY", f"lib/ {generate.IMAGE_LIB}/") in steps
    assert ("USER", "1001:1001") in steps and kinds.index("USER") > kinds.index("RUN")
    (workdir,) = [a for k, a in steps if k == "WORKDIR"]
    assert not workdir.startswith("/krt-files")
    assert any("/var/log/app" in a and "chown" in a for k, a in steps if k == "RUN")
    assert any("pip install" in a and "requirements.txt" in a for k, a in steps if k == "RUN")


def test_dockerfile_says_how_to_build_and_push(files: dict[str, bytes]) -> None:
    text = files["Dockerfile"].decode()
    image = "registry.example.com/team/shuttle-prices-runtime:0.1.0"
    for command in image_commands(Path("dist/shuttle-prices.krt"), image, "shuttle-prices"):
        assert f"#   {command}\n" in text
    assert "KRT_*" in text


def test_image_commands_quote_what_needs_it(tmp_path: Path) -> None:
    krt = Path("/data/my dist/v.krt")
    assert image_commands(krt, "reg.io/x:1", "v") == [
        "mkdir -p build/v && tar -xzf '/data/my dist/v.krt' -C build/v",
        "docker build -t reg.io/x:1 build/v",
        "docker push reg.io/x:1",
    ]


@pytest.mark.integration
def test_package_prints_the_build_and_push_commands(tiny_path: Path, tmp_path: Path) -> None:
    project = Path(shutil.copytree(tiny_path, tmp_path / "tiny"))
    proc = run_cli(
        ["kedro", "krt", "package", "-p", "alpha", "--version", "tiny", "-o", "dist-x"],
        cwd=project,
    )
    out = proc.stdout
    assert "Build the nodes' image (kedro-krt-runtime:latest) from the .krt:" in out
    assert "  mkdir -p build/tiny && tar -xzf dist-x/tiny.krt -C build/tiny\n" in out
    assert "  docker build -t kedro-krt-runtime:latest build/tiny\n" in out
    # The default image is a local name: no push to Docker Hub, one line on what deploy needs,
    # and no warning about registries (issue 21).
    assert "docker push" not in out
    assert "set\nimages.runtime in conf/<env>/krt.yml" in out
    assert "registry" not in proc.stderr and "latest" not in proc.stderr, proc.stderr

    # A name with a registry host: build and push.
    conf = project / "conf" / "base" / "krt.yml"
    conf.write_text("images:\n  runtime: reg.example.com/t/tiny:1\n")
    proc = run_cli(
        ["kedro", "krt", "package", "-p", "alpha", "--version", "tiny", "-o", "dist-x"],
        cwd=project,
    )
    assert "Build and push the nodes' image (reg.example.com/t/tiny:1)" in proc.stdout
    assert "  docker push reg.example.com/t/tiny:1\n" in proc.stdout
    assert "set images.runtime" not in proc.stdout
