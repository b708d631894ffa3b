"""The format seam: every KRT format has its entry in each layer's table, under its own key."""

from __future__ import annotations

import json
from typing import get_args

import pytest

from kedro_krt.compiler.config import KrtVersionName
from kedro_krt.compiler.krt_formats import COMPILE_FORMATS
from kedro_krt.emit.krt_formats import EMIT_FORMATS
from kedro_krt.formats.krt_formats import FORMATS, format_of, format_read_by
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import Plan


@pytest.mark.parametrize("table", [FORMATS, COMPILE_FORMATS, EMIT_FORMATS])
def test_every_table_has_every_format_under_its_own_key(table: dict) -> None:
    assert list(table) == list(KrtVersion)
    assert all(entry.krt_version is version for version, entry in table.items())


def test_each_manifest_model_says_its_format() -> None:
    assert all(f.manifest_class.krt_version is v for v, f in FORMATS.items())


def test_krt_yml_names_the_same_formats() -> None:
    assert list(get_args(KrtVersionName)) == [v.value for v in KrtVersion]


def test_the_format_of_a_krt_yml_and_of_a_kre_version() -> None:
    assert format_of({"version": "x"}) is FORMATS[KrtVersion.V1]
    assert format_of({"krtVersion": "v2"}) is FORMATS[KrtVersion.V2]
    assert format_of({"krtVersion": "v9"}) is FORMATS[KrtVersion.V2]  # reported in KRE's words
    assert [format_read_by(k).krt_version for k in (None, "7", "8.0", "8.1", "8.2")] == [
        KrtVersion.V1,
        KrtVersion.V1,
        KrtVersion.V1,
        KrtVersion.V2,
        KrtVersion.V2,
    ]


def test_a_plan_reads_the_format_as_text_and_writes_it_as_text() -> None:
    plan = Plan("v", "d", "base", "pkg", "project", "e", "r", (), krt_version="v2")
    assert plan.krt_version is KrtVersion.V2
    assert json.loads(json.dumps(plan.to_json()))["krt_version"] == "v2"
    assert "krt_version" not in Plan("v", "d", "base", "pkg", "project", "e", "r", ()).to_json()
    with pytest.raises(ValueError, match="unknown KRT format 'v9'"):
        Plan("v", "d", "base", "pkg", "project", "e", "r", (), krt_version="v9")
