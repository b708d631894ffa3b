"""Plan + project -> the files of a .krt, then the archive.

What goes in: krt.yml, the protos, docs/README.md, per KRT node `src/<node>/` (main.py, plan.json,
the *_pb2.py files), the project's package and pyproject.toml, `conf/base` and the chosen env,
the artifact files the nodes load (the latest version of versioned datasets), the kedro_krt
runtime under `lib/`, requirements.txt and a Dockerfile. What never goes in: `conf/local`,
credentials files, caches, and whatever `exclude:` names.
"""

from __future__ import annotations

import fnmatch
import shlex
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import kedro_krt
from kedro_krt.compiler.config import CONFIG_NAME
from kedro_krt.compiler.project import KedroProject
from kedro_krt.emit import files as generate
from kedro_krt.emit.krt_formats import EMIT_FORMATS
from kedro_krt.emit.protoc import compile_protos, descriptor_set
from kedro_krt.formats.archive import write_krt
from kedro_krt.formats.validate import validate_files
from kedro_krt.node.errors import KrtError
from kedro_krt.node.plan import Plan
from kedro_krt.scratch import scratch_folder

Progress = Callable[[str], None]

#: Never packaged, whatever the config says: secrets and machine-local settings.
SECRET_PATTERNS = (
    "*credentials*.yml",
    "*credentials*.yaml",
    "*credentials*.json",
    "*.env",
    ".env",
    "*.pem",
    "*.key",
    "*id_rsa*",
    "*.netrc",
)
JUNK_PATTERNS = (
    "*__pycache__*",
    "*.pyc",
    "*.pyo",
    ".DS_Store",
    "*.egg-info*",
    ".ipynb_checkpoints*",
)


#: The part of kedro_krt a KRT node imports, vendored under lib/ so the archive carries the
#: exact runtime that matches its compiled plans (no grpc, no click, no compiler), and the KRE
#: node runner the generated Dockerfile copies into the image and starts (its CMD).
RUNTIME_MODULES = (
    "kedro_krt/__init__.py",
    "kedro_krt/py.typed",
    "kedro_krt/node/",
)


class PackageError(KrtError, ValueError):
    """Something stops the .krt from being written; says what to change."""


@dataclass(frozen=True)
class PackageResult:
    """What `package` wrote."""

    path: Path
    files: int
    size: int
    artifacts: tuple[str, ...]
    warnings: tuple[str, ...]


def is_secret(path: str) -> bool:
    """True for a relative posix path that must never leave the machine.

    `conf/local` and any credentials file under `conf/` never go; nor do key files, `.env`
    files and the like anywhere. Python modules are code, not secrets: a module named
    `credentials.py` is packaged (the project would not import without it).
    """
    parts = PurePosixPath(path).parts
    if not parts:
        return False
    if len(parts) >= 2 and parts[0] == "conf" and parts[1] == "local":
        return True
    name = parts[-1]
    if parts[0] == "conf" and fnmatch.fnmatch(name.lower(), "*credentials*"):
        return True
    if name.endswith(".py"):
        return False
    return any(fnmatch.fnmatch(name.lower(), p) for p in SECRET_PATTERNS)


#: Kept in a conf env that is empty once kedro-krt's own config is left out.
ENV_PLACEHOLDER = ".kedro-krt-env"
ENV_PLACEHOLDER_TEXT = (
    "Conf env '{env}' of this KRT: its only file was kedro-krt's krt.yml, which is not shipped. "
    "This file keeps the folder, which Kedro needs to start in this env.\n"
)


def _is_plugin_config(rel: str) -> bool:
    """Whether ``conf/<env>/...`` is kedro-krt's own config (``krt*``, ``krt*/**``)."""
    parts = rel.split("/")
    return len(parts) >= 3 and parts[0] == "conf" and parts[2].startswith(CONFIG_NAME)


def _excluded(path: str, patterns: tuple[str, ...]) -> bool:
    return any(
        fnmatch.fnmatch(path, p) or any(fnmatch.fnmatch(part, p) for part in path.split("/"))
        for p in (*JUNK_PATTERNS, *patterns)
    )


def _walk(root: Path, rel_to: Path) -> Iterator[tuple[str, Path]]:
    if root.is_file():
        yield root.relative_to(rel_to).as_posix(), root
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path.relative_to(rel_to).as_posix(), path


def project_files(project: KedroProject, envs: Sequence[str]) -> dict[str, bytes]:
    """What a KRT node needs of a Kedro project, by path relative to the project.

    ``pyproject.toml``, the package under ``src/``, ``conf/base`` and each env of ``envs``
    (never ``conf/local``, never credentials, never kedro-krt's own ``krt.yml``),
    ``conf/logging.yml``; not the artifacts (:func:`artifact_files`). ``exclude:`` of the
    project's krt.yml applies.
    """
    exclude = tuple(project.config.exclude)
    root = project.path
    files: dict[str, bytes] = {"pyproject.toml": (root / "pyproject.toml").read_bytes()}
    package_dir = root / "src" / project.package_name
    if not package_dir.is_dir():
        raise PackageError(f"the project's package was not found at {package_dir}")
    for rel, path in _walk(package_dir, root):
        if not _excluded(rel, exclude) and not is_secret(rel):
            files[rel] = path.read_bytes()
    for env in ["base", *sorted({e for e in envs if e != "base"})]:
        conf = root / "conf" / env
        if not conf.is_dir():
            raise PackageError(f"conf env '{env}' does not exist: {conf}")
        for rel, path in _walk(conf, root):
            # krt.yml and its siblings configure compilation; the nodes never read them, and
            # KRE would take conf/<env>/krt.yml for the version's manifest.
            if is_secret(rel) or _is_plugin_config(rel):
                continue
            if not _excluded(rel, exclude):
                files[rel] = path.read_bytes()
        if not any(name.startswith(f"conf/{env}/") for name in files):
            # Kedro's config loader refuses an env folder that does not exist, and a .krt has
            # folders only around files: an env that held only krt.yml needs a file of its own.
            files[f"conf/{env}/{ENV_PLACEHOLDER}"] = ENV_PLACEHOLDER_TEXT.format(env=env).encode()
    for extra in ("conf/logging.yml",):
        if (root / extra).is_file():
            files[extra] = (root / extra).read_bytes()
    return files


def runtime_files() -> dict[str, bytes]:
    """kedro_krt's node runtime and runner (:data:`RUNTIME_MODULES`), under ``lib/``."""
    files: dict[str, bytes] = {}
    lib_root = Path(kedro_krt.__file__).resolve().parent
    for rel, path in _walk(lib_root, lib_root.parent):
        if rel.startswith(RUNTIME_MODULES) and not _excluded(rel, ()):
            files[f"lib/{rel}"] = path.read_bytes()
    return files


def build_files(
    project: KedroProject, plan: Plan, progress: Progress | None = None
) -> tuple[dict[str, bytes], list[str], list[str]]:
    """All files of the .krt as {relative path: bytes}, the artifacts copied, and warnings."""
    say = progress or (lambda _: None)
    files: dict[str, bytes] = {}
    warnings: list[str] = []

    node_names = {n.name for w in plan.workflows for n in w.nodes}
    if project.package_name in node_names:
        raise PackageError(
            f"KRT node '{project.package_name}' would share src/ with the project's package: "
            "rename the node under `nodes:` in krt.yml"
        )

    say("generating krt.yml, protos and docs")
    files["krt.yml"] = generate.manifest(plan).to_yaml().encode()
    protos = generate.protos(plan)
    for name, text in protos.items():
        files[name] = text.encode()
    descriptors = descriptor_set(protos)
    files["docs/README.md"] = generate.docs_readme(plan, descriptors).encode()
    for example, text in generate.example_files(plan, descriptors).items():
        files[example] = text.encode()

    say("compiling protos with protoc")
    with scratch_folder("krt-pb2-") as tmp:
        generated = compile_protos(protos, tmp, pyi=False)
        pb2 = {p.name: p.read_bytes() for p in generated}
    for name, node_plan in generate.node_plans(plan).items():
        base = f"src/{name}"
        files[f"{base}/main.py"] = generate.main_py(node_plan, plan.krt_version).encode()
        files[f"{base}/plan.json"] = node_plan.dumps().encode()
        modules = EMIT_FORMATS[plan.krt_version].node_modules(node_plan, pb2)
        for module in sorted(modules):
            files[f"{base}/{module}.py"] = pb2[f"{module}.py"]

    say("collecting the project's package and conf")
    root = project.path
    files.update(project_files(project, [plan.env]))

    say("copying artifacts")
    names = sorted({d.name for w in plan.workflows for d in w.datasets if d.role == "artifact"})
    artifacts = artifact_files(project, names, warnings)
    for rel, path in artifacts:
        files[rel] = path.read_bytes()

    say("adding the kedro_krt runtime")
    files.update(runtime_files())

    req_path = root / "requirements.txt"
    project_reqs = req_path.read_text() if req_path.is_file() else ""
    try:
        protobuf = generate.protobuf_requirement(pb2.values())
    except ValueError as exc:
        raise PackageError(str(exc)) from exc
    files["requirements.txt"] = generate.requirements(
        project_reqs, tuple(project.config.requirements), protobuf=protobuf
    ).encode()
    files["Dockerfile"] = generate.dockerfile(plan).encode()

    leaked = sorted(p for p in files if is_secret(p))
    if leaked:  # defence in depth: nothing above should have let these in
        raise PackageError(f"refusing to package secrets: {', '.join(leaked)}")
    for name, cfg in _catalog_credentials(project, plan):
        warnings.append(
            f"dataset '{name}' uses credentials '{cfg}', which are never packaged: give them to "
            "KRE as `variables:` in krt.yml and read them in conf with ${env:NAME} through an "
            "`env` resolver in settings.py (Kedro 1.x allows ${oc.env:...} only in credentials "
            "files, which are never packaged; see the docs' how-to on secrets)"
        )
    return files, [rel for rel, _ in artifacts], warnings


def artifact_files(
    project: KedroProject, names: Sequence[str], warnings: list[str]
) -> list[tuple[str, Path]]:
    """The files of the artifacts ``names`` (the latest version of a versioned dataset), as
    (path relative to the project, file); what cannot be copied is a warning or an error."""
    out: list[tuple[str, Path]] = []
    root = project.path
    for name in names:
        config = project.dataset_config(name) or {}
        filepath = config.get("filepath") or config.get("path")
        if not filepath:
            warnings.append(
                f"artifact '{name}' has no local file in the catalog; it is loaded at init "
                "from wherever the catalog points"
            )
            continue
        if "://" in str(filepath) and not str(filepath).startswith("file://"):
            warnings.append(
                f"artifact '{name}' lives at {filepath}: not copied into the .krt, it is loaded "
                "from there at init"
            )
            continue
        path = Path(str(filepath).removeprefix("file://"))
        if not path.is_absolute():
            path = root / path
        try:
            rel = path.resolve().relative_to(root)
        except ValueError as exc:
            raise PackageError(
                f"artifact '{name}' is at {path}, outside the project: move it under data/"
            ) from exc
        if config.get("versioned"):
            versions = sorted(p for p in path.glob(f"*/{path.name}") if p.exists())
            if not versions:
                raise PackageError(
                    f"artifact '{name}' is versioned but has no saved version at {rel}/: run the "
                    "pipeline that produces it first (e.g. `kedro run --pipelines training`)"
                )
            latest = versions[-1]
            out.extend(_walk(latest, root))
        elif path.exists():
            out.extend(_walk(path, root))
        else:
            raise PackageError(
                f"artifact '{name}' has no data at {rel}: run the pipeline that produces it "
                "first, or list the dataset under `inputs:` in krt.yml if requests carry it"
            )
    for file, _ in out:
        if is_secret(file):
            raise PackageError(f"artifact file {file} looks like a secret and is never packaged")
    return out


def _catalog_credentials(project: KedroProject, plan: Plan) -> list[tuple[str, str]]:
    out = []
    for w in plan.workflows:
        for d in w.datasets:
            cfg = project.dataset_config(d.name) or {}
            if isinstance(cfg.get("credentials"), str):
                out.append((d.name, cfg["credentials"]))
    return sorted(set(out))


def package(
    project: KedroProject,
    plan: Plan,
    output_dir: Path,
    progress: Progress | None = None,
) -> PackageResult:
    """Write `<output_dir>/<version>.krt` and check it with the validator first."""
    files, artifacts, warnings = build_files(project, plan, progress)
    checked = validate_files(files)
    problems = [p for p in checked if p.severity == "error"]
    if problems:
        listing = "\n".join(f"  - {p.location}: {p.message}" for p in problems)
        raise PackageError(f"the generated KRT does not validate (a kedro-krt bug):\n{listing}")
    if progress:
        progress(f"writing {len(files)} files")
    dest = Path(output_dir) / f"{plan.version}.krt"
    write_krt(files, dest)
    return PackageResult(
        path=dest,
        files=len(files),
        size=dest.stat().st_size,
        artifacts=tuple(artifacts),
        # The validator's warnings too (an image KRE cannot pull, ...): said at package time.
        warnings=(
            *warnings,
            *(f"{p.location}: {p.message}" for p in checked if p.severity == "warning"),
        ),
    )


def image_commands(krt: Path, image: str, version: str) -> list[str]:
    """The shell commands that build and push the runner image of a .krt (see its Dockerfile):
    extract the .krt into ``build/<version>``, build that folder, push the image.

    ``krt`` is shown relative to the working directory when it is under it.
    """
    try:
        shown = Path(krt).resolve().relative_to(Path.cwd().resolve()).as_posix()
    except ValueError:
        shown = str(krt)
    folder = shlex.quote(f"build/{version}")
    return [
        f"mkdir -p {folder} && tar -xzf {shlex.quote(shown)} -C {folder}",
        f"docker build -t {shlex.quote(image)} {folder}",
        f"docker push {shlex.quote(image)}",
    ]


def write_compiled(plan: Plan, output_dir: Path) -> list[Path]:
    """`compile --output DIR`: krt.yml and the protos (checked by protoc), nothing else."""
    output_dir.mkdir(parents=True, exist_ok=True)
    protos = generate.protos(plan)
    with scratch_folder("krt-check-") as tmp:
        compile_protos(protos, tmp, pyi=False)
    descriptors = descriptor_set(protos)
    written = []
    outputs: Mapping[str, str] = {
        "krt.yml": generate.manifest(plan).to_yaml(),
        **protos,
        "docs/README.md": generate.docs_readme(plan, descriptors),
        **generate.example_files(plan, descriptors),
    }
    for name, text in outputs.items():
        path = output_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        written.append(path)
    return written
