""".dockerignore patterns, Docker's rules."""

from __future__ import annotations

import pytest

from skiff.build.dockerignore import PatternMatcher, clean, read_patterns


def test_read_patterns() -> None:
    text = "\ufeff# comment\n  /a/b/  \n\n!  /keep\nx/../y\n *.md\n"
    assert read_patterns(text) == ["a/b", "!keep", "y", "*.md"]


@pytest.mark.parametrize(("path", "out"), [("a//b/../c/", "a/c"), ("", "."), ("/..", "/"), ("../a", "../a")])
def test_clean(path: str, out: str) -> None:
    assert clean(path) == out


@pytest.mark.parametrize(("patterns", "path", "ignored"), [
    (["*.md"], "README.md", True),
    (["*.md"], "docs/a.md", False),
    (["**/*.md"], "docs/a.md", True),
    (["**/*.md"], "a.md", True),
    (["docs"], "docs/x/y.txt", True),
    (["docs/**"], "docs/x/y.txt", True),
    (["*.md", "!README.md"], "README.md", False),
    (["*.md", "!README.md"], "CHANGES.md", True),
    (["!README.md", "*.md"], "README.md", True),
    (["a?c"], "abc", True),
    (["a?c"], "a/c", False),
    (["[a-c]x"], "bx", True),
    (["[^a]x"], "ax", False),
    (["dir/*/x"], "dir/y/x", True),
    (["dir/**/x"], "dir/x", True),
    (["dir/**/x"], "dir/a/b/x", True),
    (["**"], "anything/at/all", True),
    (["a\\*b"], "a*b", True),
    (["a\\*b"], "axb", False),
    ([".git"], ".git/config", True),
])
def test_matches(patterns: list[str], path: str, ignored: bool) -> None:
    assert PatternMatcher(patterns).matches(path) is ignored


def test_root_is_never_ignored() -> None:
    assert not PatternMatcher(["**"]).matches(".")


def test_excluded_dir_with_reincluded_child() -> None:
    m = PatternMatcher(["dir", "!dir/keep"])
    assert m.matches("dir") and m.matches("dir/other") and not m.matches("dir/keep")
    assert m.may_include_below("dir") and not m.may_include_below("elsewhere")
    assert not PatternMatcher(["dir"]).may_include_below("dir")


def test_illegal_exclusion() -> None:
    with pytest.raises(Exception, match="illegal exclusion"):
        PatternMatcher(["!"])
