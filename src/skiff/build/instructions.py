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

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar

from skiff.build.parser import Heredoc

Expander = Callable[[str], str]
T = TypeVar("T", bound="Instruction")
R = TypeVar("R", bound="Record")


class Record:
    """A frozen record whose fields are its annotated attributes (defaults: class attributes).

    A hand-rolled stand-in for ``@dataclass(frozen=True)``: defining a
    dataclass generates code at import time (~0.5 ms each), and every build
    — a fully cached one included — imports these two dozen classes.
    """

    _fields: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls) -> None:
        names: list[str] = []
        for klass in reversed(cls.__mro__):
            for name in klass.__dict__.get("__annotations__", {}):
                if not name.startswith("_") and name not in names:
                    names.append(name)
        cls._fields = tuple(names)

    def __init__(self, *args: Any, **kw: Any) -> None:
        if len(args) > len(self._fields):
            raise TypeError(f"{type(self).__name__} takes at most {len(self._fields)} positional arguments")
        kw.update(zip(self._fields, args, strict=False))
        for key, value in kw.items():
            if key not in self._fields:
                raise TypeError(f"{type(self).__name__} has no field {key!r}")
            object.__setattr__(self, key, value)

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError(f"{type(self).__name__} is frozen")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f) for f in self._fields)

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash((type(self), self._values()))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._fields) + ")"

    def replace(self: R, **changes: Any) -> R:
        new = object.__new__(type(self))
        new.__dict__.update(self.__dict__)
        Record.__init__(new, **changes)
        return new


class Instruction(Record):
    text: str = ""  # the instruction as written (continuations joined, trimmed)
    line: int = 0
    end_line: int = 0

    @property
    def name(self) -> str:
        return type(self).__name__.upper()

    def expand(self: T, fn: Expander) -> T:
        return self


class From(Instruction):
    base: str = ""
    stage_name: str = ""  # lower-cased ``AS`` name, "" if none
    platform: str = ""

    def expand(self, fn: Expander) -> From:
        return self.replace(base=fn(self.base), platform=fn(self.platform) if self.platform else "")


class KeyValue(Record):
    key: str
    value: str


class Env(Instruction):
    pairs: tuple[KeyValue, ...] = ()

    def expand(self, fn: Expander) -> Env:
        return self.replace(pairs=tuple(KeyValue(fn(p.key), fn(p.value)) for p in self.pairs))


class Label(Instruction):
    pairs: tuple[KeyValue, ...] = ()

    def expand(self, fn: Expander) -> Label:
        return self.replace(pairs=tuple(KeyValue(fn(p.key), fn(p.value)) for p in self.pairs))


class Maintainer(Instruction):
    maintainer: str = ""


class ArgDef(Record):
    key: str
    default: str | None = None


class Arg(Instruction):
    args: tuple[ArgDef, ...] = ()

    def expand(self, fn: Expander) -> Arg:
        return self.replace(args=tuple(ArgDef(fn(a.key), None if a.default is None else fn(a.default))
                                       for a in self.args))


class ShellCommand(Instruction):
    """RUN, CMD and ENTRYPOINT: a command line in exec or shell form."""

    cmd: tuple[str, ...] = ()
    shell_form: bool = True  # run through the image's SHELL
    heredocs: tuple[Heredoc, ...] = ()


class Run(ShellCommand):
    mounts: tuple[str, ...] = ()  # raw --mount values, parsed after expansion
    network: str = ""
    security: str = ""

    def expand(self, fn: Expander) -> Run:
        return self.replace(mounts=tuple(fn(m) for m in self.mounts))


class Cmd(ShellCommand):
    pass


class Entrypoint(ShellCommand):
    pass


class Shell(Instruction):
    shell: tuple[str, ...] = ()


class InlineSource(Record):
    """A heredoc used as a COPY/ADD source: a file named ``path`` with ``data``."""

    path: str
    data: str
    expand: bool = True


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
        inline = tuple(s.replace(data=fn(s.data)) if s.expand else s for s in self.inline)
        return self.replace(sources=tuple(fn(s) for s in self.sources), dest=fn(self.dest),  # type: ignore[return-value]
                            chown=fn(self.chown), chmod=fn(self.chmod), inline=inline)


class Copy(FileCommand):
    from_: str = ""
    parents: bool = False


class Add(FileCommand):
    checksum: str = ""
    keep_git_dir: bool = False
    unpack: bool | None = None

    def expand(self, fn: Expander) -> Add:
        return super().expand(fn).replace(checksum=fn(self.checksum))


class Workdir(Instruction):
    path: str = ""

    def expand(self, fn: Expander) -> Workdir:
        return self.replace(path=fn(self.path))


class User(Instruction):
    user: str = ""

    def expand(self, fn: Expander) -> User:
        return self.replace(user=fn(self.user))


class Volume(Instruction):
    volumes: tuple[str, ...] = ()

    def expand(self, fn: Expander) -> Volume:
        return self.replace(volumes=tuple(fn(v) for v in self.volumes))


class Expose(Instruction):
    ports: tuple[str, ...] = ()  # expanded word-wise by the executor (one port may become several)


class StopSignal(Instruction):
    signal: str = ""

    def expand(self, fn: Expander) -> StopSignal:
        return self.replace(signal=fn(self.signal))


class Healthcheck(Instruction):
    test: tuple[str, ...] = ()  # ("NONE",), ("CMD", ...), ("CMD-SHELL", "...")
    interval: int = 0  # nanoseconds, as the image config stores them
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


class Onbuild(Instruction):
    expression: str = ""  # the trigger, as written after ONBUILD (heredoc bodies appended)


class Stage:
    """``FROM ... [AS name]`` and the instructions up to the next FROM."""

    def __init__(self, index: int, from_: From, commands: list[Instruction] | None = None) -> None:
        self.index = index
        self.from_ = from_
        self.commands: list[Instruction] = commands if commands is not None else []

    @property
    def name(self) -> str:
        return self.from_.stage_name

    @property
    def base(self) -> str:
        return self.from_.base

    def label(self) -> str:
        return self.name or str(self.index)
