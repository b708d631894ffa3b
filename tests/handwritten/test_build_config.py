"""krt-build.yml: unknown keys and wrong types are errors that say where and what to write;
the merged requirements of several Kedro sources."""

from __future__ import annotations

import pytest

from kedro_krt.emit.files import merged_requirements
from kedro_krt.handwritten.config import describe_build_schema, parse_build_config
from kedro_krt.handwritten.errors import BuildError


def test_a_full_file_parses() -> None:
    config = parse_build_config(
        {
            "nodes": {
                "price": {
                    "kedro": {
                        "project": "../p",
                        "pipeline": "inference",
                        "namespace": None,
                        "inputs": {"shuttles": "etl.shuttles"},
                        "outputs": {"output.quotes": "quotes"},
                        "artifacts": "price_model",
                        "schemas": {"output.quotes": {"table": {"price": "double"}}},
                    }
                }
            },
            "requirements": ["scikit-learn>=1.4"],
        }
    )
    source = config.nodes["price"].kedro
    assert source is not None and source.generated
    assert source.artifacts == ("price_model",) and source.env == "base"
    assert config.requirements == ("scikit-learn>=1.4",)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"node": {}}, "unknown key 'node' at the top level; did you mean 'nodes'?"),
        (
            {"nodes": {"price": {"kedro": {"project": "p", "pipline": "x"}}}},
            "unknown key 'pipline' at nodes.price.kedro; did you mean 'pipeline'?",
        ),
        ({"nodes": {"price": {"kedro": {}}}}, "'nodes.price.kedro.project' is required"),
        (
            {"nodes": {"price": {"kedro": {"project": "p", "inputs": ["a"]}}}},
            "'nodes.price.kedro.inputs' must be a mapping, found a list",
        ),
        ({"nodes": []}, "'nodes' must be a mapping, found a list"),
    ],
)
def test_mistakes_name_the_key(data: object, message: str) -> None:
    with pytest.raises(BuildError) as info:
        parse_build_config(data)
    assert message in str(info.value)
    assert str(info.value).startswith("krt-build.yml: ")


def test_every_key_is_described() -> None:
    rows = describe_build_schema()
    paths = [path for path, _, _ in rows]
    assert "nodes.<node>.kedro.inputs" in paths and "requirements" in paths
    assert all(doc for _, _, doc in rows)


def test_requirements_of_several_projects_merge() -> None:
    text, warnings = merged_requirements(
        [
            ("requirements.txt of the KRT source folder", "requests>=2\n", False),
            (
                "requirements.txt of the Kedro project a",
                "kedro~=1.7\nkedro-datasets[pandas-csvdataset]>=9\nipython>=8  # notebooks\n",
                True,
            ),
            (
                "requirements.txt of the Kedro project b",
                "kedro>=1.0,<2\nkedro_datasets[pickle-pickledataset]\n-r more.txt\n"
                "torch; sys_platform == 'linux'\n",
                True,
            ),
            ("`requirements:` of krt-build.yml", "torch", False),
        ],
        protobuf="protobuf>=6.31.1,<7",
    )
    lines = text.splitlines()
    assert "kedro~=1.7,>=1.0,<2" in lines
    assert "kedro-datasets[pandas-csvdataset,pickle-pickledataset]>=9" in lines
    assert not any(line.startswith("ipython") for line in lines)  # development only
    assert "requests>=2" in lines and "pandas>=2.2.2" in lines  # ours, since nobody asked
    assert lines[-1] == "protobuf>=6.31.1,<7"
    assert lines.count("torch; sys_platform == 'linux'") == 1
    assert any("'-r more.txt' is not carried" in w for w in warnings)
    assert any(w.startswith("torch is asked as") for w in warnings)
