"""The runner image's environment, stood up without Docker, answers the example on real NATS.

Docker does not run here, so the test does what the generated Dockerfile does, from the .krt
alone: a fresh virtualenv with only the KRT's requirements.txt installed (`RUN pip install -r`),
the KRT's `lib/` where the Dockerfile copies it and on its PYTHONPATH (`COPY lib/`, `ENV`), the
Dockerfile's own CMD run from a working directory that is not the KRT, with the environment
KRE 7's k8s-manager gives each node pod, on a real nats-server, driven as KRE's entrypoint
drives it. The reply must equal Kedro's own run of the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
import yaml
from google.protobuf import descriptor_pool, json_format, message_factory

from kedro_krt.formats.archive import extract_krt
from kedro_krt.formats.proto import descriptor_set_of
from tests.e2e.e2e_helpers import (
    as_parsed,
    assert_same_quotes,
    kedro_reference,
    quotes_frame,
    request_json,
)
from tests.nats.nats_harness import Topology, unpack

pytestmark = pytest.mark.slow


def dockerfile_facts(text: str) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """The CMD, the ENV values and the COPY destinations of the generated Dockerfile."""
    joined = re.sub(r"\\\n\s*", " ", text)
    cmd: list[str] = []
    env: dict[str, str] = {}
    copies: dict[str, str] = {}
    for line in joined.splitlines():
        if line.startswith("CMD "):
            cmd = json.loads(line[4:])
        elif line.startswith("ENV "):
            env.update(item.split("=", 1) for item in line[4:].split())
        elif line.startswith("COPY "):
            src, dest = line[5:].split()
            copies[src.rstrip("/")] = dest.rstrip("/")
    return cmd, env, copies


def test_image_environment_answers_the_example(
    example_krt: Path, trained_project: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    work = tmp_path_factory.mktemp("image")
    krt = extract_krt(example_krt, work / "krt-files")
    cmd, env, copies = dockerfile_facts((krt / "Dockerfile").read_text())
    assert cmd == ["python", "-m", "kedro_krt.node.runner"]
    # The image: requirements.txt into a fresh environment, lib/ where the Dockerfile puts it.
    # The venv gets no pip of its own (this run's pip installs into it: `--python`), and pip
    # writes no .pyc of every installed module (`--no-compile`): the runners compile what they
    # import. That was most of this test's time; what gets installed, and where, is the same.
    venv = work / "image-venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    install = subprocess.run(
        [
            sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet",
            "--no-compile", "-r", str(krt / "requirements.txt"),
        ],
        capture_output=True, text=True, timeout=1200,
    )
    assert install.returncode == 0, install.stderr
    image_root = work / "image-root"
    lib = image_root / copies["lib"].lstrip("/")
    shutil.copytree(krt / "lib", lib)
    image_env = {k: v.replace(copies["lib"], str(lib)) for k, v in env.items()}
    assert image_env["PYTHONPATH"] == str(lib)
    home = work / "home-kre"  # WORKDIR: not the KRT, not this repository
    home.mkdir()
    # No kedro_krt but the vendored one: the image has nothing else.
    probe = subprocess.run(
        [
            str(python), "-c",
            "import kedro_krt.node.runner, sys; print(kedro_krt.node.runner.__file__)",
        ],
        env={"PYTHONPATH": str(lib), "PATH": ""}, capture_output=True, text=True, timeout=60,
        cwd=home,
    )
    assert probe.stdout.strip().startswith(str(lib)), probe.stderr

    manifest = yaml.safe_load((krt / "krt.yml").read_text())
    (workflow,) = manifest["workflows"]
    srcs = {n["name"]: n["src"] for n in manifest["nodes"]}
    topo = Topology(
        krt, home, version=manifest["version"], rpc=workflow["entrypoint"],
        nodes=[(n, srcs[n]) for n in workflow["sequential"]],
        command=[str(python), *cmd[1:]],
        env={**image_env, "PATH": str(venv / "bin")},
    )
    pool = descriptor_pool.DescriptorPool()
    for file in descriptor_set_of(krt / "public_input.proto", [krt], include_imports=True).file:
        pool.Add(file)
    service = pool.FindServiceByName("entrypoint.Entrypoint")
    method = service.methods_by_name[workflow["entrypoint"]]
    request_cls = message_factory.GetMessageClass(method.input_type)
    response_cls = message_factory.GetMessageClass(method.output_type)
    sample = as_parsed(pd.read_csv(trained_project / "data" / "01_raw" / "sample_shuttles.csv"))
    params = {"output": {"markup": 0.0, "currency": ""}}

    async def scenario() -> list[object]:
        await topo.start(timeout=300)
        try:
            replies = []
            for body in (request_json(sample), request_json(sample, params)):
                answer = await topo.request(json_format.ParseDict(body, request_cls()), 120)
                assert answer.error == "", answer.error
                replies.append(unpack(answer, response_cls))
            return replies
        finally:
            codes = await topo.stop()
            assert set(codes.values()) == {0}, {n: topo.log(n) for n in codes}

    plain, overridden = asyncio.run(scenario())
    # Kedro configures the root logger when the project starts; the runner's own lines keep
    # kre-py's format, which KRE's fluent-bit parser reads.
    for node in workflow["sequential"]:
        assert re.search(
            r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z INFO Listening to ",
            topo.log(node), re.MULTILINE,
        ), topo.log(node)
    assert_same_quotes(quotes_frame(plain), kedro_reference(trained_project, sample))
    assert_same_quotes(
        quotes_frame(overridden), kedro_reference(trained_project, sample, params)
    )
