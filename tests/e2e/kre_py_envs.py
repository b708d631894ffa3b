"""KRE's own Python runner, kre-py, as its images hold it, stood up without Docker.

kre-py's Dockerfile (konstellation-io/kre-runners, ``kre-py/Dockerfile`` at kre-py-v2.1.5 and
kre-py/v3.4.1) installs ``Pipfile.lock`` with ``pipenv install --system --deploy`` and copies
``kre-py/src`` to ``/kre/src``; its CMD is ``python3.9 /kre/src/main.py``. Here: the same
``kre-py/src``, exported at the pinned tag from the local mirror of kre-runners (``git
archive``, as the other tests read KRE's sources: nothing of it is kept in this repository),
and a virtualenv with the lock's packages at the lock's versions and hashes (``pip install
--require-hashes``). Two differences, both forced by this machine having Python 3.11 only:

* the image's Python is 3.9; every locked package installs on 3.11 as it is (protobuf 3.20.1
  as its pure-Python wheel: the image's cp39 wheel has the C++ extension, which skips the
  pure-Python block at the end of each *_pb2.py);
* kre-py 3.4.1's ``handlers.py`` declares ``Callable[[HandlerContext, Any]]``, which Python 3.9
  accepts and 3.11 refuses at import (``Callable must be used as Callable[[arg, ...],
  result]``): :data:`PY311_PATCHES` adds the result type, a type alias only.

The virtualenvs are kept under ``.venv-stock/`` of the repository (ignored by git), one per
requirement set, so a second run installs nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from filelock import FileLock

from tests.helpers import REPO

#: The local mirror of konstellation-io/kre-runners (the search tool's ``fetch``).
KRE_RUNNERS_MIRROR = Path(
    os.environ.get("KRE_RUNNERS_MIRROR", "/work/.mirror/konstellation-io+kre-runners/repo")
)
#: The kre-py releases of KRE 7 (KRT v1) and KRE 8 (KRT v2) that kedro-krt follows.
KRE_PY_TAGS = {"2.1.5": "kre-py-v2.1.5", "3.4.1": "kre-py/v3.4.1"}
#: What Python 3.11 needs changed in kre-py's sources: {tag: [(file, old, new)]}.
PY311_PATCHES = {
    "kre-py/v3.4.1": [
        (
            "handlers.py",
            "Callable[[HandlerContext, Any]]",
            "Callable[[HandlerContext, Any], Any]",
        )
    ]
}
CACHE = REPO / ".venv-stock"


def _git(*args: str) -> bytes:
    return subprocess.run(
        ["git", f"--git-dir={KRE_RUNNERS_MIRROR}", *args],
        check=True, capture_output=True, timeout=120,
    ).stdout


def export_kre_py(tag: str, dest: Path) -> Path:
    """``kre-py/src`` at ``tag`` in ``dest`` (with :data:`PY311_PATCHES`); its main.py."""
    dest.mkdir(parents=True, exist_ok=True)
    archive = _git("archive", f"{tag}:kre-py/src")
    subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True, timeout=120)
    for name, old, new in PY311_PATCHES.get(tag, []):
        path = dest / name
        text = path.read_text(encoding="utf-8")
        assert old in text, f"{tag}: {name} no longer holds {old!r}: review PY311_PATCHES"
        path.write_text(text.replace(old, new, 1), encoding="utf-8")
    return dest / "main.py"


def locked_requirements(tag: str) -> str:
    """The ``default`` packages of kre-py's Pipfile.lock at ``tag``, with their hashes."""
    lock = json.loads(_git("show", f"{tag}:kre-py/Pipfile.lock"))
    lines = []
    for name, entry in sorted(lock["default"].items()):
        hashes = " ".join(f"--hash={h}" for h in entry["hashes"])
        lines.append(f"{name}{entry['version']} {hashes}")
    return "\n".join(lines) + "\n"


def cached_venv(
    name: str, requirements: str, *, upgrade: bool = False, hashes: bool = True
) -> Path:
    """A virtualenv with ``requirements`` installed, kept between runs; its python.

    ``upgrade``: ``pip install --upgrade`` on every call (the newest release, not the one of the
    day the virtualenv was made); the requirements then carry no hashes. ``hashes=False``:
    installed once, pinned by the requirements' versions, not their hashes (for a line such as
    ``-e <folder>``, which has none).
    """
    key = hashlib.sha256(f"{sys.version}\n{requirements}".encode()).hexdigest()[:10]
    venv = CACHE / f"{name}-{key}"
    python = venv / "bin" / "python"
    CACHE.mkdir(exist_ok=True)
    with FileLock(str(CACHE / f"{name}-{key}.lock")):
        stamp = venv / ".installed"
        if not stamp.exists() or upgrade:
            if not stamp.exists():
                subprocess.run(
                    [sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300
                )
            (venv / "requirements.txt").write_text(requirements, encoding="utf-8")
            args = ["--upgrade"] if upgrade else ["--require-hashes"] if hashes else []
            install = subprocess.run(
                [str(python), "-m", "pip", "install", "--quiet", *args,
                 "-r", str(venv / "requirements.txt")],
                capture_output=True, text=True, timeout=900,
            )
            assert install.returncode == 0, install.stdout + install.stderr
            stamp.touch()
    return python


def kre_py_venv(tag: str) -> Path:
    """The python of a virtualenv holding kre-py's locked packages at ``tag``."""
    return cached_venv(f"kre-py-{tag.rsplit('v', 1)[-1]}", locked_requirements(tag))


def protobuf_version(python: Path) -> str:
    return subprocess.run(
        [str(python), "-c", "import google.protobuf as p; print(p.__version__)"],
        check=True, capture_output=True, text=True, timeout=60,
    ).stdout.strip()
