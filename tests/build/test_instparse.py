"""Typed instructions: arguments, flags, stage grouping, errors naming the line."""

from __future__ import annotations

import pytest

from skiff.build import instructions as ins
from skiff.build.instparse import parse_dockerfile, parse_duration, parse_trigger
from skiff.errors import Invalid


def one(line: str) -> ins.Instruction:
    return parse_dockerfile(f"FROM x\n{line}\n").stages[0].commands[0]


def test_stages_and_meta_args() -> None:
    df = parse_dockerfile("ARG V=1\nARG B\nFROM busybox:$V AS Build\nRUN a\nFROM build\nCOPY --from=0 /a /b\n")
    assert [a.args for a in df.meta_args] == [(ins.ArgDef("V", "1"),), (ins.ArgDef("B"),)]
    assert [(s.index, s.name, s.base) for s in df.stages] == [(0, "build", "busybox:$V"), (1, "", "build")]
    assert isinstance(df.stages[1].commands[0], ins.Copy) and df.stages[1].commands[0].from_ == "0"


def test_instruction_before_from_is_an_error() -> None:
    with pytest.raises(Invalid, match="Dockerfile:1: no build stage"):
        parse_dockerfile("RUN x\nFROM y\n")


def test_unknown_instruction_names_line() -> None:
    with pytest.raises(Invalid, match="Dockerfile:3: unknown instruction: FOO"):
        parse_dockerfile("FROM x\n\nfoo bar\n")


@pytest.mark.parametrize(("line", "message"), [
    ("COPY --frm=x a b", "unknown flag: --frm"),
    ("COPY --chown a b", "missing a value on flag: --chown"),
    ("COPY --link=maybe a b", "expecting boolean value"),
    ("COPY --from=a --from=b a b", "duplicate flag specified: --from"),
    ("COPY onlyone", "requires at least two arguments"),
    ("COPY a <<EOF\nx\nEOF", "cannot accept a heredoc as a destination"),
    ("USER", "USER requires exactly one argument"),
    ("EXPOSE", "EXPOSE requires at least one argument"),
    ("SHELL /bin/bash -c", "SHELL requires the arguments to be in JSON form"),
    ("HEALTHCHECK --interval=1x CMD true", "invalid duration"),
    ("HEALTHCHECK --retries=-1 CMD true", "cannot be negative"),
    ("HEALTHCHECK NONE x", "takes no arguments"),
    ("HEALTHCHECK FOO", "Unknown type"),
    ("ONBUILD ONBUILD RUN x", "Chaining ONBUILD"),
    ("ONBUILD FROM x", "FROM isn't allowed as an ONBUILD trigger"),
    ("ARG =x", "ARG names can not be blank"),
    ("RUN --bogus x", "unknown flag: --bogus"),
])
def test_errors(line: str, message: str) -> None:
    with pytest.raises(Invalid, match="Dockerfile:2: .*" + message):
        parse_dockerfile(f"FROM x\n{line}\n")


def test_from_forms() -> None:
    with pytest.raises(Invalid, match="either one or three"):
        parse_dockerfile("FROM a b\n")
    with pytest.raises(Invalid, match="invalid name for build stage"):
        parse_dockerfile("FROM a AS 1x\n")
    f = parse_dockerfile("FROM --platform=linux/amd64 a AS b\n").stages[0].from_
    assert (f.platform, f.stage_name) == ("linux/amd64", "b")


def test_run_forms_and_flags() -> None:
    r = one("RUN --mount=type=cache,target=/c --network=none echo $X")
    assert isinstance(r, ins.Run)
    assert r.cmd == ("echo $X",) and r.shell_form and r.mounts == ("type=cache,target=/c",) and r.network == "none"
    r = one('RUN ["echo", "a"]')
    assert isinstance(r, ins.Run) and r.cmd == ("echo", "a") and not r.shell_form


def test_copy_add_fields() -> None:
    c = one("COPY --from=b --chown=1:2 --chmod=755 --link a* /d/")
    assert isinstance(c, ins.Copy)
    assert (c.sources, c.dest, c.from_, c.chown, c.chmod, c.link) == (("a*",), "/d/", "b", "1:2", "755", True)
    a = one("ADD --checksum=sha256:x --unpack=false http://h/f /d")
    assert isinstance(a, ins.Add) and a.unpack is False and a.checksum == "sha256:x"
    c = one('COPY ["a b", "c"]')
    assert isinstance(c, ins.Copy) and c.sources == ("a b",) and c.dest == "c"


def test_copy_heredoc_source() -> None:
    c = parse_dockerfile("FROM x\nCOPY <<-EOF /f\n\thello $X\n\tEOF\n").stages[0].commands[0]
    assert isinstance(c, ins.Copy) and c.inline == (ins.InlineSource("EOF", "hello $X\n", True),)


def test_healthcheck() -> None:
    h = one("HEALTHCHECK --interval=1m30s --timeout=500ms --retries=2 CMD ['x']")
    assert isinstance(h, ins.Healthcheck)
    assert h.test == ("CMD-SHELL", "['x']") and h.interval == 90 * 10**9 and h.timeout == 5 * 10**8
    h = one('HEALTHCHECK CMD ["curl", "-f", "x"]')
    assert isinstance(h, ins.Healthcheck) and h.test == ("CMD", "curl", "-f", "x")


def test_misc() -> None:
    e = one("EXPOSE 8080 80/udp")
    assert isinstance(e, ins.Expose) and e.ports == ("80/udp", "8080")
    v = one('VOLUME ["/a", "/b"]')
    assert isinstance(v, ins.Volume) and v.volumes == ("/a", "/b")
    o = one("ONBUILD RUN echo hi")
    assert isinstance(o, ins.Onbuild) and o.expression == "RUN echo hi"
    s = one('SHELL ["/bin/bash", "-c"]')
    assert isinstance(s, ins.Shell) and s.shell == ("/bin/bash", "-c")
    assert one("STOPSIGNAL SIGTERM").name == "STOPSIGNAL"


def test_expand_only_where_docker_expands() -> None:
    from skiff.build.expand import Lexer

    def env(word: str) -> str:
        return Lexer().word(word, {"X": "v"})

    c = one("COPY --chown=$X $X /$X").expand(env)
    assert isinstance(c, ins.Copy) and (c.chown, c.sources, c.dest) == ("v", ("v",), "/v")
    r = one("RUN echo $X")
    assert r.expand(env) == r


def test_durations() -> None:
    assert parse_duration("1h2m3.5s") == (3600 + 120 + 3.5) * 10**9
    assert parse_duration("0") == 0 and parse_duration("10us") == 10_000


def test_trigger() -> None:
    t = parse_trigger("RUN echo hi", "Dockerfile", 4)
    assert isinstance(t, ins.Run) and t.line == 4
