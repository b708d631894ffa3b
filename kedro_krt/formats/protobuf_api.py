"""Hand-written node code that calls protobuf APIs a current protobuf no longer has.

KRE's stock kre-py images run protobuf 3.20.1, so code written for them may call what
protobuf 5.26 and later removed (KRE's own ny-house-price-estimator example calls
``MessageToDict(..., including_default_value_fields=True)``). Under kedro_krt.node.runner, or any
image with the protobuf a .krt's generated code needs, such a node fails on every message; the
validator says so before anything runs, naming the file, the line and the replacement.

Each entry of :data:`REMOVED` was checked against protobuf's own released code (the version that
first lacks it); ``tests/krt/test_protobuf_api.py`` checks that the protobuf installed here
indeed refuses each one, so the list cannot claim what is not so.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from kedro_krt.formats.problems import Problem, warning


@dataclass(frozen=True)
class RemovedApi:
    """One protobuf Python API that is gone, and what to write instead."""

    what: str
    removed_in: str
    instead: str


#: Keyword arguments of ``json_format.MessageToJson`` / ``MessageToDict``.
REMOVED_KEYWORDS: Mapping[str, RemovedApi] = {
    "including_default_value_fields": RemovedApi(
        "including_default_value_fields=", "5.26.0", "always_print_fields_with_no_presence="
    ),
    "float_precision": RemovedApi(
        "float_precision=", "7.34.0", "no argument: round the floats of MessageToDict's result"
    ),
}
#: Modules.
REMOVED_MODULES: Mapping[str, RemovedApi] = {
    "google.protobuf.service": RemovedApi(
        "the module google.protobuf.service (generic services)",
        "6.30.0",
        "the *_pb2_grpc.py code of grpcio-tools",
    ),
}
#: Methods, by name (``MessageFactory.GetPrototype``, ``SymbolDatabase.GetPrototype``).
REMOVED_METHODS: Mapping[str, RemovedApi] = {
    "GetPrototype": RemovedApi(
        "GetPrototype()", "6.30.0", "google.protobuf.message_factory.GetMessageClass(descriptor)"
    ),
}
JSON_FORMAT_CALLS = ("MessageToJson", "MessageToDict")

#: Every entry, for the docs and the tests.
REMOVED: Mapping[str, RemovedApi] = {**REMOVED_KEYWORDS, **REMOVED_MODULES, **REMOVED_METHODS}


def _called_name(call: ast.Call) -> str:
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr
    if isinstance(func, ast.Name):
        return func.id
    return ""


def removed_uses(source: str, filename: str = "<node>") -> Iterator[tuple[int, RemovedApi]]:
    """(line, entry) for each use of a removed API in Python ``source``; nothing when the source
    does not parse (the import of the node reports that)."""
    try:
        tree = ast.parse(source, filename)
    except (SyntaxError, ValueError):
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            name = _called_name(node)
            if name in JSON_FORMAT_CALLS:
                for keyword in node.keywords:
                    if keyword.arg is not None and keyword.arg in REMOVED_KEYWORDS:
                        yield node.lineno, REMOVED_KEYWORDS[keyword.arg]
            elif name in REMOVED_METHODS:
                yield node.lineno, REMOVED_METHODS[name]
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name in REMOVED_MODULES:
                    yield node.lineno, REMOVED_MODULES[alias.name]
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            for name in names:
                if name in REMOVED_MODULES:
                    yield node.lineno, REMOVED_MODULES[name]
                    break


def check_protobuf_api(files: Mapping[str, bytes]) -> list[Problem]:
    """A warning per use of a removed protobuf API in the nodes' Python code (``src/``; the
    generated ``*_pb2.py`` files and the vendored ``lib/`` are not the user's code)."""
    problems = []
    for name in sorted(files):
        if not (name.startswith("src/") and name.endswith(".py")) or name.endswith(
            ("_pb2.py", "_pb2_grpc.py")
        ):
            continue
        source = files[name].decode("utf-8", errors="replace")
        for line, api in removed_uses(source, name):
            problems.append(
                warning(
                    f"{name}:{line}",
                    f"{api.what} is not in protobuf {api.removed_in} and later, and the node "
                    f"fails on every message under kedro_krt.node.runner and any image with a "
                    f"current protobuf (KRE's stock kre-py images have 3.20.1, where it still "
                    f"works); use {api.instead}",
                    "krt.protobuf-removed-api",
                )
            )
    return problems
