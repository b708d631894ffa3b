"""mkdocs hook: the site's diagrams render offline, from a mermaid.js served by the site itself.

mkdocs-material draws ``mermaid`` fences with mermaid.js, which it loads from a CDN unless a
``mermaid`` script is already on the page. So the site ships its own copy: the pinned release of
the ``mermaid`` package, fetched once with ``npm pack`` (npm checks the tarball's integrity
against the registry's), kept in ``docs/assets/`` (gitignored) and listed in ``extra_javascript``.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path
from typing import Any

#: The release the site ships (material 9.x asks for mermaid 11).
MERMAID = "mermaid@11.17.2"
HERE = Path(__file__).resolve().parent
TARGET = HERE / "assets" / "mermaid.min.js"


def ensure_mermaid(target: Path = TARGET) -> Path:
    """The pinned mermaid.min.js at ``target``, fetched with npm when it is not there yet."""
    if target.is_file():
        return target
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit(
            f"the docs need {MERMAID}'s mermaid.min.js in {target} and npm is not installed: "
            "install Node.js (npm), or put the file there by hand"
        )
    with tempfile.TemporaryDirectory(prefix="krt-docs-") as tmp:
        # Its own cache and home: the build may run with a bare environment (the docs tests).
        env = {**os.environ, "HOME": tmp, "npm_config_cache": str(Path(tmp) / "cache")}
        subprocess.run(
            [npm, "pack", MERMAID, "--silent", "--pack-destination", tmp],
            check=True, capture_output=True, timeout=300, env=env,
        )
        (tarball,) = Path(tmp).glob("mermaid-*.tgz")
        with tarfile.open(tarball) as tar:
            member = tar.extractfile("package/dist/mermaid.min.js")
            assert member is not None
            data = member.read()
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(data)
    partial.replace(target)
    return target


def on_pre_build(config: Any, **_: Any) -> None:
    """Before the build: the script that extra_javascript names is there."""
    ensure_mermaid()
