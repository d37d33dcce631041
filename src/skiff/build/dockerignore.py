"""``.dockerignore``: which context paths a build may see.

The rules are Docker's (``moby/patternmatcher`` and its ``ignorefile``):

* one pattern per line; lines starting with ``#`` are comments; surrounding
  whitespace is trimmed; each pattern is cleaned like ``filepath.Clean``
  and a leading ``/`` is dropped (``/a/b`` and ``a/b`` are the same);
* ``*`` and ``?`` match within one path component, ``[...]`` is a class,
  ``**`` matches any number of components (including none), ``\\`` escapes;
* a pattern matches a path if it matches the path *or any of its parent
  directories* (``build`` excludes ``build/x/y``);
* ``!pattern`` re-includes; the **last** matching pattern wins.

An excluded directory is still walked when some ``!`` pattern could match
inside it (``dir`` + ``!dir/keep``), so its re-included children survive.
Worked example: patterns ``["*.md", "!README.md", "docs/**"]`` exclude
``CHANGES.md`` and ``docs/a/b.txt`` but keep ``README.md`` and ``src/x.py``.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Iterable
from typing import NamedTuple

from skiff.errors import Invalid


def read_patterns(text: str) -> list[str]:
    """The patterns of a ``.dockerignore`` file, normalised (``ignorefile.ReadAll``)."""
    out = []
    for i, raw in enumerate(text.splitlines()):
        if i == 0:
            raw = raw.removeprefix("\ufeff")
        if raw.startswith("#"):
            continue
        pattern = raw.strip()
        if not pattern:
            continue
        invert = pattern.startswith("!")
        if invert:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        out.append("!" + pattern if invert else pattern)
    return out


def clean(path: str) -> str:
    """Go's ``filepath.Clean``: ``a//b/../c/`` -> ``a/c``, ``""`` -> ``.``."""
    if not path:
        return "."
    rooted = path.startswith("/")
    parts: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if parts and parts[-1] != "..":
                parts.pop()
            elif not rooted:
                parts.append("..")
            continue
        parts.append(part)
    out = "/".join(parts)
    return ("/" + out) if rooted else (out or ".")


class Pattern(NamedTuple):
    text: str  # cleaned pattern without "!"
    exclusion: bool  # a "!" re-inclusion
    regex: re.Pattern[str]
    dirs: int  # number of components


def _compile(pattern: str) -> re.Pattern[str]:
    out = ["^"]
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        i += 1
        if ch == "*":
            if i < n and pattern[i] == "*":
                i += 1
                if i < n and pattern[i] == "/":
                    i += 1
                out.append(".*" if i >= n else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "\\":
            if i < n:
                out.append(re.escape(pattern[i]))
                i += 1
            else:
                out.append(re.escape("\\"))
        elif ch == "[":
            j = pattern.find("]", i)
            if j < 0:
                raise Invalid.field(".dockerignore", "syntax error in pattern", pattern)
            # passed through as a regex class, as moby does (so "[^a]" negates)
            out.append("[" + pattern[i:j].replace("\\", "\\\\") + "]")
            i = j + 1
        else:
            out.append(re.escape(ch))
    out.append("$")
    return re.compile("".join(out), re.S)


class PatternMatcher:
    """Match slash-separated context paths against ignore patterns."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns: list[Pattern] = []
        for p in patterns:
            p = p.strip()
            if not p:
                continue
            exclusion = p.startswith("!")
            if exclusion:
                if len(p) == 1:
                    raise Invalid.field(".dockerignore", 'illegal exclusion pattern: "!"', p)
                p = p[1:]
            p = clean(p)
            self.patterns.append(Pattern(p, exclusion, _compile(p), len(p.split("/"))))
        self.has_exclusions = any(p.exclusion for p in self.patterns)

    def matches(self, path: str) -> bool:
        """Whether ``path`` is ignored (its parents count: ``MatchesOrParentMatches``)."""
        path = clean(path)
        if path == "." or not self.patterns:
            return False
        parent = posixpath.dirname(path)
        parents = parent.split("/") if parent else []
        matched = False
        for p in self.patterns:
            if p.exclusion != matched:
                continue
            hit = bool(p.regex.match(path))
            if not hit and parents:
                hit = any(p.regex.match("/".join(parents[:i + 1])) for i in range(len(parents)))
            if hit:
                matched = not p.exclusion
        return matched

    def may_include_below(self, directory: str) -> bool:
        """Whether an excluded ``directory`` must still be walked: some ``!``
        pattern starts with it (moby's archive walker uses this prefix test)."""
        prefix = clean(directory) + "/"
        return any(p.exclusion and (p.text + "/").startswith(prefix) for p in self.patterns)
