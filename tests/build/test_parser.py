"""The Dockerfile parser: directives, continuations, comments, JSON/shell forms, heredocs, errors."""

from __future__ import annotations

import pytest

from skiff.build.parser import error_line, heredocs_in, parse, parse_heredoc, parse_words
from skiff.errors import Invalid


def cmds(text: str) -> list[tuple[str, tuple[str, ...]]]:
    return [(n.cmd, n.args) for n in parse(text).nodes]


def test_instructions_case_insensitive_with_lines() -> None:
    df = parse("from busybox\n\nRun echo hi\n")
    assert [(n.cmd, n.start_line, n.end_line) for n in df.nodes] == [("from", 1, 1), ("run", 3, 3)]


def test_continuations_and_comments_inside_them() -> None:
    df = parse("FROM x\nRUN echo a \\\n# a comment inside\n\n  && echo b \\\n  && echo c\nCMD x\n")
    run = df.nodes[1]
    assert run.args == ("echo a   && echo b   && echo c",)
    assert (run.start_line, run.end_line) == (2, 6)
    assert df.nodes[2].start_line == 7
    assert df.warnings and "Empty continuation line" in df.warnings[0]


def test_escape_directive_backtick() -> None:
    df = parse("# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n")
    assert df.escape == "`"
    assert df.nodes[1].args == ("dir c:\\   && echo",)


def test_syntax_directive_recorded_and_ignored() -> None:
    df = parse("# syntax=docker/dockerfile:1.4\n# escape=\\\nFROM x\n")
    assert df.directives == {"syntax": "docker/dockerfile:1.4", "escape": "\\"}


def test_directive_after_a_comment_is_a_comment() -> None:
    df = parse("# hello\n# escape=`\nFROM x\nRUN a \\\n b\n")
    assert df.escape == "\\" and df.nodes[1].args == ("a  b",)


def test_duplicate_directive_is_an_error() -> None:
    with pytest.raises(Invalid, match="only one escape parser directive"):
        parse("# escape=`\n# escape=\\\nFROM x\n")


def test_json_and_shell_forms() -> None:
    df = parse('FROM x\nCMD ["a", "b c"]\nCMD a "b c"\nENTRYPOINT [not json\n')
    assert (df.nodes[1].args, df.nodes[1].json) == (("a", "b c"), True)
    assert (df.nodes[2].args, df.nodes[2].json) == (('a "b c"',), False)
    assert df.nodes[3].args == ("[not json",) and not df.nodes[3].json


def test_json_array_of_non_strings_is_an_error_with_line() -> None:
    with pytest.raises(Invalid) as e:
        parse("FROM x\nRUN [1, 2]\n", "df.txt")
    assert "df.txt:2" in str(e.value) and "strings only" in str(e.value)
    assert error_line(e.value) == 2


def test_env_forms() -> None:
    assert cmds('FROM x\nENV A=1 B="x y"\nENV C some value\n')[1:] == [
        ("env", ("A", "1", "=", "B", '"x y"', "=")), ("env", ("C", "some value", ""))]
    with pytest.raises(Invalid, match="can't find ="):
        parse("FROM x\nENV A=1 B\n")
    with pytest.raises(Invalid, match="ENV must have two arguments"):
        parse("FROM x\nENV A\n")


def test_flags_extracted() -> None:
    n = parse('FROM x\nCOPY --from=build --chown="a b" src dst\n').nodes[1]
    assert n.flags == ("--from=build", "--chown=a b") and n.args == ("src", "dst")


def test_heredocs_several_per_line_chomp_and_quoting() -> None:
    df = parse("FROM x\nCOPY <<A <<-'B' /d/\na $X\nA\n\tb\n\tB\nRUN <<\"EOF\" cat\nq\nEOF\nCMD done\n")
    copy, run, cmd = df.nodes[1:]
    assert [(h.name, h.content, h.expand, h.chomp) for h in copy.heredocs] == [
        ("A", "a $X\n", True, False), ("B", "\tb\n", False, True)]
    assert (copy.start_line, copy.end_line) == (2, 6)
    assert run.heredocs[0].name == "EOF" and not run.heredocs[0].expand and run.heredocs[0].content == "q\n"
    assert cmd.start_line == 10


def test_heredoc_not_for_json_or_other_instructions() -> None:
    df = parse('FROM x\nRUN ["echo", "<<EOF"]\nLABEL a=<<EOF\n')
    assert not df.nodes[1].heredocs and not df.nodes[2].heredocs


def test_unterminated_heredoc() -> None:
    with pytest.raises(Invalid, match="Dockerfile:2: unterminated heredoc"):
        parse("FROM x\nRUN <<EOF\necho\n")


def test_onbuild_sub_node() -> None:
    n = parse("FROM x\nONBUILD RUN echo hi\n").nodes[1]
    assert n.sub is not None and n.sub.cmd == "run" and n.sub.args == ("echo hi",)


def test_empty_file_is_an_error() -> None:
    with pytest.raises(Invalid, match="file with no instructions"):
        parse("# only a comment\n\n")


def test_bom_and_crlf() -> None:
    df = parse("\ufeffFROM x\r\nRUN a \\\r\n b\r\n")
    assert df.nodes[0].args == ("x",) and df.nodes[1].args == ("a  b",)


def test_parse_heredoc_words() -> None:
    assert parse_heredoc("<<EOF").name == "EOF"  # type: ignore[union-attr]
    assert parse_heredoc("<<-EOF").chomp  # type: ignore[union-attr]
    assert parse_heredoc("2<<EOF").fd == 2  # type: ignore[union-attr]
    assert parse_heredoc("<<'E F'") is not None and not parse_heredoc("<<'E F'").expand  # type: ignore[union-attr]
    assert parse_heredoc("<EOF") is None and parse_heredoc("<<") is None
    assert [h.name for h in heredocs_in("RUN <<A cat && cat <<B")] == ["A", "B"]


def test_parse_words_keeps_quotes() -> None:
    assert parse_words('a "b c" d\\ e \'f g\'', "\\") == ["a", '"b c"', "d\\ e", "'f g'"]
