"""Two namespaces of one Kedro project as two nodes of one hand-written KRT: `etl` makes the
features, `model` prices them. One copy of the project is shipped; the KRT, served with
`kedro-krt serve`, answers what Kedro's own runner computes for the same shuttles."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

from kedro_krt.formats.archive import read_krt
from kedro_krt.handwritten import BuildResult, build_krt
from tests.e2e.e2e_helpers import ReflectedRpc, ServedKrt, generated_shuttles

pytestmark = pytest.mark.slow

SHUTTLE = """
message Shuttle {
  string shuttle_id = 1;
  string shuttle_type = 2;
  string engine_type = 3;
  int64 engines = 4;
  int64 passenger_capacity = 5;
  int64 crew = 6;
  bool d_check_complete = 7;
  bool moon_clearance_complete = 8;
  bool iata_approved = 9;
  optional double company_rating = 10;
  google.protobuf.Timestamp launched_at = 11;
}
"""
PUBLIC = f"""syntax = "proto3";
package entrypoint;
import "google/protobuf/timestamp.proto";
{SHUTTLE}
message PredictRequest {{ repeated Shuttle shuttles = 1; }}
message PredictResponse {{ repeated double prices = 1; }}
service Entrypoint {{ rpc Predict (PredictRequest) returns (PredictResponse) {{}}; }}
"""
INTERNAL = """syntax = "proto3";
package entrypoint;
message FeatureRow {
  string shuttle_type = 1;
  string engine_type = 2;
  int64 engines = 3;
  int64 passenger_capacity = 4;
  int64 crew = 5;
  int64 d_check_complete = 6;
  int64 moon_clearance_complete = 7;
  int64 iata_approved = 8;
  double company_rating = 9;
  double age_years = 10;
}
message Features { repeated FeatureRow rows = 1; }
"""
IMAGE = "registry.example.com/team/shuttle-steps-runtime:0.1.0"
ENTRYPOINT = "konstellation/kre-entrypoint:1.8.1"


@pytest.fixture(scope="module")
def built(trained_project: Path, tmp_path_factory: pytest.TempPathFactory) -> BuildResult:
    root = tmp_path_factory.mktemp("namespaces") / "steps"
    root.mkdir()
    manifest = {
        "version": "shuttle-steps",
        "description": "Two namespaces of one Kedro project, two nodes",
        "entrypoint": {"proto": "public_input.proto", "image": ENTRYPOINT},
        "nodes": [
            {"name": "features", "image": IMAGE, "src": "src/features/main.py"},
            {"name": "predict", "image": IMAGE, "src": "src/predict/main.py"},
        ],
        "workflows": [
            {"name": "prices", "entrypoint": "Predict", "sequential": ["features", "predict"]}
        ],
    }
    common = {"project": str(trained_project), "pipeline": "inference"}
    build = {
        "nodes": {
            "features": {
                "kedro": {
                    **common,
                    "namespace": "etl",
                    "output": "Features",
                    "inputs": {"shuttles": "etl.shuttles"},
                    "outputs": {"etl.features": "rows"},
                }
            },
            "predict": {
                "kedro": {
                    **common,
                    "namespace": "model",
                    "input": "Features",
                    "inputs": {"rows": "etl.features"},
                    "outputs": {"model.predictions": "prices"},
                }
            },
        }
    }
    (root / "krt.yml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    (root / "krt-build.yml").write_text(yaml.safe_dump(build), encoding="utf-8")
    (root / "public_input.proto").write_text(PUBLIC, encoding="utf-8")
    (root / "internal_nodes.proto").write_text(INTERNAL, encoding="utf-8")
    return build_krt(root, root.parent / "steps.krt")


@pytest.fixture(scope="module")
def predict(built: BuildResult, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ReflectedRpc]:
    server = ServedKrt(built.path, tmp_path_factory.mktemp("serve-steps"))
    try:
        server.wait_serving(120)
        rpc = ReflectedRpc(server.address, "Predict")
        yield rpc
        rpc.close()
    finally:
        server.stop()


def test_one_project_copy_serves_both_nodes(built: BuildResult) -> None:
    files = read_krt(built.path)
    projects = {n.split("/")[1] for n in files if n.startswith("kedro/")}
    assert projects == {"shuttle_prices"}
    assert {n.name for n in built.nodes} == {"features", "predict"}
    features, predict_node = sorted(built.nodes, key=lambda n: n.name)
    assert features.kedro_nodes == ("etl.make_features",)
    assert predict_node.kedro_nodes == ("model.predict_price",)
    assert predict_node.artifacts == ("price_model",)
    assert "src/features/internal_nodes_pb2.py" in files


def _kedro_predictions(project: Path, shuttles: pd.DataFrame) -> list[float]:
    from kedro.framework.project import pipelines
    from kedro.framework.session import KedroSession
    from kedro.framework.startup import bootstrap_project
    from kedro.io import MemoryDataset
    from kedro.runner import SequentialRunner

    bootstrap_project(project)
    with KedroSession.create(project_path=project) as session:
        catalog = session.load_context().catalog
        catalog["etl.shuttles"] = MemoryDataset(shuttles.copy(), copy_mode="assign")
        catalog["model.predictions"] = MemoryDataset(copy_mode="assign")
        SequentialRunner().run(pipelines["inference"].to_outputs("model.predictions"), catalog)
        return [float(p) for p in catalog.load("model.predictions")]


def _request(shuttles: pd.DataFrame) -> dict[str, Any]:
    rows = []
    for record in shuttles.to_dict("records"):
        row = {}
        for column, value in record.items():
            if pd.isna(value):
                continue
            if column == "launched_at":
                value = pd.Timestamp(value).strftime("%Y-%m-%dT%H:%M:%SZ")
            elif hasattr(value, "item"):
                value = value.item()
            row[column] = value
        rows.append(row)
    return {"shuttles": rows}


def test_predictions_equal_the_kedro_run(predict: ReflectedRpc, trained_project: Path) -> None:
    shuttles = generated_shuttles(trained_project, rows=7, seed=11)
    reply: Any = predict.call(_request(shuttles))
    assert len(reply.prices) == 7
    assert list(reply.prices) == _kedro_predictions(trained_project, shuttles)
