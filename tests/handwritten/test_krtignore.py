"""`.krtignore` with kli's semantics (konstellation-io/kli -> konstellation-io/kre @ 65666c1e,
libs/krt-utils/pkg/builder/builder.go, matching with mattn/go-zglob v0.0.3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from kedro_krt.handwritten.assemble import collect_tree
from kedro_krt.handwritten.errors import BuildError
from kedro_krt.handwritten.ignore import Glob, KrtIgnore, go_clean


@pytest.mark.parametrize(
    ("pattern", "name", "expected"),
    [
        # The cases of kli's own builder test (TestBuilder_skipFile).
        ("**/**.WARN*.*", "test.WARNING1234235test", False),
        ("**/**.WARN*.*", "test1/test/test.WARNING.log", True),
        ("**/**.WARN*.*", "test.WARNING.log", True),
        ("**/konstellation-io*", "konstellation-io.go", True),
        ("**/konstellation-io*", "/foo/bar/konstellation-io.log", True),
        # '*' stays within one path part, '**/' crosses folders (also none).
        ("*.pyc", "main.pyc", True),
        ("*.pyc", "src/etl/main.pyc", False),
        ("**/*.pyc", "src/etl/main.pyc", True),
        ("src/**/*.md", "src/a/b/c.md", True),
        ("src/**/*.md", "src/c.md", True),
        ("src/**/*.md", "docs/c.md", False),
        # Braces, and '?' and '[' as literal characters (not wildcards in go-zglob).
        ("src/{a,b}/*.py", "src/b/x.py", True),
        ("src/{a,b}/*.py", "src/c/x.py", False),
        ("a?b*", "axb1", False),
        ("a?b*", "a?b1", True),
        # A line without a wildcard is the path itself, exactly.
        ("docs/draft.md", "docs/draft.md", True),
        ("docs/draft.md", "x/docs/draft.md", False),
        # A trailing '**' is two single-part wildcards: direct children only.
        ("notes/**", "notes/a.txt", True),
        ("notes/**", "notes/a/b.txt", False),
        # No longer than the part before the first wildcard: never a match.
        ("src/*", "src", False),
    ],
)
def test_glob_matches_as_go_zglob(pattern: str, name: str, expected: bool) -> None:
    assert (name == pattern or Glob.parse(pattern).match(name)) is expected


def test_go_clean_is_gos_path_clean() -> None:
    assert go_clean("") == "."
    assert go_clean("a//b/./c/..") == "a/b"
    assert go_clean("/../a") == "/a"
    assert go_clean("../a/") == "../a"


def _tree(root: Path, files: list[str]) -> Path:
    for name in files:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(name, encoding="utf-8")
    return root


def test_a_line_naming_a_folder_leaves_out_all_under_it_and_like_kli_its_prefix(
    tmp_path: Path,
) -> None:
    _tree(tmp_path, ["build/a.txt", "build/deep/b.txt", "builder.txt", "keep.txt"])
    ignore = KrtIgnore.parse("build\n", tmp_path)
    assert ignore.excludes("build/a.txt") and ignore.excludes("build/deep/b.txt")
    # kli adds "build**/*", which also matches a file that only starts like the folder.
    assert ignore.excludes("builder.txt")
    assert not ignore.excludes("keep.txt")


def test_a_line_ending_in_a_star_covers_folders_of_that_prefix(tmp_path: Path) -> None:
    ignore = KrtIgnore.parse("tmp*\n", tmp_path)
    assert ignore.excludes("tmp1") and ignore.excludes("tmp1/x.txt")
    assert not ignore.excludes("src/tmp1")


def test_blank_lines_comments_and_crlf_are_not_patterns(tmp_path: Path) -> None:
    # kli would turn the blank line into "**/*" and leave out everything.
    ignore = KrtIgnore.parse("# drafts\r\n\r\n*.log\r\n\n", tmp_path)
    assert [r.text for r in ignore.rules] == ["*.log"]
    assert ignore.excludes("x.log") and not ignore.excludes("krt.yml")


def test_a_glob_that_matches_a_folder_but_not_its_files_warns(tmp_path: Path) -> None:
    _tree(tmp_path, ["krt.yml", "notebooks/.ipynb_checkpoints/a.ipynb"])
    (tmp_path / ".krtignore").write_text("**/.ipynb_checkpoints\n", encoding="utf-8")
    tree = collect_tree(tmp_path)
    assert "notebooks/.ipynb_checkpoints/a.ipynb" in tree.files  # as kli packs it
    (warning,) = tree.ignore.folder_warnings(tree.files)
    assert "matches the folder notebooks/.ipynb_checkpoints/" in warning
    assert "**/.ipynb_checkpoints/**/*" in warning


def test_the_tree_never_holds_build_files_caches_or_secrets(tmp_path: Path) -> None:
    _tree(
        tmp_path,
        ["krt.yml", "krt-build.yml", ".krtignore", "src/a/main.py", "src/a/__pycache__/m.pyc"],
    )
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "run").write_text("#!/bin/sh\n", encoding="utf-8")
    (tmp_path / "bin" / "run").chmod(0o755)
    tree = collect_tree(tmp_path)
    assert sorted(tree.files) == ["bin/run", "krt.yml", "src/a/main.py"]
    assert tree.executable == {"bin/run"}
    (tmp_path / "deploy.pem").write_text("secret", encoding="utf-8")
    with pytest.raises(BuildError, match=r"deploy\.pem looks like a secret .* in \.krtignore"):
        collect_tree(tmp_path)
    (tmp_path / ".krtignore").write_text("*.pem\n", encoding="utf-8")
    assert "deploy.pem" in collect_tree(tmp_path).left_out


def test_a_symbolic_link_is_refused_unless_left_out(tmp_path: Path) -> None:
    _tree(tmp_path, ["krt.yml", "data/real.csv"])
    (tmp_path / "link.csv").symlink_to(tmp_path / "data" / "real.csv")
    with pytest.raises(BuildError, match=r"link\.csv is a symbolic link"):
        collect_tree(tmp_path)
    (tmp_path / ".krtignore").write_text("link.csv\n", encoding="utf-8")
    assert "link.csv" not in collect_tree(tmp_path).files
