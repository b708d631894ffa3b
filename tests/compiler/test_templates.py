"""Generated files come from the template files of kedro_krt/templates: each one is used, and the
three node main.py files share one prelude (the KRT's own lib/ first on sys.path)."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace

import kedro_krt
from kedro_krt.emit import files as generate
from kedro_krt.emit.krt_formats import EMIT_FORMATS
from kedro_krt.node.krt_version import KrtVersion

TEMPLATES = Path(kedro_krt.__file__).parent / "templates"
SOURCE = "".join(
    path.read_text(encoding="utf-8") for path in Path(generate.__file__).parent.glob("*.py")
)


def test_every_template_file_is_rendered_by_emit() -> None:
    names = sorted(p.name for p in TEMPLATES.iterdir() if p.is_file())
    assert names, "kedro_krt/templates is empty"
    for name in names:
        assert f'"{name}"' in SOURCE, f"{name} is rendered nowhere in kedro_krt/emit"


def _node(kedro_nodes: tuple[str, ...] = ("a",)) -> SimpleNamespace:
    return SimpleNamespace(name="price", kedro_nodes=kedro_nodes, group=None)


def _prelude(text: str) -> str:
    start = text.index("import sys\n")
    return text[start : text.index("sys.path.insert(0, _LIB)\n", start)]


def test_the_node_files_share_one_prelude_and_differ_by_format() -> None:
    v1 = generate.main_py(
        SimpleNamespace(node=_node(), workflow="w", upstreams=()),  # type: ignore[arg-type]
        KrtVersion.V1,
    )
    v2 = generate.main_py(
        SimpleNamespace(node=_node(), workflow="w", upstreams=(SimpleNamespace(source="etl"),)),  # type: ignore[arg-type]
        "v2",
    )
    built = generate.build_main_py(
        SimpleNamespace(  # type: ignore[arg-type]
            node=_node(), pipeline="p", input=SimpleNamespace(name="In"),
            output=SimpleNamespace(name="Out"),
        ),
        src="src/price/main.py",
        folder="kedro/p",
        project="P",
    )
    assert _prelude(v1) == _prelude(v2)
    assert _prelude(built).replace("_ROOT = _HERE.parents[1]\n", "").replace(
        "_ROOT /", "_HERE.parents[1] /"
    ) == _prelude(v1)
    assert "handler = _node.handler" in v1 and "custom_handlers" in v2
    for text in (v1, v2, built):
        compile(text, "main.py", "exec")  # valid Python
        assert not re.search(r"\$\{?\w", text), "a placeholder was left in"
    # Every format of the emitter's table has its node template: a new format without its
    # main.py fails here, not in a pod.
    assert set(EMIT_FORMATS) == set(KrtVersion)
    for emit in EMIT_FORMATS.values():
        assert (TEMPLATES / emit.node_template).is_file(), emit.node_template


def test_the_dockerfile_keeps_its_dollar_signs() -> None:
    text = generate.dockerfile_for("v-1", "reg/img:1")
    assert "$KRT_BASE_PATH/<nodes[].src>" in text
    assert "docker build -t reg/img:1 build/v-1" in text
