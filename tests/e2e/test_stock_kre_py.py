"""Hand-written nodes of a `kedro-krt build` stay on KRE's stock kre-py images.

examples/kedro_between_handwritten, built with `kedro-krt build`: its nodes intake and present
are on ``konstellation/kre-py:2.1.5``, so the build writes their *_pb2.py in the portable style
(kedro_krt.emit.portable). Here that code is imported under kre-py's locked protobuf 3.20.1 and
under the newest protobuf, each in a virtualenv of its own; and the real kre-py runs the nodes:

* kre-py 2.1.5 (KRE 7, KRT v1) runs intake and present, kedro_krt's runner runs price, on a
  real nats-server, driven as kre-entrypoint 1.8.1 drives them: the quotes equal Kedro's run;
* kre-py 3.4.1 (KRE 8) runs intake behind a four-line file with kre-py 3's contract
  (``default_handler`` sending with ``ctx.send_output``: a KRT v1 node has only ``handler``),
  on KRE 8.2's subjects, and executes the file as a module named ``worker``.

kre-py's sources and locks come from the local mirror of kre-runners at the pinned tags
(tests/e2e/kre_py_envs.py says what Python 3.11 needs changed, and why).
"""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pool, json_format, message_factory

from kedro_krt.formats.archive import extract_krt
from kedro_krt.formats.proto import descriptor_set_of
from kedro_krt.handwritten import build_krt
from kedro_krt.serve.topology_v2 import NodeV2
from tests.e2e.kre_py_envs import (
    KRE_PY_TAGS,
    KRE_RUNNERS_MIRROR,
    cached_venv,
    export_kre_py,
    kre_py_venv,
    protobuf_version,
)
from tests.e2e.test_kedro_between_handwritten import SHUTTLES
from tests.e2e.test_kedro_between_handwritten import _expected as kedro_quotes
from tests.handwritten.build_helpers import example_copy
from tests.nats.nats_harness import Topology, unpack
from tests.nats.nats_harness_v2 import TopologyV2

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.slow,
    pytest.mark.skipif(
        not KRE_RUNNERS_MIRROR.is_dir(), reason="no local mirror of konstellation-io/kre-runners"
    ),
]

FLEET = "kedro_between_handwritten"
STOCK_NODES = ("intake", "present")
#: kre-py needs these addresses to start; nothing listens there (loopback only) and no node of
#: the example uses ctx.db or ctx.measurement, so kre-py's writes of its timings fail in its
#: logs and nothing else.
KRE_PY_ENV = {"KRT_MONGO_URI": "mongodb://127.0.0.1:9", "KRT_INFLUX_URI": "http://127.0.0.1:9"}
#: Imports every *_pb2 of the working directory and sends a message through each class.
PROBE = """
import glob, sys
from google.protobuf import any_pb2, __version__
import public_input_pb2 as p, internal_nodes_pb2 as i
fleet = i.Fleet(customer="ACME")
row = fleet.shuttles.add(shuttle_type="Type V5", engines=2)
row.launched_at.FromJsonString("2021-06-01T00:00:00Z")
packed = any_pb2.Any()
packed.Pack(fleet)
back = i.Fleet()
assert packed.Unpack(back) and back == fleet and not back.HasField("currency")
request = p.FleetRequest(customer="ACME", shuttles=fleet.shuttles)
assert p.FleetRequest.FromString(request.SerializeToString()) == request
print("imported under protobuf", __version__)
"""

#: kre-py 3's contract around node intake's kre-py 2 handler (KRT v2: default_handler, whose
#: output goes out with ctx.send_output); it says how kre-py imported it.
KRE_PY3_ENTRY = '''
import importlib.util, sys
from pathlib import Path

print(f"entry imported as {__name__}, in sys.modules: {__name__ in sys.modules}", flush=True)
_spec = importlib.util.spec_from_file_location("intake_v1", Path(__file__).with_name("main.py"))
_v1 = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_v1)


async def default_handler(ctx, data):
    await ctx.send_output(await _v1.handler(ctx, data))
'''


@pytest.fixture(scope="module")
def fleet(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example built with `kedro-krt build`, extracted."""
    work = tmp_path_factory.mktemp("stock-fleet")
    source = example_copy(FLEET, work / FLEET, trained_project)
    krt = build_krt(source, work / "shuttle-fleet.krt").path
    return extract_krt(krt, work / "krt")


@pytest.fixture(scope="module")
def kre_py(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, Path]]:
    """{release: (python of its locked virtualenv, its main.py)}; "newest": (python of a
    virtualenv with the newest protobuf, no main.py). Made side by side: pip waits on the
    network more than on the cores."""
    with ThreadPoolExecutor(3) as pool:
        venvs = {r: pool.submit(kre_py_venv, tag) for r, tag in KRE_PY_TAGS.items()}
        newest = pool.submit(cached_venv, "protobuf-newest", "protobuf\n", upgrade=True)
        out = {
            release: (venvs[release].result(),
                      export_kre_py(tag, tmp_path_factory.mktemp(f"kre-py-{release}")))
            for release, tag in KRE_PY_TAGS.items()
        }
        out["newest"] = (newest.result(), Path())
    return out


def _message_classes(krt: Path) -> dict[str, Any]:
    pool = descriptor_pool.DescriptorPool()
    for proto in ("public_input.proto", "internal_nodes.proto"):
        for file in descriptor_set_of(krt / proto, [krt], include_imports=True).file:
            try:
                pool.FindFileByName(file.name)
            except KeyError:
                pool.Add(file)
    names = ("FleetRequest", "FleetResponse", "Fleet")
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"entrypoint.{n}"))
        for n in names
    }


def _probe(python: Path, folder: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-c", PROBE], cwd=folder, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin"},
    )


@pytest.mark.parametrize("runtime", ["kre-py 2.1.5's lock", "newest"])
def test_the_stock_nodes_code_imports_under_protobuf_3_20_1_and_the_newest(
    runtime: str, fleet: Path, kre_py: dict[str, tuple[Path, Path]]
) -> None:
    if runtime == "newest":
        python = kre_py["newest"][0]
        from google.protobuf import __version__ as ours  # this venv's: pyproject's newest

        version = protobuf_version(python)
        assert tuple(map(int, version.split(".")[:2])) >= tuple(map(int, ours.split(".")[:2]))
    else:
        python = kre_py["2.1.5"][0]
        version = protobuf_version(python)
        assert version == "3.20.1"
    for node in STOCK_NODES:
        done = _probe(python, fleet / "src" / node)
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip() == f"imported under protobuf {version}"
    # The Kedro node's code is protoc's own: it needs a protobuf of its major version.
    price = _probe(python, fleet / "src" / "price")
    if version == "3.20.1":
        assert price.returncode != 0
        assert "cannot import name 'runtime_version' from 'google.protobuf'" in price.stderr
    else:
        assert price.returncode == 0, price.stderr


def test_kre_py_2_1_5_with_protocs_code_fails_as_the_issue_says(
    fleet: Path, kre_py: dict[str, tuple[Path, Path]], tmp_path: Path
) -> None:
    """The control: today's protoc output in intake's folder, and kre-py stops at load."""
    krt = tmp_path / "krt"
    shutil.copytree(fleet, krt)
    for module in ("public_input_pb2.py", "internal_nodes_pb2.py"):
        shutil.copy(krt / "src" / "price" / module, krt / "src" / "intake" / module)
    python, main = kre_py["2.1.5"]
    env = {
        "PATH": "/usr/bin:/bin",
        "KRT_BASE_PATH": str(krt),
        "KRT_HANDLER_PATH": "src/intake/main.py",
        **{k: "x" for k in (
            "KRT_WORKFLOW_NAME", "KRT_RUNTIME_ID", "KRT_VERSION_ID", "KRT_VERSION",
            "KRT_NODE_NAME", "KRT_NATS_SERVER", "KRT_NATS_INPUT", "KRT_NATS_OUTPUT",
            "KRT_NATS_STREAM", "KRT_NATS_MONGO_WRITER", "KRT_IS_LAST_NODE",
            "KRT_NATS_ENTRYPOINT_SUBJECT",
        )},
        **KRE_PY_ENV,
    }
    done = subprocess.run(
        [str(python), str(main)], env=env, capture_output=True, text=True, timeout=120,
        cwd=tmp_path,
    )
    assert done.returncode == 1
    assert (
        "Error loading handler script src/intake/main.py: cannot import name 'runtime_version' "
        "from 'google.protobuf'" in done.stdout + done.stderr
    )


def test_kre_py_2_1_5_runs_the_hand_written_nodes_around_the_kedro_node(
    fleet: Path,
    kre_py: dict[str, tuple[Path, Path]],
    trained_project: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> None:
    python, main = kre_py["2.1.5"]
    kre_env = {**KRE_PY_ENV, "PYTHONPATH": ""}
    topo = Topology(
        fleet, tmp_path_factory.mktemp("stock-v1"), version="shuttle-fleet", rpc="QuoteFleet",
        nodes=[(n, f"src/{n}/main.py") for n in ("intake", "price", "present")],
        command=[sys.executable, "-m", "kedro_krt.node.runner"],
        node_commands={n: [str(python), str(main)] for n in STOCK_NODES},
        node_env={n: kre_env for n in STOCK_NODES},
    )
    classes = _message_classes(fleet)
    request = json_format.ParseDict(
        {"customer": "ACME", "shuttles": SHUTTLES}, classes["FleetRequest"]()
    )

    async def scenario() -> Any:
        await topo.start(timeout=300)
        try:
            return await topo.request(request, 120)
        finally:
            codes = await topo.stop()
            assert codes["price"] == 0, topo.log("price")  # kre-py has no SIGTERM handler

    answer = asyncio.run(scenario())
    assert answer.error == "", answer.error
    reply: Any = unpack(answer, classes["FleetResponse"])
    expected = kedro_quotes(trained_project, "ACME", None)
    assert [q.shuttle_id for q in reply.quotes] == ["ACME-1", "F5-7"]
    assert [q.price for q in reply.quotes] == [float(p) for p in expected["price"]]
    assert [q.price_band for q in reply.quotes] == list(expected["price_band"])
    assert reply.total == round(float(expected["price"].sum()), 2)
    assert reply.summary == f"2 shuttles for ACME: {reply.total:,.2f} EUR"
    for node in STOCK_NODES:  # kre-py's own lines: the script loaded, the message handled
        log = topo.log(node)
        assert f"Handler script was loaded from '{fleet}/src/{node}/main.py'" in log, log
        assert "Received new request message from NATS subject" in log, log


def test_kre_py_3_4_1_runs_a_hand_written_node_and_imports_it_as_worker(
    fleet: Path, kre_py: dict[str, tuple[Path, Path]], tmp_path_factory: pytest.TempPathFactory
) -> None:
    krt = tmp_path_factory.mktemp("stock-v2") / "krt"
    shutil.copytree(fleet, krt)
    (krt / "src" / "intake" / "kre_py3.py").write_text(KRE_PY3_ENTRY, encoding="utf-8")
    python, main = kre_py["3.4.1"]
    topo = TopologyV2(
        krt, krt.parent, version="shuttle-fleet", rpc="QuoteFleet", exitpoint="intake",
        nodes=[NodeV2("intake", "src/intake/kre_py3.py", ("entrypoint",))],
        command=[str(python), str(main)],
        env_override={"intake": {**KRE_PY_ENV, "PYTHONPATH": None}},
    )
    classes = _message_classes(krt)
    good = json_format.ParseDict(
        {"customer": " ACME ", "shuttles": SHUTTLES[:1]}, classes["FleetRequest"]()
    )

    async def scenario() -> tuple[Any, Any]:
        await topo.start(timeout=300)
        try:
            return await topo.request(good, 60), await topo.request(classes["FleetRequest"](), 60)
        finally:
            await topo.stop()

    answer, refused = asyncio.run(scenario())
    assert answer.error == "", answer.error
    fleet_msg: Any = unpack(answer, classes["Fleet"])
    assert fleet_msg.customer == "ACME"
    assert [s.shuttle_id for s in fleet_msg.shuttles] == ["ACME-1"]
    assert fleet_msg.shuttles[0].launched_at.ToJsonString() == "2021-06-01T00:00:00Z"
    assert refused.error == (
        "Error in node 'intake' executing handler for node 'entrypoint': customer is required"
    )
    # kre-py 3.4.1 executes the node file as a module named worker, not put in sys.modules.
    assert "entry imported as worker, in sys.modules: False" in topo.log("intake")
