"""Docker's shell-word lexer: quoting, escapes, every ${} form, word splitting."""

from __future__ import annotations

import pytest

from skiff.build.expand import Lexer, env_map
from skiff.errors import Invalid

ENV = {"A": "a", "E": "", "S": "x y", "P": "a.b.c"}


@pytest.mark.parametrize(("word", "out"), [
    ("$A", "a"), ("${A}", "a"), ("x${A}y", "xay"), ("$NOPE", ""), ("$", "$"), ("a$", "a$"),
    ("${A:-d}", "a"), ("${E:-d}", "d"), ("${U:-d}", "d"), ("${E-d}", ""), ("${U-d}", "d"),
    ("${A:+alt}", "alt"), ("${E:+alt}", ""), ("${E+alt}", "alt"), ("${U+alt}", ""),
    ("${P#*.}", "b.c"), ("${P##*.}", "c"), ("${P%.*}", "a.b"), ("${P%%.*}", "a"),
    ("${P/./-}", "a-b.c"), ("${P//./-}", "a-b-c"),
    ("'$A'", "$A"), ('"$A"', "a"), ('"\\$A"', "$A"), ("\\$A", "$A"), ('"a\\b"', "a\\b"),
    ("${U:-${A}}", "a"), ('"${U:-x y}"', "x y"), ("$1x", "x"),
])
def test_word(word: str, out: str) -> None:
    assert Lexer().word(word, ENV) == out


def test_words_split_after_expansion_but_not_inside_quotes() -> None:
    assert Lexer().words('$S "$S" \'q r\' a\\ b', ENV) == ["x", "y", "x y", "q r", "a b"]


def test_empty_quotes_make_no_word() -> None:
    assert Lexer().words('a "" b', ENV) == ["a", "b"]


def test_backtick_escape() -> None:
    assert Lexer("`").word("`$A \\$A", ENV) == "$A \\a"


@pytest.mark.parametrize(("word", "message"), [
    ("${A", "missing '}'"), ("${}", "bad substitution"), ("${:a}", "bad substitution"),
    ("'abc", "single-quote"), ('"abc', "double-quote"), ("${U?must be set}", "U: must be set"),
    ("${E:?}", "E: is not allowed to be empty"), ("${A:#x}", "unsupported modifier"),
])
def test_errors(word: str, message: str) -> None:
    with pytest.raises(Invalid, match=message.replace("?", r"\?")):
        Lexer().word(word, ENV)


def test_matches_reported() -> None:
    r = Lexer().process("$A ${U:-x}", ENV)
    assert r.matched == {"A"} and r.unmatched == {"U"}


def test_skip_unset_keeps_references() -> None:
    assert Lexer(skip_unset=True).word("$A $U ${U:-d}", ENV) == "a $U ${U:-d}"


def test_env_map() -> None:
    assert env_map(["A=1", "B=x=y", "A=2"]) == {"A": "2", "B": "x=y"}
