"""The Dockerfile parser: text to a list of instruction nodes with line numbers.

The grammar is BuildKit's (``frontend/dockerfile/parser``), which every
Docker builder shares:

* **Parser directives** (``# escape=``` ``, ``# syntax=...``, ``# check=``)
  are comments at the very top; the first other line ends them. ``escape``
  changes the escape and line-continuation character; ``syntax`` is recorded
  and otherwise ignored (there is no frontend image to switch to).
* **Lines**: leading whitespace is dropped, a line whose first non-blank is
  ``#`` is a comment, a trailing escape character continues the instruction
  on the next line. Comment lines and blank lines *inside* a continuation are
  skipped (blank ones with a warning, as Docker does).
* **Instruction**: the first word (case-insensitive), then ``--flag=value``
  words, then arguments, split per instruction (JSON array or shell string
  for RUN/CMD/ENTRYPOINT/SHELL, word lists for COPY/ADD/VOLUME/FROM/EXPOSE,
  ``k=v`` pairs (or legacy ``k v``) for ENV/LABEL, ...).
* **Heredocs** on RUN/COPY/ADD (also under ONBUILD): every ``<<EOF``,
  ``<<-EOF`` (leading tabs stripped from the body) or ``<<"EOF"`` (quoted:
  body not expanded) word of the instruction takes the following lines up to
  its terminator, in order, so several heredocs may share one line.

Errors are :class:`~skiff.errors.Invalid` naming ``<file>:<line>``.
"""

from __future__ import annotations

import json
import re
from typing import NamedTuple

from skiff.build.expand import Lexer
from skiff.errors import FieldError, Invalid

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"^(\d*)<<(-?)\s*([^<]*)$", re.S)
_DIRECTIVE = re.compile(r"^([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_DIRECTIVES = ("syntax", "escape", "check")
HEREDOC_COMMANDS = ("run", "copy", "add")


class Heredoc(NamedTuple):
    name: str
    content: str = ""
    expand: bool = True
    chomp: bool = False
    fd: int = 0


class Node(NamedTuple):
    """One instruction as written: nothing is expanded or validated yet."""

    cmd: str  # lower-case instruction name ("run", "copy", ...)
    original: str  # the logical line, continuations joined
    flags: tuple[str, ...]  # "--from=build", ...
    args: tuple[str, ...]  # per-instruction split (ENV/LABEL: key, value, delimiter triples)
    json: bool = False  # exec (JSON array) form
    heredocs: tuple[Heredoc, ...] = ()
    start_line: int = 0
    end_line: int = 0
    sub: Node | None = None  # the trigger of ONBUILD


class Dockerfile(NamedTuple):
    nodes: tuple[Node, ...]
    escape: str
    directives: dict[str, str]
    warnings: tuple[str, ...]
    filename: str = "Dockerfile"


def syntax_error(filename: str, line: int, message: str) -> Invalid:
    """The error every Dockerfile problem becomes: ``Dockerfile:7: <message>``."""
    return Invalid("dockerfile parse error", [FieldError(f"{filename}:{line}", message)])


def error_line(err: Invalid) -> int | None:
    """The line number an error from :func:`syntax_error` names."""
    for c in err.causes:
        _, _, line = c.field.rpartition(":")
        if line.isdigit():
            return int(line)
    return None


class _Parse:
    def __init__(self, text: str, filename: str) -> None:
        self.filename = filename
        self.lines = text.removeprefix("\ufeff").splitlines(keepends=True)
        self.i = 0  # index of the next line
        self.escape = "\\"
        self.directives: dict[str, str] = {}
        self.directives_done = False
        self.warnings: list[str] = []
        self._set_escape("\\")

    def error(self, line: int, message: str) -> Invalid:
        return syntax_error(self.filename, line, message)

    def _set_escape(self, token: str) -> None:
        if token not in ("`", "\\"):
            raise self.error(self.i, f"invalid escape token '{token}' does not match ` or \\")
        self.escape = token
        e = re.escape(token)
        self.continuation = re.compile(rf"([^{e}]){e}[ \t]*$|^{e}[ \t]*$")

    def _directive(self, line: str) -> bool:
        if self.directives_done:
            return False
        if not line.startswith("#"):
            self.directives_done = True
            return False
        m = _DIRECTIVE.match(line[1:].lstrip())
        if not m or m.group(1).lower() not in _DIRECTIVES:
            self.directives_done = True
            return False
        key = m.group(1).lower()
        if key in self.directives:
            raise self.error(self.i, f"only one {key} parser directive can be used")
        self.directives[key] = m.group(2)
        if key == "escape":
            self._set_escape(m.group(2))
        return True

    def _process(self, raw: str, strip_left: bool) -> str:
        line = raw.rstrip("\r\n")
        if strip_left:
            line = line.lstrip()
        self._directive(line)
        return "" if line.lstrip().startswith("#") else line

    def _trim_continuation(self, line: str) -> tuple[str, bool]:
        if self.continuation.search(line):
            return self.continuation.sub(r"\1", line), False
        return line, True

    def run(self) -> Dockerfile:
        nodes: list[Node] = []
        while self.i < len(self.lines):
            raw = self.lines[self.i]
            line = self._process(raw, True)
            self.i += 1
            start = self.i
            line, done = self._trim_continuation(line)
            if done and not line:
                continue
            parts = [line]
            empty_continuation = False
            while not done and self.i < len(self.lines):
                raw = self.lines[self.i]
                more = self._process(raw, False)
                self.i += 1
                if raw.lstrip().startswith("#"):
                    continue
                if not more.strip():
                    empty_continuation = True
                    continue
                more, done = self._trim_continuation(more)
                parts.append(more)
            logical = "".join(parts)
            if empty_continuation:
                self.warnings.append(f"Empty continuation line found in: {logical}")
            try:
                node = new_node(logical, self.escape)
            except _NodeError as e:
                raise self.error(start, str(e)) from None
            node = self._heredocs(node, start)
            nodes.append(node._replace(start_line=start, end_line=self.i))
        if not nodes:
            raise self.error(max(self.i, 1), "file with no instructions")
        return Dockerfile(tuple(nodes), self.escape, dict(self.directives), tuple(self.warnings), self.filename)

    def _heredocs(self, node: Node, start: int) -> Node:
        target = node.sub if node.cmd == "onbuild" and node.sub else node
        if target.cmd not in HEREDOC_COMMANDS or target.json or "<<" not in target.original:
            return node
        try:
            docs = heredocs_in(target.original)
        except Exception as e:  # a lexing error inside the heredoc word
            raise self.error(start, str(e)) from None
        filled = []
        for doc in docs:
            body: list[str] = []
            while True:
                if self.i >= len(self.lines):
                    raise self.error(start, "unterminated heredoc")
                raw = self.lines[self.i]
                self.i += 1
                candidate = raw.rstrip("\r\n")
                if doc.chomp:
                    candidate = candidate.lstrip("\t")
                if candidate == doc.name:
                    break
                body.append(raw)
            filled.append(doc._replace(content="".join(body)))
        if target is node:
            return node._replace(heredocs=tuple(filled))
        return node._replace(sub=target._replace(heredocs=tuple(filled)), heredocs=tuple(filled))


def parse(text: str, filename: str = "Dockerfile") -> Dockerfile:
    """Parse a whole Dockerfile (``filename`` only names it in errors)."""
    return _Parse(text, filename).run()


# --- heredoc words -----------------------------------------------------------


def parse_heredoc(word: str) -> Heredoc | None:
    """The heredoc a word like ``<<EOF``, ``<<-"EOF"`` or ``3<<EOF`` opens, else None."""
    m = _HEREDOC.match(word)
    if not m or not m.group(3):
        return None
    rest = m.group(3)
    plain = Lexer("\\", skip_unset=True).words(rest, {})
    if len(plain) != 1:
        return None
    raw = Lexer("\\", skip_unset=True, raw_quotes=True).words(rest, {})
    name = plain[0]
    quotes = name.count("'") + name.count('"')
    raw_quotes = raw[0].count("'") + raw[0].count('"') if raw else 0
    return Heredoc(name=name, expand=quotes == raw_quotes, chomp=m.group(2) == "-",
                   fd=int(m.group(1) or 0))


def heredocs_in(line: str) -> list[Heredoc]:
    """Every heredoc opened on an instruction line, left to right."""
    lexer = Lexer("\\", raw_quotes=True, raw_escapes=True, skip_unset=True)
    try:
        words = lexer.words(line, {})
    except Invalid:
        return []
    return [h for h in (parse_heredoc(w) for w in words) if h is not None]


def chomp(content: str) -> str:
    """``<<-`` bodies: leading tabs removed from every line."""
    return re.sub(r"(?m)^\t+", "", content)


# --- one logical line to a node ------------------------------------------------


class _NodeError(Exception):
    pass


def new_node(line: str, escape: str) -> Node:
    cmd, flags, rest = split_command(line, escape)
    lower = cmd.lower()
    split = _SPLITTERS.get(lower)
    if split is None:
        return Node(lower, line, tuple(flags), ())
    if lower == "onbuild":
        if not rest:
            return Node(lower, line, tuple(flags), ())
        sub = new_node(rest, escape)
        return Node(lower, line, tuple(flags), (sub.cmd, *sub.args), sub.json, sub=sub)
    args, is_json = split(rest, escape)
    return Node(lower, line, tuple(flags), tuple(args), is_json)


def split_command(line: str, escape: str) -> tuple[str, list[str], str]:
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _builder_flags(parts[1], escape)
    return parts[0], flags, rest.strip()


def _builder_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """Leading ``--name=value`` words (quotes and escapes processed)."""
    words: list[str] = []
    pos = 0
    n = len(line)
    while True:
        while pos < n and line[pos].isspace():
            pos += 1
        if pos >= n:
            return "", words
        if not line.startswith("--", pos):
            return line[pos:], words
        buf: list[str] = []
        quote = ""
        while pos < n:
            ch = line[pos]
            if not quote and ch.isspace():
                break
            if not quote and ch in "'\"":
                quote = ch
            elif quote and ch == quote:
                quote = ""
            elif ch == escape and pos + 1 < n:
                pos += 1
                buf.append(line[pos])
            elif ch != escape:
                buf.append(ch)
            pos += 1
        word = "".join(buf)
        if word == "--":
            return line[pos:], words
        words.append(word)


def parse_words(rest: str, escape: str) -> list[str]:
    """Whitespace-separated words, quotes and escapes *kept* (expansion strips them)."""
    words: list[str] = []
    buf: list[str] = []
    quote = ""
    blank_ok = False
    in_word = False
    i = 0
    n = len(rest)
    while i < n:
        ch = rest[i]
        if not in_word:
            if ch.isspace():
                i += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if i + 1 == n:
                    break
                buf.append(ch)
                i += 1
                ch = rest[i]
            buf.append(ch)
        elif ch.isspace():
            if blank_ok or buf:
                words.append("".join(buf))
            buf, blank_ok, in_word = [], False, False
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            if ch == escape:
                if i + 1 == n:
                    break
                buf.append(ch)
                i += 1
                ch = rest[i]
            buf.append(ch)
        i += 1
    if in_word and (blank_ok or buf):
        words.append("".join(buf))
    return words


def _name_val(rest: str, escape: str, key: str) -> tuple[list[str], bool]:
    words = parse_words(rest, escape)
    if not words:
        return [], False
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _NodeError(f"{key} must have two arguments")
        return [parts[0], parts[1], ""], False
    out: list[str] = []
    for word in words:
        if "=" not in word:
            raise _NodeError(f"Syntax error - can't find = in \"{word}\". Must be of the form: name=value")
        k, _, v = word.partition("=")
        out += [k, v, "="]
    return out, False


def _json(rest: str) -> list[str] | None:
    rest = rest.lstrip()
    if not rest.startswith("["):
        return None
    try:
        value = json.loads(rest)
    except ValueError:
        return None
    if not isinstance(value, list):
        return None
    if not all(isinstance(v, str) for v in value):
        raise _NodeError("when using JSON array syntax, arrays must be comprised of strings only")
    return value


def _maybe_json(rest: str, escape: str) -> tuple[list[str], bool]:
    if not rest:
        return [], False
    value = _json(rest)
    return (value, True) if value is not None else ([rest], False)


def _maybe_json_list(rest: str, escape: str) -> tuple[list[str], bool]:
    value = _json(rest)
    return (value, True) if value is not None else (_whitespace(rest, escape)[0], False)


def _whitespace(rest: str, escape: str) -> tuple[list[str], bool]:
    return ([w for w in _WHITESPACE.split(rest) if w] if rest else []), False


def _string(rest: str, escape: str) -> tuple[list[str], bool]:
    return ([rest] if rest else []), False


def _healthcheck(rest: str, escape: str) -> tuple[list[str], bool]:
    parts = re.split(r"\s+", rest, maxsplit=1)
    if not parts[0]:
        return [], False
    cmd, is_json = _maybe_json(parts[1] if len(parts) > 1 else "", escape)
    return [parts[0], *cmd], is_json


_SPLITTERS = {
    "add": _maybe_json_list, "copy": _maybe_json_list, "volume": _maybe_json_list,
    "arg": lambda rest, esc: (parse_words(rest, esc), False),
    "cmd": _maybe_json, "entrypoint": _maybe_json, "run": _maybe_json, "shell": _maybe_json,
    "env": lambda rest, esc: _name_val(rest, esc, "ENV"),
    "label": lambda rest, esc: _name_val(rest, esc, "LABEL"),
    "expose": _whitespace, "from": _whitespace,
    "maintainer": _string, "stopsignal": _string, "user": _string, "workdir": _string,
    "healthcheck": _healthcheck,
    "onbuild": _string,
}
