"""`krt-build.yml`: how `kedro-krt build` makes the nodes that come from Kedro projects.

The file sits beside krt.yml in the KRT source folder and is never shipped. Its schema is a
tree of frozen pydantic dataclasses whose fields carry their documentation, as krt.yml's
(:mod:`kedro_krt.confschema`): the checks, the JSON Schema and the reference page come from it.
Unknown keys are errors naming the key, where it is and the closest known key, because a typo in
a build file must not build something else.

    nodes:
      price:                          # a node of krt.yml
        kedro:
          project: ../kedro_project   # relative to this file
          pipeline: inference
          inputs: {shuttles: etl.shuttles}        # message field -> pipeline free input
          outputs: {output.quotes: quotes}        # pipeline output -> message field
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kedro_krt import confschema
from kedro_krt.confschema import doc as _doc
from kedro_krt.confschema import schema_class
from kedro_krt.handwritten.errors import BuildError

BUILD_FILE = "krt-build.yml"


@schema_class
class KedroSource:
    """A node made from a Kedro project: a registered pipeline, optionally one namespace."""

    project: str = _doc(
        "The Kedro project's folder, relative to krt-build.yml (or absolute). Required."
    )
    pipeline: str = _doc("The registered pipeline the node runs.", "__default__")
    namespace: str | None = _doc(
        "Run only this namespace of the pipeline (dotted prefix match).", None
    )
    env: str = _doc("Conf env shipped with `base` (never `local`).", "base")
    folder: str = _doc(
        "Where the project goes inside the KRT; `kedro/<package name>` if empty. Nodes that "
        "share a project and a folder share one copy.",
        "",
    )
    input: str = _doc(
        "The message the node receives (`Name` or `entrypoint.Name`); taken from the rpc's "
        "request when the node comes first in its workflows. Generated nodes only.",
        "",
    )
    output: str = _doc(
        "The message the node sends on; taken from the rpc's response when the node comes "
        "last. Generated nodes only.",
        "",
    )
    inputs: dict[str, str] = _doc(
        "{field of the input message: free input of the pipeline}. A `params:` dataset is "
        "overridden per message (an unset `optional` field keeps the project's value). Free "
        "inputs not mapped are loaded once at init. Generated nodes only.",
        default_factory=dict,
    )
    outputs: dict[str, str] = _doc(
        "{free output of the pipeline: field of the output message}. Output fields not mapped "
        "are copied from the input message when it has a field of that name and type. "
        "Generated nodes only.",
        default_factory=dict,
    )
    artifacts: tuple[str, ...] = _doc(
        "Free inputs loaded once at init whatever inference says (as in krt.yml).",
        default_factory=tuple,
    )
    samples: dict[str, str] = _doc(
        "Sample files to type a dataset from: {dataset: path relative to the project}; over "
        "the project's own krt.yml.",
        default_factory=dict,
    )
    schemas: dict[str, Any] = _doc(
        "Explicit types: {dataset: type}, in krt.yml's type language; over the project's own.",
        default_factory=dict,
    )

    @property
    def generated(self) -> bool:
        """Whether this source asks for a generated main.py (it maps message fields)."""
        return bool(self.inputs or self.outputs or self.input or self.output)


@schema_class
class NodeBuild:
    """How the build makes one node of krt.yml."""

    kedro: KedroSource | None = _doc(
        "The node runs a Kedro pipeline: with `inputs`/`outputs`, the build generates its "
        "main.py; without them, the node's own main.py uses KrtSession on the copied project.",
        None,
    )


@schema_class
class BuildConfig:
    """The whole krt-build.yml."""

    nodes: dict[str, NodeBuild] = _doc(
        "{node name in krt.yml: how the build makes it}. Nodes not listed are packaged as "
        "they are in the folder.",
        default_factory=dict,
    )
    requirements: tuple[str, ...] = _doc(
        "Extra lines of the runner image's requirements.txt, merged with the projects' own.",
        default_factory=tuple,
    )


def load_build_config(folder: Path) -> BuildConfig:
    """``folder/krt-build.yml``, checked; an empty config when the file is absent.

    Raises:
        BuildError: for YAML that does not parse, an unknown key or a value of the wrong type.
    """
    path = Path(folder) / BUILD_FILE
    if not path.is_file():
        return BuildConfig()
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise BuildError(f"{BUILD_FILE}: not valid YAML: {exc}") from None
    return parse_build_config(data or {})


def parse_build_config(data: Any) -> BuildConfig:
    """Check plain data (a parsed krt-build.yml) and build the config."""
    return confschema.parse(BuildConfig, data, file=BUILD_FILE, error=BuildError)


def json_schema() -> dict[str, Any]:
    """The JSON Schema of krt-build.yml, for editors and the reference."""
    return confschema.json_schema(BuildConfig, "krt-build.yml (kedro-krt build)")


def describe_build_schema() -> list[tuple[str, str, str]]:
    """(key path, type, doc) rows of krt-build.yml, for the reference page."""
    return [
        (path, type_name, text) for path, type_name, _, text in confschema.describe(json_schema())
    ]
