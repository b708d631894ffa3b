"""`kedro-krt build DIR`: a hand-written KRT source folder -> a checked, deterministic `.krt`.

What it does, in order (each step's rules are in the module named):

1. the folder's files, as kli packs them: everything but what ``.krtignore`` names
   (:mod:`~kedro_krt.handwritten.ignore`), and never ``krt-build.yml``, ``.krtignore``,
   ``__pycache__``, ``*.pyc``, the output itself, or a file that looks like a secret;
2. ``krt.yml``, with ``--version`` written into it;
3. the root ``*.proto`` files compiled by protoc into every Python node folder that imports
   them (:mod:`~kedro_krt.handwritten.protos`): protoc's output, or for a node on KRE's stock
   kre-py image the portable code its protobuf 3.20.1 imports (:mod:`~kedro_krt.emit.portable`);
4. the nodes that come from Kedro projects (``krt-build.yml``,
   :mod:`~kedro_krt.handwritten.config`):
   the mapping type-checked and the node planned (:mod:`~kedro_krt.handwritten.kedro_node`), its
   main.py and plan.json generated, each project copied once without ``conf/local`` or
   credentials, with the artifacts its pipelines load, the runtime vendored under ``lib/``,
   the requirements merged, a Dockerfile for the runner image;
5. the files checked by the KRT validator, then written by
   :func:`~kedro_krt.formats.archive.write_krt` (KRE's extractor order, same bytes for the same
   files). Nodes that are not Python are packaged as they are.
"""

from __future__ import annotations

import contextlib
import os
import posixpath
import re
import stat
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from kedro_krt.emit import files as generate
from kedro_krt.formats.archive import KrtArchiveError, write_krt
from kedro_krt.formats.images import ImageName
from kedro_krt.formats.manifest_base import is_valid_name
from kedro_krt.formats.manifest_v1 import Manifest, parse_manifest
from kedro_krt.formats.validate import validate_files
from kedro_krt.handwritten.config import BUILD_FILE, BuildConfig, KedroSource, load_build_config
from kedro_krt.handwritten.errors import BuildError
from kedro_krt.handwritten.ignore import IGNORE_FILE, KrtIgnore
from kedro_krt.handwritten.kedro_node import KedroNode, plan_kedro_node
from kedro_krt.handwritten.protos import CompiledProtos, imported_modules, module_of
from kedro_krt.package import (
    PackageError,
    artifact_files,
    is_secret,
    project_files,
    runtime_files,
)

Progress = Callable[[str], None]

#: Read by the build, never shipped.
NEVER_SHIPPED = (BUILD_FILE, IGNORE_FILE)


@dataclass
class Tree:
    """The files of the KRT source folder that go into the archive, and what was left out."""

    files: dict[str, bytes]
    executable: set[str]
    left_out: list[str]
    ignore: KrtIgnore


@dataclass(frozen=True)
class BuildResult:
    """What `build_krt` wrote, and what it found worth saying."""

    path: Path
    version: str
    files: int
    size: int
    nodes: tuple[KedroNode, ...]
    report: str
    warnings: tuple[str, ...] = field(default=())


def collect_tree(root: Path, skip: Iterable[str] = ()) -> Tree:
    """The files under ``root`` that kli would pack (see the module docstring).

    Raises:
        BuildError: for a symbolic link or a file that looks like a secret, unless
            ``.krtignore`` leaves it out.
    """
    ignore = KrtIgnore.read(root)
    skipped = set(skip) | set(NEVER_SHIPPED)
    files: dict[str, bytes] = {}
    executable: set[str] = set()
    left_out: list[str] = []
    problems: list[str] = []
    for folder, dirs, names in os.walk(root):
        base = Path(folder)
        rel_base = base.relative_to(root).as_posix()
        prefix = "" if rel_base == "." else f"{rel_base}/"
        dirs[:] = sorted(d for d in dirs if d != "__pycache__")
        for name in sorted([*names, *(d for d in dirs if (base / d).is_symlink())]):
            rel = f"{prefix}{name}"
            path = base / name
            if rel in skipped or name.endswith(".pyc"):
                continue
            if ignore.excludes(rel):
                left_out.append(rel)
                continue
            if path.is_symlink():
                problems.append(
                    f"{rel} is a symbolic link: KRE accepts only regular files and folders; put "
                    f"the file itself there, or list it in {IGNORE_FILE}"
                )
                continue
            if is_secret(rel):
                problems.append(
                    f"{rel} looks like a secret and is never packed: list it in {IGNORE_FILE} "
                    "(secrets reach KRE as config.variables)"
                )
                continue
            files[rel] = path.read_bytes()
            if path.stat().st_mode & stat.S_IXUSR:
                executable.add(rel)
    if problems:
        raise BuildError("\n".join(problems))
    return Tree(files, executable, left_out, ignore)


_VERSION_LINE = re.compile(r"^version:[^\n]*$", re.MULTILINE)


def _manifest(files: dict[str, bytes], version: str | None) -> Manifest:
    if "krt.yml" not in files:
        raise BuildError(
            "krt.yml is missing from the KRT source folder (or left out by .krtignore): a KRT "
            "starts with it"
        )
    text = files["krt.yml"].decode("utf-8", "replace")
    if version is not None:
        if not is_valid_name(version):
            raise BuildError(
                f"--version '{version}' is not valid for KRE: lowercase letters, digits and '-', "
                "at most 19 characters"
            )
        # A line edit keeps the comments of a hand-written krt.yml (kli writes the YAML anew).
        if _VERSION_LINE.search(text):
            text = _VERSION_LINE.sub(f"version: {version}", text, count=1)
        else:
            text = f"version: {version}\n{text}"
        files["krt.yml"] = text.encode()
    manifest, problems = parse_manifest(text)
    if manifest is None:
        listing = "\n".join(f"  - {p}" for p in problems if p.severity == "error")
        raise BuildError(f"krt.yml is not a valid KRT v1 manifest:\n{listing}")
    return manifest


def _root_protos(files: dict[str, bytes]) -> dict[str, str]:
    out = {}
    for name, data in files.items():
        if "/" not in name and name.endswith(".proto"):
            try:
                out[name] = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise BuildError(f"{name} is not UTF-8 text ({exc})") from None
    return out


def _check_folder(node: str, folder: str) -> str:
    path = PurePosixPath(folder)
    if path.is_absolute() or ".." in path.parts or not path.parts or folder != path.as_posix():
        raise BuildError(
            f"node '{node}' ({BUILD_FILE} nodes.{node}.kedro.folder): '{folder}' must be a "
            "relative path inside the KRT, such as kedro/my_project"
        )
    return path.as_posix()


def _open(path: Path, env: str, node: str) -> object:
    from kedro_krt.compiler.config import ConfigError
    from kedro_krt.compiler.project import open_project
    from kedro_krt.node.analysis import CompileError

    where = f"node '{node}' ({BUILD_FILE} nodes.{node}.kedro.project)"
    if not (path / "pyproject.toml").is_file():
        raise BuildError(f"{where}: {path} is not a Kedro project (no pyproject.toml)")
    try:
        return open_project(path, env)
    except (CompileError, ConfigError) as exc:
        raise BuildError(f"{where}: {exc}") from None
    except Exception as exc:  # Kedro's own errors on a broken project
        raise BuildError(f"{where}: Kedro cannot open {path}: {type(exc).__name__}: {exc}") from exc


def _kedro_sources(
    manifest: Manifest, config: BuildConfig, files: dict[str, bytes]
) -> list[tuple[str, str, KedroSource]]:
    """(node, src, source) of each node made from Kedro, after the checks of the file."""
    specs = {n.name: n for n in manifest.nodes}
    unknown = sorted(set(config.nodes) - set(specs))
    if unknown:
        raise BuildError(
            f"{BUILD_FILE}: nodes.{unknown[0]} is not a node of krt.yml (its nodes: "
            f"{', '.join(specs)})"
        )
    out = []
    for name, build in sorted(config.nodes.items()):
        source = build.kedro
        if source is None:
            continue
        src = posixpath.normpath(specs[name].src)
        where = f"node '{name}' ({BUILD_FILE} nodes.{name}.kedro)"
        if not src.endswith(".py"):
            raise BuildError(
                f"{where}: its src {src} is not a Python file; a node made from Kedro runs on "
                "kedro_krt's runtime: point src at src/<node>/main.py"
            )
        if source.generated and src in files:
            raise BuildError(
                f"{where}: maps fields (inputs/outputs/input/output) and has a hand-written "
                f"{src}: delete {src} to let the build generate it, or remove the mapping to "
                "keep your main.py (it can use kedro_krt.node.runtime.KrtSession)"
            )
        if not source.generated and src not in files:
            raise BuildError(
                f"{where}: {src} does not exist and no field is mapped: map `inputs:` and "
                "`outputs:` for the build to generate the node, or write its main.py"
            )
        out.append((name, src, source))
    return out


def build_krt(
    source: Path,
    output: Path | None = None,
    *,
    version: str | None = None,
    progress: Progress | None = None,
) -> BuildResult:
    """Build the KRT source folder ``source`` into ``output`` (default
    ``dist/<version>.krt`` in the working directory). See the module docstring.

    Raises:
        BuildError: naming what to change, for anything that stops the build.
    """
    say = progress or (lambda _: None)
    root = Path(source).resolve()
    if not root.is_dir():
        raise BuildError(f"{source}: not a folder; give the folder that holds krt.yml")
    if not (root / "krt.yml").is_file():
        raise BuildError(f"{source}: no krt.yml at the root of this folder, so it is not a KRT")
    say("reading the KRT source folder")
    tree = collect_tree(root)
    files = tree.files
    manifest = _manifest(files, version)
    dest = Path(output) if output is not None else Path("dist") / f"{manifest.version}.krt"
    with contextlib.suppress(ValueError):  # an output outside the folder was never read
        # The .krt being written (an earlier build's) is never packed into itself.
        files.pop(dest.resolve().relative_to(root).as_posix(), None)
    config = load_build_config(root)
    warnings: list[str] = list(tree.ignore.folder_warnings(files))
    handwritten = set(files)

    say("compiling the protos with protoc")
    protos = CompiledProtos.compile(_root_protos(files))

    kedro_nodes = _plan_kedro(root, manifest, config, files, protos, say)
    dockerfile = False
    for node in kedro_nodes:
        if node.plan is not None:
            folder = posixpath.dirname(node.src)
            files[node.src] = generate.build_main_py(
                node.plan, src=node.src, folder=node.folder, project=node.project.project_name
            ).encode()
            files[f"{folder}/plan.json"] = node.plan.dumps().encode()
        warnings.extend(f"node '{node.name}': {w}" for w in node.warnings)
    _ship_projects(kedro_nodes, files, handwritten, warnings)

    say("compiling the protos into the node folders")
    placed, portable = _place_pb2(manifest, kedro_nodes, protos, files, handwritten, warnings)

    if kedro_nodes:
        say("adding the kedro_krt runtime and the runner image's files")
        files.update(runtime_files())
        _requirements(kedro_nodes, config, protos, files, handwritten, warnings)
        dockerfile = _dockerfile(manifest, kedro_nodes, files, handwritten, warnings)
    elif config.requirements:
        warnings.append(
            f"`requirements:` of {BUILD_FILE} is for the runner image of nodes made from "
            "Kedro, and there is none: it is not used"
        )
    stray = sorted(n for n in files if n.endswith(".krt"))
    if stray:
        warnings.append(
            f"{stray[0]} is a .krt inside the KRT: list it (or its folder) in {IGNORE_FILE}"
        )

    say("validating")
    checked = validate_files(files)
    errors = [p for p in checked if p.severity == "error"]
    if errors:
        listing = "\n".join(f"  - {p.location}: {p.message}" for p in errors)
        raise BuildError(f"the KRT does not validate:\n{listing}")
    warnings.extend(f"{p.location}: {p.message}" for p in checked if p.severity == "warning")

    executable = sorted(tree.executable & set(files))
    say(f"writing {len(files)} files")
    try:
        write_krt(files, dest, executable=executable)
    except KrtArchiveError as exc:
        raise BuildError(str(exc)) from None
    from kedro_krt.handwritten.report import render_build_report

    report = render_build_report(
        manifest=manifest,
        executable=set(executable),
        left_out=tree.left_out,
        ignore_rules=len(tree.ignore.rules),
        nodes=kedro_nodes,
        placed=placed,
        portable=portable,
        warnings=warnings,
        dockerfile=dockerfile,
    )
    return BuildResult(
        path=dest,
        version=manifest.version,
        files=len(files),
        size=dest.stat().st_size,
        nodes=tuple(kedro_nodes),
        report=report,
        warnings=tuple(warnings),
    )


def _plan_kedro(
    root: Path,
    manifest: Manifest,
    config: BuildConfig,
    files: dict[str, bytes],
    protos: CompiledProtos,
    say: Progress,
) -> list[KedroNode]:
    sources = _kedro_sources(manifest, config, files)
    # One Kedro project is configured per process at a time (its settings, its pipeline
    # registry): every node of one project and env is planned before the next is opened.
    groups: dict[tuple[Path, str], list[tuple[str, str, KedroSource]]] = {}
    for name, src, source in sources:
        path = Path(source.project)
        path = (path if path.is_absolute() else root / path).resolve()
        groups.setdefault((path, source.env), []).append((name, src, source))
    planned: list[KedroNode] = []
    packages: dict[str, Path] = {}
    for (path, env), members in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        say(f"opening the Kedro project {path.name} (conf env {env})")
        project = _open(path, env, members[0][0])
        package = project.package_name  # type: ignore[attr-defined]
        if packages.setdefault(package, path) != path:
            raise BuildError(
                f"the Kedro projects {packages[package]} and {path} both hold the package "
                f"'{package}': one Python process cannot import both; use one of them"
            )
        for name, src, source in members:
            folder = _check_folder(name, source.folder or f"kedro/{package}")
            say(f"checking node '{name}': pipeline '{source.pipeline}' of {path.name}")
            planned.append(
                plan_kedro_node(
                    name=name,
                    src=src,
                    source=source,
                    project=project,  # type: ignore[arg-type]
                    folder=folder,
                    manifest=manifest,
                    protos=protos,
                )
            )
    return sorted(planned, key=lambda n: n.name)


def _ship_projects(
    nodes: list[KedroNode], files: dict[str, bytes], handwritten: set[str], warnings: list[str]
) -> None:
    """Each project once per folder: its package, conf and the artifacts its nodes load."""
    by_folder: dict[str, list[KedroNode]] = {}
    for node in nodes:
        by_folder.setdefault(node.folder, []).append(node)
    for folder, members in sorted(by_folder.items()):
        paths = {m.project.path for m in members}
        if len(paths) > 1:
            raise BuildError(
                f"nodes {', '.join(m.name for m in members)} put different Kedro projects in "
                f"{folder}/: give them different `folder:` values"
            )
        clash = sorted(n for n in handwritten if n.startswith(f"{folder}/"))
        if clash:
            raise BuildError(
                f"{folder}/ already holds {clash[0]} in the KRT source folder, and the build "
                f"copies the Kedro project of node '{members[0].name}' there: choose another "
                f"`folder:` in {BUILD_FILE}, or remove that folder (or list it in {IGNORE_FILE})"
            )
        project = members[0].project
        try:
            shipped = project_files(project, sorted({m.source.env for m in members}))
            artifacts = sorted({a for m in members for a in m.artifacts})
            found: list[str] = []
            for rel, path in artifact_files(project, artifacts, found):
                shipped[rel] = path.read_bytes()
        except PackageError as exc:
            raise BuildError(f"the Kedro project of node '{members[0].name}': {exc}") from None
        warnings.extend(f"node '{members[0].name}': {w}" for w in found)
        for rel, data in shipped.items():
            files[f"{folder}/{rel}"] = data


def _place_pb2(
    manifest: Manifest,
    kedro_nodes: list[KedroNode],
    protos: CompiledProtos,
    files: dict[str, bytes],
    handwritten: set[str],
    warnings: list[str],
) -> tuple[dict[str, list[str]], set[str]]:
    """Every Python node folder gets the generated modules its files import (and theirs):
    protoc's output as it is, or, in the folder of a node on kre-py's image, the portable code
    (:mod:`kedro_krt.emit.portable`) that kre-py's protobuf 3.20 imports. Returns the modules
    placed in each folder, and the folders that got the portable code."""
    placed: dict[str, list[str]] = {}
    portable: set[str] = set()
    planned = {n.name: n for n in kedro_nodes}
    folders: dict[str, list[str]] = {}
    images = {spec.name: ImageName.parse(spec.image) for spec in manifest.nodes}
    for spec in manifest.nodes:
        if spec.src.endswith(".py"):
            folders.setdefault(posixpath.dirname(posixpath.normpath(spec.src)), []).append(
                spec.name
            )
    replaced: list[str] = []
    for folder, names in sorted(folders.items()):
        python = {
            n: d
            for n, d in files.items()
            if n.startswith(f"{folder}/") and n.endswith(".py") and not n.endswith("_pb2.py")
        }
        imported = imported_modules(python)
        needed = {p for p in protos.sources if module_of(p) in imported}
        for name in names:
            plan = planned[name].plan if name in planned else None
            if plan is not None:
                needed |= {plan.node.input_proto, plan.node.output_proto}
        missing = sorted(
            m
            for m in imported
            if m.endswith("_pb2")
            and protos.proto_of_module(m) is None
            and f"{folder}/{m}.py" not in files
        )
        for module in missing:
            warnings.append(
                f"{folder}/ imports {module}, which no proto at the root of the KRT makes and "
                "no file of the folder holds"
            )
        # The portable code imports under protobuf 3.20 to 7.x: a folder shared with a node on
        # another image gets it too.
        stock = any(images[n].is_stock_python for n in names)
        generated = protos.portable if stock else protos.modules
        modules = [module_of(p) for p in protos.closure(needed)]
        for module in modules:
            target = f"{folder}/{module}.py"
            if target in handwritten and files[target] != generated[module]:
                replaced.append(target)
            files[target] = generated[module]
        if modules:
            placed[folder] = modules
            if stock:
                portable.add(folder)
    if replaced:
        warnings.append(
            f"{', '.join(replaced)}: replaced by protoc's output from the KRT's protos (the "
            "build compiles them; the copies in the source folder were stale or from another "
            "protoc)"
        )
    for spec in manifest.nodes:
        folder = posixpath.dirname(posixpath.normpath(spec.src))
        old = images[spec.name].old_protobuf()
        if folder in placed and old is not None:
            warnings.append(
                f"node '{spec.name}' runs on {spec.image}, whose Pipfile.lock pins protobuf "
                f"{old}: the *_pb2.py made for it need protobuf 3.20 or later; use kre-py 2.1.5 "
                "(KRE 7) or 3.4.1 (KRE 8), which have 3.20.1"
            )
    return placed, portable


def _requirements(
    nodes: list[KedroNode],
    config: BuildConfig,
    protos: CompiledProtos,
    files: dict[str, bytes],
    handwritten: set[str],
    warnings: list[str],
) -> None:
    sections: list[tuple[str, str, bool]] = []
    if "requirements.txt" in handwritten:
        sections.append(
            ("requirements.txt of the KRT source folder", files["requirements.txt"].decode(), False)
        )
    seen: set[Path] = set()
    for node in nodes:
        path = node.project.path
        if path in seen:
            continue
        seen.add(path)
        req = path / "requirements.txt"
        text = req.read_text(encoding="utf-8") if req.is_file() else ""
        sections.append(
            (f"requirements.txt of the Kedro project {node.project.project_name}", text, True)
        )
    if config.requirements:
        sections.append((f"`requirements:` of {BUILD_FILE}", "\n".join(config.requirements), False))
    try:
        protobuf = generate.protobuf_requirement(
            [*protos.modules.values(), *(d for n, d in files.items() if n.endswith("_pb2.py"))]
        )
    except ValueError as exc:
        raise BuildError(str(exc)) from None
    text, found = generate.merged_requirements(sections, protobuf=protobuf)
    files["requirements.txt"] = text.encode()
    warnings.extend(found)


def _dockerfile(
    manifest: Manifest,
    nodes: list[KedroNode],
    files: dict[str, bytes],
    handwritten: set[str],
    warnings: list[str],
) -> bool:
    """Write the runner image's Dockerfile unless the folder has one; whether it was written."""
    if "Dockerfile" in handwritten:
        return False
    images = {n.name: n.image for n in manifest.nodes}
    used = sorted({images[n.name] for n in nodes})
    if len(used) > 1:
        warnings.append(
            f"the nodes made from Kedro run on {len(used)} images ({', '.join(used)}); the "
            f"Dockerfile builds {used[0]}: one runner image serves them all"
        )
    files["Dockerfile"] = generate.dockerfile_for(manifest.version, used[0]).encode()
    return True
