"""skiff's low-level OCI runtime: containers from an OCI bundle, runc-shaped.

In-process API (what the engine, builder and kubelet use)::

    from skiff.runtime import Runtime
    rt = Runtime()                      # state under /run/skiff/runtime
    c = rt.create("web", "/path/to/bundle", stdio=(r, w, w))
    rt.start("web")
    status = c.wait()                   # ExitStatus(code, signal, oom_killed)
    rt.delete("web")

The command line (``skiff runtime ...``) follows runc's and is in
``skiff.cli.runtime``.
"""

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from skiff.runtime.container import Container, ExitStatus, Runtime

__all__ = ["Container", "ExitStatus", "Runtime"]


def __getattr__(name: str) -> object:
    # Imported on first use, so ``skiff.runtime.paths`` and friends stay cheap
    # for callers (the builder's cached path) that never start a container.
    if name in __all__:
        from skiff.runtime import container

        return getattr(container, name)
    raise AttributeError(f"module 'skiff.runtime' has no attribute {name!r}")
