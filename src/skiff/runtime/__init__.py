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

from skiff.runtime.container import Container, ExitStatus, Runtime

__all__ = ["Container", "ExitStatus", "Runtime"]
