"""Generated protobuf code that KRE's stock kre-py images can import.

protoc 5 and later write ``*_pb2.py`` files that first call
``google.protobuf.runtime_version.ValidateProtobufRuntimeVersion(...)``: a module that does not
exist before protobuf 5.26, and a check that refuses any runtime of another major version. kre-py's
images lock protobuf 3.20.1 (kre-runners, ``kre-py/Pipfile.lock`` at kre-py-v2.1.5 and
kre-py/v3.4.1, installed by ``pipenv install --system --deploy`` in its Dockerfile), so a node on
such an image fails at import: ``cannot import name 'runtime_version' from 'google.protobuf'``.

Everything else protoc 7 writes is protoc 3.20's own structure: ``AddSerializedFile`` on the
default pool, then ``internal.builder``'s two calls (there since protobuf 3.20.0), then, for the
pure-Python implementation only, the offsets of each descriptor. :func:`portable_pb2` removes the
version check and the header line that names the gencode's version, and nothing else; the result
imports under every protobuf from 3.20 to 7.x (measured: docs/reference/compatibility.md). The
descriptor bytes stay protoc's, so the messages are the same on both sides of a NATS subject.
"""

from __future__ import annotations

import re

__all__ = ["PORTABLE_HEADER", "PORTABLE_PROTOBUF", "PortableGencodeError", "portable_pb2"]

#: The oldest protobuf runtime the portable code imports under (``internal.builder``).
PORTABLE_PROTOBUF = (3, 20, 0)
#: The line that replaces protoc's ``# Protobuf Python Version: X.Y.Z``: the portable code
#: constrains no runtime (kedro_krt.emit.files.gencode_version reads it as "no version").
PORTABLE_HEADER = (
    "# Made portable by kedro-krt: protoc's runtime version check removed, so that it imports\n"
    "# under every protobuf from 3.20 to 7.x (kre-py's images pin 3.20.1).\n"
)

_IMPORT = "from google.protobuf import runtime_version as _runtime_version\n"
_CHECK = re.compile(
    r"^_runtime_version\.ValidateProtobufRuntimeVersion\(\n(?:[^\n]*\n)*?\)\n", re.MULTILINE
)
_VERSION_LINE = re.compile(r"^# Protobuf Python Version: [^\n]*\n", re.MULTILINE)


class PortableGencodeError(RuntimeError):
    """protoc's output is not shaped as this module expects (a kedro-krt bug to report)."""


def portable_pb2(source: str, module: str = "") -> str:
    """``source`` (protoc 5 to 7's ``*_pb2.py``) without the runtime version check.

    Code that has no check (an older protoc's) comes back as it is, with the header line.

    Raises:
        PortableGencodeError: when the check is there but not in the shape protoc writes it:
            better no .krt than a node that fails on KRE.
    """
    text = _VERSION_LINE.sub(PORTABLE_HEADER, source, count=1)
    if PORTABLE_HEADER not in text:
        text = _add_header(text)
    if _IMPORT in text:
        text = text.replace(_IMPORT, "", 1)
        text, found = _CHECK.subn("", text, count=1)
        if not found:
            raise PortableGencodeError(
                f"{module or 'a generated module'}: protoc's runtime_version check is not in "
                "the shape kedro-krt removes; please report this with your grpcio-tools version"
            )
    # Only the code before the descriptor: its bytes may spell any name a proto declares.
    if "runtime_version" in text.split("\nDESCRIPTOR = ", 1)[0]:
        raise PortableGencodeError(
            f"{module or 'a generated module'}: protoc's output still uses runtime_version after "
            "kedro-krt removed its check; please report this with your grpcio-tools version"
        )
    return text


def _add_header(text: str) -> str:
    lines = text.splitlines(keepends=True)
    at = 0
    while at < len(lines) and lines[at].startswith("#"):
        at += 1
    return "".join([*lines[:at], PORTABLE_HEADER, *lines[at:]])
