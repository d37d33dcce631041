"""Docker's shell-word lexer: quotes, escapes and ``$VAR`` expansion.

Dockerfile instructions are not run through a shell, yet their arguments
follow shell rules: ``COPY "a b" /x`` names one file, ``ENV A=${B:-x}`` uses a
default, ``'$HOME'`` stays literal. :class:`Lexer` mirrors BuildKit's
``shell/lex.go`` rule for rule:

* single quotes keep everything literal (no escapes inside);
* double quotes keep everything except ``$`` expansion and the escape
  character before ``"``, ``$`` or itself;
* outside quotes the escape character (``\\`` or, with ``# escape=```, a
  backtick) makes the next character literal;
* ``$NAME``, ``${NAME}``, ``${NAME:-word}`` (unset *or empty*),
  ``${NAME-word}`` (unset only), ``${NAME:+word}`` / ``${NAME+word}``,
  ``${NAME:?msg}`` / ``${NAME?msg}``, ``${NAME#pat}``/``##``/``%``/``%%``
  and ``${NAME/pat/repl}`` / ``${NAME//pat/repl}``; an unset variable is
  empty. Words are split on whitespace *after* expansion, except where the
  whitespace came from inside quotes.

Worked example with ``env = {"A": "1 2"}``: ``words('x$A "y z"')`` is
``["x1", "2", "y z"]`` and ``word('${A:+set} ${B:-none}')`` is
``"set none"``.

Pure and synchronous; one :class:`Lexer` per escape token, safe to reuse.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import NamedTuple

from skiff.errors import FieldError, Invalid

_SPECIAL = "@*#?-$!0"


class Expansion(NamedTuple):
    """One processed word: the result, its words and the variables it read."""

    text: str
    words: list[str]
    matched: frozenset[str]
    unmatched: frozenset[str]


class _Words:
    """Whitespace word splitting that respects what came from quotes."""

    __slots__ = ("buf", "in_word", "words")

    def __init__(self) -> None:
        self.buf: list[str] = []
        self.words: list[str] = []
        self.in_word = False

    def add_char(self, ch: str) -> None:
        if ch.isspace():
            if self.in_word and self.buf:
                self.words.append("".join(self.buf))
                self.buf = []
                self.in_word = False
        else:
            self.add_raw(ch)

    def add_raw(self, s: str) -> None:
        if s:
            self.buf.append(s)
        self.in_word = True

    def add_string(self, s: str) -> None:
        for ch in s:
            self.add_char(ch)

    def result(self) -> list[str]:
        if self.buf:
            self.words.append("".join(self.buf))
            self.buf = []
            self.in_word = False
        return self.words


class _Scan:
    """One pass over one word; ``""`` stands for end of input."""

    def __init__(self, lexer: Lexer, text: str, env: Mapping[str, str]) -> None:
        self.lx = lexer
        self.text = text
        self.pos = 0
        self.env = env
        self.raw_escapes = lexer.raw_escapes
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        if ch:
            self.pos += 1
        return ch

    def getenv(self, name: str) -> tuple[str, bool]:
        if name in self.env:
            self.matched.add(name)
            return self.env[name], True
        self.unmatched.add(name)
        return "", False

    def until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Process up to ``stop`` (consumed) or the end (``stop == ""``)."""
        saved, self.raw_escapes = self.raw_escapes, raw_escapes
        try:
            return self._until(stop)
        finally:
            self.raw_escapes = saved

    def _until(self, stop: str) -> tuple[str, list[str]]:
        esc = self.lx.escape
        out: list[str] = []
        words = _Words()
        quotes = not self.lx.skip_quotes
        while self.peek():
            ch = self.peek()
            if stop and ch == stop:
                self.next()
                return "".join(out), words.result()
            if ch == "$":
                s = self.dollar()
                out.append(s)
                words.add_string(s)
            elif ch == "<":
                s = self.heredoc_marker()
                out.append(s)
                words.add_raw(s)
            elif quotes and ch in "'\"":
                s = self.single_quote() if ch == "'" else self.double_quote()
                out.append(s)
                words.add_raw(s)
            else:
                ch = self.next()
                if ch == esc:
                    if self.raw_escapes:
                        words.add_raw(ch)
                        out.append(ch)
                    ch = self.next()
                    if not ch:
                        break
                    words.add_raw(ch)
                else:
                    words.add_char(ch)
                out.append(ch)
        if stop:
            raise _LexError(f"unexpected end of statement while looking for matching {stop}")
        return "".join(out), words.result()

    def single_quote(self) -> str:
        self.next()
        out = ["'"] if self.lx.raw_quotes else []
        while True:
            ch = self.next()
            if not ch:
                raise _LexError("unexpected end of statement while looking for matching single-quote")
            if ch == "'":
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            out.append(ch)

    def double_quote(self) -> str:
        self.next()
        out = ['"'] if self.lx.raw_quotes else []
        esc = self.lx.escape
        while True:
            ch = self.peek()
            if not ch:
                raise _LexError("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lx.raw_quotes:
                    out.append(ch)
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            ch = self.next()
            if ch == esc:
                if self.raw_escapes:
                    out.append(ch)
                nxt = self.peek()
                if not nxt:
                    continue
                if nxt in ('"', "$", esc):
                    ch = self.next()
            out.append(ch)

    def heredoc_marker(self) -> str:
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        space = []
        while self.peek() in ("\t", "\r", " ") and self.peek():
            space.append(self.next())
        return "<<" + "".join(space)

    def name(self) -> str:
        out: list[str] = []
        while self.peek():
            ch = self.peek()
            if not out and ch.isdigit():
                while self.peek() and self.peek().isdigit():
                    out.append(self.next())
                return "".join(out)
            if not out and ch in _SPECIAL:
                return self.next()
            if not (ch.isalnum() or ch == "_"):
                break
            out.append(self.next())
        return "".join(out)

    def dollar(self) -> str:
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value, found = self.getenv(name)
            if not found and self.lx.skip_unset:
                return "$" + name
            return value
        self.next()
        if not self.peek():
            raise _LexError("syntax error: missing '}'")
        if self.peek() in "{}:":
            raise _LexError("syntax error: bad substitution")
        name = self.name()
        ch = self.next()
        if not ch:
            raise _LexError("syntax error: missing '}'")
        if ch == "}":
            value, found = self.getenv(name)
            if not found and self.lx.skip_unset:
                return "${" + name + "}"
            return value
        if ch == "/":
            return self._replace(name)
        return self._modifier(name, ch)

    def _modifier(self, name: str, ch: str) -> str:
        mod = ch
        null_is_unset = False
        if ch == ":":
            null_is_unset = True
            ch = self.next()
            mod += ch
        if ch not in "+-?#%" or not ch:
            raise _LexError(f"unsupported modifier ({mod}) in substitution")
        raw = ch in "#%"
        if null_is_unset and raw:
            raise _LexError(f"unsupported modifier ({mod}) in substitution")
        try:
            word, _ = self.until("}", raw)
        except _LexError:
            if not self.peek():
                raise _LexError("syntax error: missing '}'") from None
            raise
        value, found = self.getenv(name)
        if self.lx.skip_unset and not found:
            return "${" + name + mod + word + "}"
        empty = not found or (null_is_unset and value == "")
        if ch == "-":
            return word if empty else value
        if ch == "+":
            return "" if empty else word
        if ch == "?":
            if not found:
                raise _LexError(f"{name}: {word or 'is not allowed to be unset'}")
            if null_is_unset and value == "":
                raise _LexError(f"{name}: {word or 'is not allowed to be empty'}")
            return value
        greedy = word[:1] == ch
        if greedy:
            word = word[1:]
        if ch == "%":
            return _trim_suffix(word, value, greedy)
        return _trim_prefix(word, value, greedy)

    def _replace(self, name: str) -> str:
        replace_all = self.peek() == "/"
        if replace_all:
            self.next()
        try:
            pattern, _ = self.until("/", True)
        except _LexError:
            raise _LexError("syntax error: missing '/' in ${}") from None
        try:
            repl, _ = self.until("}", True)
        except _LexError:
            raise _LexError("syntax error: missing '}'") from None
        value, found = self.getenv(name)
        if self.lx.skip_unset and not found:
            return "${" + name + "/" + pattern + "/" + repl + "}"
        rx = _pattern_regex(pattern, greedy=True, anchored=False)
        if replace_all:
            return rx.sub(lambda _m: repl, value)
        return rx.sub(lambda _m: repl, value, count=1)


class _LexError(Exception):
    pass


def _pattern_regex(pattern: str, *, greedy: bool, anchored: bool) -> re.Pattern[str]:
    """A shell wildcard (``*``, ``?``, ``\\`` escapes) as a regular expression."""
    out = ["^"] if anchored else []
    star = ".*" if greedy else ".*?"
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            out.append(star)
        elif ch == "?":
            out.append(".")
        elif ch == "\\":
            if i < len(pattern) and pattern[i] in "}/":
                continue
            nxt = pattern[i] if i < len(pattern) else ""
            i += 1
            if nxt not in ("*", "?", "\\"):
                raise _LexError(f"invalid pattern ({pattern}) in substitution: invalid escape '\\{nxt}'")
            out.append(re.escape(nxt))
        else:
            out.append(re.escape(ch))
    return re.compile("".join(out), re.S)


def _trim_prefix(pattern: str, value: str, greedy: bool) -> str:
    m = _pattern_regex(pattern, greedy=greedy, anchored=True).match(value)
    return value[m.end():] if m else value


def _reverse_pattern(pattern: str) -> str:
    """``a\\*c`` -> ``c\\*a``: reverse, keeping escapes before what they escape."""
    tokens: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern[i] == "\\" and i + 1 < len(pattern):
            tokens.append(pattern[i:i + 2])
            i += 2
        else:
            tokens.append(pattern[i])
            i += 1
    return "".join(reversed(tokens))


def _trim_suffix(pattern: str, value: str, greedy: bool) -> str:
    # regexes find the shortest *leftmost* match, so search the reversed string
    return _trim_prefix(_reverse_pattern(pattern), value[::-1], greedy)[::-1]


class Lexer:
    """Shell-word processing with one escape token (``\\`` or a backtick)."""

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_unset: bool = False, skip_quotes: bool = False) -> None:
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_unset = skip_unset
        self.skip_quotes = skip_quotes

    def process(self, text: str, env: Mapping[str, str]) -> Expansion:
        scan = _Scan(self, text, env)
        try:
            result, words = scan.until("", scan.raw_escapes)
        except _LexError as e:
            raise Invalid("failed to process " + _go_quote(text), [FieldError("word", str(e), text)]) from None
        return Expansion(result, words, frozenset(scan.matched), frozenset(scan.unmatched))

    def word(self, text: str, env: Mapping[str, str]) -> str:
        """``text`` with quotes removed and variables expanded, as one string."""
        return self.process(text, env).text

    def words(self, text: str, env: Mapping[str, str]) -> list[str]:
        """``text`` expanded and split into words (quoted whitespace kept)."""
        return self.process(text, env).words


def _go_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def env_map(pairs: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["A=1", "B=2"]`` -> ``{"A": "1", "B": "2"}`` (later entries win)."""
    out: dict[str, str] = {}
    for item in pairs:
        k, _, v = item.partition("=")
        out[k] = v
    return out
