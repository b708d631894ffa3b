"""Build the hand-written `shuttle-quote` KRT: this folder + protos compiled + a Kedro project.

    python build.py --project ../../example_project --out build/shuttle-quote
    python build.py --project ../../example_project --out build/shuttle-quote --krt dist/q.krt

The Kedro project must be trained (its versioned model present under data/06_models). What goes
into `<out>/kedro_project/` is what KrtSession needs to boot it: pyproject.toml, conf/base (never
conf/local: no credentials in a KRT), the package under src/, and the artifact files of
data/06_models. See README.md.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from kedro_krt.krt.archive import write_krt
from kedro_krt.schema.protoc import compile_protos

HERE = Path(__file__).resolve().parent
NODES = ("price", "present")
PROTOS = ("public_input.proto", "internal_nodes.proto")
#: The KRT's own files, copied as they are (README.md becomes docs/README.md, as KRE expects).
KRT_FILES = ("krt.yml", *PROTOS, *(f"src/{node}/main.py" for node in NODES))
PROJECT_PARTS = ("pyproject.toml", "conf/base", "src", "data/06_models")
_JUNK = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info", ".DS_Store")


def build(project: Path, out: Path, *, with_lib: bool = False) -> Path:
    """Write the KRT folder `out` (absent or empty) from this example and `project`.

    Returns:
        `out`, ready for `kedro-krt serve out` or for packing into a .krt.
    """
    project, out = Path(project).resolve(), Path(out)
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} exists and is not empty: choose a new folder")
    if not (project / "pyproject.toml").is_file():
        raise SystemExit(f"{project} is not a Kedro project (no pyproject.toml)")
    if not any((project / "data" / "06_models").rglob("*.pickle")):
        raise SystemExit(f"{project} has no trained model: run `kedro run --pipelines training`")
    for rel in KRT_FILES:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(HERE / rel, out / rel)
    (out / "docs").mkdir(exist_ok=True)
    shutil.copy2(HERE / "README.md", out / "docs" / "README.md")
    # Every node imports the generated classes by bare name from its own folder (kre-py puts
    # the node's folder on sys.path), so each node folder gets its own copy.
    sources = {name: (HERE / name).read_text(encoding="utf-8") for name in PROTOS}
    for node in NODES:
        compile_protos(sources, out / "src" / node, pyi=False)
    for part in PROJECT_PARTS:
        src, dest = project / part, out / "kedro_project" / part
        if src.is_dir():
            shutil.copytree(src, dest, ignore=_JUNK)
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest)
    if with_lib:
        import kedro_krt
        from kedro_krt.package import RUNTIME_MODULES

        root = Path(kedro_krt.__file__).resolve().parent
        for path in sorted(root.rglob("*")):
            rel = path.relative_to(root.parent).as_posix()
            if path.is_file() and rel.startswith(RUNTIME_MODULES) and "__pycache__" not in rel:
                (out / "lib" / rel).parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(path, out / "lib" / rel)
    return out


def pack(folder: Path, dest: Path) -> Path:
    """A .krt of `folder` as KRE's extractor wants it (kedro_krt's deterministic writer)."""
    files = {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file() and "__pycache__" not in p.parts
    }
    return write_krt(files, dest)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, required=True, help="a trained Kedro project")
    parser.add_argument("--out", type=Path, required=True, help="the KRT folder to write")
    parser.add_argument("--krt", type=Path, help="also pack the folder into this .krt file")
    parser.add_argument(
        "--with-lib", action="store_true",
        help="vendor kedro_krt's runtime under lib/ (for an image without kedro-krt)",
    )
    args = parser.parse_args()
    folder = build(args.project, args.out, with_lib=args.with_lib)
    print(f"KRT folder: {folder}")
    if args.krt:
        args.krt.parent.mkdir(parents=True, exist_ok=True)
        print(f"KRT file: {pack(folder, args.krt)}")


if __name__ == "__main__":
    main()
