"""Parser nodes to typed instructions, with flag validation and stage grouping.

``parse_dockerfile(text)`` is the whole frontend: it parses the text, turns
each node into its :mod:`~skiff.build.instructions` class (checking argument
counts and ``--flags`` as BuildKit does: unknown flag, duplicate flag,
missing value, bad boolean), and groups the instructions into stages. ARG
instructions before the first FROM are the *meta args* (they may be used in
FROM lines). Every error names ``<file>:<line>``.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from skiff.build import instructions as ins
from skiff.build.parser import Dockerfile, Node, chomp, parse, parse_heredoc, syntax_error
from skiff.errors import Invalid

_STAGE_NAME = re.compile(r"^[a-z][a-z0-9-_.]*$")
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 10**9, "m": 60 * 10**9, "h": 3600 * 10**9}


class ParsedDockerfile(NamedTuple):
    meta_args: list[ins.Arg]
    stages: list[ins.Stage]
    source: Dockerfile


class _Err(Exception):
    pass


class Flags:
    """``--name=value`` words checked against the flags an instruction takes."""

    def __init__(self, words: tuple[str, ...]) -> None:
        self.words = words
        self.kinds: dict[str, str] = {}
        self.values: dict[str, list[str]] = {}

    def parse(self, **kinds: str) -> Flags:
        """``kinds``: flag name (``_`` for ``-``) to "bool", "string" or "strings"."""
        self.kinds = {k.replace("_", "-"): v for k, v in kinds.items()}
        for word in self.words:
            if word == "--":
                break
            if not word.startswith("--"):
                raise _Err(f"arg should start with -- : {word}")
            name, eq, value = word.partition("=")
            key = name[2:]
            kind = self.kinds.get(key)
            if kind is None:
                raise _Err(f"unknown flag: {name}")
            if key in self.values and kind != "strings":
                raise _Err(f"duplicate flag specified: {name}")
            if kind == "bool":
                if eq and not value:
                    raise _Err(f"missing a value on flag: {name}")
                if value.lower() not in ("", "true", "false"):
                    raise _Err(f"expecting boolean value for flag {name}, not: {value}")
                value = "false" if value.lower() == "false" else "true"
            elif not eq:
                raise _Err(f"missing a value on flag: {name}")
            self.values.setdefault(key, []).append(value)
        return self

    def get(self, name: str, default: str = "") -> str:
        return self.values.get(name, [default])[-1]

    def get_all(self, name: str) -> tuple[str, ...]:
        return tuple(self.values.get(name, []))

    def flag(self, name: str) -> bool:
        return self.get(name, "false") == "true"

    def used(self, name: str) -> bool:
        return name in self.values


def parse_duration(text: str) -> int:
    """Go's ``time.ParseDuration`` in nanoseconds: ``1m30s``, ``500ms``, ``0``."""
    if text in ("0", ""):
        return 0
    pos, total = 0, 0.0
    while pos < len(text):
        m = _DURATION.match(text, pos)
        if not m:
            raise _Err(f'time: invalid duration "{text}"')
        total += float(m.group(1)) * _UNITS[m.group(2)]
        pos = m.end()
    return int(total)


def _interval(flags: Flags, name: str) -> int:
    value = parse_duration(flags.get(name))
    if 0 < value < 1_000_000:
        raise _Err(f'Interval "{name}" cannot be less than 1ms')
    return value


def _exactly_one(node: Node, name: str) -> str:
    if len(node.args) != 1:
        raise _Err(f"{name} requires exactly one argument")
    return node.args[0]


def _at_least_one(node: Node, name: str) -> None:
    if not node.args:
        raise _Err(f"{name} requires at least one argument")


def _kvs(node: Node, name: str) -> tuple[ins.KeyValue, ...]:
    _at_least_one(node, name)
    out = []
    for i in range(0, len(node.args), 3):
        if not node.args[i]:
            raise _Err(f"{name} names can not be blank")
        out.append(ins.KeyValue(node.args[i], node.args[i + 1]))
    return tuple(out)


def _cmdline(node: Node) -> tuple[tuple[str, ...], bool]:
    if node.json:
        return node.args, False
    return ((" ".join(node.args),) if node.args else ()), True


def _sources(node: Node, name: str) -> dict[str, object]:
    if len(node.args) < 2:
        raise _Err(f"{name} requires at least two arguments, but only one was provided. "
                   "Destination could not be determined")
    *srcs, dest = node.args
    if parse_heredoc(dest) is not None:
        raise _Err(f"{name} cannot accept a heredoc as a destination")
    bodies = {h.name: h for h in node.heredocs}
    paths, inline = [], []
    for src in srcs:
        doc = parse_heredoc(src) if not node.json else None
        if doc is None:
            paths.append(src)
            continue
        body = bodies.get(doc.name)
        data = body.content if body else ""
        inline.append(ins.InlineSource(doc.name, chomp(data) if doc.chomp else data, doc.expand))
    return {"sources": tuple(paths), "inline": tuple(inline), "dest": dest}


def _from(node: Node, flags: Flags, base: dict[str, object]) -> ins.From:
    flags.parse(platform="string")
    args = node.args
    name = ""
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise _Err(f'invalid name for build stage: "{args[2]}", name can\'t start with a number or contain symbols')
    elif len(args) != 1:
        raise _Err("FROM requires either one or three arguments")
    return ins.From(**base, base=args[0], stage_name=name, platform=flags.get("platform"))


def _healthcheck(node: Node, flags: Flags, base: dict[str, object]) -> ins.Healthcheck:
    _at_least_one(node, "HEALTHCHECK")
    kind = node.args[0].upper()
    rest = node.args[1:]
    if kind == "NONE":
        if rest:
            raise _Err("HEALTHCHECK NONE takes no arguments")
        flags.parse()
        return ins.Healthcheck(**base, test=("NONE",))
    flags.parse(interval="string", timeout="string", start_period="string", start_interval="string",
                retries="string")
    if kind != "CMD":
        raise _Err(f'Unknown type "{kind}" in HEALTHCHECK (try CMD)')
    cmd = rest if node.json else ((" ".join(rest),) if rest else ())
    if not cmd:
        raise _Err("Missing command after HEALTHCHECK CMD")
    retries = flags.get("retries")
    try:
        count = int(retries) if retries else 0
    except ValueError:
        raise _Err(f'strconv.ParseInt: parsing "{retries}": invalid syntax') from None
    if count < 0:
        raise _Err(f"--retries cannot be negative ({count})")
    return ins.Healthcheck(**base, test=("CMD" if node.json else "CMD-SHELL", *cmd),
                           interval=_interval(flags, "interval"), timeout=_interval(flags, "timeout"),
                           start_period=_interval(flags, "start-period"),
                           start_interval=_interval(flags, "start-interval"), retries=count)


def _onbuild(node: Node, flags: Flags, base: dict[str, object]) -> ins.Onbuild:
    if node.sub is None:
        raise _Err("ONBUILD requires at least one argument")
    flags.parse()
    trigger = node.sub.cmd.upper()
    if trigger == "ONBUILD":
        raise _Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _Err(f"{trigger} isn't allowed as an ONBUILD trigger")
    expr = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for doc in node.heredocs:
        expr += "\n" + doc.content + doc.name
    return ins.Onbuild(**base, expression=expr)


def _shell_like(node: Node, flags: Flags, base: dict[str, object]) -> ins.Instruction:
    cmd, shell_form = _cmdline(node)
    kw = {**base, "cmd": cmd, "shell_form": shell_form, "heredocs": node.heredocs}
    if node.cmd == "run":
        flags.parse(mount="strings", network="string", security="string")
        return ins.Run(**kw, mounts=flags.get_all("mount"), network=flags.get("network"),
                       security=flags.get("security"))
    flags.parse()
    if node.cmd == "cmd":
        return ins.Cmd(**kw)
    if not cmd:
        kw["cmd"] = ()
    return ins.Entrypoint(**kw)


def _file(node: Node, flags: Flags, base: dict[str, object]) -> ins.Instruction:
    name = node.cmd.upper()
    if node.cmd == "copy":
        flags.parse(chown="string", chmod="string", link="bool", exclude="strings", parents="bool",
                    **{"from": "string"})
    else:
        flags.parse(chown="string", chmod="string", link="bool", exclude="strings", checksum="string",
                    keep_git_dir="bool", unpack="bool")
    kw = {**base, **_sources(node, name), "chown": flags.get("chown"), "chmod": flags.get("chmod"),
          "link": flags.flag("link"), "excludes": flags.get_all("exclude")}
    if node.cmd == "copy":
        return ins.Copy(**kw, from_=flags.get("from"), parents=flags.flag("parents"))
    return ins.Add(**kw, checksum=flags.get("checksum"), keep_git_dir=flags.flag("keep-git-dir"),
                   unpack=flags.flag("unpack") if flags.used("unpack") else None)


def _simple(node: Node, flags: Flags, base: dict[str, object]) -> ins.Instruction:
    flags.parse()
    cmd = node.cmd
    if cmd == "env":
        return ins.Env(**base, pairs=_kvs(node, "ENV"))
    if cmd == "label":
        return ins.Label(**base, pairs=_kvs(node, "LABEL"))
    if cmd == "maintainer":
        return ins.Maintainer(**base, maintainer=_exactly_one(node, "MAINTAINER"))
    if cmd == "workdir":
        return ins.Workdir(**base, path=_exactly_one(node, "WORKDIR"))
    if cmd == "user":
        return ins.User(**base, user=_exactly_one(node, "USER"))
    if cmd == "stopsignal":
        return ins.StopSignal(**base, signal=_exactly_one(node, "STOPSIGNAL"))
    if cmd == "expose":
        _at_least_one(node, "EXPOSE")
        return ins.Expose(**base, ports=tuple(sorted(node.args)))
    if cmd == "volume":
        _at_least_one(node, "VOLUME")
        vols = tuple(v.strip() for v in node.args)
        if any(not v for v in vols):
            raise _Err("VOLUME specified can not be an empty string")
        return ins.Volume(**base, volumes=vols)
    if cmd == "shell":
        if not node.args:
            raise _Err("SHELL requires at least one argument")
        if not node.json:
            raise _Err("SHELL requires the arguments to be in JSON form")
        return ins.Shell(**base, shell=node.args)
    return _arg(node, base)


def _arg(node: Node, base: dict[str, object]) -> ins.Arg:
    _at_least_one(node, "ARG")
    defs = []
    for word in node.args:
        key, eq, value = word.partition("=")
        if eq and not key:
            raise _Err("ARG names can not be blank")
        defs.append(ins.ArgDef(key, value if eq else None))
    return ins.Arg(**base, args=tuple(defs))


_BUILDERS = {
    "from": _from, "healthcheck": _healthcheck, "onbuild": _onbuild,
    "run": _shell_like, "cmd": _shell_like, "entrypoint": _shell_like,
    "copy": _file, "add": _file,
    **{k: _simple for k in ("env", "label", "maintainer", "workdir", "user", "stopsignal", "expose", "volume",
                            "shell", "arg")},
}


def instruction(node: Node, filename: str = "Dockerfile") -> ins.Instruction:
    """One node as its typed instruction (errors name ``filename:line``)."""
    build = _BUILDERS.get(node.cmd)
    if build is None:
        word = node.original.split(None, 1)[0] if node.original.strip() else node.cmd
        raise syntax_error(filename, node.start_line, f"unknown instruction: {word.upper()}")
    base: dict[str, object] = {"text": node.original.strip(), "line": node.start_line, "end_line": node.end_line}
    try:
        return build(node, Flags(node.flags), base)
    except _Err as e:
        raise syntax_error(filename, node.start_line, str(e)) from None


def parse_dockerfile(text: str, filename: str = "Dockerfile") -> ParsedDockerfile:
    """Parse, type and group a Dockerfile into meta args and stages."""
    source = parse(text, filename)
    meta: list[ins.Arg] = []
    stages: list[ins.Stage] = []
    for node in source.nodes:
        inst = instruction(node, filename)
        if isinstance(inst, ins.From):
            stages.append(ins.Stage(len(stages), inst))
        elif not stages:
            if not isinstance(inst, ins.Arg):
                raise syntax_error(filename, node.start_line,
                                   f"no build stage in current context: {inst.name} must come after FROM")
            meta.append(inst)
        else:
            stages[-1].commands.append(inst)
    if not stages:
        raise syntax_error(filename, source.nodes[-1].end_line, "no build stage in current context")
    return ParsedDockerfile(meta, stages, source)


def parse_trigger(expression: str, filename: str, line: int) -> ins.Instruction:
    """An ONBUILD trigger (from a base image's config) as an instruction."""
    try:
        source = parse(expression, filename)
    except Invalid as e:
        raise syntax_error(filename, line, f"failed to parse ONBUILD trigger: {e.causes[0].message}") from None
    node = source.nodes[0]._replace(start_line=line, end_line=line)
    return instruction(node, filename)
