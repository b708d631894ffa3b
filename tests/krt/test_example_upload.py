"""KRE's upload accepts the example as `kedro krt package` writes it, in both KRT formats.

KRE's admin API reads an uploaded .krt in two passes (the manifest first, then every entry into
one fresh folder) and then checks that every node's src was extracted (kedro_krt.formats.upload
replays konstellation-io/kre's parser.go). Every .krt a test builds through tests.helpers.run_cli
goes through the two passes too (assert_kre_accepts): these tests own the check for the example,
and show that the check refuses what KRE refuses.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from kedro_krt.formats.archive import read_krt, write_krt
from tests.helpers import assert_kre_accepts, kre_upload_errors


@pytest.mark.integration
@pytest.mark.parametrize(("fixture", "kre"), [("example_krt", "7"), ("example_krt_v2", "8.2")])
def test_kre_accepts_the_packaged_example(
    request: pytest.FixtureRequest, fixture: str, kre: str
) -> None:
    krt: Path = request.getfixturevalue(fixture)
    assert kre_upload_errors(krt, with_srcs=True, kre=kre) == []
    assert assert_kre_accepts(krt) == krt


def test_the_check_refuses_a_node_without_its_src(example_krt: Path, tmp_path: Path) -> None:
    files = read_krt(example_krt)
    del files["src/model/main.py"]
    broken = write_krt(files, tmp_path / "no-model-src.krt")
    errors = kre_upload_errors(broken, with_srcs=True)
    assert len(errors) == 1 and "src/model/main.py" in errors[0], errors


def test_the_check_refuses_a_file_before_its_folder(tmp_path: Path) -> None:
    # Go's os.Create needs the folder: an archive listing src/etl/main.py before src/ fails
    # KRE's second pass, as tarfile.add(recursive=False) of files alone writes it.
    krt = tmp_path / "files-only.krt"
    with tarfile.open(krt, "w:gz") as tar:
        for name, data in {"krt.yml": b"version: x\n", "src/etl/main.py": b"\n"}.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    assert kre_upload_errors(krt) != []
    with pytest.raises(AssertionError, match="KRE's upload would refuse"):
        assert_kre_accepts(krt)
