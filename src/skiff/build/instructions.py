"""One typed class per Dockerfile instruction (BuildKit's ``instructions``).

A class holds the instruction exactly as written, after flag validation and
before variable expansion: ``COPY --from=$X a b`` keeps ``$X``. Expansion
needs the build state at that point (ARGs and ENV seen so far), so the
executor calls :meth:`Instruction.expand` with a word expander when it
reaches the instruction; instructions Docker does not expand (RUN, CMD,
ENTRYPOINT, SHELL, HEALTHCHECK, ONBUILD) return themselves.

Every instance knows its source ``line`` (and ``end_line``) and the
``text`` it was written as, for step output, history and errors.
:mod:`skiff.build.instparse` builds them from parser nodes.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from skiff.build.parser import Heredoc

Expander = Callable[[str], str]
T = TypeVar("T", bound="Instruction")


@dataclass(frozen=True)
class Instruction:
    text: str = ""  # the instruction as written (continuations joined, trimmed)
    line: int = 0
    end_line: int = 0

    @property
    def name(self) -> str:
        return type(self).__name__.upper()

    def expand(self: T, fn: Expander) -> T:
        return self

    def replace(self: T, **changes: Any) -> T:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class From(Instruction):
    base: str = ""
    stage_name: str = ""  # lower-cased ``AS`` name, "" if none
    platform: str = ""

    def expand(self, fn: Expander) -> From:
        return self.replace(base=fn(self.base), platform=fn(self.platform) if self.platform else "")


@dataclass(frozen=True)
class KeyValue:
    key: str
    value: str


@dataclass(frozen=True)
class Env(Instruction):
    pairs: tuple[KeyValue, ...] = ()

    def expand(self, fn: Expander) -> Env:
        return self.replace(pairs=tuple(KeyValue(fn(p.key), fn(p.value)) for p in self.pairs))


@dataclass(frozen=True)
class Label(Instruction):
    pairs: tuple[KeyValue, ...] = ()

    def expand(self, fn: Expander) -> Label:
        return self.replace(pairs=tuple(KeyValue(fn(p.key), fn(p.value)) for p in self.pairs))


@dataclass(frozen=True)
class Maintainer(Instruction):
    maintainer: str = ""


@dataclass(frozen=True)
class ArgDef:
    key: str
    default: str | None = None


@dataclass(frozen=True)
class Arg(Instruction):
    args: tuple[ArgDef, ...] = ()

    def expand(self, fn: Expander) -> Arg:
        return self.replace(args=tuple(ArgDef(fn(a.key), None if a.default is None else fn(a.default))
                                       for a in self.args))


@dataclass(frozen=True)
class ShellCommand(Instruction):
    """RUN, CMD and ENTRYPOINT: a command line in exec or shell form."""

    cmd: tuple[str, ...] = ()
    shell_form: bool = True  # run through the image's SHELL
    heredocs: tuple[Heredoc, ...] = ()


@dataclass(frozen=True)
class Run(ShellCommand):
    mounts: tuple[str, ...] = ()  # raw --mount values, parsed after expansion
    network: str = ""
    security: str = ""

    def expand(self, fn: Expander) -> Run:
        return self.replace(mounts=tuple(fn(m) for m in self.mounts))


@dataclass(frozen=True)
class Cmd(ShellCommand):
    pass


@dataclass(frozen=True)
class Entrypoint(ShellCommand):
    pass


@dataclass(frozen=True)
class Shell(Instruction):
    shell: tuple[str, ...] = ()


@dataclass(frozen=True)
class InlineSource:
    """A heredoc used as a COPY/ADD source: a file named ``path`` with ``data``."""

    path: str
    data: str
    expand: bool = True


@dataclass(frozen=True)
class FileCommand(Instruction):
    """COPY and ADD: sources into a destination of the image."""

    sources: tuple[str, ...] = ()
    inline: tuple[InlineSource, ...] = ()
    dest: str = ""
    chown: str = ""
    chmod: str = ""
    link: bool = False
    excludes: tuple[str, ...] = ()

    def expand(self: T, fn: Expander) -> T:
        assert isinstance(self, FileCommand)
        inline = tuple(dataclasses.replace(s, data=fn(s.data)) if s.expand else s for s in self.inline)
        return self.replace(sources=tuple(fn(s) for s in self.sources), dest=fn(self.dest),  # type: ignore[return-value]
                            chown=fn(self.chown), chmod=fn(self.chmod), inline=inline)


@dataclass(frozen=True)
class Copy(FileCommand):
    from_: str = ""
    parents: bool = False


@dataclass(frozen=True)
class Add(FileCommand):
    checksum: str = ""
    keep_git_dir: bool = False
    unpack: bool | None = None

    def expand(self, fn: Expander) -> Add:
        return super().expand(fn).replace(checksum=fn(self.checksum))


@dataclass(frozen=True)
class Workdir(Instruction):
    path: str = ""

    def expand(self, fn: Expander) -> Workdir:
        return self.replace(path=fn(self.path))


@dataclass(frozen=True)
class User(Instruction):
    user: str = ""

    def expand(self, fn: Expander) -> User:
        return self.replace(user=fn(self.user))


@dataclass(frozen=True)
class Volume(Instruction):
    volumes: tuple[str, ...] = ()

    def expand(self, fn: Expander) -> Volume:
        return self.replace(volumes=tuple(fn(v) for v in self.volumes))


@dataclass(frozen=True)
class Expose(Instruction):
    ports: tuple[str, ...] = ()  # expanded word-wise by the executor (one port may become several)


@dataclass(frozen=True)
class StopSignal(Instruction):
    signal: str = ""

    def expand(self, fn: Expander) -> StopSignal:
        return self.replace(signal=fn(self.signal))


@dataclass(frozen=True)
class Healthcheck(Instruction):
    test: tuple[str, ...] = ()  # ("NONE",), ("CMD", ...), ("CMD-SHELL", "...")
    interval: int = 0  # nanoseconds, as the image config stores them
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass(frozen=True)
class Onbuild(Instruction):
    expression: str = ""  # the trigger, as written after ONBUILD (heredoc bodies appended)


@dataclass
class Stage:
    """``FROM ... [AS name]`` and the instructions up to the next FROM."""

    index: int
    from_: From
    commands: list[Instruction] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.from_.stage_name

    @property
    def base(self) -> str:
        return self.from_.base

    def label(self) -> str:
        return self.name or str(self.index)
