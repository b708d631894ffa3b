"""`.krtignore`: what `kedro-krt build` leaves out of the archive, with kli's semantics.

Konstellation's `kli krt create DIR OUT.krt` (konstellation-io/kli, which calls the builder of
konstellation-io/kre @ 65666c1e, ``libs/krt-utils/pkg/builder/builder.go``, matching with
mattn/go-zglob v0.0.3) reads ``DIR/.krtignore`` and nothing else. Its rules, kept here:

* one pattern per line, matched against each path relative to DIR with ``/`` separators;
  there is no negation (``!``), no anchoring rule and no nested ``.krtignore``;
* a line without ``*`` or ``{`` matches only the path written, exactly (``docs/draft.md``);
* otherwise the line is a glob: ``*`` matches within one path part, ``**/`` any number of
  folders (also none), ``{a,b}`` either word; every other character is literal (``?`` and
  ``[`` are not wildcards). A name no longer than the part before the first wildcard never
  matches;
* a line naming a folder that exists (``notebooks`` or ``notebooks/``) also leaves out
  everything under it (kli adds ``<line>**/*``, so ``build`` also leaves out a file named
  ``builder.txt`` beside it); a line that ends in ``*`` and names nothing that exists also
  gets ``<line>*/*`` (``tmp*`` covers ``tmp1/x``);
* a glob that matches a folder does not leave out the files in it (kli leaves out the
  folder's own entry only, and KRE then refuses the archive): the files are packed, and the
  build warns.

Where kli is plainly broken, kedro-krt differs, and says so in the docs: a blank line is
skipped (kli turns it, and so the newline at the end of every file, into ``**/*``, which
leaves out everything), ``#`` starts a comment, a ``\\r`` at the end of a line is dropped,
and ``~`` and ``$VAR`` are not expanded (the same tree always gives the same archive).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

IGNORE_FILE = ".krtignore"


def go_clean(path: str) -> str:
    """Go's ``path.Clean``: the shortest equivalent path (``""`` becomes ``.``)."""
    if path == "":
        return "."
    rooted = path.startswith("/")
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out and out[-1] != "..":
                out.pop()
            elif not rooted:
                out.append("..")
            continue
        out.append(part)
    text = "/".join(out)
    if rooted:
        return "/" + text
    return text or "."


def go_join(*parts: str) -> str:
    """Go's ``path.Join``: the non-empty parts joined by ``/`` and cleaned; ``""`` if none."""
    kept = [p for p in parts if p != ""]
    return go_clean("/".join(kept)) if kept else ""


def _literal(char: str) -> str:
    # go-zglob keeps '/', ASCII letters and digits and runes above 255; the rest is escaped.
    if char == "/" or (char.isascii() and char.isalnum()) or ord(char) > 255:
        return char
    return f"[\\x{ord(char):02X}]"


@dataclass(frozen=True)
class Glob:
    """One pattern as mattn/go-zglob v0.0.3 ``Match`` reads it (see the module docstring)."""

    pattern: str
    root: str
    regex: re.Pattern[str] | None

    @classmethod
    def parse(cls, pattern: str) -> Glob:
        """Compile ``pattern`` the way go-zglob's ``New`` does (without ``~``/``$VAR``)."""
        globmask = ""
        root = ""
        for index, part in enumerate(pattern.split("/")):
            if root == "" and ("*" in part or "{" in part):
                root = "." if globmask == "" else globmask
            globmask = go_join(globmask, part)
            if index == 0 and globmask == "":
                globmask = "/"
        if root == "":
            return cls(pattern, "", None)
        chars = go_clean(globmask or ".")
        filemask = ""
        i = 0
        while i < len(chars):
            char = chars[i]
            if char == "*":
                if i < len(chars) - 2 and chars[i + 1] == "*" and chars[i + 2] == "/":
                    filemask += "(.*/)?"
                    i += 2
                else:
                    filemask += "[^/]*"
                i += 1
                continue
            if char == "{":
                words = ""
                for j in range(i + 1, len(chars)):
                    if chars[j] == ",":
                        words += "|"
                    elif chars[j] == "}":
                        i = j
                        break
                    else:
                        words += _literal(chars[j])
                if words:
                    filemask += f"({words})"
                    i += 1
                    continue
                char = chars[i]
            filemask += _literal(char)
            i += 1
        if filemask.endswith("/"):
            filemask += "[^/]*"
        return cls(pattern, go_clean(root), re.compile(filemask))

    def match(self, name: str) -> bool:
        """Whether the root-relative posix path ``name`` matches."""
        if self.regex is None:
            return self.pattern == name
        if name == "." or len(name.encode()) <= len(self.root.encode()):
            return False
        return self.regex.fullmatch(name) is not None


@dataclass(frozen=True)
class Rule:
    """A line of ``.krtignore`` (1-based ``line``) and the globs kli makes of it."""

    line: int
    text: str
    globs: tuple[Glob, ...]

    def match(self, name: str) -> bool:
        """kli's ``skipFile`` for this line: the exact text, or any of its globs."""
        return name == self.text or any(g.match(name) for g in self.globs)


@dataclass(frozen=True)
class KrtIgnore:
    """The rules of one ``.krtignore`` (none when the file is absent)."""

    rules: tuple[Rule, ...] = ()

    @classmethod
    def read(cls, root: Path) -> KrtIgnore:
        """The ``.krtignore`` at the root of the KRT source folder ``root``, if any."""
        path = Path(root) / IGNORE_FILE
        if not path.is_file():
            return cls()
        return cls.parse(path.read_text(encoding="utf-8"), Path(root))

    @classmethod
    def parse(cls, text: str, root: Path) -> KrtIgnore:
        """Rules from the text of a ``.krtignore``; ``root`` is where kli looks for folders."""
        rules = []
        for number, raw in enumerate(text.split("\n"), 1):
            line = raw.removesuffix("\r")
            if not line.strip() or line.startswith("#"):
                continue
            globs = [Glob.parse(line)]
            # kli's cleanPatterns: what the line names on disk adds a pattern.
            target = Path(go_join(str(root), line))
            if target.is_dir():
                globs.append(Glob.parse(f"{line}**/*"))
            elif target.exists():
                pass
            elif line.endswith("*"):
                globs.append(Glob.parse(f"{line}*/*"))
            rules.append(Rule(number, line, tuple(globs)))
        return cls(tuple(rules))

    def __bool__(self) -> bool:
        return bool(self.rules)

    def rule_for(self, name: str) -> Rule | None:
        """The first rule that leaves ``name`` out, or None when it is packed."""
        for rule in self.rules:
            if rule.match(name):
                return rule
        return None

    def excludes(self, name: str) -> bool:
        """Whether the root-relative posix path ``name`` is left out."""
        return self.rule_for(name) is not None

    def folder_warnings(self, kept: Iterable[str]) -> list[str]:
        """Folders a rule matches while files under them are packed (kli packs them too)."""
        kept = sorted(kept)
        folders = sorted(
            {"/".join(p.split("/")[:i]) for p in kept for i in range(1, p.count("/") + 1)}
        )
        out = []
        for folder in folders:
            rule = self.rule_for(folder)
            if rule is None:
                continue
            inside = [p for p in kept if p.startswith(folder + "/")]
            out.append(
                f".krtignore line {rule.line} ('{rule.text}') matches the folder {folder}/ but "
                f"not the {len(inside)} file(s) in it (first: {inside[0]}), which are packed, "
                f"as kli packs them: to leave the folder out, write '{folder}' or "
                f"'{rule.text.rstrip('/')}/**/*'"
            )
        return out
