"""The ``skiff`` command.

``skiff runtime ...`` is dispatched straight to the runc-compatible runtime
CLI (argparse, minimal imports: it is timed against runc), and the image
verbs (``image``, ``pull``, ``push``, ``images``, ``save``, ``load``, …) to
``skiff.cli.image`` the same way (timed against podman). Every other verb
goes to the click application in ``skiff.cli.app``, imported only then.
"""

from __future__ import annotations

import os
import sys
from typing import NoReturn

_IMAGE_VERBS = frozenset({"image", "pull", "push", "images", "rmi", "tag", "save", "load", "import", "login",
                          "logout"})


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["runtime"]:
        from skiff.cli.runtime import main as runtime_main

        return runtime_main(args[1:])
    if args[:1] and args[0] in _IMAGE_VERBS:
        from skiff.cli.image import main as image_main

        rc = image_main(args)
        if argv is None:  # the process's own command line: leave now (see _leave)
            _leave(rc)
        return rc
    if args[:1] == ["build"]:  # argparse too: the cached build is timed against podman
        from skiff.cli.build import main as build_main

        rc = build_main(args[1:])
        if argv is None:  # the process's own command line: leave now (see _leave)
            _leave(rc)
        return rc
    from skiff.cli.app import cli

    return int(cli.main(args=args, prog_name="skiff", standalone_mode=True) or 0)


def _leave(rc: int) -> NoReturn:
    """Exit without the interpreter's finalization (module teardown: ~15 ms, a tenth of a
    fully cached build or of an image save). By now the command has committed its
    database rows (autocommit, WAL), renamed its blobs and output files into place,
    joined its worker pools and removed its scratch space; only stdio may still hold
    buffered bytes."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    sys.exit(main())
