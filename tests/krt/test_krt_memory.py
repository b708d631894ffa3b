"""Reading a .krt streams: validating or unpacking one with a large model costs no more memory
than without it (issue 20.6: a 450 MiB file took 1 GB to validate).

Each run is a fresh interpreter that reports its own peak RSS (``ru_maxrss``), so the numbers
are not mixed with this process's; the same archive without the large file is the baseline,
so the bound holds on any machine. No timing is asserted.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.krt.krt_helpers import entries_for, good_files

pytestmark = [pytest.mark.slow, pytest.mark.integration]

BIG = 64 * 2**20  # incompressible: the archive holds it as it is
#: Allowed growth of peak RSS over the baseline; holding the file once would be 64 MiB.
BOUND_KIB = 32 * 1024

_PEAK = """
import resource, sys
from pathlib import Path
from kedro_krt.formats.archive import extract_krt
from kedro_krt.formats.validate import format_report, validate_path
what, krt, out = sys.argv[1:]
if what == "validate":
    report = validate_path(krt)
    assert report.ok, format_report(report)
else:
    extract_krt(krt, out)
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def write_tar(path: Path, big: bool) -> Path:
    # compresslevel=1: random bytes do not compress anyway, and level 9 is only slower.
    with tarfile.open(path, "w:gz", compresslevel=1, format=tarfile.GNU_FORMAT) as tar:
        entries = entries_for({**good_files(), "models/model.bin": b""})
        for name, kind, data in entries:
            info = tarfile.TarInfo(name)
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
                continue
            if name == "models/model.bin" and big:
                data = os.urandom(BIG)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def peak_kib(what: str, krt: Path, out: Path) -> int:
    env = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-c", _PEAK, what, str(krt), str(out)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return int(done.stdout.split()[-1])


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("memory")
    return write_tar(root / "small.krt", big=False), write_tar(root / "big.krt", big=True)


@pytest.mark.parametrize("what", ["validate", "extract"])
def test_peak_memory_does_not_grow_with_a_large_file(
    archives: tuple[Path, Path], tmp_path: Path, what: str
) -> None:
    small, big = archives
    assert big.stat().st_size > BIG  # the file is really in the archive, uncompressed
    baseline = peak_kib(what, small, tmp_path / "small")
    peak = peak_kib(what, big, tmp_path / "big")
    assert peak - baseline < BOUND_KIB, (
        f"{what}: peak RSS {peak} KiB with a {BIG >> 20} MiB file, {baseline} KiB without it"
    )
