"""Check a KRT (archive, folder or file mapping) against KRE's rules and ours.

KRE checks little at upload (the YAML, and that each ``src`` exists) and fails later, or
silently, on the rest: a ``./`` entry, a file before its folder, a symlink, a typo in a key,
an rpc missing from the proto. This validator reports every one of those problems at once,
each with what to change.

Every format: the ``krtVersion`` of ``krt.yml`` picks the format in
:data:`kedro_krt.formats.krt_formats.FORMATS` (none, or ``v1``: KRT v1, checked by KRE 7's
rules; ``v2``: by KRE 8.2's), and this module asks that format object whatever differs. A
target KRE version (``kre="8.1"``, the CLI's ``--kre``) adds what that KRE says of the format:
KRE 8.1 and later refuse v1 (konstellation-io/kre commit 41dc2b5f, #706), in KRE's own words;
KRE 7 reads no v2; KRE 8.0 reads v2 without ``replicas`` and ``objectStore``. The archive
passes are the same at 7.0 and 8.2 (``krt/parser/parser.go``), and so is
:mod:`kedro_krt.formats.upload`.
"""

from __future__ import annotations

import difflib
import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from kedro_krt.formats.archive import (
    MAX_KRT_BYTES,
    EntryFault,
    KrtArchiveError,
    KrtFiles,
    LazyFiles,
    scan_krt,
)
from kedro_krt.formats.checks_base import ParsedManifest
from kedro_krt.formats.format_base import ManifestFormat
from kedro_krt.formats.krt_formats import AnyManifest, format_of, format_read_by
from kedro_krt.formats.manifest_base import RPC_RE
from kedro_krt.formats.manifest_v1 import NodeSpec, WorkflowSpec
from kedro_krt.formats.manifest_v2 import NodeV2, WorkflowV2
from kedro_krt.formats.problems import Problem, error, warning
from kedro_krt.formats.proto import ProtoError, describe_proto, is_legacy_pb2
from kedro_krt.formats.protobuf_api import check_protobuf_api
from kedro_krt.formats.rules import KAI_MANIFEST
from kedro_krt.formats.upload import (
    TarFormatError,
    UploadFailure,
    emulate_upload,
    is_manifest_name,
    kre_path,
    read_headers,
)
from kedro_krt.node.krt_version import KrtVersion
from kedro_krt.node.plan import PUBLIC_PROTO
from kedro_krt.scratch import scratch_folder

__all__ = [
    "Problem",
    "ValidationReport",
    "format_report",
    "validate_files",
    "validate_path",
]

_ENTRYPOINT_SERVICE = "Entrypoint"

#: The KRE versions ``--kre`` knows, by the rules that differ (see the module's docstring).
KRE_TARGETS = ("7", "8.0", "8.1", "8.2")


def kre_target(text: str | None) -> str | None:
    """``--kre``'s value as one of :data:`KRE_TARGETS` (``8.1.3`` -> ``8.1``, ``8`` -> ``8.0``,
    ``7.0.0`` or ``6`` -> ``7``, anything 8.2 or later -> ``8.2``); ``None`` stays ``None``.

    Raises:
        ValueError: for text that is not a version number.
    """
    if text is None:
        return None
    parts = text.strip().lstrip("vV").split(".")
    try:
        major = int(parts[0])
        minor = int(parts[1]) if len(parts) > 1 and parts[1] else 0
    except ValueError:
        raise ValueError(
            f"--kre {text!r}: give the KRE version the KRT goes to, e.g. 7, 8.0 or 8.2"
        ) from None
    if major < 8:
        return "7"
    if major == 8 and minor < 2:
        return f"8.{minor}"
    return "8.2"


_HOW_TO_BUILD = (
    "build the archive from inside the KRT folder (tar -czf x.krt -C <folder> krt.yml "
    "public_input.proto src ...) or with 'kedro krt package'"
)


@dataclass(frozen=True)
class ValidationReport:
    """The outcome of :func:`validate_path`.

    Attributes:
        source: the path that was checked, as given.
        problems: every problem found, errors and warnings, in the order found.
        checked: the checked manifest, of any format, or ``None`` when ``krt.yml`` is missing
            or has errors.
        kre: the KRE version the KRT was checked for (``None``: by its format alone).
        krt_version: the format ``krt.yml`` says it is in.
        manifest_only: only the manifest was checked (a krt.yml given as a file), not the
            files it names.
    """

    source: str
    problems: tuple[Problem, ...]
    checked: AnyManifest | None
    kre: str | None = None
    krt_version: KrtVersion = KrtVersion.V1
    manifest_only: bool = False

    @property
    def ok(self) -> bool:
        """Whether there is no error (warnings allowed)."""
        return not self.errors

    @property
    def errors(self) -> tuple[Problem, ...]:
        """The problems that make KRE refuse the KRT or break it at run time."""
        return tuple(p for p in self.problems if p.severity == "error")

    @property
    def warnings(self) -> tuple[Problem, ...]:
        """The problems worth a look that do not stop the KRT."""
        return tuple(p for p in self.problems if p.severity == "warning")


def validate_files(files: Mapping[str, bytes], kre: str | None = None) -> list[Problem]:
    """Check a KRT given as {root-relative posix path: content}: manifest, sources, proto.

    ``kre`` is the target KRE version (one of :data:`KRE_TARGETS`), or ``None``.

    Returns:
        Every problem found (empty when the KRT is valid).
    """
    return _validate_files(files, kre).problems


@dataclass(frozen=True)
class _Checked:
    """What the checks of a KRT's files found: the manifest (``None`` on any error), every
    problem, and the format ``krt.yml`` is in."""

    manifest: AnyManifest | None
    problems: list[Problem]
    krt_version: KrtVersion = KrtVersion.V1


def _validate_files(
    files: Mapping[str, bytes],
    kre: str | None = None,
    *,
    manifest_only: bool = False,
    manifest_name: str = "krt.yml",
) -> _Checked:
    if "krt.yml" not in files:
        kai = _kai_problem(files, "krt.yaml")
        return _Checked(None, [kai or _missing_manifest(files)])
    try:
        text = files["krt.yml"].decode("utf-8")
    except UnicodeDecodeError as exc:
        return _Checked(
            None,
            [error("krt.yml", f"krt.yml is not UTF-8 text ({exc}); save it as UTF-8", "krt.yaml")],
        )
    data = _yaml_data(text)
    if is_kai_manifest(data):
        # One line, not the v1 schema's dozen complaints about a file of another platform.
        return _Checked(None, [KAI_MANIFEST.at(manifest_name, file=manifest_name)])
    fmt = format_of(data)
    parsed = fmt.parse_lenient(text)
    problems = list(parsed.problems)
    problems += _target_problems(data, fmt, kre, parsed)
    if parsed.manifest is None or manifest_only:
        ok = parsed.ok and not any(p.severity == "error" for p in problems)
        return _Checked(parsed.manifest if ok else None, problems, fmt.krt_version)
    problems += _check_sources(parsed, files, fmt)
    problems += _check_gencode(files)
    problems += check_protobuf_api(files)
    problems += _check_proto(parsed, files)
    problems += _check_plans(parsed.manifest, files)
    ok = parsed.ok and not any(p.severity == "error" for p in problems)
    return _Checked(parsed.manifest if ok else None, problems, fmt.krt_version)


def is_kai_manifest(data: object) -> bool:
    """Whether parsed YAML is a product manifest of Konstellation's KAI platform (KRE's
    successor): workflows made of ``processes``, and no ``nodes`` anywhere, where a KRT v1 has
    top-level ``nodes`` and a KRT v2 has ``nodes`` in each workflow."""
    if not isinstance(data, Mapping) or "nodes" in data:
        return False
    workflows = data.get("workflows")
    if not isinstance(workflows, list) or not workflows:
        return False
    shaped = [w for w in workflows if isinstance(w, Mapping)]
    return any("processes" in w for w in shaped) and not any("nodes" in w for w in shaped)


def _kai_problem(files: Mapping[str, bytes], name: str) -> Problem | None:
    """The KAI problem when ``name`` (a manifest KRE would not read) is a KAI manifest."""
    if name not in files:
        return None
    try:
        data = _yaml_data(files[name].decode("utf-8"))
    except UnicodeDecodeError:
        return None
    return KAI_MANIFEST.at(name, file=name) if is_kai_manifest(data) else None


def _yaml_data(text: str) -> object:
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return None  # reported by the manifest checks


def _target_problems(
    data: object, fmt: ManifestFormat, kre: str | None, parsed: ParsedManifest[AnyManifest]
) -> list[Problem]:
    """What the target KRE version says of this format (see the module's docstring)."""
    if kre is None or not isinstance(data, Mapping):
        return []
    if kre not in fmt.kre_targets:
        # That KRE reads the KRT as a format it knows: what it answers, when the checks know.
        return [fmt.refused(kre, format_read_by(kre).kre_answer(data))]
    return fmt.target_problems(kre, data, parsed)


def _missing_manifest(files: Mapping[str, bytes]) -> Problem:
    names = sorted(files)
    nested = [n for n in names if n.endswith("/krt.yml")]
    other = [n for n in names if n.lower() in ("krt.yaml", "krt.yml")]
    if nested:
        hint = f"found {nested[0]}: krt.yml must sit at the root of the KRT; move it there"
    elif other:
        hint = f"found {other[0]}: KRE reads only a file named exactly krt.yml; rename it"
    else:
        hint = "add krt.yml (version, description, entrypoint, nodes, workflows) at the root"
    return error("krt.yml", f"error krt.yml file missing: {hint}", "kre.krt-yml-missing")


def _check_sources(
    parsed: ParsedManifest[AnyManifest], files: Mapping[str, bytes], fmt: ManifestFormat
) -> list[Problem]:
    assert parsed.manifest is not None
    problems: list[Problem] = []
    # Suggest only files no other node already runs: those are the likely typos' targets.
    taken = {posixpath.normpath(n.src) for n in parsed.manifest.nodes if n.src}
    python_files = [n for n in files if n.endswith(".py") and n not in taken]
    nodes: Sequence[NodeSpec | NodeV2] = parsed.manifest.nodes
    for node, path in zip(nodes, parsed.node_paths, strict=True):
        if not node.src:
            continue  # already reported as required or mistyped
        where = parsed.location(f"{path}.src")
        normalized = posixpath.normpath(node.src)
        if node.src.startswith("/") or normalized == ".." or normalized.startswith("../"):
            problems.append(
                error(
                    where,
                    f'"src: {node.src}" of node "{node.name}" points outside the KRT: write a '
                    "path relative to the KRT root, e.g. src/<node>/main.py",
                    "krt.src-path",
                )
            )
            continue
        if normalized in files:
            continue
        if any(name.startswith(normalized + "/") for name in files):
            hint = f"{node.src} is a folder; point src at the node's main file in it"
        else:
            close = difflib.get_close_matches(normalized, python_files, n=1, cutoff=0.6)
            hint = (
                f'did you mean "{close[0]}"?'
                if close
                else "add the file to the KRT or fix the path (relative to the KRT root)"
            )
        problems.append(fmt.src_missing(where, node.src, node.name, hint))
    return problems


def _check_gencode(files: Mapping[str, bytes]) -> list[Problem]:
    """Generated code that only an old protobuf runtime loads."""
    old = [n for n in files if n.endswith("_pb2.py") and is_legacy_pb2(files[n])]
    if not old:
        return []
    return [
        warning(
            ", ".join(sorted(old)),
            "generated by protoc before 3.19: it needs protobuf <= 3.20 at run time (KRE's "
            "kre-py images have 3.20.1), and fails to import under protobuf 4 or later "
            "('Descriptors cannot be created directly'), so under kedro_krt.node.runner or any "
            "modern Python image. Regenerate it with a current protoc (python -m grpc_tools.protoc "
            "--python_out=<node folder> <proto>); kedro-krt serve regenerates it on the fly",
            "krt.legacy-gencode",
        )
    ]


def _check_plans(manifest: AnyManifest, files: Mapping[str, bytes]) -> list[Problem]:
    """The compiled plan beside each node's main.py (a node kedro-krt made): in a format this
    kedro-krt reads, else which way the versions differ (``krt.plan-format``)."""
    import json

    from kedro_krt.formats.rules import PLAN_FORMAT, PLAN_UNREADABLE
    from kedro_krt.node.plan import plan_format_advice, plan_format_direction

    problems: list[Problem] = []
    seen: set[str] = set()
    for node in manifest.nodes:
        folder = node.src.rsplit("/", 1)[0] if "/" in node.src else ""
        name = f"{folder}/plan.json" if folder else "plan.json"
        if name in seen or name not in files:
            continue
        seen.add(name)
        try:
            data = json.loads(files[name])
        except ValueError as exc:
            problems.append(PLAN_UNREADABLE.at(name, error=f"not JSON: {exc}"))
            continue
        if not isinstance(data, Mapping) or "node" not in data:
            continue  # a plan.json of the user's own, not ours
        found = data.get("format")
        if plan_format_direction(found) is not None:
            problems.append(PLAN_FORMAT.at(name, advice=plan_format_advice(found)))
    return problems


def _check_proto(parsed: ParsedManifest[AnyManifest], files: Mapping[str, bytes]) -> list[Problem]:
    manifest = parsed.manifest
    assert manifest is not None
    declared = manifest.entrypoint.proto
    if declared.endswith(".proto") and declared in files:
        proto = declared
    elif PUBLIC_PROTO in files:
        proto = PUBLIC_PROTO  # a wrong declared name is reported by the manifest checks
    else:
        missing = declared if declared.endswith(".proto") else PUBLIC_PROTO
        return [
            error(
                missing,
                f'"{missing}" is not in the KRT: KRE\'s entrypoint builds its gRPC server from '
                f"{PUBLIC_PROTO} at the KRT root; add it, with a 'service Entrypoint' holding "
                "one rpc per workflow",
                "krt.proto-missing",
            )
        ]

    problems: list[Problem] = []
    with scratch_folder("krt-validate-") as root:
        # Every .proto of the KRT, so that imports between them (internal_nodes.proto, ...)
        # resolve as they will for the entrypoint.
        for name in files:
            if name.endswith(".proto") and ".." not in name.split("/"):
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(files[name])
        try:
            description = describe_proto(root / proto, [root])
        except ProtoError as exc:
            report = str(exc).replace(f"{root}{os.sep}", "").replace(str(root), "")
            return [
                error(
                    proto,
                    f"protoc rejects {proto}, so KRE's entrypoint would fail to start:\n"
                    f"{report}\nfix the proto where protoc points",
                    "krt.proto-compile",
                )
            ]

    rpcs = {rpc.name: rpc for rpc in description.services.get(_ENTRYPOINT_SERVICE, ())}
    if _ENTRYPOINT_SERVICE not in description.services:
        others = ", ".join(description.services) or "none"
        return [
            error(
                proto,
                f"{proto} has no 'service Entrypoint' (services found: {others}); KRE's "
                "entrypoint serves only that service: declare 'service Entrypoint { rpc "
                "<Name> (<Request>) returns (<Response>); }' with one rpc per workflow",
                "krt.service-missing",
            )
        ]

    used: set[str] = set()
    workflows: Sequence[WorkflowSpec | WorkflowV2] = manifest.workflows
    for workflow, path in zip(workflows, parsed.workflow_paths, strict=True):
        rpc_name = workflow.entrypoint
        if not rpc_name or not RPC_RE.match(rpc_name):
            continue  # already reported by the manifest checks
        used.add(rpc_name)
        where = parsed.location(f"{path}.entrypoint")
        rpc = rpcs.get(rpc_name)
        if rpc is None:
            close = difflib.get_close_matches(rpc_name, list(rpcs), n=1)
            hint = f'did you mean "{close[0]}"? ' if close else ""
            problems.append(
                error(
                    where,
                    f'Workflow "{workflow.name}" uses rpc "{rpc_name}", which is not in '
                    f"'service Entrypoint' of {proto} (rpcs: {', '.join(rpcs) or 'none'}): "
                    f"{hint}add the rpc to the service or fix the workflow's entrypoint",
                    "krt.rpc-missing",
                )
            )
        elif rpc.client_streaming or rpc.server_streaming:
            problems.append(
                error(
                    where,
                    f'rpc "{rpc_name}" streams, but KRE\'s entrypoint handles only unary rpcs: '
                    f"remove 'stream' from its request and response in {proto}",
                    "krt.rpc-streaming",
                )
            )
    for name in rpcs:
        if name not in used:
            problems.append(
                warning(
                    proto,
                    f'rpc "{name}" of service Entrypoint is used by no workflow: a call to it '
                    "would find no workflow; remove it or add a workflow with "
                    f'"entrypoint: {name}"',
                    "krt.rpc-unused",
                )
            )
    return problems


_TYPE_BYTE_NAMES = {
    b"1": "hardlink",
    b"2": "symlink",
    b"3": "chardev",
    b"4": "blockdev",
    b"6": "fifo",
    b"7": "contiguous file",
    b"S": "sparse file",
    b"g": "PAX global header",
    b"\0": "old-style (type NUL) file",
}


def _entry_key(name: str) -> str:
    """An entry's name as both readers give it: Go's keeps a folder's trailing '/'."""
    return name.rstrip("/") or name


def _upload_problems(
    path: Path, has_root_manifest: bool, faults: tuple[EntryFault, ...] = ()
) -> list[Problem]:
    """KRE's two upload passes replayed on the raw entries (:mod:`kedro_krt.formats.upload`),
    and the entries :func:`~kedro_krt.formats.archive.iter_krt` finds a fault in (what
    ``extract_krt``, so ``serve``, refuses): one problem per fault, in KRE's words when KRE
    fails on it, else in ours with what KRE does instead.

    Without a root ``krt.yml`` (missing, nested or wrapped) the manifest checks report the
    pass-1 failure, with a hint; here it would be said twice.
    """
    try:
        headers = read_headers(path)
    except TarFormatError as exc:
        return [error(str(path), f"KRE's tar reader would fail: {exc}", "kre.archive")]
    outcome = emulate_upload(headers)
    kre_failed: dict[str, UploadFailure] = {}
    for failure in outcome.failures:
        if failure.step == 2:
            kre_failed.setdefault(_entry_key(failure.entry), failure)
    problems: list[Problem] = []
    for fault in faults:
        problem = _fault_problem(fault, kre_failed.get(_entry_key(fault.entry)))
        if problem is not None:
            problems.append(problem)
    # An entry with a bad name is one problem (above), whatever else KRE does with it.
    badly_named = {_entry_key(f.entry) for f in faults if f.kind in ("absolute", "path")}
    reported_folders: set[str] = set()
    dot_prefixed = [h.name for h in headers if h.name.startswith("./") and h.name != "./"]
    for failure in outcome.failures:
        where = f"archive entry {failure.entry}"
        said = f"KRE answers: {failure.message}"
        if failure.step == 2 and _entry_key(failure.entry) in badly_named:
            continue
        if failure.step == 1:
            if not has_root_manifest:
                continue  # reported with a hint by the manifest checks
            problems.append(
                error(
                    where,
                    f"KRE takes the first entry named like krt.yml as the manifest, and that is "
                    f"{failure.entry}, not the root krt.yml; {said}. Leave {failure.entry} out "
                    "of the archive (only the root krt.yml may match '(^|/)krt.ya?ml$')",
                    "kre.manifest-first",
                )
            )
        elif failure.kind == "unknown-type":
            header = next(h for h in headers if h.name == failure.entry)
            kind = _TYPE_BYTE_NAMES.get(header.typeflag, f"type {header.typeflag!r}")
            if header.typeflag == b"g":
                problems.append(
                    error(
                        where,
                        "the archive has a PAX global header, which Go's tar reader returns "
                        f"as an entry: {said}. Write the archive without one (Python: no "
                        "pax_headers= in tarfile.open; GNU tar: --format=gnu)",
                        "kre.tar-global-header",
                    )
                )
            else:
                problems.append(
                    error(
                        where,
                        f"is a {kind}: KRE accepts only regular files and folders; {said}. "
                        "Put the file itself in the archive",
                        "kre.tar-type",
                    )
                )
        elif failure.kind == "outside":  # pragma: no cover - iter_krt flags every '..'
            problems.append(
                error(
                    where,
                    "'..' climbs out of the KRT: KRE writes it outside its folder, where the "
                    "version never sees it; every entry must be relative to the KRT root",
                    "krt.tar-path",
                )
            )
        elif failure.kind == "parent-missing":
            for folder in failure.missing:
                if folder in reported_folders:
                    continue
                reported_folders.add(folder)
                problems.append(
                    error(
                        where,
                        f'comes before an entry for its folder "{folder}/": KRE creates '
                        f"folders one by one (os.Mkdir); {said}. Add an entry for every folder "
                        f"before the files in it: {_HOW_TO_BUILD}",
                        "kre.tar-folder-order",
                    )
                )
        elif failure.kind == "exists" and failure.entry.strip("/") in (".", ""):
            problems.append(
                error(
                    "archive entry ./",
                    f"the archive has a './' entry, the folder KRE extracts into; {said}. "
                    f"{_HOW_TO_BUILD[0].upper()}{_HOW_TO_BUILD[1:]}",
                    "kre.tar-dot-entry",
                )
            )
        elif failure.kind == "exists":
            problems.append(
                error(
                    where,
                    f"names a folder that an earlier entry made already; {said}. Keep one "
                    "entry per folder",
                    "kre.tar-folder-twice",
                )
            )
        elif failure.kind in ("not-a-folder", "is-a-folder"):
            problems.append(
                error(
                    where,
                    f"uses one name for a file and a folder; {said}. Rename one of them",
                    "kre.tar-file-folder",
                )
            )
        # src-missing (step 3) is reported by the manifest checks, with a suggestion.
    for skipped in outcome.skipped:
        problems.append(
            warning(
                f"archive entry {skipped}",
                "its name matches KRE's manifest pattern '(^|/)krt.ya?ml$', so KRE never "
                "extracts it (only the first match is read, as the manifest); leave it out "
                "or rename it",
                "kre.manifest-skipped",
            )
        )
    if dot_prefixed:
        problems.append(
            warning(
                f"archive entry {dot_prefixed[0]}",
                f"{len(dot_prefixed)} entries start with './' (first: {dot_prefixed[0]}): "
                "KRE cleans them, but other tools do not; prefer root-relative names",
                "krt.tar-dot-prefix",
            )
        )
    return problems


def _fault_problem(fault: EntryFault, kre_failure: UploadFailure | None) -> Problem | None:
    """The problem of an entry ``extract_krt`` refuses, in the words it refuses it with, saying
    whether KRE refuses it too (``kre.*``: then KRE's own words are reported instead, by
    :func:`_upload_problems`) or accepts it (``krt.*``, ours: and what KRE does with it)."""
    where = f"archive entry {fault.entry}"
    if fault.kind in ("absolute", "path"):
        rel = kre_path(fault.entry)
        if rel is None:
            outside = (
                f"{fault.reason}. KRE writes it outside its folder (filepath.Join climbs the "
                "'..'), so the version never has it"
            )
            if fault.kind == "absolute":  # '/../x'
                return error(where, outside, "krt.tar-absolute")
            return error(where, outside, "krt.tar-path")
        if fault.kind == "absolute" and kre_failure is not None:
            return error(
                where,
                f"{fault.reason}. KRE fails on it too: {kre_failure.message}; name it {rel}",
                "krt.tar-absolute",
            )
        if fault.kind == "absolute":
            return error(
                where,
                f"{fault.reason}. KRE itself accepts it and writes it at {rel} in its folder "
                "(filepath.Join cleans the name), but kedro-krt serve refuses it (as Python's "
                f"tarfile does; GNU tar strips a leading '/'): name it {rel}",
                "krt.tar-absolute",
            )
        if kre_failure is not None:
            said = f"KRE fails on it too: {kre_failure.message}; name it {rel}"
        elif rel == fault.entry:
            said = "KRE accepts it as it is, but kedro-krt serve refuses it"
        else:
            said = f"KRE accepts it and writes it at {rel}, but kedro-krt serve refuses it"
        return error(where, f"{fault.reason}. {said}", "krt.tar-path")
    if kre_failure is not None:
        return None  # KRE fails on it: reported in KRE's words (a link, a folder twice, ...)
    if fault.kind == "duplicate":
        return error(
            where,
            f"{fault.reason}. KRE keeps the last copy (os.Create truncates), tar keeps the last "
            "and kedro-krt serve refuses the archive",
            "krt.tar-duplicate",
        )
    # pragma: no cover - Go's reader sees every such type too, and KRE fails on it
    return error(where, f"{fault.reason}. KRE's tar reader reads it otherwise", "krt.tar-type")


def _keep_for_checks(name: str, size: int) -> bool:
    """Whether the validator reads this file of an archive: manifests, protos, Python code
    and requirements, up to a size no such file reaches. Models and data are not read, only
    named and sized, so validating a .krt takes no more memory for a 400 MB model."""
    if size > _MAX_CHECKED_BYTES:
        return False
    base = name.rsplit("/", 1)[-1]
    return (
        name.endswith((".py", ".proto", ".yml", ".yaml", "/plan.json"))
        or base.startswith("requirements")
        or is_manifest_name(name)
    )


#: The largest file of an archive whose content the validator holds (a file above it that a
#: check reads, an absurd 16 MiB .py, is read again from the archive when the check asks).
_MAX_CHECKED_BYTES = 16 * 1024 * 1024


def _unwrap(files: KrtFiles) -> tuple[KrtFiles, Problem | None]:
    """Files of a KRT wrapped in one top folder, moved to the root, and the problem to report."""
    if "krt.yml" in files:
        return files, None
    tops = {name.split("/", 1)[0] for name in files}
    if len(tops) == 1:
        top = tops.pop()
        if f"{top}/krt.yml" in files:
            problem = error(
                f"archive entry {top}/",
                f'everything is inside a wrapping folder "{top}/": krt.yml must sit at the '
                f"root of the archive; {_HOW_TO_BUILD}",
                "kre.tar-wrapping-folder",
            )
            return files.under(f"{top}/"), problem
    return files, None


class _FolderFiles(LazyFiles):
    """The files of a folder as a mapping, read only when asked for (most never are)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.links: list[str] = []
        names: list[str] = []
        for folder, dirs, filenames in os.walk(root):
            base = Path(folder)
            for dirname in list(dirs):
                if (base / dirname).is_symlink():
                    self.links.append((base / dirname).relative_to(root).as_posix())
            for filename in filenames:
                path = base / filename
                rel = path.relative_to(root).as_posix()
                if path.is_symlink():
                    self.links.append(rel)
                if path.is_file():
                    names.append(rel)
        super().__init__(sorted(names))

    def __getitem__(self, key: str) -> bytes:
        if key not in self:
            raise KeyError(key)
        return (self.root / key).read_bytes()


def _validate_folder(folder: Path, kre: str | None) -> _Checked:
    files = _FolderFiles(folder)
    problems = [
        warning(
            link,
            "is a symbolic link: a .krt may hold only regular files and folders (KRE fails "
            "with 'uknown type'); replace it by the file itself before packaging",
            "kre.tar-type",
        )
        for link in files.links
    ]
    checked = _validate_files(files, kre)
    return replace(checked, problems=problems + checked.problems)


def _validate_archive(path: Path, kre: str | None) -> _Checked:
    problems: list[Problem] = []
    size = path.stat().st_size
    if size > MAX_KRT_BYTES:
        problems.append(
            error(
                str(path),
                f"the archive is {size / 2**20:.0f} MiB; KRE accepts uploads up to 500 MiB: "
                "leave out what the nodes do not need (data, caches, .git)",
                "kre.upload-size",
            )
        )
    try:
        # One streaming pass: every entry's fault and every file's name and size; only the
        # content of the files the checks read is held.
        scan = scan_krt(path, _keep_for_checks)
    except KrtArchiveError as exc:
        return _Checked(None, [*problems, error(str(path), str(exc), "kre.archive")])
    has_root_manifest = "krt.yml" in scan.files
    files, wrapped = _unwrap(scan.files)
    problems += _upload_problems(path, has_root_manifest, scan.faults)
    if wrapped is not None:
        problems.append(wrapped)
    checked = _validate_files(files, kre)
    return replace(checked, problems=problems + checked.problems)


def validate_path(path: str | Path, kre: str | None = None) -> ValidationReport:
    """Check a KRT given as a ``.krt`` archive, a folder, or a ``krt.yml`` (its folder).

    ``kre``: the KRE version it goes to (``"8.2"``, ``"7"``, ...; see :func:`kre_target`),
    or ``None`` to check it by its format alone.

    Never raises for a bad KRT: every problem, including "no such file", is in the report.
    """
    kre = kre_target(kre)
    source = str(path)
    target = Path(path)
    if not target.exists():
        problem = error(
            source, "no such file or folder: give a .krt, a KRT folder or a krt.yml", "krt.path"
        )
        return ValidationReport(source, (problem,), None, kre=kre)
    manifest_only = False
    if target.is_dir():
        checked = _validate_folder(target, kre)
    elif target.suffix in (".yml", ".yaml"):
        # The file the user named: its manifest alone. Its folder may hold anything (a venv,
        # a project); `validate FOLDER` checks the files the manifest names, and the report
        # says so rather than reading them silently.
        checked = _validate_files(
            {"krt.yml": target.read_bytes()}, kre, manifest_only=True, manifest_name=target.name
        )
        manifest_only = True
    else:
        checked = _validate_archive(target, kre)
    return ValidationReport(
        source,
        tuple(checked.problems),
        checked.manifest,
        kre,
        checked.krt_version,
        manifest_only=manifest_only,
    )


def format_report(report: ValidationReport) -> str:
    """The report as text: one line per problem, then a summary line."""
    # Continuation lines (protoc's report) are indented so each problem still starts a line.
    lines = [str(problem).replace("\n", "\n    ") for problem in report.problems]
    n_errors, n_warnings = len(report.errors), len(report.warnings)
    counts = f"{n_errors} error{'s' * (n_errors != 1)}, {n_warnings} warning" + "s" * (
        n_warnings != 1
    )
    if report.ok:
        target = f" for KRE {report.kre}" if report.kre else ""
        what = "manifest" if report.manifest_only else ""
        lines.append(
            f"OK: {report.source} is a valid KRT {report.krt_version}{' ' + what if what else ''}"
            f"{target} ({counts})"
        )
    else:
        lines.append(f"FAILED: {report.source}: {counts}")
    if report.manifest_only:
        folder = Path(report.source).parent
        lines.append(
            "  only the manifest was read: to check the files it names too (sources, protos, "
            f"plans), validate the folder ({folder}) or the .krt"
        )
    return "\n".join(lines)
