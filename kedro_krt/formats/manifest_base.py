"""What every KRT manifest format shares: KRE's name rules, the error, the common sections, and
the ``krt.yml`` text writer.

The models of each format (:mod:`kedro_krt.formats.manifest_v1`,
:mod:`kedro_krt.formats.manifest_v2`) are built from these; nothing here knows which format it
serves, nor anything of Kedro.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import yaml

from kedro_krt.formats.problems import Problem
from kedro_krt.node.errors import KrtError

__all__ = [
    "MAX_NAME_LENGTH",
    "NAME_RE",
    "RPC_RE",
    "VARIABLE_RE",
    "ConfigSpec",
    "Entrypoint",
    "ManifestError",
    "is_valid_name",
    "krt_yaml",
    "readable_name",
    "to_valid_name",
]

#: KRE's resource-name rule for ``version``, node names and workflow names.
NAME_RE = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
#: KRE's limit on resource names (they become parts of Kubernetes names).
MAX_NAME_LENGTH = 19
#: An rpc name as protoc accepts it.
RPC_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
#: KRE's rule for ``config.variables`` and ``config.files`` (they become env var names).
VARIABLE_RE = re.compile(r"^[A-Z0-9]([_A-Z0-9]*[A-Z0-9])?$")


class ManifestError(KrtError, ValueError):
    """A manifest that breaks KRE's rules or ours; ``problems`` holds every one of them."""

    def __init__(self, problems: Sequence[Problem]) -> None:
        self.problems: tuple[Problem, ...] = tuple(problems)
        errors = [p for p in self.problems if p.severity == "error"] or list(self.problems)
        lines = "\n".join(f"  {p.location}: {p.message}" for p in errors)
        super().__init__(f"invalid krt.yml ({len(errors)} error(s)):\n{lines}")


@dataclass(frozen=True)
class Entrypoint:
    """``entrypoint:``: the public proto and the image of KRE's gRPC entrypoint."""

    proto: str
    image: str


@dataclass(frozen=True)
class ConfigSpec:
    """``config:``: env var names set per version in KRE's UI (``files`` hold a file's text)."""

    variables: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """``config:`` as plain data, empty lists left out (empty when there is nothing)."""
        config: dict[str, Any] = {}
        if self.variables:
            config["variables"] = list(self.variables)
        if self.files:
            config["files"] = list(self.files)
        return config


def krt_yaml(data: Mapping[str, Any]) -> str:
    """The ``krt.yml`` text of plain data: keys in their order, block style, deterministic."""
    return yaml.dump(
        dict(data),
        Dumper=_IndentedDumper,
        sort_keys=False,
        default_flow_style=False,
        allow_unicode=True,
        width=4096,
    )


class _IndentedDumper(yaml.SafeDumper):
    """Indents list items under their key, as people write krt.yml by hand."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def is_valid_name(name: object) -> bool:
    """Whether ``name`` is a valid KRE resource name (version, node or workflow name)."""
    return isinstance(name, str) and len(name) <= MAX_NAME_LENGTH and bool(NAME_RE.match(name))


def to_valid_name(name: str, max_len: int = MAX_NAME_LENGTH) -> str:
    """Turn any text into a valid KRE resource name.

    Accents are dropped, letters lowercased, every other character becomes ``-`` (runs of
    ``-`` collapse to one), ``-`` is trimmed from both ends, and the result is cut to
    ``max_len`` characters without leaving a trailing ``-``.

    Raises:
        ValueError: when ``name`` has no ASCII letter or digit to build a name from.
    """
    ascii_text = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    dashed = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    result = dashed[:max_len].rstrip("-")
    if not result:
        raise ValueError(
            f"cannot make a KRE resource name from {name!r}: it has no letter or digit; "
            "choose a name made of lowercase letters, digits and '-'"
        )
    return result


def name_suggestion(value: str) -> str:
    """`` (for example "<a valid name>")`` for an invalid KRE name, or "" when none is made."""
    try:
        return f' (for example "{to_valid_name(value)}")'
    except ValueError:
        return ""


def variable_suggestion(value: str) -> str:
    """`` (for example "<A_VALID_NAME>")`` for an invalid config variable name, or ""."""
    fixed = re.sub(r"[^A-Z0-9]+", "_", value.upper()).strip("_")
    return f' (for example "{fixed}")' if fixed else ""


_VOWELS = frozenset("aeiouy")


def _clip(word: str) -> str:
    """``word`` cut at its last syllable-like boundary (a consonant before a vowel), keeping at
    least 3 letters: ``preprocess`` -> ``preproc``, ``model`` -> ``mod``; the word itself when
    it has no such boundary (``cr`` would say nothing)."""
    for end in range(len(word) - 1, 2, -1):
        if word[end - 1] not in _VOWELS and word[end] in _VOWELS and word[end - 1].isalpha():
            return word[:end]
    return word


def readable_name(name: str, max_len: int = MAX_NAME_LENGTH) -> str:
    """A valid KRE resource name for ``name`` that stays readable within ``max_len``.

    The name as :func:`to_valid_name` makes it when it fits. Else, in order, until it fits:
    a trailing ``-node`` goes (Kedro's habit of naming nodes ``*_node`` says nothing here);
    then the longest word is clipped at a syllable boundary (``preprocess-companies-node`` ->
    ``preproc-companies``), again and again while a word can be; then whole words are dropped
    from the end. Never cut mid-word but for a single word longer than ``max_len``.

    Raises:
        ValueError: when ``name`` has no ASCII letter or digit to build a name from.
    """
    full = to_valid_name(name, max_len=10**6)
    if len(full) <= max_len:
        return full
    words = full.split("-")
    if len(words) > 1 and words[-1] == "node":
        words.pop()

    def joined() -> str:
        return "-".join(words)

    while len(joined()) > max_len:
        # The longest word that can still be clipped; ties: the last one (the first words
        # usually say what the node does).
        candidates = [(len(w), i) for i, w in enumerate(words) if _clip(w) != w]
        if not candidates:
            break
        _, index = max(candidates)
        words[index] = _clip(words[index])
    while len(joined()) > max_len and len(words) > 1:
        words.pop()
    return joined()[:max_len].rstrip("-")

